//! Receiving vendors' webhooks: the receipt (verify, store, enqueue, answer) and the processor
//! that works through the queue afterwards.

pub mod processor;
pub mod receipt;
pub mod router;

use serde::{Deserialize, Serialize};

use crate::ids::EventId;

/// A job on the inbound queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundJob {
    /// Process one received event.
    ProcessInbound {
        /// The event.
        event_id: EventId,
    },
}
