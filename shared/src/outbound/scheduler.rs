//! The retry scheduler: queues every pending delivery whose attempt is due — the long waits
//! that cannot ride on the queue (over 15 minutes), and any retry a crash kept off the queue —
//! and the fan-out of any message whose fan-out job was lost (dead-lettered after repeated
//! infrastructure failures).
//! EventBridge runs it every minute on AWS; `hookrail dev` runs it in-process.

use std::time::Duration;

use crate::backend::Services;
use crate::jobs::Job;
use crate::repo::{deliveries, messages};

/// How often the scheduler runs.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// A due attempt is left to its own delayed job for this long before the scheduler queues it
/// too, so the normal path does not see a duplicate job every time.
const GRACE_SECS: i64 = 60;
/// Deliveries handled per run.
const BATCH: usize = 500;

/// Queues the deliveries due at `now` and the lost fan-outs; returns how many jobs.
pub async fn run_once(services: &Services, now: i64) -> Result<usize, crate::repo::RepoError> {
    let due = deliveries::due(services.store.as_ref(), now - GRACE_SECS, BATCH).await?;
    let mut queued = 0;
    for delivery in due {
        if delivery.claim.is_some_and(|(_, until)| until > now) {
            continue;
        }
        queued += queue(
            services,
            Job::Deliver {
                delivery_id: delivery.id.clone(),
                attempt: delivery.attempts + 1,
            },
        )
        .await;
    }
    for message in messages::unfanned(services.store.as_ref(), now - GRACE_SECS, BATCH).await? {
        queued += queue(
            services,
            Job::FanOut {
                message_id: message.id,
            },
        )
        .await;
    }
    if queued > 0 {
        tracing::info!(queued, "due deliveries and unfinished fan-outs queued");
    }
    Ok(queued)
}

/// Queues one job; 1 if it went, 0 (and a warning) if not — the next run tries again.
async fn queue(services: &Services, job: Job) -> usize {
    match job.enqueue(services, Duration::ZERO).await {
        Ok(()) => 1,
        Err(error) => {
            tracing::warn!(job = ?job, error = %error, "job not queued; the next run retries");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{MessageId, TenantId};
    use crate::repo::messages::Message;

    #[tokio::test]
    async fn a_message_whose_fan_out_was_lost_is_fanned_out_again() {
        let dir = tempfile::tempdir().expect("dir");
        let services = crate::testing::embedded_services(dir.path()).await;
        let now = crate::clock::unix_now();
        let message = Message {
            id: MessageId::generate(),
            tenant_id: TenantId::generate(),
            event_type: "order.created".into(),
            data: serde_json::json!({}),
            occurred_at: now,
            idempotency_key: None,
            fanned_out: false,
            test: false,
        };
        // Stored, but its fan-out job never reached the queue.
        messages::publish(services.store.as_ref(), &message, now)
            .await
            .expect("store");
        assert_eq!(
            run_once(&services, now).await.expect("run"),
            0,
            "within the grace"
        );
        assert_eq!(run_once(&services, now + 120).await.expect("run"), 1);
        let jobs = services
            .dispatch_queue
            .receive(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(jobs.len(), 1);
        assert!(jobs[0].body.contains(message.id.as_str()));

        crate::outbound::fanout::fan_out(&services, &message.id)
            .await
            .expect("fan out");
        assert_eq!(
            run_once(&services, now + 120).await.expect("run"),
            0,
            "done once fanned out"
        );
    }
}
