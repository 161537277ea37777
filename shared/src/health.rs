//! The scheduled health probe: every connection that has credentials is called with its
//! provider's cheapest request ([`crate::probe`]), several at a time, each bounded by a
//! timeout; the result joins a rolling 24-hour history, and a connection going red (or coming
//! back) is announced to its tenant. EventBridge runs it every 5 minutes; `hookrail dev` too.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::backend::Services;
use crate::domain::connection::{parse_date, ConnectionStatus, EXPIRY_WARNING_SECS};
use crate::domain::health::{Pip, ProbeRecord, Transition};
use crate::domain::integration::Integration;
use crate::outbound::publish::notify_tenant;
use crate::repo::probes::{self, SummaryRecord};
use crate::repo::{integrations, tenants, RepoError};

/// How often the probe runs.
pub const INTERVAL: Duration = Duration::from_secs(300);
/// Probes in flight at once.
pub const CONCURRENCY: usize = 16;
/// The longest one connection's probe may take, all its requests (and a token refresh)
/// included; each request has its own 30-second limit.
pub const PROBE_BUDGET: Duration = Duration::from_secs(45);
/// Who the probe acts as, in the audit log.
pub const ACTOR: &str = "system:health-probe";

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Connections probed.
    pub probed: usize,
    /// … that came out green.
    pub green: usize,
    /// … amber.
    pub amber: usize,
    /// … red.
    pub red: usize,
    /// Probes whose result could not be stored.
    pub errors: usize,
}

/// Whether the scheduled probe looks at this integration: its vendor has an API in the catalog
/// (every provider there has a probe), and credentials (or lost them and needs reconnecting).
pub fn is_probed(services: &Services, integration: &Integration) -> bool {
    integration.active
        && integration.connection.status != ConnectionStatus::NotConnected
        && services.catalog.get(&integration.vendor).is_some()
}

/// Probes every connection once.
pub async fn run_once(services: &Services) -> Result<RunReport, RepoError> {
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for tenant in tenants::all(services.store.as_ref()).await? {
        for integration in integrations::all(services.store.as_ref(), &tenant.id).await? {
            if !is_probed(services, &integration) {
                continue;
            }
            let services = services.clone();
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                probe_and_record(&services, &integration).await
            });
        }
    }
    let mut report = RunReport::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(pip)) => {
                report.probed += 1;
                match pip {
                    Pip::Green => report.green += 1,
                    Pip::Amber => report.amber += 1,
                    Pip::Red => report.red += 1,
                }
            }
            Ok(Err(_)) | Err(_) => report.errors += 1,
        }
    }
    tracing::info!(?report, "health probe run");
    Ok(report)
}

/// Probes one connection, stores the result and tells the tenant when it went red or came
/// back; returns the pip.
pub async fn probe_and_record(
    services: &Services,
    integration: &Integration,
) -> Result<Pip, RepoError> {
    let now = services.clock.now();
    let probe = probe_once(services, integration, now).await;
    let pip = probe.pip;
    let mut record = probes::summary(services.store.as_ref(), &integration.id)
        .await?
        .unwrap_or_else(|| SummaryRecord {
            tenant_id: integration.tenant_id.clone(),
            integration_id: integration.id.clone(),
            vendor: integration.vendor.clone(),
            name: integration.name.clone(),
            summary: Default::default(),
        });
    record.name.clone_from(&integration.name);
    let transition = record.summary.record(probe.clone());
    if let Err(error) = probes::record(services.store.as_ref(), &record, &probe).await {
        tracing::error!(integration_id = %integration.id, %error, "probe result not stored");
        return Err(error);
    }
    tracing::info!(
        integration_id = %integration.id, vendor = %integration.vendor, pip = ?pip,
        latency_ms = probe.latency_ms, status = ?probe.status, "connection probed"
    );
    let event_type = match transition {
        Transition::None => return Ok(pip),
        Transition::Failing => "integration.failing",
        Transition::Recovered => "integration.recovered",
    };
    let data = json!({
        "integration_id": integration.id,
        "vendor": integration.vendor,
        "name": integration.name,
        "message": probe.message,
        "status": probe.status,
        "latency_ms": probe.latency_ms,
        "flapping": record.summary.is_flapping(),
    });
    let key = format!("{event_type}:{}:{now}", integration.id);
    notify_tenant(services, &integration.tenant_id, event_type, data, key).await;
    Ok(pip)
}

/// One probe, whatever happens: a failure to probe is a red result that says why.
async fn probe_once(services: &Services, integration: &Integration, now: i64) -> ProbeRecord {
    let red = |message: String| ProbeRecord {
        at: now,
        pip: Pip::Red,
        ok: false,
        status: None,
        latency_ms: 0,
        message,
        warnings: Vec::new(),
    };
    if integration.connection.status == ConnectionStatus::NeedsReconnect {
        // Calling the vendor with a grant it refused would only be refused again.
        return red(format!(
            "needs reconnecting: {}",
            integration
                .connection
                .reason
                .as_deref()
                .unwrap_or("the vendor refused the grant")
        ));
    }
    let result = tokio::time::timeout(
        PROBE_BUDGET,
        crate::probe::probe(services, integration, ACTOR),
    )
    .await;
    let result = match result {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => return red(error.to_string()),
        Err(_) => {
            return red(format!(
                "no answer within {} seconds",
                PROBE_BUDGET.as_secs()
            ))
        }
    };
    let warnings = if result.ok {
        warnings(integration, now)
    } else {
        Vec::new()
    };
    ProbeRecord {
        at: now,
        pip: Pip::of(result.ok, result.latency_ms, &warnings),
        ok: result.ok,
        status: result.status,
        latency_ms: result.latency_ms,
        message: result.message,
        warnings,
    }
}

/// What makes a working connection amber besides slowness.
fn warnings(integration: &Integration, now: i64) -> Vec<String> {
    let connection = &integration.connection;
    let mut warnings = Vec::new();
    let missing = connection.missing_scopes();
    if !missing.is_empty() {
        warnings.push(format!("scopes not granted: {}", missing.join(", ")));
    }
    if let Some(date) = connection.rotate_by.as_deref() {
        if parse_date(date).is_some_and(|at| at - now < EXPIRY_WARNING_SECS) {
            warnings.push(format!("the credential is due for rotation by {date}"));
        }
    }
    warnings
}
