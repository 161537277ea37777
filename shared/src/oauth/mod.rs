//! Connecting OAuth providers and keeping their tokens fresh.
//!
//! - [`client`]: the token endpoint, whatever the vendor's dialect.
//! - [`connect`]: the consent flow — authorization URL with `state` and PKCE, then the callback.
//! - [`refresh`]: refreshing under a lease in the state store, so two refreshers never redeem
//!   one refresh token; the scheduled run; access tokens handed out on demand.

pub mod client;
pub mod connect;
pub mod refresh;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::backend::Services;
use crate::catalog::{CatalogError, OAuthSpec, Provider};
use crate::domain::integration::Integration;
use crate::repo::{integrations, RepoError};
use crate::secrets::SecretsError;
use client::{ClientAuth, TokenError};

/// Why an OAuth operation did not go through.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The integration's vendor is not in the catalog.
    #[error("{0} is not a provider of the catalog")]
    UnknownProvider(String),
    /// The provider does not use OAuth.
    #[error("{0} connections use API keys, not OAuth")]
    NotOAuth(String),
    /// Neither the tenant nor the operator registered an OAuth app.
    #[error("no OAuth app for {0}: set config.client_id and config.client_secret on the integration, or ask the operator to register one (`hookrail oauth-apps set {0}`)")]
    NoApp(String),
    /// A URL template names a value the connection lacks.
    #[error(transparent)]
    Template(#[from] CatalogError),
    /// The connection has no tokens yet.
    #[error("the connection is not connected yet: start with POST /v1/integrations/{{id}}/oauth/authorize")]
    NotConnected,
    /// The vendor refused the grant; a user must connect again.
    #[error("the connection needs a reconnect: {0}")]
    NeedsReconnect(String),
    /// The callback's `state` is unknown, used already, or expired.
    #[error("this authorization link is unknown, was used already, or expired (links last 10 minutes); start again")]
    BadState,
    /// The user or the vendor refused consent.
    #[error("the vendor refused the authorization: {0}")]
    Denied(String),
    /// The token endpoint refused or failed.
    #[error("the vendor's token endpoint refused: {0}")]
    Vendor(#[from] TokenError),
    /// A vendor URL points where Hookrail may not go.
    #[error("the vendor URL is not allowed: {0}")]
    Blocked(String),
    /// Another refresher holds the lease and did not finish in time.
    #[error("another refresh of this connection is in progress; try again shortly")]
    Busy,
    /// The state store or vault failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Operator secrets could not be read.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The provider of an OAuth connection, and its OAuth side.
pub fn oauth_provider(
    services: &Services,
    integration: &Integration,
) -> Result<(Arc<Provider>, OAuthSpec), OAuthError> {
    let provider = services
        .catalog
        .get(&integration.vendor)
        .ok_or_else(|| OAuthError::UnknownProvider(integration.vendor.clone()))?;
    let spec = provider
        .oauth
        .clone()
        .ok_or_else(|| OAuthError::NotOAuth(provider.display_name.clone()))?;
    Ok((provider, spec))
}

/// The client credentials to present: the tenant's own app (`config.client_id` and
/// `client_secret`) or else the operator's.
pub async fn client_auth(
    services: &Services,
    provider: &Provider,
    spec: &OAuthSpec,
    integration: &Integration,
) -> Result<ClientAuth, OAuthError> {
    if let Some(client_id) = integration.config.get("client_id").and_then(Value::as_str) {
        let client_secret =
            integrations::open_secret(&services.sealer, integration, "client_secret")
                .await?
                .ok_or_else(|| OAuthError::NoApp(provider.name.clone()))?;
        return Ok(ClientAuth {
            client_id: client_id.to_owned(),
            client_secret,
            method: spec.token_auth,
            encoding: spec.token_request,
        });
    }
    let app = crate::secrets::oauth_app(services.operator_secrets.as_ref(), &provider.name)
        .await?
        .ok_or_else(|| OAuthError::NoApp(provider.name.clone()))?;
    Ok(ClientAuth {
        client_id: app.client_id,
        client_secret: app.client_secret,
        method: spec.token_auth,
        encoding: spec.token_request,
    })
}

/// The connection's public config as template values (`{subdomain}`, `{shop}`, …).
pub fn public_values(integration: &Integration) -> BTreeMap<String, String> {
    integration
        .config
        .iter()
        .filter_map(|(name, value)| match value {
            Value::String(s) => Some((name.clone(), s.clone())),
            Value::Number(n) => Some((name.clone(), n.to_string())),
            _ => None,
        })
        .collect()
}

/// Fills a template from `values`.
pub fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, OAuthError> {
    Ok(crate::catalog::render(template, &|name| {
        values.get(name).cloned()
    })?)
}

/// Refuses a vendor URL the address policy forbids (a tenant-chosen host may point inward).
pub fn check_vendor_url(services: &Services, url: &str) -> Result<(), OAuthError> {
    crate::outbound::ssrf::check_url(url, &services.settings.address_policy)
        .map(|_| ())
        .map_err(|e| OAuthError::Blocked(e.to_string()))
}

/// Seals a token response into a [`TokenSet`]. A response without a refresh token keeps the
/// previous one; a new refresh token is sealed here, before the caller replaces the old.
pub async fn seal_grant(
    services: &Services,
    integration: &Integration,
    spec: &OAuthSpec,
    grant: client::TokenGrant,
    previous: Option<&crate::domain::connection::TokenSet>,
    now: i64,
) -> Result<crate::domain::connection::TokenSet, OAuthError> {
    use crate::domain::connection::{parse_scopes, TokenSet};
    let ctx = integrations::context(integration);
    let access_token = services
        .sealer
        .seal_str(&ctx, &grant.access_token)
        .await
        .map_err(RepoError::from)?;
    let rotated = grant.refresh_token.is_some();
    let refresh_token = match &grant.refresh_token {
        Some(token) => Some(
            services
                .sealer
                .seal_str(&ctx, token)
                .await
                .map_err(RepoError::from)?,
        ),
        None => previous.and_then(|p| p.refresh_token.clone()),
    };
    let refresh_token_expires_at = match grant.refresh_token_expires_in {
        Some(secs) => Some(now + secs),
        None if rotated || previous.is_none() => spec
            .refresh_token_lifetime_days
            .filter(|_| refresh_token.is_some())
            .map(|days| now + days * 86_400),
        None => previous.and_then(|p| p.refresh_token_expires_at),
    };
    let mut extras = previous.map(|p| p.extras.clone()).unwrap_or_default();
    for name in &spec.token_extras {
        if let Some(value) = grant.fields.get(name) {
            extras.insert(name.clone(), value.clone());
        }
    }
    Ok(TokenSet {
        access_token,
        refresh_token,
        token_type: grant.token_type,
        expires_at: grant
            .expires_in
            .or(spec.default_expires_in)
            .map(|secs| now + secs),
        refresh_token_expires_at,
        scopes: grant
            .scope
            .as_deref()
            .map(parse_scopes)
            .or_else(|| previous.map(|p| p.scopes.clone()))
            .unwrap_or_default(),
        extras,
    })
}
