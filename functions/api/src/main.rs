//! Lambda: the tenants' `/v1` API behind API Gateway.

#[tokio::main]
async fn main() -> Result<(), hookrail::runtime::StartError> {
    hookrail::runtime::init_tracing(true);
    let services = hookrail::runtime::services_from_env().await?;
    hookrail::runtime::serve_lambda_http(hookrail::api::router(services)).await
}
