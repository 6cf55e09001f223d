//! Mapping a file's sample timestamps onto an output timeline.
//!
//! A demuxed file may start at a negative decode time (edit lists shift B-frame
//! streams so that the first picture is *presented* at zero). Outputs need
//! non-negative timestamps, and a looped file needs every pass to continue where the
//! previous one ended. [`FileTimeline`] computes both, in nanoseconds, and converts to
//! each track's own timescale with one consistent rounding so timestamps never go
//! backwards.

use brume_media::index::{tracks_of, MediaFile};
use brume_media::scale_ticks;

const NANOS: u32 = 1_000_000_000;

/// Where a file's tracks start and how long one pass through the file lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTimeline {
    /// The earliest decode time of any track, in ns (may be negative).
    pub start_ns: i64,
    /// The span from `start_ns` to the end of the longest track, in ns (> 0).
    pub period_ns: i64,
}

impl FileTimeline {
    pub fn of(file: &dyn MediaFile) -> FileTimeline {
        let mut start_ns = i64::MAX;
        let mut end_ns = i64::MIN;
        for (track, samples) in tracks_of(file) {
            let ts = track.timescale;
            if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
                start_ns = start_ns.min(scale_ticks(first.dts, ts, NANOS));
                end_ns = end_ns.max(scale_ticks(
                    last.dts.saturating_add(last.duration as i64),
                    ts,
                    NANOS,
                ));
            }
        }
        if start_ns > end_ns {
            return FileTimeline {
                start_ns: 0,
                period_ns: 1,
            };
        }
        FileTimeline {
            start_ns,
            period_ns: (end_ns - start_ns).max(1),
        }
    }

    /// The amount (in `timescale` ticks) to add to a sample of pass number `pass`
    /// so that the first pass starts at zero and each pass follows the last.
    pub fn offset_ticks(&self, timescale: u32, pass: u64) -> i64 {
        let pass_ns = (pass as i128 * self.period_ns as i128).min(i64::MAX as i128) as i64;
        scale_ticks(pass_ns.saturating_sub(self.start_ns), NANOS, timescale)
    }

    /// Nanoseconds from the start of the output timeline to `dts` of pass `pass`.
    pub fn output_ns(&self, dts: i64, timescale: u32, pass: u64) -> i64 {
        let pass_ns = (pass as i128 * self.period_ns as i128).min(i64::MAX as i128) as i64;
        scale_ticks(dts, timescale, NANOS)
            .saturating_sub(self.start_ns)
            .saturating_add(pass_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_start_at_zero_and_grow_by_one_period() {
        let t = FileTimeline {
            start_ns: -66_666_667,
            period_ns: 10_026_666_667,
        };
        assert_eq!(t.offset_ticks(90_000, 0), 6000);
        let one = t.offset_ticks(48_000, 1) - t.offset_ticks(48_000, 0);
        assert!((481_279..=481_281).contains(&one), "{one}");
        assert_eq!(t.output_ns(-6000, 90_000, 0), 0);
    }
}
