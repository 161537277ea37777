//! Vendor connections end to end, against a real OAuth 2.0 authorization server (Authlib, in
//! `oauth_server/`, started on loopback by each test) and real local HTTP APIs: the consent
//! flow with PKCE, refresh with rotation, racing refreshers, invalid_grant, a missing
//! `expires_in`, a refresher that died holding its lease, API keys with region detection.

mod support;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookrail::clock::ManualClock;
use hookrail::ids::IntegrationId;
use hookrail::oauth::refresh::{self, Outcome, Trigger};
use hookrail::repo::credentials;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{field, System};
use tokio::io::{AsyncBufReadExt, BufReader};

const CLIENT_ID: &str = "hookrail-test";
const CLIENT_SECRET: &str = "client-secret-for-tests";

/// The Authlib server process; killed when dropped.
struct OAuthServer {
    base: String,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl OAuthServer {
    async fn start() -> Option<Self> {
        let python = match std::env::var("HOOKRAIL_PYTHON") {
            Ok(path) if !path.is_empty() => path,
            _ => {
                assert!(
                    std::env::var_os("HOOKRAIL_REQUIRE_EMULATOR").is_none(),
                    "HOOKRAIL_PYTHON must be set under scripts/test"
                );
                println!("note: HOOKRAIL_PYTHON is not set; skipping the OAuth suite");
                return None;
            }
        };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/oauth_server/server.py");
        let mut child = tokio::process::Command::new(python)
            .args([script, "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the OAuth server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .expect("OAuth server started in time")
        .expect("read LISTENING");
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Some(Self {
            base: format!("http://127.0.0.1:{port}"),
            _child: child,
            http: reqwest::Client::new(),
        })
    }

    async fn control(&self, path: &str, body: Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_stats", self.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    async fn refreshes(&self) -> u64 {
        self.stats().await["token_requests"]["refresh_token"]
            .as_u64()
            .unwrap_or(0)
    }

    async fn me(&self, access_token: &str) -> StatusCode {
        self.http
            .get(format!("{}/api/me", self.base))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("api/me")
            .status()
    }
}

/// A provider file naming the local OAuth server.
fn oauth_provider_file(base: &str) -> String {
    format!(
        r#"
name = "localauth"
display_name = "Local Auth"
family = "generic"
docs_url = "{base}"
auth = "oauth2_code"

[oauth]
authorize_url = "{base}/authorize"
token_url = "{base}/token"
scopes = ["read", "write"]
token_auth = "client_secret_basic"
pkce = true
rotating_refresh_tokens = true
default_expires_in = 1800
refresh_buffer = 900
refresh_token_lifetime_days = 40
token_extras = ["instance_url"]

[api]
base_url = "{base}"
auth_style = "bearer"

[probe]
method = "GET"
path = "/api/me"

[webhooks]
scheme = "none"

[rate_limit]

[pagination]
style = "none"
"#
    )
}

struct Setup {
    system: System,
    oauth: OAuthServer,
    clock: Arc<ManualClock>,
    key: String,
    _providers: tempfile::TempDir,
}

async fn setup_with(aws: bool) -> Option<Setup> {
    let oauth = OAuthServer::start().await?;
    let providers = tempfile::tempdir().expect("providers dir");
    std::fs::write(
        providers.path().join("localauth.toml"),
        oauth_provider_file(&oauth.base),
    )
    .expect("provider file");
    let clock = Arc::new(ManualClock::at(support::now()));
    let dir = providers.path().to_owned();
    let configure = move |config: &mut hookrail::config::Config| {
        config.providers_dir = Some(dir);
        config.outbound_allow = vec!["127.0.0.0/8".parse().expect("cidr")];
    };
    let system = if aws {
        support::aws_with(configure, Some(clock.clone())).await?
    } else {
        support::embedded_with(configure, Some(clock.clone())).await
    };
    oauth
        .control(
            "/_control/clients",
            json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [system.url("/oauth/callback")],
                "scope": "read write",
                "token_endpoint_auth_method": "client_secret_basic",
            }),
        )
        .await;
    hookrail::secrets::put_oauth_app(
        system.services.operator_secrets.as_ref(),
        "localauth",
        &hookrail::secrets::OAuthApp {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
        },
    )
    .await
    .expect("register the operator's OAuth app");
    let key = system.tenant("Acme").await;
    Some(Setup {
        system,
        oauth,
        clock,
        key,
        _providers: providers,
    })
}

async fn setup() -> Option<Setup> {
    setup_with(false).await
}

impl Setup {
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.system.api(&self.key, method, path, body).await
    }

    /// Creates a connection and walks the consent as the user's browser would; returns its id.
    async fn connect(&self) -> String {
        let created = self
            .system
            .create_integration(
                &self.key,
                json!({ "vendor": "localauth", "name": "Local", "config": {} }),
            )
            .await;
        assert_eq!(created["connection"]["status"], "not_connected");
        let id = field(&created, "id").to_owned();
        let (status, location) = self.consent(&id).await;
        assert_eq!(status, StatusCode::OK, "{location}");
        id
    }

    /// Runs one consent for `id`; returns the callback's status and page.
    async fn consent(&self, id: &str) -> (StatusCode, String) {
        let (status, started) = self
            .api(
                Method::POST,
                &format!("/v1/integrations/{id}/oauth/authorize"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        let url = field(&started, "authorization_url");
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        assert!(url.contains("scope=read+write"), "{url}");
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("browser");
        let answer = browser.get(url).send().await.expect("authorize");
        assert_eq!(answer.status(), StatusCode::FOUND);
        let callback = answer
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("redirect to the callback")
            .to_owned();
        assert!(callback.starts_with(&self.system.url("/oauth/callback")));
        let page = browser.get(&callback).send().await.expect("callback");
        let status = page.status();
        let body = page.text().await.expect("page");
        if status == StatusCode::OK {
            // The same callback again: `state` is single-use.
            let replay = browser.get(&callback).send().await.expect("replay");
            assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
        }
        (status, body)
    }

    async fn access_token(&self, id: &str) -> (StatusCode, Value) {
        self.api(
            Method::GET,
            &format!("/v1/integrations/{id}/access-token"),
            None,
        )
        .await
    }

    /// The token handed out for `id` is one the vendor's API accepts.
    async fn assert_token_works(&self, id: &str) {
        let (status, token) = self.access_token(id).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        assert_eq!(
            self.oauth.me(field(&token, "access_token")).await,
            StatusCode::OK
        );
    }

    async fn credentials(&self, id: &str) -> hookrail::domain::connection::Credentials {
        credentials::get(
            self.system.services.store.as_ref(),
            &IntegrationId::parse(id).expect("id"),
        )
        .await
        .expect("read credentials")
        .expect("credentials stored")
        .0
    }

    async fn run_refresher(&self) -> refresh::RunReport {
        refresh::run_once(&self.system.services)
            .await
            .expect("refresh run")
    }

    /// Moves time to just past the moment the connection's refresh falls due.
    async fn make_due(&self, id: &str) {
        let due = self
            .credentials(id)
            .await
            .refresh_due_at()
            .expect("a refresh is scheduled");
        let now = hookrail::clock::Clock::now(self.clock.as_ref());
        self.clock.advance(due - now + 1);
    }
}

async fn consent_flow_connects_and_tokens_are_handed_out(setup: Setup) {
    let id = setup.connect().await;
    let (status, shown) = setup
        .api(Method::GET, &format!("/v1/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["connection"]["status"], "connected", "{shown}");
    assert_eq!(
        shown["connection"]["scopes_granted"],
        json!(["read", "write"])
    );
    assert!(!shown.to_string().contains("access_token"), "{shown}");

    let (status, token) = setup.access_token(&id).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let access_token = field(&token, "access_token");
    assert_eq!(setup.oauth.me(access_token).await, StatusCode::OK);

    // Sealed at rest: the stored record never holds the token in the clear.
    let raw = setup
        .system
        .services
        .store
        .get(&format!("int#{id}"), "cred")
        .await
        .expect("get")
        .expect("stored");
    assert!(!raw.doc.to_string().contains(access_token));

    let (status, tested) = setup
        .api(Method::POST, &format!("/v1/integrations/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");

    let (_, audit) = setup
        .api(Method::GET, &format!("/v1/audit?integration_id={id}"), None)
        .await;
    let kinds: Vec<&str> = audit["data"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "created",
        "consent_started",
        "connected",
        "token_issued",
        "tested",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    assert!(!audit.to_string().contains(access_token));

    let (status, _) = setup
        .api(Method::DELETE, &format!("/v1/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(setup
        .system
        .services
        .store
        .get(&format!("int#{id}"), "cred")
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn consent_flow_connects_and_tokens_are_handed_out_embedded() {
    if let Some(setup) = setup().await {
        consent_flow_connects_and_tokens_are_handed_out(setup).await;
    }
}

#[tokio::test]
async fn consent_flow_connects_and_tokens_are_handed_out_on_aws() {
    if let Some(setup) = setup_with(true).await {
        consent_flow_connects_and_tokens_are_handed_out(setup).await;
    }
}

#[tokio::test]
async fn a_grant_with_fewer_scopes_than_asked_is_recorded_as_such() {
    let Some(setup) = setup().await else { return };
    setup
        .oauth
        .control("/_control", json!({ "grant_scopes": "read" }))
        .await;
    let id = setup.connect().await;
    let (_, shown) = setup
        .api(Method::GET, &format!("/v1/integrations/{id}"), None)
        .await;
    assert_eq!(
        shown["connection"]["missing_scopes"],
        json!(["write"]),
        "{shown}"
    );
}

#[tokio::test]
async fn a_refused_consent_leaves_the_connection_unconnected() {
    let Some(setup) = setup().await else { return };
    setup
        .oauth
        .control("/_control", json!({ "deny": true }))
        .await;
    let created = setup
        .system
        .create_integration(&setup.key, json!({ "vendor": "localauth", "name": "L" }))
        .await;
    let id = field(&created, "id");
    let (status, page) = setup.consent(id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("access_denied"), "{page}");
    let (status, body) = setup.access_token(id).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_connected");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_keeps_it_when_none_is_returned() {
    let Some(setup) = setup().await else { return };
    let id = setup.connect().await;
    let first = setup.credentials(&id).await;

    setup.make_due(&id).await;
    let report = setup.run_refresher().await;
    assert_eq!(report.refreshed, 1, "{report:?}");
    let rotated = setup.credentials(&id).await;
    assert_ne!(rotated.tokens.refresh_token, first.tokens.refresh_token);

    setup
        .oauth
        .control("/_control", json!({ "rotate_refresh_tokens": false }))
        .await;
    setup.make_due(&id).await;
    assert_eq!(setup.run_refresher().await.refreshed, 1);
    let kept = setup.credentials(&id).await;
    assert_eq!(kept.tokens.refresh_token, rotated.tokens.refresh_token);
    // The kept refresh token still works at the vendor.
    setup.make_due(&id).await;
    assert_eq!(setup.run_refresher().await.refreshed, 1);
    assert_eq!(setup.oauth.refreshes().await, 3);
    setup.assert_token_works(&id).await;
}

#[tokio::test]
async fn racing_refreshers_redeem_the_refresh_token_exactly_once() {
    let Some(setup) = setup().await else { return };
    let id = setup.connect().await;
    setup
        .oauth
        .control("/_control", json!({ "token_delay_ms": 300 }))
        .await;
    setup.make_due(&id).await;
    let integration = IntegrationId::parse(&id).expect("id");
    let mut racers = tokio::task::JoinSet::new();
    for n in 0..16 {
        let services = setup.system.services.clone();
        let integration = integration.clone();
        racers.spawn(async move {
            refresh::refresh_connection(
                &services,
                &integration,
                Trigger::Scheduled,
                &format!("racer-{n}"),
            )
            .await
            .expect("refresh")
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = racers.join_next().await {
        outcomes.push(outcome.expect("racer"));
    }
    let refreshed = outcomes
        .iter()
        .filter(|o| **o == Outcome::Refreshed)
        .count();
    assert_eq!(refreshed, 1, "{outcomes:?}");
    assert_eq!(
        setup.oauth.refreshes().await,
        1,
        "the token endpoint saw more than one refresh"
    );
    // On-demand hand-outs during and after the race get the one new token.
    setup.assert_token_works(&id).await;
    assert_eq!(setup.oauth.refreshes().await, 1);
}

#[tokio::test]
async fn a_refresher_that_died_holding_the_lease_is_taken_over_once_it_expires() {
    let Some(setup) = setup().await else { return };
    let id = setup.connect().await;
    setup.make_due(&id).await;
    let now = hookrail::clock::Clock::now(setup.clock.as_ref());
    let integration = IntegrationId::parse(&id).expect("id");
    // The crashed refresher took the lease and never came back.
    let held = credentials::acquire_lease(
        setup.system.services.store.as_ref(),
        &integration,
        "crashed-refresher",
        now,
        refresh::LEASE_SECS,
    )
    .await
    .expect("lease");
    assert!(held.is_some());
    let report = setup.run_refresher().await;
    assert_eq!((report.refreshed, report.skipped), (0, 1), "{report:?}");
    assert_eq!(setup.oauth.refreshes().await, 0);

    setup.clock.advance(refresh::LEASE_SECS + 1);
    assert_eq!(setup.run_refresher().await.refreshed, 1);
    assert_eq!(setup.oauth.refreshes().await, 1);
}

/// A refresher whose task dies in the middle of its token request (as a killed process would)
/// leaves its lease behind; nobody refreshes until it expires, then exactly one does.
#[tokio::test]
async fn a_refresher_killed_mid_request_leaves_a_lease_that_expires() {
    let Some(setup) = setup().await else { return };
    let id = setup.connect().await;
    // Without rotation: with it, the vendor would already have revoked the token the dead
    // refresher redeemed, which no lease can prevent.
    setup
        .oauth
        .control(
            "/_control",
            json!({ "token_delay_ms": 3000, "rotate_refresh_tokens": false }),
        )
        .await;
    setup.make_due(&id).await;
    let integration = IntegrationId::parse(&id).expect("id");
    let services = setup.system.services.clone();
    let doomed = tokio::spawn({
        let integration = integration.clone();
        async move {
            refresh::refresh_connection(&services, &integration, Trigger::Scheduled, "doomed").await
        }
    });
    while setup.oauth.refreshes().await == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.abort();
    assert!(
        doomed.await.is_err(),
        "the refresher was killed mid-request"
    );
    setup
        .oauth
        .control("/_control", json!({ "token_delay_ms": 0 }))
        .await;

    let report = setup.run_refresher().await;
    assert_eq!((report.refreshed, report.skipped), (0, 1), "{report:?}");
    setup.clock.advance(refresh::LEASE_SECS + 1);
    let report = setup.run_refresher().await;
    assert_eq!(report.refreshed, 1, "{report:?}");
    setup.assert_token_works(&id).await;
}

/// A connection removed while its refresh is at the vendor stays removed: the refreshed tokens
/// are dropped rather than written back.
#[tokio::test]
async fn a_connection_deleted_mid_refresh_is_not_resurrected() {
    let Some(setup) = setup().await else { return };
    let id = setup.connect().await;
    setup
        .oauth
        .control("/_control", json!({ "token_delay_ms": 500 }))
        .await;
    setup.make_due(&id).await;
    let integration = IntegrationId::parse(&id).expect("id");
    let services = setup.system.services.clone();
    let refreshing = tokio::spawn(async move {
        refresh::refresh_connection(&services, &integration, Trigger::Scheduled, "slow").await
    });
    while setup.oauth.refreshes().await == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = setup
        .api(Method::DELETE, &format!("/v1/integrations/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(refreshing.await.expect("task").is_err());
    assert!(setup
        .system
        .services
        .store
        .get(&format!("int#{id}"), "cred")
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn invalid_grant_needs_a_reconnect_tells_the_tenant_and_stops_retrying() {
    let Some(setup) = setup().await else { return };
    let receiver = Receiver::start().await;
    let (status, endpoint) = setup
        .api(
            Method::POST,
            "/v1/endpoints",
            Some(json!({ "url": receiver.url, "event_types": ["integration.*"] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let id = setup.connect().await;
    setup
        .oauth
        .control("/_control", json!({ "refresh_error": "invalid_grant" }))
        .await;
    setup.make_due(&id).await;
    let report = setup.run_refresher().await;
    assert_eq!(report.needs_reconnect, 1, "{report:?}");

    let (_, shown) = setup
        .api(Method::GET, &format!("/v1/integrations/{id}"), None)
        .await;
    assert_eq!(shown["connection"]["status"], "needs_reconnect", "{shown}");
    assert!(field(&shown["connection"], "reason").contains("invalid_grant"));
    let (status, body) = setup.access_token(&id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "needs_reconnect");

    let event = receiver.wait_for("integration.needs_reconnect").await;
    assert_eq!(event["data"]["integration_id"], id.as_str());

    // Stopped: later runs leave the vendor alone.
    setup.clock.advance(2 * 24 * 3600);
    let calls = setup.oauth.refreshes().await;
    setup.run_refresher().await;
    assert_eq!(setup.oauth.refreshes().await, calls);

    // A new consent repairs it.
    setup.oauth.control("/_control/reset", json!({})).await;
    let (status, _) = setup.consent(&id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = setup.access_token(&id).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn vendor_outages_back_off_instead_of_hammering() {
    let Some(setup) = setup().await else { return };
    let id = setup.connect().await;
    setup
        .oauth
        .control("/_control", json!({ "refresh_error": "server_error" }))
        .await;
    setup.make_due(&id).await;
    assert_eq!(setup.run_refresher().await.retrying, 1);
    let creds = setup.credentials(&id).await;
    let now = hookrail::clock::Clock::now(setup.clock.as_ref());
    assert_eq!(creds.retry_at, Some(now + 300));
    assert!(creds
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("503"));
    assert_eq!(
        setup.run_refresher().await.retrying,
        0,
        "retried before its back-off"
    );

    setup
        .oauth
        .control("/_control", json!({ "refresh_error": null }))
        .await;
    setup.clock.advance(301);
    assert_eq!(setup.run_refresher().await.refreshed, 1);
    assert_eq!(setup.credentials(&id).await.failures, 0);
}

#[tokio::test]
async fn a_missing_expires_in_takes_the_providers_default_lifetime() {
    let Some(setup) = setup().await else { return };
    setup
        .oauth
        .control(
            "/_control",
            json!({ "omit_expires_in": true, "extra_token_fields": { "instance_url": "https://eu1.example" } }),
        )
        .await;
    let id = setup.connect().await;
    let creds = setup.credentials(&id).await;
    assert_eq!(creds.tokens.expires_at, Some(creds.obtained_at + 1800));
    assert_eq!(
        creds.tokens.refresh_token_expires_at,
        Some(creds.obtained_at + 40 * 86_400)
    );
    let (_, token) = setup.access_token(&id).await;
    assert_eq!(token["extras"]["instance_url"], "https://eu1.example");
}

#[tokio::test]
async fn a_refresh_token_near_its_known_expiry_is_announced_once() {
    let Some(setup) = setup().await else { return };
    let receiver = Receiver::start().await;
    setup
        .api(
            Method::POST,
            "/v1/endpoints",
            Some(
                json!({ "url": receiver.url, "event_types": ["integration.credential_expiring"] }),
            ),
        )
        .await;
    setup
        .oauth
        .control(
            "/_control",
            json!({ "extra_token_fields": { "refresh_token_expires_in": 20 * 86_400 } }),
        )
        .await;
    let id = setup.connect().await;
    setup.make_due(&id).await;
    assert_eq!(setup.run_refresher().await.refreshed, 1);
    let event = receiver.wait_for("integration.credential_expiring").await;
    assert_eq!(event["data"]["credential"], "refresh_token");
    assert!(setup.credentials(&id).await.expiry_warned);
}

/// A tenant's endpoint: records the events delivered to it.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route(
            "/",
            axum::routing::post({
                let seen = seen.clone();
                move |body: String| async move {
                    if let Ok(value) = serde_json::from_str(&body) {
                        seen.lock().expect("lock").push(value);
                    }
                    "ok"
                }
            }),
        );
        let url = format!("{}/", support::serve(app).await);
        Self { url, seen }
    }

    async fn wait_for(&self, event_type: &str) -> Value {
        for _ in 0..200 {
            let found = self
                .seen
                .lock()
                .expect("lock")
                .iter()
                .find(|v| v["type"] == event_type)
                .cloned();
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {event_type} event delivered");
    }
}

/// An API-key vendor with two regional hosts: only `eu` knows the key.
#[tokio::test]
async fn api_key_connections_test_their_key_and_detect_the_region() {
    let regional = |accepts: bool| async move {
        let app = axum::Router::new().route(
            "/ping",
            axum::routing::get(move |headers: axum::http::HeaderMap| async move {
                let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
                if accepts && key == Some("key-123") {
                    (axum::http::StatusCode::OK, r#"{"pong":true}"#)
                } else {
                    (
                        axum::http::StatusCode::UNAUTHORIZED,
                        r#"{"errors":[{"title":"Invalid API key"}]}"#,
                    )
                }
            }),
        );
        let base = support::serve(app).await;
        base
    };
    let us = regional(false).await;
    let eu = regional(true).await;
    let providers = tempfile::tempdir().expect("dir");
    std::fs::write(
        providers.path().join("regional.toml"),
        format!(
            r#"
name = "regional"
display_name = "Regional"
family = "msp"
docs_url = "{us}"
auth = "api_key"
[[fields]]
name = "api_key"
label = "API key"
secret = true
required = true
[api]
base_url = "{us}"
regions = {{ us = "{us}", eu = "{eu}" }}
auth_style = "header"
auth_header = "x-api-key"
auth_value = "{{api_key}}"
[probe]
method = "GET"
path = "/ping"
[webhooks]
scheme = "none"
[rate_limit]
[pagination]
style = "none"
"#
        ),
    )
    .expect("provider file");
    let dir = providers.path().to_owned();
    let system = support::embedded_with(
        move |config| {
            config.providers_dir = Some(dir);
            config.outbound_allow = vec!["127.0.0.0/8".parse().expect("cidr")];
        },
        None,
    )
    .await;
    let key = system.tenant("MSP").await;

    let (status, refused) = system
        .api(
            &key,
            Method::POST,
            "/v1/integrations",
            Some(json!({ "vendor": "regional", "name": "R", "config": { "label_only": "x" } })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    let created = system
        .create_integration(
            &key,
            json!({ "vendor": "regional", "name": "R", "config": { "api_key": "key-123" }, "label": "ops key", "rotate_by": "2099-01-01", "default": true }),
        )
        .await;
    assert_eq!(created["config"]["api_key"], "***");
    assert_eq!(created["connection"]["status"], "connected");
    assert_eq!(created["connection"]["default"], true);
    let id = field(&created, "id");
    let (status, tested) = system
        .api(
            &key,
            Method::POST,
            &format!("/v1/integrations/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["region"], "eu");
    assert_eq!(tested["region_detected"], true);
    let (_, shown) = system
        .api(&key, Method::GET, &format!("/v1/integrations/{id}"), None)
        .await;
    assert_eq!(shown["config"]["region"], "eu");

    // A wrong key: the vendor's refusal comes back verbatim.
    let (status, _) = system
        .api(
            &key,
            Method::PATCH,
            &format!("/v1/integrations/{id}"),
            Some(json!({ "config": { "api_key": "wrong" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tested) = system
        .api(
            &key,
            Method::POST,
            &format!("/v1/integrations/{id}/test"),
            None,
        )
        .await;
    assert_eq!(tested["ok"], false);
    assert_eq!(tested["status"], 401);
    assert!(field(&tested, "vendor_response").contains("Invalid API key"));

    // Another tenant sees none of it.
    let other = system.tenant("Other").await;
    let (status, _) = system
        .api(
            &other,
            Method::POST,
            &format!("/v1/integrations/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = system.api(&other, Method::GET, "/v1/audit", None).await;
    assert_eq!(audit["data"], json!([]));
}

#[tokio::test]
async fn api_key_rotation_reminders_go_out_thirty_days_ahead() {
    let clock = Arc::new(ManualClock::at(
        hookrail::domain::connection::parse_date("2027-01-01").expect("date"),
    ));
    let system = support::embedded_with(|_| {}, Some(clock.clone())).await;
    let key = system.tenant("Acme").await;
    system
        .create_integration(
            &key,
            json!({ "vendor": "stripe", "name": "S", "config": { "api_key": "sk_test_1" }, "rotate_by": "2027-02-15" }),
        )
        .await;
    let report = refresh::run_once(&system.services).await.expect("run");
    assert_eq!(report.reminders, 0);
    clock.advance(20 * 86_400);
    assert_eq!(
        refresh::run_once(&system.services)
            .await
            .expect("run")
            .reminders,
        1
    );
    assert_eq!(
        refresh::run_once(&system.services)
            .await
            .expect("run")
            .reminders,
        0
    );
    let (_, audit) = system
        .api(&key, Method::GET, "/v1/audit?kind=expiry_warned", None)
        .await;
    assert_eq!(audit["data"].as_array().map(Vec::len), Some(1), "{audit}");
}

#[tokio::test]
async fn the_catalog_is_listed_and_shown() {
    let system = support::embedded().await;
    let key = system.tenant("Acme").await;
    let (status, list) = system.api(&key, Method::GET, "/v1/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(list["data"].as_array().map_or(0, Vec::len) >= 28);
    let (status, itglue) = system
        .api(&key, Method::GET, "/v1/providers/itglue", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{itglue}");
    assert!(itglue["api"]["regions"]["eu"].is_string());
    let fields: Vec<&str> = itglue["config_fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        fields.contains(&"api_key") && fields.contains(&"region"),
        "{fields:?}"
    );
    let (status, _) = system
        .api(&key, Method::GET, "/v1/providers/nope", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
