//! Events received from vendors and the rules of their life cycle:
//! RECEIVED → PROCESSING → PROCESSED, or FAILED with the failing stage and a suggested fix.

use serde::{Deserialize, Serialize};

use crate::ids::{EventId, IntegrationId, TenantId};

/// How much of a payload the API previews.
pub const PREVIEW_BYTES: usize = 1024;

/// How many times processing is tried before the event is dead-lettered.
pub const MAX_PROCESSING_TRIES: u32 = 3;

/// How long received events are kept (seconds).
pub const EVENT_RETENTION_SECS: i64 = 30 * 86_400;

/// How long a delivery id is remembered to drop redeliveries (seconds). Vendors retry for up to
/// three days (Stripe), so a week covers every vendor's retry window.
pub const DEDUPE_WINDOW_SECS: i64 = 7 * 86_400;

/// Where an event is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    /// Stored and queued, not yet picked up.
    Received,
    /// A processor is working on it.
    Processing,
    /// Done.
    Processed,
    /// Gave up; see the failure.
    Failed,
}

impl EventStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "RECEIVED",
            Self::Processing => "PROCESSING",
            Self::Processed => "PROCESSED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Received,
            Self::Processing,
            Self::Processed,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }

    /// Whether processing is over for good.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Processed | Self::Failed)
    }
}

/// How the event's authenticity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// The vendor's signature checked out at receipt.
    Verified,
    /// A replay of an event that was verified when first received.
    Replayed,
}

/// Why processing failed, for the tenant to act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    /// The pipeline stage that failed (`load`, `normalize`, `store`, …).
    pub stage: String,
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// Whether tries ran out and the job went to the dead-letter queue.
    pub dead_lettered: bool,
}

/// The state of one received event (kept apart from its payload, which never changes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// The event's id.
    pub id: EventId,
    /// The owner.
    pub tenant_id: TenantId,
    /// The integration it arrived on.
    pub integration_id: IntegrationId,
    /// The integration's vendor.
    pub vendor: String,
    /// Where it is in its life cycle.
    pub status: EventStatus,
    /// `{vendor}.{event}`, once processed.
    pub event_type: Option<String>,
    /// Unix seconds.
    pub received_at: i64,
    /// How it was authenticated.
    pub verification: Verification,
    /// The key redeliveries are recognised by.
    pub dedupe_key: String,
    /// The start of the payload, for humans.
    pub preview: String,
    /// The payload's size.
    pub body_bytes: usize,
    /// Processing tries so far.
    pub tries: u32,
    /// Why it failed, when it did.
    pub failure: Option<Failure>,
    /// The event this one replays.
    pub replay_of: Option<EventId>,
    /// Unix seconds, once processed.
    pub processed_at: Option<i64>,
}

/// `{vendor}.{event}`: the type every event is known by once processed.
pub fn normalized_type(vendor: &str, event: &str) -> String {
    format!("{vendor}.{}", event.trim().to_ascii_lowercase())
}

/// The first [`PREVIEW_BYTES`] of a payload as text, cut on a character boundary.
pub fn preview(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(PREVIEW_BYTES)]).into_owned();
    if text.len() <= PREVIEW_BYTES {
        return text;
    }
    let mut end = PREVIEW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_types_as_vendor_dot_event() {
        assert_eq!(normalized_type("github", "push"), "github.push");
        assert_eq!(
            normalized_type("stripe", "invoice.paid"),
            "stripe.invoice.paid"
        );
        assert_eq!(
            normalized_type("shopify", "Orders.Create"),
            "shopify.orders.create"
        );
    }

    #[test]
    fn previews_are_at_most_one_kilobyte_and_valid_text() {
        assert_eq!(preview(b"{}"), "{}");
        let long = "é".repeat(2000);
        let shown = preview(long.as_bytes());
        assert!(shown.len() <= PREVIEW_BYTES);
        assert!(shown.starts_with("éé"));
    }

    #[test]
    fn statuses_parse_case_insensitively() {
        assert_eq!(
            EventStatus::parse("processed"),
            Some(EventStatus::Processed)
        );
        assert_eq!(EventStatus::parse("nope"), None);
    }
}
