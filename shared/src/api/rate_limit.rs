//! Per-tenant rate limits on `/v1`: a fixed one-minute window ([`crate::limits`]) shared by
//! every function instance.
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
    let now = services.clock.now();
    let counted = match crate::limits::count(
        services.store.as_ref(),
        &format!("ratelimit#{tenant}"),
        services.settings.api_requests_per_minute,
        now,
    )
    .await
    {
        Ok(counted) => counted,
        Err(error) => {
            // The limit protects the service; an outage of its counter must not take the
            // whole API down with it, so the request goes through and the log says why.
            tracing::warn!(tenant_id = %tenant, error = %error, "rate-limit counter unavailable; request allowed");
            return next.run(request).await;
        }
    };
    let (limit, reset) = (counted.limit, counted.reset);
    let mut response = if counted.is_over() {
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
    set(headers, "x-ratelimit-remaining", counted.remaining());
    set(headers, "x-ratelimit-reset", reset);
    response
}
