//! Tenants' webhook endpoints, signing secrets sealed.

use super::{encode, RepoError};
use crate::domain::endpoint::{Endpoint, EndpointSecret, SECRET_OVERLAP_SECS};
use crate::ids::{EndpointId, TenantId};
use crate::store::{Condition, Index, IndexKey, Item, StateStore, WriteOp};
use crate::vault::{EncryptionContext, Sealer};

fn pk(id: &EndpointId) -> String {
    format!("ep#{id}")
}

fn item(endpoint: &Endpoint, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(pk(&endpoint.id), "ep", encode(endpoint)?);
    item.gsi1 = Some(IndexKey::new(
        format!("tnt#{}#ep", endpoint.tenant_id),
        endpoint.id.as_str(),
    ));
    item.version = version;
    Ok(item)
}

/// The encryption context of an endpoint's secrets.
pub fn context(endpoint: &Endpoint) -> EncryptionContext {
    EncryptionContext::endpoint(endpoint.tenant_id.as_str(), endpoint.id.as_str())
}

/// Makes `secret` the endpoint's current signing secret; the previous one keeps signing for
/// [`SECRET_OVERLAP_SECS`], so receivers can switch over without losing a delivery.
pub async fn add_secret(
    sealer: &Sealer,
    endpoint: &mut Endpoint,
    secret: &str,
    now: i64,
) -> Result<(), RepoError> {
    let sealed = sealer.seal_str(&context(endpoint), secret).await?;
    endpoint
        .secrets
        .retain(|s| s.retires_at.is_none_or(|at| at > now));
    for previous in &mut endpoint.secrets {
        previous.retires_at.get_or_insert(now + SECRET_OVERLAP_SECS);
    }
    endpoint.secrets.insert(
        0,
        EndpointSecret {
            sealed,
            created_at: now,
            retires_at: None,
        },
    );
    Ok(())
}

/// Opens the secrets that still sign at `now`, newest first.
pub async fn open_live_secrets(
    sealer: &Sealer,
    endpoint: &Endpoint,
    now: i64,
) -> Result<Vec<String>, RepoError> {
    let ctx = context(endpoint);
    let mut secrets = Vec::new();
    for secret in endpoint.live_secrets(now) {
        secrets.push(sealer.open_str(&ctx, &secret.sealed).await?);
    }
    Ok(secrets)
}

/// Stores a new endpoint.
pub async fn insert(store: &dyn StateStore, endpoint: &Endpoint) -> Result<(), RepoError> {
    store
        .write(vec![WriteOp::put(item(endpoint, 1)?, Condition::NotExists)])
        .await?;
    Ok(())
}

/// An endpoint by id, whoever owns it (the dispatcher knows no tenant), with its version.
pub async fn get_any(
    store: &dyn StateStore,
    id: &EndpointId,
) -> Result<Option<(Endpoint, u64)>, RepoError> {
    super::get_versioned(store, &pk(id), "ep").await
}

/// An endpoint owned by `tenant`; another tenant's id reads as absent.
pub async fn get(
    store: &dyn StateStore,
    tenant: &TenantId,
    id: &EndpointId,
) -> Result<Option<(Endpoint, u64)>, RepoError> {
    Ok(get_any(store, id)
        .await?
        .filter(|(endpoint, _)| &endpoint.tenant_id == tenant))
}

/// Replaces an endpoint read at `version`; [`RepoError::Conflict`] if it changed since.
pub async fn update(
    store: &dyn StateStore,
    endpoint: &Endpoint,
    version: u64,
) -> Result<(), RepoError> {
    super::replace(store, item(endpoint, version + 1)?, version).await
}

/// Deletes an endpoint, its sealed secrets and its health.
pub async fn delete(store: &dyn StateStore, id: &EndpointId) -> Result<(), RepoError> {
    store
        .write(vec![
            WriteOp::delete(pk(id), "ep", Condition::None),
            super::endpoint_health::delete_op(id),
        ])
        .await?;
    Ok(())
}

/// One page of a tenant's endpoints, newest first.
pub async fn list(
    store: &dyn StateStore,
    tenant: &TenantId,
    limit: usize,
    cursor: Option<String>,
) -> Result<(Vec<Endpoint>, Option<String>), RepoError> {
    super::list_newest(
        store,
        Index::Gsi1,
        format!("tnt#{tenant}#ep"),
        limit,
        cursor,
    )
    .await
}
