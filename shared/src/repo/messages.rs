//! Events published to tenants' endpoints ("messages"), with idempotency keys.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{decode, encode, get_versioned, replace, RepoError};
use crate::ids::{MessageId, TenantId};
use crate::store::{Condition, Item, StateStore, StoreError, WriteOp};

/// How long messages are kept (seconds).
pub const MESSAGE_RETENTION_SECS: i64 = 30 * 86_400;
/// How long an idempotency key returns its first message (seconds).
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 24 * 3600;

/// One published event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The id, also the deliveries' `webhook-id` and `Idempotency-Key`.
    pub id: MessageId,
    /// The owner.
    pub tenant_id: TenantId,
    /// `{resource}.{action}`.
    pub event_type: String,
    /// The payload.
    pub data: serde_json::Value,
    /// Unix seconds.
    pub occurred_at: i64,
    /// The publisher's idempotency key, if it gave one.
    pub idempotency_key: Option<String>,
    /// Whether its deliveries have all been created.
    pub fanned_out: bool,
    /// A clearly tagged test event (`POST /v1/endpoints/{id}/test`).
    pub test: bool,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyMarker {
    message_id: MessageId,
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A new message was stored.
    New,
    /// The idempotency key was used within the window: this is the first message.
    Existing(MessageId),
}

fn pk(id: &MessageId) -> String {
    format!("msg#{id}")
}

fn idempotency_pk(tenant: &TenantId, key: &str) -> String {
    // Hashed: keys are the publisher's free text, and must not shape our keys.
    format!(
        "idem#{tenant}#{}",
        hex::encode(Sha256::digest(key.as_bytes()))
    )
}

/// The gsi2 partition of messages whose fan-out has not finished, by time.
const UNFANNED_PARTITION: &str = "msg#unfanned";

fn item(message: &Message, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(pk(&message.id), "msg", encode(message)?);
    if !message.fanned_out {
        item.gsi2 = Some(crate::store::IndexKey::new(
            UNFANNED_PARTITION,
            super::due_sort_key(message.occurred_at, &message.id),
        ));
    }
    item.expires_at = Some(message.occurred_at + MESSAGE_RETENTION_SECS);
    item.version = version;
    Ok(item)
}

/// Stores a new message, unless its idempotency key was used within the window.
pub async fn publish(
    store: &dyn StateStore,
    message: &Message,
    now: i64,
) -> Result<Published, RepoError> {
    let mut ops = vec![WriteOp::put(item(message, 1)?, Condition::NotExists)];
    if let Some(key) = &message.idempotency_key {
        let mut marker = Item::new(
            idempotency_pk(&message.tenant_id, key),
            "idem",
            encode(&IdempotencyMarker {
                message_id: message.id.clone(),
            })?,
        );
        marker.expires_at = Some(now + IDEMPOTENCY_WINDOW_SECS);
        ops.insert(
            0,
            WriteOp::put(marker, Condition::NotExistsOrExpired { now }),
        );
    }
    match store.write(ops).await {
        Ok(()) => Ok(Published::New),
        Err(StoreError::ConditionFailed) if message.idempotency_key.is_some() => {
            let key = message.idempotency_key.as_deref().unwrap_or_default();
            let marker = store
                .get(&idempotency_pk(&message.tenant_id, key), "idem")
                .await?
                .ok_or(RepoError::Conflict)?;
            let marker: IdempotencyMarker = decode(&marker)?;
            Ok(Published::Existing(marker.message_id))
        }
        Err(other) => Err(other.into()),
    }
}

/// A message and its version.
pub async fn get(
    store: &dyn StateStore,
    id: &MessageId,
) -> Result<Option<(Message, u64)>, RepoError> {
    get_versioned(store, &pk(id), "msg").await
}

/// Records that every delivery of the message exists.
pub async fn mark_fanned_out(
    store: &dyn StateStore,
    message: &Message,
    version: u64,
) -> Result<(), RepoError> {
    let mut done = message.clone();
    done.fanned_out = true;
    replace(store, item(&done, version + 1)?, version).await
}

/// Messages published at or before `before` whose fan-out has not finished, oldest first.
pub async fn unfanned(
    store: &dyn StateStore,
    before: i64,
    limit: usize,
) -> Result<Vec<Message>, RepoError> {
    super::due_in(store, UNFANNED_PARTITION, before, limit).await
}
