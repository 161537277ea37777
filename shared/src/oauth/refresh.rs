//! Refreshing tokens under a lease.
//!
//! With rotating refresh tokens, two refreshers redeeming the same token revoke the
//! connection: the vendor takes the second redemption for theft. So every refresh first takes
//! the connection's lease in the state store (a conditional write with an owner and an
//! expiry), then re-reads the credentials and skips them when another holder already
//! refreshed. A crashed holder's lease expires on its own.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::client::{request_token, Grant, TokenError};
use super::{
    check_vendor_url, client_auth, oauth_provider, public_values, render, seal_grant, OAuthError,
};
use crate::backend::Services;
use crate::catalog::AuthKind;
use crate::domain::connection::{AfterFailure, ConnectionStatus, Credentials, RefreshFailure};
use crate::domain::integration::Integration;
use crate::ids::IntegrationId;
use crate::outbound::publish::notify_tenant;
use crate::repo::audit::{record_or_log, AuditEntry, AuditKind};
use crate::repo::credentials;
use crate::repo::{integrations, RepoError};

/// How long a refresh lease lasts: longer than a token request may take.
pub const LEASE_SECS: i64 = 60;

/// A token handed out on demand is at least this fresh.
pub const HANDOUT_MARGIN_SECS: i64 = 60;

/// How many connections the scheduled run refreshes at once.
const CONCURRENCY: usize = 8;

/// Who the audit trail names for the scheduled refresher's actions.
const SYSTEM_ACTOR: &str = "system:oauth-refresh";

/// How many due connections one scheduled run takes.
const BATCH: usize = 500;

/// What became of one refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// New tokens are sealed and stored.
    Refreshed,
    /// Nothing to do: the tokens are fresh (another refresher may have just refreshed them).
    AlreadyFresh,
    /// Another refresher holds the lease.
    Busy,
    /// The refresh failed and will be tried again at this time.
    RetryAt(i64),
    /// The vendor refused the grant; the connection needs a reconnect.
    NeedsReconnect(String),
}

/// Why a refresh was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The scheduled run: refresh when due.
    Scheduled,
    /// A caller wants a token good for [`HANDOUT_MARGIN_SECS`].
    OnDemand,
}

/// Refreshes one connection if it still needs it, under its lease.
pub async fn refresh_connection(
    services: &Services,
    id: &IntegrationId,
    trigger: Trigger,
    actor: &str,
) -> Result<Outcome, OAuthError> {
    let store = services.store.as_ref();
    let now = services.clock.now();
    let Some(lease) = credentials::acquire_lease(store, id, actor, now, LEASE_SECS).await? else {
        return Ok(Outcome::Busy);
    };
    let result = refresh_holding(services, id, trigger, actor, now).await;
    if let Err(error) = credentials::release_lease(store, &lease).await {
        // The lease expires by itself; this only delays the next refresh.
        tracing::warn!(%error, integration_id = %id, "refresh lease not released");
    }
    result
}

async fn refresh_holding(
    services: &Services,
    id: &IntegrationId,
    trigger: Trigger,
    actor: &str,
    now: i64,
) -> Result<Outcome, OAuthError> {
    let store = services.store.as_ref();
    let (integration, _) = integrations::get_any(store, id)
        .await?
        .ok_or(OAuthError::NotConnected)?;
    let (provider, spec) = oauth_provider(services, &integration)?;
    let existing = credentials::get(store, id).await?;
    if let Some((creds, _)) = &existing {
        if creds.stopped {
            return Ok(Outcome::NeedsReconnect(
                integration.connection.reason.clone().unwrap_or_default(),
            ));
        }
        let fresh = match trigger {
            Trigger::Scheduled => creds.refresh_due_at().is_none_or(|at| at > now),
            Trigger::OnDemand => creds.access_token_fresh(now, HANDOUT_MARGIN_SECS),
        };
        if fresh {
            return Ok(Outcome::AlreadyFresh);
        }
    }
    let client = client_auth(services, &provider, &spec, &integration).await?;
    let mut values = public_values(&integration);
    if let Some((creds, _)) = &existing {
        for (name, value) in &creds.tokens.extras {
            if let Some(text) = value.as_str() {
                values.insert(name.clone(), text.to_owned());
            }
        }
    }
    let token_url = render(&spec.token_url, &values)?;
    check_vendor_url(services, &token_url)?;
    let refresh_token = match &existing {
        Some((creds, _)) => match &creds.tokens.refresh_token {
            Some(sealed) => Some(
                services
                    .sealer
                    .open_str(&integrations::context(&integration), sealed)
                    .await
                    .map_err(RepoError::from)?,
            ),
            None => None,
        },
        None => None,
    };
    let grant = match (refresh_token, provider.auth) {
        (Some(refresh_token), _) => Grant::RefreshToken { refresh_token },
        (None, AuthKind::ClientCredentials) => Grant::ClientCredentials {
            scope: (!spec.scopes.is_empty()).then(|| spec.scopes.join(&spec.scope_separator)),
        },
        (None, _) if existing.is_none() => return Err(OAuthError::NotConnected),
        (None, _) => {
            return Err(OAuthError::NeedsReconnect(
                "the access token expired and the vendor issued no refresh token".into(),
            ))
        }
    };
    let extra: Vec<(String, String)> = match &grant {
        Grant::ClientCredentials { .. } => spec
            .authorize_params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Vec::new(),
    };
    let response = request_token(&services.http, &token_url, &client, &grant, &extra).await;
    let audit = |ok: bool, detail: String| {
        AuditEntry::new(
            &integration.tenant_id,
            id,
            AuditKind::Refreshed,
            actor,
            ok,
            detail,
            now,
        )
    };
    match response {
        Ok(granted) => {
            let rotated = granted.refresh_token.is_some();
            let previous = existing.as_ref().map(|(c, _)| &c.tokens);
            let tokens = seal_grant(services, &integration, &spec, granted, previous, now).await?;
            let (mut creds, read_version) = match existing {
                Some((creds, version)) => (creds, Some(version)),
                None => (
                    Credentials::new(
                        integration.tenant_id.clone(),
                        id.clone(),
                        tokens.clone(),
                        now,
                        spec.refresh_buffer,
                    ),
                    None,
                ),
            };
            if creds.tokens.refresh_token_expires_at != tokens.refresh_token_expires_at {
                creds.expiry_warned = false;
            }
            creds.tokens = tokens;
            creds.obtained_at = now;
            creds.refresh_buffer = spec.refresh_buffer;
            creds.failures = 0;
            creds.failing_since = None;
            creds.retry_at = None;
            creds.last_error = None;
            // The expiry announcement is marked in the same write as the new tokens.
            let expiry_to_announce = creds.expiry_warning_at().filter(|at| *at <= now);
            if expiry_to_announce.is_some() {
                creds.expiry_warned = true;
            }
            store_refreshed(services, &creds, read_version).await?;
            let detail = if rotated {
                "new access token; refresh token rotated"
            } else {
                "new access token"
            };
            tracing::info!(tenant_id = %integration.tenant_id, integration_id = %id, rotated, "connection refreshed");
            record_or_log(store, audit(true, detail.to_owned())).await;
            if integration.connection.status != ConnectionStatus::Connected {
                mark_status(services, id, ConnectionStatus::Connected, None).await?;
            }
            if let Some(at) = expiry_to_announce {
                let expires_at =
                    crate::clock::rfc3339(at + crate::domain::connection::EXPIRY_WARNING_SECS);
                announce_expiring(
                    services,
                    &integration,
                    json!({ "credential": "refresh_token", "expires_at": expires_at }),
                    format!("refresh_token:{expires_at}"),
                    format!("refresh token expires {expires_at}"),
                    now,
                )
                .await;
            }
            Ok(Outcome::Refreshed)
        }
        Err(error) => {
            let Some((mut creds, version)) = existing else {
                record_or_log(store, audit(false, error.to_string())).await;
                return Err(OAuthError::Vendor(error));
            };
            let failure = match &error {
                TokenError::Rejected { code, .. } if spec.reconnect_errors.contains(code) => {
                    RefreshFailure::GrantRevoked(error.to_string())
                }
                _ => RefreshFailure::Transient(error.to_string()),
            };
            let decision = creds.record_failure(now, failure);
            credentials::put(store, &creds, Some(version)).await?;
            record_or_log(store, audit(false, error.to_string())).await;
            tracing::warn!(tenant_id = %integration.tenant_id, integration_id = %id, %error, ?decision, "refresh failed");
            match decision {
                AfterFailure::RetryAt(at) => Ok(Outcome::RetryAt(at)),
                AfterFailure::Reconnect(reason) => {
                    needs_reconnect(services, &integration, &reason, actor, now).await?;
                    Ok(Outcome::NeedsReconnect(reason))
                }
            }
        }
    }
}

/// Stores refreshed credentials over the version read under the lease. The vendor may have
/// rotated the refresh token already, so losing this write loses the connection: it is retried
/// while the store is unavailable. A changed version means the connection was removed or
/// connected again meanwhile; then these tokens must not overwrite (or resurrect) it.
async fn store_refreshed(
    services: &Services,
    creds: &Credentials,
    read_version: Option<u64>,
) -> Result<(), OAuthError> {
    let store = services.store.as_ref();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match credentials::put(store, creds, read_version).await {
            Ok(()) => return Ok(()),
            Err(RepoError::Conflict) => {
                tracing::warn!(integration_id = %creds.integration_id, "credentials changed during the refresh (removed or reconnected); refreshed tokens dropped");
                return Err(RepoError::Conflict.into());
            }
            Err(error) if attempt < 5 => {
                tracing::warn!(%error, attempt, integration_id = %creds.integration_id, "refreshed tokens not stored yet; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(error) => {
                tracing::error!(%error, integration_id = %creds.integration_id, "refreshed tokens could not be stored; the connection may need a reconnect");
                return Err(error.into());
            }
        }
    }
}

async fn mark_status(
    services: &Services,
    id: &IntegrationId,
    status: ConnectionStatus,
    reason: Option<String>,
) -> Result<Option<Integration>, OAuthError> {
    let store = services.store.as_ref();
    for _ in 0..5 {
        let Some((mut integration, version)) = integrations::get_any(store, id).await? else {
            return Ok(None);
        };
        integration.connection.status = status;
        integration.connection.reason = reason.clone();
        integration.updated_at = services.clock.now();
        match integrations::update(store, &integration, version).await {
            Err(RepoError::Conflict) => continue,
            other => {
                other?;
                return Ok(Some(integration));
            }
        }
    }
    Err(RepoError::Conflict.into())
}

/// The `data` of an event about a connection: which one, plus `details`.
fn event_data(integration: &Integration, details: serde_json::Value) -> serde_json::Value {
    let mut data = json!({
        "integration_id": integration.id,
        "vendor": integration.vendor,
        "name": integration.name,
    });
    if let (Some(data), serde_json::Value::Object(details)) = (data.as_object_mut(), details) {
        data.extend(details);
    }
    data
}

async fn needs_reconnect(
    services: &Services,
    integration: &Integration,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<(), OAuthError> {
    mark_status(
        services,
        &integration.id,
        ConnectionStatus::NeedsReconnect,
        Some(reason.to_owned()),
    )
    .await?;
    record_or_log(
        services.store.as_ref(),
        AuditEntry::new(
            &integration.tenant_id,
            &integration.id,
            AuditKind::NeedsReconnect,
            actor,
            false,
            reason,
            now,
        ),
    )
    .await;
    notify_tenant(
        services,
        &integration.tenant_id,
        "integration.needs_reconnect",
        event_data(integration, json!({ "reason": reason })),
        format!("needs_reconnect:{}:{now}", integration.id),
    )
    .await;
    Ok(())
}

/// Tells the tenant a credential of `integration` expires or is due for rotation, once per
/// `key` (the idempotency key keeps a repeated announcement from reaching it twice).
async fn announce_expiring(
    services: &Services,
    integration: &Integration,
    details: serde_json::Value,
    key: String,
    audit_detail: String,
    now: i64,
) {
    notify_tenant(
        services,
        &integration.tenant_id,
        "integration.credential_expiring",
        event_data(integration, details),
        format!("credential_expiring:{}:{key}", integration.id),
    )
    .await;
    record_or_log(
        services.store.as_ref(),
        AuditEntry::new(
            &integration.tenant_id,
            &integration.id,
            AuditKind::ExpiryWarned,
            SYSTEM_ACTOR,
            true,
            audit_detail,
            now,
        ),
    )
    .await;
}

/// What one scheduled run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// Connections refreshed.
    pub refreshed: usize,
    /// Connections another refresher had, or that were fresh already.
    pub skipped: usize,
    /// Connections that failed and will be retried.
    pub retrying: usize,
    /// Connections that now need a reconnect.
    pub needs_reconnect: usize,
    /// Connections that could not be handled (store, vault, config); logged.
    pub errors: usize,
    /// API-key rotation reminders sent.
    pub reminders: usize,
}

/// One scheduled run: refreshes every due connection, a few at a time, and sends the
/// rotation reminders that are due.
pub async fn run_once(services: &Services) -> Result<RunReport, OAuthError> {
    let now = services.clock.now();
    let due = credentials::due(services.store.as_ref(), now, BATCH).await?;
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for creds in due {
        let services = services.clone();
        let limit = Arc::clone(&limit);
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let id = creds.integration_id;
            let result = refresh_connection(&services, &id, Trigger::Scheduled, SYSTEM_ACTOR).await;
            if let Err(error) = &result {
                tracing::error!(%error, integration_id = %id, "connection not refreshed");
            }
            result
        });
    }
    let mut report = RunReport::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(Outcome::Refreshed)) => report.refreshed += 1,
            Ok(Ok(Outcome::AlreadyFresh | Outcome::Busy)) => report.skipped += 1,
            Ok(Ok(Outcome::RetryAt(_))) => report.retrying += 1,
            Ok(Ok(Outcome::NeedsReconnect(_))) => report.needs_reconnect += 1,
            Ok(Err(_)) | Err(_) => report.errors += 1,
        }
    }
    report.reminders = send_rotation_reminders(services, now).await?;
    tracing::info!(?report, "oauth refresh run");
    Ok(report)
}

/// How often `hookrail dev` runs the refresher (the template schedules it every 5 minutes).
pub const INTERVAL: Duration = Duration::from_secs(60);

async fn send_rotation_reminders(services: &Services, now: i64) -> Result<usize, OAuthError> {
    let store = services.store.as_ref();
    let mut sent = 0;
    for integration in integrations::reminders_due(store, now, BATCH).await? {
        let Some(date) = integration.connection.rotate_by.clone() else {
            continue;
        };
        announce_expiring(
            services,
            &integration,
            json!({ "credential": "api_key", "rotate_by": date }),
            format!("rotate_by:{date}"),
            format!("credentials due for rotation by {date}"),
            now,
        )
        .await;
        if let Some((mut latest, version)) = integrations::get_any(store, &integration.id).await? {
            latest.connection.rotation_warned = true;
            // On a concurrent edit the reminder is announced again next run, under the same key.
            if let Err(error) = integrations::update(store, &latest, version).await {
                tracing::warn!(%error, integration_id = %integration.id, "rotation reminder not marked sent");
            }
        }
        sent += 1;
    }
    Ok(sent)
}

/// An access token handed out to the tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuedToken {
    /// The token.
    pub access_token: String,
    /// Usually `Bearer`.
    pub token_type: String,
    /// When it expires.
    pub expires_at: Option<i64>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Provider extras (e.g. `instance_url`).
    pub extras: serde_json::Map<String, serde_json::Value>,
}

/// How long an on-demand caller waits for another refresher holding the lease.
const WAIT_FOR_OTHER: Duration = Duration::from_secs(10);

/// A fresh access token of `integration`, refreshed first if it expires within
/// [`HANDOUT_MARGIN_SECS`] — under the same lease as the scheduled refresher.
pub async fn access_token(
    services: &Services,
    integration: &Integration,
    actor: &str,
) -> Result<IssuedToken, OAuthError> {
    let (provider, _) = oauth_provider(services, integration)?;
    if integration.connection.status == ConnectionStatus::NeedsReconnect {
        return Err(OAuthError::NeedsReconnect(
            integration.connection.reason.clone().unwrap_or_default(),
        ));
    }
    let store = services.store.as_ref();
    let started = tokio::time::Instant::now();
    // Once refreshed, the new token is handed out even if the vendor made it shorter-lived
    // than the margin; asking again would only refresh again.
    let mut margin = HANDOUT_MARGIN_SECS;
    loop {
        let now = services.clock.now();
        let current = credentials::get(store, &integration.id).await?;
        match &current {
            Some((creds, _)) if creds.stopped => {
                return Err(OAuthError::NeedsReconnect(
                    creds.last_error.clone().unwrap_or_default(),
                ))
            }
            Some((creds, _)) if creds.access_token_fresh(now, margin) => {
                let access_token = services
                    .sealer
                    .open_str(
                        &integrations::context(integration),
                        &creds.tokens.access_token,
                    )
                    .await
                    .map_err(RepoError::from)?;
                return Ok(IssuedToken {
                    access_token,
                    token_type: creds.tokens.token_type.clone(),
                    expires_at: creds.tokens.expires_at,
                    scopes: creds.tokens.scopes.clone(),
                    extras: creds.tokens.extras.clone(),
                });
            }
            None if provider.auth != AuthKind::ClientCredentials => {
                return Err(OAuthError::NotConnected)
            }
            _ => {}
        }
        match refresh_connection(services, &integration.id, Trigger::OnDemand, actor).await? {
            Outcome::NeedsReconnect(reason) => return Err(OAuthError::NeedsReconnect(reason)),
            Outcome::RetryAt(_) => {
                let error = credentials::get(store, &integration.id)
                    .await?
                    .and_then(|(c, _)| c.last_error)
                    .unwrap_or_default();
                return Err(OAuthError::Vendor(TokenError::Unavailable(error)));
            }
            Outcome::Busy if started.elapsed() >= WAIT_FOR_OTHER => return Err(OAuthError::Busy),
            Outcome::Busy => tokio::time::sleep(Duration::from_millis(100)).await,
            Outcome::Refreshed | Outcome::AlreadyFresh => margin = 0,
        }
    }
}
