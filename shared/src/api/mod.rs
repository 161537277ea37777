//! The tenants' `/v1` API: bearer API keys, one error shape, cursor pagination, and an OpenAPI
//! 3.1 document generated from the route definitions themselves, so it cannot fall behind.

pub mod audit;
pub mod auth;
pub mod connections;
pub mod deliveries;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod health;
pub mod integrations;
pub mod messages;
pub mod pagination;
pub mod providers;
pub mod rate_limit;
pub mod settings;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::backend::Services;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hookrail API",
        version = "1",
        description = "Integrations hub: receive vendors' webhooks, verified and stored. \
                       Authenticate with `Authorization: Bearer <api key>`. Errors are always \
                       `{\"error\":{\"code\",\"message\",\"details\"}}`; lists return \
                       `next_cursor`, passed back as `cursor`. Each tenant may make a number of requests \
                       per minute (600 by default): every answer carries `X-RateLimit-Limit`, \
                       `X-RateLimit-Remaining` and `X-RateLimit-Reset`; over the limit the \
                       answer is 429 with `Retry-After`."
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "integrations", description = "Vendor connections and their webhook URLs"),
        (name = "connections", description = "Provider catalog, OAuth consent, tests, access tokens and the audit trail"),
        (name = "events", description = "Webhooks received from vendors"),
        (name = "endpoints", description = "Where a tenant's events are delivered"),
        (name = "outbound", description = "Publishing events and following their deliveries")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .build(),
            ),
        );
    }
}

/// The routes and the OpenAPI document describing them.
fn documented_routes() -> (Router<Services>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            integrations::create_integration,
            integrations::list_integrations
        ))
        .routes(routes!(
            integrations::get_integration,
            integrations::update_integration,
            integrations::delete_integration
        ))
        .routes(routes!(health::integrations_status))
        .routes(routes!(integrations::list_vendors))
        .routes(routes!(providers::list_providers))
        .routes(routes!(providers::get_provider))
        .routes(routes!(connections::start_authorization))
        .routes(routes!(connections::test_connection))
        .routes(routes!(connections::get_access_token))
        .routes(routes!(audit::list_audit))
        .routes(routes!(
            endpoints::create_endpoint,
            endpoints::list_endpoints
        ))
        .routes(routes!(
            endpoints::get_endpoint,
            endpoints::update_endpoint,
            endpoints::delete_endpoint
        ))
        .routes(routes!(endpoints::rotate_secret))
        .routes(routes!(messages::publish_event))
        .routes(routes!(
            messages::list_event_types,
            messages::register_event_type
        ))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(deliveries::get_delivery))
        .routes(routes!(deliveries::resend_delivery))
        .routes(routes!(deliveries::list_dead_letters))
        .routes(routes!(deliveries::replay_dead_letter))
        .routes(routes!(deliveries::replay_dead_letters))
        .routes(routes!(endpoints::send_test_event))
        .routes(routes!(settings::get_settings, settings::update_settings))
        .routes(routes!(events::list_events))
        .routes(routes!(events::get_event))
        .routes(routes!(events::replay_event))
        .split_for_parts()
}

/// The OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().1
}

/// The `/v1` router.
pub fn router(services: Services) -> Router {
    let (routes, document) = documented_routes();
    let document = Json(document);
    // The last layer added runs first: authenticate, then count the tenant's request.
    routes
        .layer(axum::middleware::from_fn_with_state(
            services.clone(),
            rate_limit::limit_per_tenant,
        ))
        .layer(axum::middleware::from_fn_with_state(
            services.clone(),
            auth::require_api_key,
        ))
        .route(
            "/v1/openapi.json",
            get(move || std::future::ready(document.clone())),
        )
        // The vendor redirects the user's browser here: no API key, `state` authenticates.
        .route(
            crate::oauth::connect::CALLBACK_PATH,
            get(connections::oauth_callback),
        )
        .fallback(|| async { error::ApiError::not_found("route") })
        .with_state(services)
}

/// The base URL clients reach this deployment on: configured, or taken from the request.
pub fn public_base_url(services: &Services, headers: &HeaderMap) -> String {
    if let Some(url) = &services.settings.public_url {
        return url.clone();
    }
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(axum::http::header::HOST))
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let local =
        host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with("[::1]");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(if local { "http" } else { "https" });
    format!("{scheme}://{host}")
}
