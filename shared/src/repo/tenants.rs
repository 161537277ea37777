//! Tenants and their API keys.

use serde::{Deserialize, Serialize};

use super::{decode, encode, RepoError};
use crate::domain::tenant::{api_key_hint, generate_api_key, hash_api_key, Tenant};
use crate::ids::TenantId;
use crate::store::{Condition, IndexKey, Item, StateStore, WriteOp};

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    tenant_id: TenantId,
    hint: String,
    created_at: i64,
}

fn tenant_pk(id: &TenantId) -> String {
    format!("tnt#{id}")
}

/// Creates a tenant with one API key; returns the tenant and the key, shown only now.
pub async fn create(
    store: &dyn StateStore,
    name: &str,
    now: i64,
) -> Result<(Tenant, String), RepoError> {
    let tenant = Tenant {
        id: TenantId::generate(),
        name: name.trim().to_owned(),
        created_at: now,
    };
    let key = generate_api_key();
    store
        .write(vec![
            WriteOp::put(tenant_item(&tenant)?, Condition::NotExists),
            WriteOp::put(key_item(&tenant.id, &key, now)?, Condition::NotExists),
        ])
        .await?;
    Ok((tenant, key))
}

/// The gsi1 partition listing every tenant, for the jobs that work across tenants (health
/// probes, `hookrail status`).
const ALL_TENANTS: &str = "tenants";

fn tenant_item(tenant: &Tenant) -> Result<Item, RepoError> {
    let mut item = Item::new(tenant_pk(&tenant.id), "tenant", encode(tenant)?);
    item.gsi1 = Some(IndexKey::new(ALL_TENANTS, tenant.id.as_str()));
    Ok(item)
}

/// Every tenant.
pub async fn all(store: &dyn StateStore) -> Result<Vec<Tenant>, RepoError> {
    super::list_all(store, crate::store::Index::Gsi1, ALL_TENANTS.to_owned()).await
}

fn key_item(tenant: &TenantId, key: &str, now: i64) -> Result<Item, RepoError> {
    let record = KeyRecord {
        tenant_id: tenant.clone(),
        hint: api_key_hint(key),
        created_at: now,
    };
    let mut item = Item::new(
        format!("key#{}", hash_api_key(key)),
        "key",
        encode(&record)?,
    );
    item.gsi1 = Some(IndexKey::new(
        format!("{}#keys", tenant_pk(tenant)),
        format!("{now:012}"),
    ));
    Ok(item)
}

/// Issues another API key for an existing tenant.
pub async fn issue_key(
    store: &dyn StateStore,
    tenant: &TenantId,
    now: i64,
) -> Result<String, RepoError> {
    let key = generate_api_key();
    store
        .write(vec![WriteOp::put(
            key_item(tenant, &key, now)?,
            Condition::NotExists,
        )])
        .await?;
    Ok(key)
}

/// The tenant an API key belongs to, if any, with the key's hint (for audit trails).
pub async fn authenticate(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<(TenantId, String)>, RepoError> {
    let Some(item) = store
        .get(&format!("key#{}", hash_api_key(key)), "key")
        .await?
    else {
        return Ok(None);
    };
    let record: KeyRecord = decode(&item)?;
    Ok(Some((record.tenant_id, record.hint)))
}

/// One tenant.
pub async fn get(store: &dyn StateStore, id: &TenantId) -> Result<Option<Tenant>, RepoError> {
    match store.get(&tenant_pk(id), "tenant").await? {
        Some(item) => Ok(Some(decode(&item)?)),
        None => Ok(None),
    }
}

/// Remembers a named singleton (such as the dev tenant) under `name`.
pub async fn put_marker(
    store: &dyn StateStore,
    name: &str,
    value: serde_json::Value,
) -> Result<(), RepoError> {
    store
        .write(vec![WriteOp::put(
            Item::new(format!("meta#{name}"), "meta", value),
            Condition::NotExists,
        )])
        .await?;
    Ok(())
}

/// Reads a named singleton.
pub async fn get_marker(
    store: &dyn StateStore,
    name: &str,
) -> Result<Option<serde_json::Value>, RepoError> {
    Ok(store
        .get(&format!("meta#{name}"), "meta")
        .await?
        .map(|item| item.doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedDb;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn api_keys_authenticate_their_tenant_only() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::new(EmbeddedDb::open(dir.path()).expect("db"));
        let (tenant, key) = create(&store, "Acme", 1).await.expect("create");
        assert_eq!(
            authenticate(&store, &key)
                .await
                .expect("auth")
                .map(|(t, _)| t),
            Some(tenant.id.clone())
        );
        assert_eq!(authenticate(&store, "hr_wrong").await.expect("auth"), None);
        let second = issue_key(&store, &tenant.id, 2).await.expect("issue");
        assert_eq!(
            authenticate(&store, &second)
                .await
                .expect("auth")
                .map(|(t, _)| t),
            Some(tenant.id.clone())
        );
        assert_eq!(
            get(&store, &tenant.id).await.expect("get").map(|t| t.name),
            Some("Acme".into())
        );
    }
}

/// A tenant's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// Delays between delivery attempts (seconds) for endpoints that set none.
    #[serde(default)]
    pub retry_schedule: Option<Vec<u64>>,
}

/// A tenant's settings (defaults when never set).
pub async fn settings(
    store: &dyn StateStore,
    tenant: &TenantId,
) -> Result<TenantSettings, RepoError> {
    match store.get(&tenant_pk(tenant), "settings").await? {
        Some(item) => Ok(decode(&item)?),
        None => Ok(TenantSettings::default()),
    }
}

/// Replaces a tenant's settings.
pub async fn put_settings(
    store: &dyn StateStore,
    tenant: &TenantId,
    settings: &TenantSettings,
) -> Result<(), RepoError> {
    store
        .write(vec![WriteOp::put(
            Item::new(tenant_pk(tenant), "settings", encode(settings)?),
            Condition::None,
        )])
        .await?;
    Ok(())
}
