//! The sample events in `events/` (the ones the README feeds to `cargo lambda invoke`) run
//! through the very handlers the Lambda functions serve, as API Gateway and SQS deliver them.

use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use hookrail::backend::Services;
use hookrail::clock::ManualClock;
use hookrail::config::Config;
use hookrail::domain::event::{EventStatus, Verification};
use hookrail::domain::integration::Integration;
use hookrail::ids::{EventId, IntegrationId};
use hookrail::repo::events;
use hookrail::repo::events::Payload;
use tower::ServiceExt;

/// The integration id and secret the samples are made for (see infra/README.md).
const SAMPLE_INTEGRATION: &str = hookrail::dev::SAMPLE_INTEGRATION_ID;
const SAMPLE_EVENT: &str = "evt_01HZX3EXAMP1E0000000000000";
const SAMPLE_SECRET: &str = hookrail::dev::SAMPLE_SIGNING_SECRET;

fn sample(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn services_at(now: i64) -> (tempfile::TempDir, Services) {
    let dir = tempfile::tempdir().expect("temp dir");
    let services = Services::connect(&Config::embedded(dir.path()))
        .await
        .expect("services")
        .with_clock(Arc::new(ManualClock::at(now)));
    (dir, services)
}

async fn sample_integration(services: &Services, vendor: &str) -> Integration {
    let id = IntegrationId::parse(SAMPLE_INTEGRATION).expect("sample id");
    hookrail::testing::integration_with_secret(services, id, vendor, SAMPLE_SECRET).await
}

async fn call(router: axum::Router, event: &str) -> (u16, String) {
    let request = lambda_http::request::from_str(event).expect("an API Gateway event");
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let response = router.oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn github_push_sample_is_accepted_by_the_inbound_function() {
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    sample_integration(&services, "github").await;
    let (status, body) = call(
        hookrail::inbound::router::router(services),
        &sample("inbound-github-push.json"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("evt_"), "{body}");
}

#[tokio::test]
async fn samples_load_creates_the_integration_the_github_sample_is_signed_for() {
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    hookrail::dev::load_samples(&services).await.expect("load");
    hookrail::dev::load_samples(&services)
        .await
        .expect("load twice");
    let (status, body) = call(
        hookrail::inbound::router::router(services),
        &sample("inbound-github-push.json"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn slack_url_verification_sample_is_answered_with_its_challenge() {
    // The sample is signed at 1700000000; Slack's 5-minute tolerance holds at that time.
    let (_dir, services) = services_at(1_700_000_000 + 5).await;
    sample_integration(&services, "slack").await;
    let (status, body) = call(
        hookrail::inbound::router::router(services),
        &sample("inbound-slack-url-verification.json"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
}

#[tokio::test]
async fn api_sample_reaches_the_api_function_and_is_authenticated() {
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    let (status, body) = call(
        hookrail::api::router(services),
        &sample("api-list-integrations.json"),
    )
    .await;
    // The sample's key is a placeholder, so the API answers in its one error shape.
    assert_eq!(status, 401, "{body}");
    assert!(body.contains(r#""code":"unauthorized""#), "{body}");
}

#[tokio::test]
async fn processor_sample_processes_its_event_and_reports_only_bad_records() {
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    let integration = sample_integration(&services, "github").await;
    let mut event = hookrail::inbound::receipt::new_event(
        &integration,
        "id:sample".into(),
        b"{}",
        services.clock.now(),
        Verification::Verified,
    );
    event.id = EventId::parse(SAMPLE_EVENT).expect("sample event id");
    let mut headers = http::HeaderMap::new();
    headers.insert("x-github-event", "push".parse().expect("header"));
    events::record_receipt(
        services.store.as_ref(),
        &event,
        &Payload::new(&headers, b"{}".to_vec()),
    )
    .await
    .expect("store event");

    let mut batch: SqsEvent =
        serde_json::from_str(&sample("processor-sqs.json")).expect("an SQS event");
    let mut unreadable = batch.records[0].clone();
    unreadable.message_id = Some("unreadable-1".into());
    unreadable.body = Some("not a job".into());
    batch.records.push(unreadable);

    let response = hookrail::runtime::handle_sqs_batch(&services, batch).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["unreadable-1"]);
    let (stored, _) = events::get(services.store.as_ref(), &event.id)
        .await
        .expect("read")
        .expect("event");
    assert_eq!(stored.status, EventStatus::Processed);
    assert_eq!(stored.event_type.as_deref(), Some("github.push"));
}

#[tokio::test]
async fn dispatch_sample_fans_out_its_message() {
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    let message = hookrail::repo::messages::Message {
        id: hookrail::ids::MessageId::parse("msg_01HZX3EXAMP1E0000000000000").expect("sample id"),
        tenant_id: hookrail::ids::TenantId::generate(),
        event_type: "invoice.paid".into(),
        data: serde_json::json!({}),
        occurred_at: services.clock.now(),
        idempotency_key: None,
        fanned_out: false,
        test: false,
    };
    hookrail::repo::messages::publish(services.store.as_ref(), &message, services.clock.now())
        .await
        .expect("store message");
    let batch: SqsEvent = serde_json::from_str(&sample("dispatch-sqs.json")).expect("an SQS event");
    let response = hookrail::runtime::handle_sqs_batch(&services, batch).await;
    assert!(response.batch_item_failures.is_empty());
    let (stored, _) = hookrail::repo::messages::get(services.store.as_ref(), &message.id)
        .await
        .expect("read")
        .expect("message");
    assert!(stored.fanned_out);
}

#[tokio::test]
async fn retry_scheduler_sample_is_an_eventbridge_event() {
    let event: serde_json::Value =
        serde_json::from_str(&sample("retry-scheduler.json")).expect("json");
    assert_eq!(event["detail-type"], "Scheduled Event");
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    let queued = hookrail::outbound::scheduler::run_once(&services, services.clock.now())
        .await
        .expect("run");
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn oauth_refresh_sample_is_an_eventbridge_event_the_refresher_runs_on() {
    let event: serde_json::Value =
        serde_json::from_str(&sample("oauth-refresh.json")).expect("json");
    assert_eq!(event["detail-type"], "Scheduled Event");
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    let report = hookrail::oauth::refresh::run_once(&services)
        .await
        .expect("run");
    assert_eq!(report, hookrail::oauth::refresh::RunReport::default());
}

#[tokio::test]
async fn health_probe_sample_is_an_eventbridge_event_the_probe_runs_on() {
    let event: serde_json::Value =
        serde_json::from_str(&sample("health-probe.json")).expect("json");
    assert_eq!(event["detail-type"], "Scheduled Event");
    let (_dir, services) = services_at(hookrail::clock::unix_now()).await;
    let report = hookrail::health::run_once(&services).await.expect("run");
    assert_eq!(report, hookrail::health::RunReport::default());
}
