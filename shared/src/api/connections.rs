//! Connecting to vendors: the OAuth consent (`/oauth/authorize` and the public
//! `/oauth/callback`), testing a connection with its real credentials, and handing out fresh
//! access tokens to the tenant's own services.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::auth::{Actor, AuthTenant};
use super::error::{ApiError, ErrorBody};
use super::integrations::owned;
use super::public_base_url;
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::oauth::client::TokenError;
use crate::oauth::{connect, refresh, OAuthError};
use crate::probe::{probe, ProbeError, ProbeResult};
use crate::repo::audit::{record_or_log, AuditEntry, AuditKind};

impl From<OAuthError> for ApiError {
    fn from(error: OAuthError) -> Self {
        let message = error.to_string();
        match error {
            OAuthError::Repo(repo) => repo.into(),
            OAuthError::Secrets(secrets) => {
                tracing::error!(error = %secrets, "operator secrets unavailable");
                ApiError::unavailable()
            }
            OAuthError::Vendor(TokenError::Unavailable(_)) | OAuthError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "vendor_unavailable", message)
            }
            OAuthError::Vendor(TokenError::Rejected { code, description, status }) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "vendor_refused", message).with_details(
                    json!({ "vendor_error": code, "vendor_error_description": description, "vendor_status": status }),
                )
            }
            OAuthError::Vendor(TokenError::Malformed(_)) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "vendor_refused", message)
            }
            OAuthError::NeedsReconnect(_) => {
                ApiError::new(StatusCode::CONFLICT, "needs_reconnect", message)
            }
            OAuthError::NotConnected => ApiError::new(StatusCode::CONFLICT, "not_connected", message),
            OAuthError::NoApp(_) => ApiError::new(StatusCode::CONFLICT, "no_oauth_app", message),
            OAuthError::UnknownProvider(_)
            | OAuthError::NotOAuth(_)
            | OAuthError::Template(_)
            | OAuthError::Blocked(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message),
            OAuthError::BadState | OAuthError::Denied(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "authorization_failed", message)
            }
        }
    }
}

impl From<ProbeError> for ApiError {
    fn from(error: ProbeError) -> Self {
        match error {
            ProbeError::OAuth(oauth) => oauth.into(),
            ProbeError::Repo(repo) => repo.into(),
            ProbeError::NoProvider(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            ),
        }
    }
}

/// A request to start an OAuth consent.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// Scopes to ask for instead of the provider's defaults.
    pub scopes: Option<Vec<String>>,
}

/// Where to send the user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizeView {
    /// The vendor's authorization URL; open it in a popup or redirect the user to it.
    pub authorization_url: String,
    /// The single-use state it carries.
    pub state: String,
    /// RFC 3339; the link stops working then (10 minutes).
    pub expires_at: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The callback the vendor redirects to (register it with the vendor's OAuth app).
    pub redirect_uri: String,
}

/// Start an OAuth consent for a connection.
#[utoipa::path(
    post, path = "/v1/integrations/{id}/oauth/authorize", tag = "connections",
    params(("id" = String, Path, description = "Integration id")),
    request_body(content = Option<AuthorizeRequest>, description = "Optional scopes"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The authorization URL", body = AuthorizeView),
        (status = 400, description = "Not an OAuth provider, or config incomplete", body = ErrorBody),
        (status = 404, description = "No such integration", body = ErrorBody),
        (status = 409, description = "No OAuth app registered for the provider", body = ErrorBody),
    )
)]
pub async fn start_authorization(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<Json<AuthorizeRequest>>,
) -> Result<Json<AuthorizeView>, ApiError> {
    let request = body.map(|Json(r)| r).unwrap_or_default();
    let (integration, _) = owned(&services, &tenant, &id).await?;
    let base = public_base_url(&services, &headers);
    let started = connect::start(&services, &integration, request.scopes, &base, &actor.0).await?;
    Ok(Json(AuthorizeView {
        authorization_url: started.url,
        state: started.state,
        expires_at: rfc3339(started.expires_at),
        scopes: started.scopes,
        redirect_uri: format!("{}{}", base.trim_end_matches('/'), connect::CALLBACK_PATH),
    }))
}

/// The vendor's redirect after consent: a page the popup can close.
pub async fn oauth_callback(
    State(services): State<Services>,
    Query(callback): Query<connect::Callback>,
) -> Response {
    match connect::complete(&services, callback).await {
        Ok(integration) => {
            let missing = integration.connection.missing_scopes();
            let note = if missing.is_empty() {
                String::new()
            } else {
                format!(
                    "<p>Note: these permissions were not granted: {}.</p>",
                    escape(&missing.join(", "))
                )
            };
            page(
                StatusCode::OK,
                "Connected",
                &format!(
                    "<p>{} is connected. You can close this window.</p>{note}",
                    escape(&integration.name)
                ),
                json!({ "type": "hookrail:oauth", "ok": true, "integration_id": integration.id }),
            )
        }
        Err(error) => {
            let status = match &error {
                OAuthError::Repo(_) | OAuthError::Secrets(_) => StatusCode::SERVICE_UNAVAILABLE,
                OAuthError::Vendor(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::warn!(%error, "oauth callback failed");
            page(
                status,
                "Not connected",
                &format!(
                    "<p>The connection was not made: {}</p>",
                    escape(&error.to_string())
                ),
                json!({ "type": "hookrail:oauth", "ok": false, "error": error.to_string() }),
            )
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str, message: Value) -> Response {
    // The opener learns the outcome by postMessage; `</` is escaped so the JSON can't end
    // the script element.
    let message = message.to_string().replace("</", "<\\/");
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}<script>\
         if (window.opener) {{ window.opener.postMessage({message}, \"*\"); window.close(); }}\
         </script></body></html>"
    );
    (
        status,
        [
            ("cache-control", "no-store"),
            (
                "content-security-policy",
                "default-src 'none'; script-src 'unsafe-inline'",
            ),
            ("referrer-policy", "no-referrer"),
        ],
        Html(html),
    )
        .into_response()
}

/// Test a connection with its real credentials.
#[utoipa::path(
    post, path = "/v1/integrations/{id}/test", tag = "connections",
    params(("id" = String, Path, description = "Integration id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the vendor answered (`ok` says whether it accepted)", body = ProbeResult),
        (status = 404, description = "No such integration", body = ErrorBody),
        (status = 409, description = "Not connected, or needs a reconnect", body = ErrorBody),
    )
)]
pub async fn test_connection(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<ProbeResult>, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    let result = probe(&services, &integration, &actor.0).await;
    let (ok, detail) = match &result {
        Ok(found) => (
            found.ok,
            format!("{} ({} ms)", found.message, found.latency_ms),
        ),
        Err(error) => (false, error.to_string()),
    };
    record_or_log(
        services.store.as_ref(),
        AuditEntry::new(
            &tenant.0,
            &integration.id,
            AuditKind::Tested,
            actor.0,
            ok,
            detail,
            services.clock.now(),
        ),
    )
    .await;
    Ok(Json(result?))
}

/// A fresh access token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessTokenView {
    /// The token; treat it as a secret.
    pub access_token: String,
    /// Usually `Bearer`.
    pub token_type: String,
    /// RFC 3339, when it expires.
    pub expires_at: Option<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Provider extras, e.g. Salesforce `instance_url`.
    #[schema(value_type = Object)]
    pub extras: Map<String, Value>,
}

/// Get a fresh access token for the tenant's own calls to the vendor.
#[utoipa::path(
    get, path = "/v1/integrations/{id}/access-token", tag = "connections",
    params(("id" = String, Path, description = "Integration id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid for at least a minute (refreshed first if needed)", body = AccessTokenView),
        (status = 404, description = "No such integration", body = ErrorBody),
        (status = 409, description = "Not connected, or needs a reconnect", body = ErrorBody),
        (status = 502, description = "The vendor refused the refresh", body = ErrorBody),
        (status = 503, description = "The vendor is unavailable; retry", body = ErrorBody),
    )
)]
pub async fn get_access_token(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    let result = refresh::access_token(&services, &integration, &actor.0).await;
    record_or_log(
        services.store.as_ref(),
        AuditEntry::new(
            &tenant.0,
            &integration.id,
            AuditKind::TokenIssued,
            actor.0,
            result.is_ok(),
            match &result {
                Ok(token) => format!(
                    "access token handed out, expires {}",
                    token.expires_at.map_or_else(|| "never".to_owned(), rfc3339)
                ),
                Err(error) => error.to_string(),
            },
            services.clock.now(),
        ),
    )
    .await;
    let token = result?;
    let view = AccessTokenView {
        access_token: token.access_token,
        token_type: token.token_type,
        expires_at: token.expires_at.map(rfc3339),
        scopes: token.scopes,
        extras: token.extras,
    };
    Ok(([("cache-control", "no-store")], Json(view)).into_response())
}
