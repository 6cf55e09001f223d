//! Counters and gauges for `/metrics` (Prometheus text format) and the API totals.
//!
//! (Being filled in: see the management API issue.)

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {}

/// What the API shows per stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub viewers: u64,
    pub bitrate_out_bps: u64,
    /// `None` when nothing is pushed to the stream.
    pub bitrate_in_bps: Option<u64>,
}

impl Metrics {
    /// Viewers and bitrates of one stream.
    pub fn stream_stats(&self, _stream: &str) -> StreamStats {
        StreamStats::default()
    }
}
