//! `/v1/endpoints`: where a tenant's events are delivered, and with which secret.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use super::pagination::{PageParams, Paged};
use super::settings::{checked_schedule, schedule_change};
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::domain::circuit::{Circuit, EndpointHealth};
use crate::domain::endpoint::{
    validate_event_types, validate_rate_limit, Channel, Endpoint, EndpointError,
};
use crate::domain::integration::MASKED;
use crate::ids::EndpointId;
use crate::outbound::ssrf::{check_url, TargetError};
use crate::repo::{endpoint_health, endpoints};

/// A request to create an endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where deliveries are POSTed (http or https).
    pub url: String,
    /// Subscribed types: exact, or with a trailing wildcard (`github.*`, `*`).
    pub event_types: Vec<String>,
    /// Field of the event's `data` (dotted for nested fields) → allowed values; all must match.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub filters: BTreeMap<String, Vec<Value>>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Whether deliveries are made (default true).
    #[serde(default = "default_true")]
    pub active: bool,
    /// Delays between attempts in seconds (the last repeats); the tenant's default when absent.
    pub retry_schedule: Option<Vec<u64>>,
    /// Deliveries per minute (default 100); more wait for the next minute.
    pub rate_limit_per_minute: Option<u32>,
    /// `webhook` (default), or a chat channel — `slack`, `teams`, `discord` — whose `url` is
    /// the incoming-webhook URL and whose deliveries are chat messages.
    #[serde(default)]
    pub channel: Channel,
}

fn default_true() -> bool {
    true
}

/// A partial update; absent fields are left as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// A new URL.
    pub url: Option<String>,
    /// New subscriptions.
    pub event_types: Option<Vec<String>>,
    /// New filters (replace the old ones).
    #[schema(value_type = Option<Object>)]
    pub filters: Option<BTreeMap<String, Vec<Value>>>,
    /// New description.
    pub description: Option<String>,
    /// Turn deliveries on or off.
    pub active: Option<bool>,
    /// New retry delays in seconds; `[]` returns to the tenant's default.
    pub retry_schedule: Option<Vec<u64>>,
    /// New deliveries-per-minute limit.
    pub rate_limit_per_minute: Option<u32>,
}

/// An endpoint as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// The id.
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Subscribed types.
    pub event_types: Vec<String>,
    /// Filters on the event's data.
    #[schema(value_type = Object)]
    pub filters: BTreeMap<String, Vec<Value>>,
    /// Free text.
    pub description: String,
    /// Whether deliveries are made.
    pub active: bool,
    /// This endpoint's retry delays in seconds, if it has its own.
    pub retry_schedule: Option<Vec<u64>>,
    /// Deliveries per minute it receives.
    pub rate_limit_per_minute: u32,
    /// `webhook`, `slack`, `teams` or `discord`.
    pub channel: Channel,
    /// Why Hookrail disabled it (set `active: true` to resume; pending deliveries were kept).
    pub disabled_reason: Option<String>,
    /// Delivery health: consecutive failures and the circuit breaker (on single reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthView>,
    /// The signing secret (`whsec_…`): present only when created or rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// An endpoint's delivery health.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    /// `closed` (deliveries flow), `open` (deliveries wait out a cool-down) or `half_open`
    /// (one probe delivery is in flight).
    pub circuit: &'static str,
    /// RFC 3339: when an open circuit lets its next probe delivery through.
    pub circuit_retry_at: Option<String>,
    /// Failed attempts since the last success (5 open the circuit, 100 disable the endpoint).
    pub consecutive_failures: u32,
    /// RFC 3339: when the current run of failures began.
    pub failing_since: Option<String>,
    /// The last failure (`503`, `timeout`, …).
    pub last_error: Option<String>,
    /// RFC 3339.
    pub last_failure_at: Option<String>,
}

impl From<&EndpointHealth> for HealthView {
    fn from(health: &EndpointHealth) -> Self {
        let retry_at = match health.circuit {
            Circuit::Open { until } => Some(rfc3339(until)),
            Circuit::Closed | Circuit::HalfOpen { .. } => None,
        };
        Self {
            circuit: health.circuit.name(),
            circuit_retry_at: retry_at,
            consecutive_failures: health.consecutive_failures,
            failing_since: health.failing_since.map(rfc3339),
            last_error: health.last_error.clone(),
            last_failure_at: health.last_failure_at.map(rfc3339),
        }
    }
}

/// A newly issued signing secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new secret (`whsec_…`), shown only now.
    pub secret: String,
    /// RFC 3339: until then the previous secret signs too.
    pub previous_valid_until: String,
}

fn view(endpoint: &Endpoint, secret: Option<String>) -> EndpointView {
    EndpointView {
        id: endpoint.id.to_string(),
        url: shown_url(endpoint),
        event_types: endpoint.event_types.clone(),
        filters: endpoint.filters.clone(),
        description: endpoint.description.clone(),
        active: endpoint.active,
        retry_schedule: endpoint.retry_schedule.clone(),
        rate_limit_per_minute: endpoint.rate_limit(),
        channel: endpoint.channel,
        disabled_reason: endpoint.disabled_reason.clone(),
        health: None,
        secret,
        created_at: rfc3339(endpoint.created_at),
        updated_at: rfc3339(endpoint.updated_at),
    }
}

/// A chat channel's URL carries its credential (Slack's and Discord's tokens, Teams' `sig`):
/// only its scheme and host are shown back.
fn shown_url(endpoint: &Endpoint) -> String {
    if !endpoint.channel.is_chat() {
        return endpoint.url.clone();
    }
    match url::Url::parse(&endpoint.url) {
        Ok(url) => format!(
            "{}://{}/{MASKED}",
            url.scheme(),
            url.host_str().unwrap_or("")
        ),
        Err(_) => MASKED.to_owned(),
    }
}

impl From<EndpointError> for ApiError {
    fn from(error: EndpointError) -> Self {
        ApiError::invalid(&error.field, error.reason)
    }
}

fn checked_url(services: &Services, url: &str) -> Result<String, ApiError> {
    match check_url(url, &services.settings.address_policy) {
        Ok(parsed) => Ok(parsed.to_string()),
        Err(TargetError::Blocked(blocked)) => Err(ApiError::invalid(
            "url",
            format!("{blocked}; deliveries to it are refused"),
        )),
        Err(other) => Err(ApiError::invalid("url", other.to_string())),
    }
}

async fn owned(
    services: &Services,
    tenant: &AuthTenant,
    id: &str,
) -> Result<(Endpoint, u64), ApiError> {
    let id = EndpointId::parse(id).map_err(|_| ApiError::not_found("endpoint"))?;
    endpoints::get(services.store.as_ref(), &tenant.0, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))
}

/// Create an endpoint; the answer carries its signing secret, shown only here.
#[utoipa::path(
    post, path = "/v1/endpoints", tag = "endpoints",
    request_body = CreateEndpoint,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, with `secret`", body = EndpointView),
        (status = 400, description = "Invalid request or refused URL", body = ErrorBody),
    )
)]
pub async fn create_endpoint(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    body: Result<Json<CreateEndpoint>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body?;
    let url = checked_url(&services, &request.url)?;
    validate_event_types(&request.event_types)?;
    if let Some(schedule) = &request.retry_schedule {
        checked_schedule(schedule)?;
    }
    if let Some(per_minute) = request.rate_limit_per_minute {
        validate_rate_limit(per_minute)?;
    }
    let now = services.clock.now();
    let mut endpoint = Endpoint {
        id: EndpointId::generate(),
        tenant_id: tenant.0.clone(),
        url,
        event_types: request.event_types,
        filters: request.filters,
        description: request.description,
        active: request.active,
        secrets: Vec::new(),
        retry_schedule: request.retry_schedule,
        rate_limit_per_minute: request.rate_limit_per_minute,
        channel: request.channel,
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    let secret = crate::sign::generate_secret();
    endpoints::add_secret(&services.sealer, &mut endpoint, &secret, now).await?;
    endpoints::insert(services.store.as_ref(), &endpoint).await?;
    tracing::info!(tenant_id = %tenant.0, endpoint_id = %endpoint.id, "endpoint created");
    Ok((StatusCode::CREATED, Json(view(&endpoint, Some(secret)))))
}

/// List endpoints, newest first.
#[utoipa::path(
    get, path = "/v1/endpoints", tag = "endpoints",
    params(PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "One page", body = Paged<EndpointView>))
)]
pub async fn list_endpoints(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<EndpointView>>, ApiError> {
    let (items, next_cursor) = endpoints::list(
        services.store.as_ref(),
        &tenant.0,
        page.limit()?,
        page.cursor.clone(),
    )
    .await?;
    Ok(Json(Paged {
        data: items.iter().map(|e| view(e, None)).collect(),
        next_cursor,
    }))
}

/// Read one endpoint.
#[utoipa::path(
    get, path = "/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn get_endpoint(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let (endpoint, _) = owned(&services, &tenant, &id).await?;
    let (record, _) = endpoint_health::get(services.store.as_ref(), &endpoint).await?;
    let mut shown = view(&endpoint, None);
    shown.health = Some(HealthView::from(&record.health));
    Ok(Json(shown))
}

/// Change an endpoint.
#[utoipa::path(
    patch, path = "/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateEndpoint,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = EndpointView),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
    )
)]
pub async fn update_endpoint(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
    body: Result<Json<UpdateEndpoint>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<EndpointView>, ApiError> {
    let Json(request) = body?;
    let (mut endpoint, version) = owned(&services, &tenant, &id).await?;
    if let Some(url) = &request.url {
        endpoint.url = checked_url(&services, url)?;
    }
    if let Some(types) = request.event_types {
        validate_event_types(&types)?;
        endpoint.event_types = types;
    }
    if let Some(filters) = request.filters {
        endpoint.filters = filters;
    }
    if let Some(description) = request.description {
        endpoint.description = description;
    }
    if let Some(active) = request.active {
        endpoint.active = active;
    }
    if let Some(schedule) = request.retry_schedule {
        endpoint.retry_schedule = schedule_change(schedule)?;
    }
    if let Some(per_minute) = request.rate_limit_per_minute {
        validate_rate_limit(per_minute)?;
        endpoint.rate_limit_per_minute = Some(per_minute);
    }
    let reactivated = endpoint.active && request.active == Some(true);
    if reactivated {
        endpoint.disabled_reason = None;
    }
    endpoint.updated_at = services.clock.now();
    endpoints::update(services.store.as_ref(), &endpoint, version).await?;
    if reactivated {
        // A fresh start: the failures that tripped it are behind the tenant's fix.
        endpoint_health::reset(services.store.as_ref(), &endpoint.id).await?;
        let resumed = crate::outbound::recovery::resume_parked(&services, &endpoint).await?;
        if resumed > 0 {
            tracing::info!(endpoint_id = %endpoint.id, resumed, "parked deliveries resumed");
        }
    }
    Ok(Json(view(&endpoint, None)))
}

/// Remove an endpoint.
#[utoipa::path(
    delete, path = "/v1/endpoints/{id}", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn delete_endpoint(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (endpoint, _) = owned(&services, &tenant, &id).await?;
    endpoints::delete(services.store.as_ref(), &endpoint.id).await?;
    tracing::info!(tenant_id = %tenant.0, endpoint_id = %endpoint.id, "endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a new signing secret; the previous one keeps signing beside it for 24 hours.
#[utoipa::path(
    post, path = "/v1/endpoints/{id}/rotate-secret", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new secret", body = RotatedSecret),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<Json<RotatedSecret>, ApiError> {
    let (mut endpoint, version) = owned(&services, &tenant, &id).await?;
    let now = services.clock.now();
    let secret = crate::sign::generate_secret();
    endpoints::add_secret(&services.sealer, &mut endpoint, &secret, now).await?;
    endpoint.updated_at = now;
    endpoints::update(services.store.as_ref(), &endpoint, version).await?;
    tracing::info!(tenant_id = %tenant.0, endpoint_id = %endpoint.id, "endpoint secret rotated");
    Ok(Json(RotatedSecret {
        secret,
        previous_valid_until: rfc3339(now + crate::domain::endpoint::SECRET_OVERLAP_SECS),
    }))
}

/// The test event sent to an endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestSent {
    /// The test event's id.
    pub event_id: String,
    /// Its delivery, to follow at `GET /v1/deliveries/{id}`.
    pub delivery_id: String,
}

/// Send a clearly tagged test event (`"test": true`, type `hookrail.test`) to this endpoint.
#[utoipa::path(
    post, path = "/v1/endpoints/{id}/test", tag = "endpoints",
    params(("id" = String, Path, description = "Endpoint id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued", body = TestSent),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn send_test_event(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<TestSent>), ApiError> {
    let (endpoint, _) = owned(&services, &tenant, &id).await?;
    let (event_id, delivery) = crate::outbound::recovery::send_test(&services, &endpoint).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestSent {
            event_id: event_id.to_string(),
            delivery_id: delivery.id.to_string(),
        }),
    ))
}
