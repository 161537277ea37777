//! A connection's OAuth credentials, the lease that lets one refresher at a time redeem its
//! refresh token, the single-use `state` of a consent in flight, and a tenant's default
//! connection per vendor.

use serde::{Deserialize, Serialize};

use super::{decode, due_in, due_sort_key, encode, get_versioned, RepoError};
use crate::domain::connection::Credentials;
use crate::ids::{IntegrationId, TenantId};
use crate::store::{Condition, IndexKey, Item, Query, StateStore, StoreError, WriteOp};
use crate::vault::Sealed;

const DUE_PARTITION: &str = "cred#due";

fn pk(id: &IntegrationId) -> String {
    format!("int#{id}")
}

fn item(credentials: &Credentials, version: u64) -> Result<Item, RepoError> {
    let mut item = Item::new(
        pk(&credentials.integration_id),
        "cred",
        encode(credentials)?,
    );
    item.gsi2 = credentials
        .refresh_due_at()
        .map(|at| IndexKey::new(DUE_PARTITION, due_sort_key(at, &credentials.integration_id)));
    item.version = version;
    Ok(item)
}

/// A connection's credentials and their version.
pub async fn get(
    store: &dyn StateStore,
    id: &IntegrationId,
) -> Result<Option<(Credentials, u64)>, RepoError> {
    get_versioned(store, &pk(id), "cred").await
}

/// Stores credentials read at `read_version` (0: new), replacing whatever a reconnect left.
pub async fn put(
    store: &dyn StateStore,
    credentials: &Credentials,
    read_version: Option<u64>,
) -> Result<(), RepoError> {
    let condition = match read_version {
        Some(version) => Condition::Version(version),
        None => Condition::None,
    };
    let version = read_version.unwrap_or(0) + 1;
    match store
        .write(vec![WriteOp::put(item(credentials, version)?, condition)])
        .await
    {
        Err(StoreError::ConditionFailed) => Err(RepoError::Conflict),
        other => Ok(other?),
    }
}

/// Connections whose refresh is due at or before `now`, oldest first.
pub async fn due(
    store: &dyn StateStore,
    now: i64,
    limit: usize,
) -> Result<Vec<Credentials>, RepoError> {
    due_in(store, DUE_PARTITION, now, limit).await
}

/// The delete operations that wipe everything of a connection kept here.
pub fn wipe_ops(id: &IntegrationId) -> Vec<WriteOp> {
    vec![
        WriteOp::delete(pk(id), "cred", Condition::None),
        WriteOp::delete(pk(id), LEASE_SK, Condition::None),
    ]
}

const LEASE_SK: &str = "lease#refresh";

#[derive(Serialize, Deserialize)]
struct LeaseRecord {
    owner: String,
    expires_at: i64,
}

/// A held refresh lease; release it with [`release_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    integration_id: IntegrationId,
    /// A number only this holder knows: releasing checks it, so a holder whose lease expired
    /// and was taken over can't release its successor's.
    token: u64,
}

/// Takes the refresh lease of a connection for `ttl` seconds; `None` when another holder's
/// lease is still live. A crashed holder's lease simply expires.
pub async fn acquire_lease(
    store: &dyn StateStore,
    id: &IntegrationId,
    owner: &str,
    now: i64,
    ttl: i64,
) -> Result<Option<Lease>, RepoError> {
    // Versions in this store count up from 1; a random one keeps holders apart.
    let token = rand::random::<u64>() >> 12 | 1 << 52;
    let mut lease = Item::new(
        pk(id),
        LEASE_SK,
        encode(&LeaseRecord {
            owner: owner.to_owned(),
            expires_at: now + ttl,
        })?,
    );
    lease.expires_at = Some(now + ttl);
    lease.version = token;
    match store
        .write(vec![WriteOp::put(
            lease,
            Condition::NotExistsOrExpired { now },
        )])
        .await
    {
        Ok(()) => Ok(Some(Lease {
            integration_id: id.clone(),
            token,
        })),
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Gives a lease back; a lease already taken over by another holder is left alone.
pub async fn release_lease(store: &dyn StateStore, lease: &Lease) -> Result<(), RepoError> {
    match store
        .write(vec![WriteOp::delete(
            pk(&lease.integration_id),
            LEASE_SK,
            Condition::Version(lease.token),
        )])
        .await
    {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// A consent in flight, found by its `state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingConsent {
    /// Who asked.
    pub tenant_id: TenantId,
    /// For which connection.
    pub integration_id: IntegrationId,
    /// The PKCE verifier, sealed under the connection's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<Sealed>,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The redirect URI sent with the authorization request (must match at exchange).
    pub redirect_uri: String,
    /// Unix seconds after which `state` is refused.
    pub expires_at: i64,
}

fn consent_pk(state: &str) -> String {
    format!("oauthstate#{state}")
}

/// Records a consent in flight under `state`.
pub async fn put_consent(
    store: &dyn StateStore,
    state: &str,
    consent: &PendingConsent,
) -> Result<(), RepoError> {
    let mut item = Item::new(consent_pk(state), "state", encode(consent)?);
    item.expires_at = Some(consent.expires_at);
    store
        .write(vec![WriteOp::put(item, Condition::NotExists)])
        .await?;
    Ok(())
}

/// Takes a consent out by its `state`, once: a second call (a replayed callback) finds
/// nothing. An expired one is taken out too, and returned for the caller to refuse.
pub async fn take_consent(
    store: &dyn StateStore,
    state: &str,
) -> Result<Option<PendingConsent>, RepoError> {
    let Some(item) = store.get(&consent_pk(state), "state").await? else {
        return Ok(None);
    };
    let consent: PendingConsent = decode(&item)?;
    match store
        .write(vec![WriteOp::delete(
            consent_pk(state),
            "state",
            Condition::Version(item.version),
        )])
        .await
    {
        Ok(()) => Ok(Some(consent)),
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

#[derive(Serialize, Deserialize)]
struct DefaultRecord {
    integration_id: IntegrationId,
}

fn tenant_pk(tenant: &TenantId) -> String {
    format!("tnt#{tenant}")
}

/// Marks `id` as the tenant's default connection of `vendor`.
pub async fn set_default(
    store: &dyn StateStore,
    tenant: &TenantId,
    vendor: &str,
    id: &IntegrationId,
) -> Result<(), RepoError> {
    let item = Item::new(
        tenant_pk(tenant),
        format!("default#{vendor}"),
        encode(&DefaultRecord {
            integration_id: id.clone(),
        })?,
    );
    store
        .write(vec![WriteOp::put(item, Condition::None)])
        .await?;
    Ok(())
}

/// The tenant's default connection of `vendor`, if one is marked.
pub async fn default_of(
    store: &dyn StateStore,
    tenant: &TenantId,
    vendor: &str,
) -> Result<Option<IntegrationId>, RepoError> {
    match store
        .get(&tenant_pk(tenant), &format!("default#{vendor}"))
        .await?
    {
        Some(item) => Ok(Some(decode::<DefaultRecord>(&item)?.integration_id)),
        None => Ok(None),
    }
}

/// Unmarks `id` if it is the tenant's default of `vendor`.
pub async fn clear_default(
    store: &dyn StateStore,
    tenant: &TenantId,
    vendor: &str,
    id: &IntegrationId,
) -> Result<(), RepoError> {
    if default_of(store, tenant, vendor).await?.as_ref() == Some(id) {
        store
            .write(vec![WriteOp::delete(
                tenant_pk(tenant),
                format!("default#{vendor}"),
                Condition::None,
            )])
            .await?;
    }
    Ok(())
}

/// The tenant's default connection of each vendor.
pub async fn defaults(
    store: &dyn StateStore,
    tenant: &TenantId,
) -> Result<Vec<(String, IntegrationId)>, RepoError> {
    let mut query = Query::new(crate::store::Index::Primary, tenant_pk(tenant));
    query.sk_prefix = Some("default#".into());
    query.limit = 1_000;
    let page = store.query(query).await?;
    page.items
        .iter()
        .map(|item| {
            let record: DefaultRecord = decode(item)?;
            let vendor = item.sk.trim_start_matches("default#").to_owned();
            Ok((vendor, record.integration_id))
        })
        .collect()
}
