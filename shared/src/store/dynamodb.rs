//! The state port over DynamoDB: one table (`pk`, `sk`), two GSIs (`gsi1`, `gsi2`), TTL on `ttl`.
//!
//! One write is a PutItem/DeleteItem; several are one TransactWriteItems, so a batch keeps the
//! all-or-nothing promise of the port.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use super::{
    Condition, CursorKey, Index, IndexKey, Item, Page, Query, StateStore, StoreError, WriteOp,
};
use crate::clock::unix_now;

/// The state port over one DynamoDB table.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    /// A store over `table`, reached through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

type Attributes = HashMap<String, AttributeValue>;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_attributes(item: &Item) -> Result<Attributes, StoreError> {
    let doc = serde_json::to_string(&item.doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut attrs = Attributes::from([
        ("pk".to_owned(), s(&item.pk)),
        ("sk".to_owned(), s(&item.sk)),
        ("doc".to_owned(), AttributeValue::S(doc)),
        ("v".to_owned(), n(item.version)),
    ]);
    if let Some(blob) = &item.blob {
        attrs.insert("blob".into(), AttributeValue::B(Blob::new(blob.clone())));
    }
    if let Some(at) = item.expires_at {
        attrs.insert("ttl".into(), n(at));
    }
    for (name, key) in [("gsi1", &item.gsi1), ("gsi2", &item.gsi2)] {
        if let Some(key) = key {
            attrs.insert(format!("{name}pk"), s(&key.pk));
            attrs.insert(format!("{name}sk"), s(&key.sk));
        }
    }
    Ok(attrs)
}

fn string(attrs: &Attributes, name: &str) -> Option<String> {
    attrs.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(attrs: &Attributes, name: &str) -> Option<i64> {
    attrs
        .get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn index_key(attrs: &Attributes, name: &str) -> Option<IndexKey> {
    Some(IndexKey {
        pk: string(attrs, &format!("{name}pk"))?,
        sk: string(attrs, &format!("{name}sk"))?,
    })
}

fn from_attributes(attrs: &Attributes) -> Result<Item, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("item without {what}"));
    let doc = string(attrs, "doc").ok_or_else(|| corrupt("doc"))?;
    Ok(Item {
        pk: string(attrs, "pk").ok_or_else(|| corrupt("pk"))?,
        sk: string(attrs, "sk").ok_or_else(|| corrupt("sk"))?,
        doc: serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        blob: attrs
            .get("blob")
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()),
        expires_at: number(attrs, "ttl"),
        gsi1: index_key(attrs, "gsi1"),
        gsi2: index_key(attrs, "gsi2"),
        version: number(attrs, "v")
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or_default(),
    })
}

/// A condition as DynamoDB expression parts: expression, names, values.
struct Expression {
    text: Option<String>,
    names: HashMap<String, String>,
    values: Attributes,
}

fn expression(condition: Condition) -> Expression {
    let mut names = HashMap::new();
    let mut values = Attributes::new();
    let text = match condition {
        Condition::None => None,
        Condition::NotExists => Some("attribute_not_exists(pk)".to_owned()),
        Condition::Exists => Some("attribute_exists(pk)".to_owned()),
        Condition::Version(expected) => {
            names.insert("#v".into(), "v".into());
            values.insert(":expected".into(), n(expected));
            Some("#v = :expected".to_owned())
        }
        Condition::NotExistsOrExpired { now } => {
            names.insert("#ttl".into(), "ttl".into());
            values.insert(":now".into(), n(now));
            Some("attribute_not_exists(pk) OR #ttl <= :now".to_owned())
        }
    };
    Expression {
        text,
        names,
        values,
    }
}

fn non_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

fn unavailable<E, R>(error: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(&error).to_string())
}

/// A single write's error: [`StoreError::ConditionFailed`] when its condition did not hold.
fn write_error<E, R>(error: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code);
    if code == Some("ConditionalCheckFailedException") {
        StoreError::ConditionFailed
    } else {
        unavailable(error)
    }
}

fn key(pk: &str, sk: &str) -> Attributes {
    Attributes::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

impl DynamoStore {
    async fn write_one(&self, op: WriteOp) -> Result<(), StoreError> {
        match op {
            WriteOp::Put { item, condition } => {
                let cond = expression(condition);
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(&item)?))
                    .set_condition_expression(cond.text)
                    .set_expression_attribute_names(non_empty(cond.names))
                    .set_expression_attribute_values(non_empty(cond.values))
                    .send()
                    .await
                    .map_err(write_error)?;
            }
            WriteOp::Delete { pk, sk, condition } => {
                let cond = expression(condition);
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(&pk, &sk)))
                    .set_condition_expression(cond.text)
                    .set_expression_attribute_names(non_empty(cond.names))
                    .set_expression_attribute_values(non_empty(cond.values))
                    .send()
                    .await
                    .map_err(write_error)?;
            }
        }
        Ok(())
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(ops.len());
        for op in ops {
            let entry = match op {
                WriteOp::Put { item, condition } => {
                    let cond = expression(condition);
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_attributes(&item)?))
                        .set_condition_expression(cond.text)
                        .set_expression_attribute_names(non_empty(cond.names))
                        .set_expression_attribute_values(non_empty(cond.values))
                        .build()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    TransactWriteItem::builder().put(put).build()
                }
                WriteOp::Delete { pk, sk, condition } => {
                    let cond = expression(condition);
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(&pk, &sk)))
                        .set_condition_expression(cond.text)
                        .set_expression_attribute_names(non_empty(cond.names))
                        .set_expression_attribute_values(non_empty(cond.values))
                        .build()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    TransactWriteItem::builder().delete(delete).build()
                }
            };
            items.push(entry);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let condition_failed = error
                    .as_service_error()
                    .and_then(|e| match e {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancelled) => Some(cancelled),
                        _ => None,
                    })
                    .is_some_and(|cancelled| {
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                    });
                if condition_failed {
                    Err(StoreError::ConditionFailed)
                } else {
                    Err(unavailable(error))
                }
            }
        }
    }
}

#[async_trait]
impl StateStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match output.item() {
            Some(attrs) => {
                let item = from_attributes(attrs)?;
                Ok((!item.is_expired(unix_now())).then_some(item))
            }
            None => Ok(None),
        }
    }

    async fn write(&self, mut ops: Vec<WriteOp>) -> Result<(), StoreError> {
        match ops.len() {
            0 => Ok(()),
            1 => match ops.pop() {
                Some(op) => self.write_one(op).await,
                None => Ok(()),
            },
            _ => self.write_many(ops).await,
        }
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let cursor = query
            .cursor
            .as_deref()
            .map(|c| CursorKey::decode(c, &query))
            .transpose()?;
        let (index_name, pk_attr, sk_attr) = match query.index {
            Index::Primary => (None, "pk", "sk"),
            Index::Gsi1 => (Some("gsi1"), "gsi1pk", "gsi1sk"),
            Index::Gsi2 => (Some("gsi2"), "gsi2pk", "gsi2sk"),
        };
        let mut names = HashMap::from([
            ("#pk".to_owned(), pk_attr.to_owned()),
            ("#ttl".to_owned(), "ttl".to_owned()),
        ]);
        let mut values = Attributes::from([
            (":pk".to_owned(), s(&query.pk)),
            (":now".to_owned(), n(unix_now())),
        ]);
        let mut key_condition = "#pk = :pk".to_owned();
        if let Some(prefix) = query.sk_prefix.as_deref().filter(|p| !p.is_empty()) {
            names.insert("#sk".into(), sk_attr.into());
            values.insert(":prefix".into(), s(prefix));
            key_condition.push_str(" AND begins_with(#sk, :prefix)");
        }
        let start_key = cursor.map(|c| {
            let mut start = key(&c.pk, &c.sk);
            if let (Some(index), Some(name)) = (&c.index, index_name) {
                start.insert(format!("{name}pk"), s(&index.pk));
                start.insert(format!("{name}sk"), s(&index.sk));
            }
            start
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(str::to_owned))
            .key_condition_expression(key_condition)
            .filter_expression("attribute_not_exists(#ttl) OR #ttl > :now")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!query.descending)
            .limit(i32::try_from(query.limit.max(1)).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(unavailable)?;
        let items = output
            .items()
            .iter()
            .map(from_attributes)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = output.last_evaluated_key().map(|last| {
            CursorKey {
                pk: string(last, "pk").unwrap_or_default(),
                sk: string(last, "sk").unwrap_or_default(),
                index: index_name.and_then(|name| index_key(last, name)),
            }
            .encode()
        });
        Ok(Page { items, next_cursor })
    }

    async fn increment(
        &self,
        pk: &str,
        sk: &str,
        by: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        // The count is a number attribute DynamoDB adds to atomically; `doc` mirrors nothing
        // and is only there so the item reads like any other.
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(
                "ADD #count :by SET #ttl = :ttl, #doc = if_not_exists(#doc, :doc), #v = if_not_exists(#v, :one)",
            )
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#doc", "doc")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":by", n(by))
            .expression_attribute_values(":ttl", n(expires_at))
            .expression_attribute_values(":doc", s("{}"))
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        output
            .attributes()
            .and_then(|attrs| number(attrs, "count"))
            .ok_or_else(|| StoreError::Corrupt("counter without a count".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dynamodb_store_meets_the_state_port_contract() {
        let Some(aws) = crate::testing::moto().await else {
            return;
        };
        let table = aws.create_table().await;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws.config), table);
        super::super::contract::run_all(&store, "dynamo").await;
    }
}
