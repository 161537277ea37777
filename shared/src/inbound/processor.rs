//! The processor: works through the inbound queue, moving each event
//! RECEIVED → PROCESSING → PROCESSED, or FAILED with the failing stage and a suggested fix.
//!
//! Every step is idempotent because the queue delivers at least once: a finished event is left
//! alone, and state changes are conditional on the version read.

use crate::backend::Services;
use crate::domain::event::{
    normalized_type, EventStatus, Failure, InboundEvent, MAX_PROCESSING_TRIES,
};
use crate::ids::EventId;
use crate::repo::{events, integrations, RepoError};
use crate::verify::scheme_for;

/// A processing failure.
#[derive(Debug, thiserror::Error)]
#[error("{stage}: {message}")]
pub struct ProcessError {
    /// The pipeline stage that failed.
    pub stage: &'static str,
    /// What happened.
    pub message: String,
    /// What the tenant can do about it.
    pub fix: String,
    /// Whether trying again may succeed (backing service down) or not (bad payload).
    pub retryable: bool,
}

impl ProcessError {
    fn permanent(stage: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            stage,
            message: message.into(),
            fix: fix.into(),
            retryable: false,
        }
    }

    fn retryable(stage: &'static str, error: impl std::fmt::Display) -> Self {
        Self {
            stage,
            message: error.to_string(),
            fix: "none needed: the job is retried automatically; if it keeps failing, check the \
                  state store and queue"
                .into(),
            retryable: true,
        }
    }
}

/// What processing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// The event is PROCESSED with this type.
    Done(String),
    /// The event failed for good; the job is finished.
    Failed,
    /// Nothing to do: already final, or gone.
    Skipped,
}

/// Processes one event; `receive_count` is how many times its job has been received.
/// A retryable error leaves the job on the queue; on the last try the event is marked FAILED
/// and dead-lettered first.
pub async fn process(
    services: &Services,
    event_id: &EventId,
    receive_count: u32,
) -> Result<Processed, ProcessError> {
    let store = services.store.as_ref();
    let Some((mut event, version)) = events::get(store, event_id)
        .await
        .map_err(|e| ProcessError::retryable("load", e))?
    else {
        tracing::warn!(event_id = %event_id, "event to process no longer exists");
        return Ok(Processed::Skipped);
    };
    if event.status.is_final() {
        return Ok(Processed::Skipped);
    }
    event.status = EventStatus::Processing;
    event.tries += 1;
    let version = events::save(store, &event, version)
        .await
        .map_err(|e| ProcessError::retryable("store", e))?;

    let normalized = match normalize(services, &event).await {
        Ok((event_type, payload)) => {
            publish_to_subscribers(services, &event, &event_type, &payload)
                .await
                .map(|()| event_type)
        }
        Err(error) => Err(error),
    };
    match normalized {
        Ok(event_type) => {
            event.status = EventStatus::Processed;
            event.event_type = Some(event_type.clone());
            event.failure = None;
            event.processed_at = Some(services.clock.now());
            events::save(store, &event, version)
                .await
                .map_err(|e| ProcessError::retryable("store", e))?;
            tracing::info!(event_id = %event.id, event_type = %event_type, "event processed");
            Ok(Processed::Done(event_type))
        }
        Err(error) if error.retryable && receive_count < MAX_PROCESSING_TRIES => {
            tracing::warn!(event_id = %event.id, stage = error.stage, error = %error.message, tries = event.tries, "processing failed; will retry");
            Err(error)
        }
        Err(error) => {
            let dead_lettered = error.retryable;
            event.status = EventStatus::Failed;
            event.failure = Some(Failure {
                stage: error.stage.to_owned(),
                message: error.message.clone(),
                fix: error.fix.clone(),
                dead_lettered,
            });
            tracing::error!(event_id = %event.id, stage = error.stage, error = %error.message, dead_lettered, "event failed");
            // Best effort: if the store is what failed, the dead-letter queue still holds the job.
            if let Err(save_error) = events::save(store, &event, version).await {
                tracing::error!(event_id = %event.id, error = %save_error, "could not record the failure");
            }
            if dead_lettered {
                Err(error)
            } else {
                Ok(Processed::Failed)
            }
        }
    }
}

/// Publishes the processed event to the tenant's subscribed endpoints. Keyed on the inbound
/// event's id, so processing it again never publishes it twice.
async fn publish_to_subscribers(
    services: &Services,
    event: &InboundEvent,
    event_type: &str,
    payload: &crate::repo::events::Payload,
) -> Result<(), ProcessError> {
    let data = serde_json::from_slice(&payload.body)
        .unwrap_or_else(|_| serde_json::json!({ "raw": String::from_utf8_lossy(&payload.body) }));
    crate::outbound::publish::publish(
        services,
        crate::outbound::publish::NewMessage {
            tenant_id: event.tenant_id.clone(),
            event_type: event_type.to_owned(),
            data,
            idempotency_key: Some(format!("inbound:{}", event.id)),
            test: false,
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| ProcessError::retryable("publish", e))
}

/// Works out `{vendor}.{event}` from the stored payload.
async fn normalize(
    services: &Services,
    event: &InboundEvent,
) -> Result<(String, crate::repo::events::Payload), ProcessError> {
    let store = services.store.as_ref();
    let (integration, _) = integrations::get_any(store, &event.integration_id)
        .await
        .map_err(|e| ProcessError::retryable("load", e))?
        .ok_or_else(|| {
            ProcessError::permanent(
                "load",
                "the integration this event arrived on was deleted",
                "recreate the integration; events of a deleted integration cannot be processed",
            )
        })?;
    let payload = events::payload(store, &event.id)
        .await
        .map_err(|e: RepoError| ProcessError::retryable("load", e))?
        .ok_or_else(|| {
            ProcessError::permanent(
                "load",
                "the event's payload is missing (expired or deleted)",
                "ask the vendor to redeliver the event",
            )
        })?;
    let scheme_name = services
        .catalog
        .webhook_scheme(&integration.vendor)
        .unwrap_or_else(|| format!("{} (sends no webhooks)", integration.vendor));
    let scheme = scheme_for(
        &scheme_name,
        &serde_json::Value::Object(integration.config.clone()),
    )
    .map_err(|e| {
        ProcessError::permanent(
            "normalize",
            e.to_string(),
            "fix the integration's configuration, then replay the event",
        )
    })?;
    let vendor_event = scheme
        .event_type(&payload.header_map(), &payload.body)
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| {
            ProcessError::permanent(
                "normalize",
                format!("the {} payload names no event type", integration.vendor),
                normalize_fix(&integration.vendor),
            )
        })?;
    Ok((normalized_type(&integration.vendor, &vendor_event), payload))
}

fn normalize_fix(vendor: &str) -> String {
    match vendor {
        "generic-hmac" => "set config.event_type_header or config.event_type_field on the \
                           integration to say where the sender puts its event name, then replay"
            .into(),
        "standard-webhooks" | "svix" | "stripe" => {
            "the sender must put the event name in the JSON body's `type` field".into()
        }
        _ => format!(
            "check that {vendor} sends its event-type header and a JSON body, then replay the event"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::domain::event::Verification;
    use crate::domain::integration::Integration;
    use crate::ids::{IntegrationId, TenantId};
    use crate::repo::events::Payload;
    use crate::testing::embedded_services;
    use crate::testing::faults::FlakyStore;

    async fn stored_event(services: &Services, event_header: Option<&str>) -> EventId {
        let integration = Integration::new(
            IntegrationId::generate(),
            TenantId::generate(),
            "github",
            "gh",
            0,
        );
        integrations::insert(services.store.as_ref(), &integration)
            .await
            .expect("integration");
        let event = crate::inbound::receipt::new_event(
            &integration,
            "id:x".into(),
            b"{}",
            crate::clock::unix_now(),
            Verification::Verified,
        );
        let mut headers = http::HeaderMap::new();
        if let Some(name) = event_header {
            headers.insert("x-github-event", name.parse().expect("header"));
        }
        events::record_receipt(
            services.store.as_ref(),
            &event,
            &Payload::new(&headers, b"{}".to_vec()),
        )
        .await
        .expect("event");
        event.id
    }

    async fn state(services: &Services, id: &EventId) -> InboundEvent {
        events::get(services.store.as_ref(), id)
            .await
            .expect("read")
            .expect("event")
            .0
    }

    #[tokio::test]
    async fn retries_backing_failures_then_dead_letters_with_the_failing_stage() {
        let dir = tempfile::tempdir().expect("dir");
        let mut services = embedded_services(dir.path()).await;
        let id = stored_event(&services, Some("push")).await;
        let flaky = Arc::new(FlakyStore::new(Arc::clone(&services.store)));
        flaky.fail_queries.store(true, Ordering::SeqCst);
        services.store = flaky;

        for receive_count in 1..MAX_PROCESSING_TRIES {
            let error = process(&services, &id, receive_count).await.unwrap_err();
            assert!(error.retryable);
            let event = state(&services, &id).await;
            assert_eq!(event.status, EventStatus::Processing);
            assert_eq!(event.tries, receive_count);
        }
        let last = process(&services, &id, MAX_PROCESSING_TRIES)
            .await
            .unwrap_err();
        assert_eq!(last.stage, "load");
        let event = state(&services, &id).await;
        assert_eq!(event.status, EventStatus::Failed);
        let failure = event.failure.expect("failure recorded");
        assert_eq!(failure.stage, "load");
        assert!(failure.dead_lettered);
        assert!(!failure.fix.is_empty());
    }

    #[tokio::test]
    async fn processing_twice_changes_nothing_the_second_time() {
        let dir = tempfile::tempdir().expect("dir");
        let services = embedded_services(dir.path()).await;
        let id = stored_event(&services, Some("push")).await;
        assert_eq!(
            process(&services, &id, 1).await.expect("first"),
            Processed::Done("github.push".into())
        );
        let first = state(&services, &id).await;
        assert_eq!(
            process(&services, &id, 2).await.expect("again"),
            Processed::Skipped
        );
        assert_eq!(state(&services, &id).await, first);
    }

    #[tokio::test]
    async fn a_payload_without_an_event_type_fails_at_once_without_retrying() {
        let dir = tempfile::tempdir().expect("dir");
        let services = embedded_services(dir.path()).await;
        let id = stored_event(&services, None).await;
        assert_eq!(
            process(&services, &id, 1).await.expect("done"),
            Processed::Failed
        );
        let event = state(&services, &id).await;
        assert_eq!(event.status, EventStatus::Failed);
        let failure = event.failure.expect("failure");
        assert_eq!(failure.stage, "normalize");
        assert!(!failure.dead_lettered);
    }
}
