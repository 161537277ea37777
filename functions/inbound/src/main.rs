//! Lambda: `POST /hooks/{integration_id}` behind API Gateway — receives vendors' webhooks.

#[tokio::main]
async fn main() -> Result<(), hookrail::runtime::StartError> {
    hookrail::runtime::init_tracing(true);
    let services = hookrail::runtime::services_from_env().await?;
    hookrail::runtime::serve_lambda_http(hookrail::inbound::router::router(services)).await
}
