//! The queue port: at-least-once delivery with delays, visibility timeouts, and a dead-letter
//! queue after a bounded number of receives — SQS's model, which the embedded queue mirrors.

pub mod embedded;
pub mod sqs;

use std::time::Duration;

use async_trait::async_trait;

/// The longest delay a queue accepts (SQS's limit); longer waits belong in the state store.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// Refuses a delay longer than [`MAX_DELAY`]: longer waits belong in the state store.
pub fn check_delay(delay: Duration) -> Result<(), QueueError> {
    if delay > MAX_DELAY {
        return Err(QueueError::Rejected(format!(
            "delay of {}s exceeds the queue's {}s limit",
            delay.as_secs(),
            MAX_DELAY.as_secs()
        )));
    }
    Ok(())
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The message's id, stable across receives.
    pub id: String,
    /// The handle that deletes this receive of it.
    pub receipt: String,
    /// The payload.
    pub body: String,
    /// How many times it has been received, this time included.
    pub receive_count: u32,
}

/// What can go wrong talking to a queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The backend could not be reached or refused the call; worth retrying.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (delay too long, message too large).
    #[error("queue request rejected: {0}")]
    Rejected(String),
}

/// The queue port.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends one message, visible after `delay` (at most [`MAX_DELAY`]).
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError>;
    /// Receives up to `max` visible messages, hiding them for `visibility`; waits up to `wait`
    /// for the first one.
    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError>;
    /// Deletes a received message so it is never delivered again.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
    /// How many messages the queue holds, visible, in flight or delayed (approximate on SQS).
    async fn depth(&self) -> Result<u64, QueueError>;
}

/// Moves up to `max` messages from a dead-letter queue back to its source queue; returns how
/// many. Each message is sent before it is deleted, so a failure mid-way duplicates at most one
/// job (jobs are idempotent) and loses none.
pub async fn redrive(
    dead_letters: &dyn JobQueue,
    source: &dyn JobQueue,
    max: usize,
) -> Result<usize, QueueError> {
    let mut moved = 0;
    while moved < max {
        let batch = dead_letters
            .receive(
                (max - moved).min(10),
                Duration::from_secs(30),
                Duration::ZERO,
            )
            .await?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            source.send(&message.body, Duration::ZERO).await?;
            dead_letters.delete(&message.receipt).await?;
            moved += 1;
        }
    }
    Ok(moved)
}

#[cfg(test)]
pub(crate) mod contract;
