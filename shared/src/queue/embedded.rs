//! The embedded queue: messages in the embedded database, so a sent job survives a crash.
//!
//! A receive hides messages for the visibility timeout by moving `visible_at_ms`; a message
//! received more than `max_receives` times moves to the `<name>-dlq` queue instead, as an SQS
//! redrive policy does.

use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;

use super::{check_delay, JobQueue, QueueError, QueueMessage};
use crate::clock::unix_now_ms;
use crate::embedded::{EmbeddedDb, EmbeddedDbError};

/// How often an idle receive looks again while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// One named queue in the embedded database.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: EmbeddedDb,
    name: String,
    max_receives: u32,
    wakeup: std::sync::Arc<tokio::sync::Notify>,
}

impl From<EmbeddedDbError> for QueueError {
    fn from(error: EmbeddedDbError) -> Self {
        QueueError::Unavailable(error.to_string())
    }
}

impl From<rusqlite::Error> for QueueError {
    fn from(error: rusqlite::Error) -> Self {
        QueueError::Unavailable(error.to_string())
    }
}

impl EmbeddedQueue {
    /// The queue `name`, dead-lettering a message on its receive after `max_receives`.
    pub fn new(db: EmbeddedDb, name: impl Into<String>, max_receives: u32) -> Self {
        Self {
            db,
            name: name.into(),
            max_receives,
            wakeup: std::sync::Arc::default(),
        }
    }

    /// The name of this queue's dead-letter queue.
    pub fn dead_letter_name(&self) -> String {
        format!("{}-dlq", self.name)
    }

    /// The dead-letter queue of this queue, for inspection and redrive.
    pub fn dead_letters(&self) -> Self {
        Self::new(self.db.clone(), self.dead_letter_name(), u32::MAX)
    }

    /// How many messages the queue holds, visible or not.
    pub async fn len(&self) -> Result<u64, QueueError> {
        let name = self.name.clone();
        self.db
            .run(move |conn| {
                let count: i64 = conn.query_row(
                    "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                    params![name],
                    |row| row.get(0),
                )?;
                Ok(u64::try_from(count).unwrap_or_default())
            })
            .await
    }

    /// Whether the queue holds no messages.
    pub async fn is_empty(&self) -> Result<bool, QueueError> {
        Ok(self.len().await? == 0)
    }

    async fn receive_now(
        &self,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let name = self.name.clone();
        let dlq = self.dead_letter_name();
        let max_receives = self.max_receives;
        let max = i64::try_from(max.clamp(1, 10)).unwrap_or(10);
        let visibility_ms = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                let now = unix_now_ms();
                let tx = conn.transaction()?;
                let candidates: Vec<(String, String, u32)> = {
                    let mut select = tx.prepare_cached(
                        "SELECT id, body, receive_count FROM queue_messages
                         WHERE queue = ?1 AND visible_at_ms <= ?2
                         ORDER BY visible_at_ms LIMIT ?3",
                    )?;
                    let rows = select.query_map(params![name, now, max], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?;
                    rows.collect::<Result<_, _>>()?
                };
                let mut received = Vec::new();
                for (id, body, count) in candidates {
                    if count >= max_receives {
                        tx.prepare_cached(
                            "UPDATE queue_messages
                             SET queue = ?2, receive_count = 0, receipt = NULL, visible_at_ms = ?3
                             WHERE id = ?1",
                        )?
                        .execute(params![id, dlq, now])?;
                        tracing::warn!(queue = %name, message_id = %id, receives = count, "message moved to dead-letter queue");
                        continue;
                    }
                    let receipt = ulid::Ulid::new().to_string();
                    tx.prepare_cached(
                        "UPDATE queue_messages
                         SET receive_count = receive_count + 1, receipt = ?2, visible_at_ms = ?3
                         WHERE id = ?1",
                    )?
                    .execute(params![id, receipt, now.saturating_add(visibility_ms)])?;
                    received.push(QueueMessage {
                        id,
                        receipt,
                        body,
                        receive_count: count + 1,
                    });
                }
                tx.commit()?;
                Ok(received)
            })
            .await
    }
}

#[async_trait]
impl JobQueue for EmbeddedQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        check_delay(delay)?;
        let name = self.name.clone();
        let body = body.to_owned();
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                let now = unix_now_ms();
                conn.prepare_cached(
                    "INSERT INTO queue_messages (id, queue, body, visible_at_ms, sent_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    ulid::Ulid::new().to_string(),
                    name,
                    body,
                    now.saturating_add(delay_ms),
                    now
                ])?;
                Ok::<_, QueueError>(())
            })
            .await?;
        self.wakeup.notify_waiters();
        Ok(())
    }

    async fn receive(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<QueueMessage>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.wakeup.notified();
            let received = self.receive_now(max, visibility).await?;
            if !received.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(received);
            }
            // Woken by a send in this process, or by the poll interval for delayed messages
            // and sends from other processes.
            let _ = tokio::time::timeout(POLL_INTERVAL, notified).await;
        }
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.db
            .run(move |conn| {
                conn.prepare_cached("DELETE FROM queue_messages WHERE receipt = ?1")?
                    .execute(params![receipt])?;
                Ok(())
            })
            .await
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        self.len().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn embedded_queue_meets_the_queue_port_contract() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = EmbeddedDb::open(dir.path()).expect("open db");
        let queue = EmbeddedQueue::new(db, "jobs", 3);
        let dead = queue.dead_letters();
        super::super::contract::run_all(&queue, &dead, 3).await;
    }

    #[tokio::test]
    async fn queued_messages_survive_reopening_the_database() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let queue = EmbeddedQueue::new(EmbeddedDb::open(dir.path()).expect("db"), "jobs", 3);
            queue.send("durable", Duration::ZERO).await.expect("send");
        }
        let queue = EmbeddedQueue::new(EmbeddedDb::open(dir.path()).expect("db"), "jobs", 3);
        let got = queue
            .receive(1, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, "durable");
    }
}
