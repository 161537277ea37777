//! `GET /v1/integrations/status`: the tenant's connections at a glance — how many are connected,
//! disconnected or need attention, and for each its pip, last probe and 24-hour history.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::domain::connection::ConnectionStatus;
use crate::domain::health::{Pip, ProbeRecord};
use crate::repo::{integrations, probes};

/// The most connections one status answer covers.
const MAX_CONNECTIONS: usize = 1000;

/// Counts of the tenant's connections.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct StatusCounts {
    /// Connected: credentials in place.
    pub connected: usize,
    /// Not connected: no credentials yet, or the vendor refused them (needs reconnecting).
    pub disconnected: usize,
    /// Needing reconnecting, or red at their last probe.
    pub needs_attention: usize,
}

/// One probe as the status shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProbeView {
    /// RFC 3339.
    pub at: String,
    /// `green`, `amber` or `red`.
    pub pip: Pip,
    /// Whether the vendor accepted the credentials.
    pub ok: bool,
    /// The vendor's status.
    pub status: Option<u16>,
    /// How long it took.
    pub latency_ms: u64,
    /// What happened.
    pub message: String,
    /// Why it is amber, if it is for a reason other than slowness.
    pub warnings: Vec<String>,
}

impl From<&ProbeRecord> for ProbeView {
    fn from(probe: &ProbeRecord) -> Self {
        Self {
            at: rfc3339(probe.at),
            pip: probe.pip,
            ok: probe.ok,
            status: probe.status,
            latency_ms: probe.latency_ms,
            message: probe.message.clone(),
            warnings: probe.warnings.clone(),
        }
    }
}

/// One connection's health.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionHealth {
    /// The integration.
    pub integration_id: String,
    /// Its name.
    pub name: String,
    /// Its vendor.
    pub vendor: String,
    /// `connected`, `not_connected` or `needs_reconnect`.
    pub connection_status: ConnectionStatus,
    /// The last probe's pip; absent until the first scheduled probe (every 5 minutes).
    pub pip: Option<Pip>,
    /// Whether the pip changed several times within the last hour: likely the vendor's side.
    pub flapping: bool,
    /// RFC 3339: when the current red run began.
    pub failing_since: Option<String>,
    /// The last probe.
    pub last_probe: Option<ProbeView>,
    /// The probes of the last 24 hours, oldest first.
    pub history: Vec<ProbeView>,
}

/// The status board.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationsStatus {
    /// Counts.
    pub counts: StatusCounts,
    /// Every connection to a provider with an API, with its health.
    pub connections: Vec<ConnectionHealth>,
}

/// The health of every connection: counts, pips, last probes and 24-hour histories.
#[utoipa::path(
    get, path = "/v1/integrations/status", tag = "connections",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The status board", body = IntegrationsStatus),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
    )
)]
pub async fn integrations_status(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
) -> Result<Json<IntegrationsStatus>, ApiError> {
    let store = services.store.as_ref();
    let mut counts = StatusCounts::default();
    let mut connections = Vec::new();
    for integration in integrations::all(store, &tenant.0).await? {
        if services.catalog.get(&integration.vendor).is_none()
            || connections.len() >= MAX_CONNECTIONS
        {
            continue;
        }
        let summary = probes::summary(store, &integration.id).await?;
        let history = probes::history(store, &integration.id).await?;
        let summary = summary.map(|record| record.summary).unwrap_or_default();
        let pip = summary.last.as_ref().map(|last| last.pip);
        let status = integration.connection.status;
        match status {
            ConnectionStatus::Connected => counts.connected += 1,
            ConnectionStatus::NotConnected | ConnectionStatus::NeedsReconnect => {
                counts.disconnected += 1;
            }
        }
        if status == ConnectionStatus::NeedsReconnect || pip == Some(Pip::Red) {
            counts.needs_attention += 1;
        }
        connections.push(ConnectionHealth {
            integration_id: integration.id.to_string(),
            name: integration.name,
            vendor: integration.vendor,
            connection_status: status,
            pip,
            flapping: summary.is_flapping(),
            failing_since: summary.failing_since.map(rfc3339),
            last_probe: summary.last.as_ref().map(ProbeView::from),
            history: history.iter().map(ProbeView::from).collect(),
        });
    }
    Ok(Json(IntegrationsStatus {
        counts,
        connections,
    }))
}
