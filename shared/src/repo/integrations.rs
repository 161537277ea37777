//! Integrations, sealed secrets included.

use std::collections::BTreeMap;

use super::{encode, RepoError};
use crate::domain::integration::Integration;
use crate::ids::{IntegrationId, TenantId};
use crate::store::{Condition, Index, IndexKey, Item, StateStore, WriteOp};
use crate::vault::{EncryptionContext, Sealed, Sealer};

fn pk(id: &IntegrationId) -> String {
    format!("int#{id}")
}

fn item(integration: &Integration, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(pk(&integration.id), "int", encode(integration)?);
    item.gsi1 = Some(IndexKey::new(
        format!("tnt#{}#int", integration.tenant_id),
        integration.id.as_str(),
    ));
    item.gsi2 = integration
        .connection
        .rotation_reminder_at()
        .map(|at| IndexKey::new(REMINDERS, super::due_sort_key(at, &integration.id)));
    item.version = version;
    Ok(item)
}

/// The gsi2 partition of connections with a rotation reminder to send.
const REMINDERS: &str = "int#remind";

/// Connections whose rotation reminder is due at or before `now`.
pub async fn reminders_due(
    store: &dyn StateStore,
    now: i64,
    limit: usize,
) -> Result<Vec<Integration>, RepoError> {
    super::due_in(store, REMINDERS, now, limit).await
}

/// The encryption context of an integration's secrets.
pub fn context(integration: &Integration) -> EncryptionContext {
    EncryptionContext::integration(integration.tenant_id.as_str(), integration.id.as_str())
}

/// Seals each secret under the integration's context.
pub async fn seal_secrets(
    sealer: &Sealer,
    integration: &Integration,
    secrets: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Sealed>, RepoError> {
    let ctx = context(integration);
    let mut sealed = BTreeMap::new();
    for (field, value) in secrets {
        sealed.insert(field.clone(), sealer.seal_str(&ctx, value).await?);
    }
    Ok(sealed)
}

/// Opens one secret field, if the integration has it.
pub async fn open_secret(
    sealer: &Sealer,
    integration: &Integration,
    field: &str,
) -> Result<Option<String>, RepoError> {
    match integration.secrets.get(field) {
        Some(sealed) => Ok(Some(sealer.open_str(&context(integration), sealed).await?)),
        None => Ok(None),
    }
}

/// Seals `secrets` into a new integration and stores it.
pub async fn create(
    store: &dyn StateStore,
    sealer: &Sealer,
    mut integration: Integration,
    secrets: &BTreeMap<String, String>,
) -> Result<Integration, RepoError> {
    integration.secrets = seal_secrets(sealer, &integration, secrets).await?;
    insert(store, &integration).await?;
    Ok(integration)
}

/// Stores a new integration.
pub async fn insert(store: &dyn StateStore, integration: &Integration) -> Result<(), RepoError> {
    store
        .write(vec![WriteOp::put(
            item(integration, 1)?,
            Condition::NotExists,
        )])
        .await?;
    Ok(())
}

/// An integration by id, whoever owns it, with its version (the receipt path knows no tenant).
pub async fn get_any(
    store: &dyn StateStore,
    id: &IntegrationId,
) -> Result<Option<(Integration, u64)>, RepoError> {
    super::get_versioned(store, &pk(id), "int").await
}

/// An integration owned by `tenant`; another tenant's id reads as absent.
pub async fn get(
    store: &dyn StateStore,
    tenant: &TenantId,
    id: &IntegrationId,
) -> Result<Option<(Integration, u64)>, RepoError> {
    Ok(get_any(store, id)
        .await?
        .filter(|(integration, _)| &integration.tenant_id == tenant))
}

/// Replaces an integration read at `version`; [`RepoError::Conflict`] if it changed since.
pub async fn update(
    store: &dyn StateStore,
    integration: &Integration,
    version: u64,
) -> Result<(), RepoError> {
    super::replace(store, item(integration, version + 1)?, version).await
}

/// Deletes an integration and, with it, its sealed secrets, OAuth tokens and health summary,
/// in one write.
pub async fn delete(store: &dyn StateStore, id: &IntegrationId) -> Result<(), RepoError> {
    let mut ops = vec![WriteOp::delete(pk(id), "int", Condition::None)];
    ops.extend(super::credentials::wipe_ops(id));
    ops.push(super::probes::wipe_op(id));
    store.write(ops).await?;
    Ok(())
}

/// One page of a tenant's integrations, newest first.
pub async fn list(
    store: &dyn StateStore,
    tenant: &TenantId,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Integration>, Option<String>), RepoError> {
    super::list_newest(
        store,
        Index::Gsi1,
        format!("tnt#{tenant}#int"),
        limit,
        cursor,
    )
    .await
}

/// Every integration of a tenant, newest first.
pub async fn all(store: &dyn StateStore, tenant: &TenantId) -> Result<Vec<Integration>, RepoError> {
    super::list_all(store, Index::Gsi1, format!("tnt#{tenant}#int")).await
}
