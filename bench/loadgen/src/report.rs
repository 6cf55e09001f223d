//! Sums up a fan-out run: which viewers kept up, lag percentiles, throughput and the
//! load generator's own CPU use, as a human summary or one JSON line.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use crate::viewer::ViewerReport;

/// When a viewer counts as watching at real time.
#[derive(Debug, Clone, Copy)]
pub struct Criteria {
    /// Largest lag allowed, in seconds.
    pub max_lag_s: f64,
    /// Longest gap between reads allowed, in seconds. A server that sends whole
    /// GOPs as fragments goes quiet for a fragment's duration between them at
    /// real time, so the limit is raised to 1.25 × the longest fragment when that
    /// is longer.
    pub max_gap_s: f64,
}

impl Criteria {
    /// Whether a viewer went longer without data than allowed.
    pub fn stalled(&self, v: &ViewerReport) -> bool {
        v.max_gap_s > self.max_gap_s.max(1.25 * v.max_fragment_s)
    }

    /// Got a 200 (or, over WebSocket, a 101 upgrade), no error, lag within bounds
    /// and no stall.
    pub fn at_realtime(&self, v: &ViewerReport) -> bool {
        is_ok(v)
            && v.error.is_none()
            && v.lag_s.is_some_and(|lag| lag <= self.max_lag_s)
            && !self.stalled(v)
    }
}

/// Whether the server accepted the viewer: HTTP 200, or 101 for a WebSocket.
fn is_ok(v: &ViewerReport) -> bool {
    matches!(v.status, Some(200 | 101))
}

/// The aggregate of one run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The URL fetched.
    pub url: String,
    /// Viewers started.
    pub viewers: usize,
    /// Seconds of the run after the ramp.
    pub seconds: f64,
    /// Ramp length in milliseconds.
    pub ramp_ms: u64,
    /// Viewers that got a 200.
    pub ok: usize,
    /// Viewers at real time.
    pub at_realtime: usize,
    /// Viewers with an error.
    pub errors: usize,
    /// Every viewer's notable gaps (see [`ViewerReport::gaps`]): end time in Unix
    /// seconds and length, sorted by time.
    pub gaps: Vec<(f64, f64)>,
    /// The first error's text (in viewer order).
    pub first_error: Option<String>,
    /// Viewers without error that had a gap longer than allowed.
    pub stalled: usize,
    /// Viewers without error that received no video fragment.
    pub no_media: usize,
    /// Lag percentiles over viewers with fragments: median, p95, max.
    pub lag: Option<[f64; 3]>,
    /// Time to the first video fragment: median and p95 over viewers with one.
    pub first_fragment_s: Option<[f64; 2]>,
    /// Median catch-up burst.
    pub burst_median_s: f64,
    /// Median media seconds received.
    pub media_median_s: f64,
    /// Longest gap between reads of any viewer.
    pub max_gap_s: f64,
    /// Longest video fragment any viewer received, in media seconds.
    pub max_fragment_s: f64,
    /// Video fragments over all viewers.
    pub fragments: u64,
    /// Bytes over all viewers.
    pub total_bytes: u64,
    /// Wall time of the whole run (ramp included).
    pub wall_s: f64,
    /// Load generator CPU time during the run.
    pub cpu: Option<Duration>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    percentile(&values, 50.0)
}

impl Summary {
    /// Aggregates the viewers' reports.
    pub fn new(reports: &[ViewerReport], criteria: Criteria) -> Self {
        let mut s = Summary {
            viewers: reports.len(),
            ..Summary::default()
        };
        let mut lags = Vec::with_capacity(reports.len());
        for v in reports {
            s.ok += usize::from(is_ok(v));
            s.at_realtime += usize::from(criteria.at_realtime(v));
            s.total_bytes += v.bytes;
            s.fragments += v.fragments;
            s.max_gap_s = s.max_gap_s.max(v.max_gap_s);
            s.max_fragment_s = s.max_fragment_s.max(v.max_fragment_s);
            s.gaps.extend_from_slice(&v.gaps);
            if let Some(lag) = v.lag_s {
                lags.push(lag);
            }
            match &v.error {
                Some(e) => {
                    s.errors += 1;
                    s.first_error.get_or_insert_with(|| e.clone());
                }
                None if v.fragments == 0 => s.no_media += 1,
                None if criteria.stalled(v) => s.stalled += 1,
                None => {}
            }
        }
        s.gaps.sort_by(|a, b| a.0.total_cmp(&b.0));
        lags.sort_by(f64::total_cmp);
        if !lags.is_empty() {
            s.lag = Some([
                percentile(&lags, 50.0),
                percentile(&lags, 95.0),
                lags[lags.len() - 1],
            ]);
        }
        let mut firsts: Vec<f64> = reports.iter().filter_map(|v| v.first_fragment_s).collect();
        firsts.sort_by(f64::total_cmp);
        if !firsts.is_empty() {
            s.first_fragment_s = Some([percentile(&firsts, 50.0), percentile(&firsts, 95.0)]);
        }
        let with_media = reports.iter().filter(|v| v.fragments > 0);
        s.burst_median_s = median(with_media.clone().map(|v| v.burst_s).collect());
        s.media_median_s = median(with_media.map(|v| v.media_s).collect());
        s
    }

    /// Received megabits per second over the whole run.
    pub fn mbps(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.total_bytes as f64 * 8.0 / self.wall_s / 1e6
        } else {
            0.0
        }
    }

    /// Load generator CPU use as a percentage of one core.
    pub fn cpu_pct(&self) -> Option<f64> {
        self.cpu
            .filter(|_| self.wall_s > 0.0)
            .map(|c| c.as_secs_f64() / self.wall_s * 100.0)
    }

    /// One JSON object with every figure.
    pub fn to_json(&self) -> Value {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        let lag = |i: usize| self.lag.map(|l| round(l[i]));
        json!({
            "url": self.url,
            "viewers": self.viewers,
            "seconds": self.seconds,
            "ramp_ms": self.ramp_ms,
            "ok": self.ok,
            "at_realtime": self.at_realtime,
            "errors": self.errors,
            "first_error": self.first_error,
            "stalled": self.stalled,
            "no_media": self.no_media,
            "lag_median_s": lag(0),
            "lag_p95_s": lag(1),
            "lag_max_s": lag(2),
            "first_fragment_median_s": self.first_fragment_s.map(|f| (f[0] * 1e6).round() / 1e6),
            "first_fragment_p95_s": self.first_fragment_s.map(|f| (f[1] * 1e6).round() / 1e6),
            "burst_median_s": round(self.burst_median_s),
            "media_median_s": round(self.media_median_s),
            "max_gap_s": round(self.max_gap_s),
            "max_fragment_s": round(self.max_fragment_s),
            "gaps": self.gaps.iter().map(|(at, gap)| json!([round(*at), round(*gap)])).collect::<Vec<_>>(),
            "fragments": self.fragments,
            "total_bytes": self.total_bytes,
            "wall_s": round(self.wall_s),
            "mbps": round(self.mbps()),
            "loadgen_cpu_s": self.cpu.map(|c| round(c.as_secs_f64())),
            "loadgen_cpu_pct": self.cpu_pct().map(|p| (p * 10.0).round() / 10.0),
        })
    }

    /// A few lines for people.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fanout {}: {} viewers, {} s after a {} ms ramp",
            self.url, self.viewers, self.seconds, self.ramp_ms
        );
        let _ = writeln!(
            out,
            "  at real time: {}/{}   (200 OK {}, errors {}, stalled {}, no media {})",
            self.at_realtime, self.viewers, self.ok, self.errors, self.stalled, self.no_media
        );
        match self.lag {
            Some([p50, p95, max]) => {
                let _ = writeln!(
                    out,
                    "  lag: median {p50:.3} s, p95 {p95:.3} s, max {max:.3} s   (catch-up burst median {:.2} s, media median {:.1} s)",
                    self.burst_median_s, self.media_median_s
                );
            }
            None => {
                let _ = writeln!(out, "  lag: no viewer received a video fragment");
            }
        }
        if let Some([p50, p95]) = self.first_fragment_s {
            let _ = writeln!(
                out,
                "  first video fragment after: median {p50:.3} s, p95 {p95:.3} s"
            );
        }
        let _ = writeln!(
            out,
            "  longest gap between reads {:.2} s, longest fragment {:.2} s",
            self.max_gap_s, self.max_fragment_s
        );
        let _ = writeln!(
            out,
            "  received: {:.1} MB, {:.1} Mbit/s, {} video fragments",
            self.total_bytes as f64 / 1e6,
            self.mbps(),
            self.fragments
        );
        if let (Some(cpu), Some(pct)) = (self.cpu, self.cpu_pct()) {
            let _ = writeln!(
                out,
                "  loadgen CPU: {:.2} s ({pct:.1}% of one core)",
                cpu.as_secs_f64()
            );
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(out, "  first error: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(lag: f64, gap: f64, error: Option<&str>) -> ViewerReport {
        ViewerReport {
            status: Some(200),
            bytes: 1000,
            fragments: 10,
            media_s: 10.0,
            wall_s: 10.0,
            lag_s: Some(lag),
            first_fragment_s: Some(0.25),
            max_gap_s: gap,
            error: error.map(str::to_owned),
            ..ViewerReport::default()
        }
    }

    #[test]
    fn gaps_of_all_viewers_are_listed_by_time() {
        let criteria = Criteria {
            max_lag_s: 1.0,
            max_gap_s: 2.0,
        };
        let mut a = viewer(0.0, 10.2, None);
        a.gaps = vec![(200.0, 10.2)];
        let mut b = viewer(0.0, 4.0, None);
        b.gaps = vec![(100.0, 4.0), (300.0, 3.5)];
        let s = Summary::new(&[a, b, viewer(0.0, 0.5, None)], criteria);
        assert_eq!(s.gaps, vec![(100.0, 4.0), (200.0, 10.2), (300.0, 3.5)]);
        assert_eq!(s.to_json()["gaps"][1], serde_json::json!([200.0, 10.2]));
    }

    #[test]
    fn summary_counts() {
        let criteria = Criteria {
            max_lag_s: 1.0,
            max_gap_s: 2.0,
        };
        let mut reports: Vec<_> = (0..18)
            .map(|i| viewer(f64::from(i) * 0.01, 0.5, None))
            .collect();
        reports.push(viewer(1.5, 0.5, None)); // lagging
        reports.push(viewer(0.0, 2.5, None)); // stalled
        let mut gop_fragments = viewer(0.0, 2.4, None); // 2 s fragments: not stalled
        gop_fragments.max_fragment_s = 2.0;
        reports.push(gop_fragments);
        reports.push(viewer(0.0, 0.5, Some("boom")));
        reports.push(ViewerReport {
            status: Some(404),
            error: Some("HTTP status 404".into()),
            ..Default::default()
        });
        let mut s = Summary::new(&reports, criteria);
        s.wall_s = 10.0;
        assert_eq!(
            (s.viewers, s.ok, s.at_realtime, s.errors, s.stalled),
            (23, 22, 19, 2, 1)
        );
        assert_eq!(s.first_error.as_deref(), Some("boom"));
        let [p50, p95, max] = s.lag.unwrap();
        assert!((p50 - 0.07).abs() < 1e-9, "{p50}");
        assert!((p95 - 0.17).abs() < 1e-9, "{p95}");
        assert!((max - 1.5).abs() < 1e-9);
        assert!((s.mbps() - 22_000.0 * 8.0 / 10.0 / 1e6).abs() < 1e-9);
        assert_eq!(s.first_fragment_s, Some([0.25, 0.25]));
        let j = s.to_json();
        assert_eq!(j["at_realtime"], 19);
        assert_eq!(j["lag_max_s"], 1.5);
        assert!(s.human().contains("at real time: 19/23"));
    }
}
