//! `/v1/settings`: the tenant's own defaults.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use crate::backend::Services;
use crate::domain::retry::{validate_schedule, DEFAULT_SCHEDULE};
use crate::repo::tenants::{self, TenantSettings};

/// The tenant's settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// Delays between delivery attempts (seconds; the last repeats) for endpoints that set none.
    pub retry_schedule: Vec<u64>,
    /// Whether `retry_schedule` is Hookrail's default rather than the tenant's own.
    pub retry_schedule_is_default: bool,
}

/// A change of settings.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// New default delays in seconds; `[]` returns to Hookrail's default.
    pub retry_schedule: Option<Vec<u64>>,
}

/// Checks a `retry_schedule` field, answering 400 on it.
pub(crate) fn checked_schedule(schedule: &[u64]) -> Result<(), ApiError> {
    validate_schedule(schedule).map_err(|reason| ApiError::invalid("retry_schedule", reason))
}

/// A change of a `retry_schedule` field: `[]` returns to the default, anything else must be a
/// valid schedule.
pub(crate) fn schedule_change(schedule: Vec<u64>) -> Result<Option<Vec<u64>>, ApiError> {
    if schedule.is_empty() {
        return Ok(None);
    }
    checked_schedule(&schedule)?;
    Ok(Some(schedule))
}

fn view(settings: &TenantSettings) -> SettingsView {
    SettingsView {
        retry_schedule: settings
            .retry_schedule
            .clone()
            .unwrap_or_else(|| DEFAULT_SCHEDULE.to_vec()),
        retry_schedule_is_default: settings.retry_schedule.is_none(),
    }
}

/// Read the tenant's settings.
#[utoipa::path(
    get, path = "/v1/settings", tag = "outbound",
    security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = SettingsView))
)]
pub async fn get_settings(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
) -> Result<Json<SettingsView>, ApiError> {
    let settings = tenants::settings(services.store.as_ref(), &tenant.0).await?;
    Ok(Json(view(&settings)))
}

/// Change the tenant's settings.
#[utoipa::path(
    patch, path = "/v1/settings", tag = "outbound",
    request_body = UpdateSettings,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = SettingsView),
        (status = 400, description = "Invalid settings", body = ErrorBody),
    )
)]
pub async fn update_settings(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    body: Result<Json<UpdateSettings>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SettingsView>, ApiError> {
    let Json(request) = body?;
    let store = services.store.as_ref();
    let mut settings = tenants::settings(store, &tenant.0).await?;
    if let Some(schedule) = request.retry_schedule {
        settings.retry_schedule = schedule_change(schedule)?;
    }
    tenants::put_settings(store, &tenant.0, &settings).await?;
    Ok(Json(view(&settings)))
}
