//! The audit trail of connections: who did what to which credentials, when, with what result.
//! Entries are written once and never changed; they carry no secret.

use serde::{Deserialize, Serialize};

use super::{encode, list_newest, RepoError};
use crate::ids::{IntegrationId, TenantId};
use crate::store::{Condition, Index, IndexKey, Item, StateStore, WriteOp};

/// How long audit entries are kept.
pub const RETENTION_SECS: i64 = 400 * 24 * 3600;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A connection was created.
    Created,
    /// Its config or credentials changed.
    Updated,
    /// It was removed and its credentials wiped.
    Deleted,
    /// An OAuth consent was started.
    ConsentStarted,
    /// An OAuth consent completed (or failed).
    Connected,
    /// A token refresh.
    Refreshed,
    /// A connection test.
    Tested,
    /// An access token was handed out.
    TokenIssued,
    /// The vendor refused the grant; the connection needs a reconnect.
    NeedsReconnect,
    /// A credential's expiry or rotation date was announced.
    ExpiryWarned,
}

impl AuditKind {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::ConsentStarted => "consent_started",
            Self::Connected => "connected",
            Self::Refreshed => "refreshed",
            Self::Tested => "tested",
            Self::TokenIssued => "token_issued",
            Self::NeedsReconnect => "needs_reconnect",
            Self::ExpiryWarned => "expiry_warned",
        }
    }
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// `aud_…`, ordered by time.
    pub id: String,
    /// The owner.
    pub tenant_id: TenantId,
    /// The connection.
    pub integration_id: IntegrationId,
    /// What happened.
    pub kind: AuditKind,
    /// Who: `api_key:{hint}`, `oauth_callback`, `system:oauth-refresh`, ….
    pub actor: String,
    /// Whether it worked.
    pub ok: bool,
    /// What it did or why it failed, without secrets.
    pub detail: String,
    /// Unix seconds.
    pub at: i64,
}

impl AuditEntry {
    /// A new entry at `at`.
    pub fn new(
        tenant_id: &TenantId,
        integration_id: &IntegrationId,
        kind: AuditKind,
        actor: impl Into<String>,
        ok: bool,
        detail: impl Into<String>,
        at: i64,
    ) -> Self {
        Self {
            id: format!("aud_{}", ulid::Ulid::new()),
            tenant_id: tenant_id.clone(),
            integration_id: integration_id.clone(),
            kind,
            actor: actor.into(),
            ok,
            detail: detail.into(),
            at,
        }
    }
}

fn tenant_partition(tenant: &TenantId) -> String {
    format!("tnt#{tenant}#audit")
}

fn integration_partition(id: &IntegrationId) -> String {
    format!("int#{id}#audit")
}

fn sort_key(entry: &AuditEntry) -> String {
    format!("{:012}#{}", entry.at, entry.id)
}

/// Records an entry.
pub async fn record(store: &dyn StateStore, entry: &AuditEntry) -> Result<(), RepoError> {
    let mut item = Item::new(
        tenant_partition(&entry.tenant_id),
        sort_key(entry),
        encode(entry)?,
    );
    item.gsi1 = Some(IndexKey::new(
        integration_partition(&entry.integration_id),
        sort_key(entry),
    ));
    item.expires_at = Some(entry.at + RETENTION_SECS);
    store
        .write(vec![WriteOp::put(item, Condition::NotExists)])
        .await?;
    Ok(())
}

/// Records an entry, logging instead of failing: the action it describes has already
/// happened, and refusing to answer because its audit write failed would hide that.
pub async fn record_or_log(store: &dyn StateStore, entry: AuditEntry) {
    if let Err(error) = record(store, &entry).await {
        tracing::error!(
            %error,
            tenant_id = %entry.tenant_id,
            integration_id = %entry.integration_id,
            kind = entry.kind.as_str(),
            ok = entry.ok,
            detail = %entry.detail,
            "audit entry could not be stored"
        );
    }
}

/// One page of a tenant's audit entries (of one connection, when given), newest first.
pub async fn list(
    store: &dyn StateStore,
    tenant: &TenantId,
    integration: Option<&IntegrationId>,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<AuditEntry>, Option<String>), RepoError> {
    let (entries, next): (Vec<AuditEntry>, _) = match integration {
        Some(id) => {
            list_newest(store, Index::Gsi1, integration_partition(id), limit, cursor).await?
        }
        None => {
            list_newest(
                store,
                Index::Primary,
                tenant_partition(tenant),
                limit,
                cursor,
            )
            .await?
        }
    };
    // The integration index is keyed by id alone: keep only this tenant's entries.
    Ok((
        entries
            .into_iter()
            .filter(|e| &e.tenant_id == tenant)
            .collect(),
        next,
    ))
}
