//! The receipt: the minimum before answering the vendor — look up, verify, one atomic write
//! (dedupe + store), one enqueue. Everything else happens in the processor.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::backend::Services;
use crate::domain::event::{preview, EventStatus, InboundEvent, Verification};
use crate::domain::integration::Integration;
use crate::ids::{EventId, IntegrationId};
use crate::repo::events::{Payload, Stored};
use crate::repo::{events, integrations, RepoError};
use crate::verify::{scheme_for, Handshake, InboundRequest, VerifyError};

/// What the receipt did with a request.
#[derive(Debug)]
pub enum Receipt {
    /// Stored and queued.
    Accepted(EventId),
    /// Seen before; nothing new stored.
    Duplicate(EventId),
    /// A vendor handshake, answered instead of stored.
    Handshake(Handshake),
}

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// No such integration, or it is inactive.
    #[error("unknown or inactive integration")]
    NotFound,
    /// The signature did not verify (missing, wrong, stale).
    #[error("signature rejected: {0}")]
    Unauthorized(VerifyError),
    /// A signature header could not be parsed.
    #[error("malformed header: {0}")]
    Malformed(VerifyError),
    /// The integration's stored configuration cannot verify anything.
    #[error("integration misconfigured: {0}")]
    Misconfigured(String),
    /// The store, queue or vault failed; the vendor should retry.
    #[error("backing service unavailable: {0}")]
    Unavailable(String),
}

impl From<RepoError> for ReceiptError {
    fn from(error: RepoError) -> Self {
        ReceiptError::Unavailable(error.to_string())
    }
}

/// Receives one webhook for `integration_id`.
pub async fn receive(
    services: &Services,
    integration_id: &str,
    headers: &http::HeaderMap,
    body: Vec<u8>,
) -> Result<Receipt, ReceiptError> {
    let id = IntegrationId::parse(integration_id).map_err(|_| ReceiptError::NotFound)?;
    let (integration, _) = integrations::get_any(services.store.as_ref(), &id)
        .await?
        .filter(|(integration, _)| integration.active)
        .ok_or(ReceiptError::NotFound)?;
    let scheme_name = services
        .catalog
        .webhook_scheme(&integration.vendor)
        .unwrap_or_else(|| format!("{} (sends no webhooks)", integration.vendor));
    let scheme = scheme_for(
        &scheme_name,
        &serde_json::Value::Object(integration.config.clone()),
    )
    .map_err(|e| ReceiptError::Misconfigured(e.to_string()))?;
    let secret = integrations::open_secret(&services.sealer, &integration, "signing_secret")
        .await?
        .ok_or_else(|| ReceiptError::Misconfigured("no signing_secret".into()))?;
    let now = services.clock.now();
    let request = InboundRequest {
        headers,
        body: &body,
        now_unix: now,
    };
    scheme.verify(&request, &secret).map_err(|error| {
        if error.is_malformed() {
            ReceiptError::Malformed(error)
        } else {
            ReceiptError::Unauthorized(error)
        }
    })?;
    if let Some(handshake) = scheme.handshake(&request) {
        return Ok(Receipt::Handshake(handshake));
    }
    let dedupe_key = scheme
        .delivery_id(&request)
        .map(|id| format!("id:{id}"))
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&body))));
    let event = new_event(&integration, dedupe_key, &body, now, Verification::Verified);
    let payload = Payload::new(headers, body);
    match events::record_receipt(services.store.as_ref(), &event, &payload).await? {
        Stored::New => {
            enqueue(services, &event.id).await?;
            Ok(Receipt::Accepted(event.id))
        }
        Stored::Duplicate(existing) => {
            heal_unqueued(services, &existing).await?;
            Ok(Receipt::Duplicate(existing))
        }
    }
}

/// A new RECEIVED event of `integration`.
pub fn new_event(
    integration: &Integration,
    dedupe_key: String,
    body: &[u8],
    now: i64,
    verification: Verification,
) -> InboundEvent {
    InboundEvent {
        id: EventId::generate(),
        tenant_id: integration.tenant_id.clone(),
        integration_id: integration.id.clone(),
        vendor: integration.vendor.clone(),
        status: EventStatus::Received,
        event_type: None,
        received_at: now,
        verification,
        dedupe_key,
        preview: preview(body),
        body_bytes: body.len(),
        tries: 0,
        failure: None,
        replay_of: None,
        processed_at: None,
    }
}

/// Queues the processing of a stored event.
pub async fn enqueue(services: &Services, event_id: &EventId) -> Result<(), ReceiptError> {
    crate::jobs::Job::ProcessInbound {
        event_id: event_id.clone(),
    }
    .enqueue(services, Duration::ZERO)
    .await
    .map_err(|error| {
        // The event is stored but not queued: answering non-2xx makes the vendor redeliver,
        // and the redelivery re-queues it (see `heal_unqueued`), so nothing is lost.
        tracing::error!(event_id = %event_id, error = %error, "stored event could not be queued");
        ReceiptError::Unavailable(error.to_string())
    })
}

/// A redelivery of an event still RECEIVED may mean the first enqueue failed after the store
/// succeeded: queue it again. Processing is idempotent, so a second job is harmless.
async fn heal_unqueued(services: &Services, event_id: &EventId) -> Result<(), ReceiptError> {
    if let Some((event, _)) = events::get(services.store.as_ref(), event_id).await? {
        if event.status == EventStatus::Received {
            enqueue(services, event_id).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::domain::integration::Integration;
    use crate::testing::faults::{FlakyQueue, FlakyStore};
    use crate::testing::{embedded_services, github_signed_headers, integration_with_secret};

    const SECRET: &str = "hook-secret";

    async fn github_integration(services: &Services) -> Integration {
        integration_with_secret(services, IntegrationId::generate(), "github", SECRET).await
    }

    fn signed(body: &[u8], delivery: &str) -> http::HeaderMap {
        github_signed_headers(SECRET, body, delivery)
    }

    #[tokio::test]
    async fn an_event_stored_but_not_queued_is_queued_by_the_vendors_redelivery() {
        let dir = tempfile::tempdir().expect("dir");
        let mut services = embedded_services(dir.path()).await;
        let real_queue = Arc::clone(&services.inbound_queue);
        services.inbound_queue = Arc::new(FlakyQueue {
            inner: Arc::clone(&real_queue),
            failing_sends: AtomicU32::new(1),
        });
        let integration = github_integration(&services).await;
        let body = b"{}".to_vec();
        let headers = signed(&body, "d-1");

        let first = receive(&services, integration.id.as_str(), &headers, body.clone()).await;
        assert!(
            matches!(first, Err(ReceiptError::Unavailable(_))),
            "{first:?}"
        );
        let queued = real_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert!(queued.is_empty(), "nothing was queued yet");

        let again = receive(&services, integration.id.as_str(), &headers, body).await;
        let Ok(Receipt::Duplicate(id)) = again else {
            panic!("expected a duplicate, got {again:?}");
        };
        let queued = real_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(queued.len(), 1);
        assert!(queued[0].body.contains(id.as_str()));
    }

    #[tokio::test]
    async fn a_store_failure_is_not_acknowledged_and_queues_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let mut services = embedded_services(dir.path()).await;
        let integration = github_integration(&services).await;
        let flaky = Arc::new(FlakyStore::new(Arc::clone(&services.store)));
        flaky.fail_writes.store(true, Ordering::SeqCst);
        services.store = flaky;
        let body = b"{}".to_vec();
        let result = receive(
            &services,
            integration.id.as_str(),
            &signed(&body, "d-2"),
            body,
        )
        .await;
        assert!(
            matches!(result, Err(ReceiptError::Unavailable(_))),
            "{result:?}"
        );
        let queued = services
            .inbound_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert!(queued.is_empty());
    }
}
