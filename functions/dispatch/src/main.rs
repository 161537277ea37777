//! Lambda: fan-out and delivery jobs from the dispatch SQS queue.

#[tokio::main]
async fn main() -> Result<(), hookrail::runtime::StartError> {
    hookrail::runtime::init_tracing(true);
    let services = hookrail::runtime::services_from_env().await?;
    hookrail::runtime::serve_lambda_sqs(services).await
}
