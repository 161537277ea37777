//! When a failed delivery is tried again, and when Hookrail gives up — as data, so tenants and
//! endpoints can set their own schedule, and as a pure function of the attempt's outcome and
//! the time, so every rule is tested without waiting.

use serde::{Deserialize, Serialize};

/// The default delays between attempts (seconds): 30 s, 1 m, 5 m, 15 m, 1 h, 6 h, 24 h; the
/// last one repeats (daily) until a cut-off is reached.
pub const DEFAULT_SCHEDULE: &[u64] = &[30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600];

/// A retry schedule with its cut-offs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delays between attempts, in seconds; the last repeats.
    pub schedule: Vec<u64>,
    /// Give up after answers of 4xx for this long (seconds): a 403 or 404 for a day is a
    /// configuration problem, not a blip.
    pub client_error_window_secs: i64,
    /// Give up after 5xx answers, timeouts or connection failures for this long (seconds).
    pub server_error_window_secs: i64,
    /// Each delay is moved by up to this share of itself, so retries of many deliveries that
    /// failed together do not arrive together.
    pub jitter: f64,
    /// A `Retry-After` longer than this is capped (seconds).
    pub max_retry_after_secs: u64,
    /// Rate-limited and timed-out attempts wait at least this long (seconds).
    pub min_penalty_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            schedule: DEFAULT_SCHEDULE.to_vec(),
            client_error_window_secs: 24 * 3600,
            server_error_window_secs: 72 * 3600,
            jitter: 0.1,
            max_retry_after_secs: 6 * 3600,
            min_penalty_secs: 60,
        }
    }
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A 2xx answer.
    Success {
        /// The status.
        status: u16,
    },
    /// 410 Gone: the endpoint says it no longer exists.
    Gone,
    /// 429 or 503, possibly saying when to come back.
    Throttled {
        /// The status.
        status: u16,
        /// `Retry-After`, in seconds, when given.
        retry_after_secs: Option<u64>,
    },
    /// Any other 4xx (and 3xx, since redirects are not followed).
    ClientError {
        /// The status.
        status: u16,
    },
    /// A 5xx other than 503.
    ServerError {
        /// The status.
        status: u16,
    },
    /// No answer within the timeout.
    Timeout,
    /// The connection (or TLS, or DNS) failed.
    Unreachable,
    /// The target address is refused by the SSRF guard.
    Blocked,
}

impl Outcome {
    /// Classifies an HTTP status.
    pub fn from_status(status: u16, retry_after_secs: Option<u64>) -> Self {
        match status {
            200..=299 => Self::Success { status },
            410 => Self::Gone,
            429 | 503 => Self::Throttled {
                status,
                retry_after_secs,
            },
            500..=599 => Self::ServerError { status },
            _ => Self::ClientError { status },
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Delivered; nothing more to do.
    Delivered,
    /// Try again at this unix time.
    RetryAt(i64),
    /// Stop: the delivery is a dead letter, for this reason.
    GiveUp(String),
    /// Stop and disable the endpoint (410 Gone).
    DisableEndpoint,
}

/// The most delays a schedule may list.
pub const MAX_SCHEDULE_LEN: usize = 20;
/// The longest single delay (seconds): a week.
pub const MAX_DELAY_SECS: u64 = 7 * 86_400;

/// Checks a schedule a tenant sets: 1 to 20 delays, each from 1 second to a week.
pub fn validate_schedule(schedule: &[u64]) -> Result<(), String> {
    if schedule.is_empty() || schedule.len() > MAX_SCHEDULE_LEN {
        return Err(format!("list 1 to {MAX_SCHEDULE_LEN} delays in seconds"));
    }
    if schedule.iter().any(|d| !(1..=MAX_DELAY_SECS).contains(d)) {
        return Err(format!("each delay must be 1 to {MAX_DELAY_SECS} seconds"));
    }
    Ok(())
}

impl RetryPolicy {
    /// The default policy with `schedule` instead of the default delays.
    pub fn with_schedule(schedule: Vec<u64>) -> Self {
        Self {
            schedule,
            ..Self::default()
        }
    }

    /// The delay before attempt `next_attempt` (2 for the first retry), without jitter.
    pub fn base_delay(&self, next_attempt: u32) -> u64 {
        let index = usize::try_from(next_attempt.saturating_sub(2)).unwrap_or(usize::MAX);
        self.schedule
            .get(index)
            .or(self.schedule.last())
            .copied()
            .unwrap_or(3600)
    }

    /// Decides what follows attempt number `attempt` (1-based). `failing_since` is when the
    /// first failure of the current run of failures happened; `jitter_roll` is a number in
    /// [-1, 1] (random in production, fixed in tests).
    pub fn decide(
        &self,
        outcome: Outcome,
        attempt: u32,
        failing_since: i64,
        now: i64,
        jitter_roll: f64,
    ) -> Decision {
        let window = match outcome {
            Outcome::Success { .. } => return Decision::Delivered,
            Outcome::Gone => return Decision::DisableEndpoint,
            Outcome::Blocked => {
                return Decision::GiveUp(
                    "the endpoint's address is in a blocked network range".into(),
                )
            }
            Outcome::ClientError { .. } => self.client_error_window_secs,
            Outcome::Throttled { .. }
            | Outcome::ServerError { .. }
            | Outcome::Timeout
            | Outcome::Unreachable => self.server_error_window_secs,
        };
        if now - failing_since >= window {
            return Decision::GiveUp(format!(
                "still failing after {} hours",
                (now - failing_since) / 3600
            ));
        }
        let scheduled = self.base_delay(attempt + 1);
        let (delay, jittered) = match outcome {
            // The endpoint said when to come back: never earlier, so no jitter.
            Outcome::Throttled {
                retry_after_secs: Some(asked),
                ..
            } => (
                asked.clamp(self.min_penalty_secs, self.max_retry_after_secs),
                false,
            ),
            Outcome::Throttled { .. } | Outcome::Timeout => {
                (scheduled.max(self.min_penalty_secs), true)
            }
            _ => (scheduled, true),
        };
        let jitter = if jittered {
            (delay as f64 * self.jitter * jitter_roll.clamp(-1.0, 1.0)) as i64
        } else {
            0
        };
        let delay = i64::try_from(delay)
            .unwrap_or(i64::MAX)
            .saturating_add(jitter)
            .max(1);
        let at = now.saturating_add(delay);
        // The last try lands at the end of the window, not past it.
        Decision::RetryAt(at.min(failing_since + window).max(now + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    #[test]
    fn follows_the_schedule_then_repeats_its_last_delay() {
        let p = policy();
        let delays: Vec<u64> = (2..=10).map(|n| p.base_delay(n)).collect();
        assert_eq!(delays, [30, 60, 300, 900, 3600, 21600, 86400, 86400, 86400]);
    }

    #[test]
    fn success_is_delivered_and_gone_disables_the_endpoint() {
        let p = policy();
        assert_eq!(
            p.decide(Outcome::from_status(204, None), 1, T0, T0, 0.0),
            Decision::Delivered
        );
        assert_eq!(
            p.decide(Outcome::from_status(410, None), 3, T0, T0, 0.0),
            Decision::DisableEndpoint
        );
    }

    #[test]
    fn server_errors_retry_on_schedule_with_bounded_jitter() {
        let p = policy();
        let outcome = Outcome::from_status(500, None);
        assert_eq!(
            p.decide(outcome, 1, T0, T0, 0.0),
            Decision::RetryAt(T0 + 30)
        );
        assert_eq!(
            p.decide(outcome, 1, T0, T0, 1.0),
            Decision::RetryAt(T0 + 33)
        );
        assert_eq!(
            p.decide(outcome, 1, T0, T0, -1.0),
            Decision::RetryAt(T0 + 27)
        );
        assert_eq!(
            p.decide(outcome, 4, T0, T0 + 400, 0.0),
            Decision::RetryAt(T0 + 400 + 900)
        );
    }

    #[test]
    fn client_errors_stop_after_a_day_and_server_errors_after_three() {
        let p = policy();
        let day = 24 * 3600;
        let forbidden = Outcome::from_status(403, None);
        assert!(matches!(
            p.decide(forbidden, 9, T0, T0 + day - 1, 0.0),
            Decision::RetryAt(_)
        ));
        assert!(matches!(
            p.decide(forbidden, 10, T0, T0 + day, 0.0),
            Decision::GiveUp(_)
        ));
        let down = Outcome::from_status(502, None);
        assert!(matches!(
            p.decide(down, 10, T0, T0 + 2 * day, 0.0),
            Decision::RetryAt(_)
        ));
        assert!(matches!(
            p.decide(down, 12, T0, T0 + 3 * day, 0.0),
            Decision::GiveUp(_)
        ));
        assert!(matches!(
            p.decide(Outcome::Timeout, 12, T0, T0 + 3 * day, 0.0),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn the_last_retry_is_pulled_in_to_the_end_of_the_window() {
        let p = policy();
        let almost = T0 + 72 * 3600 - 100;
        assert_eq!(
            p.decide(Outcome::Unreachable, 11, T0, almost, 0.0),
            Decision::RetryAt(T0 + 72 * 3600)
        );
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let p = policy();
        let asked = |secs| Outcome::from_status(429, Some(secs));
        assert_eq!(
            p.decide(asked(120), 1, T0, T0, 0.0),
            Decision::RetryAt(T0 + 120)
        );
        assert_eq!(
            p.decide(asked(120), 1, T0, T0, -1.0),
            Decision::RetryAt(T0 + 120),
            "never earlier than the endpoint asked"
        );
        assert_eq!(
            p.decide(asked(1), 1, T0, T0, 0.0),
            Decision::RetryAt(T0 + 60)
        );
        assert_eq!(
            p.decide(asked(86_400 * 7), 1, T0, T0, 0.0),
            Decision::RetryAt(T0 + 6 * 3600)
        );
        assert_eq!(
            p.decide(Outcome::from_status(503, None), 1, T0, T0, 0.0),
            Decision::RetryAt(T0 + 60),
            "throttling without Retry-After still waits the minimum penalty"
        );
    }

    #[test]
    fn schedules_are_bounded_in_length_and_delay() {
        assert!(validate_schedule(&[10, 60, 600]).is_ok());
        assert!(validate_schedule(&[]).is_err());
        assert!(validate_schedule(&[0]).is_err());
        assert!(validate_schedule(&[8 * 86_400]).is_err());
        assert!(validate_schedule(&[1; 21]).is_err());
        let custom = RetryPolicy::with_schedule(vec![5, 10]);
        assert_eq!(
            (2..=4).map(|n| custom.base_delay(n)).collect::<Vec<_>>(),
            [5, 10, 10]
        );
    }

    #[test]
    fn blocked_targets_give_up_at_once() {
        assert!(matches!(
            policy().decide(Outcome::Blocked, 1, T0, T0, 0.0),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn redirects_count_as_client_errors() {
        assert_eq!(
            Outcome::from_status(302, None),
            Outcome::ClientError { status: 302 }
        );
    }
}
