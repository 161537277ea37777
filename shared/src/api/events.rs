//! `/v1/integrations/{id}/events`: what vendors sent, how processing went, and replay.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use super::integrations::owned;
use super::pagination::{PageParams, Paged};
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::domain::event::{EventStatus, Failure, InboundEvent, Verification};
use crate::ids::EventId;
use crate::inbound::receipt::{enqueue, new_event, ReceiptError};
use crate::repo::events;

/// Filters of the event list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only events in this status: RECEIVED, PROCESSING, PROCESSED or FAILED.
    pub status: Option<String>,
}

/// A received event as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// The event id.
    pub id: String,
    /// The integration it arrived on.
    pub integration_id: String,
    /// The vendor.
    pub vendor: String,
    /// `{vendor}.{event}`, once processed.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Where it is in its life cycle.
    pub status: EventStatus,
    /// RFC 3339.
    pub received_at: String,
    /// How its authenticity was established.
    pub verification: Verification,
    /// The first kilobyte of the payload.
    pub payload_preview: String,
    /// The payload's size in bytes.
    pub payload_bytes: usize,
    /// Processing tries so far.
    pub tries: u32,
    /// Why processing failed, with the failing stage and a suggested fix.
    pub failure: Option<Failure>,
    /// The event this one replays.
    pub replay_of: Option<String>,
    /// RFC 3339, once processed.
    pub processed_at: Option<String>,
}

impl From<&InboundEvent> for EventView {
    fn from(event: &InboundEvent) -> Self {
        Self {
            id: event.id.to_string(),
            integration_id: event.integration_id.to_string(),
            vendor: event.vendor.clone(),
            event_type: event.event_type.clone(),
            status: event.status,
            received_at: rfc3339(event.received_at),
            verification: event.verification,
            payload_preview: event.preview.clone(),
            payload_bytes: event.body_bytes,
            tries: event.tries,
            failure: event.failure.clone(),
            replay_of: event.replay_of.as_ref().map(ToString::to_string),
            processed_at: event.processed_at.map(rfc3339),
        }
    }
}

async fn owned_event(
    services: &Services,
    tenant: &AuthTenant,
    integration_id: &str,
    event_id: &str,
) -> Result<InboundEvent, ApiError> {
    let (integration, _) = owned(services, tenant, integration_id).await?;
    let id = EventId::parse(event_id).map_err(|_| ApiError::not_found("event"))?;
    events::get(services.store.as_ref(), &id)
        .await?
        .map(|(event, _)| event)
        .filter(|event| event.integration_id == integration.id)
        .ok_or_else(|| ApiError::not_found("event"))
}

/// List an integration's received events, newest first.
#[utoipa::path(
    get, path = "/v1/integrations/{id}/events", tag = "events",
    params(("id" = String, Path, description = "Integration id"), EventFilter, PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = Paged<EventView>),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 404, description = "No such integration", body = ErrorBody),
    )
)]
pub async fn list_events(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
    Query(filter): Query<EventFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<EventView>>, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    let status = match filter.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(EventStatus::parse(raw).ok_or_else(|| {
            ApiError::invalid(
                "status",
                "must be RECEIVED, PROCESSING, PROCESSED or FAILED",
            )
        })?),
    };
    let (items, next_cursor) = events::list(
        services.store.as_ref(),
        &integration.id,
        status,
        page.limit()?,
        page.cursor.clone(),
    )
    .await?;
    Ok(Json(Paged {
        data: items.iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// Read one received event.
#[utoipa::path(
    get, path = "/v1/integrations/{id}/events/{event_id}", tag = "events",
    params(
        ("id" = String, Path, description = "Integration id"),
        ("event_id" = String, Path, description = "Event id")
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event", body = EventView),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
pub async fn get_event(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<Json<EventView>, ApiError> {
    let event = owned_event(&services, &tenant, &id, &event_id).await?;
    Ok(Json(EventView::from(&event)))
}

/// Re-submit a received event as a new event, processed from the start.
#[utoipa::path(
    post, path = "/v1/integrations/{id}/events/{event_id}/replay", tag = "events",
    params(
        ("id" = String, Path, description = "Integration id"),
        ("event_id" = String, Path, description = "Event id")
    ),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The new event, queued", body = EventView),
        (status = 404, description = "No such event, or its payload expired", body = ErrorBody),
        (status = 503, description = "Queue unavailable; retry", body = ErrorBody),
    )
)]
pub async fn replay_event(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path((id, event_id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    let original = owned_event(&services, &tenant, &id, &event_id).await?;
    let payload = events::payload(services.store.as_ref(), &original.id)
        .await?
        .ok_or_else(|| ApiError::not_found("event payload"))?;
    let now = services.clock.now();
    let mut replay = new_event(
        &integration,
        String::new(),
        &payload.body,
        now,
        Verification::Replayed,
    );
    replay.dedupe_key = format!("replay:{}", replay.id);
    replay.replay_of = Some(original.id.clone());
    events::insert(services.store.as_ref(), &replay, &payload).await?;
    enqueue(&services, &replay.id).await.map_err(|e| match e {
        ReceiptError::Unavailable(_) => ApiError::unavailable(),
        _ => ApiError::internal(),
    })?;
    tracing::info!(tenant_id = %tenant.0, event_id = %replay.id, replay_of = %original.id, "event replayed");
    Ok((StatusCode::ACCEPTED, Json(EventView::from(&replay))))
}
