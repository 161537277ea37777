//! Deliveries — one message to one endpoint — and their attempts.
//!
//! The state item is small and changes on every attempt; each attempt is its own immutable
//! item. A pending delivery is always findable by when it is due (gsi2), so a job lost to a
//! crash between saving the state and queueing the retry is found again by the scheduler.

use serde::{Deserialize, Serialize};

use super::{decode, encode, get_versioned, list_newest, RepoError};
use crate::ids::{DeliveryId, EndpointId, MessageId, TenantId};
use crate::repo::messages::MESSAGE_RETENTION_SECS;
use crate::store::{Condition, Index, IndexKey, Item, Query, StateStore, StoreError, WriteOp};

/// The gsi2 partition of pending deliveries, sorted by due time.
const DUE_PARTITION: &str = "dlv#due";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Delivered (2xx).
    Succeeded,
    /// Gave up: a dead letter, see `dead_reason`.
    Failed,
}

/// One delivery's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The id.
    pub id: DeliveryId,
    /// The owner.
    pub tenant_id: TenantId,
    /// What is delivered.
    pub message_id: MessageId,
    /// Where to.
    pub endpoint_id: EndpointId,
    /// The message's type, for filtering lists.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The attempt a worker has claimed, and until when (unix seconds) its claim holds.
    pub claim: Option<(u32, i64)>,
    /// When the current run of failures began.
    pub failing_since: Option<i64>,
    /// When the next attempt is due (unix seconds), while pending.
    pub next_attempt_at: Option<i64>,
    /// The last answer's status code.
    pub last_status_code: Option<u16>,
    /// Why it was given up, when it was.
    pub dead_reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// Unix seconds.
    pub at: i64,
    /// The answer's status, if one came.
    pub status_code: Option<u16>,
    /// The first kilobyte of the answer's body.
    pub response_body: String,
    /// From sending to the end of the answer (or the failure).
    pub latency_ms: u64,
    /// `timeout`, `connect`, `dns`, `tls`, `blocked` — when no answer came.
    pub error_kind: Option<String>,
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<i64>,
}

impl Delivery {
    /// A new delivery of `message` to `endpoint`, due now.
    pub fn pending(
        tenant: &TenantId,
        message: &MessageId,
        endpoint: &EndpointId,
        event_type: &str,
        now: i64,
    ) -> Self {
        Self {
            id: DeliveryId::generate(),
            tenant_id: tenant.clone(),
            message_id: message.clone(),
            endpoint_id: endpoint.clone(),
            event_type: event_type.to_owned(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            claim: None,
            failing_since: None,
            next_attempt_at: Some(now),
            last_status_code: None,
            dead_reason: None,
            created_at: now,
            updated_at: now,
        }
    }
}

fn pk(id: &DeliveryId) -> String {
    format!("dlv#{id}")
}

fn fan_marker_pk(message: &MessageId, endpoint: &EndpointId) -> String {
    format!("fan#{message}#{endpoint}")
}

fn state_item(delivery: &Delivery, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(pk(&delivery.id), "state", encode(delivery)?);
    item.gsi1 = Some(IndexKey::new(
        format!("tnt#{}#dlv", delivery.tenant_id),
        delivery.id.as_str(),
    ));
    item.gsi2 = match (delivery.status, delivery.next_attempt_at) {
        (DeliveryStatus::Pending, Some(due)) => Some(IndexKey::new(
            DUE_PARTITION,
            super::due_sort_key(due, &delivery.id),
        )),
        // Parked while its endpoint is inactive: found again when it is re-enabled.
        (DeliveryStatus::Pending, None) => Some(IndexKey::new(
            format!("ep#{}#parked", delivery.endpoint_id),
            delivery.id.as_str(),
        )),
        (DeliveryStatus::Failed, _) => Some(IndexKey::new(
            format!("tnt#{}#dead", delivery.tenant_id),
            delivery.id.as_str(),
        )),
        _ => None,
    };
    item.expires_at = Some(delivery.created_at + MESSAGE_RETENTION_SECS);
    item.version = version;
    Ok(item)
}

#[derive(Serialize, Deserialize)]
struct FanMarker {
    delivery_id: DeliveryId,
}

/// Creates the delivery of a message to an endpoint, once: a second call for the same pair
/// returns the delivery the first one made.
pub async fn create_once(
    store: &dyn StateStore,
    delivery: &Delivery,
) -> Result<(DeliveryId, bool), RepoError> {
    let mut marker = Item::new(
        fan_marker_pk(&delivery.message_id, &delivery.endpoint_id),
        "fan",
        encode(&FanMarker {
            delivery_id: delivery.id.clone(),
        })?,
    );
    marker.expires_at = Some(delivery.created_at + MESSAGE_RETENTION_SECS);
    let ops = vec![
        WriteOp::put(marker, Condition::NotExists),
        WriteOp::put(state_item(delivery, 1)?, Condition::NotExists),
    ];
    match store.write(ops).await {
        Ok(()) => Ok((delivery.id.clone(), true)),
        Err(StoreError::ConditionFailed) => {
            let marker = store
                .get(
                    &fan_marker_pk(&delivery.message_id, &delivery.endpoint_id),
                    "fan",
                )
                .await?
                .ok_or(RepoError::Conflict)?;
            let marker: FanMarker = decode(&marker)?;
            Ok((marker.delivery_id, false))
        }
        Err(other) => Err(other.into()),
    }
}

/// A delivery and its version.
pub async fn get(
    store: &dyn StateStore,
    id: &DeliveryId,
) -> Result<Option<(Delivery, u64)>, RepoError> {
    get_versioned(store, &pk(id), "state").await
}

/// Saves a new state read at `version` (the claim of an attempt).
pub async fn save(
    store: &dyn StateStore,
    delivery: &Delivery,
    version: u64,
) -> Result<u64, RepoError> {
    super::replace(store, state_item(delivery, version + 1)?, version).await?;
    Ok(version + 1)
}

/// Records an attempt and the state it leads to, atomically.
pub async fn record_attempt(
    store: &dyn StateStore,
    delivery: &Delivery,
    version: u64,
    attempt: &Attempt,
) -> Result<(), RepoError> {
    let mut attempt_item = Item::new(
        pk(&delivery.id),
        format!("att#{:04}", attempt.number),
        encode(attempt)?,
    );
    attempt_item.expires_at = Some(delivery.created_at + MESSAGE_RETENTION_SECS);
    match store
        .write(vec![
            WriteOp::put(
                state_item(delivery, version + 1)?,
                Condition::Version(version),
            ),
            WriteOp::put(attempt_item, Condition::NotExists),
        ])
        .await
    {
        Err(StoreError::ConditionFailed) => Err(RepoError::Conflict),
        other => Ok(other?),
    }
}

/// Every attempt of a delivery, in order.
pub async fn attempts(store: &dyn StateStore, id: &DeliveryId) -> Result<Vec<Attempt>, RepoError> {
    let mut query = Query::new(Index::Primary, pk(id));
    query.sk_prefix = Some("att#".into());
    let mut attempts = Vec::new();
    loop {
        let page = store.query(query.clone()).await?;
        for item in &page.items {
            attempts.push(decode(item)?);
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(attempts),
        }
    }
}

/// Pending deliveries due at or before `now`, oldest first, at most `limit`.
pub async fn due(
    store: &dyn StateStore,
    now: i64,
    limit: usize,
) -> Result<Vec<Delivery>, RepoError> {
    super::due_in(store, DUE_PARTITION, now, limit).await
}

/// One page of a tenant's deliveries, newest first.
pub async fn list(
    store: &dyn StateStore,
    tenant: &TenantId,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Delivery>, Option<String>), RepoError> {
    list_newest(
        store,
        Index::Gsi1,
        format!("tnt#{tenant}#dlv"),
        limit,
        cursor,
    )
    .await
}

/// Stores a delivery made outside fan-out (a resend or a test), which needs no once-marker.
pub async fn insert(store: &dyn StateStore, delivery: &Delivery) -> Result<(), RepoError> {
    store
        .write(vec![WriteOp::put(
            state_item(delivery, 1)?,
            Condition::NotExists,
        )])
        .await?;
    Ok(())
}

/// One page of a tenant's dead letters (deliveries given up), newest first.
pub async fn list_dead(
    store: &dyn StateStore,
    tenant: &TenantId,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Delivery>, Option<String>), RepoError> {
    list_newest(
        store,
        Index::Gsi2,
        format!("tnt#{tenant}#dead"),
        limit,
        cursor,
    )
    .await
}

/// Deliveries parked because their endpoint was inactive, oldest first, at most `limit`.
pub async fn parked(
    store: &dyn StateStore,
    endpoint: &EndpointId,
    limit: usize,
) -> Result<Vec<(Delivery, u64)>, RepoError> {
    let mut query = Query::new(Index::Gsi2, format!("ep#{endpoint}#parked"));
    query.limit = limit;
    let page = store.query(query).await?;
    page.items
        .iter()
        .map(|item| Ok((decode(item)?, item.version)))
        .collect()
}
