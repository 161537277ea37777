//! Per-tenant rate limits on `/v1`: a fixed one-minute window counted in the state store, so
//! every function instance (and every `hookrail dev` worker) shares one count per tenant.
//! Every answer says where the tenant stands (`X-RateLimit-Limit`, `-Remaining`, `-Reset`);
//! a request over the limit gets 429 with `Retry-After`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::AuthTenant;
use super::error::ApiError;
use crate::backend::Services;

/// Requests per tenant per minute when nothing else is configured.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 600;

const WINDOW_SECS: i64 = 60;

fn set(headers: &mut HeaderMap, name: &'static str, value: i64) {
    if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

/// Counts the authenticated tenant's request and refuses it over the limit.
pub async fn limit_per_tenant(
    State(services): State<Services>,
    request: Request,
    next: Next,
) -> Response {
    let Some(AuthTenant(tenant)) = request.extensions().get::<AuthTenant>().cloned() else {
        return next.run(request).await;
    };
    let limit = i64::from(services.settings.api_requests_per_minute);
    let now = services.clock.now();
    let window = now - now.rem_euclid(WINDOW_SECS);
    let reset = window + WINDOW_SECS;
    let counter = format!("ratelimit#{tenant}#{window}");
    let count = match services
        .store
        .increment(&counter, "count", 1, reset + WINDOW_SECS)
        .await
    {
        Ok(count) => count,
        Err(error) => {
            // The limit protects the service; an outage of its counter must not take the
            // whole API down with it, so the request goes through and the log says why.
            tracing::warn!(tenant_id = %tenant, error = %error, "rate-limit counter unavailable; request allowed");
            return next.run(request).await;
        }
    };
    let mut response = if count > limit {
        let retry_after = (reset - now).max(1);
        tracing::info!(tenant_id = %tenant, limit, "tenant over its API rate limit");
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("more than {limit} requests per minute; retry in {retry_after}s"),
        )
        .with_details(json!({ "limit_per_minute": limit, "retry_after_secs": retry_after }))
        .into_response();
        set(response.headers_mut(), "retry-after", retry_after);
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    set(headers, "x-ratelimit-limit", limit);
    set(headers, "x-ratelimit-remaining", (limit - count).max(0));
    set(headers, "x-ratelimit-reset", reset);
    response
}
