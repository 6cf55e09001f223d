//! A fixed-size log-linear histogram of durations, for request latencies.
//!
//! Values are nanoseconds. Every power of two is split into 32 equal buckets, so a
//! percentile read back is within about 3 % of the true value. Recording is an
//! index computation and an increment: nothing is allocated after creation, and
//! histograms of several connections merge by adding their counts.

use std::time::Duration;

/// Bits of sub-bucket resolution inside each power of two.
const SUB_BITS: u32 = 5;
/// Sub-buckets per power of two.
const SUB: usize = 1 << SUB_BITS;
/// Enough buckets for any `u64` value (see [`index`]).
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Latency histogram with exact count, minimum, maximum and sum.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    count: u64,
    min_ns: u64,
    max_ns: u64,
    sum_ns: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket of a value: values below `2 * SUB` have their own bucket; above,
/// the top `SUB_BITS + 1` significant bits pick it.
fn index(value: u64) -> usize {
    let top_bit = 63 - value.max(1).leading_zeros();
    let shift = top_bit.saturating_sub(SUB_BITS);
    shift as usize * SUB + (value >> shift) as usize
}

/// The smallest and largest value that land in bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    if i < 2 * SUB {
        return (i as u64, i as u64);
    }
    let shift = (i / SUB - 1) as u32;
    let mantissa = (i - shift as usize * SUB) as u64;
    let low = mantissa << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            min_ns: u64::MAX,
            max_ns: 0,
            sum_ns: 0,
        }
    }

    /// Records one duration.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(ns)] += 1;
        self.count += 1;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += u128::from(ns);
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
    }

    /// Number of values recorded.
    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Largest value recorded.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.max_ns))
    }

    /// Mean of the values recorded.
    pub fn mean(&self) -> Option<Duration> {
        let mean = self.sum_ns.checked_div(u128::from(self.count))?;
        Some(Duration::from_nanos(
            u64::try_from(mean).unwrap_or(u64::MAX),
        ))
    }

    /// The nearest-rank percentile `p` (0–100): the middle of the bucket holding
    /// that rank, kept within the exact minimum and maximum.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p / 100.0) * self.count as f64).ceil() as u64;
        let rank = rank.clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (low, high) = bounds(i);
                let mid = low + (high - low) / 2;
                return Some(Duration::from_nanos(mid.clamp(self.min_ns, self.max_ns)));
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_range() {
        // Consecutive buckets are contiguous, each value maps back to its own
        // bucket, and the last one ends at u64::MAX.
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (low, high) = bounds(i);
            assert_eq!(low, next, "bucket {i}");
            assert_eq!((index(low), index(high)), (i, i), "bucket {i}");
            if i == BUCKETS - 1 {
                assert_eq!(high, u64::MAX);
            } else {
                next = high + 1;
            }
        }
    }

    #[test]
    fn relative_error_is_small() {
        for v in [
            1u64,
            63,
            64,
            65,
            1000,
            123_456,
            9_999_999,
            1 << 40,
            u64::MAX,
        ] {
            let (low, high) = bounds(index(v));
            assert!(low <= v && v <= high, "{v}");
            assert!((high - low) as f64 <= v as f64 / 31.0, "{v}: {low}..{high}");
        }
    }

    #[test]
    fn percentiles() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        for ms in 1..=100u64 {
            let h = if ms % 2 == 0 { &mut a } else { &mut b };
            h.record(Duration::from_millis(ms));
        }
        a.merge(&b);
        assert_eq!(a.count(), 100);
        let near = |d: Option<Duration>, ms: f64| {
            let got = d.unwrap().as_secs_f64() * 1000.0;
            assert!((got - ms).abs() <= ms * 0.035, "{got} vs {ms}");
        };
        near(a.percentile(50.0), 50.0);
        near(a.percentile(99.0), 99.0);
        near(a.percentile(100.0), 100.0);
        near(a.percentile(0.0), 1.0);
        near(a.mean(), 50.5);
        assert_eq!(a.max(), Some(Duration::from_millis(100)));
        assert_eq!(Histogram::new().percentile(50.0), None);
        assert_eq!(Histogram::new().mean(), None);
    }
}
