//! The most recent log lines, kept in memory for the management API's log view.
//!
//! (Being filled in: see the management API issue.)

/// A bounded buffer of recent log lines.
#[derive(Debug, Default)]
pub struct LogBuffer {}
