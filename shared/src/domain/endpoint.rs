//! Tenants' webhook endpoints: which events they receive (types with a trailing wildcard, and
//! filters on the event's data) and the secrets their deliveries are signed with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{EndpointId, TenantId};
use crate::vault::Sealed;

/// How long a rotated-out secret keeps signing beside its successor (seconds).
pub const SECRET_OVERLAP_SECS: i64 = 24 * 3600;

/// The most event types one endpoint may subscribe to.
pub const MAX_EVENT_TYPES: usize = 100;

/// Deliveries per minute an endpoint receives unless it says otherwise.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;
/// The highest per-minute rate an endpoint may ask for.
pub const MAX_RATE_LIMIT_PER_MINUTE: u32 = 600_000;

/// What an endpoint is, and so what its deliveries look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A tenant's webhook receiver: the event as JSON, signed.
    #[default]
    Webhook,
    /// A Slack incoming webhook: a Block Kit message.
    Slack,
    /// A Microsoft Teams incoming webhook or workflow: an Adaptive Card.
    Teams,
    /// A Discord webhook: an embed.
    Discord,
}

impl Channel {
    /// Whether deliveries are chat messages (whose URL is itself the secret).
    pub fn is_chat(self) -> bool {
        self != Self::Webhook
    }
}

/// One signing secret of an endpoint, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSecret {
    /// The sealed `whsec_…` value.
    pub sealed: Sealed,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it no longer signs; `None` while it is the current one.
    pub retires_at: Option<i64>,
}

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The id.
    pub id: EndpointId,
    /// The owner.
    pub tenant_id: TenantId,
    /// Where deliveries go.
    pub url: String,
    /// Subscribed types: exact (`github.push`) or with a trailing wildcard (`github.*`, `*`).
    pub event_types: Vec<String>,
    /// Field of the event's `data` → allowed values; every filter must match.
    pub filters: BTreeMap<String, Vec<Value>>,
    /// Free text for the tenant.
    pub description: String,
    /// Inactive endpoints receive nothing.
    pub active: bool,
    /// Signing secrets, newest first.
    pub secrets: Vec<EndpointSecret>,
    /// Delays between attempts (seconds) for this endpoint; the tenant's or the default when
    /// absent.
    #[serde(default)]
    pub retry_schedule: Option<Vec<u64>>,
    /// Deliveries per minute; [`DEFAULT_RATE_LIMIT_PER_MINUTE`] when absent.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// What the endpoint is.
    #[serde(default)]
    pub channel: Channel,
    /// Why Hookrail disabled the endpoint, while it is disabled for that.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Endpoint {
    /// Whether an event of `event_type` with `data` goes to this endpoint.
    pub fn wants(&self, event_type: &str, data: &Value) -> bool {
        self.active
            && self
                .event_types
                .iter()
                .any(|pattern| type_matches(pattern, event_type))
            && filters_match(&self.filters, data)
    }

    /// Whether an event reports on this very endpoint (`endpoint.circuit_opened` about it, say):
    /// such an event is never delivered to it, so a failing endpoint or channel does not loop
    /// its own failure notices back into itself.
    pub fn is_reported_on(&self, event_type: &str, data: &Value) -> bool {
        event_type.starts_with("endpoint.")
            && data.get("endpoint_id").and_then(Value::as_str) == Some(self.id.as_str())
    }

    /// Deliveries per minute it takes.
    pub fn rate_limit(&self) -> u32 {
        self.rate_limit_per_minute
            .unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE)
    }

    /// The secrets that still sign at `now`, newest first.
    pub fn live_secrets(&self, now: i64) -> impl Iterator<Item = &EndpointSecret> {
        self.secrets
            .iter()
            .filter(move |s| s.retires_at.is_none_or(|at| at > now))
    }
}

/// Whether `pattern` (exact, `prefix.*`, or `*`) covers `event_type`.
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// Whether every filter allows the value the event's data has for its field. A field may be
/// a dotted path into nested objects (`actor.role`).
pub fn filters_match(filters: &BTreeMap<String, Vec<Value>>, data: &Value) -> bool {
    filters.iter().all(|(field, allowed)| {
        let value = field.split('.').try_fold(data, |node, key| node.get(key));
        value.is_some_and(|v| allowed.contains(v))
    })
}

/// Why an endpoint's settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct EndpointError {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn invalid(field: &str, reason: impl Into<String>) -> EndpointError {
    EndpointError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Whether `name` is `min_segments` or more dot-separated lower-case words (letters, digits,
/// `_`, `-`).
fn is_dotted_name(name: &str, min_segments: usize) -> bool {
    name.len() <= 200
        && name.split('.').count() >= min_segments
        && name.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
}

/// Checks one event type (as published): `{resource}.{action}`.
pub fn validate_event_type(event_type: &str) -> Result<(), EndpointError> {
    if is_dotted_name(event_type, 2) {
        Ok(())
    } else {
        Err(invalid(
            "type",
            "must look like `resource.action`: dot-separated lower-case words",
        ))
    }
}

/// Checks a subscription pattern: an event type, a prefix ending in `.*`, or `*`.
pub fn validate_pattern(pattern: &str) -> Result<(), EndpointError> {
    let valid = pattern == "*"
        || match pattern.strip_suffix(".*") {
            Some(prefix) => is_dotted_name(prefix, 1),
            None => is_dotted_name(pattern, 2),
        };
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "event_types",
            format!("{pattern:?} is neither an event type nor a `prefix.*` wildcard"),
        ))
    }
}

/// Checks a per-minute delivery rate.
pub fn validate_rate_limit(per_minute: u32) -> Result<(), EndpointError> {
    if (1..=MAX_RATE_LIMIT_PER_MINUTE).contains(&per_minute) {
        Ok(())
    } else {
        Err(invalid(
            "rate_limit_per_minute",
            format!("must be 1 to {MAX_RATE_LIMIT_PER_MINUTE}"),
        ))
    }
}

/// Checks a subscription list.
pub fn validate_event_types(patterns: &[String]) -> Result<(), EndpointError> {
    if patterns.is_empty() {
        return Err(invalid(
            "event_types",
            "subscribe to at least one type (or `*`)",
        ));
    }
    if patterns.len() > MAX_EVENT_TYPES {
        return Err(invalid(
            "event_types",
            format!("at most {MAX_EVENT_TYPES} types"),
        ));
    }
    patterns.iter().try_for_each(|p| validate_pattern(p))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn endpoint(types: &[&str], filters: Value) -> Endpoint {
        Endpoint {
            id: EndpointId::generate(),
            tenant_id: TenantId::generate(),
            url: "https://example.com/hook".into(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            filters: serde_json::from_value(filters).expect("filters"),
            description: String::new(),
            active: true,
            secrets: Vec::new(),
            retry_schedule: None,
            rate_limit_per_minute: None,
            channel: Channel::Webhook,
            disabled_reason: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn trailing_wildcards_match_by_prefix_and_exact_types_exactly() {
        assert!(type_matches("github.*", "github.push"));
        assert!(type_matches("github.*", "github.pull_request.opened"));
        assert!(!type_matches("github.*", "gitlab.push"));
        assert!(!type_matches("github.*", "github"));
        assert!(type_matches("*", "anything.at_all"));
        assert!(type_matches("invoice.paid", "invoice.paid"));
        assert!(!type_matches("invoice.paid", "invoice.paid.late"));
    }

    #[test]
    fn every_filter_must_allow_the_events_value() {
        let ep = endpoint(
            &["*"],
            json!({ "zone": ["engineering"], "actor_role": ["admin", "owner"] }),
        );
        assert!(ep.wants(
            "a.b",
            &json!({ "zone": "engineering", "actor_role": "owner" })
        ));
        assert!(!ep.wants(
            "a.b",
            &json!({ "zone": "engineering", "actor_role": "guest" })
        ));
        assert!(!ep.wants("a.b", &json!({ "zone": "engineering" })));
        assert!(!ep.wants("a.b", &json!("not an object")));
    }

    #[test]
    fn filters_reach_into_nested_fields() {
        let ep = endpoint(&["*"], json!({ "actor.role": ["admin"] }));
        assert!(ep.wants("a.b", &json!({ "actor": { "role": "admin" } })));
        assert!(!ep.wants("a.b", &json!({ "actor": { "role": "user" } })));
    }

    #[test]
    fn inactive_endpoints_want_nothing() {
        let mut ep = endpoint(&["*"], json!({}));
        ep.active = false;
        assert!(!ep.wants("a.b", &json!({})));
    }

    #[test]
    fn retired_secrets_stop_signing_after_their_overlap() {
        let mut ep = endpoint(&["*"], json!({}));
        let sealed = Sealed {
            key: String::new(),
            nonce: String::new(),
            ct: String::new(),
        };
        ep.secrets = vec![
            EndpointSecret {
                sealed: sealed.clone(),
                created_at: 100,
                retires_at: None,
            },
            EndpointSecret {
                sealed,
                created_at: 0,
                retires_at: Some(100 + SECRET_OVERLAP_SECS),
            },
        ];
        assert_eq!(ep.live_secrets(200).count(), 2);
        assert_eq!(ep.live_secrets(100 + SECRET_OVERLAP_SECS).count(), 1);
    }

    #[test]
    fn event_types_and_patterns_are_validated() {
        assert!(validate_event_type("invoice.paid").is_ok());
        assert!(validate_event_type("github.pull_request.opened").is_ok());
        assert!(validate_event_type("Invoice.Paid").is_err());
        assert!(validate_event_type("invoice").is_err());
        assert!(validate_event_type("invoice..paid").is_err());
        for ok in ["*", "github.*", "github.pull_request.*", "invoice.paid"] {
            assert!(validate_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["git*", "*.push", "GitHub.*", ""] {
            assert!(validate_pattern(bad).is_err(), "{bad}");
        }
        assert!(validate_event_types(&[]).is_err());
    }
}
