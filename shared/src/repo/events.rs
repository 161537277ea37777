//! Received events: a small state item that changes as processing moves on, and payload items
//! that never change (DynamoDB bills a write by the whole item, so status updates must not
//! rewrite the payload). Payloads are split into chunks to stay under DynamoDB's 400 KB item
//! limit; the receipt writes the dedupe marker, the state and every chunk in one transaction.

use serde::{Deserialize, Serialize};

use super::{decode, encode, RepoError};
use crate::domain::event::{EventStatus, InboundEvent, DEDUPE_WINDOW_SECS, EVENT_RETENTION_SECS};
use crate::ids::{EventId, IntegrationId};
use crate::store::{Condition, Index, IndexKey, Item, Query, StateStore, StoreError, WriteOp};

/// Payload bytes per stored chunk: well under DynamoDB's 400 KB item limit.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Headers that carry the sender's credentials and are never stored.
const UNSTORED_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// An event's payload as received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Payload {
    /// Request headers (names lower-case), in order, minus credentials.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Payload {
    /// A payload from request parts, dropping credential headers.
    pub fn new(headers: &http::HeaderMap, body: Vec<u8>) -> Self {
        let headers = headers
            .iter()
            .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.as_str()))
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        Self { headers, body }
    }

    /// The headers as a map again, for verifiers and normalisers.
    pub fn header_map(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

#[derive(Serialize, Deserialize)]
struct ChunkHeader {
    headers: Vec<(String, String)>,
    chunks: usize,
}

#[derive(Serialize, Deserialize)]
struct DedupeMarker {
    event_id: EventId,
}

/// What storing a receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// A new event was stored.
    New,
    /// The vendor sent this delivery before; nothing new was stored.
    Duplicate(EventId),
}

fn pk(id: &EventId) -> String {
    format!("evt#{id}")
}

fn state_item(event: &InboundEvent, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(pk(&event.id), "state", encode(event)?);
    item.gsi1 = Some(IndexKey::new(
        format!("int#{}#evt", event.integration_id),
        event.id.as_str(),
    ));
    item.gsi2 = Some(IndexKey::new(
        format!("int#{}#evt#{}", event.integration_id, event.status.as_str()),
        event.id.as_str(),
    ));
    item.expires_at = Some(event.received_at + EVENT_RETENTION_SECS);
    item.version = version;
    Ok(item)
}

fn payload_items(event: &InboundEvent, payload: &Payload) -> Result<Vec<Item>, RepoError> {
    let chunks: Vec<&[u8]> = if payload.body.is_empty() {
        vec![&[]]
    } else {
        payload.body.chunks(CHUNK_BYTES).collect()
    };
    let header = encode(&ChunkHeader {
        headers: payload.headers.clone(),
        chunks: chunks.len(),
    })?;
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(n, chunk)| {
            let doc = if n == 0 {
                header.clone()
            } else {
                serde_json::json!({})
            };
            let mut item = Item::new(pk(&event.id), format!("body#{n:04}"), doc);
            item.blob = Some(chunk.to_vec());
            item.expires_at = Some(event.received_at + EVENT_RETENTION_SECS);
            item
        })
        .collect())
}

fn dedupe_pk(integration: &IntegrationId, key: &str) -> String {
    format!("dedupe#{integration}#{key}")
}

/// Stores a newly received event, unless its dedupe key was seen within the window.
pub async fn record_receipt(
    store: &dyn StateStore,
    event: &InboundEvent,
    payload: &Payload,
) -> Result<Stored, RepoError> {
    let mut marker = Item::new(
        dedupe_pk(&event.integration_id, &event.dedupe_key),
        "dedupe",
        encode(&DedupeMarker {
            event_id: event.id.clone(),
        })?,
    );
    marker.expires_at = Some(event.received_at + DEDUPE_WINDOW_SECS);
    let mut ops = vec![
        WriteOp::put(
            marker,
            Condition::NotExistsOrExpired {
                now: event.received_at,
            },
        ),
        WriteOp::put(state_item(event, 1)?, Condition::NotExists),
    ];
    for item in payload_items(event, payload)? {
        ops.push(WriteOp::put(item, Condition::None));
    }
    match store.write(ops).await {
        Ok(()) => Ok(Stored::New),
        Err(StoreError::ConditionFailed) => {
            let marker = store
                .get(
                    &dedupe_pk(&event.integration_id, &event.dedupe_key),
                    "dedupe",
                )
                .await?
                .ok_or(RepoError::Conflict)?;
            let marker: DedupeMarker = decode(&marker)?;
            Ok(Stored::Duplicate(marker.event_id))
        }
        Err(other) => Err(other.into()),
    }
}

/// Stores an event that needs no dedupe marker (a replay).
pub async fn insert(
    store: &dyn StateStore,
    event: &InboundEvent,
    payload: &Payload,
) -> Result<(), RepoError> {
    let mut ops = vec![WriteOp::put(state_item(event, 1)?, Condition::NotExists)];
    for item in payload_items(event, payload)? {
        ops.push(WriteOp::put(item, Condition::None));
    }
    store.write(ops).await?;
    Ok(())
}

/// An event's state and version.
pub async fn get(
    store: &dyn StateStore,
    id: &EventId,
) -> Result<Option<(InboundEvent, u64)>, RepoError> {
    match store.get(&pk(id), "state").await? {
        Some(item) => Ok(Some((decode(&item)?, item.version))),
        None => Ok(None),
    }
}

/// An event's payload, reassembled from its chunks.
pub async fn payload(store: &dyn StateStore, id: &EventId) -> Result<Option<Payload>, RepoError> {
    let mut query = Query::new(Index::Primary, pk(id));
    query.sk_prefix = Some("body#".into());
    let mut items = Vec::new();
    loop {
        let page = store.query(query.clone()).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    let Some(first) = items.first() else {
        return Ok(None);
    };
    let header: ChunkHeader = decode(first)?;
    if items.len() != header.chunks {
        return Err(StoreError::Corrupt(format!(
            "event {id} has {} of {} payload chunks",
            items.len(),
            header.chunks
        ))
        .into());
    }
    let body = items
        .iter()
        .flat_map(|item| item.blob.clone().unwrap_or_default())
        .collect();
    Ok(Some(Payload {
        headers: header.headers,
        body,
    }))
}

/// Saves a new state read at `version`; [`RepoError::Conflict`] if it changed since.
pub async fn save(
    store: &dyn StateStore,
    event: &InboundEvent,
    version: u64,
) -> Result<u64, RepoError> {
    match store
        .write(vec![WriteOp::put(
            state_item(event, version + 1)?,
            Condition::Version(version),
        )])
        .await
    {
        Ok(()) => Ok(version + 1),
        Err(StoreError::ConditionFailed) => Err(RepoError::Conflict),
        Err(other) => Err(other.into()),
    }
}

/// One page of an integration's events, newest first, optionally of one status.
pub async fn list(
    store: &dyn StateStore,
    integration: &IntegrationId,
    status: Option<EventStatus>,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<InboundEvent>, Option<String>), RepoError> {
    let mut query = match status {
        Some(status) => Query::new(
            Index::Gsi2,
            format!("int#{integration}#evt#{}", status.as_str()),
        ),
        None => Query::new(Index::Gsi1, format!("int#{integration}#evt")),
    };
    query.descending = true;
    query.limit = limit;
    query.cursor = cursor;
    let page = store.query(query).await?;
    let events = page.items.iter().map(decode).collect::<Result<_, _>>()?;
    Ok((events, page.next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Verification;
    use crate::embedded::EmbeddedDb;
    use crate::ids::TenantId;
    use crate::store::sqlite::SqliteStore;

    fn event(integration: &IntegrationId, key: &str) -> InboundEvent {
        InboundEvent {
            id: EventId::generate(),
            tenant_id: TenantId::generate(),
            integration_id: integration.clone(),
            vendor: "github".into(),
            status: EventStatus::Received,
            event_type: None,
            received_at: crate::clock::unix_now(),
            verification: Verification::Verified,
            dedupe_key: key.into(),
            preview: String::new(),
            body_bytes: 0,
            tries: 0,
            failure: None,
            replay_of: None,
            processed_at: None,
        }
    }

    #[tokio::test]
    async fn large_payloads_are_chunked_and_reassembled_byte_for_byte() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::new(EmbeddedDb::open(dir.path()).expect("db"));
        let integration = IntegrationId::generate();
        let first = event(&integration, "d1");
        let body: Vec<u8> = (0..CHUNK_BYTES * 3 + 17).map(|n| (n % 251) as u8).collect();
        let mut headers = http::HeaderMap::new();
        headers.insert("x-github-event", "push".parse().expect("header"));
        headers.insert("authorization", "Bearer secret".parse().expect("header"));
        let payload = Payload::new(&headers, body.clone());
        assert_eq!(
            record_receipt(&store, &first, &payload)
                .await
                .expect("store"),
            Stored::New
        );
        let read = super::payload(&store, &first.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read.body, body);
        assert_eq!(
            read.headers,
            [("x-github-event".to_owned(), "push".to_owned())]
        );
    }

    #[tokio::test]
    async fn a_redelivery_is_recognised_and_stores_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::new(EmbeddedDb::open(dir.path()).expect("db"));
        let integration = IntegrationId::generate();
        let first = event(&integration, "same");
        let again = event(&integration, "same");
        let payload = Payload::default();
        record_receipt(&store, &first, &payload)
            .await
            .expect("first");
        assert_eq!(
            record_receipt(&store, &again, &payload)
                .await
                .expect("again"),
            Stored::Duplicate(first.id.clone())
        );
        assert!(get(&store, &again.id).await.expect("get").is_none());
        let (listed, _) = list(&store, &integration, None, 10, None)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
    }
}
