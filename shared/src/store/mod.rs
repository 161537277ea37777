//! The state port: items under a partition key and a sort key, shaped like DynamoDB so that the
//! DynamoDB adapter is direct and the embedded (SQLite) adapter mirrors it.
//!
//! Every item carries a `version` for optimistic concurrency, an optional `expires_at` (TTL, in
//! unix seconds) and up to two secondary index keys. Expired items are invisible to reads even
//! before the backend deletes them, because DynamoDB's TTL deletion is lazy (up to days late).

pub mod dynamodb;
pub mod sqlite;

use async_trait::async_trait;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A secondary index key pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKey {
    /// The index partition key.
    pub pk: String,
    /// The index sort key.
    pub sk: String,
}

impl IndexKey {
    /// Builds an index key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// One stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The item's attributes as a JSON document.
    pub doc: serde_json::Value,
    /// Opaque bytes kept beside the document (payload chunks).
    pub blob: Option<Vec<u8>>,
    /// Unix seconds after which the item no longer exists for readers.
    pub expires_at: Option<i64>,
    /// Key in the first secondary index.
    pub gsi1: Option<IndexKey>,
    /// Key in the second secondary index.
    pub gsi2: Option<IndexKey>,
    /// Optimistic-concurrency version: writers bump it and condition on the one they read.
    pub version: u64,
}

impl Item {
    /// A new item at version 1 with no blob, TTL or index keys.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>, doc: serde_json::Value) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
            doc,
            blob: None,
            expires_at: None,
            gsi1: None,
            gsi2: None,
            version: 1,
        }
    }

    /// Whether the item has expired at `now` (unix seconds).
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// Which key a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Index {
    /// The table's own pk/sk.
    Primary,
    /// The first secondary index.
    Gsi1,
    /// The second secondary index.
    Gsi2,
}

/// A condition a write must meet, checked atomically with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Write unconditionally.
    None,
    /// Only if no item has this key.
    NotExists,
    /// Only if an item has this key.
    Exists,
    /// Only if the stored item is at exactly this version.
    Version(u64),
    /// Only if no live item has this key (an expired one may be overwritten): leases and dedupe
    /// markers with a window.
    NotExistsOrExpired {
        /// The writer's clock, unix seconds.
        now: i64,
    },
}

/// One write inside an atomic batch.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Put a whole item.
    Put {
        /// The item to write.
        item: Item,
        /// What must hold for the write to happen.
        condition: Condition,
    },
    /// Delete one item.
    Delete {
        /// Partition key.
        pk: String,
        /// Sort key.
        sk: String,
        /// What must hold for the delete to happen.
        condition: Condition,
    },
}

impl WriteOp {
    /// A put under a condition.
    pub fn put(item: Item, condition: Condition) -> Self {
        Self::Put { item, condition }
    }

    /// A delete under a condition.
    pub fn delete(pk: impl Into<String>, sk: impl Into<String>, condition: Condition) -> Self {
        Self::Delete {
            pk: pk.into(),
            sk: sk.into(),
            condition,
        }
    }
}

/// A key-prefix query with a cursor.
#[derive(Debug, Clone)]
pub struct Query {
    /// Which key to read.
    pub index: Index,
    /// The partition key (of the chosen index).
    pub pk: String,
    /// Only sort keys starting with this.
    pub sk_prefix: Option<String>,
    /// Newest (largest sort key) first.
    pub descending: bool,
    /// At most this many items.
    pub limit: usize,
    /// Where the previous page stopped.
    pub cursor: Option<String>,
}

impl Query {
    /// A query of one partition, ascending, 100 items a page.
    pub fn new(index: Index, pk: impl Into<String>) -> Self {
        Self {
            index,
            pk: pk.into(),
            sk_prefix: None,
            descending: false,
            limit: 100,
            cursor: None,
        }
    }
}

/// One page of query results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The items, in the query's order.
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next_cursor: Option<String>,
}

/// What can go wrong talking to the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold; nothing in the batch was written.
    #[error("a write condition did not hold")]
    ConditionFailed,
    /// The cursor was not produced by this query.
    #[error("the pagination cursor is not valid for this query")]
    InvalidCursor,
    /// The backend could not be reached or refused the call; worth retrying.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored item is corrupt: {0}")]
    Corrupt(String),
}

/// The state port.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Reads one live item.
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Applies all writes atomically, or none when any condition fails.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;
    /// Reads one page of live items under a partition key.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
    /// Atomically adds `by` to the counter item at (`pk`, `sk`), creating it at zero, and
    /// returns the new count. The item expires at `expires_at`; counters that must restart
    /// (rate-limit windows) use a new key per window rather than a reset.
    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError>;
}

/// Where a page stopped: the last item's keys, encoded opaquely for clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CursorKey {
    pub pk: String,
    pub sk: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub index: Option<IndexKey>,
}

impl CursorKey {
    pub(crate) fn after(item: &Item, index: Index) -> Self {
        let index = match index {
            Index::Primary => None,
            Index::Gsi1 => item.gsi1.clone(),
            Index::Gsi2 => item.gsi2.clone(),
        };
        Self {
            pk: item.pk.clone(),
            sk: item.sk.clone(),
            index,
        }
    }

    pub(crate) fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a cursor and checks it belongs to `query`'s partition, so a client cannot page
    /// into a partition (another tenant's) that its query did not name.
    pub(crate) fn decode(cursor: &str, query: &Query) -> Result<Self, StoreError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| StoreError::InvalidCursor)?;
        let key: Self = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
        let partition = match (query.index, &key.index) {
            (Index::Primary, None) => &key.pk,
            (Index::Gsi1 | Index::Gsi2, Some(index)) => &index.pk,
            _ => return Err(StoreError::InvalidCursor),
        };
        if partition != &query.pk {
            return Err(StoreError::InvalidCursor);
        }
        Ok(key)
    }

    /// The sort key the query orders by.
    pub(crate) fn order_key(&self) -> &str {
        self.index.as_ref().map_or(&self.sk, |index| &index.sk)
    }
}

/// The exclusive upper bound of every string starting with `prefix`.
pub(crate) fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

#[cfg(test)]
pub(crate) mod contract;
