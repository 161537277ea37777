//! `/v1/integrations`: create, list, read, change and remove vendor connections.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::AuthTenant;
use super::error::{ApiError, ErrorBody};
use super::pagination::{PageParams, Paged};
use super::public_base_url;
use crate::backend::Services;
use crate::clock::rfc3339;
use crate::domain::integration::{
    split_config, validate_for_vendor, validate_name, Integration, IntegrationError,
};
use crate::ids::IntegrationId;
use crate::repo::integrations;

/// A request to create an integration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// The vendor: one of `GET /v1/vendors`.
    pub vendor: String,
    /// A display name.
    pub name: String,
    /// Vendor configuration. HMAC-style vendors take their secret as `signing_secret`; secrets
    /// are sealed and never returned.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Whether webhooks are accepted (default true).
    #[serde(default = "default_true")]
    pub active: bool,
}

fn default_true() -> bool {
    true
}

/// A partial update; absent fields are left as they are. In `config`, a secret sent back as
/// `"***"` is kept, `null` removes a field.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    /// A new display name.
    pub name: Option<String>,
    /// Turn webhook receipt on or off.
    pub active: Option<bool>,
    /// Config fields to change.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Map<String, Value>>,
}

/// An integration as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    /// The id.
    pub id: String,
    /// The vendor.
    pub vendor: String,
    /// The display name.
    pub name: String,
    /// Whether webhooks are accepted.
    pub active: bool,
    /// The configuration, secrets shown as `"***"`.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Where the vendor sends webhooks.
    pub webhook_url: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// The vendors webhooks can be received from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VendorList {
    /// Vendor names, as `vendor` takes them.
    pub data: Vec<String>,
}

fn view(services: &Services, headers: &HeaderMap, integration: &Integration) -> IntegrationView {
    IntegrationView {
        id: integration.id.to_string(),
        vendor: integration.vendor.clone(),
        name: integration.name.clone(),
        active: integration.active,
        config: integration.masked_config(),
        webhook_url: format!(
            "{}/hooks/{}",
            public_base_url(services, headers),
            integration.id
        ),
        created_at: rfc3339(integration.created_at),
        updated_at: rfc3339(integration.updated_at),
    }
}

impl From<IntegrationError> for ApiError {
    fn from(error: IntegrationError) -> Self {
        match error {
            IntegrationError::InvalidField { field, reason } => ApiError::invalid(&field, reason),
        }
    }
}

/// Reads an integration the tenant owns; anything else is 404.
pub(crate) async fn owned(
    services: &Services,
    tenant: &AuthTenant,
    id: &str,
) -> Result<(Integration, u64), ApiError> {
    let id = IntegrationId::parse(id).map_err(|_| ApiError::not_found("integration"))?;
    integrations::get(services.store.as_ref(), &tenant.0, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("integration"))
}

/// Create an integration.
#[utoipa::path(
    post, path = "/v1/integrations", tag = "integrations",
    request_body = CreateIntegration,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = IntegrationView),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
pub async fn create_integration(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    headers: HeaderMap,
    body: Result<Json<CreateIntegration>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body?;
    validate_name(&request.name)?;
    let split = split_config(&request.config)?;
    validate_for_vendor(
        &request.vendor,
        &split.public,
        split.secrets.contains_key("signing_secret"),
    )?;
    let mut integration = Integration::new(
        IntegrationId::generate(),
        tenant.0.clone(),
        request.vendor,
        request.name.trim(),
        services.clock.now(),
    );
    integration.active = request.active;
    integration.config = split.public;
    let integration = integrations::create(
        services.store.as_ref(),
        &services.sealer,
        integration,
        &split.secrets,
    )
    .await?;
    tracing::info!(tenant_id = %tenant.0, integration_id = %integration.id, vendor = %integration.vendor, "integration created");
    Ok((
        StatusCode::CREATED,
        Json(view(&services, &headers, &integration)),
    ))
}

/// List integrations, newest first.
#[utoipa::path(
    get, path = "/v1/integrations", tag = "integrations",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page", body = Paged<IntegrationView>),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
pub async fn list_integrations(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    headers: HeaderMap,
    Query(page): Query<PageParams>,
) -> Result<Json<Paged<IntegrationView>>, ApiError> {
    let (items, next_cursor) = integrations::list(
        services.store.as_ref(),
        &tenant.0,
        page.limit()?,
        page.cursor.clone(),
    )
    .await?;
    Ok(Json(Paged {
        data: items.iter().map(|i| view(&services, &headers, i)).collect(),
        next_cursor,
    }))
}

/// Read one integration.
#[utoipa::path(
    get, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "Integration id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The integration", body = IntegrationView),
        (status = 404, description = "No such integration", body = ErrorBody),
    )
)]
pub async fn get_integration(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    Ok(Json(view(&services, &headers, &integration)))
}

/// Change an integration; `{"active": false}` stops webhook receipt.
#[utoipa::path(
    patch, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "Integration id")),
    request_body = UpdateIntegration,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = IntegrationView),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 404, description = "No such integration", body = ErrorBody),
        (status = 409, description = "Changed concurrently; retry", body = ErrorBody),
    )
)]
pub async fn update_integration(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<UpdateIntegration>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<IntegrationView>, ApiError> {
    let Json(request) = body?;
    let (mut integration, version) = owned(&services, &tenant, &id).await?;
    if let Some(name) = &request.name {
        validate_name(name)?;
        integration.name = name.trim().to_owned();
    }
    if let Some(active) = request.active {
        integration.active = active;
    }
    if let Some(changes) = &request.config {
        let split = split_config(changes)?;
        for (field, value) in split.public {
            if value.is_null() {
                integration.config.remove(&field);
            } else {
                integration.config.insert(field, value);
            }
        }
        for field in &split.removed {
            integration.secrets.remove(field);
        }
        let sealed =
            integrations::seal_secrets(&services.sealer, &integration, &split.secrets).await?;
        integration.secrets.extend(sealed);
        validate_for_vendor(
            &integration.vendor,
            &integration.config,
            integration.secrets.contains_key("signing_secret"),
        )?;
    }
    integration.updated_at = services.clock.now();
    integrations::update(services.store.as_ref(), &integration, version).await?;
    tracing::info!(tenant_id = %tenant.0, integration_id = %integration.id, "integration updated");
    Ok(Json(view(&services, &headers, &integration)))
}

/// Remove an integration; its sealed secrets are wiped at once.
#[utoipa::path(
    delete, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "Integration id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such integration", body = ErrorBody),
    )
)]
pub async fn delete_integration(
    State(services): State<Services>,
    Extension(tenant): Extension<AuthTenant>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    integrations::delete(services.store.as_ref(), &integration.id).await?;
    tracing::info!(tenant_id = %tenant.0, integration_id = %integration.id, "integration deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// List the vendors webhooks can be received from.
#[utoipa::path(
    get, path = "/v1/vendors", tag = "integrations",
    security(("bearer" = [])),
    responses((status = 200, description = "Vendor names", body = VendorList))
)]
pub async fn list_vendors() -> Json<VendorList> {
    Json(VendorList {
        data: crate::verify::VENDORS
            .iter()
            .map(|v| (*v).to_owned())
            .collect(),
    })
}
