//! The retry scheduler: queues every pending delivery whose attempt is due — the long waits
//! that cannot ride on the queue (over 15 minutes), and any retry a crash kept off the queue.
//! EventBridge runs it every minute on AWS; `hookrail dev` runs it in-process.

use std::time::Duration;

use tokio::sync::watch;

use crate::backend::Services;
use crate::jobs::Job;
use crate::repo::deliveries;

/// How often the scheduler runs.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// A due attempt is left to its own delayed job for this long before the scheduler queues it
/// too, so the normal path does not see a duplicate job every time.
const GRACE_SECS: i64 = 60;
/// Deliveries handled per run.
const BATCH: usize = 500;

/// Queues the deliveries due at `now`; returns how many.
pub async fn run_once(services: &Services, now: i64) -> Result<usize, crate::repo::RepoError> {
    let due = deliveries::due(services.store.as_ref(), now - GRACE_SECS, BATCH).await?;
    let mut queued = 0;
    for delivery in due {
        if delivery.claim.is_some_and(|(_, until)| until > now) {
            continue;
        }
        let job = Job::Deliver {
            delivery_id: delivery.id.clone(),
            attempt: delivery.attempts + 1,
        };
        match job.enqueue(services, Duration::ZERO).await {
            Ok(()) => queued += 1,
            Err(error) => {
                tracing::warn!(delivery_id = %delivery.id, error = %error, "due delivery not queued; next run retries");
            }
        }
    }
    if queued > 0 {
        tracing::info!(queued, "due deliveries queued");
    }
    Ok(queued)
}

/// Runs [`run_once`] every `interval` until `stop` turns true.
pub async fn run_every(services: Services, interval: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(error) = run_once(&services, services.clock.now()).await {
            tracing::warn!(error = %error, "retry scheduler run failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
