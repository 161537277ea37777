//! Integrations: a tenant's connection to one vendor, with its webhook URL and its secrets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// Checks that an integration of `vendor` has what receiving webhooks needs: every scheme in
/// the registry verifies with `config.signing_secret`.
pub fn validate_for_vendor(
    vendor: &str,
    config: &Map<String, Value>,
    has_signing_secret: bool,
) -> Result<(), IntegrationError> {
    crate::verify::scheme_for(vendor, &Value::Object(config.clone())).map_err(|e| match e {
        crate::verify::SchemeConfigError::UnknownVendor(v) => invalid(
            "vendor",
            format!(
                "unknown vendor {v:?}; supported: {}",
                crate::verify::VENDORS.join(", ")
            ),
        ),
        crate::verify::SchemeConfigError::InvalidConfig(reason) => invalid("config", reason),
    })?;
    if !has_signing_secret {
        return Err(invalid(
            "config.signing_secret",
            format!("required for {vendor} webhooks"),
        ));
    }
    Ok(())
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
