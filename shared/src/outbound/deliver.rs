//! One delivery attempt: claim it, sign, POST, record what happened, decide what follows.
//!
//! The attempt is claimed with a conditional write before the HTTP call, so a duplicate job
//! for the same attempt (SQS delivers at least once; the scheduler re-queues what a crash
//! lost) cannot send it twice while the claim holds. The attempt and the state it leads to are
//! written in one transaction before the retry is queued; if queueing fails, the scheduler
//! finds the delivery by its due time.
//!
//! Before that, the endpoint's protections: an open circuit breaker or a spent per-minute rate
//! makes the delivery wait (due later, no attempt counted); after it, the attempt's result moves
//! the endpoint's health, which may open the circuit or disable the endpoint — and the tenant
//! hears about it.

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;

use crate::backend::Services;
use crate::clock::rfc3339;
use crate::domain::circuit::{Admission, Change, Circuit, EndpointHealth};
use crate::domain::retry::{Decision, Outcome, RetryPolicy};
use crate::ids::DeliveryId;
use crate::jobs::{Job, JobError};
use crate::outbound::publish::notify_tenant;
use crate::outbound::ssrf::{Blocked, TargetError};
use crate::queue::MAX_DELAY;
use crate::repo::deliveries::{self, Attempt, Delivery, DeliveryStatus};
use crate::repo::{endpoint_health, endpoints, messages, RepoError};

/// How much of an answer's body is kept.
const RESPONSE_PREVIEW_BYTES: usize = 1024;

/// What came back from the endpoint.
struct Response {
    outcome: Outcome,
    status_code: Option<u16>,
    body: String,
    error_kind: Option<&'static str>,
    latency_ms: u64,
}

/// Makes attempt number `attempt` of a delivery, unless it was made already.
pub async fn deliver(services: &Services, id: &DeliveryId, attempt: u32) -> Result<(), JobError> {
    let store = services.store.as_ref();
    let now = services.clock.now();
    let Some((mut delivery, version)) =
        deliveries::get(store, id).await.map_err(JobError::retry)?
    else {
        return Ok(());
    };
    if delivery.status != DeliveryStatus::Pending || delivery.attempts >= attempt {
        return Ok(());
    }
    if delivery
        .next_attempt_at
        .is_some_and(|due| due > now + EARLY_TOLERANCE_SECS)
    {
        // A duplicate of a job that was moved later (a wait, a retry); the delivery's own job
        // or the scheduler brings it back when it is due.
        return Ok(());
    }
    if delivery
        .claim
        .is_some_and(|(n, until)| n == attempt && until > now)
    {
        // Another worker holds this attempt. Kept on the queue, the job comes back after its
        // lease: by then the attempt is done, or its holder died and the claim has lapsed.
        return Err(JobError(format!(
            "attempt {attempt} of {id} is in flight elsewhere"
        )));
    }
    let Some((endpoint, _)) = endpoints::get_any(store, &delivery.endpoint_id)
        .await
        .map_err(JobError::retry)?
    else {
        return give_up(services, delivery, version, "the endpoint was deleted").await;
    };
    if !endpoint.active {
        // Kept pending but out of the due index: it resumes when the endpoint is re-enabled.
        delivery.next_attempt_at = None;
        delivery.updated_at = now;
        deliveries::save(store, &delivery, version)
            .await
            .map_err(JobError::retry)?;
        return Ok(());
    }
    let Some((message, _)) = messages::get(store, &delivery.message_id)
        .await
        .map_err(JobError::retry)?
    else {
        return give_up(services, delivery, version, "the message expired").await;
    };

    // The claim outlives the HTTP timeout plus recording, as the job lease does.
    let lease = i64::try_from(services.settings.job_lease.as_secs()).unwrap_or(i64::MAX);
    let (mut health, health_version) = endpoint_health::get(store, &endpoint)
        .await
        .map_err(JobError::retry)?;
    let admission = health.health.admit(now);
    if let Admission::WaitUntil(at) = admission {
        return wait(
            services,
            delivery,
            version,
            at,
            "the endpoint's circuit is open",
        )
        .await;
    }
    if let Some(at) = rate_slot(services, &endpoint, now).await {
        return wait(services, delivery, version, at, "the endpoint's rate limit").await;
    }
    if admission == Admission::Probe {
        health.health.start_probe(now.saturating_add(lease));
        match endpoint_health::put(store, &health, health_version).await {
            Ok(()) => {
                tracing::info!(endpoint_id = %endpoint.id, delivery_id = %delivery.id, "circuit half-open: probe delivery");
            }
            Err(RepoError::Conflict) => {
                // Another dispatcher took the probe; look again once it has had time to answer.
                return wait(
                    services,
                    delivery,
                    version,
                    now + 5,
                    "another probe is in flight",
                )
                .await;
            }
            Err(other) => return Err(JobError::retry(other)),
        }
    }
    delivery.claim = Some((attempt, now.saturating_add(lease)));
    let version = match deliveries::save(store, &delivery, version).await {
        Ok(version) => version,
        Err(RepoError::Conflict) => return Ok(()),
        Err(other) => return Err(JobError::retry(other)),
    };

    let body = if endpoint.channel.is_chat() {
        let links = super::chat::LinkBase::from_settings(&services.settings);
        super::chat::render(endpoint.channel, &message, links.as_ref())
    } else {
        let mut body = json!({
            "id": message.id,
            "type": message.event_type,
            "occurred_at": rfc3339(message.occurred_at),
            "tenant_id": message.tenant_id,
            "data": message.data,
            "delivery_attempt": attempt,
        });
        if message.test {
            body["test"] = json!(true);
        }
        body
    };
    let body = serde_json::to_vec(&body).map_err(JobError::retry)?;
    let secrets = endpoints::open_live_secrets(&services.sealer, &endpoint, now)
        .await
        .map_err(JobError::retry)?;
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let signed =
        crate::sign::sign(message.id.as_str(), now, &body, &secrets).map_err(JobError::retry)?;

    let mut request = services
        .http
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("idempotency-key", message.id.as_str())
        .body(body);
    for (name, value) in signed.pairs() {
        request = request.header(name, value);
    }
    let response = send(request).await;

    // The schedule matters only after a failure; a success, the common case, skips the read
    // of the tenant's settings.
    let policy = match response.outcome {
        Outcome::Success { .. } => RetryPolicy::default(),
        _ => retry_policy(services, &endpoint).await?,
    };
    let failing_since = delivery.failing_since.unwrap_or(now);
    let roll = rand::thread_rng().gen_range(-1.0..=1.0);
    let decision = policy.decide(response.outcome, attempt, failing_since, now, roll);
    delivery.attempts = attempt;
    delivery.claim = None;
    delivery.last_status_code = response.status_code;
    delivery.updated_at = services.clock.now();
    delivery.next_attempt_at = None;
    match &decision {
        Decision::Delivered => {
            delivery.status = DeliveryStatus::Succeeded;
            delivery.failing_since = None;
        }
        Decision::RetryAt(at) => {
            delivery.failing_since = Some(failing_since);
            delivery.next_attempt_at = Some(*at);
        }
        Decision::GiveUp(reason) => {
            delivery.status = DeliveryStatus::Failed;
            delivery.dead_reason = Some(reason.clone());
        }
        Decision::DisableEndpoint => {
            delivery.status = DeliveryStatus::Failed;
            delivery.dead_reason = Some("the endpoint answered 410 Gone and was disabled".into());
        }
    }
    let failure = failure_words(&response);
    let record = Attempt {
        number: attempt,
        at: now,
        status_code: response.status_code,
        response_body: response.body,
        latency_ms: response.latency_ms,
        error_kind: response.error_kind.map(str::to_owned),
        next_attempt_at: delivery.next_attempt_at,
    };
    match deliveries::record_attempt(store, &delivery, version, &record).await {
        Ok(()) => {}
        Err(RepoError::Conflict) => {
            tracing::warn!(delivery_id = %delivery.id, attempt, "attempt already recorded by another worker");
            return Ok(());
        }
        Err(other) => return Err(JobError::retry(other)),
    }
    tracing::info!(
        delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, attempt,
        status_code = ?response.status_code, error_kind = ?response.error_kind,
        latency_ms = response.latency_ms, decision = ?decision, "delivery attempt"
    );
    match decision {
        Decision::RetryAt(at) => queue_attempt(services, &delivery, at, now).await,
        Decision::DisableEndpoint => {
            disable_endpoint(services, &endpoint, "it answered 410 Gone").await;
        }
        Decision::Delivered | Decision::GiveUp(_) => {}
    }
    let window = policy.server_error_window_secs;
    let change = endpoint_health::update(store, &endpoint, |health| match &failure {
        None => health.record_success(),
        Some(words) => health.record_failure(now, words, window),
    })
    .await;
    match change {
        Ok((change, health)) => report_change(services, &endpoint, change, &health, now).await,
        Err(error) => {
            tracing::warn!(endpoint_id = %endpoint.id, %error, "endpoint health not recorded");
        }
    }
    Ok(())
}

/// A tolerance for jobs that arrive a little before their due time (clocks differ).
const EARLY_TOLERANCE_SECS: i64 = 2;

/// The failure in a few words (`503`, `timeout`), or `None` for a success.
fn failure_words(response: &Response) -> Option<String> {
    match response.outcome {
        Outcome::Success { .. } => None,
        _ => Some(match (response.status_code, response.error_kind) {
            (Some(status), _) => format!("HTTP {status}"),
            (None, Some(kind)) => kind.to_owned(),
            (None, None) => "failed".to_owned(),
        }),
    }
}

/// When the delivery may go under the endpoint's per-minute limit: `None` now, else the time
/// of a free slot. The count is shared by every dispatcher through the state store; when the
/// store cannot count, the delivery goes (the limit protects the receiver, a stall would hurt
/// every tenant).
async fn rate_slot(
    services: &Services,
    endpoint: &crate::domain::endpoint::Endpoint,
    now: i64,
) -> Option<i64> {
    let key = format!("eprate#{}", endpoint.id);
    match crate::limits::count(services.store.as_ref(), &key, endpoint.rate_limit(), now).await {
        Ok(counted) => counted.slot(),
        Err(error) => {
            tracing::warn!(endpoint_id = %endpoint.id, %error, "rate counter unavailable; delivery not held back");
            None
        }
    }
}

/// Moves a delivery's next attempt to `at` without making one: nothing is counted against it.
async fn wait(
    services: &Services,
    mut delivery: Delivery,
    version: u64,
    at: i64,
    why: &str,
) -> Result<(), JobError> {
    let now = services.clock.now();
    delivery.next_attempt_at = Some(at);
    delivery.updated_at = now;
    match deliveries::save(services.store.as_ref(), &delivery, version).await {
        Ok(_) => {}
        Err(RepoError::Conflict) => return Ok(()),
        Err(other) => return Err(JobError::retry(other)),
    }
    tracing::debug!(delivery_id = %delivery.id, endpoint_id = %delivery.endpoint_id, at, why, "delivery waits");
    queue_attempt(services, &delivery, at, now).await;
    Ok(())
}

/// Queues the delivery's next attempt to run at `at`, when that is within the queue's delay
/// limit; later ones, and any the queue refused, the scheduler finds by their due time.
async fn queue_attempt(services: &Services, delivery: &Delivery, at: i64, now: i64) {
    let delay = Duration::from_secs(u64::try_from(at - now).unwrap_or(0));
    if delay > MAX_DELAY {
        return;
    }
    let job = Job::Deliver {
        delivery_id: delivery.id.clone(),
        attempt: delivery.attempts + 1,
    };
    if let Err(error) = job.enqueue(services, delay).await {
        tracing::warn!(delivery_id = %delivery.id, error = %error, "next attempt not queued; the scheduler will find it");
    }
}

/// Tells the tenant (and the log) what an attempt did to its endpoint.
async fn report_change(
    services: &Services,
    endpoint: &crate::domain::endpoint::Endpoint,
    change: Change,
    health: &EndpointHealth,
    now: i64,
) {
    if change == Change::None {
        return;
    }
    let mut data = notice_data(endpoint);
    data["consecutive_failures"] = json!(health.consecutive_failures);
    data["last_error"] = json!(health.last_error);
    let event_type = match change {
        Change::None => return,
        Change::Opened => {
            if let Circuit::Open { until } = health.circuit {
                data["retry_at"] = json!(rfc3339(until));
            }
            tracing::warn!(endpoint_id = %endpoint.id, failures = health.consecutive_failures, "circuit opened");
            "endpoint.circuit_opened"
        }
        Change::Closed => {
            tracing::info!(endpoint_id = %endpoint.id, "circuit closed");
            "endpoint.circuit_closed"
        }
        Change::Disable => {
            let reason = format!(
                "it failed {} times in a row since {} (last: {})",
                health.consecutive_failures,
                health.failing_since.map(rfc3339).unwrap_or_default(),
                health.last_error.as_deref().unwrap_or("unknown"),
            );
            disable_endpoint(services, endpoint, &reason).await;
            return;
        }
    };
    let key = format!("{event_type}:{}:{now}", endpoint.id);
    notify_tenant(services, &endpoint.tenant_id, event_type, data, key).await;
}

/// What every notice about an endpoint says: which one, and where it delivers — a chat
/// channel's URL is its credential, so only its kind is named.
fn notice_data(endpoint: &crate::domain::endpoint::Endpoint) -> serde_json::Value {
    let url = if endpoint.channel.is_chat() {
        format!("{:?} channel", endpoint.channel).to_lowercase()
    } else {
        endpoint.url.clone()
    };
    json!({
        "endpoint_id": endpoint.id,
        "url": url,
        "description": endpoint.description,
    })
}

/// The endpoint's own schedule, else its tenant's, else the default.
async fn retry_policy(
    services: &Services,
    endpoint: &crate::domain::endpoint::Endpoint,
) -> Result<RetryPolicy, JobError> {
    let schedule = match endpoint.retry_schedule.clone() {
        Some(schedule) => Some(schedule),
        None => {
            crate::repo::tenants::settings(services.store.as_ref(), &endpoint.tenant_id)
                .await
                .map_err(JobError::retry)?
                .retry_schedule
        }
    };
    Ok(schedule.map_or_else(RetryPolicy::default, RetryPolicy::with_schedule))
}

async fn send(request: reqwest::RequestBuilder) -> Response {
    let started = Instant::now();
    let elapsed =
        |started: Instant| u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match request.send().await {
        Ok(mut answer) => {
            let status = answer.status().as_u16();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let preview = read_prefix(&mut answer, RESPONSE_PREVIEW_BYTES).await;
            Response {
                outcome: Outcome::from_status(status, retry_after),
                status_code: Some(status),
                body: crate::domain::event::preview(&preview),
                error_kind: None,
                latency_ms: elapsed(started),
            }
        }
        Err(error) => {
            let (outcome, kind) = classify(&error);
            Response {
                outcome,
                status_code: None,
                body: String::new(),
                error_kind: Some(kind),
                latency_ms: elapsed(started),
            }
        }
    }
}

/// The first `limit` bytes of an answer's body: only that much is kept, so only that much is
/// read (an endpoint or vendor answering megabytes costs nothing more).
pub(crate) async fn read_prefix(answer: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut prefix = Vec::new();
    while prefix.len() < limit {
        match answer.chunk().await {
            Ok(Some(chunk)) => prefix.extend_from_slice(&chunk),
            _ => break,
        }
    }
    prefix.truncate(limit);
    prefix
}

/// A failed request in words, its kind first, without the URL (which may carry tokens).
pub(crate) fn describe_error(error: reqwest::Error) -> String {
    let (_, kind) = classify(&error);
    let error = error.without_url();
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Names a failed request by what the tenant can do about it.
fn classify(error: &reqwest::Error) -> (Outcome, &'static str) {
    let mut chain = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        chain.push(cause);
        source = cause.source();
    }
    // A refusal by the SSRF guard surfaces inside a "dns error", so it is looked for first.
    let blocked = chain.iter().any(|cause| {
        cause.downcast_ref::<Blocked>().is_some()
            || matches!(
                cause.downcast_ref::<TargetError>(),
                Some(TargetError::Blocked(_))
            )
    });
    if blocked {
        return (Outcome::Blocked, "blocked");
    }
    if error.is_timeout() {
        return (Outcome::Timeout, "timeout");
    }
    let text = chain
        .iter()
        .map(|cause| cause.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    if text.contains("certificate") || text.contains("tls") {
        (Outcome::Unreachable, "tls")
    } else if text.contains("dns") || text.contains("failed to lookup") {
        (Outcome::Unreachable, "dns")
    } else {
        (Outcome::Unreachable, "connect")
    }
}

async fn give_up(
    services: &Services,
    mut delivery: Delivery,
    version: u64,
    reason: &str,
) -> Result<(), JobError> {
    tracing::warn!(delivery_id = %delivery.id, reason, "delivery given up");
    delivery.status = DeliveryStatus::Failed;
    delivery.dead_reason = Some(reason.to_owned());
    delivery.next_attempt_at = None;
    delivery.updated_at = services.clock.now();
    match deliveries::save(services.store.as_ref(), &delivery, version).await {
        Ok(_) | Err(RepoError::Conflict) => Ok(()),
        Err(other) => Err(JobError::retry(other)),
    }
}

/// Disables an endpoint Hookrail gave up on, keeps why, and tells the tenant. Its pending
/// deliveries are kept (parked on their next turn) and resume when the tenant re-enables it.
async fn disable_endpoint(
    services: &Services,
    endpoint: &crate::domain::endpoint::Endpoint,
    reason: &str,
) {
    let store = services.store.as_ref();
    let now = services.clock.now();
    for _ in 0..5 {
        let current = match endpoints::get_any(store, &endpoint.id).await {
            Ok(Some(current)) => current,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(endpoint_id = %endpoint.id, %error, reason, "endpoint to disable could not be read");
                return;
            }
        };
        let (mut current, version) = current;
        if !current.active {
            return;
        }
        current.active = false;
        current.disabled_reason = Some(reason.to_owned());
        current.updated_at = now;
        match endpoints::update(store, &current, version).await {
            Ok(()) => {
                tracing::warn!(endpoint_id = %endpoint.id, reason, "endpoint disabled");
                let mut data = notice_data(endpoint);
                data["reason"] = json!(reason);
                let key = format!("endpoint.disabled:{}:{now}", endpoint.id);
                notify_tenant(
                    services,
                    &endpoint.tenant_id,
                    "endpoint.disabled",
                    data,
                    key,
                )
                .await;
                return;
            }
            Err(RepoError::Conflict) => continue,
            Err(error) => {
                tracing::error!(endpoint_id = %endpoint.id, %error, reason, "endpoint could not be disabled");
                return;
            }
        }
    }
}
