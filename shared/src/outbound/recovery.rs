//! Getting deliveries going again: replaying dead letters, resending any delivery, and sending
//! a tagged test event to one endpoint.

use std::time::Duration;

use crate::backend::Services;
use crate::domain::endpoint::Endpoint;
use crate::ids::MessageId;
use crate::jobs::Job;
use crate::repo::deliveries::{self, Delivery, DeliveryStatus};
use crate::repo::messages::{self, Message};
use crate::repo::RepoError;

/// Why a recovery action did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The state store failed, or the record changed concurrently.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The delivery is not a dead letter.
    #[error("the delivery is {0:?}, not a dead letter")]
    NotDead(DeliveryStatus),
    /// The job could not be queued; the delivery is pending and the scheduler will queue it.
    #[error("queued later: {0}")]
    Queue(String),
}

/// The event type of test deliveries.
pub const TEST_EVENT_TYPE: &str = "hookrail.test";

async fn queue_next(services: &Services, delivery: &Delivery) -> Result<(), RecoveryError> {
    Job::Deliver {
        delivery_id: delivery.id.clone(),
        attempt: delivery.attempts + 1,
    }
    .enqueue(services, Duration::ZERO)
    .await
    .map_err(|e| RecoveryError::Queue(e.to_string()))
}

/// Puts a dead letter back on its way: pending again, due now, with a fresh retry window.
pub async fn replay_dead(
    services: &Services,
    mut delivery: Delivery,
    version: u64,
) -> Result<Delivery, RecoveryError> {
    if delivery.status != DeliveryStatus::Failed {
        return Err(RecoveryError::NotDead(delivery.status));
    }
    let now = services.clock.now();
    delivery.status = DeliveryStatus::Pending;
    delivery.dead_reason = None;
    delivery.failing_since = None;
    delivery.claim = None;
    delivery.next_attempt_at = Some(now);
    delivery.updated_at = now;
    deliveries::save(services.store.as_ref(), &delivery, version).await?;
    queue_next(services, &delivery).await?;
    Ok(delivery)
}

/// Sends a delivery's event to its endpoint again, as a new delivery.
pub async fn resend(
    services: &Services,
    original: &Delivery,
    endpoint: &Endpoint,
) -> Result<Delivery, RecoveryError> {
    let now = services.clock.now();
    let delivery = Delivery::pending(
        &original.tenant_id,
        &original.message_id,
        &endpoint.id,
        &original.event_type,
        now,
    );
    deliveries::insert(services.store.as_ref(), &delivery).await?;
    queue_next(services, &delivery).await?;
    Ok(delivery)
}

/// Sends a clearly tagged test event (`"test": true`, type `hookrail.test`) to one endpoint.
pub async fn send_test(
    services: &Services,
    endpoint: &Endpoint,
) -> Result<(MessageId, Delivery), RecoveryError> {
    let now = services.clock.now();
    let message = Message {
        id: MessageId::generate(),
        tenant_id: endpoint.tenant_id.clone(),
        event_type: TEST_EVENT_TYPE.to_owned(),
        data: serde_json::json!({ "message": "A test event from Hookrail." }),
        occurred_at: now,
        idempotency_key: None,
        // Only this endpoint gets it: the message is never fanned out.
        fanned_out: true,
        test: true,
    };
    messages::publish(services.store.as_ref(), &message, now).await?;
    let delivery = Delivery::pending(
        &endpoint.tenant_id,
        &message.id,
        &endpoint.id,
        TEST_EVENT_TYPE,
        now,
    );
    deliveries::insert(services.store.as_ref(), &delivery).await?;
    queue_next(services, &delivery).await?;
    Ok((message.id, delivery))
}

/// Resumes the deliveries parked while `endpoint` was inactive: due now, and queued. Returns
/// how many; a delivery that changed meanwhile is left to whoever changed it.
pub async fn resume_parked(
    services: &Services,
    endpoint: &Endpoint,
) -> Result<usize, RecoveryError> {
    let store = services.store.as_ref();
    let mut resumed = 0;
    loop {
        let batch = deliveries::parked(store, &endpoint.id, 100).await?;
        if batch.is_empty() {
            return Ok(resumed);
        }
        let mut progressed = false;
        for (mut delivery, version) in batch {
            // A fresh retry window: the tenant fixed the endpoint, and the old failures
            // should not make the first new one final.
            delivery.failing_since = None;
            delivery.next_attempt_at = Some(services.clock.now());
            delivery.updated_at = services.clock.now();
            match deliveries::save(store, &delivery, version).await {
                Ok(_) => {
                    progressed = true;
                    resumed += 1;
                    // If queueing fails, the scheduler finds it by its due time.
                    if let Err(error) = queue_next(services, &delivery).await {
                        tracing::warn!(delivery_id = %delivery.id, error = %error, "resumed delivery not queued; the scheduler will");
                    }
                }
                Err(RepoError::Conflict) => {}
                Err(other) => return Err(other.into()),
            }
        }
        if !progressed {
            return Ok(resumed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::endpoints;

    #[tokio::test]
    async fn deliveries_parked_by_an_inactive_endpoint_resume_when_it_is_re_enabled() {
        let dir = tempfile::tempdir().expect("dir");
        let services = crate::testing::embedded_services(dir.path()).await;
        let store = services.store.as_ref();
        let now = services.clock.now();
        let mut endpoint = crate::testing::endpoint("https://hooks.example.com/x", now);
        endpoints::insert(store, &endpoint).await.expect("endpoint");
        let delivery = Delivery::pending(
            &endpoint.tenant_id,
            &MessageId::generate(),
            &endpoint.id,
            "a.b",
            now,
        );
        deliveries::insert(store, &delivery)
            .await
            .expect("delivery");

        // The endpoint is switched off before the attempt runs: the delivery is parked.
        endpoint.active = false;
        endpoints::update(store, &endpoint, 1)
            .await
            .expect("disable");
        crate::outbound::deliver::deliver(&services, &delivery.id, 1)
            .await
            .expect("deliver");
        let (parked, _) = deliveries::get(store, &delivery.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(parked.status, DeliveryStatus::Pending);
        assert_eq!(parked.next_attempt_at, None);
        assert_eq!(parked.attempts, 0, "no attempt was made");

        endpoint.active = true;
        assert_eq!(
            resume_parked(&services, &endpoint).await.expect("resume"),
            1
        );
        let (resumed, _) = deliveries::get(store, &delivery.id)
            .await
            .expect("read")
            .expect("found");
        assert!(resumed.next_attempt_at.is_some());
        let jobs = services
            .dispatch_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert!(
            jobs.iter().any(|j| j.body.contains(delivery.id.as_str())),
            "{jobs:?}"
        );
        assert_eq!(resume_parked(&services, &endpoint).await.expect("again"), 0);
    }
}
