//! The consent flow: an authorization URL with a single-use `state` (10 minutes, bound to
//! tenant and connection) and PKCE (S256), then the callback that redeems the code and seals
//! the tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::client::{request_token, Grant};
use super::{
    check_vendor_url, client_auth, oauth_provider, public_values, render, seal_grant, OAuthError,
};
use crate::backend::Services;
use crate::catalog::AuthKind;
use crate::domain::connection::{ConnectionStatus, Credentials};
use crate::domain::integration::Integration;
use crate::repo::audit::{record_or_log, AuditEntry, AuditKind};
use crate::repo::credentials::{self, PendingConsent};
use crate::repo::{integrations, RepoError};

/// How long an authorization link stays usable.
pub const STATE_TTL_SECS: i64 = 600;

/// The path of the callback, under the public base URL.
pub const CALLBACK_PATH: &str = "/oauth/callback";

/// A consent to send the user to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The vendor's authorization URL, with every parameter.
    pub url: String,
    /// The single-use state in it.
    pub state: String,
    /// When the link stops working, unix seconds.
    pub expires_at: i64,
    /// The scopes asked for.
    pub scopes: Vec<String>,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    B64URL.encode(buf)
}

/// The S256 challenge of a PKCE verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    B64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// Starts a consent for `integration`; `callback_base` is the public base URL the vendor
/// redirects back to.
pub async fn start(
    services: &Services,
    integration: &Integration,
    scopes: Option<Vec<String>>,
    callback_base: &str,
    actor: &str,
) -> Result<Authorization, OAuthError> {
    let (provider, spec) = oauth_provider(services, integration)?;
    let Some(authorize_template) = spec
        .authorize_url
        .as_deref()
        .filter(|_| provider.auth == AuthKind::Oauth2Code)
    else {
        return Err(OAuthError::NotOAuth(format!(
            "{} (client credentials: no consent needed, use GET /v1/integrations/{{id}}/access-token)",
            provider.display_name
        )));
    };
    let client = client_auth(services, &provider, &spec, integration).await?;
    let values = public_values(integration);
    let mut url = url::Url::parse(&render(authorize_template, &values)?)
        .map_err(|e| OAuthError::Blocked(format!("authorization URL: {e}")))?;
    let scopes = scopes.unwrap_or_else(|| spec.scopes.clone());
    let state = random_token(32);
    let redirect_uri = format!("{}{CALLBACK_PATH}", callback_base.trim_end_matches('/'));
    let now = services.clock.now();
    let mut code_verifier = None;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("state", &state);
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(&spec.scope_separator));
        }
        if spec.pkce {
            let verifier = random_token(48);
            query
                .append_pair("code_challenge", &pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256");
            code_verifier = Some(verifier);
        }
        for (name, value) in &spec.authorize_params {
            query.append_pair(name, value);
        }
    }
    let sealed_verifier = match &code_verifier {
        Some(verifier) => Some(
            services
                .sealer
                .seal_str(&integrations::context(integration), verifier)
                .await
                .map_err(RepoError::from)?,
        ),
        None => None,
    };
    let consent = PendingConsent {
        tenant_id: integration.tenant_id.clone(),
        integration_id: integration.id.clone(),
        code_verifier: sealed_verifier,
        scopes: scopes.clone(),
        redirect_uri,
        expires_at: now + STATE_TTL_SECS,
    };
    credentials::put_consent(services.store.as_ref(), &state, &consent).await?;
    record_or_log(
        services.store.as_ref(),
        AuditEntry::new(
            &integration.tenant_id,
            &integration.id,
            AuditKind::ConsentStarted,
            actor,
            true,
            format!("scopes: {}", scopes.join(" ")),
            now,
        ),
    )
    .await;
    Ok(Authorization {
        url: url.into(),
        state,
        expires_at: consent.expires_at,
        scopes,
    })
}

/// What the vendor sent back to the callback.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state of [`start`].
    pub state: Option<String>,
    /// The vendor's error, when consent was refused.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
    /// Anything else the vendor added (QuickBooks `realmId`): kept in the connection's config
    /// when it names one of the provider's fields.
    #[serde(flatten)]
    pub extra: std::collections::BTreeMap<String, String>,
}

/// The value a callback carries for a provider field, under its name or in camelCase.
fn callback_value<'a>(callback: &'a Callback, field: &str) -> Option<&'a String> {
    let mut camel = String::new();
    let mut upper = false;
    for c in field.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                camel.extend(c.to_uppercase());
                upper = false;
            }
            c => camel.push(c),
        }
    }
    callback
        .extra
        .get(field)
        .or_else(|| callback.extra.get(&camel))
}

/// Completes a consent: checks `state`, redeems the code, seals the tokens and marks the
/// connection connected.
pub async fn complete(services: &Services, callback: Callback) -> Result<Integration, OAuthError> {
    const ACTOR: &str = "oauth_callback";
    let state = callback.state.as_deref().ok_or(OAuthError::BadState)?;
    let consent = credentials::take_consent(services.store.as_ref(), state)
        .await?
        .ok_or(OAuthError::BadState)?;
    let now = services.clock.now();
    if consent.expires_at <= now {
        return Err(OAuthError::BadState);
    }
    let (mut integration, mut version) = integrations::get(
        services.store.as_ref(),
        &consent.tenant_id,
        &consent.integration_id,
    )
    .await?
    .ok_or(OAuthError::BadState)?;
    let audit = |ok: bool, detail: String| {
        AuditEntry::new(
            &consent.tenant_id,
            &consent.integration_id,
            AuditKind::Connected,
            ACTOR,
            ok,
            detail,
            now,
        )
    };
    let result = redeem(services, &integration, &consent, &callback, now).await;

    let credentials = match result {
        Ok(credentials) => credentials,
        Err(error) => {
            record_or_log(services.store.as_ref(), audit(false, error.to_string())).await;
            return Err(error);
        }
    };
    let granted = credentials.tokens.scopes.clone();
    credentials::put(services.store.as_ref(), &credentials, None).await?;
    let callback_fields: Vec<(String, String)> = services
        .catalog
        .get(&integration.vendor)
        .map(|provider| {
            provider
                .fields
                .iter()
                .filter(|f| !f.secret)
                .filter_map(|f| Some((f.name.clone(), callback_value(&callback, &f.name)?.clone())))
                .collect()
        })
        .unwrap_or_default();
    loop {
        for (name, value) in &callback_fields {
            integration
                .config
                .insert(name.clone(), serde_json::Value::from(value.as_str()));
        }
        let connection = &mut integration.connection;
        connection.status = ConnectionStatus::Connected;
        connection.reason = None;
        connection.scopes_requested = consent.scopes.clone();
        connection.scopes_granted = if granted.is_empty() {
            consent.scopes.clone()
        } else {
            granted.clone()
        };
        connection.connected_at = Some(now);
        integration.updated_at = now;
        match integrations::update(services.store.as_ref(), &integration, version).await {
            Err(RepoError::Conflict) => {
                (integration, version) =
                    integrations::get_any(services.store.as_ref(), &integration.id)
                        .await?
                        .ok_or(OAuthError::BadState)?;
            }
            other => break other?,
        }
    }
    let missing = integration.connection.missing_scopes();
    let detail = if missing.is_empty() {
        format!(
            "granted: {}",
            integration.connection.scopes_granted.join(" ")
        )
    } else {
        format!(
            "granted: {}; asked for but not granted: {}",
            integration.connection.scopes_granted.join(" "),
            missing.join(" ")
        )
    };
    tracing::info!(tenant_id = %integration.tenant_id, integration_id = %integration.id, missing_scopes = missing.len(), "connection connected");
    record_or_log(services.store.as_ref(), audit(true, detail)).await;
    Ok(integration)
}

async fn redeem(
    services: &Services,
    integration: &Integration,
    consent: &PendingConsent,
    callback: &Callback,
    now: i64,
) -> Result<Credentials, OAuthError> {
    if let Some(error) = &callback.error {
        let description = callback.error_description.as_deref().unwrap_or_default();
        return Err(OAuthError::Denied(
            format!("{error} {description}").trim().to_owned(),
        ));
    }
    let code = callback
        .code
        .clone()
        .ok_or_else(|| OAuthError::Denied("the callback carried no code".into()))?;
    let (provider, spec) = oauth_provider(services, integration)?;
    let client = client_auth(services, &provider, &spec, integration).await?;
    let token_url = render(&spec.token_url, &public_values(integration))?;
    check_vendor_url(services, &token_url)?;
    let code_verifier = match &consent.code_verifier {
        Some(sealed) => Some(
            services
                .sealer
                .open_str(&integrations::context(integration), sealed)
                .await
                .map_err(RepoError::from)?,
        ),
        None => None,
    };
    let grant = request_token(
        &services.http,
        &token_url,
        &client,
        &Grant::AuthorizationCode {
            code,
            redirect_uri: consent.redirect_uri.clone(),
            code_verifier,
        },
        &[],
    )
    .await?;
    let tokens = seal_grant(services, integration, &spec, grant, None, now).await?;
    Ok(Credentials::new(
        integration.tenant_id.clone(),
        integration.id.clone(),
        tokens,
        now,
        spec.refresh_buffer,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_parameters_fill_provider_fields_by_name_or_camel_case() {
        let callback = Callback {
            extra: [("realmId".to_owned(), "9130".to_owned())].into(),
            ..Callback::default()
        };
        assert_eq!(
            callback_value(&callback, "realm_id").map(String::as_str),
            Some("9130")
        );
        assert_eq!(callback_value(&callback, "shop"), None);
    }

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
