//! End to end, outbound side: tenants' endpoints through the API on both backends — secrets
//! shown once and rotated with an overlap, targets checked by the SSRF guard, tenants kept apart.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;

async fn endpoints_scenario(system: &System) {
    let key = system.tenant("Acme").await;
    let other = system.tenant("Globex").await;

    let (status, created) = system
        .api(
            &key,
            Method::POST,
            "/v1/endpoints",
            Some(json!({
                "url": "https://hooks.example.com/acme",
                "event_types": ["github.*", "invoice.paid"],
                "filters": { "zone": ["engineering"] },
                "description": "CI"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = field(&created, "id").to_owned();
    let secret = field(&created, "secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["filters"]["zone"], json!(["engineering"]));

    // The secret is shown only at creation.
    let path = format!("/v1/endpoints/{id}");
    let (status, read) = system.api(&key, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(read.get("secret").is_none(), "{read}");
    let (_, listed) = system.api(&key, Method::GET, "/v1/endpoints", None).await;
    assert!(
        !listed.to_string().contains(&secret),
        "a secret leaked: {listed}"
    );

    // Rotation issues a new secret; the old one signs beside it for 24 hours.
    let (status, rotated) = system
        .api(&key, Method::POST, &format!("{path}/rotate-secret"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_ne!(field(&rotated, "secret"), secret);
    assert!(rotated["previous_valid_until"].is_string());

    let (status, patched) = system
        .api(
            &key,
            Method::PATCH,
            &path,
            Some(json!({ "active": false, "event_types": ["*"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    assert_eq!(patched["event_types"], json!(["*"]));

    // Targets in special-purpose networks are refused, saying why.
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.com/hook",
    ] {
        let (status, error) = system
            .api(
                &key,
                Method::POST,
                "/v1/endpoints",
                Some(json!({ "url": url, "event_types": ["*"] })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {error}");
        assert_eq!(error["error"]["details"]["field"], "url", "{url}: {error}");
    }
    let (status, error) = system
        .api(
            &key,
            Method::POST,
            "/v1/endpoints",
            Some(json!({ "url": "https://example.com", "event_types": ["Not A Type"] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    // Another tenant cannot see, change or rotate it.
    for (method, target) in [
        (Method::GET, path.clone()),
        (Method::PATCH, path.clone()),
        (Method::POST, format!("{path}/rotate-secret")),
        (Method::DELETE, path.clone()),
    ] {
        let body = (method == Method::PATCH).then(|| json!({ "active": true }));
        let (status, _) = system.api(&other, method.clone(), &target, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {target}");
    }

    let (status, _) = system.api(&key, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = system.api(&key, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn endpoints_on_the_embedded_backend() {
    let system = embedded().await;
    endpoints_scenario(&system).await;
    system.server.shutdown().await;
}

#[tokio::test]
async fn endpoints_on_the_aws_backend() {
    let Some(system) = aws().await else {
        return;
    };
    endpoints_scenario(&system).await;
    system.server.shutdown().await;
}

async fn endpoint(
    system: &System,
    key: &str,
    url: String,
    types: serde_json::Value,
    filters: serde_json::Value,
) -> (String, String) {
    let (status, created) = system
        .api(
            key,
            Method::POST,
            "/v1/endpoints",
            Some(json!({ "url": url, "event_types": types, "filters": filters })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        field(&created, "id").to_owned(),
        field(&created, "secret").to_owned(),
    )
}

async fn delivery_of(
    system: &System,
    key: &str,
    endpoint_id: &str,
    want: &str,
) -> serde_json::Value {
    for _ in 0..200 {
        let (_, page) = system
            .api(
                key,
                Method::GET,
                &format!("/v1/deliveries?endpoint_id={endpoint_id}"),
                None,
            )
            .await;
        if let Some(found) = page["data"].as_array().and_then(|d| {
            d.iter()
                .find(|d| d["status"] == want && d["attempts"].as_u64() >= Some(1))
        }) {
            let (_, detail) = system
                .api(
                    key,
                    Method::GET,
                    &format!("/v1/deliveries/{}", field(found, "id")),
                    None,
                )
                .await;
            return detail;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no {want} delivery to {endpoint_id}");
}

#[tokio::test]
async fn published_events_are_delivered_signed_to_matching_endpoints() {
    let receiver = Receiver::start(&[]).await;
    let system = embedded_with(open_loopback, None).await;
    let key = system.tenant("Acme").await;
    let (engineering, secret) = endpoint(
        &system,
        &key,
        format!("{}/engineering", receiver.base),
        json!(["invoice.*"]),
        json!({ "zone": ["engineering"] }),
    )
    .await;
    let (_, _) = endpoint(
        &system,
        &key,
        format!("{}/github", receiver.base),
        json!(["github.*"]),
        json!({}),
    )
    .await;

    let body = json!({ "type": "invoice.paid", "data": { "zone": "engineering", "amount": 42 }, "idempotency_key": "inv-1" });
    let id = publish(&system, &key, body.clone()).await;
    assert_eq!(
        publish(&system, &key, body).await,
        id,
        "same idempotency key, same event"
    );
    publish(
        &system,
        &key,
        json!({ "type": "invoice.paid", "data": { "zone": "sales" } }),
    )
    .await;

    let got = receiver.wait_for("/engineering", 1).await;
    let request = &got[0];
    assert_eq!(request.headers["webhook-id"], id.as_str());
    assert_eq!(request.headers["idempotency-key"], id.as_str());
    let sent: serde_json::Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(sent["id"], id.as_str());
    assert_eq!(sent["type"], "invoice.paid");
    assert_eq!(sent["data"]["amount"], 42);
    assert_eq!(sent["delivery_attempt"], 1);
    assert!(sent["tenant_id"]
        .as_str()
        .is_some_and(|t| t.starts_with("tnt_")));

    // Our own Standard Webhooks verifier accepts the signature (the official library's check
    // is tests/official_outbound.rs), and the t=,v1= header is an HMAC of "{t}.{body}".
    let scheme = hookrail::verify::scheme_for("standard-webhooks", &json!({})).expect("scheme");
    let inbound = hookrail::verify::InboundRequest {
        headers: &request.headers,
        body: &request.body,
        now_unix: now(),
    };
    scheme
        .verify(&inbound, &secret)
        .expect("signature verifies with the endpoint's secret");
    let hookrail_signature = request.headers["x-hookrail-signature"]
        .to_str()
        .expect("text");
    let t = hookrail_signature
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .expect("t=");
    let key_bytes = hookrail::sign::secret_key(&secret).expect("key");
    let expected = hmac_hex(
        &key_bytes,
        format!("{t}.{}", String::from_utf8_lossy(&request.body)).as_bytes(),
    );
    assert!(
        hookrail_signature.contains(&format!("v1={expected}")),
        "{hookrail_signature}"
    );

    // Filters and subscriptions hold: nothing for sales, nothing to the GitHub endpoint.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.received("/engineering").len(), 1);
    assert!(receiver.received("/github").is_empty());

    let delivered = delivery_of(&system, &key, &engineering, "succeeded").await;
    assert_eq!(delivered["attempts"], 1);
    let attempt = &delivered["attempt_log"][0];
    assert_eq!(attempt["status_code"], 200);
    assert_eq!(attempt["response_body"], "answer 200");
    assert!(attempt["latency_ms"].is_u64());
    system.server.shutdown().await;
}

#[tokio::test]
async fn failed_attempts_are_retried_when_due_and_gone_endpoints_are_disabled() {
    let receiver = Receiver::start(&[("/flaky", &[500, 200]), ("/gone", &[410])]).await;
    let clock = std::sync::Arc::new(hookrail::clock::ManualClock::at(now()));
    let system = embedded_with(open_loopback, Some(clock.clone())).await;
    let key = system.tenant("Acme").await;
    let (flaky, _) = endpoint(
        &system,
        &key,
        format!("{}/flaky", receiver.base),
        json!(["order.*"]),
        json!({}),
    )
    .await;
    let (gone, _) = endpoint(
        &system,
        &key,
        format!("{}/gone", receiver.base),
        json!(["order.*"]),
        json!({}),
    )
    .await;
    publish(
        &system,
        &key,
        json!({ "type": "order.created", "data": {} }),
    )
    .await;

    let pending = delivery_of(&system, &key, &flaky, "pending").await;
    let first = &pending["attempt_log"][0];
    assert_eq!(first["status_code"], 500);
    assert!(first["next_attempt_at"].is_i64(), "{pending}");

    // Time moves past the first delay (30 s, jitter and the scheduler's grace included):
    // the scheduler queues attempt 2, which succeeds.
    clock.advance(30 + 3 + 61);
    let queued =
        hookrail::outbound::scheduler::run_once(&system.services, system.services.clock.now())
            .await
            .expect("scheduler");
    assert!(queued >= 1, "the due retry was queued");
    let delivered = delivery_of(&system, &key, &flaky, "succeeded").await;
    assert_eq!(delivered["attempts"], 2);
    assert_eq!(receiver.received("/flaky").len(), 2);

    let dead = delivery_of(&system, &key, &gone, "failed").await;
    assert!(field(&dead, "dead_reason").contains("410"), "{dead}");
    let (_, endpoint) = system
        .api(&key, Method::GET, &format!("/v1/endpoints/{gone}"), None)
        .await;
    assert_eq!(endpoint["active"], false, "a 410 disables the endpoint");
    system.server.shutdown().await;
}

#[tokio::test]
async fn deliveries_flow_on_the_aws_backend() {
    let receiver = Receiver::start(&[]).await;
    let Some(system) = aws_with(open_loopback, None).await else {
        return;
    };
    let key = system.tenant("Acme").await;
    let (endpoint_id, _) = endpoint(
        &system,
        &key,
        format!("{}/aws", receiver.base),
        json!(["*"]),
        json!({}),
    )
    .await;
    let id = publish(&system, &key, json!({ "type": "invoice.paid", "data": {} })).await;
    let got = receiver.wait_for("/aws", 1).await;
    assert_eq!(got[0].headers["webhook-id"], id.as_str());
    let delivered = delivery_of(&system, &key, &endpoint_id, "succeeded").await;
    assert_eq!(delivered["attempt_log"][0]["status_code"], 200);
    system.server.shutdown().await;
}

#[tokio::test]
async fn dead_letters_replay_and_deliveries_resend_and_test_events_are_tagged() {
    let receiver = Receiver::start(&[("/comeback", &[410, 200])]).await;
    let system = embedded_with(open_loopback, None).await;
    let key = system.tenant("Acme").await;
    let (endpoint_id, _) = endpoint(
        &system,
        &key,
        format!("{}/comeback", receiver.base),
        json!(["*"]),
        json!({}),
    )
    .await;
    publish(
        &system,
        &key,
        json!({ "type": "order.created", "data": { "n": 1 } }),
    )
    .await;

    let dead = delivery_of(&system, &key, &endpoint_id, "failed").await;
    let dead_id = field(&dead, "id").to_owned();
    let (_, letters) = system
        .api(&key, Method::GET, "/v1/dead-letters", None)
        .await;
    assert_eq!(letters["data"][0]["id"], dead_id.as_str(), "{letters}");

    // Re-enabled and replayed, it goes through.
    let endpoint_path = format!("/v1/endpoints/{endpoint_id}");
    system
        .api(
            &key,
            Method::PATCH,
            &endpoint_path,
            Some(json!({ "active": true })),
        )
        .await;
    let (status, replayed) = system
        .api(
            &key,
            Method::POST,
            &format!("/v1/dead-letters/{dead_id}/replay"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    let delivered = delivery_of(&system, &key, &endpoint_id, "succeeded").await;
    assert_eq!(delivered["id"], dead_id.as_str());
    assert_eq!(delivered["attempts"], 2);
    let (status, _) = system
        .api(
            &key,
            Method::POST,
            &format!("/v1/dead-letters/{dead_id}/replay"),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a delivered delivery is not a dead letter"
    );
    let (status, bulk) = system
        .api(
            &key,
            Method::POST,
            "/v1/dead-letters/replay",
            Some(json!({ "since": 0 })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{bulk}");
    assert_eq!(bulk["replayed"], 0);

    // Resend makes a new delivery of the same event.
    let (status, resent) = system
        .api(
            &key,
            Method::POST,
            &format!("/v1/deliveries/{dead_id}/resend"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resent}");
    assert_ne!(resent["id"], dead_id.as_str());
    assert_eq!(resent["event_id"], delivered["event_id"]);
    receiver.wait_for("/comeback", 3).await;

    // A test event is tagged as one.
    let (status, test) = system
        .api(&key, Method::POST, &format!("{endpoint_path}/test"), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{test}");
    let got = receiver.wait_for("/comeback", 4).await;
    let body: serde_json::Value = serde_json::from_slice(&got[3].body).expect("json");
    assert_eq!(body["test"], true);
    assert_eq!(body["type"], "hookrail.test");

    let other = system.tenant("Globex").await;
    for path in [
        format!("/v1/deliveries/{dead_id}"),
        format!("/v1/deliveries/{dead_id}/resend"),
        format!("/v1/dead-letters/{dead_id}/replay"),
    ] {
        let method = if path.ends_with("resend") || path.ends_with("replay") {
            Method::POST
        } else {
            Method::GET
        };
        let (status, _) = system.api(&other, method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    system.server.shutdown().await;
}

#[tokio::test]
async fn processed_vendor_events_are_published_to_subscribed_endpoints() {
    let receiver = Receiver::start(&[]).await;
    let system = embedded_with(open_loopback, None).await;
    let key = system.tenant("Acme").await;
    endpoint(
        &system,
        &key,
        format!("{}/ci", receiver.base),
        json!(["github.*"]),
        json!({}),
    )
    .await;
    let github = system
        .create_integration(&key, json!({ "vendor": "github", "name": "gh", "config": { "signing_secret": GITHUB_SECRET } }))
        .await;
    let push = r#"{"ref":"refs/heads/main"}"#;
    let (status, _) = system
        .github_push(field(&github, "webhook_url"), "gw-1", push)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let got = receiver.wait_for("/ci", 1).await;
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(body["type"], "github.push");
    assert_eq!(body["data"]["ref"], "refs/heads/main");

    // The catalog lists the built-in types, the inbound type now seen, and registered ones.
    let (status, registered) = system
        .api(
            &key,
            Method::POST,
            "/v1/event-types",
            Some(json!({ "name": "invoice.paid", "description": "An invoice was paid" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    let (status, _) = system
        .api(
            &key,
            Method::POST,
            "/v1/event-types",
            Some(json!({ "name": "Not Valid" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, catalog) = system.api(&key, Method::GET, "/v1/event-types", None).await;
    let entries = catalog["data"].as_array().expect("list");
    let source_of = |name: &str| {
        entries
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["source"].clone())
    };
    assert_eq!(source_of("hookrail.test"), Some(json!("built_in")));
    assert_eq!(source_of("github.push"), Some(json!("seen")), "{catalog}");
    assert_eq!(source_of("invoice.paid"), Some(json!("registered")));
    let (_, theirs) = system
        .api(
            &system.tenant("Globex").await,
            Method::GET,
            "/v1/event-types",
            None,
        )
        .await;
    assert!(
        !theirs.to_string().contains("github.push"),
        "catalogs are per tenant: {theirs}"
    );
    system.server.shutdown().await;
}

#[tokio::test]
async fn timeouts_throttling_and_redirects_are_recorded_and_retried_by_their_rules() {
    let receiver = Receiver::start(&[
        ("/slow", &[HANG]),
        ("/throttled", &[429]),
        ("/moved", &[302]),
    ])
    .await;
    let t0 = now();
    let clock = std::sync::Arc::new(hookrail::clock::ManualClock::at(t0));
    let system = embedded_with(
        |config| {
            open_loopback(config);
            config.delivery_timeout = std::time::Duration::from_millis(300);
        },
        Some(clock),
    )
    .await;
    let key = system.tenant("Acme").await;
    let mut ids = Vec::new();
    for path in ["slow", "throttled", "moved"] {
        ids.push(
            endpoint(
                &system,
                &key,
                format!("{}/{path}", receiver.base),
                json!(["*"]),
                json!({}),
            )
            .await
            .0,
        );
    }
    publish(
        &system,
        &key,
        json!({ "type": "order.created", "data": {} }),
    )
    .await;

    let slow = delivery_of(&system, &key, &ids[0], "pending").await;
    let attempt = &slow["attempt_log"][0];
    assert_eq!(attempt["error_kind"], "timeout", "{slow}");
    assert!(attempt["status_code"].is_null());
    let next = attempt["next_attempt_at"].as_i64().expect("next attempt");
    assert!(
        next >= t0 + 54,
        "a timeout waits at least the minimum penalty: {slow}"
    );

    let throttled = delivery_of(&system, &key, &ids[1], "pending").await;
    let attempt = &throttled["attempt_log"][0];
    assert_eq!(attempt["status_code"], 429);
    assert_eq!(
        attempt["next_attempt_at"].as_i64(),
        Some(t0 + 120),
        "Retry-After is honoured exactly"
    );

    let moved = delivery_of(&system, &key, &ids[2], "pending").await;
    assert_eq!(moved["attempt_log"][0]["status_code"], 302);
    assert!(
        receiver.received("/elsewhere").is_empty(),
        "redirects are not followed"
    );
    system.server.shutdown().await;
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused_at_delivery() {
    let receiver = Receiver::start(&[]).await;
    // No allow-list: `localhost` passes the URL check (it is a name) but resolves to loopback.
    let system = embedded().await;
    let key = system.tenant("Acme").await;
    let port = receiver.base.rsplit(':').next().expect("port");
    let (endpoint_id, _) = endpoint(
        &system,
        &key,
        format!("http://localhost:{port}/inside"),
        json!(["*"]),
        json!({}),
    )
    .await;
    publish(
        &system,
        &key,
        json!({ "type": "order.created", "data": {} }),
    )
    .await;
    let dead = delivery_of(&system, &key, &endpoint_id, "failed").await;
    assert_eq!(dead["attempt_log"][0]["error_kind"], "blocked", "{dead}");
    assert!(field(&dead, "dead_reason").contains("blocked"), "{dead}");
    assert!(
        receiver.received("/inside").is_empty(),
        "nothing reached the private address"
    );
    system.server.shutdown().await;
}

#[tokio::test]
async fn retry_schedules_are_set_per_endpoint_and_per_tenant() {
    let receiver = Receiver::start(&[("/own", &[500]), ("/inherits", &[500])]).await;
    let t0 = now();
    let clock = std::sync::Arc::new(hookrail::clock::ManualClock::at(t0));
    let system = embedded_with(open_loopback, Some(clock)).await;
    let key = system.tenant("Acme").await;

    let (status, settings) = system.api(&key, Method::GET, "/v1/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["retry_schedule_is_default"], true);
    let (status, error) = system
        .api(
            &key,
            Method::PATCH,
            "/v1/settings",
            Some(json!({ "retry_schedule": [0] })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, settings) = system
        .api(
            &key,
            Method::PATCH,
            "/v1/settings",
            Some(json!({ "retry_schedule": [700, 1400] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["retry_schedule"], json!([700, 1400]));

    let (status, own) = system
        .api(
            &key,
            Method::POST,
            "/v1/endpoints",
            Some(json!({ "url": format!("{}/own", receiver.base), "event_types": ["*"], "retry_schedule": [100] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{own}");
    assert_eq!(own["retry_schedule"], json!([100]));
    let (inherits, _) = endpoint(
        &system,
        &key,
        format!("{}/inherits", receiver.base),
        json!(["*"]),
        json!({}),
    )
    .await;
    publish(
        &system,
        &key,
        json!({ "type": "order.created", "data": {} }),
    )
    .await;

    let next = |delivery: &serde_json::Value| {
        delivery["attempt_log"][0]["next_attempt_at"]
            .as_i64()
            .expect("next")
            - t0
    };
    let first = delivery_of(&system, &key, field(&own, "id"), "pending").await;
    assert!(
        (90..=110).contains(&next(&first)),
        "the endpoint's own schedule: {first}"
    );
    let second = delivery_of(&system, &key, &inherits, "pending").await;
    assert!(
        (630..=770).contains(&next(&second)),
        "the tenant's schedule: {second}"
    );
    system.server.shutdown().await;
}

#[tokio::test]
async fn after_rotation_deliveries_verify_with_the_old_and_the_new_secret() {
    let receiver = Receiver::start(&[]).await;
    let system = embedded_with(open_loopback, None).await;
    let key = system.tenant("Acme").await;
    let (endpoint_id, old_secret) = endpoint(
        &system,
        &key,
        format!("{}/rotating", receiver.base),
        json!(["*"]),
        json!({}),
    )
    .await;
    let (status, rotated) = system
        .api(
            &key,
            Method::POST,
            &format!("/v1/endpoints/{endpoint_id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = field(&rotated, "secret").to_owned();
    publish(
        &system,
        &key,
        json!({ "type": "order.created", "data": {} }),
    )
    .await;

    let got = receiver.wait_for("/rotating", 1).await;
    let request = &got[0];
    let signatures = request.headers["webhook-signature"].to_str().expect("text");
    assert_eq!(
        signatures.split(' ').count(),
        2,
        "one v1 entry per live secret: {signatures}"
    );
    let scheme = hookrail::verify::scheme_for("standard-webhooks", &json!({})).expect("scheme");
    let inbound = hookrail::verify::InboundRequest {
        headers: &request.headers,
        body: &request.body,
        now_unix: now(),
    };
    for secret in [&old_secret, &new_secret] {
        scheme
            .verify(&inbound, secret)
            .expect("verifies with either secret during the overlap");
    }
    system.server.shutdown().await;
}
