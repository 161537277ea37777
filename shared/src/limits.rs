//! Fixed one-minute windows counted in the state store, so every function instance (and every
//! `hookrail dev` worker) shares one count per key: tenants' API requests and deliveries to each
//! endpoint.

use crate::store::{StateStore, StoreError};

/// The window's length (seconds).
pub const WINDOW_SECS: i64 = 60;

/// Where one counted request stands in its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// This request's number in the window (1-based).
    pub count: i64,
    /// The most allowed in a window.
    pub limit: i64,
    /// Unix seconds when the next window starts.
    pub reset: i64,
}

impl WindowCount {
    /// Whether this request is over the limit.
    pub fn is_over(&self) -> bool {
        self.count > self.limit
    }

    /// How many more the window allows.
    pub fn remaining(&self) -> i64 {
        (self.limit - self.count).max(0)
    }

    /// When a request over the limit should come back: the `n`th one over waits for the
    /// window that has room for it, spread evenly across that window, so a backlog drains at
    /// the limit instead of stampeding at every window's start. `None` when within the limit.
    pub fn slot(&self) -> Option<i64> {
        if !self.is_over() || self.limit <= 0 {
            return None;
        }
        let over = self.count - self.limit - 1;
        let windows_ahead = over / self.limit;
        let place = over % self.limit;
        Some(self.reset + windows_ahead * WINDOW_SECS + place * WINDOW_SECS / self.limit)
    }
}

/// Counts one request under `key` in the window holding `now`.
pub async fn count(
    store: &dyn StateStore,
    key: &str,
    limit: u32,
    now: i64,
) -> Result<WindowCount, StoreError> {
    let window = now - now.rem_euclid(WINDOW_SECS);
    let reset = window + WINDOW_SECS;
    let count = store
        .increment(&format!("{key}#{window}"), "count", 1, reset + WINDOW_SECS)
        .await?;
    Ok(WindowCount {
        count,
        limit: i64::from(limit),
        reset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(count: i64) -> WindowCount {
        WindowCount {
            count,
            limit: 4,
            reset: 1200,
        }
    }

    #[test]
    fn requests_within_the_limit_pass() {
        assert!(!at(4).is_over());
        assert_eq!(at(4).slot(), None);
        assert_eq!(at(3).remaining(), 1);
    }

    #[test]
    fn a_backlog_is_spread_over_the_windows_that_have_room() {
        let slots: Vec<_> = (5..=13).filter_map(|n| at(n).slot()).collect();
        assert_eq!(
            slots,
            [1200, 1215, 1230, 1245, 1260, 1275, 1290, 1305, 1320]
        );
    }
}
