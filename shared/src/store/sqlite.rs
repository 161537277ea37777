//! The embedded state store: the `items` table of the embedded database.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::{
    prefix_upper_bound, Condition, CursorKey, Index, IndexKey, Item, Page, Query, StateStore,
    StoreError, WriteOp,
};
use crate::clock::unix_now;
use crate::embedded::{EmbeddedDb, EmbeddedDbError};

/// The state port over the embedded database.
#[derive(Clone)]
pub struct SqliteStore {
    db: EmbeddedDb,
}

impl SqliteStore {
    /// A store over an open embedded database.
    pub fn new(db: EmbeddedDb) -> Self {
        Self { db }
    }

    /// Deletes up to `max` items that expired before `now`, as DynamoDB's TTL does on AWS;
    /// returns how many went. Bounded, so one sweep never holds the writer for long.
    pub async fn purge_expired(&self, now: i64, max: usize) -> Result<usize, StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                let purged = conn
                    .prepare_cached(
                        "DELETE FROM items WHERE (pk, sk) IN (SELECT pk, sk FROM items
                         WHERE ttl IS NOT NULL AND ttl <= ?1 LIMIT ?2)",
                    )?
                    .execute(params![now, max])?;
                Ok(purged)
            })
            .await
    }
}

impl From<EmbeddedDbError> for StoreError {
    fn from(error: EmbeddedDbError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

const COLUMNS: &str = "pk, sk, doc, blob, ttl, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk";

fn index_key(pk: Option<String>, sk: Option<String>) -> Option<IndexKey> {
    match (pk, sk) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    }
}

fn read_item(row: &Row<'_>) -> rusqlite::Result<(Item, String)> {
    let doc: String = row.get(2)?;
    let version: i64 = row.get(5)?;
    let item = Item {
        pk: row.get(0)?,
        sk: row.get(1)?,
        doc: serde_json::Value::Null,
        blob: row.get(3)?,
        expires_at: row.get(4)?,
        version: u64::try_from(version).unwrap_or_default(),
        gsi1: index_key(row.get(6)?, row.get(7)?),
        gsi2: index_key(row.get(8)?, row.get(9)?),
    };
    Ok((item, doc))
}

fn parse_doc((mut item, doc): (Item, String)) -> Result<Item, StoreError> {
    item.doc = serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(item)
}

/// Whether `condition` holds given the stored item (live or expired) under the key.
fn condition_holds(condition: Condition, stored: Option<(u64, Option<i64>)>) -> bool {
    match condition {
        Condition::None => true,
        Condition::NotExists => stored.is_none(),
        Condition::Exists => stored.is_some(),
        Condition::Version(expected) => stored.is_some_and(|(version, _)| version == expected),
        Condition::NotExistsOrExpired { now } => match stored {
            None => true,
            Some((_, expires_at)) => expires_at.is_some_and(|at| at <= now),
        },
    }
}

fn stored_state(
    tx: &Transaction<'_>,
    pk: &str,
    sk: &str,
) -> rusqlite::Result<Option<(u64, Option<i64>)>> {
    tx.query_row(
        "SELECT version, ttl FROM items WHERE pk = ?1 AND sk = ?2",
        params![pk, sk],
        |row| {
            let version: i64 = row.get(0)?;
            Ok((u64::try_from(version).unwrap_or_default(), row.get(1)?))
        },
    )
    .optional()
}

fn apply(tx: &Transaction<'_>, op: &WriteOp) -> Result<(), StoreError> {
    match op {
        WriteOp::Put { item, condition } => {
            if !condition_holds(*condition, stored_state(tx, &item.pk, &item.sk)?) {
                return Err(StoreError::ConditionFailed);
            }
            let doc =
                serde_json::to_string(&item.doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let version = i64::try_from(item.version).unwrap_or(i64::MAX);
            let mut statement = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO items ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?;
            statement.execute(params![
                item.pk,
                item.sk,
                doc,
                item.blob,
                item.expires_at,
                version,
                item.gsi1.as_ref().map(|k| &k.pk),
                item.gsi1.as_ref().map(|k| &k.sk),
                item.gsi2.as_ref().map(|k| &k.pk),
                item.gsi2.as_ref().map(|k| &k.sk),
            ])?;
        }
        WriteOp::Delete { pk, sk, condition } => {
            if !condition_holds(*condition, stored_state(tx, pk, sk)?) {
                return Err(StoreError::ConditionFailed);
            }
            tx.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")?
                .execute(params![pk, sk])?;
        }
    }
    Ok(())
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let now = unix_now();
        self.db
            .run(move |conn| {
                let found = conn
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"
                    ))?
                    .query_row(params![pk, sk], read_item)
                    .optional()?;
                match found {
                    Some(row) if !row.0.is_expired(now) => parse_doc(row).map(Some),
                    _ => Ok(None),
                }
            })
            .await
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.db
            .run(move |conn| {
                let tx = conn.transaction()?;
                for op in &ops {
                    apply(&tx, op)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let cursor = query
            .cursor
            .as_deref()
            .map(|c| CursorKey::decode(c, &query))
            .transpose()?;
        let now = unix_now();
        self.db
            .run(move |conn| {
                let (pk_col, sk_col) = match query.index {
                    Index::Primary => ("pk", "sk"),
                    Index::Gsi1 => ("gsi1pk", "gsi1sk"),
                    Index::Gsi2 => ("gsi2pk", "gsi2sk"),
                };
                let (order, compare) = if query.descending {
                    ("DESC", "<")
                } else {
                    ("ASC", ">")
                };
                let prefix = query.sk_prefix.clone().unwrap_or_default();
                let upper = prefix_upper_bound(&prefix);
                let (after_order, after_pk, after_sk) = match &cursor {
                    Some(c) => (Some(c.order_key().to_owned()), c.pk.clone(), c.sk.clone()),
                    None => (None, String::new(), String::new()),
                };
                // Rows sort by (index sort key, pk, sk) so that equal index sort keys still
                // page deterministically.
                let sql = format!(
                    "SELECT {COLUMNS} FROM items
                     WHERE {pk_col} = ?1 AND {sk_col} >= ?2 AND {sk_col} < ?3
                       AND (ttl IS NULL OR ttl > ?4)
                       AND (?5 IS NULL OR ({sk_col}, pk, sk) {compare} (?5, ?6, ?7))
                     ORDER BY {sk_col} {order}, pk {order}, sk {order}
                     LIMIT ?8"
                );
                let limit = i64::try_from(query.limit.max(1)).unwrap_or(i64::MAX);
                let mut statement = conn.prepare_cached(&sql)?;
                let rows = statement.query_map(
                    params![
                        query.pk,
                        prefix,
                        upper,
                        now,
                        after_order,
                        after_pk,
                        after_sk,
                        limit + 1
                    ],
                    read_item,
                )?;
                let mut items = Vec::new();
                for row in rows {
                    items.push(parse_doc(row?)?);
                }
                let more = items.len() > query.limit.max(1);
                items.truncate(query.limit.max(1));
                let next_cursor = if more {
                    items
                        .last()
                        .map(|item| CursorKey::after(item, query.index).encode())
                } else {
                    None
                };
                Ok(Page { items, next_cursor })
            })
            .await
    }

    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        self.db
            .run(move |conn| {
                let count = conn
                    .prepare_cached(
                        "INSERT INTO items (pk, sk, doc, ttl, version)
                         VALUES (?1, ?2, json_object('count', ?3), ?4, 1)
                         ON CONFLICT (pk, sk) DO UPDATE SET
                             doc = json_object('count', json_extract(items.doc, '$.count') + ?3),
                             ttl = ?4,
                             version = items.version + 1
                         RETURNING json_extract(doc, '$.count')",
                    )?
                    .query_row(params![pk, sk, by, expires_at], |row| row.get(0))?;
                Ok(count)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = EmbeddedDb::open(dir.path()).expect("open db");
        (dir, SqliteStore::new(db))
    }

    #[tokio::test]
    async fn purging_removes_only_expired_items() {
        let (_dir, store) = open();
        let now = unix_now();
        let mut gone = Item::new("p", "gone", serde_json::json!({}));
        gone.expires_at = Some(now - 10);
        let mut kept = Item::new("p", "kept", serde_json::json!({}));
        kept.expires_at = Some(now + 3600);
        let forever = Item::new("p", "forever", serde_json::json!({}));
        store
            .write(
                [gone, kept, forever]
                    .into_iter()
                    .map(|item| WriteOp::put(item, Condition::None))
                    .collect(),
            )
            .await
            .expect("seed");
        assert_eq!(store.purge_expired(now, 100).await.expect("purge"), 1);
        let left = store
            .query(Query::new(Index::Primary, "p"))
            .await
            .expect("query");
        let names: Vec<_> = left.items.iter().map(|i| i.sk.as_str()).collect();
        assert_eq!(names, ["forever", "kept"]);
    }

    #[tokio::test]
    async fn embedded_store_meets_the_state_port_contract() {
        let (_dir, store) = open();
        super::super::contract::run_all(&store, "sqlite").await;
    }
}
