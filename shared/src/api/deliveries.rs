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
use crate::outbound::recovery::{self, RecoveryError};
use crate::repo::deliveries::{self, Attempt, Delivery, DeliveryStatus};
use crate::repo::endpoints;

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
    /// RFC 3339: when it last changed (for a dead letter, when it was given up).
    pub updated_at: String,
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
        updated_at: rfc3339(d.updated_at),
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

impl From<RecoveryError> for ApiError {
    fn from(error: RecoveryError) -> Self {
        match error {
            RecoveryError::Repo(repo) => ApiError::from(repo),
            RecoveryError::NotDead(_) => ApiError::conflict(error.to_string()),
            RecoveryError::Queue(reason) => {
                // The delivery is saved as pending and due; the scheduler queues it.
                tracing::warn!(error = %reason, "recovery job not queued; the scheduler will");
                ApiError::unavailable()
            }
        }
    }
}

async fn owned_delivery(
    services: &Services,
    tenant: &AuthTenant,
    id: &str,
) -> Result<(Delivery, u64), ApiError> {
    let id = DeliveryId::parse(id).map_err(|_| ApiError::not_found("delivery"))?;
    deliveries::get(services.store.as_ref(), &id)
        .await?
        .filter(|(d, _)| d.tenant_id == tenant.0)
        .ok_or_else(|| ApiError::not_found("delivery"))
}

/// Send a delivery's event to its endpoint again, as a new delivery.
#[utoipa::path(
    post, path = "/v1/deliveries/{id}/resend", tag = "outbound",
    params(("id" = String, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The new delivery, queued", body = DeliveryView),
        (status = 404, description = "No such delivery, or its endpoint is gone", body = ErrorBody),
    )
)]
pub async fn resend_delivery(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<DeliveryView>), ApiError> {
    let (original, _) = owned_delivery(&services, &tenant, &id).await?;
    let (endpoint, _) = endpoints::get(services.store.as_ref(), &tenant.0, &original.endpoint_id)
        .await?
        .ok_or_else(|| ApiError::not_found("endpoint"))?;
    let delivery = recovery::resend(&services, &original, &endpoint).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(view(&delivery, None)),
    ))
}

/// Filters of the dead-letter list and of bulk replay: when the deliveries were given up.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterRange {
    /// Given up at or after this unix time.
    pub since: Option<i64>,
    /// Given up before this unix time.
    pub until: Option<i64>,
}

impl DeadLetterRange {
    fn keeps(&self, d: &Delivery) -> bool {
        self.since.is_none_or(|t| d.updated_at >= t) && self.until.is_none_or(|t| d.updated_at < t)
    }
}

/// List deliveries that exhausted their retries (or were refused), newest first.
#[utoipa::path(
    get, path = "/v1/dead-letters", tag = "outbound",
    params(DeadLetterRange, PageParams),
    security(("bearer" = [])),
    responses((status = 200, description = "One page", body = Paged<DeliveryView>))
)]
pub async fn list_dead_letters(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Query(range): Query<DeadLetterRange>,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<DeliveryView>>, ApiError> {
    let (items, next_cursor) = deliveries::list_dead(
        services.store.as_ref(),
        &tenant.0,
        page.limit()?,
        page.cursor.clone(),
    )
    .await?;
    Ok(Json(Paged {
        data: items
            .iter()
            .filter(|d| range.keeps(d))
            .map(|d| view(d, None))
            .collect(),
        next_cursor,
    }))
}

/// Replay one dead letter: pending again, due now, with a fresh retry window.
#[utoipa::path(
    post, path = "/v1/dead-letters/{id}/replay", tag = "outbound",
    params(("id" = String, Path, description = "Delivery id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued again", body = DeliveryView),
        (status = 404, description = "No such delivery", body = ErrorBody),
        (status = 409, description = "Not a dead letter", body = ErrorBody),
    )
)]
pub async fn replay_dead_letter(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<DeliveryView>), ApiError> {
    let (delivery, version) = owned_delivery(&services, &tenant, &id).await?;
    let delivery = recovery::replay_dead(&services, delivery, version).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(view(&delivery, None)),
    ))
}

/// How many dead letters a bulk replay handles per call.
pub const MAX_BULK_REPLAY: usize = 1000;

/// The result of a bulk replay.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkReplay {
    /// Dead letters queued again.
    pub replayed: usize,
    /// More remain in the range: call again.
    pub more: bool,
}

/// Replay every dead letter given up within a time range (up to 1000 per call).
#[utoipa::path(
    post, path = "/v1/dead-letters/replay", tag = "outbound",
    request_body = DeadLetterRange,
    security(("bearer" = [])),
    responses((status = 202, description = "Queued again", body = BulkReplay))
)]
pub async fn replay_dead_letters(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    body: Result<Json<DeadLetterRange>, axum::extract::rejection::JsonRejection>,
) -> Result<(axum::http::StatusCode, Json<BulkReplay>), ApiError> {
    let Json(range) = body?;
    let store = services.store.as_ref();
    let mut replayed = 0;
    let mut cursor = None;
    loop {
        let (page, next) = deliveries::list_dead(store, &tenant.0, 100, cursor).await?;
        for dead in page.iter().filter(|d| range.keeps(d)) {
            if replayed == MAX_BULK_REPLAY {
                return Ok((
                    axum::http::StatusCode::ACCEPTED,
                    Json(BulkReplay {
                        replayed,
                        more: true,
                    }),
                ));
            }
            // Re-read for the version: the list is a snapshot.
            if let Some((delivery, version)) = deliveries::get(store, &dead.id).await? {
                match recovery::replay_dead(&services, delivery, version).await {
                    Ok(_) => replayed += 1,
                    Err(RecoveryError::NotDead(_))
                    | Err(RecoveryError::Repo(crate::repo::RepoError::Conflict)) => {}
                    Err(other) => return Err(other.into()),
                }
            }
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(BulkReplay {
            replayed,
            more: false,
        }),
    ))
}
