//! Every acknowledged event is delivered although the process delivering it is killed (SIGKILL)
//! again and again: the embedded queue and state survive, leases lapse, jobs come back, and
//! each (event, endpoint) pair is delivered at least once.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::start_dev;

const EVENTS: usize = 2000;
const KILLS: usize = 5;

async fn receiver(seen: Arc<Mutex<HashSet<String>>>) -> String {
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let seen = Arc::clone(&seen);
        async move {
            if let Some(id) = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
            {
                seen.lock().expect("lock").insert(id);
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/durable", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_repeated_kills_of_the_dispatcher() {
    let data = tempfile::tempdir().expect("temp dir");
    let seen: Arc<Mutex<HashSet<String>>> = Arc::default();
    let target = receiver(Arc::clone(&seen)).await;
    // One address for every restart; a short lease so jobs held by a killed process come back
    // within seconds rather than a minute.
    let listen = format!("127.0.0.1:{}", free_port());
    let env = [
        ("HOOKRAIL_JOB_LEASE_SECS", "2"),
        ("HOOKRAIL_API_RATE_LIMIT", "1000000"),
        ("RUST_LOG", "error"),
    ];
    let mut dev = start_dev(data.path(), &listen, &env);
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/v1/endpoints", dev.base_url))
        .bearer_auth(&dev.api_key)
        // The receiver takes everything at once: the rate limit is not what this test is about.
        .json(&serde_json::json!({ "url": target, "event_types": ["*"], "rate_limit_per_minute": 600_000 }))
        .send()
        .await
        .expect("create endpoint");
    assert_eq!(created.status(), 201);

    let mut acknowledged = Vec::with_capacity(EVENTS);
    let mut publishers = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (http, url, key) = (
            http.clone(),
            format!("{}/v1/events", dev.base_url),
            dev.api_key.clone(),
        );
        publishers.spawn(async move {
            let mut ids = Vec::new();
            for n in (worker..EVENTS).step_by(16) {
                let answer: serde_json::Value = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&serde_json::json!({ "type": "durable.test", "data": { "n": n } }))
                    .send()
                    .await
                    .expect("publish")
                    .json()
                    .await
                    .expect("json");
                ids.push(answer["id"].as_str().expect("id").to_owned());
            }
            ids
        });
    }
    while let Some(ids) = publishers.join_next().await {
        acknowledged.extend(ids.expect("publisher"));
    }
    assert_eq!(acknowledged.len(), EVENTS);

    // Kill the whole process (receipt, queues, dispatcher) mid-delivery, again and again.
    let delivered_before_kills = seen.lock().expect("lock").len();
    eprintln!("delivered before the first kill: {delivered_before_kills} of {EVENTS}");
    assert!(
        delivered_before_kills < EVENTS,
        "everything was delivered before the first kill, so the kills proved nothing"
    );
    for kill in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(150 + 70 * kill as u64)).await;
        drop(dev);
        dev = start_dev(data.path(), &listen, &env);
    }

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let missing = {
            let seen = seen.lock().expect("lock");
            acknowledged.iter().filter(|id| !seen.contains(*id)).count()
        };
        if missing == 0 {
            break;
        }
        if Instant::now() >= deadline {
            drop(dev);
            // Kept for inspection: the embedded database says where the missing ones are.
            let kept = data.keep();
            panic!(
                "{missing} of {EVENTS} acknowledged events were never delivered (data kept in {})",
                kept.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(dev);
}
