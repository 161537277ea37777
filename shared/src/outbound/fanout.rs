//! Fan-out: one delivery (and one delivery job) per endpoint that wants the message. Re-running
//! it creates nothing twice: each (message, endpoint) pair is created once.

use std::time::Duration;

use crate::backend::Services;
use crate::ids::MessageId;
use crate::jobs::{Job, JobError};
use crate::repo::deliveries::{self, Delivery};
use crate::repo::{endpoints, messages};

/// Creates and queues the deliveries of `message_id`.
pub async fn fan_out(services: &Services, message_id: &MessageId) -> Result<(), JobError> {
    let store = services.store.as_ref();
    let Some((message, version)) = messages::get(store, message_id)
        .await
        .map_err(JobError::retry)?
    else {
        tracing::warn!(message_id = %message_id, "message to fan out no longer exists");
        return Ok(());
    };
    if message.fanned_out {
        return Ok(());
    }
    crate::repo::event_types::record_seen(store, &message.tenant_id, &message.event_type)
        .await
        .map_err(JobError::retry)?;
    let now = services.clock.now();
    let mut cursor = None;
    let mut created = 0usize;
    loop {
        let (page, next) = endpoints::list(store, &message.tenant_id, 100, cursor)
            .await
            .map_err(JobError::retry)?;
        for endpoint in page
            .iter()
            .filter(|e| e.wants(&message.event_type, &message.data))
            .filter(|e| !e.is_reported_on(&message.event_type, &message.data))
        {
            let delivery = Delivery::pending(
                &message.tenant_id,
                &message.id,
                &endpoint.id,
                &message.event_type,
                now,
            );
            let (delivery_id, _) = deliveries::create_once(store, &delivery)
                .await
                .map_err(JobError::retry)?;
            // Queued again on a re-run too: the delivery job skips an attempt already made.
            Job::Deliver {
                delivery_id,
                attempt: 1,
            }
            .enqueue(services, Duration::ZERO)
            .await
            .map_err(JobError::retry)?;
            created += 1;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    messages::mark_fanned_out(store, &message, version)
        .await
        .map_err(JobError::retry)?;
    tracing::info!(message_id = %message.id, event_type = %message.event_type, deliveries = created, "message fanned out");
    Ok(())
}
