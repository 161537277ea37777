//! End to end: tenants' API and vendors' webhooks through a real listener, with the processor
//! running from the queue — the same scenario on the embedded backend and on the AWS adapters
//! (against moto's server, started by `scripts/test`).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::*;

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

    // Bad requests name their problem in the one error shape. (A webhook scheme outside the
    // catalog exists only to receive webhooks, so it needs its secret; a GitHub connection
    // without one is an OAuth connection that receives none.)
    let (status, error) = system
        .api(
            &key,
            reqwest::Method::POST,
            "/v1/integrations",
            Some(json!({ "vendor": "standard-webhooks", "name": "No secret" })),
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
        "/v1/endpoints",
        "/v1/endpoints/{id}",
        "/v1/endpoints/{id}/rotate-secret",
        "/v1/events",
        "/v1/deliveries",
        "/v1/deliveries/{id}",
        "/v1/deliveries/{id}/resend",
        "/v1/dead-letters",
        "/v1/dead-letters/{id}/replay",
        "/v1/dead-letters/replay",
        "/v1/endpoints/{id}/test",
        "/v1/settings",
        "/v1/event-types",
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
