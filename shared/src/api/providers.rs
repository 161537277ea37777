//! `/v1/providers`: the catalog of vendors a connection can be made to.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use crate::backend::Services;
use crate::catalog::{AuthKind, Family, Field, Provider};

/// A provider in the list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderSummary {
    /// The name an integration's `vendor` takes.
    pub name: String,
    /// The vendor's own name.
    pub display_name: String,
    /// Its family.
    pub family: Family,
    /// How connections authenticate.
    pub auth: AuthKind,
    /// The inbound webhook scheme, or `none`.
    pub webhook_scheme: String,
    /// Regions with their own hosts, when the vendor has them.
    pub regions: Vec<String>,
}

/// Every provider.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    /// By name.
    pub data: Vec<ProviderSummary>,
}

/// One provider in full: config fields, scopes, hosts, probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// The entry.
    #[serde(flatten)]
    pub provider: Provider,
    /// Fields a connection's `config` takes, OAuth app fields included for OAuth providers.
    pub config_fields: Vec<Field>,
}

fn summary(provider: &Provider) -> ProviderSummary {
    ProviderSummary {
        name: provider.name.clone(),
        display_name: provider.display_name.clone(),
        family: provider.family,
        auth: provider.auth,
        webhook_scheme: provider.webhooks.scheme.clone(),
        regions: provider.api.regions.keys().cloned().collect(),
    }
}

/// List the providers.
#[utoipa::path(
    get, path = "/v1/providers", tag = "connections",
    security(("bearer" = [])),
    responses((status = 200, description = "Every provider, by name", body = ProviderList))
)]
pub async fn list_providers(State(services): State<Services>) -> Json<ProviderList> {
    Json(ProviderList {
        data: services.catalog.all().map(|p| summary(p)).collect(),
    })
}

/// Show one provider.
#[utoipa::path(
    get, path = "/v1/providers/{name}", tag = "connections",
    params(("name" = String, Path, description = "Provider name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The provider", body = ProviderView),
        (status = 404, description = "No such provider", body = ErrorBody),
    )
)]
pub async fn get_provider(
    State(services): State<Services>,
    Path(name): Path<String>,
) -> Result<Json<ProviderView>, ApiError> {
    let provider = services
        .catalog
        .get(&name)
        .ok_or_else(|| ApiError::not_found("provider"))?;
    let mut config_fields = provider.fields.clone();
    if provider.auth.is_oauth() {
        config_fields.push(Field {
            name: "client_id".into(),
            label: "OAuth client id (your own app)".into(),
            secret: false,
            required: false,
            description: Some("Leave unset to use the operator's OAuth app.".into()),
        });
        config_fields.push(Field {
            name: "client_secret".into(),
            label: "OAuth client secret (your own app)".into(),
            secret: true,
            required: false,
            description: Some("Needed with client_id.".into()),
        });
    }
    if provider.webhooks.scheme != "none" {
        config_fields.push(Field {
            name: "signing_secret".into(),
            label: "Webhook signing secret".into(),
            secret: true,
            required: false,
            description: Some(format!(
                "Needed to receive {} webhooks.",
                provider.display_name
            )),
        });
    }
    if !provider.api.regions.is_empty() {
        config_fields.push(Field {
            name: "region".into(),
            label: "Region".into(),
            secret: false,
            required: false,
            description: Some(format!(
                "One of {}; detected by POST /v1/integrations/{{id}}/test when unset.",
                provider
                    .api
                    .regions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    Ok(Json(ProviderView {
        provider: (*provider).clone(),
        config_fields,
    }))
}
