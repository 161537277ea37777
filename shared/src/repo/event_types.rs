//! The catalog of event types a tenant can subscribe to: Hookrail's own, the ones seen
//! published (inbound `{vendor}.{event}` included), and the ones the tenant registered.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::{decode, encode, RepoError};
use crate::ids::TenantId;
use crate::store::{Condition, Index, Item, Query, StateStore, StoreError, WriteOp};

/// Where a type in the catalog comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TypeSource {
    /// Hookrail's own events.
    BuiltIn,
    /// Seen published (by the tenant, or from a vendor).
    Seen,
    /// Registered by the tenant.
    Registered,
}

/// One type in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventType {
    /// The type, e.g. `invoice.paid`.
    pub name: String,
    /// Where it comes from.
    pub source: TypeSource,
    /// What it means, when known.
    pub description: String,
}

/// Hookrail's own event types.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "hookrail.test",
        "A test event sent with POST /v1/endpoints/{id}/test.",
    ),
    (
        "endpoint.disabled",
        "Hookrail disabled an endpoint (410 Gone, 100 failures in a row, or failing through its whole retry window); its pending deliveries wait for it to be re-enabled.",
    ),
    (
        "endpoint.circuit_opened",
        "An endpoint failed 5 times in a row: deliveries to it wait while single probe deliveries test it.",
    ),
    (
        "endpoint.circuit_closed",
        "An endpoint whose circuit was open accepted a probe delivery; waiting deliveries resume.",
    ),
    (
        "integration.failing",
        "A connection's scheduled health probe failed (red), after passing before.",
    ),
    (
        "integration.recovered",
        "A connection whose health probe was failing passes it again.",
    ),
    (
        "integration.needs_reconnect",
        "A vendor refused a connection's grant (or its refresh kept failing); a user must connect again.",
    ),
    (
        "integration.credential_expiring",
        "A connection's refresh token or API key expires (or is due for rotation) within 30 days.",
    ),
];

fn partition(tenant: &TenantId) -> String {
    format!("tnt#{tenant}#types")
}

/// Types already recorded by this instance, so a busy type costs one write per instance,
/// not one per event.
fn recorded() -> &'static Mutex<HashSet<String>> {
    static RECORDED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    RECORDED.get_or_init(Mutex::default)
}

/// Records `name` as seen for `tenant`, once.
pub async fn record_seen(
    store: &dyn StateStore,
    tenant: &TenantId,
    name: &str,
) -> Result<(), RepoError> {
    let key = format!("{tenant}#{name}");
    if recorded()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(&key)
    {
        return Ok(());
    }
    let entry = EventType {
        name: name.to_owned(),
        source: TypeSource::Seen,
        description: String::new(),
    };
    match store
        .write(vec![WriteOp::put(
            Item::new(partition(tenant), name, encode(&entry)?),
            Condition::NotExists,
        )])
        .await
    {
        Ok(()) | Err(StoreError::ConditionFailed) => {}
        Err(other) => return Err(other.into()),
    }
    let mut recorded = recorded().lock().unwrap_or_else(|p| p.into_inner());
    if recorded.len() > 100_000 {
        recorded.clear();
    }
    recorded.insert(key);
    Ok(())
}

/// Registers (or describes again) a type for `tenant`.
pub async fn register(
    store: &dyn StateStore,
    tenant: &TenantId,
    name: &str,
    description: &str,
) -> Result<EventType, RepoError> {
    let entry = EventType {
        name: name.to_owned(),
        source: TypeSource::Registered,
        description: description.to_owned(),
    };
    store
        .write(vec![WriteOp::put(
            Item::new(partition(tenant), name, encode(&entry)?),
            Condition::None,
        )])
        .await?;
    Ok(entry)
}

/// The whole catalog for `tenant`, built-in types first, then by name.
pub async fn catalog(
    store: &dyn StateStore,
    tenant: &TenantId,
) -> Result<Vec<EventType>, RepoError> {
    let mut types: Vec<EventType> = BUILT_IN
        .iter()
        .map(|(name, description)| EventType {
            name: (*name).to_owned(),
            source: TypeSource::BuiltIn,
            description: (*description).to_owned(),
        })
        .collect();
    let mut query = Query::new(Index::Primary, partition(tenant));
    loop {
        let page = store.query(query.clone()).await?;
        for item in &page.items {
            types.push(decode(item)?);
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(types),
        }
    }
}
