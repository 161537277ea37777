//! Each endpoint's delivery health ([`EndpointHealth`]): its own small item beside the
//! endpoint, so the dispatchers that update it never collide with the tenant editing the
//! endpoint. Endpoints in trouble (failing, tripped, or disabled for failing) are also indexed in one partition, for operators.

use serde::{Deserialize, Serialize};

use super::{decode, encode, RepoError};
use crate::domain::circuit::{Change, EndpointHealth};
use crate::domain::endpoint::Endpoint;
use crate::ids::{EndpointId, TenantId};
use crate::store::{Condition, Index, IndexKey, Item, StateStore, WriteOp};

/// The gsi1 partition of endpoints whose last attempt failed.
const TROUBLED: &str = "ep#troubled";
/// Writers that lose a race re-read and try again this often.
const ATTEMPTS: usize = 8;

/// An endpoint's health as stored, with whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// The owner.
    pub tenant_id: TenantId,
    /// The endpoint.
    pub endpoint_id: EndpointId,
    /// Where it delivers, for operators' listings.
    pub url: String,
    /// The health.
    #[serde(flatten)]
    pub health: EndpointHealth,
}

fn key(id: &EndpointId) -> (String, &'static str) {
    (format!("ep#{id}"), "health")
}

/// The item of a record; `pub(super)` so an endpoint's deletion can wipe it in the same write.
pub(super) fn delete_op(id: &EndpointId) -> WriteOp {
    let (pk, sk) = key(id);
    WriteOp::delete(pk, sk, Condition::None)
}

fn item(record: &HealthRecord, version: u64) -> Result<Item, RepoError> {
    let (pk, sk) = key(&record.endpoint_id);
    let mut item = Item::new(pk, sk, encode(record)?);
    if record.health.is_troubled() {
        item.gsi1 = Some(IndexKey::new(TROUBLED, record.endpoint_id.as_str()));
    }
    item.version = version;
    Ok(item)
}

/// An endpoint's health (healthy and unversioned when never recorded).
pub async fn get(
    store: &dyn StateStore,
    endpoint: &Endpoint,
) -> Result<(HealthRecord, Option<u64>), RepoError> {
    let (pk, sk) = key(&endpoint.id);
    Ok(match store.get(&pk, sk).await? {
        Some(item) => (decode(&item)?, Some(item.version)),
        None => (
            HealthRecord {
                tenant_id: endpoint.tenant_id.clone(),
                endpoint_id: endpoint.id.clone(),
                url: endpoint.url.clone(),
                health: EndpointHealth::default(),
            },
            None,
        ),
    })
}

/// Writes `record` if it is still at `version` (`None`: if none is stored);
/// [`RepoError::Conflict`] when another writer came first.
pub async fn put(
    store: &dyn StateStore,
    record: &HealthRecord,
    version: Option<u64>,
) -> Result<(), RepoError> {
    let (item, condition) = match version {
        Some(version) => (item(record, version + 1)?, Condition::Version(version)),
        None => (item(record, 1)?, Condition::NotExists),
    };
    match store.write(vec![WriteOp::put(item, condition)]).await {
        Err(crate::store::StoreError::ConditionFailed) => Err(RepoError::Conflict),
        other => Ok(other?),
    }
}

/// Applies `change` to the endpoint's health, re-reading and retrying when other dispatchers
/// write at the same time; returns what changed and the health it led to.
pub async fn update(
    store: &dyn StateStore,
    endpoint: &Endpoint,
    change: impl Fn(&mut EndpointHealth) -> Change,
) -> Result<(Change, EndpointHealth), RepoError> {
    for _ in 0..ATTEMPTS {
        let (mut record, version) = get(store, endpoint).await?;
        let before = record.health.clone();
        let happened = change(&mut record.health);
        if record.health == before {
            return Ok((happened, record.health));
        }
        record.url.clone_from(&endpoint.url);
        match put(store, &record, version).await {
            Ok(()) => return Ok((happened, record.health)),
            Err(RepoError::Conflict) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(RepoError::Conflict)
}

/// Forgets an endpoint's health: it starts afresh (re-enabled by its tenant).
pub async fn reset(store: &dyn StateStore, id: &EndpointId) -> Result<(), RepoError> {
    store.write(vec![delete_op(id)]).await?;
    Ok(())
}

/// Endpoints in trouble, across tenants.
pub async fn troubled(store: &dyn StateStore) -> Result<Vec<HealthRecord>, RepoError> {
    super::list_all(store, Index::Gsi1, TROUBLED.to_owned()).await
}
