//! A connection's health as the scheduled probe sees it: a pip per probe (green, amber, red), a
//! rolling 24-hour history, and flapping — several changes within an hour, which usually means
//! the vendor, not the tenant, is in trouble.

use serde::{Deserialize, Serialize};

/// How long probe history is kept (seconds).
pub const HISTORY_SECS: i64 = 24 * 3600;
/// A probe slower than this (milliseconds) shows amber even when it passed.
pub const SLOW_MS: u64 = 2000;
/// Pip changes within [`FLAP_WINDOW_SECS`] that make a connection flapping.
pub const FLAP_CHANGES: usize = 3;
/// The window flapping is judged over (seconds).
pub const FLAP_WINDOW_SECS: i64 = 3600;

/// The status pip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pip {
    /// The last probe passed, quickly and without warnings.
    Green,
    /// The credentials work, but the vendor was slow (over 2 s) or there are warnings.
    Amber,
    /// The last probe failed.
    Red,
}

impl Pip {
    /// The pip of a probe that passed (`ok`) in `latency_ms`, with `warnings`.
    pub fn of(ok: bool, latency_ms: u64, warnings: &[String]) -> Self {
        match (ok, latency_ms > SLOW_MS || !warnings.is_empty()) {
            (false, _) => Self::Red,
            (true, true) => Self::Amber,
            (true, false) => Self::Green,
        }
    }
}

/// One probe, as kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProbeRecord {
    /// Unix seconds.
    pub at: i64,
    /// The pip it earned.
    pub pip: Pip,
    /// Whether the vendor accepted the credentials.
    pub ok: bool,
    /// The vendor's status, when it answered.
    pub status: Option<u16>,
    /// How long the probe took.
    pub latency_ms: u64,
    /// What happened, in words (the error when it failed).
    pub message: String,
    /// Why it is amber despite passing (missing scopes, expiring credentials, …).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// What a new probe changed, for the tenant to hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing worth telling (or the connection is flapping, which the status shows).
    None,
    /// It went red.
    Failing,
    /// It came back from red.
    Recovered,
}

/// A connection's health between probes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthSummary {
    /// The latest probe.
    pub last: Option<ProbeRecord>,
    /// When the pip changed within the last hour (unix seconds).
    pub changes: Vec<i64>,
    /// When the current red run began.
    pub failing_since: Option<i64>,
}

impl HealthSummary {
    /// Whether the pip changed [`FLAP_CHANGES`] times or more within the last hour.
    pub fn is_flapping(&self) -> bool {
        self.changes.len() >= FLAP_CHANGES
    }

    /// Takes in a new probe and says what changed. While a connection flaps, its changes are
    /// not announced one by one: the status shows it flapping.
    pub fn record(&mut self, probe: ProbeRecord) -> Transition {
        let was_flapping = self.is_flapping();
        let previous = self.last.as_ref().map(|last| last.pip);
        let now = probe.at;
        self.changes.retain(|at| now - at < FLAP_WINDOW_SECS);
        if previous.is_some_and(|pip| pip != probe.pip) {
            self.changes.push(now);
        }
        let transition = match (previous, probe.pip) {
            (Some(Pip::Red), Pip::Red) => Transition::None,
            (_, Pip::Red) => Transition::Failing,
            (Some(Pip::Red), _) => Transition::Recovered,
            _ => Transition::None,
        };
        match probe.pip {
            Pip::Red => {
                self.failing_since.get_or_insert(now);
            }
            Pip::Green | Pip::Amber => self.failing_since = None,
        }
        self.last = Some(probe);
        if was_flapping && self.is_flapping() {
            Transition::None
        } else {
            transition
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(at: i64, ok: bool, latency_ms: u64) -> ProbeRecord {
        ProbeRecord {
            at,
            pip: Pip::of(ok, latency_ms, &[]),
            ok,
            status: Some(if ok { 200 } else { 503 }),
            latency_ms,
            message: String::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn pips_are_green_fast_amber_slow_or_warned_and_red_failing() {
        assert_eq!(Pip::of(true, 120, &[]), Pip::Green);
        assert_eq!(Pip::of(true, 2500, &[]), Pip::Amber);
        assert_eq!(Pip::of(true, 100, &["missing scopes".into()]), Pip::Amber);
        assert_eq!(Pip::of(false, 100, &[]), Pip::Red);
    }

    #[test]
    fn going_red_and_coming_back_are_announced_once_each() {
        let mut health = HealthSummary::default();
        assert_eq!(health.record(probe(0, true, 100)), Transition::None);
        assert_eq!(health.record(probe(300, false, 100)), Transition::Failing);
        assert_eq!(health.failing_since, Some(300));
        assert_eq!(health.record(probe(600, false, 100)), Transition::None);
        assert_eq!(health.record(probe(900, true, 3000)), Transition::Recovered);
        assert_eq!(health.failing_since, None);
        assert_eq!(
            health.record(probe(1200, true, 100)),
            Transition::None,
            "amber to green"
        );
    }

    #[test]
    fn a_first_probe_that_fails_is_announced() {
        let mut health = HealthSummary::default();
        assert_eq!(health.record(probe(0, false, 100)), Transition::Failing);
    }

    #[test]
    fn several_changes_within_an_hour_are_flapping_and_quiet() {
        let mut health = HealthSummary::default();
        let mut said = Vec::new();
        for (i, ok) in [true, false, true, false, true, false]
            .into_iter()
            .enumerate()
        {
            said.push(health.record(probe(i as i64 * 300, ok, 100)));
        }
        assert!(health.is_flapping());
        assert_eq!(
            said,
            [
                Transition::None,
                Transition::Failing,
                Transition::Recovered,
                Transition::Failing,
                Transition::None,
                Transition::None
            ]
        );
        // An hour of steady answers ends the flapping.
        let mut at = 6 * 300;
        while health.is_flapping() {
            health.record(probe(at, true, 100));
            at += 300;
        }
        assert!(at - 5 * 300 <= FLAP_WINDOW_SECS + 300);
    }
}
