//! Getting deliveries going again: replaying dead letters, resending any delivery, and sending
//! a tagged test event to one endpoint.

use std::time::Duration;

use crate::backend::Services;
use crate::domain::endpoint::Endpoint;
use crate::ids::{DeliveryId, MessageId, TenantId};
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

fn new_delivery(
    tenant: &TenantId,
    message: &MessageId,
    endpoint: &Endpoint,
    event_type: &str,
    now: i64,
) -> Delivery {
    Delivery {
        id: DeliveryId::generate(),
        tenant_id: tenant.clone(),
        message_id: message.clone(),
        endpoint_id: endpoint.id.clone(),
        event_type: event_type.to_owned(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        claim: None,
        failing_since: None,
        next_attempt_at: Some(now),
        last_status_code: None,
        dead_reason: None,
        created_at: now,
        updated_at: now,
    }
}

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
    let delivery = new_delivery(
        &original.tenant_id,
        &original.message_id,
        endpoint,
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
    let delivery = new_delivery(
        &endpoint.tenant_id,
        &message.id,
        endpoint,
        TEST_EVENT_TYPE,
        now,
    );
    deliveries::insert(services.store.as_ref(), &delivery).await?;
    queue_next(services, &delivery).await?;
    Ok((message.id, delivery))
}
