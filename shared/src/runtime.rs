//! How handlers run: on Lambda (an HTTP router, or an SQS batch with partial failures), and
//! all in one process for `hookrail dev`, where a poller feeds the same job handler from the
//! embedded queue. Every behaviour is written once.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::backend::Services;
use crate::jobs::handle as handle_job;
use crate::queue::JobQueue;

/// The Lambda SQS handler: runs the batch's jobs concurrently, each in its own span, and reports
/// the ones that failed by their real message ids so only they are retried.
pub async fn handle_sqs_batch(services: &Services, event: SqsEvent) -> SqsBatchResponse {
    let mut jobs = JoinSet::new();
    for record in event.records {
        let services = services.clone();
        let message_id = record.message_id.clone().unwrap_or_default();
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let span = tracing::info_span!("job", message_id = %message_id, receive_count);
        jobs.spawn(
            async move {
                let body = record.body.unwrap_or_default();
                let result = handle_job(&services, &body, receive_count).await;
                (message_id, result)
            }
            .instrument(span),
        );
    }
    let mut failures = Vec::new();
    while let Some(joined) = jobs.join_next().await {
        match joined {
            Ok((_, Ok(()))) => {}
            Ok((message_id, Err(error))) => {
                tracing::warn!(message_id = %message_id, error = %error, "job failed; left for retry");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                failures.push(failure);
            }
            Err(join_error) => {
                // A panicked job has lost its message id; failing nothing here would delete it,
                // so the whole batch is retried instead.
                tracing::error!(error = %join_error, "job panicked; retrying the batch");
                return SqsBatchResponse::default();
            }
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Feeds jobs from `queue` to [`handle_job`] until `stop` turns true.
pub async fn poll_queue(
    services: Services,
    queue: std::sync::Arc<dyn JobQueue>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            received = queue.receive(10, services.settings.job_lease, Duration::from_secs(1)) => received,
            _ = stop.changed() => return,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(error) => {
                tracing::error!(error = %error, "queue receive failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut jobs = JoinSet::new();
        for message in messages {
            let services = services.clone();
            let span = tracing::info_span!("job", message_id = %message.id, receive_count = message.receive_count);
            jobs.spawn(
                async move {
                    let result = handle_job(&services, &message.body, message.receive_count).await;
                    (message.receipt, result)
                }
                .instrument(span),
            );
        }
        while let Some(joined) = jobs.join_next().await {
            if let Ok((receipt, Ok(()))) = joined {
                if let Err(error) = queue.delete(&receipt).await {
                    tracing::warn!(error = %error, "finished job could not be deleted; it will run again harmlessly");
                }
            }
        }
    }
}

/// Sets up structured logs: JSON on Lambda (CloudWatch), compact text locally; `RUST_LOG`
/// overrides the `info` default.
pub fn init_tracing(json: bool) {
    init_tracing_at(json, "info");
}

/// Sets up logs with `default_filter` where `RUST_LOG` is not set.
pub fn init_tracing_at(json: bool, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Logs go to stderr, so stdout carries only what a command prints for its user.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi && !json);
    let _ = if json {
        builder.json().without_time().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// Why a function could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is incomplete.
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The adapters could not be built.
    #[error("backend: {0}")]
    Backend(#[from] crate::backend::BackendError),
    /// The Lambda runtime failed.
    #[error("lambda runtime: {0}")]
    Lambda(String),
}

/// Reads the environment and builds the adapters, as every function does at init.
pub async fn services_from_env() -> Result<Services, StartError> {
    let config = crate::config::Config::from_env()?;
    Ok(Services::connect(&config).await?)
}

/// Serves an HTTP router behind API Gateway.
pub async fn serve_lambda_http(router: axum::Router) -> Result<(), StartError> {
    lambda_http::run(router)
        .await
        .map_err(|e| StartError::Lambda(e.to_string()))
}

/// Serves SQS batches of jobs, reporting partial batch failures.
pub async fn serve_lambda_sqs(services: Services) -> Result<(), StartError> {
    let handler =
        lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| {
            let services = services.clone();
            async move {
                Ok::<_, std::convert::Infallible>(handle_sqs_batch(&services, event.payload).await)
            }
        });
    lambda_runtime::run(handler)
        .await
        .map_err(|e| StartError::Lambda(e.to_string()))
}

/// A job EventBridge runs on a schedule, and `hookrail dev` on a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    /// Queues deliveries whose next attempt is due (every minute).
    RetryScheduler,
    /// Refreshes OAuth tokens nearing expiry (every 5 minutes; `hookrail dev`: every minute).
    OAuthRefresh,
    /// Probes every connection (every 5 minutes).
    HealthProbe,
}

impl Scheduled {
    /// Runs the job once; what it did, as JSON.
    pub async fn run_once(self, services: &Services) -> Result<serde_json::Value, String> {
        match self {
            Self::RetryScheduler => {
                crate::outbound::scheduler::run_once(services, services.clock.now())
                    .await
                    .map(|queued| serde_json::json!({ "queued": queued }))
                    .map_err(|e| e.to_string())
            }
            Self::OAuthRefresh => crate::oauth::refresh::run_once(services)
                .await
                .map(|report| serde_json::json!(report))
                .map_err(|e| e.to_string()),
            Self::HealthProbe => crate::health::run_once(services)
                .await
                .map(|report| serde_json::json!(report))
                .map_err(|e| e.to_string()),
        }
    }

    /// How often `hookrail dev` runs it, and whether the first run is at start: the health
    /// probe waits one interval (`POST /v1/integrations/{id}/test` answers at once meanwhile).
    fn dev_timer(self) -> (Duration, bool) {
        match self {
            Self::RetryScheduler => (crate::outbound::scheduler::INTERVAL, true),
            Self::OAuthRefresh => (crate::oauth::refresh::INTERVAL, true),
            Self::HealthProbe => (crate::health::INTERVAL, false),
        }
    }
}

/// Serves a scheduled (EventBridge) trigger of `job`. A failed run is reported to Lambda; the
/// next scheduled run picks up what is still due.
pub async fn serve_lambda_scheduled(services: Services, job: Scheduled) -> Result<(), StartError> {
    let handler = lambda_runtime::service_fn(
        move |_event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let services = services.clone();
            async move {
                job.run_once(&services)
                    .await
                    .map_err(lambda_runtime::Diagnostic::from)
            }
        },
    );
    lambda_runtime::run(handler)
        .await
        .map_err(|e| StartError::Lambda(e.to_string()))
}

/// Runs `job` on its `hookrail dev` timer until `stop` changes.
pub async fn run_scheduled(services: Services, job: Scheduled, mut stop: watch::Receiver<bool>) {
    let (interval, at_start) = job.dev_timer();
    let mut due = at_start;
    loop {
        if due {
            if let Err(error) = job.run_once(&services).await {
                tracing::warn!(%error, ?job, "scheduled run failed");
            }
        }
        due = true;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
