//! The state port's contract: one suite every adapter must pass.

use serde_json::json;

use super::*;
use crate::clock::unix_now;

fn item(ns: &str, pk: &str, sk: &str) -> Item {
    Item::new(format!("{ns}#{pk}"), sk, json!({ "name": sk }))
}

/// Runs every contract case; `ns` keeps keys apart when adapters share a table.
pub(crate) async fn run_all(store: &dyn StateStore, ns: &str) {
    puts_and_gets_items_with_every_attribute(store, ns).await;
    conditions_decide_whether_writes_happen(store, ns).await;
    batches_are_all_or_nothing(store, ns).await;
    expired_items_are_invisible_and_replaceable(store, ns).await;
    queries_page_by_prefix_in_both_directions(store, ns).await;
    secondary_indexes_are_queryable(store, ns).await;
    cursors_cannot_cross_partitions(store, ns).await;
    counters_count_every_concurrent_increment(store, ns).await;
}

async fn puts_and_gets_items_with_every_attribute(store: &dyn StateStore, ns: &str) {
    let mut full = item(ns, "full", "a");
    full.blob = Some(vec![0, 1, 2, 255]);
    full.expires_at = Some(unix_now() + 3600);
    full.gsi1 = Some(IndexKey::new(format!("{ns}#g1"), "x"));
    full.gsi2 = Some(IndexKey::new(format!("{ns}#g2"), "y"));
    full.version = 7;
    store
        .write(vec![WriteOp::put(full.clone(), Condition::None)])
        .await
        .expect("put");
    let read = store.get(&full.pk, "a").await.expect("get").expect("found");
    assert_eq!(read, full);
    assert!(store.get(&full.pk, "missing").await.expect("get").is_none());
}

async fn conditions_decide_whether_writes_happen(store: &dyn StateStore, ns: &str) {
    let first = item(ns, "cond", "a");
    store
        .write(vec![WriteOp::put(first.clone(), Condition::NotExists)])
        .await
        .expect("first put");
    let again = store
        .write(vec![WriteOp::put(first.clone(), Condition::NotExists)])
        .await;
    assert!(matches!(again, Err(StoreError::ConditionFailed)));

    let mut next = first.clone();
    next.version = 2;
    next.doc = json!({ "name": "second" });
    let stale = store
        .write(vec![WriteOp::put(next.clone(), Condition::Version(5))])
        .await;
    assert!(matches!(stale, Err(StoreError::ConditionFailed)));
    store
        .write(vec![WriteOp::put(next.clone(), Condition::Version(1))])
        .await
        .expect("versioned put");
    let read = store
        .get(&first.pk, "a")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(read.version, 2);
    assert_eq!(read.doc, json!({ "name": "second" }));

    let missing = store
        .write(vec![WriteOp::delete(&first.pk, "nope", Condition::Exists)])
        .await;
    assert!(matches!(missing, Err(StoreError::ConditionFailed)));
    store
        .write(vec![WriteOp::delete(&first.pk, "a", Condition::Version(2))])
        .await
        .expect("delete");
    assert!(store.get(&first.pk, "a").await.expect("get").is_none());
}

async fn batches_are_all_or_nothing(store: &dyn StateStore, ns: &str) {
    let existing = item(ns, "batch", "taken");
    store
        .write(vec![WriteOp::put(existing.clone(), Condition::None)])
        .await
        .expect("seed");
    let fresh = item(ns, "batch", "fresh");
    let result = store
        .write(vec![
            WriteOp::put(fresh.clone(), Condition::NotExists),
            WriteOp::put(existing.clone(), Condition::NotExists),
        ])
        .await;
    assert!(matches!(result, Err(StoreError::ConditionFailed)));
    assert!(store.get(&fresh.pk, "fresh").await.expect("get").is_none());
}

async fn expired_items_are_invisible_and_replaceable(store: &dyn StateStore, ns: &str) {
    let now = unix_now();
    let mut lease = item(ns, "lease", "l");
    lease.expires_at = Some(now - 10);
    store
        .write(vec![WriteOp::put(lease.clone(), Condition::None)])
        .await
        .expect("put expired");
    assert!(store.get(&lease.pk, "l").await.expect("get").is_none());
    let mut page = Query::new(Index::Primary, lease.pk.clone());
    page.limit = 10;
    assert!(store.query(page).await.expect("query").items.is_empty());

    lease.expires_at = Some(now + 60);
    store
        .write(vec![WriteOp::put(
            lease.clone(),
            Condition::NotExistsOrExpired { now },
        )])
        .await
        .expect("take expired");
    let held = store
        .write(vec![WriteOp::put(
            lease.clone(),
            Condition::NotExistsOrExpired { now },
        )])
        .await;
    assert!(matches!(held, Err(StoreError::ConditionFailed)));
}

async fn queries_page_by_prefix_in_both_directions(store: &dyn StateStore, ns: &str) {
    let pk = format!("{ns}#list");
    let mut writes = Vec::new();
    for n in 0..5 {
        writes.push(WriteOp::put(
            Item::new(&pk, format!("evt#{n}"), json!({ "n": n })),
            Condition::None,
        ));
    }
    writes.push(WriteOp::put(
        Item::new(&pk, "other#1", json!({})),
        Condition::None,
    ));
    store.write(writes).await.expect("seed");

    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let mut query = Query::new(Index::Primary, pk.clone());
        query.sk_prefix = Some("evt#".into());
        query.limit = 2;
        query.cursor = cursor;
        let page = store.query(query).await.expect("page");
        seen.extend(page.items.iter().map(|i| i.sk.clone()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["evt#0", "evt#1", "evt#2", "evt#3", "evt#4"]);

    let mut newest = Query::new(Index::Primary, pk.clone());
    newest.sk_prefix = Some("evt#".into());
    newest.descending = true;
    newest.limit = 2;
    let page = store.query(newest.clone()).await.expect("desc");
    let names: Vec<_> = page.items.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(names, ["evt#4", "evt#3"]);
    newest.cursor = page.next_cursor;
    let page = store.query(newest).await.expect("desc 2");
    let names: Vec<_> = page.items.iter().map(|i| i.sk.as_str()).collect();
    assert_eq!(names, ["evt#2", "evt#1"]);
}

async fn secondary_indexes_are_queryable(store: &dyn StateStore, ns: &str) {
    let index_pk = format!("{ns}#tenant-items");
    let mut writes = Vec::new();
    for n in 0..3 {
        let mut it = item(ns, &format!("owned{n}"), "meta");
        it.gsi1 = Some(IndexKey::new(&index_pk, format!("{n:03}")));
        it.gsi2 = Some(IndexKey::new(
            format!("{ns}#status#open"),
            format!("{n:03}"),
        ));
        writes.push(WriteOp::put(it, Condition::None));
    }
    store.write(writes).await.expect("seed");
    let mut query = Query::new(Index::Gsi1, index_pk.clone());
    query.descending = true;
    query.limit = 2;
    let page = store.query(query.clone()).await.expect("gsi1");
    let pks: Vec<_> = page.items.iter().map(|i| i.pk.clone()).collect();
    assert_eq!(pks, [format!("{ns}#owned2"), format!("{ns}#owned1")]);
    query.cursor = page.next_cursor;
    let page = store.query(query).await.expect("gsi1 page 2");
    assert_eq!(page.items.len(), 1);
    assert!(page.next_cursor.is_none());

    let status = store
        .query(Query::new(Index::Gsi2, format!("{ns}#status#open")))
        .await
        .expect("gsi2");
    assert_eq!(status.items.len(), 3);
}

async fn cursors_cannot_cross_partitions(store: &dyn StateStore, ns: &str) {
    let pk = format!("{ns}#mine");
    store
        .write(vec![
            WriteOp::put(Item::new(&pk, "1", json!({})), Condition::None),
            WriteOp::put(Item::new(&pk, "2", json!({})), Condition::None),
        ])
        .await
        .expect("seed");
    let mut query = Query::new(Index::Primary, pk);
    query.limit = 1;
    let cursor = store.query(query).await.expect("page").next_cursor;
    let mut theirs = Query::new(Index::Primary, format!("{ns}#theirs"));
    theirs.cursor = cursor;
    assert!(matches!(
        store.query(theirs).await,
        Err(StoreError::InvalidCursor)
    ));
    let mut garbage = Query::new(Index::Primary, format!("{ns}#mine"));
    garbage.cursor = Some("not-a-cursor!".into());
    assert!(matches!(
        store.query(garbage).await,
        Err(StoreError::InvalidCursor)
    ));
}

async fn counters_count_every_concurrent_increment(store: &dyn StateStore, ns: &str) {
    let pk = format!("{ns}#counter");
    let expires = unix_now() + 120;
    assert_eq!(
        store.increment(&pk, "c", 1, expires).await.expect("first"),
        1
    );
    let increments = (0..20).map(|_| store.increment(&pk, "c", 1, expires));
    let counts: Vec<i64> = futures::future::join_all(increments)
        .await
        .into_iter()
        .map(|count| count.expect("increment"))
        .collect();
    let mut distinct = counts.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct,
        (2..=21).collect::<Vec<i64>>(),
        "every increment saw its own count"
    );
    assert_eq!(
        store
            .increment(&pk, "c", 5, expires)
            .await
            .expect("by five"),
        26
    );
    assert_eq!(
        store
            .increment(&pk, "other", 1, expires)
            .await
            .expect("own key"),
        1
    );
}
