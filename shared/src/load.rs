//! The outbound load run: starts the whole system as `hookrail dev` does (embedded backend, in
//! a temporary data dir) and a receiver on loopback, publishes events through the HTTP API from
//! concurrent publishers, and measures delivered events per second and publish→arrival latency.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::backend::Services;
use crate::config::Config;
use crate::dev::{ensure_dev_tenant, DevServer};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Events to publish.
    pub events: usize,
    /// Concurrent publishers.
    pub publishers: usize,
    /// Give up waiting for deliveries after this long.
    pub deadline: Duration,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// Events published.
    pub published: usize,
    /// Events that arrived at the receiver.
    pub delivered: usize,
    /// From the first publish to the last publish's answer.
    pub publish_seconds: f64,
    /// From the first publish to the last arrival.
    pub total_seconds: f64,
    /// Median publish→arrival latency.
    pub p50_ms: f64,
    /// 99th-percentile publish→arrival latency.
    pub p99_ms: f64,
    /// The slowest publish→arrival latency.
    pub max_ms: f64,
    /// CPU time the process used (user + system), per delivered event.
    pub cpu_ms_per_event: Option<f64>,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "published: {} events in {:.2}s ({:.0}/s)",
            self.published,
            self.publish_seconds,
            self.published as f64 / self.publish_seconds
        )?;
        writeln!(
            f,
            "delivered: {} events in {:.2}s ({:.0}/s)",
            self.delivered,
            self.total_seconds,
            self.delivered as f64 / self.total_seconds
        )?;
        writeln!(
            f,
            "publish→arrival: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.p50_ms, self.p99_ms, self.max_ms
        )?;
        match self.cpu_ms_per_event {
            Some(cpu) => write!(f, "cpu: {cpu:.2} ms per delivered event (whole process, receiver and publishers included)"),
            None => write!(f, "cpu: not measured on this platform"),
        }
    }
}

/// Why the run could not be made.
#[derive(Debug, thiserror::Error)]
#[error("load run: {0}")]
pub struct LoadError(String);

fn fail(error: impl std::fmt::Display) -> LoadError {
    LoadError(error.to_string())
}

/// Arrival times by event id, and a wake-up for each arrival.
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<String, Instant>>,
    notify: Notify,
}

async fn start_receiver(arrivals: Arc<Arrivals>) -> Result<String, LoadError> {
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let arrivals = Arc::clone(&arrivals);
        async move {
            let now = Instant::now();
            if let Some(id) = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned))
            {
                arrivals
                    .at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(id)
                    .or_insert(now);
                arrivals.notify.notify_waiters();
            }
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(fail)?;
    let url = format!("http://{}/load", listener.local_addr().map_err(fail)?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// CPU seconds this process has used, where the platform tells.
fn cpu_seconds() -> Option<f64> {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks (100 per second
    // on every Linux build that matters here).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit(')').next()?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Runs the load and reports.
pub async fn run(options: LoadOptions) -> Result<LoadReport, LoadError> {
    // Removed when the run ends.
    let data = tempfile::tempdir().map_err(fail)?;
    let mut config = Config::embedded(data.path());
    config.outbound_allow =
        crate::outbound::ssrf::AddressPolicy::parse_allow_list("127.0.0.0/8").map_err(fail)?;
    // The load comes from one tenant on purpose; its API limit is not what is measured.
    config.api_requests_per_minute = u32::MAX;
    let services = Services::connect(&config).await.map_err(fail)?;
    let (_, api_key) = ensure_dev_tenant(&services).await.map_err(fail)?;
    let server = DevServer::start(services, "127.0.0.1:0".parse().map_err(fail)?)
        .await
        .map_err(fail)?;
    let arrivals = Arc::new(Arrivals::default());
    let receiver = start_receiver(Arc::clone(&arrivals)).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.publishers)
        .build()
        .map_err(fail)?;
    let created = http
        .post(format!("{}/v1/endpoints", server.base_url))
        .bearer_auth(&api_key)
        // The receiver takes any rate: the run measures Hookrail, not the endpoint's limit.
        .json(&serde_json::json!({ "url": receiver, "event_types": ["load.*"], "rate_limit_per_minute": crate::domain::endpoint::MAX_RATE_LIMIT_PER_MINUTE }))
        .send()
        .await
        .map_err(fail)?;
    if !created.status().is_success() {
        return Err(LoadError(format!(
            "endpoint not created: {}",
            created.status()
        )));
    }

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut publishers = tokio::task::JoinSet::new();
    for _ in 0..options.publishers.max(1) {
        let (http, next, sent) = (http.clone(), Arc::clone(&next), Arc::clone(&sent));
        let (url, key, total) = (
            format!("{}/v1/events", server.base_url),
            api_key.clone(),
            options.events,
        );
        publishers.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return Ok::<(), LoadError>(());
                }
                let at = Instant::now();
                let answer: serde_json::Value = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&serde_json::json!({ "type": "load.test", "data": { "n": n } }))
                    .send()
                    .await
                    .map_err(fail)?
                    .json()
                    .await
                    .map_err(fail)?;
                let id = answer["id"]
                    .as_str()
                    .ok_or_else(|| LoadError(format!("publish refused: {answer}")))?;
                sent.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_owned(), at);
            }
        });
    }
    while let Some(done) = publishers.join_next().await {
        done.map_err(fail)??;
    }
    let publish_seconds = started.elapsed().as_secs_f64();

    let deadline = Instant::now() + options.deadline;
    loop {
        let notified = arrivals.notify.notified();
        let count = arrivals.at.lock().unwrap_or_else(|p| p.into_inner()).len();
        if count >= options.events || Instant::now() >= deadline {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
    }
    let cpu_after = cpu_seconds();
    let arrived = arrivals
        .at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let last_arrival = arrived.values().max().copied().unwrap_or(started);
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|arrival| arrival.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    server.shutdown().await;
    let delivered = latencies.len();
    Ok(LoadReport {
        published: sent.len(),
        delivered,
        publish_seconds,
        total_seconds: last_arrival.duration_since(started).as_secs_f64(),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or_default(),
        cpu_ms_per_event: match (cpu_before, cpu_after) {
            (Some(before), Some(after)) if delivered > 0 => {
                Some((after - before) * 1000.0 / delivered as f64)
            }
            _ => None,
        },
    })
}
