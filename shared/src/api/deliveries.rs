//! `/v1/deliveries`: every delivery of the tenant's events, with every attempt.

use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use super::pagination::{PageParams, Paged};
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::ids::DeliveryId;
use crate::repo::deliveries::{self, Attempt, Delivery, DeliveryStatus};

/// Filters of the delivery list; a page may hold fewer items than `limit` when filters
/// drop some, and `next_cursor` continues the scan.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryFilter {
    /// Only deliveries to this endpoint.
    pub endpoint_id: Option<String>,
    /// Only deliveries of this event type.
    pub event_type: Option<String>,
    /// `pending`, `succeeded` or `failed`.
    pub status: Option<DeliveryStatus>,
    /// Only deliveries whose last answer had this status code.
    pub status_code: Option<u16>,
    /// Only deliveries created at or after this unix time.
    pub since: Option<i64>,
    /// Only deliveries created before this unix time.
    pub until: Option<i64>,
}

impl DeliveryFilter {
    fn keeps(&self, d: &Delivery) -> bool {
        self.endpoint_id
            .as_deref()
            .is_none_or(|e| d.endpoint_id.as_str() == e)
            && self.event_type.as_deref().is_none_or(|t| d.event_type == t)
            && self.status.is_none_or(|s| d.status == s)
            && self
                .status_code
                .is_none_or(|c| d.last_status_code == Some(c))
            && self.since.is_none_or(|t| d.created_at >= t)
            && self.until.is_none_or(|t| d.created_at < t)
    }
}

/// A delivery as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The id.
    pub id: String,
    /// The delivered event.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last answer's status code.
    pub last_status_code: Option<u16>,
    /// RFC 3339, while pending.
    pub next_attempt_at: Option<String>,
    /// Why it was given up.
    pub dead_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// Every attempt (only on `GET /v1/deliveries/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<Attempt>>,
}

fn view(d: &Delivery, attempt_log: Option<Vec<Attempt>>) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        event_id: d.message_id.to_string(),
        endpoint_id: d.endpoint_id.to_string(),
        event_type: d.event_type.clone(),
        status: d.status,
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        next_attempt_at: d.next_attempt_at.map(rfc3339),
        dead_reason: d.dead_reason.clone(),
        created_at: rfc3339(d.created_at),
        attempt_log,
    }
}

/// List deliveries, newest first.
#[utoipa::path(
    get, path = "/v1/deliveries", tag = "outbound",
    params(DeliveryFilter, PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "One page", body = Paged<DeliveryView>))
)]
pub async fn list_deliveries(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Query(filter): Query<DeliveryFilter>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<DeliveryView>>, ApiError> {
    let (items, next_cursor) = deliveries::list(
        services.store.as_ref(),
        &tenant.0,
        page.limit()?,
        page.cursor.clone(),
    )
    .await?;
    Ok(Json(Paged {
        data: items
            .iter()
            .filter(|d| filter.keeps(d))
            .map(|d| view(d, None))
            .collect(),
        next_cursor,
    }))
}

/// Read one delivery with every attempt.
#[utoipa::path(
    get, path = "/v1/deliveries/{id}", tag = "outbound",
    params(("id" = String, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery and its attempts", body = DeliveryView),
        (status = 404, description = "No such delivery", body = ErrorBody),
    )
)]
pub async fn get_delivery(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    let id = DeliveryId::parse(&id).map_err(|_| ApiError::not_found("delivery"))?;
    let store = services.store.as_ref();
    let (delivery, _) = deliveries::get(store, &id)
        .await?
        .filter(|(d, _)| d.tenant_id == tenant.0)
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    let attempts = deliveries::attempts(store, &id).await?;
    Ok(Json(view(&delivery, Some(attempts))))
}
