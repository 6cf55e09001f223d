//! Per-client limits on wrong secrets: [`FailureLimiter`] remembers recent
//! failures per client and says how long a client must wait once it has too many.
//! Clients are keyed by [`client_key`]: the IPv4 address, or the /64 an IPv6
//! address belongs to (one host usually owns a whole /64, so per-address counting
//! would let it rotate addresses forever).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Clients whose failures are remembered at most (the table's named limit).
const MAX_TRACKED: usize = 10_000;

/// The key failures of `ip` are counted under: IPv4 as is (IPv4-mapped IPv6
/// included), IPv6 cut to its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// At most `max` failures per client within `window`.
#[derive(Debug)]
pub struct FailureLimiter {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub fn new(max: usize, window: Duration) -> FailureLimiter {
        FailureLimiter {
            max: max.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds)` when `ip` must wait before trying again.
    pub fn limited(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let key = client_key(ip);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = failures.get_mut(&key)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.is_empty() {
            failures.remove(&key);
            return None;
        }
        if times.len() < self.max {
            return None;
        }
        let oldest = *times.front()?;
        let wait = self.window.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    }

    /// Counts a failure from `ip`.
    pub fn record(&self, ip: IpAddr, now: Instant) {
        let key = client_key(ip);
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(&key) {
            let window = self.window;
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
            if failures.len() >= MAX_TRACKED {
                return;
            }
        }
        let times = failures.entry(key).or_default();
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_counted_per_64_and_the_limit_expires() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        limiter.record(a, now);
        assert_eq!(limiter.limited(b, now), None);
        limiter.record(b, now);
        assert_eq!(limiter.limited(a, now), Some(60));
        assert_eq!(limiter.limited(other, now), None);
        assert_eq!(limiter.limited(a, now + Duration::from_secs(60)), None);
        assert_eq!(
            client_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
    }
}
