//! `/v1/audit`: who did what to which connection's credentials.

use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use super::pagination::Paged;
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::ids::IntegrationId;
use crate::repo::audit::{self, AuditEntry, AuditKind};

/// Filters and paging of the audit trail.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this connection's entries.
    pub integration_id: Option<String>,
    /// Only entries of this kind.
    pub kind: Option<AuditKind>,
    /// Items per page, 1 to 100 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    /// `aud_…`.
    pub id: String,
    /// The connection.
    pub integration_id: String,
    /// What happened.
    pub kind: AuditKind,
    /// Who: `api_key:{hint}`, `oauth_callback`, `system:oauth-refresh`.
    pub actor: String,
    /// Whether it worked.
    pub ok: bool,
    /// What it did or why it failed.
    pub detail: String,
    /// RFC 3339.
    pub at: String,
}

impl From<AuditEntry> for AuditView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            integration_id: entry.integration_id.to_string(),
            kind: entry.kind,
            actor: entry.actor,
            ok: entry.ok,
            detail: entry.detail,
            at: rfc3339(entry.at),
        }
    }
}

/// List audit entries, newest first. With `kind`, a page may hold fewer than `limit` entries;
/// follow `next_cursor`.
#[utoipa::path(
    get, path = "/v1/audit", tag = "connections",
    params(AuditParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = Paged<AuditView>),
        (status = 400, description = "Invalid filter", body = ErrorBody),
    )
)]
pub async fn list_audit(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Query(params): Query<AuditParams>,
) -> Result<Json<Paged<AuditView>>, ApiError> {
    let limit = super::pagination::PageParams {
        limit: params.limit,
        cursor: None,
    }
    .limit()?;
    let integration = params
        .integration_id
        .as_deref()
        .map(IntegrationId::parse)
        .transpose()
        .map_err(|_| ApiError::invalid("integration_id", "not an integration id"))?;
    let (entries, next_cursor) = audit::list(
        services.store.as_ref(),
        &tenant.0,
        integration.as_ref(),
        limit,
        params.cursor,
    )
    .await?;
    Ok(Json(Paged {
        data: entries
            .into_iter()
            .filter(|e| params.kind.is_none_or(|kind| e.kind == kind))
            .map(AuditView::from)
            .collect(),
        next_cursor,
    }))
}
