//! Typed, prefixed identifiers (`tnt_…`, `int_…`, `evt_…`), so ids of different things cannot be
//! mixed up. The body is a ULID: unique, and sortable by creation time, which gives lists their
//! newest-first order for free.

use std::fmt;

/// Declares one prefixed id type.
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A new id, ordered after every id made before it.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            /// Parses an id, checking its prefix and body.
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                let body = raw.strip_prefix($prefix).ok_or(InvalidId)?;
                ulid::Ulid::from_string(body).map_err(|_| InvalidId)?;
                Ok(Self(raw.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(raw: String) -> Result<Self, InvalidId> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

prefixed_id!(
    /// A tenant: one customer of the Hookrail deployment.
    TenantId,
    "tnt_"
);
prefixed_id!(
    /// An integration: one vendor connection of a tenant, with its own webhook URL.
    IntegrationId,
    "int_"
);
prefixed_id!(
    /// An event received from a vendor.
    EventId,
    "evt_"
);

prefixed_id!(
    /// A tenant's webhook endpoint.
    EndpointId,
    "ep_"
);
prefixed_id!(
    /// An event published to tenants' endpoints (a message, to keep it apart from the
    /// events received from vendors).
    MessageId,
    "msg_"
);
prefixed_id!(
    /// One event's delivery to one endpoint, with all its attempts.
    DeliveryId,
    "dlv_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_the_wrong_prefix() {
        let id = IntegrationId::generate();
        assert!(id.as_str().starts_with("int_"));
        assert_eq!(IntegrationId::parse(id.as_str()), Ok(id.clone()));
        assert_eq!(EventId::parse(id.as_str()), Err(InvalidId));
        assert_eq!(IntegrationId::parse("int_not-a-ulid"), Err(InvalidId));
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let first = EventId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = EventId::generate();
        assert!(second > first);
    }
}
