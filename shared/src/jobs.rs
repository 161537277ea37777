//! Every kind of background job, which queue it rides, and the one function that runs a job
//! from its queue body — on Lambda (SQS) and in `hookrail dev` (embedded queues) alike.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::Services;
use crate::ids::{DeliveryId, EventId, MessageId};
use crate::queue::QueueError;

/// A job on a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Process one received event (inbound queue).
    ProcessInbound {
        /// The event.
        event_id: EventId,
    },
    /// Create the deliveries of one published message (dispatch queue).
    FanOut {
        /// The message.
        message_id: MessageId,
    },
    /// Make one delivery attempt (dispatch queue).
    Deliver {
        /// The delivery.
        delivery_id: DeliveryId,
        /// Which attempt this job is for: a job for an attempt already made is a duplicate.
        attempt: u32,
    },
}

/// A job that did not finish and should be retried by its queue.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl JobError {
    /// A failure worth retrying later (state store or queue unavailable), from any error.
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

impl Job {
    /// The queue body.
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Puts the job on its queue, visible after `delay` (at most 15 minutes).
    pub async fn enqueue(&self, services: &Services, delay: Duration) -> Result<(), QueueError> {
        let queue = match self {
            Job::ProcessInbound { .. } => &services.inbound_queue,
            Job::FanOut { .. } | Job::Deliver { .. } => &services.dispatch_queue,
        };
        queue.send(&self.body(), delay).await
    }
}

/// Runs one job from its queue body; `receive_count` is how often the queue has handed it out.
pub async fn handle(services: &Services, body: &str, receive_count: u32) -> Result<(), JobError> {
    let job: Job = serde_json::from_str(body).map_err(|e| {
        // Left on the queue, an unreadable job ends in the dead-letter queue for inspection.
        tracing::error!(error = %e, "unreadable job");
        JobError(format!("unreadable job: {e}"))
    })?;
    match job {
        Job::ProcessInbound { event_id } => {
            crate::inbound::processor::process(services, &event_id, receive_count)
                .await
                .map(|_| ())
                .map_err(|e| JobError(e.to_string()))
        }
        Job::FanOut { message_id } => crate::outbound::fanout::fan_out(services, &message_id).await,
        Job::Deliver {
            delivery_id,
            attempt,
        } => crate::outbound::deliver::deliver(services, &delivery_id, attempt).await,
    }
}
