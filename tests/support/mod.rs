//! The harness every end-to-end suite shares: the whole system started exactly as
//! `hookrail dev` starts it, on a real listener, over either backend.

#![allow(dead_code)] // each suite uses its own part of the harness

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use hookrail::backend::Services;
use hookrail::clock::Clock;
use hookrail::config::{BackendConfig, Config};
use hookrail::dev::DevServer;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Sha256;

pub const BODY_LIMIT: usize = 64 * 1024;
pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";

pub struct System {
    pub server: DevServer,
    pub services: Services,
    pub http: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

pub async fn start(config: Config, dir: Option<tempfile::TempDir>) -> System {
    start_with_clock(config, dir, None).await
}

async fn start_with_clock(
    config: Config,
    dir: Option<tempfile::TempDir>,
    clock: Option<Arc<dyn Clock>>,
) -> System {
    let mut services = Services::connect(&config).await.expect("connect backend");
    if let Some(clock) = clock {
        services = services.with_clock(clock);
    }
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

/// The embedded backend, configured by `configure`, reading time from `clock` if given.
pub async fn embedded_with(
    configure: impl FnOnce(&mut Config),
    clock: Option<Arc<dyn Clock>>,
) -> System {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::embedded(dir.path());
    config.max_body_bytes = BODY_LIMIT;
    configure(&mut config);
    start_with_clock(config, Some(dir), clock).await
}

pub async fn embedded() -> System {
    embedded_with(|_| {}, None).await
}

pub async fn embedded_with_rate_limit(per_minute: u32) -> System {
    embedded_with(|config| config.api_requests_per_minute = per_minute, None).await
}

/// The AWS adapters against the emulator, configured by `configure`.
pub async fn aws_with(
    configure: impl FnOnce(&mut Config),
    clock: Option<Arc<dyn Clock>>,
) -> Option<System> {
    let aws = hookrail::testing::moto().await?;
    let mut config = Config::embedded("unused");
    config.backend = BackendConfig::Aws {
        table: aws.create_table().await,
        inbound_queue_url: aws.create_queue(3).await.0,
        dispatch_queue_url: aws.create_queue(5).await.0,
        kms_key_id: aws.create_key().await,
        secrets_prefix: format!("hookrail-e2e-{}/", ulid::Ulid::new()),
    };
    config.max_body_bytes = BODY_LIMIT;
    config.api_requests_per_minute = 10_000;
    configure(&mut config);
    Some(start_with_clock(config, None, clock).await)
}

pub async fn aws() -> Option<System> {
    aws_with(|_| {}, None).await
}

/// Serves `app` on a free loopback port until the test ends; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

pub fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac key");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The Python with `tests/vendor_libs` installed (`HOOKRAIL_PYTHON`), or `None` when `check`
/// is to be skipped; under `scripts/test` (`HOOKRAIL_REQUIRE_EMULATOR`) it must be there.
pub fn python(check: &str) -> Option<String> {
    match std::env::var("HOOKRAIL_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("HOOKRAIL_REQUIRE_EMULATOR").is_some() => {
            panic!("HOOKRAIL_REQUIRE_EMULATOR is set, so HOOKRAIL_PYTHON must name a Python with tests/vendor_libs installed ({check})")
        }
        _ => {
            eprintln!(
                "note: HOOKRAIL_PYTHON is unset; skipping {check} (scripts/test installs the libraries and sets it)"
            );
            None
        }
    }
}

pub fn now() -> i64 {
    hookrail::clock::unix_now()
}

impl System {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }

    /// A tenant, created the way `hookrail tenants create` does; returns its API key.
    pub async fn tenant(&self, name: &str) -> String {
        hookrail::repo::tenants::create(self.services.store.as_ref(), name, now())
            .await
            .expect("create tenant")
            .1
    }

    pub async fn api(
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

    pub async fn create_integration(&self, key: &str, body: Value) -> Value {
        let (status, created) = self
            .api(key, reqwest::Method::POST, "/v1/integrations", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    pub async fn post_hook(
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

    pub async fn github_push(
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
    pub async fn settled_event(&self, key: &str, integration: &str, event: &str) -> Value {
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

/// Publishes an event through `POST /v1/events`; returns its id.
pub async fn publish(system: &System, key: &str, body: Value) -> String {
    let (status, published) = system
        .api(key, reqwest::Method::POST, "/v1/events", Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{published}");
    field(&published, "id").to_owned()
}

pub fn field<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {value}"))
}

/// A script status that makes the receiver hang instead of answering.
pub const HANG: u16 = 599;

/// A tenant's endpoint played by a real HTTP server on loopback: it records every request and
/// answers each path with the next status of its script (the last one repeats).
pub struct Receiver {
    pub base: String,
    scripts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u16>>>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Receiver {
    pub async fn start(scripts: &[(&str, &[u16])]) -> Self {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex};
        let scripts: Arc<Mutex<HashMap<String, Vec<u16>>>> = Arc::new(Mutex::new(
            scripts
                .iter()
                .map(|(path, statuses)| ((*path).to_owned(), statuses.to_vec()))
                .collect(),
        ));
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = axum::Router::new().fallback({
            let (scripts, seen) = (scripts.clone(), seen.clone());
            move |uri: http::Uri, headers: http::HeaderMap, body: axum::body::Bytes| {
                let (scripts, seen) = (scripts.clone(), seen.clone());
                async move {
                    let path = uri.path().to_owned();
                    seen.lock().expect("lock").push(Received {
                        path: path.clone(),
                        headers,
                        body: body.to_vec(),
                    });
                    let status = {
                        let mut scripts = scripts.lock().expect("lock");
                        let script = scripts.entry(path).or_insert_with(|| vec![200]);
                        if script.len() > 1 {
                            script.remove(0)
                        } else {
                            script[0]
                        }
                    };
                    if status == HANG {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                    let mut headers = http::HeaderMap::new();
                    if status == 429 {
                        headers.insert("retry-after", http::HeaderValue::from_static("120"));
                    }
                    if status == 302 {
                        headers.insert("location", http::HeaderValue::from_static("/elsewhere"));
                    }
                    (
                        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK),
                        headers,
                        format!("answer {status}"),
                    )
                }
            }
        });
        let base = serve(app).await;
        Self {
            base,
            scripts,
            seen,
        }
    }

    /// Answers `path` with `statuses` from now on (the last one repeats).
    pub fn script(&self, path: &str, statuses: &[u16]) {
        self.scripts
            .lock()
            .expect("lock")
            .insert(path.to_owned(), statuses.to_vec());
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub async fn wait_for(&self, path: &str, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received(path);
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "{path} received {} requests, expected {count}",
            self.received(path).len()
        );
    }
}

pub fn open_loopback(config: &mut hookrail::config::Config) {
    config.outbound_allow =
        hookrail::outbound::ssrf::AddressPolicy::parse_allow_list("127.0.0.0/8").expect("cidr");
}
