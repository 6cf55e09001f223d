//! Low-Latency HLS parts of a live stream: what the playlists list, the frames
//! of one part, and waiting until a part or segment exists.
//!
//! The ring decides where parts start ([`super::ring`]); this module reads them
//! under the stream's lock. Waiting costs no polling: a waiter holds a receiver
//! of the stream's change counter and re-checks only when a part or segment
//! completes (or the stream closes), up to its deadline.

use std::time::Duration;

use brume_media::TimedFrame;

use super::ring::PartSpan;
use super::LiveStream;

/// Most parts one playlist lists (whatever the part target and frame rate).
pub const MAX_LISTED_PARTS: usize = 1000;

/// A part as one track's playlist lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackPart {
    pub span: PartSpan,
    /// The part holds at least one frame of the track.
    pub has_frames: bool,
}

/// What a playlist request asked to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaited {
    /// Segment `msn` complete.
    Segment(u64),
    /// Part `part` of segment `msn` complete (or anything later).
    Part(u64, u32),
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// The stream closed first.
    Closed,
}

impl LiveStream {
    /// The part target duration, ms.
    pub fn part_target_ms(&self) -> u64 {
        self.lock().ring.part_target_ms()
    }

    /// Counts part and segment completions (and the close); documents listing
    /// parts are cached by it.
    pub fn part_version(&self) -> u64 {
        *self.changes.borrow()
    }

    /// The parts of segments `sequence` and later (the last one in progress),
    /// with whether each holds frames of track `track_id`; at most
    /// [`MAX_LISTED_PARTS`], the newest kept.
    pub fn track_parts(&self, sequence: u64, track_id: u32) -> Vec<TrackPart> {
        let inner = self.lock();
        let mut parts = inner.ring.parts_since(sequence);
        let over = parts.len().saturating_sub(MAX_LISTED_PARTS);
        parts.drain(..over);
        parts
            .into_iter()
            .map(|span| TrackPart {
                span,
                has_frames: inner.ring.has_track_frames(
                    span.first,
                    span.end.unwrap_or(span.first),
                    track_id,
                ),
            })
            .collect()
    }

    /// The part being made now, as (sequence, part).
    pub fn part_in_progress(&self) -> Option<(u64, u32)> {
        self.lock().ring.part_in_progress()
    }

    /// The newest complete part, as (sequence, part).
    pub fn newest_complete_part(&self) -> Option<(u64, u32)> {
        self.lock().ring.newest_complete_part()
    }

    /// Part `part` of segment `sequence` if held (complete or in progress).
    pub fn part(&self, sequence: u64, part: u32) -> Option<PartSpan> {
        self.lock().ring.part(sequence, part)
    }

    /// The frames of a complete part, with durations; `None` while it is in
    /// progress or once it left the window.
    pub fn part_frames(&self, sequence: u64, part: u32) -> Option<Vec<TimedFrame>> {
        let inner = self.lock();
        let span = inner.ring.part(sequence, part)?;
        let frames = inner.ring.frames_with_next(span.first, span.end?);
        drop(inner);
        Some(self.timed(frames))
    }

    /// Whether `what` exists now.
    pub fn has(&self, what: Awaited) -> bool {
        let inner = self.lock();
        match what {
            Awaited::Segment(msn) => inner
                .ring
                .newest_complete_sequence()
                .is_some_and(|newest| newest >= msn),
            Awaited::Part(msn, part) => {
                inner
                    .ring
                    .newest_complete_part()
                    .is_some_and(|newest| newest >= (msn, part))
                    || inner
                        .ring
                        .newest_complete_sequence()
                        .is_some_and(|newest| newest > msn)
            }
        }
    }

    /// Waits until `ready()` holds, the stream closes or `timeout` passes.
    pub async fn wait_until(&self, timeout: Duration, ready: impl Fn() -> bool) -> WaitOutcome {
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if ready() {
                return WaitOutcome::Ready;
            }
            if self.is_closed() {
                return WaitOutcome::Closed;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return WaitOutcome::Closed,
                Err(_) => return WaitOutcome::TimedOut,
            }
        }
    }
}
