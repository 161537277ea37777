//! An endpoint's delivery health, as a pure state machine: the run of consecutive failures, the
//! circuit breaker that stops hammering an endpoint that is down, and when to give the endpoint
//! up altogether. Time comes in as an argument, so every rule is tested without waiting.

use serde::{Deserialize, Serialize};

/// Consecutive failed attempts that open the circuit.
pub const OPEN_AFTER: u32 = 5;
/// Consecutive failed attempts after which the endpoint is disabled.
pub const DISABLE_AFTER: u32 = 100;
/// The first cool-down of an open circuit (seconds); it doubles each time the half-open probe
/// fails, up to [`MAX_COOL_DOWN_SECS`].
pub const FIRST_COOL_DOWN_SECS: i64 = 60;
/// The longest cool-down (seconds).
pub const MAX_COOL_DOWN_SECS: i64 = 3600;
/// While a probe is in flight, waiting deliveries look again this often (seconds), so they
/// follow soon after it closes the circuit.
pub const HALF_OPEN_RECHECK_SECS: i64 = 5;

/// The breaker's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Circuit {
    /// Deliveries flow.
    #[default]
    Closed,
    /// Deliveries wait until the cool-down ends.
    Open {
        /// Unix seconds when one probe delivery may go.
        until: i64,
    },
    /// One probe delivery is in flight; the rest wait for its answer.
    HalfOpen {
        /// Unix seconds after which the probe counts as lost and another may go.
        probe_until: i64,
    },
}

impl Circuit {
    /// `closed`, `open` or `half_open`, as the API and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half_open",
        }
    }
}

/// What a delivery about to be attempted may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Send,
    /// Send it as the circuit's single probe (claim the probe first).
    Probe,
    /// Do not send; look again at this unix time.
    WaitUntil(i64),
}

/// What an attempt's result changed, for the tenant to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing worth telling.
    None,
    /// The circuit opened (from closed).
    Opened,
    /// The probe succeeded and the circuit closed.
    Closed,
    /// The endpoint should be disabled.
    Disable,
}

/// An endpoint's delivery health.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EndpointHealth {
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<i64>,
    /// The breaker.
    pub circuit: Circuit,
    /// How many probes in a row failed (the cool-down doubles with each).
    pub failed_probes: u32,
    /// Unix seconds.
    pub last_failure_at: Option<i64>,
    /// The last failure in words (`503`, `timeout`, …).
    pub last_error: Option<String>,
}

impl EndpointHealth {
    /// Whether a delivery may be sent at `now`.
    pub fn admit(&self, now: i64) -> Admission {
        match self.circuit {
            Circuit::Closed => Admission::Send,
            Circuit::Open { until } if now < until => Admission::WaitUntil(until),
            Circuit::HalfOpen { probe_until } if now < probe_until => {
                Admission::WaitUntil(probe_until.min(now + HALF_OPEN_RECHECK_SECS))
            }
            // The cool-down is over, or the last probe's holder never reported back.
            Circuit::Open { .. } | Circuit::HalfOpen { .. } => Admission::Probe,
        }
    }

    /// Marks the probe as taken until `probe_until`.
    pub fn start_probe(&mut self, probe_until: i64) {
        self.circuit = Circuit::HalfOpen { probe_until };
    }

    /// Whether the endpoint is in trouble (worth an operator's look).
    pub fn is_troubled(&self) -> bool {
        self.consecutive_failures > 0 || self.circuit != Circuit::Closed
    }

    /// Records a delivered attempt. A healthy endpoint's health does not change, so the common
    /// case writes nothing.
    pub fn record_success(&mut self) -> Change {
        let was_open = self.circuit != Circuit::Closed;
        *self = Self {
            last_failure_at: self.last_failure_at,
            last_error: self.last_error.take(),
            ..Self::default()
        };
        if was_open {
            Change::Closed
        } else {
            Change::None
        }
    }

    /// Records a failed attempt; `window_secs` is how long the endpoint may keep failing (its
    /// retry window) before it is disabled.
    pub fn record_failure(&mut self, now: i64, error: &str, window_secs: i64) -> Change {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let since = *self.failing_since.get_or_insert(now);
        self.last_failure_at = Some(now);
        self.last_error = Some(error.to_owned());
        if self.consecutive_failures >= DISABLE_AFTER || now - since >= window_secs {
            return Change::Disable;
        }
        match self.circuit {
            Circuit::Closed if self.consecutive_failures >= OPEN_AFTER => {
                self.failed_probes = 0;
                self.circuit = Circuit::Open {
                    until: now + FIRST_COOL_DOWN_SECS,
                };
                Change::Opened
            }
            Circuit::HalfOpen { .. } => {
                self.failed_probes = self.failed_probes.saturating_add(1);
                self.circuit = Circuit::Open {
                    until: now + cool_down(self.failed_probes),
                };
                Change::None
            }
            // Still closed, or an attempt that began before the circuit opened.
            Circuit::Closed | Circuit::Open { .. } => Change::None,
        }
    }
}

/// The cool-down after `failed_probes` failed probes: 1 min, 2, 4, … up to an hour.
pub fn cool_down(failed_probes: u32) -> i64 {
    FIRST_COOL_DOWN_SECS
        .saturating_mul(1_i64 << failed_probes.min(20))
        .min(MAX_COOL_DOWN_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: i64 = 72 * 3600;

    fn failing(times: u32, at: i64) -> (EndpointHealth, Vec<Change>) {
        let mut health = EndpointHealth::default();
        let changes = (0..times)
            .map(|_| health.record_failure(at, "503", WINDOW))
            .collect();
        (health, changes)
    }

    #[test]
    fn five_failures_in_a_row_open_the_circuit_once() {
        let (health, changes) = failing(5, 1000);
        assert_eq!(changes[..4], [Change::None; 4]);
        assert_eq!(changes[4], Change::Opened);
        assert_eq!(health.circuit, Circuit::Open { until: 1060 });
        assert_eq!(health.admit(1059), Admission::WaitUntil(1060));
        let (_, more) = failing(7, 1000);
        assert_eq!(more[5..], [Change::None; 2], "opened once, not again");
    }

    #[test]
    fn a_success_before_the_fifth_failure_resets_the_count() {
        let (mut health, _) = failing(4, 1000);
        assert_eq!(health.record_success(), Change::None);
        assert_eq!(health.consecutive_failures, 0);
        assert_eq!(health.failing_since, None);
        assert_eq!(health.record_failure(1002, "503", WINDOW), Change::None);
        assert_eq!(health.admit(1002), Admission::Send);
    }

    #[test]
    fn after_the_cool_down_one_probe_goes_and_the_rest_wait() {
        let (mut health, _) = failing(5, 1000);
        assert_eq!(health.admit(1060), Admission::Probe);
        health.start_probe(1090);
        assert_eq!(health.admit(1061), Admission::WaitUntil(1066));
        assert_eq!(health.admit(1088), Admission::WaitUntil(1090));
        // The probe's holder died: after its lease another probe may go.
        assert_eq!(health.admit(1090), Admission::Probe);
    }

    #[test]
    fn a_successful_probe_closes_the_circuit() {
        let (mut health, _) = failing(5, 1000);
        health.start_probe(1090);
        assert_eq!(health.record_success(), Change::Closed);
        assert_eq!(health.circuit, Circuit::Closed);
        assert_eq!(health.admit(1065), Admission::Send);
        assert!(!health.is_troubled());
    }

    #[test]
    fn each_failed_probe_doubles_the_cool_down_up_to_an_hour() {
        let (mut health, _) = failing(5, 1000);
        let mut now = 1060;
        let mut cool_downs = Vec::new();
        for _ in 0..8 {
            health.start_probe(now + 30);
            assert_eq!(health.record_failure(now, "timeout", WINDOW), Change::None);
            let Circuit::Open { until } = health.circuit else {
                panic!("reopened");
            };
            cool_downs.push(until - now);
            now = until;
        }
        assert_eq!(cool_downs, [120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn a_hundred_failures_in_a_row_disable_the_endpoint() {
        let (_, changes) = failing(100, 1000);
        assert_eq!(changes[98], Change::None);
        assert_eq!(changes[99], Change::Disable);
    }

    #[test]
    fn failing_through_the_whole_retry_window_disables_the_endpoint() {
        let mut health = EndpointHealth::default();
        assert_eq!(health.record_failure(0, "503", WINDOW), Change::None);
        assert_eq!(
            health.record_failure(WINDOW - 1, "503", WINDOW),
            Change::None
        );
        assert_eq!(
            health.record_failure(WINDOW, "503", WINDOW),
            Change::Disable
        );
    }
}
