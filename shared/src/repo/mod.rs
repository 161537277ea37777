//! The domain's persistence, written once over the state port. Each module owns its key layout.
//!
//! | item | pk | sk | indexes |
//! |---|---|---|---|
//! | tenant | `tnt#{id}` | `tenant` | gsi1: `tenants` |
//! | API key | `key#{sha256}` | `key` | gsi1: `tnt#{id}#keys` |
//! | integration | `int#{id}` | `int` | gsi1: `tnt#{id}#int` |
//! | endpoint | `ep#{id}` | `ep` | gsi1: `tnt#{id}#ep` |
//! | endpoint health | `ep#{id}` | `health` | gsi1: `ep#troubled` (while failing) |
//! | window counter | `ratelimit#{tenant}#{window}`, `eprate#{endpoint}#{window}` | `count` | (TTL) |
//! | event state | `evt#{id}` | `state` | gsi1: `int#{id}#evt`, gsi2: `int#{id}#evt#{STATUS}` |
//! | event payload | `evt#{id}` | `body#{n}` | |
//! | dedupe marker | `dedupe#{integration}#{key}` | `dedupe` | |
//! | OAuth credentials | `int#{id}` | `cred` | gsi2: `cred#due` (refresh due time) |
//! | refresh lease | `int#{id}` | `lease#refresh` | (TTL) |
//! | consent in flight | `oauthstate#{state}` | `state` | (TTL 10 min) |
//! | default connection | `tnt#{id}` | `default#{vendor}` | |
//! | probe (24 h) | `int#{id}#probes` | `{at}` | (TTL) |
//! | connection health | `int#{id}` | `health` | gsi1: `int#red` (while red) |
//! | audit entry | `tnt#{id}#audit` | `{at}#{aud id}` | gsi1: `int#{id}#audit` |
//! | operator secret (embedded) | `opsecret#{name}` | `secret` | |

pub mod audit;
pub mod credentials;
pub mod deliveries;
pub mod endpoint_health;
pub mod endpoints;
pub mod event_types;
pub mod events;
pub mod integrations;
pub mod messages;
pub mod probes;
pub mod tenants;

use crate::store::{Item, StoreError};

/// What can go wrong in a repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Vault(#[from] crate::vault::VaultError),
    /// Someone else changed the record first; re-read and try again.
    #[error("the record changed concurrently")]
    Conflict,
}

/// Reads a typed record out of an item's document.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    serde_json::from_value(item.doc.clone())
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))
}

/// Writes a typed record as an item's document.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads a typed record and its version.
pub(crate) async fn get_versioned<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::StateStore,
    pk: &str,
    sk: &str,
) -> Result<Option<(T, u64)>, RepoError> {
    match store.get(pk, sk).await? {
        Some(item) => Ok(Some((decode(&item)?, item.version))),
        None => Ok(None),
    }
}

/// Writes `item` (already at its new version) if the stored one is still at `read_version`.
pub(crate) async fn replace(
    store: &dyn crate::store::StateStore,
    item: Item,
    read_version: u64,
) -> Result<(), RepoError> {
    use crate::store::{Condition, WriteOp};
    match store
        .write(vec![WriteOp::put(item, Condition::Version(read_version))])
        .await
    {
        Err(StoreError::ConditionFailed) => Err(RepoError::Conflict),
        other => Ok(other?),
    }
}

/// One page of typed records under an index partition, newest first.
pub(crate) async fn list_newest<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::StateStore,
    index: crate::store::Index,
    partition: String,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<T>, Option<String>), RepoError> {
    let mut query = crate::store::Query::new(index, partition);
    query.descending = true;
    query.limit = limit;
    query.cursor = cursor;
    let page = store.query(query).await?;
    let records = page.items.iter().map(decode).collect::<Result<_, _>>()?;
    Ok((records, page.next_cursor))
}

/// Every typed record under an index partition, newest first, page after page: for the jobs
/// that walk a whole partition (probe runs, operators' reports).
pub(crate) async fn list_all<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::StateStore,
    index: crate::store::Index,
    partition: String,
) -> Result<Vec<T>, RepoError> {
    let mut records = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = list_newest(store, index, partition.clone(), 100, cursor).await?;
        records.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return Ok(records),
        }
    }
}

/// The gsi2 sort key of a record due at `at`: the time first, zero-padded, so a partition of
/// such keys reads oldest first.
pub(crate) fn due_sort_key(at: i64, id: &impl std::fmt::Display) -> String {
    format!("{at:012}#{id}")
}

/// Records of a due-time gsi2 partition (keys from [`due_sort_key`]) due at or before
/// `before`, oldest first, at most `limit`.
pub(crate) async fn due_in<T: serde::de::DeserializeOwned>(
    store: &dyn crate::store::StateStore,
    partition: &str,
    before: i64,
    limit: usize,
) -> Result<Vec<T>, RepoError> {
    let mut query = crate::store::Query::new(crate::store::Index::Gsi2, partition);
    query.limit = limit;
    let page = store.query(query).await?;
    let mut due = Vec::new();
    for item in &page.items {
        let at = item
            .gsi2
            .as_ref()
            .and_then(|key| key.sk.split('#').next()?.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("{}: no due time", item.pk)))?;
        if at > before {
            break;
        }
        due.push(decode(item)?);
    }
    Ok(due)
}
