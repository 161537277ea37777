//! Connections' probe history (one item per probe, gone after 24 hours) and health summary (one
//! item per connection; those showing red are indexed in one partition, for operators).

use serde::{Deserialize, Serialize};

use super::{decode, encode, RepoError};
use crate::domain::health::{HealthSummary, Pip, ProbeRecord, HISTORY_SECS};
use crate::ids::{IntegrationId, TenantId};
use crate::store::{Condition, Index, IndexKey, Item, Query, StateStore, WriteOp};

/// The gsi1 partition of connections whose last probe was red.
const RED: &str = "int#red";
/// The most probes a day holds (every 5 minutes), with room for manual ones.
const DAY_OF_PROBES: usize = 400;

/// A connection's summary as stored, with whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRecord {
    /// The owner.
    pub tenant_id: TenantId,
    /// The connection.
    pub integration_id: IntegrationId,
    /// Its vendor.
    pub vendor: String,
    /// Its name.
    pub name: String,
    /// The summary.
    #[serde(flatten)]
    pub summary: HealthSummary,
}

fn history_pk(id: &IntegrationId) -> String {
    format!("int#{id}#probes")
}

fn summary_key(id: &IntegrationId) -> (String, &'static str) {
    (format!("int#{id}"), "health")
}

/// Deletes the summary; the history expires by itself. For an integration's deletion.
pub(super) fn wipe_op(id: &IntegrationId) -> WriteOp {
    let (pk, sk) = summary_key(id);
    WriteOp::delete(pk, sk, Condition::None)
}

/// A connection's summary, if it was ever probed.
pub async fn summary(
    store: &dyn StateStore,
    id: &IntegrationId,
) -> Result<Option<SummaryRecord>, RepoError> {
    let (pk, sk) = summary_key(id);
    Ok(match store.get(&pk, sk).await? {
        Some(item) => Some(decode(&item)?),
        None => None,
    })
}

/// Stores a probe in the history and the summary it led to, together.
pub async fn record(
    store: &dyn StateStore,
    record: &SummaryRecord,
    probe: &ProbeRecord,
) -> Result<(), RepoError> {
    let mut entry = Item::new(
        history_pk(&record.integration_id),
        format!("{:012}", probe.at),
        encode(probe)?,
    );
    entry.expires_at = Some(probe.at + HISTORY_SECS);
    let (pk, sk) = summary_key(&record.integration_id);
    let mut summary = Item::new(pk, sk, encode(record)?);
    if record
        .summary
        .last
        .as_ref()
        .is_some_and(|last| last.pip == Pip::Red)
    {
        summary.gsi1 = Some(IndexKey::new(RED, record.integration_id.as_str()));
    }
    store
        .write(vec![
            WriteOp::put(entry, Condition::None),
            WriteOp::put(summary, Condition::None),
        ])
        .await?;
    Ok(())
}

/// The probes of the last 24 hours, oldest first.
pub async fn history(
    store: &dyn StateStore,
    id: &IntegrationId,
) -> Result<Vec<ProbeRecord>, RepoError> {
    let mut query = Query::new(Index::Primary, history_pk(id));
    query.descending = true;
    query.limit = DAY_OF_PROBES;
    let page = store.query(query).await?;
    let mut probes: Vec<ProbeRecord> = page.items.iter().map(decode).collect::<Result<_, _>>()?;
    probes.reverse();
    Ok(probes)
}

/// Connections whose last probe was red, across tenants.
pub async fn red(store: &dyn StateStore) -> Result<Vec<SummaryRecord>, RepoError> {
    super::list_all(store, Index::Gsi1, RED.to_owned()).await
}
