//! Calling a connection's cheapest authenticated request (the catalog's probe) with its real
//! credentials: `POST /v1/integrations/{id}/test` now, the scheduled health probe later.
//! Where a vendor has regional hosts and the connection names none, each region is tried and
//! the one that accepts the credentials is kept.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::backend::Services;
use crate::catalog::{AuthStyle, Provider};
use crate::domain::integration::Integration;
use crate::oauth::{self, OAuthError};
use crate::repo::{integrations, RepoError};

/// How long one probe request may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest vendor answer kept, in bytes.
const VENDOR_ANSWER_BYTES: usize = 1024;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ProbeResult {
    /// Whether the vendor accepted the credentials.
    pub ok: bool,
    /// The vendor's HTTP status, when it answered.
    pub status: Option<u16>,
    /// How long the (last) request took.
    pub latency_ms: u64,
    /// The region used, for vendors with regional hosts.
    pub region: Option<String>,
    /// Whether that region was detected by this probe (and saved on the connection).
    pub region_detected: bool,
    /// The vendor's answer, verbatim (first KiB), when it refused.
    pub vendor_response: Option<String>,
    /// What happened, in words.
    pub message: String,
}

/// Why no probe could be made.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The vendor is a webhook scheme, not a provider with an API.
    #[error("{0} is a webhook scheme without an API to test; see GET /v1/providers")]
    NoProvider(String),
    /// Getting an OAuth token failed.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// The state store or vault failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
}

/// Probes `integration` with its credentials; detects and saves its region when needed.
pub async fn probe(
    services: &Services,
    integration: &Integration,
    actor: &str,
) -> Result<ProbeResult, ProbeError> {
    let provider = services
        .catalog
        .get(&integration.vendor)
        .ok_or_else(|| ProbeError::NoProvider(integration.vendor.clone()))?;
    let mut values = oauth::public_values(integration);
    for field in integration.secrets.keys() {
        if let Some(value) = integrations::open_secret(&services.sealer, integration, field).await?
        {
            values.insert(field.clone(), value);
        }
    }
    if provider.auth.is_oauth() {
        let token = oauth::refresh::access_token(services, integration, actor).await?;
        values.insert("access_token".into(), token.access_token);
        for (name, value) in token.extras {
            if let Some(text) = value.as_str() {
                values.insert(name, text.to_owned());
            }
        }
    }
    let configured = integration
        .config
        .get("region")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    if configured.is_some() || provider.api.regions.is_empty() {
        let mut result = call(services, &provider, &values, configured.as_deref()).await;
        result.region = configured;
        return Ok(result);
    }
    let mut first_failure = None;
    for region in provider.api.regions.keys() {
        let mut result = call(services, &provider, &values, Some(region)).await;
        if result.ok {
            save_region(services, integration, region).await?;
            result.region = Some(region.clone());
            result.region_detected = true;
            result.message = format!(
                "{}; detected region {region} and saved it on the connection",
                result.message
            );
            return Ok(result);
        }
        first_failure.get_or_insert(result);
    }
    let mut result = first_failure.unwrap_or_else(|| failure(0, None, "no region to try"));
    result.message = format!(
        "no region of {} accepted the credentials ({}); first refusal: {}",
        provider.display_name,
        provider
            .api
            .regions
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        result.message
    );
    Ok(result)
}

async fn save_region(
    services: &Services,
    integration: &Integration,
    region: &str,
) -> Result<(), RepoError> {
    let store = services.store.as_ref();
    for _ in 0..5 {
        let Some((mut latest, version)) = integrations::get_any(store, &integration.id).await?
        else {
            return Ok(());
        };
        latest
            .config
            .insert("region".into(), serde_json::Value::from(region));
        match integrations::update(store, &latest, version).await {
            Err(RepoError::Conflict) => continue,
            other => return other,
        }
    }
    Err(RepoError::Conflict)
}

fn failure(latency_ms: u64, status: Option<u16>, message: impl Into<String>) -> ProbeResult {
    ProbeResult {
        ok: false,
        status,
        latency_ms,
        region: None,
        region_detected: false,
        vendor_response: None,
        message: message.into(),
    }
}

/// Builds the provider's probe request from the connection's values.
fn build(
    services: &Services,
    provider: &Provider,
    values: &BTreeMap<String, String>,
    region: Option<&str>,
) -> Result<reqwest::RequestBuilder, String> {
    let base = provider
        .base_url_template(region)
        .ok_or_else(|| format!("unknown region {region:?} for {}", provider.display_name))?;
    let render = |template: &str| oauth::render(template, values).map_err(|e| e.to_string());
    let url = format!(
        "{}{}",
        render(base)?.trim_end_matches('/'),
        render(&provider.probe.path)?
    );
    oauth::check_vendor_url(services, &url).map_err(|e| e.to_string())?;
    let method = if provider.probe.method == "POST" {
        reqwest::Method::POST
    } else {
        reqwest::Method::GET
    };
    let mut request = services
        .http
        .request(method, &url)
        .timeout(PROBE_TIMEOUT)
        .header(reqwest::header::ACCEPT, "application/json");
    for (name, template) in &provider.api.headers {
        request = request.header(name.as_str(), render(template)?);
    }
    let api = &provider.api;
    let template = |value: &Option<String>, what: &str| {
        value
            .as_deref()
            .ok_or_else(|| format!("the provider entry has no {what}"))
            .and_then(render)
    };
    request = match api.auth_style {
        AuthStyle::Bearer => {
            let token = ["access_token", "api_key", "api_token", "token"]
                .iter()
                .find_map(|name| values.get(*name))
                .ok_or("the connection has no token or API key")?;
            request.bearer_auth(token)
        }
        AuthStyle::Header => {
            let name = api.auth_header.as_deref().unwrap_or("Authorization");
            request.header(name, template(&api.auth_value, "auth_value")?)
        }
        AuthStyle::Basic => {
            let user = template(&api.basic_username, "basic_username")?;
            let password = template(&api.basic_password, "basic_password")?;
            request.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", B64.encode(format!("{user}:{password}"))),
            )
        }
        AuthStyle::Query => {
            let name = api.auth_query.as_deref().unwrap_or("api_key");
            request.query(&[(name, template(&api.auth_value, "auth_value")?)])
        }
    };
    if let Some(body) = &provider.probe.body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    Ok(request)
}

async fn call(
    services: &Services,
    provider: &Provider,
    values: &BTreeMap<String, String>,
    region: Option<&str>,
) -> ProbeResult {
    let request = match build(services, provider, values, region) {
        Ok(request) => request,
        Err(message) => return failure(0, None, message),
    };
    let started = Instant::now();
    let elapsed = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return failure(
                elapsed(),
                None,
                format!(
                    "{} could not be reached: {}",
                    provider.display_name,
                    crate::outbound::deliver::describe_error(error)
                ),
            )
        }
    };
    let status = response.status().as_u16();
    let body = crate::outbound::deliver::read_prefix(&mut response, VENDOR_ANSWER_BYTES).await;
    let latency_ms = elapsed();
    let status_ok = if provider.probe.expect_status.is_empty() {
        (200..300).contains(&status)
    } else {
        provider.probe.expect_status.contains(&status)
    };
    // Slack-style APIs answer 200 with `"ok": false` for a bad token.
    let refused_in_body = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("ok").and_then(serde_json::Value::as_bool))
        == Some(false);
    let ok = status_ok && !refused_in_body;
    if ok {
        return ProbeResult {
            ok,
            status: Some(status),
            latency_ms,
            region: None,
            region_detected: false,
            vendor_response: None,
            message: format!("{} accepted the credentials", provider.display_name),
        };
    }
    ProbeResult {
        vendor_response: Some(String::from_utf8_lossy(&body).into_owned()),
        ..failure(
            latency_ms,
            Some(status),
            format!("{} answered HTTP {status}", provider.display_name),
        )
    }
}
