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
