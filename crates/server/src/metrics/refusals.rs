//! Counts of connections and attempts the server refused, by listener and reason
//! (`brume_refused_total{listener="rtmp",reason="wrong_password"}`): what an
//! operator watches to see a limit biting or someone guessing passwords.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Refusal counters.
#[derive(Debug, Default)]
pub struct Refusals {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Refusals {
    /// Counts one refusal on `listener` for `reason`.
    pub fn count(&self, listener: &'static str, reason: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((listener, reason))
            .or_default() += 1;
    }

    /// Every `(listener, reason, count)`, in a stable order.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(&(listener, reason), &count)| (listener, reason, count))
            .collect()
    }
}
