//! The operators' view across every tenant (`hookrail status`): failing endpoints and open
//! circuits, dead letters (jobs in the queues' dead-letter queues, and given-up deliveries per
//! tenant), and connections that need attention.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::circuit::Circuit;
use crate::domain::connection::ConnectionStatus;
use crate::queue::{JobQueue, QueueError};
use crate::repo::{endpoint_health, endpoints, integrations, probes, tenants, RepoError};
use crate::store::{Index, Query, StateStore};

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The state store failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// A queue could not be asked for its depth.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The most rows of each kind listed.
const MAX_ROWS: usize = 1000;
/// Dead deliveries are counted up to this many per tenant.
const MAX_COUNTED: usize = 10_000;

/// An endpoint in trouble.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointLine {
    /// The owner.
    pub tenant_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// Where it delivers.
    pub url: String,
    /// `closed`, `open` or `half_open`.
    pub circuit: &'static str,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// The last failure.
    pub last_error: Option<String>,
    /// Since when (RFC 3339).
    pub failing_since: Option<String>,
    /// Why Hookrail disabled it, if it did.
    pub disabled_reason: Option<String>,
}

/// A connection needing attention.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionLine {
    /// The owner.
    pub tenant_id: String,
    /// The integration.
    pub integration_id: String,
    /// Its vendor.
    pub vendor: String,
    /// Its name.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

/// The report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OperatorStatus {
    /// Endpoints whose last attempt failed, or that Hookrail disabled.
    pub failing_endpoints: Vec<EndpointLine>,
    /// How many endpoints have their circuit open (or half-open).
    pub open_circuits: usize,
    /// Jobs in the inbound queue's dead-letter queue.
    pub inbound_dead_jobs: u64,
    /// Jobs in the dispatch queue's dead-letter queue.
    pub dispatch_dead_jobs: u64,
    /// Given-up deliveries (dead letters) per tenant, tenants with none left out.
    pub dead_deliveries: Vec<(String, usize)>,
    /// Connections red at their last probe, or needing reconnecting.
    pub connections: Vec<ConnectionLine>,
}

impl OperatorStatus {
    /// Whether anything needs an operator.
    pub fn all_clear(&self) -> bool {
        self.failing_endpoints.is_empty()
            && self.inbound_dead_jobs == 0
            && self.dispatch_dead_jobs == 0
            && self.dead_deliveries.is_empty()
            && self.connections.is_empty()
    }

    /// The report as text for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Failing endpoints: {} ({} with an open circuit)\n",
            self.failing_endpoints.len(),
            self.open_circuits
        ));
        for line in &self.failing_endpoints {
            let state = match &line.disabled_reason {
                Some(reason) => format!("DISABLED: {reason}"),
                None => format!("circuit {}", line.circuit),
            };
            out.push_str(&format!(
                "  {} {} {}: {} failures in a row since {}, last {}; {}\n",
                line.tenant_id,
                line.endpoint_id,
                line.url,
                line.consecutive_failures,
                line.failing_since.as_deref().unwrap_or("?"),
                line.last_error.as_deref().unwrap_or("?"),
                state
            ));
        }
        out.push_str(&format!(
            "Dead letters: {} inbound jobs, {} dispatch jobs (hookrail queues redrive …)\n",
            self.inbound_dead_jobs, self.dispatch_dead_jobs
        ));
        for (tenant, count) in &self.dead_deliveries {
            out.push_str(&format!("  {tenant}: {count} dead deliveries\n"));
        }
        out.push_str(&format!(
            "Connections needing attention: {}\n",
            self.connections.len()
        ));
        for line in &self.connections {
            out.push_str(&format!(
                "  {} {} {} ({}): {}\n",
                line.tenant_id, line.integration_id, line.name, line.vendor, line.problem
            ));
        }
        if self.all_clear() {
            out.push_str("All clear.\n");
        }
        out
    }
}

/// Builds the report from the state store and the two dead-letter queues.
pub async fn report(
    store: &dyn StateStore,
    inbound_dead: &dyn JobQueue,
    dispatch_dead: &dyn JobQueue,
) -> Result<OperatorStatus, StatusError> {
    let mut status = OperatorStatus {
        inbound_dead_jobs: inbound_dead.depth().await?,
        dispatch_dead_jobs: dispatch_dead.depth().await?,
        ..OperatorStatus::default()
    };
    let troubled = endpoint_health::troubled(store).await?;
    status.open_circuits = troubled
        .iter()
        .filter(|record| record.health.circuit != Circuit::Closed)
        .count();
    for record in troubled.into_iter().take(MAX_ROWS) {
        let disabled_reason = endpoints::get_any(store, &record.endpoint_id)
            .await?
            .and_then(|(endpoint, _)| endpoint.disabled_reason);
        status.failing_endpoints.push(EndpointLine {
            tenant_id: record.tenant_id.to_string(),
            endpoint_id: record.endpoint_id.to_string(),
            url: record.url,
            circuit: record.health.circuit.name(),
            consecutive_failures: record.health.consecutive_failures,
            last_error: record.health.last_error,
            failing_since: record.health.failing_since.map(rfc3339),
            disabled_reason,
        });
    }
    for record in probes::red(store).await? {
        let problem = record
            .summary
            .last
            .map(|probe| format!("probe red: {}", probe.message))
            .unwrap_or_default();
        status.connections.push(ConnectionLine {
            tenant_id: record.tenant_id.to_string(),
            integration_id: record.integration_id.to_string(),
            vendor: record.vendor,
            name: record.name,
            problem,
        });
    }
    for tenant in tenants::all(store).await? {
        let dead = count(store, format!("tnt#{}#dead", tenant.id)).await?;
        if dead > 0 {
            status.dead_deliveries.push((tenant.id.to_string(), dead));
        }
        // Connections needing reconnecting that no probe has listed as red yet.
        for integration in integrations::all(store, &tenant.id).await? {
            let listed = status
                .connections
                .iter()
                .any(|line| line.integration_id == integration.id.as_str());
            if integration.connection.status == ConnectionStatus::NeedsReconnect && !listed {
                status.connections.push(ConnectionLine {
                    tenant_id: tenant.id.to_string(),
                    integration_id: integration.id.to_string(),
                    vendor: integration.vendor.clone(),
                    name: integration.name.clone(),
                    problem: format!(
                        "needs reconnecting: {}",
                        integration
                            .connection
                            .reason
                            .as_deref()
                            .unwrap_or("grant refused")
                    ),
                });
            }
        }
    }
    status.connections.truncate(MAX_ROWS);
    Ok(status)
}

/// How many items a gsi2 partition holds, up to [`MAX_COUNTED`].
async fn count(store: &dyn StateStore, partition: String) -> Result<usize, RepoError> {
    let mut query = Query::new(Index::Gsi2, partition);
    query.limit = 1000;
    let mut total = 0;
    loop {
        let page = store.query(query.clone()).await?;
        total += page.items.len();
        match page.next_cursor {
            Some(next) if total < MAX_COUNTED => query.cursor = Some(next),
            _ => return Ok(total),
        }
    }
}
