//! Bearer API-key authentication.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::backend::Services;
use crate::ids::TenantId;
use crate::repo::tenants;

/// The authenticated tenant, put in request extensions by [`require_api_key`].
#[derive(Debug, Clone)]
pub struct AuthTenant(pub TenantId);

/// Who made the request, as audit trails name it (`api_key:{hint}`); never the key itself.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

fn challenge(message: &str) -> Response {
    let mut response = ApiError::unauthorized(message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// Rejects requests without a valid `Authorization: Bearer <key>`.
pub async fn require_api_key(
    State(services): State<Services>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|key| !key.is_empty());
    let Some(key) = presented else {
        return challenge("missing `Authorization: Bearer <api key>` header");
    };
    match tenants::authenticate(services.store.as_ref(), key).await {
        Ok(Some((tenant, hint))) => {
            request.extensions_mut().insert(AuthTenant(tenant));
            request
                .extensions_mut()
                .insert(Actor(format!("api_key:{hint}")));
            next.run(request).await
        }
        Ok(None) => challenge("the API key is not valid"),
        Err(error) => ApiError::from(error).into_response(),
    }
}
