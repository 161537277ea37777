//! Connections: an integration's credentials for calling its vendor, and the rules that keep
//! OAuth tokens fresh — when a refresh is due, how failures back off, when to stop and ask the
//! user to reconnect.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{IntegrationId, TenantId};
use crate::vault::Sealed;

/// A connection not refreshed for this long is refreshed anyway, so vendors that revoke idle
/// refresh tokens never see it idle.
pub const IDLE_REFRESH_SECS: i64 = 24 * 3600;

/// The first back-off after a failed refresh; it doubles with each failure.
pub const FIRST_BACKOFF_SECS: i64 = 5 * 60;

/// The longest back-off between refresh attempts.
pub const MAX_BACKOFF_SECS: i64 = 6 * 3600;

/// After failing this long, a connection stops retrying and asks for a reconnect.
pub const MAX_FAILING_SECS: i64 = 3 * 24 * 3600;

/// How early a credential's known expiry is announced.
pub const EXPIRY_WARNING_SECS: i64 = 30 * 24 * 3600;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// No usable credentials yet (an OAuth connection before its consent, or missing fields).
    #[default]
    NotConnected,
    /// Credentials are in place.
    Connected,
    /// The vendor refused the grant; a user must connect again.
    NeedsReconnect,
}

/// A connection's state, kept on its integration (it changes rarely).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    /// Where it stands.
    #[serde(default)]
    pub status: ConnectionStatus,
    /// Why it needs attention, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A label for the credential (e.g. whose key it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The date (`YYYY-MM-DD`) by which an API key should be rotated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotate_by: Option<String>,
    /// Whether the rotation reminder went out.
    #[serde(default)]
    pub rotation_warned: bool,
    /// Scopes asked for at the last connect.
    #[serde(default)]
    pub scopes_requested: Vec<String>,
    /// Scopes the vendor granted at the last connect.
    #[serde(default)]
    pub scopes_granted: Vec<String>,
    /// When the last connect succeeded, unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<i64>,
}

impl Connection {
    /// Requested scopes the vendor did not grant.
    pub fn missing_scopes(&self) -> Vec<String> {
        self.scopes_requested
            .iter()
            .filter(|s| !self.scopes_granted.contains(s))
            .cloned()
            .collect()
    }

    /// When the rotation reminder is due (30 days before `rotate_by`), unless it went out.
    pub fn rotation_reminder_at(&self) -> Option<i64> {
        if self.rotation_warned {
            return None;
        }
        let date = parse_date(self.rotate_by.as_deref()?)?;
        Some(date - EXPIRY_WARNING_SECS)
    }
}

/// Unix seconds at midnight UTC of a `YYYY-MM-DD` date.
pub fn parse_date(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if date.len() != 10 || !(1..=12).contains(&month) || day == 0 || day > days_in(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400)
}

fn days_in(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days-from-civil: exact for the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// OAuth tokens at rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token, sealed.
    pub access_token: Sealed,
    /// The refresh token, sealed; none for grants without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Sealed>,
    /// Usually `Bearer`.
    pub token_type: String,
    /// When the access token expires; none: it doesn't.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// When the refresh token expires, when the vendor says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<i64>,
    /// The granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Provider extras from the token response (e.g. Salesforce `instance_url`).
    #[serde(default)]
    pub extras: Map<String, Value>,
}

/// A connection's OAuth credentials and refresh bookkeeping, kept apart from the integration
/// because they change at every refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// The owner.
    pub tenant_id: TenantId,
    /// The connection.
    pub integration_id: IntegrationId,
    /// The tokens.
    pub tokens: TokenSet,
    /// When these tokens were obtained (connect or last refresh), unix seconds.
    pub obtained_at: i64,
    /// Seconds before expiry at which to refresh (the provider's buffer).
    pub refresh_buffer: i64,
    /// Refresh failures in a row.
    #[serde(default)]
    pub failures: u32,
    /// When the current run of failures began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<i64>,
    /// When to try again after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<i64>,
    /// The last failure, as the vendor put it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Refreshing stopped: the grant is gone.
    #[serde(default)]
    pub stopped: bool,
    /// The refresh token's expiry was announced.
    #[serde(default)]
    pub expiry_warned: bool,
}

/// Why a refresh failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The vendor says the grant is gone (`invalid_grant` and equivalents).
    GrantRevoked(String),
    /// Anything else: network, 5xx, rate limit.
    Transient(String),
}

/// What to do after a failed refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this time.
    RetryAt(i64),
    /// Stop and ask for a reconnect, for this reason.
    Reconnect(String),
}

impl Credentials {
    /// Fresh credentials of a connection, obtained at `now`, with no failures behind them.
    pub fn new(
        tenant_id: TenantId,
        integration_id: IntegrationId,
        tokens: TokenSet,
        now: i64,
        refresh_buffer: i64,
    ) -> Self {
        Self {
            tenant_id,
            integration_id,
            tokens,
            obtained_at: now,
            refresh_buffer,
            failures: 0,
            failing_since: None,
            retry_at: None,
            last_error: None,
            stopped: false,
            expiry_warned: false,
        }
    }

    /// When the scheduled refresher should next refresh, if ever: before expiry by the
    /// buffer, after a day idle, or at the back-off time after a failure.
    pub fn refresh_due_at(&self) -> Option<i64> {
        if self.stopped || self.tokens.refresh_token.is_none() {
            return None;
        }
        if let Some(at) = self.retry_at {
            return Some(at);
        }
        let idle = self.obtained_at + IDLE_REFRESH_SECS;
        Some(match self.tokens.expires_at {
            Some(expires_at) => (expires_at - self.refresh_buffer).min(idle),
            None => idle,
        })
    }

    /// Whether the access token is still good `margin` seconds from `now`.
    pub fn access_token_fresh(&self, now: i64, margin: i64) -> bool {
        self.tokens.expires_at.is_none_or(|at| at > now + margin)
    }

    /// Records a failure and says what comes next.
    pub fn record_failure(&mut self, now: i64, failure: RefreshFailure) -> AfterFailure {
        self.failures = self.failures.saturating_add(1);
        let since = *self.failing_since.get_or_insert(now);
        let decision = match failure {
            RefreshFailure::GrantRevoked(reason) => {
                self.last_error = Some(reason.clone());
                AfterFailure::Reconnect(reason)
            }
            RefreshFailure::Transient(reason) if now - since >= MAX_FAILING_SECS => {
                self.last_error = Some(reason.clone());
                AfterFailure::Reconnect(format!(
                    "refresh has failed for {} days; last error: {reason}",
                    (now - since) / 86_400
                ))
            }
            RefreshFailure::Transient(reason) => {
                self.last_error = Some(reason);
                let exponent = self.failures.saturating_sub(1).min(16);
                let backoff = (FIRST_BACKOFF_SECS << exponent).min(MAX_BACKOFF_SECS);
                AfterFailure::RetryAt(now + backoff)
            }
        };
        match &decision {
            AfterFailure::RetryAt(at) => self.retry_at = Some(*at),
            AfterFailure::Reconnect(_) => {
                self.stopped = true;
                self.retry_at = None;
            }
        }
        decision
    }

    /// When the refresh token's expiry should be announced, unless it was.
    pub fn expiry_warning_at(&self) -> Option<i64> {
        if self.expiry_warned || self.stopped {
            return None;
        }
        Some(self.tokens.refresh_token_expires_at? - EXPIRY_WARNING_SECS)
    }
}

/// Scopes from a token response's `scope` (space- or comma-separated).
pub fn parse_scopes(raw: &str) -> Vec<String> {
    raw.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed() -> Sealed {
        Sealed {
            key: "k".into(),
            nonce: "n".into(),
            ct: "c".into(),
        }
    }

    fn credentials(expires_at: Option<i64>) -> Credentials {
        let tokens = TokenSet {
            access_token: sealed(),
            refresh_token: Some(sealed()),
            token_type: "Bearer".into(),
            expires_at,
            refresh_token_expires_at: None,
            scopes: vec![],
            extras: Map::new(),
        };
        Credentials::new(
            TenantId::generate(),
            IntegrationId::generate(),
            tokens,
            1_000,
            900,
        )
    }

    #[test]
    fn refresh_is_due_a_buffer_before_expiry_or_after_a_day_idle() {
        assert_eq!(credentials(Some(4_600)).refresh_due_at(), Some(3_700));
        assert_eq!(
            credentials(None).refresh_due_at(),
            Some(1_000 + IDLE_REFRESH_SECS)
        );
        assert_eq!(
            credentials(Some(10 * IDLE_REFRESH_SECS)).refresh_due_at(),
            Some(1_000 + IDLE_REFRESH_SECS)
        );
        let mut no_refresh_token = credentials(Some(4_600));
        no_refresh_token.tokens.refresh_token = None;
        assert_eq!(no_refresh_token.refresh_due_at(), None);
    }

    #[test]
    fn transient_failures_back_off_exponentially_up_to_six_hours() {
        let mut creds = credentials(Some(4_600));
        let waits: Vec<i64> = (0..9)
            .map(
                |_| match creds.record_failure(10_000, RefreshFailure::Transient("503".into())) {
                    AfterFailure::RetryAt(at) => at - 10_000,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(
            waits,
            [300, 600, 1_200, 2_400, 4_800, 9_600, 19_200, 21_600, 21_600]
        );
        assert_eq!(creds.refresh_due_at(), Some(10_000 + 21_600));
    }

    #[test]
    fn revoked_grants_and_long_failure_runs_stop_refreshing() {
        let mut revoked = credentials(Some(4_600));
        assert_eq!(
            revoked.record_failure(5_000, RefreshFailure::GrantRevoked("invalid_grant".into())),
            AfterFailure::Reconnect("invalid_grant".into())
        );
        assert!(revoked.stopped);
        assert_eq!(revoked.refresh_due_at(), None);

        let mut failing = credentials(Some(4_600));
        failing.record_failure(0, RefreshFailure::Transient("timeout".into()));
        let decision = failing.record_failure(
            MAX_FAILING_SECS,
            RefreshFailure::Transient("timeout".into()),
        );
        assert!(
            matches!(&decision, AfterFailure::Reconnect(reason) if reason.contains("3 days")),
            "{decision:?}"
        );
    }

    #[test]
    fn rotation_reminders_fall_thirty_days_before_the_date() {
        let connection = Connection {
            rotate_by: Some("2027-01-31".into()),
            ..Connection::default()
        };
        assert_eq!(parse_date("1970-01-02"), Some(86_400));
        assert!(parse_date("2024-02-29").is_some());
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2027-1-31"), None);
        assert_eq!(connection.rotation_reminder_at(), parse_date("2027-01-01"));
    }

    #[test]
    fn missing_scopes_are_those_asked_for_but_not_granted() {
        let connection = Connection {
            scopes_requested: vec!["read".into(), "write".into()],
            scopes_granted: parse_scopes("read"),
            ..Connection::default()
        };
        assert_eq!(connection.missing_scopes(), ["write"]);
        assert_eq!(parse_scopes("a,b c"), ["a", "b", "c"]);
    }
}
