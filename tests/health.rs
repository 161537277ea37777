//! Health, end to end: endpoints' rate limits across several dispatchers, the circuit breaker
//! opening, half-opening and closing, endpoints disabled and resumed with nothing lost, chat
//! notifications checked by the vendors' own libraries, and connections probed against local
//! servers that are fast, slow, failing and flapping.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hookrail::clock::{Clock, ManualClock};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;

const CHECKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/vendor_libs/check_chat_payload.py"
);

/// Asks the vendors' libraries whether `body` is a message `kind` accepts.
fn assert_chat_payload_accepted(kind: &str, body: &[u8]) {
    let Some(python) = python(&format!("the {kind} payload check")) else {
        return;
    };
    let mut child = Command::new(python)
        .arg(CHECKER)
        .arg(kind)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the checker");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write");
    let output = child.wait_with_output().expect("checker");
    assert!(
        output.status.success(),
        "{kind} refuses the payload: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(body)
    );
}

/// Whether a pending delivery's next attempt is after `now`: it waits.
fn waits_beyond(delivery: &Value, now: i64) -> bool {
    delivery["status"] == "pending"
        && delivery["next_attempt_at"]
            .as_str()
            .is_some_and(|at| at > hookrail::clock::rfc3339(now).as_str())
}

fn window_start(at: i64) -> i64 {
    at - at.rem_euclid(60)
}

async fn create_endpoint(system: &System, key: &str, body: Value) -> String {
    let (status, created) = system
        .api(key, Method::POST, "/v1/endpoints", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    field(&created, "id").to_owned()
}

/// The `n`th test order.
fn order(n: usize) -> Value {
    json!({ "type": "order.created", "data": { "n": n } })
}

async fn deliveries(system: &System, key: &str, endpoint: &str) -> Vec<Value> {
    let (status, page) = system
        .api(
            key,
            Method::GET,
            &format!("/v1/deliveries?endpoint_id={endpoint}&limit=100"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Waits until every delivery to `endpoint` satisfies `settled` (and there are `count`).
async fn settle(
    system: &System,
    key: &str,
    endpoint: &str,
    count: usize,
    settled: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    for _ in 0..400 {
        let found = deliveries(system, key, endpoint).await;
        if found.len() == count && found.iter().all(&settled) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "deliveries to {endpoint} did not settle: {:#}",
        json!(deliveries(system, key, endpoint).await)
    );
}

/// Runs the retry scheduler once, as EventBridge does every minute.
async fn run_scheduler(system: &System) {
    hookrail::outbound::scheduler::run_once(&system.services, system.services.clock.now())
        .await
        .expect("scheduler");
}

async fn endpoint_view(system: &System, key: &str, id: &str) -> Value {
    let (status, shown) = system
        .api(key, Method::GET, &format!("/v1/endpoints/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    shown
}

fn bodies(receiver: &Receiver, path: &str) -> Vec<Value> {
    receiver
        .received(path)
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("json body"))
        .collect()
}

async fn rate_limit_holds_across_dispatchers(system: System, clock: Arc<ManualClock>) {
    let receiver = Receiver::start(&[]).await;
    // Four more dispatchers beside the server's own, all on the same queue and state.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for _ in 0..4 {
        tokio::spawn(hookrail::runtime::poll_queue(
            system.services.clone(),
            system.services.dispatch_queue.clone(),
            stopped.clone(),
        ));
    }
    let key = system.tenant("Acme").await;
    let id = create_endpoint(
        &system,
        &key,
        json!({ "url": format!("{}/limited", receiver.base), "event_types": ["order.*"], "rate_limit_per_minute": 5 }),
    )
    .await;
    assert_eq!(
        endpoint_view(&system, &key, &id).await["rate_limit_per_minute"],
        5
    );
    for n in 0..12 {
        publish(&system, &key, order(n)).await;
    }
    // Five go in this minute; seven wait for later minutes, with no attempt counted.
    let t0 = clock.now();
    let first = settle(&system, &key, &id, 12, |d| {
        d["status"] == "succeeded" || (d["attempts"] == 0 && waits_beyond(d, t0))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received("/limited").len(), 5);
    let succeeded = first.iter().filter(|d| d["status"] == "succeeded").count();
    assert_eq!(succeeded, 5, "{first:#?}");
    assert!(first
        .iter()
        .filter(|d| d["status"] == "pending")
        .all(|d| d["attempts"] == 0));

    // Each later minute lets five more through.
    clock.advance(200);
    run_scheduler(&system).await;
    receiver.wait_for("/limited", 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received("/limited").len(), 10);
    clock.advance(200);
    run_scheduler(&system).await;
    let done = settle(&system, &key, &id, 12, |d| d["status"] == "succeeded").await;
    assert!(done.iter().all(|d| d["attempts"] == 1), "{done:#?}");
    assert_eq!(receiver.received("/limited").len(), 12, "each exactly once");
    let _ = stop.send(true);
    system.server.shutdown().await;
}

fn loopback_clock() -> Arc<ManualClock> {
    // At the start of a minute, so a test's deliveries share one rate window.
    Arc::new(ManualClock::at(window_start(now()) + 60))
}

#[tokio::test]
async fn the_rate_limit_holds_with_several_dispatchers_on_the_embedded_backend() {
    let clock = loopback_clock();
    let system = embedded_with(open_loopback, Some(clock.clone())).await;
    rate_limit_holds_across_dispatchers(system, clock).await;
}

#[tokio::test]
async fn the_rate_limit_holds_with_several_dispatchers_on_the_aws_backend() {
    let clock = loopback_clock();
    let Some(system) = aws_with(open_loopback, Some(clock.clone())).await else {
        return;
    };
    rate_limit_holds_across_dispatchers(system, clock).await;
}

#[tokio::test]
async fn the_circuit_opens_half_opens_and_closes_and_channels_hear_of_it() {
    let receiver = Receiver::start(&[("/down", &[503])]).await;
    let clock = loopback_clock();
    let system = embedded_with(
        |config| {
            open_loopback(config);
            config.dashboard_url = Some("https://app.hookrail.example".into());
        },
        Some(clock.clone()),
    )
    .await;
    let key = system.tenant("Acme").await;
    // The failing endpoint takes everything — its own failure notices included, were they
    // not kept from it.
    let down = create_endpoint(
        &system,
        &key,
        json!({ "url": format!("{}/down", receiver.base), "event_types": ["*"], "description": "orders" }),
    )
    .await;
    let watcher = create_endpoint(
        &system,
        &key,
        json!({ "url": format!("{}/watcher", receiver.base), "event_types": ["endpoint.*"] }),
    )
    .await;
    for (channel, path) in [
        ("slack", "/slack"),
        ("teams", "/teams"),
        ("discord", "/discord"),
    ] {
        let id = create_endpoint(
            &system,
            &key,
            json!({ "url": format!("{}{path}", receiver.base), "channel": channel, "event_types": ["endpoint.*", "integration.*"] }),
        )
        .await;
        let shown = endpoint_view(&system, &key, &id).await;
        assert_eq!(shown["channel"], channel);
        assert!(
            !shown["url"].as_str().expect("url").contains(path),
            "a chat URL is its credential and is not shown back: {shown}"
        );
    }

    // Five failures in a row open the circuit.
    for n in 0..5 {
        publish(&system, &key, order(n)).await;
    }
    settle(&system, &key, &down, 5, |d| d["attempts"] == 1).await;
    let shown = endpoint_view(&system, &key, &down).await;
    assert_eq!(shown["health"]["circuit"], "open", "{shown}");
    assert_eq!(shown["health"]["consecutive_failures"], 5);
    assert_eq!(shown["health"]["last_error"], "HTTP 503");
    let notices = receiver.wait_for("/watcher", 1).await;
    let notice: Value = serde_json::from_slice(&notices[0].body).expect("json");
    assert_eq!(notice["type"], "endpoint.circuit_opened");
    assert_eq!(notice["data"]["endpoint_id"], down.as_str());
    assert_eq!(notice["data"]["consecutive_failures"], 5);
    for (kind, path) in [
        ("slack", "/slack"),
        ("teams", "/teams"),
        ("discord", "/discord"),
    ] {
        let got = receiver.wait_for(path, 1).await;
        assert_chat_payload_accepted(kind, &got[0].body);
        let text = String::from_utf8_lossy(&got[0].body).into_owned();
        assert!(text.contains("Endpoint circuit opened"), "{text}");
        assert!(
            text.contains(&format!("https://app.hookrail.example/endpoints/{down}")),
            "{text}"
        );
    }

    // While open, new deliveries wait: no attempt, nothing sent.
    for n in 5..8 {
        publish(&system, &key, order(n)).await;
    }
    let t1 = clock.now();
    settle(&system, &key, &down, 8, |d| {
        d["attempts"] == 1 || (d["attempts"] == 0 && waits_beyond(d, t1))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received("/down").len(), 5);

    // After the cool-down exactly one probe goes; it fails and the circuit re-opens for longer.
    clock.advance(125);
    run_scheduler(&system).await;
    receiver.wait_for("/down", 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("/down").len(), 6, "a single probe");
    let shown = endpoint_view(&system, &key, &down).await;
    assert_eq!(shown["health"]["circuit"], "open", "{shown}");
    assert_eq!(shown["health"]["consecutive_failures"], 6);

    // The endpoint comes back: the next probe succeeds and closes the circuit.
    receiver.script("/down", &[200]);
    clock.advance(185);
    run_scheduler(&system).await;
    receiver.wait_for("/down", 7).await;
    let shown = endpoint_view(&system, &key, &down).await;
    assert_eq!(shown["health"]["circuit"], "closed", "{shown}");
    assert_eq!(shown["health"]["consecutive_failures"], 0);
    let closed = receiver.wait_for("/watcher", 2).await;
    let closed: Value = serde_json::from_slice(&closed[1].body).expect("json");
    assert_eq!(closed["type"], "endpoint.circuit_closed");

    // Everything that waited is delivered; nothing was lost or sent twice.
    clock.advance(70);
    run_scheduler(&system).await;
    let done = settle(&system, &key, &down, 8, |d| d["status"] == "succeeded").await;
    assert_eq!(done.len(), 8);
    let delivered: Vec<i64> = bodies(&receiver, "/down")
        .iter()
        .filter(|b| b["type"] == "order.created")
        .map(|b| b["data"]["n"].as_i64().expect("n"))
        .collect();
    let mut distinct = delivered.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct, (0..8).collect::<Vec<_>>());
    // The failing endpoint never received a notice about itself.
    assert!(bodies(&receiver, "/down")
        .iter()
        .all(|b| !b["type"].as_str().unwrap_or("").starts_with("endpoint.")));
    let _ = watcher;
    system.server.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_failing_through_its_retry_window_is_disabled_and_resumes_with_nothing_lost() {
    let receiver = Receiver::start(&[("/broken", &[500])]).await;
    let clock = loopback_clock();
    let system = embedded_with(open_loopback, Some(clock.clone())).await;
    let key = system.tenant("Acme").await;
    let broken = create_endpoint(
        &system,
        &key,
        json!({ "url": format!("{}/broken", receiver.base), "event_types": ["order.*"], "retry_schedule": [3600] }),
    )
    .await;
    create_endpoint(
        &system,
        &key,
        json!({ "url": format!("{}/watcher", receiver.base), "event_types": ["endpoint.*"] }),
    )
    .await;
    publish(&system, &key, order(0)).await;
    settle(&system, &key, &broken, 1, |d| d["attempts"] == 1).await;

    // Almost three days later a second event fails too; then the first one's last retry
    // fails at the end of the window and the endpoint is disabled.
    clock.advance(72 * 3600 - 1800);
    publish(&system, &key, order(1)).await;
    settle(&system, &key, &broken, 2, |d| d["attempts"] == 1).await;
    clock.advance(1900);
    run_scheduler(&system).await;
    let notices = receiver.wait_for("/watcher", 1).await;
    let notice: Value = serde_json::from_slice(&notices[0].body).expect("json");
    assert_eq!(notice["type"], "endpoint.disabled");
    assert!(
        notice["data"]["reason"]
            .as_str()
            .expect("reason")
            .contains("in a row since"),
        "{notice}"
    );
    let shown = endpoint_view(&system, &key, &broken).await;
    assert_eq!(shown["active"], false, "{shown}");
    assert!(shown["disabled_reason"].is_string(), "{shown}");

    // The second event's delivery is kept, parked, with its attempts as they were.
    clock.advance(3700);
    run_scheduler(&system).await;
    let parked = settle(&system, &key, &broken, 2, |d| {
        d["status"] == "failed" || (d["status"] == "pending" && d["next_attempt_at"].is_null())
    })
    .await;
    let pending: Vec<&Value> = parked.iter().filter(|d| d["status"] == "pending").collect();
    assert_eq!(pending.len(), 1, "{parked:#?}");
    let sent_before = receiver.received("/broken").len();

    // The tenant fixes it and re-enables it: the parked delivery goes, the health starts afresh.
    receiver.script("/broken", &[200]);
    let (status, enabled) = system
        .api(
            &key,
            Method::PATCH,
            &format!("/v1/endpoints/{broken}"),
            Some(json!({ "active": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert!(enabled["disabled_reason"].is_null());
    receiver.wait_for("/broken", sent_before + 1).await;
    let resumed = settle(&system, &key, &broken, 2, |d| {
        d["status"] == "failed" || d["status"] == "succeeded"
    })
    .await;
    assert_eq!(
        resumed
            .iter()
            .filter(|d| d["status"] == "succeeded")
            .count(),
        1
    );
    let shown = endpoint_view(&system, &key, &broken).await;
    assert_eq!(shown["health"]["circuit"], "closed");
    assert_eq!(shown["health"]["consecutive_failures"], 0);
    system.server.shutdown().await;
}

/// A provider whose probe is `GET {base}/ping` with an API key header.
fn probe_provider(dir: &std::path::Path, base: &str) {
    std::fs::write(
        dir.join("pinged.toml"),
        format!(
            r#"
name = "pinged"
display_name = "Pinged"
family = "msp"
docs_url = "{base}"
auth = "api_key"
[[fields]]
name = "api_key"
label = "API key"
secret = true
required = true
[[fields]]
name = "path"
label = "Which server"
secret = false
required = true
[api]
base_url = "{base}"
auth_style = "header"
auth_header = "x-api-key"
auth_value = "{{api_key}}"
[probe]
method = "GET"
path = "/{{path}}"
[webhooks]
scheme = "none"
[rate_limit]
[pagination]
style = "none"
"#
        ),
    )
    .expect("provider file");
}

#[tokio::test]
async fn connections_are_probed_and_the_status_board_shows_fast_slow_failing_and_flapping() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let flips = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/fast", axum::routing::get(|| async { "{}" }))
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(2300)).await;
                "{}"
            }),
        )
        .route(
            "/failing",
            axum::routing::get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    r#"{"error":"down for maintenance"}"#,
                )
            }),
        )
        .route(
            "/flapping",
            axum::routing::get({
                let flips = flips.clone();
                move || {
                    let flips = flips.clone();
                    async move {
                        if flips.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                            StatusCode::OK
                        } else {
                            StatusCode::BAD_GATEWAY
                        }
                    }
                }
            }),
        );
    let vendor = serve(app).await;
    let receiver = Receiver::start(&[]).await;
    let providers = tempfile::tempdir().expect("dir");
    probe_provider(providers.path(), &vendor);
    let dir = providers.path().to_owned();
    let clock = loopback_clock();
    let system = embedded_with(
        move |config| {
            config.providers_dir = Some(dir);
            open_loopback(config);
        },
        Some(clock.clone()),
    )
    .await;
    let key = system.tenant("MSP").await;
    let other = system.tenant("Other").await;
    create_endpoint(
        &system,
        &key,
        json!({ "url": format!("{}/notices", receiver.base), "event_types": ["integration.*"] }),
    )
    .await;
    let mut ids = std::collections::BTreeMap::new();
    for path in ["fast", "slow", "failing", "flapping"] {
        let created = system
            .create_integration(
                &key,
                json!({ "vendor": "pinged", "name": path, "config": { "api_key": "k", "path": path } }),
            )
            .await;
        ids.insert(path, field(&created, "id").to_owned());
    }
    let (_, before) = system
        .api(&key, Method::GET, "/v1/integrations/status", None)
        .await;
    assert!(before["connections"][0]["pip"].is_null(), "{before}");

    for _ in 0..4 {
        let report = hookrail::health::run_once(&system.services)
            .await
            .expect("probe run");
        assert_eq!(report.probed, 4, "{report:?}");
        clock.advance(300);
    }
    let (status, board) = system
        .api(&key, Method::GET, "/v1/integrations/status", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{board}");
    assert_eq!(board["counts"]["connected"], 4, "{board}");
    assert_eq!(
        board["counts"]["needs_attention"], 2,
        "failing, and flapping's last: {board}"
    );
    let of = |name: &str| -> Value {
        board["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .expect("connection")
    };
    assert_eq!(of("fast")["pip"], "green");
    assert_eq!(of("slow")["pip"], "amber");
    assert!(of("slow")["last_probe"]["latency_ms"].as_u64() > Some(2000));
    assert_eq!(of("failing")["pip"], "red");
    assert_eq!(of("failing")["last_probe"]["status"], 500);
    assert!(of("failing")["failing_since"].is_string());
    assert_eq!(of("flapping")["flapping"], true, "{board}");
    assert_eq!(of("fast")["flapping"], false);
    for name in ["fast", "slow", "failing", "flapping"] {
        assert_eq!(of(name)["history"].as_array().map(Vec::len), Some(4));
    }

    // The tenant heard once that `failing` failed, and of `flapping` until it was flapping.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let notices = bodies(&receiver, "/notices");
    let about = |name: &str, kind: &str| {
        notices
            .iter()
            .filter(|n| n["type"] == kind && n["data"]["integration_id"] == ids[name].as_str())
            .count()
    };
    assert_eq!(about("failing", "integration.failing"), 1, "{notices:#?}");
    assert_eq!(about("fast", "integration.failing"), 0);
    assert_eq!(about("flapping", "integration.failing"), 2, "{notices:#?}");
    assert_eq!(about("flapping", "integration.recovered"), 1);

    // Another tenant sees none of it.
    let (_, theirs) = system
        .api(&other, Method::GET, "/v1/integrations/status", None)
        .await;
    assert_eq!(theirs["connections"], json!([]));
    system.server.shutdown().await;
}
