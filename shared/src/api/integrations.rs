//! `/v1/integrations`: create, list, read, change and remove vendor connections.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::{Actor, AuthTenant};
use super::error::{ApiError, ErrorBody};
use super::pagination::{PageParams, Paged};
use super::public_base_url;
use crate::backend::Services;
use crate::catalog::AuthKind;
use crate::clock::rfc3339;
use crate::domain::connection::{parse_date, ConnectionStatus};
use crate::domain::integration::{
    split_config, validate_for_vendor, validate_name, Integration, IntegrationError,
};
use crate::ids::IntegrationId;
use crate::repo::audit::{record_or_log, AuditEntry, AuditKind};
use crate::repo::{credentials, integrations};

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
    /// A label for the credential (e.g. whose key it is).
    pub label: Option<String>,
    /// The date (`YYYY-MM-DD`) by which the API key should be rotated; a reminder event
    /// (`integration.credential_expiring`) goes out 30 days before.
    pub rotate_by: Option<String>,
    /// Make this the tenant's default connection of its vendor.
    #[serde(default)]
    pub default: bool,
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
    /// A new label; `""` removes it.
    pub label: Option<String>,
    /// A new rotation date (`YYYY-MM-DD`); `""` removes it.
    pub rotate_by: Option<String>,
    /// `true` makes this the default connection of its vendor; `false` unmarks it.
    pub default: Option<bool>,
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
    /// The connection to the vendor's API.
    pub connection: ConnectionView,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A connection's state as the API shows it; tokens are never shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// How it authenticates (absent for webhook-only schemes outside the catalog).
    pub auth: Option<AuthKind>,
    /// Where it stands.
    pub status: ConnectionStatus,
    /// Why it needs attention, when it does.
    pub reason: Option<String>,
    /// The credential's label.
    pub label: Option<String>,
    /// When the API key should be rotated by.
    pub rotate_by: Option<String>,
    /// Scopes asked for at the last connect.
    pub scopes_requested: Vec<String>,
    /// Scopes the vendor granted.
    pub scopes_granted: Vec<String>,
    /// Scopes asked for but not granted.
    pub missing_scopes: Vec<String>,
    /// RFC 3339, when connected.
    pub connected_at: Option<String>,
    /// Whether this is the tenant's default connection of its vendor.
    pub default: bool,
}

/// The vendors webhooks can be received from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VendorList {
    /// Vendor names, as `vendor` takes them.
    pub data: Vec<String>,
}

pub(crate) fn view(
    services: &Services,
    headers: &HeaderMap,
    integration: &Integration,
    is_default: bool,
) -> IntegrationView {
    let connection = &integration.connection;
    IntegrationView {
        connection: ConnectionView {
            auth: services.catalog.get(&integration.vendor).map(|p| p.auth),
            status: connection.status,
            reason: connection.reason.clone(),
            label: connection.label.clone(),
            rotate_by: connection.rotate_by.clone(),
            scopes_requested: connection.scopes_requested.clone(),
            scopes_granted: connection.scopes_granted.clone(),
            missing_scopes: connection.missing_scopes(),
            connected_at: connection.connected_at.map(rfc3339),
            default: is_default,
        },
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
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Result<Json<CreateIntegration>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(request) = body?;
    validate_name(&request.name)?;
    let split = split_config(&request.config)?;
    let status = validate_for_vendor(
        &services.catalog,
        &request.vendor,
        &split.public,
        &|field| split.secrets.contains_key(field),
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
    integration.connection.status = status;
    if status == ConnectionStatus::Connected {
        integration.connection.connected_at = Some(integration.created_at);
    }
    integration.connection.label = checked_label(request.label)?;
    integration.connection.rotate_by = checked_date(request.rotate_by)?;
    let integration = integrations::create(
        services.store.as_ref(),
        &services.sealer,
        integration,
        &split.secrets,
    )
    .await?;
    if request.default {
        credentials::set_default(
            services.store.as_ref(),
            &tenant.0,
            &integration.vendor,
            &integration.id,
        )
        .await?;
    }
    audit(
        &services,
        &integration,
        AuditKind::Created,
        &actor,
        format!("{} connection created ({:?})", integration.vendor, status),
    )
    .await;
    tracing::info!(tenant_id = %tenant.0, integration_id = %integration.id, vendor = %integration.vendor, "integration created");
    Ok((
        StatusCode::CREATED,
        Json(view(&services, &headers, &integration, request.default)),
    ))
}

fn checked_label(label: Option<String>) -> Result<Option<String>, ApiError> {
    match label.map(|l| l.trim().to_owned()) {
        Some(l) if l.chars().count() > 200 => {
            Err(ApiError::invalid("label", "must be at most 200 characters"))
        }
        Some(l) if l.is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn checked_date(date: Option<String>) -> Result<Option<String>, ApiError> {
    match date.map(|d| d.trim().to_owned()) {
        Some(d) if d.is_empty() => Ok(None),
        Some(d) if parse_date(&d).is_none() => Err(ApiError::invalid(
            "rotate_by",
            "must be a date as YYYY-MM-DD",
        )),
        other => Ok(other),
    }
}

async fn audit(
    services: &Services,
    integration: &Integration,
    kind: AuditKind,
    actor: &Actor,
    detail: String,
) {
    record_or_log(
        services.store.as_ref(),
        AuditEntry::new(
            &integration.tenant_id,
            &integration.id,
            kind,
            actor.0.clone(),
            true,
            detail,
            services.clock.now(),
        ),
    )
    .await;
}

/// Whether `integration` is its tenant's default of its vendor.
async fn is_default(services: &Services, integration: &Integration) -> Result<bool, ApiError> {
    let marked = credentials::default_of(
        services.store.as_ref(),
        &integration.tenant_id,
        &integration.vendor,
    )
    .await?;
    Ok(marked.as_ref() == Some(&integration.id))
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
    let defaults = credentials::defaults(services.store.as_ref(), &tenant.0).await?;
    let is_default = |i: &Integration| defaults.iter().any(|(v, id)| v == &i.vendor && id == &i.id);
    Ok(Json(Paged {
        data: items
            .iter()
            .map(|i| view(&services, &headers, i, is_default(i)))
            .collect(),
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
    let default = is_default(&services, &integration).await?;
    Ok(Json(view(&services, &headers, &integration, default)))
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
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<UpdateIntegration>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<IntegrationView>, ApiError> {
    let Json(request) = body?;
    let (mut integration, version) = owned(&services, &tenant, &id).await?;
    let mut changed = Vec::new();
    if let Some(name) = &request.name {
        validate_name(name)?;
        integration.name = name.trim().to_owned();
        changed.push("name".to_owned());
    }
    if let Some(active) = request.active {
        integration.active = active;
        changed.push("active".to_owned());
    }
    if let Some(label) = request.label {
        integration.connection.label = checked_label(Some(label))?;
        changed.push("label".to_owned());
    }
    if let Some(date) = request.rotate_by {
        integration.connection.rotate_by = checked_date(Some(date))?;
        integration.connection.rotation_warned = false;
        changed.push("rotate_by".to_owned());
    }
    if let Some(changes) = &request.config {
        let split = split_config(changes)?;
        for (field, value) in split.public {
            changed.push(format!("config.{field}"));
            if value.is_null() {
                integration.config.remove(&field);
            } else {
                integration.config.insert(field, value);
            }
        }
        for field in &split.removed {
            changed.push(format!("config.{field}"));
            integration.secrets.remove(field);
        }
        changed.extend(split.secrets.keys().map(|f| format!("config.{f}")));
        let sealed =
            integrations::seal_secrets(&services.sealer, &integration, &split.secrets).await?;
        integration.secrets.extend(sealed);
        let status = validate_for_vendor(
            &services.catalog,
            &integration.vendor,
            &integration.config,
            &|field| integration.secrets.contains_key(field),
        )?;
        let is_oauth = services
            .catalog
            .get(&integration.vendor)
            .is_some_and(|p| p.auth.is_oauth());
        if !is_oauth {
            if status == ConnectionStatus::Connected && !split.secrets.is_empty() {
                integration.connection.connected_at = Some(services.clock.now());
            }
            integration.connection.status = status;
            integration.connection.reason = None;
        }
    }
    integration.updated_at = services.clock.now();
    integrations::update(services.store.as_ref(), &integration, version).await?;
    match request.default {
        Some(true) => {
            credentials::set_default(
                services.store.as_ref(),
                &tenant.0,
                &integration.vendor,
                &integration.id,
            )
            .await?;
            changed.push("default".to_owned());
        }
        Some(false) => {
            credentials::clear_default(
                services.store.as_ref(),
                &tenant.0,
                &integration.vendor,
                &integration.id,
            )
            .await?;
            changed.push("default".to_owned());
        }
        None => {}
    }
    audit(
        &services,
        &integration,
        AuditKind::Updated,
        &actor,
        format!("changed: {}", changed.join(", ")),
    )
    .await;
    tracing::info!(tenant_id = %tenant.0, integration_id = %integration.id, "integration updated");
    let default = is_default(&services, &integration).await?;
    Ok(Json(view(&services, &headers, &integration, default)))
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
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let (integration, _) = owned(&services, &tenant, &id).await?;
    integrations::delete(services.store.as_ref(), &integration.id).await?;
    credentials::clear_default(
        services.store.as_ref(),
        &tenant.0,
        &integration.vendor,
        &integration.id,
    )
    .await?;
    audit(
        &services,
        &integration,
        AuditKind::Deleted,
        &actor,
        "connection removed; sealed credentials wiped".to_owned(),
    )
    .await;
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
