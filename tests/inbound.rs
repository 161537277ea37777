//! End to end: tenants' API and vendors' webhooks through a real listener, with the processor
//! running from the queue — the same scenario on the embedded backend and on the AWS adapters
//! (against moto's server, started by `scripts/test`).

use std::time::Duration;

use hmac::{Hmac, Mac};
use hookrail::backend::Services;
use hookrail::config::{BackendConfig, Config};
use hookrail::dev::DevServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

const BODY_LIMIT: usize = 64 * 1024;
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

struct System {
    server: DevServer,
    services: Services,
    http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

async fn start(config: Config, dir: Option<tempfile::TempDir>) -> System {
    let services = Services::connect(&config).await.expect("connect backend");
    let server = DevServer::start(services.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start server");
    System {
        server,
        services,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

async fn embedded() -> System {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::embedded(dir.path());
    config.max_body_bytes = BODY_LIMIT;
    start(config, Some(dir)).await
}

async fn embedded_with_rate_limit(per_minute: u32) -> System {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::embedded(dir.path());
    config.api_requests_per_minute = per_minute;
    start(config, Some(dir)).await
}

async fn aws() -> Option<System> {
    let aws = hookrail::testing::moto().await?;
    let config = Config {
        backend: BackendConfig::Aws {
            table: aws.create_table().await,
            inbound_queue_url: aws.create_queue(3).await.0,
            kms_key_id: aws.create_key().await,
        },
        public_url: None,
        max_body_bytes: BODY_LIMIT,
        api_requests_per_minute: 10_000,
    };
    Some(start(config, None).await)
}

fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac key");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    hookrail::clock::unix_now()
}

impl System {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }

    /// A tenant, created the way `hookrail tenants create` does; returns its API key.
    async fn tenant(&self, name: &str) -> String {
        hookrail::repo::tenants::create(self.services.store.as_ref(), name, now())
            .await
            .expect("create tenant")
            .1
    }

    async fn api(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("api request");
        let status = response.status();
        let text = response.text().await.expect("api body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create_integration(&self, key: &str, body: Value) -> Value {
        let (status, created) = self
            .api(key, reqwest::Method::POST, "/v1/integrations", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    async fn post_hook(
        &self,
        webhook_url: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> (StatusCode, String) {
        let mut request = self.http.post(webhook_url).body(body.to_vec());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("webhook request");
        let status = response.status();
        (status, response.text().await.expect("webhook body"))
    }

    async fn github_push(
        &self,
        webhook_url: &str,
        delivery: &str,
        body: &str,
    ) -> (StatusCode, String) {
        let signature = format!(
            "sha256={}",
            hmac_hex(GITHUB_SECRET.as_bytes(), body.as_bytes())
        );
        self.post_hook(
            webhook_url,
            &[
                ("X-Hub-Signature-256", signature),
                ("X-GitHub-Event", "push".into()),
                ("X-GitHub-Delivery", delivery.into()),
                ("Content-Type", "application/json".into()),
            ],
            body.as_bytes(),
        )
        .await
    }

    /// Waits until the event reaches a final status and returns it.
    async fn settled_event(&self, key: &str, integration: &str, event: &str) -> Value {
        let path = format!("/v1/integrations/{integration}/events/{event}");
        for _ in 0..200 {
            let (status, body) = self.api(key, reqwest::Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["status"] == "PROCESSED" || body["status"] == "FAILED" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("event {event} did not settle");
    }
}

fn field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {value}"))
}

async fn scenario(system: &System) {
    let key = system.tenant("Acme").await;
    let other_key = system.tenant("Globex").await;

    // Create: secrets are masked and the webhook URL points at this deployment.
    let github = system
        .create_integration(
            &key,
            json!({ "vendor": "github", "name": "Acme GitHub", "config": { "signing_secret": GITHUB_SECRET } }),
        )
        .await;
    let github_id = field(&github, "id").to_owned();
    let hook = field(&github, "webhook_url").to_owned();
    assert_eq!(github["config"]["signing_secret"], "***");
    assert_eq!(hook, system.url(&format!("/hooks/{github_id}")));
    let listed = system
        .api(&key, reqwest::Method::GET, "/v1/integrations", None)
        .await
        .1;
    assert!(
        !listed.to_string().contains(GITHUB_SECRET),
        "a secret leaked: {listed}"
    );

    // A signed webhook is accepted, processed and normalised.
    let push = r#"{"ref":"refs/heads/main","commits":[]}"#;
    let (status, body) = system.github_push(&hook, "delivery-1", push).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let event_id = field(&serde_json::from_str(&body).expect("json"), "id").to_owned();
    let event = system.settled_event(&key, &github_id, &event_id).await;
    assert_eq!(event["status"], "PROCESSED", "{event}");
    assert_eq!(event["type"], "github.push");
    assert_eq!(event["verification"], "verified");
    assert_eq!(event["payload_preview"], push);

    // A redelivery answers 2xx with the first event and stores nothing new.
    let (status, body) = system.github_push(&hook, "delivery-1", push).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(&event_id), "{body}");
    let events_path = format!("/v1/integrations/{github_id}/events");
    let (_, events) = system
        .api(&key, reqwest::Method::GET, &events_path, None)
        .await;
    assert_eq!(events["data"].as_array().map(Vec::len), Some(1), "{events}");

    // Wrong secret, tampered body, malformed and missing headers, oversize bodies.
    let wrong = format!("sha256={}", hmac_hex(b"not the secret", push.as_bytes()));
    let (status, body) = system
        .post_hook(
            &hook,
            &[
                ("X-Hub-Signature-256", wrong),
                ("X-GitHub-Event", "push".into()),
            ],
            push.as_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        !body.contains("sha256"),
        "401 must not help an attacker: {body}"
    );
    let (status, _) = system
        .post_hook(
            &hook,
            &[("X-Hub-Signature-256", "sha256=zz".into())],
            push.as_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = system.post_hook(&hook, &[], push.as_bytes()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let big = "x".repeat(BODY_LIMIT + 1);
    let (status, body) = system.github_push(&hook, "delivery-big", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    let (status, _) = system
        .github_push(
            &system.url("/hooks/int_01HZX3EXAMP1E0000000000000"),
            "d",
            push,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another tenant sees nothing of it.
    for path in [
        format!("/v1/integrations/{github_id}"),
        events_path.clone(),
        format!("{events_path}/{event_id}"),
    ] {
        let (status, body) = system
            .api(&other_key, reqwest::Method::GET, &path, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, theirs) = system
        .api(&other_key, reqwest::Method::GET, "/v1/integrations", None)
        .await;
    assert_eq!(theirs["data"], json!([]));
    let (status, _) = system
        .api(
            &other_key,
            reqwest::Method::POST,
            &format!("{events_path}/{event_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Replay makes a new event, processed from the start.
    let (status, replay) = system
        .api(
            &key,
            reqwest::Method::POST,
            &format!("{events_path}/{event_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    assert_eq!(replay["replay_of"], event_id.as_str());
    let replayed = system
        .settled_event(&key, &github_id, field(&replay, "id"))
        .await;
    assert_eq!(replayed["status"], "PROCESSED");
    assert_eq!(replayed["verification"], "replayed");
    let (_, processed) = system
        .api(
            &key,
            reqwest::Method::GET,
            &format!("{events_path}?status=processed&limit=1"),
            None,
        )
        .await;
    assert_eq!(processed["data"].as_array().map(Vec::len), Some(1));
    assert!(processed["next_cursor"].is_string(), "{processed}");

    // An inactive integration answers 404 to webhooks.
    let (status, patched) = system
        .api(
            &key,
            reqwest::Method::PATCH,
            &format!("/v1/integrations/{github_id}"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["config"]["signing_secret"], "***");
    let (status, _) = system.github_push(&hook, "delivery-2", push).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Slack: the url_verification handshake is answered; a stale timestamp is refused.
    let slack = system
        .create_integration(&key, json!({ "vendor": "slack", "name": "Slack", "config": { "signing_secret": "slack-secret" } }))
        .await;
    let slack_hook = field(&slack, "webhook_url").to_owned();
    let challenge = r#"{"token":"t","challenge":"c-123","type":"url_verification"}"#;
    let slack_headers = |ts: i64| {
        let base = format!("v0:{ts}:{challenge}");
        vec![
            ("X-Slack-Request-Timestamp", ts.to_string()),
            (
                "X-Slack-Signature",
                format!("v0={}", hmac_hex(b"slack-secret", base.as_bytes())),
            ),
            ("Content-Type", "application/json".to_owned()),
        ]
    };
    let (status, body) = system
        .post_hook(&slack_hook, &slack_headers(now()), challenge.as_bytes())
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "c-123"));
    let (status, _) = system
        .post_hook(
            &slack_hook,
            &slack_headers(now() - 600),
            challenge.as_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A payload that names no event type fails at `normalize`, with a fix.
    let generic = system
        .create_integration(
            &key,
            json!({ "vendor": "generic-hmac", "name": "Internal", "config": { "signing_secret": "g", "header": "X-Signature" } }),
        )
        .await;
    let generic_body = r#"{"hello":"world"}"#;
    let (status, body) = system
        .post_hook(
            field(&generic, "webhook_url"),
            &[("X-Signature", hmac_hex(b"g", generic_body.as_bytes()))],
            generic_body.as_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let failed_id = field(&serde_json::from_str(&body).expect("json"), "id").to_owned();
    let failed = system
        .settled_event(&key, field(&generic, "id"), &failed_id)
        .await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["failure"]["stage"], "normalize");
    assert!(
        field(&failed["failure"], "fix").contains("event_type_header"),
        "{failed}"
    );

    // Delete wipes it; its webhook URL and API routes answer 404.
    let (status, _) = system
        .api(
            &key,
            reqwest::Method::DELETE,
            &format!("/v1/integrations/{github_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = system
        .api(
            &key,
            reqwest::Method::GET,
            &format!("/v1/integrations/{github_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad requests name their problem in the one error shape.
    let (status, error) = system
        .api(
            &key,
            reqwest::Method::POST,
            "/v1/integrations",
            Some(json!({ "vendor": "github", "name": "No secret" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "invalid_request");
    assert_eq!(error["error"]["details"]["field"], "config.signing_secret");
    let (status, error) = system
        .api("hr_wrong", reqwest::Method::GET, "/v1/integrations", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn inbound_flow_on_the_embedded_backend() {
    let system = embedded().await;
    scenario(&system).await;
    system.server.shutdown().await;
}

#[tokio::test]
async fn inbound_flow_on_the_aws_backend() {
    let Some(system) = aws().await else {
        return;
    };
    scenario(&system).await;
    system.server.shutdown().await;
}

#[tokio::test]
async fn openapi_document_describes_every_route() {
    let system = embedded().await;
    let document: Value = system
        .http
        .get(system.url("/v1/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    for path in [
        "/v1/integrations",
        "/v1/integrations/{id}",
        "/v1/integrations/{id}/events",
        "/v1/integrations/{id}/events/{event_id}",
        "/v1/integrations/{id}/events/{event_id}/replay",
        "/v1/vendors",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    system.server.shutdown().await;
}

#[tokio::test]
async fn api_rate_limits_count_per_tenant_and_say_when_to_retry() {
    let system = embedded_with_rate_limit(3).await;
    let key = system.tenant("Busy").await;
    let other = system.tenant("Quiet").await;
    let get = |key: String| {
        let request = system
            .http
            .get(system.url("/v1/integrations"))
            .bearer_auth(key);
        async move { request.send().await.expect("request") }
    };
    for expected_remaining in ["2", "1", "0"] {
        let response = get(key.clone()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-ratelimit-limit"], "3");
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            expected_remaining
        );
        assert!(response.headers().contains_key("x-ratelimit-reset"));
    }
    let refused = get(key.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = refused.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(
        get(other).await.status(),
        StatusCode::OK,
        "another tenant has its own count"
    );
    system.server.shutdown().await;
}
