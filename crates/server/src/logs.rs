//! The most recent log lines, kept in memory for the management API's log view.
//!
//! A bounded ring ([`CAPACITY`] lines); every line gets a sequence number, so a
//! client asks for what came after the last line it saw (`/api/v1/logs?since=`).
//! Lines are copied in by the tracing layer in [`crate::logging`], which has
//! already truncated and redacted them. [`crate::logging::init`] creates the
//! buffer and returns it; `main` hands it to the supervisor, which serves it.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Lines kept.
pub const CAPACITY: usize = 2000;
/// Lines returned when the client gives no `since`.
pub const DEFAULT_TAIL: usize = 200;

/// One log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub seq: u64,
    pub time_ms: u64,
    pub level: &'static str,
    pub target: String,
    pub message: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// A bounded buffer of recent log lines.
#[derive(Debug)]
pub struct LogBuffer {
    ring: Mutex<Ring>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Ring {
    lines: VecDeque<LogLine>,
    /// The sequence number of the last line pushed (0: none yet).
    last_seq: u64,
}

impl Default for LogBuffer {
    fn default() -> LogBuffer {
        LogBuffer::with_capacity(CAPACITY)
    }
}

impl LogBuffer {
    pub fn with_capacity(capacity: usize) -> LogBuffer {
        LogBuffer {
            ring: Mutex::new(Ring::default()),
            capacity: capacity.max(1),
        }
    }

    /// Adds a line; its `seq` is assigned here. The oldest line goes when full.
    pub fn push(&self, mut line: LogLine) {
        let mut ring = self.lock();
        ring.last_seq += 1;
        line.seq = ring.last_seq;
        if ring.lines.len() >= self.capacity {
            ring.lines.pop_front();
        }
        ring.lines.push_back(line);
    }

    /// Lines with a sequence number above `since` (without one: the last
    /// [`DEFAULT_TAIL`]), and the `since` to ask with next time.
    pub fn since(&self, since: Option<u64>) -> (Vec<LogLine>, u64) {
        let ring = self.lock();
        let lines: Vec<LogLine> = match since {
            Some(since) => ring
                .lines
                .iter()
                .filter(|l| l.seq > since)
                .cloned()
                .collect(),
            None => ring
                .lines
                .iter()
                .skip(ring.lines.len().saturating_sub(DEFAULT_TAIL))
                .cloned()
                .collect(),
        };
        // A `since` from before a restart (beyond the last line) starts over.
        let next = lines
            .last()
            .map_or_else(|| since.unwrap_or(0).min(ring.last_seq), |line| line.seq);
        (lines, next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogLine {
        LogLine {
            seq: 0,
            time_ms: 1,
            level: "INFO",
            target: "brume".into(),
            message: message.into(),
            fields: Default::default(),
        }
    }

    #[test]
    fn keeps_the_newest_lines_and_answers_since() {
        let buffer = LogBuffer::with_capacity(3);
        for i in 0..5 {
            buffer.push(line(&format!("line {i}")));
        }
        let (all, next) = buffer.since(None);
        let messages: Vec<_> = all.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["line 2", "line 3", "line 4"]);
        assert_eq!(next, 5);
        let (after, next) = buffer.since(Some(4));
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].seq, 5);
        assert_eq!(next, 5);
        let (none, next) = buffer.since(Some(5));
        assert!(none.is_empty());
        assert_eq!(next, 5);
        // From a previous run of the server: start over from what exists.
        assert_eq!(buffer.since(Some(99)).1, 5);
    }
}
