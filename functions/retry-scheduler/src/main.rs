//! Lambda: every minute (EventBridge), queues the deliveries whose next attempt is due.

#[tokio::main]
async fn main() -> Result<(), hookrail::runtime::StartError> {
    hookrail::runtime::init_tracing(true);
    let services = hookrail::runtime::services_from_env().await?;
    hookrail::runtime::serve_lambda_scheduled(
        services,
        hookrail::runtime::Scheduled::RetryScheduler,
    )
    .await
}
