//! `POST /v1/events`: publish an event to the tenant's endpoints.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use crate::backend::Services;
use crate::domain::endpoint::validate_event_type;
use crate::outbound::publish::{publish, NewMessage, PublishError};

/// The largest `data` accepted, serialised (bytes).
pub const MAX_DATA_BYTES: usize = 256 * 1024;

/// An event to publish.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishEvent {
    /// `{resource}.{action}`, e.g. `invoice.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload delivered as `data`.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Publishing again with the same key within 24 hours returns the first event and
    /// delivers nothing new.
    pub idempotency_key: Option<String>,
}

/// A published event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublishedEvent {
    /// The event id (also each delivery's `webhook-id` and `Idempotency-Key`).
    pub id: String,
    /// False when the idempotency key returned an earlier event.
    pub created: bool,
}

/// Publish an event; every endpoint subscribed to its type (and whose filters match) gets a
/// signed delivery.
#[utoipa::path(
    post, path = "/v1/events", tag = "outbound",
    request_body = PublishEvent,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted for delivery", body = PublishedEvent),
        (status = 400, description = "Invalid event", body = ErrorBody),
        (status = 413, description = "`data` too large", body = ErrorBody),
        (status = 503, description = "Queue unavailable; publish again with the same key", body = ErrorBody),
    )
)]
pub async fn publish_event(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    body: Result<Json<PublishEvent>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body?;
    validate_event_type(&request.event_type)?;
    let size = serde_json::to_vec(&request.data).map_or(0, |v| v.len());
    if size > MAX_DATA_BYTES {
        return Err(ApiError::too_large(MAX_DATA_BYTES));
    }
    if let Some(key) = &request.idempotency_key {
        if key.is_empty() || key.len() > 255 {
            return Err(ApiError::invalid(
                "idempotency_key",
                "must be 1 to 255 characters",
            ));
        }
    }
    let (id, created) = publish(
        &services,
        NewMessage {
            tenant_id: tenant.0.clone(),
            event_type: request.event_type,
            data: request.data,
            idempotency_key: request.idempotency_key,
            test: false,
        },
    )
    .await
    .map_err(|error| match error {
        PublishError::Repo(repo) => ApiError::from(repo),
        PublishError::Queue(reason) => {
            tracing::error!(tenant_id = %tenant.0, error = %reason, "published event not queued");
            ApiError::unavailable()
        }
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PublishedEvent {
            id: id.to_string(),
            created,
        }),
    ))
}

/// A type to register in the catalog.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterEventType {
    /// `{resource}.{action}`.
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

/// The event-type catalog.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeList {
    /// Built-in types, then the tenant's, by name.
    pub data: Vec<crate::repo::event_types::EventType>,
}

/// List the event types endpoints can subscribe to: Hookrail's own, those seen published
/// (inbound `{vendor}.{event}` included), and those the tenant registered.
#[utoipa::path(
    get, path = "/v1/event-types", tag = "outbound",
    security(("bearer" = [])),
    responses((status = 200, description = "The catalog", body = EventTypeList))
)]
pub async fn list_event_types(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
) -> Result<Json<EventTypeList>, ApiError> {
    let data = crate::repo::event_types::catalog(services.store.as_ref(), &tenant.0).await?;
    Ok(Json(EventTypeList { data }))
}

/// Register a type (with a description) in the tenant's catalog.
#[utoipa::path(
    post, path = "/v1/event-types", tag = "outbound",
    request_body = RegisterEventType,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered", body = crate::repo::event_types::EventType),
        (status = 400, description = "Not a valid type", body = ErrorBody),
    )
)]
pub async fn register_event_type(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    body: Result<Json<RegisterEventType>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body?;
    validate_event_type(&request.name)?;
    let entry = crate::repo::event_types::register(
        services.store.as_ref(),
        &tenant.0,
        &request.name,
        request.description.trim(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
