//! Lambda: every five minutes (EventBridge), probes every connection with its provider's
//! cheapest request and records the result in its 24-hour health history.

#[tokio::main]
async fn main() -> Result<(), hookrail::runtime::StartError> {
    hookrail::runtime::init_tracing(true);
    let services = hookrail::runtime::services_from_env().await?;
    hookrail::runtime::serve_lambda_scheduled(services, hookrail::runtime::Scheduled::HealthProbe)
        .await
}
