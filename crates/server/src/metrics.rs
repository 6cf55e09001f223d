//! Counters and gauges for `/metrics` (Prometheus text format) and the API totals.
//!
//! (Being filled in: see the management API issue.)

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {}
