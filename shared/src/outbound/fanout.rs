//! Fan-out: one delivery (and one delivery job) per endpoint that wants the message. Re-running
//! it creates nothing twice: each (message, endpoint) pair is created once.

use std::time::Duration;

use crate::backend::Services;
use crate::ids::{DeliveryId, MessageId};
use crate::jobs::{Job, JobError};
use crate::repo::deliveries::{self, Delivery, DeliveryStatus};
use crate::repo::{endpoints, messages};

fn retry_later(error: impl std::fmt::Display) -> JobError {
    JobError(error.to_string())
}

/// Creates and queues the deliveries of `message_id`.
pub async fn fan_out(services: &Services, message_id: &MessageId) -> Result<(), JobError> {
    let store = services.store.as_ref();
    let Some((message, version)) = messages::get(store, message_id)
        .await
        .map_err(retry_later)?
    else {
        tracing::warn!(message_id = %message_id, "message to fan out no longer exists");
        return Ok(());
    };
    if message.fanned_out {
        return Ok(());
    }
    crate::repo::event_types::record_seen(store, &message.tenant_id, &message.event_type)
        .await
        .map_err(retry_later)?;
    let now = services.clock.now();
    let mut cursor = None;
    let mut created = 0usize;
    loop {
        let (page, next) = endpoints::list(store, &message.tenant_id, 100, cursor)
            .await
            .map_err(retry_later)?;
        for endpoint in page
            .iter()
            .filter(|e| e.wants(&message.event_type, &message.data))
        {
            let delivery = Delivery {
                id: DeliveryId::generate(),
                tenant_id: message.tenant_id.clone(),
                message_id: message.id.clone(),
                endpoint_id: endpoint.id.clone(),
                event_type: message.event_type.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                claim: None,
                failing_since: None,
                next_attempt_at: Some(now),
                last_status_code: None,
                dead_reason: None,
                created_at: now,
                updated_at: now,
            };
            let (delivery_id, _) = deliveries::create_once(store, &delivery)
                .await
                .map_err(retry_later)?;
            // Queued again on a re-run too: the delivery job skips an attempt already made.
            Job::Deliver {
                delivery_id,
                attempt: 1,
            }
            .enqueue(services, Duration::ZERO)
            .await
            .map_err(retry_later)?;
            created += 1;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    messages::mark_fanned_out(store, &message, version)
        .await
        .map_err(retry_later)?;
    tracing::info!(message_id = %message.id, event_type = %message.event_type, deliveries = created, "message fanned out");
    Ok(())
}
