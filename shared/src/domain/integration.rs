//! Integrations: a tenant's connection to one vendor, with its webhook URL and its secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::domain::connection::{Connection, ConnectionStatus};
use crate::ids::{IntegrationId, TenantId};
use crate::vault::Sealed;

/// Config fields that hold secrets: sealed at rest, shown as [`MASKED`], never returned.
pub const SECRET_FIELDS: &[&str] = &[
    "signing_secret",
    "client_secret",
    "api_key",
    "access_token",
    "refresh_token",
    "password",
    "token",
    "api_token",
    "private_key",
    "secret",
];

/// How a secret is shown by the API.
pub const MASKED: &str = "***";

/// The longest integration name accepted.
pub const MAX_NAME_LEN: usize = 200;

/// One vendor connection of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// The integration's id, also the last segment of its webhook URL.
    pub id: IntegrationId,
    /// The owner.
    pub tenant_id: TenantId,
    /// The vendor name (see [`crate::verify::VENDORS`]).
    pub vendor: String,
    /// A display name.
    pub name: String,
    /// Inactive integrations answer 404 to webhooks.
    pub active: bool,
    /// Non-secret configuration.
    pub config: Map<String, Value>,
    /// Sealed secret fields of the configuration.
    pub secrets: BTreeMap<String, Sealed>,
    /// The connection to the vendor's API.
    #[serde(default)]
    pub connection: Connection,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Integration {
    /// A new active integration with no configuration yet.
    pub fn new(
        id: IntegrationId,
        tenant_id: TenantId,
        vendor: impl Into<String>,
        name: impl Into<String>,
        now: i64,
    ) -> Self {
        Self {
            id,
            tenant_id,
            vendor: vendor.into(),
            name: name.into(),
            active: true,
            config: Map::new(),
            secrets: BTreeMap::new(),
            connection: Connection::default(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The configuration as the API shows it: secret fields masked.
    pub fn masked_config(&self) -> Map<String, Value> {
        let mut shown = self.config.clone();
        for field in self.secrets.keys() {
            shown.insert(field.clone(), Value::String(MASKED.to_owned()));
        }
        shown
    }
}

/// Whether a config field holds a secret.
pub fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.contains(&name)
}

/// A config split into what is stored in the clear and what must be sealed.
#[derive(Debug, Default, PartialEq)]
pub struct SplitConfig {
    /// Fields stored as given.
    pub public: Map<String, Value>,
    /// Secret fields, to seal.
    pub secrets: BTreeMap<String, String>,
    /// Secret fields sent back as [`MASKED`]: keep the sealed value already stored.
    pub unchanged: Vec<String>,
    /// Secret fields set to null: remove.
    pub removed: Vec<String>,
}

/// Why a configuration or integration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntegrationError {
    /// A field has the wrong type or value.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field, as a JSON path.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: &str, reason: impl Into<String>) -> IntegrationError {
    IntegrationError::InvalidField {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Separates secret fields from the rest; secrets must be non-empty strings.
pub fn split_config(config: &Map<String, Value>) -> Result<SplitConfig, IntegrationError> {
    let mut split = SplitConfig::default();
    for (name, value) in config {
        if !is_secret_field(name) {
            split.public.insert(name.clone(), value.clone());
            continue;
        }
        match value {
            Value::Null => split.removed.push(name.clone()),
            Value::String(s) if s == MASKED => split.unchanged.push(name.clone()),
            Value::String(s) if !s.is_empty() => {
                split.secrets.insert(name.clone(), s.clone());
            }
            _ => {
                return Err(invalid(
                    &format!("config.{name}"),
                    "must be a non-empty string",
                ))
            }
        }
    }
    Ok(split)
}

/// Checks a display name.
pub fn validate_name(name: &str) -> Result<(), IntegrationError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_LEN {
        return Err(invalid(
            "name",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    }
    Ok(())
}

/// Checks an integration's vendor and configuration, and says whether its credentials are
/// complete (API-key and basic providers).
///
/// A provider of the catalog takes its credential fields (all required ones, once any is
/// given) and, to receive webhooks, a `signing_secret`; an integration may be webhook-only,
/// credentials-only, or both, but not neither. A webhook scheme outside the catalog
/// (`standard-webhooks`, `svix`, `generic-hmac`) always needs its `signing_secret`.
pub fn validate_for_vendor(
    catalog: &Catalog,
    vendor: &str,
    config: &Map<String, Value>,
    has_secret: &dyn Fn(&str) -> bool,
) -> Result<ConnectionStatus, IntegrationError> {
    let has = |field: &str| has_secret(field) || config.get(field).is_some_and(|v| !v.is_null());
    let has_signing_secret = has_secret("signing_secret");
    let provider = catalog.get(vendor);
    if provider.is_none() && !crate::verify::VENDORS.contains(&vendor) {
        return Err(invalid(
            "vendor",
            format!("unknown vendor {vendor:?}; see GET /v1/providers (or GET /v1/vendors for webhook schemes)"),
        ));
    }
    let scheme = catalog.webhook_scheme(vendor);
    if let Some(scheme) = &scheme {
        if has_signing_secret || provider.is_none() {
            crate::verify::scheme_for(scheme, &Value::Object(config.clone()))
                .map_err(|e| invalid("config", e.to_string()))?;
        }
    }
    let Some(provider) = provider else {
        if !has_signing_secret {
            return Err(invalid(
                "config.signing_secret",
                format!("required for {vendor} webhooks"),
            ));
        }
        return Ok(ConnectionStatus::NotConnected);
    };
    let required: Vec<&str> = provider
        .fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    let credential_given = provider.fields.iter().any(|f| f.secret && has(&f.name));
    if provider.auth.is_oauth() || credential_given {
        if let Some(missing) = required.iter().find(|name| !has(name)) {
            return Err(invalid(
                &format!("config.{missing}"),
                format!("required for {} connections", provider.display_name),
            ));
        }
    } else if !has_signing_secret {
        let credentials: Vec<&str> = provider.fields.iter().map(|f| f.name.as_str()).collect();
        return Err(invalid(
            "config",
            format!(
                "give the {} credentials ({}) to call its API, a signing_secret to receive its webhooks, or both",
                provider.display_name,
                credentials.join(", ")
            ),
        ));
    }
    if provider.auth.is_oauth() {
        // OAuth connections are connected by their consent flow, not by their config.
        return Ok(ConnectionStatus::NotConnected);
    }
    Ok(if credential_given {
        ConnectionStatus::Connected
    } else {
        ConnectionStatus::NotConnected
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn secret_fields_are_split_from_public_config() {
        let split = split_config(&object(json!({
            "signing_secret": "abc",
            "header": "X-Sig",
            "api_key": "***",
            "token": null,
        })))
        .expect("valid");
        assert_eq!(split.public, object(json!({ "header": "X-Sig" })));
        assert_eq!(
            split.secrets.get("signing_secret").map(String::as_str),
            Some("abc")
        );
        assert_eq!(split.unchanged, ["api_key"]);
        assert_eq!(split.removed, ["token"]);
    }

    #[test]
    fn rejects_secret_fields_that_are_not_strings() {
        let error = split_config(&object(json!({ "signing_secret": 42 }))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "config.signing_secret: must be a non-empty string"
        );
    }

    #[test]
    fn rejects_empty_and_overlong_names() {
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"x".repeat(201)).is_err());
        assert!(validate_name("GitHub org").is_ok());
    }
}
