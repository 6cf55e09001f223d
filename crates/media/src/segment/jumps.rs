//! Keeps a live timeline continuous when a publisher's timestamps jump.
//!
//! An encoder restart, a wrapped clock or a hostile publisher can move timestamps
//! by hours, forward or back. Viewers and playlists would stall (backward: every
//! frame looks old; forward: a segment hours long). [`Rebaser`] compares each
//! frame with the newest output time of the whole stream: a frame further than
//! the jump threshold away from it gets its track shifted so that it follows the
//! stream's newest frame by one frame interval. Tracks are shifted one by one as
//! each one jumps, so frames of a track that has not jumped yet stay in place.

/// Gap put after the newest frame when a track is rebased and its own frame
/// interval is unknown (ms).
const DEFAULT_GAP_MS: i64 = 20;
/// Longest frame interval kept as the gap after a rebase (ms).
const MAX_GAP_MS: i64 = 1000;

/// Per-track shifts that keep the output timeline continuous (see module docs).
#[derive(Debug, Clone)]
pub struct Rebaser {
    jump_ms: i64,
    /// Newest output time (ms) over every track.
    newest_ms: Option<i64>,
    tracks: Vec<TrackShift>,
}

#[derive(Debug, Clone, Copy, Default)]
struct TrackShift {
    /// Added to the track's input time (ms).
    offset_ms: i64,
    /// The track's previous output time and interval (ms).
    last_ms: Option<i64>,
    gap_ms: Option<i64>,
}

/// Where one frame goes on the output timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebased {
    /// Output decode time (ms).
    pub ms: i64,
    /// The track's shift (ms) to add to its input timestamps.
    pub offset_ms: i64,
    /// This frame jumped: its track was shifted now.
    pub jumped: bool,
}

impl Rebaser {
    /// `jump_ms`: the largest move between frames that is not a jump.
    pub fn new(tracks: usize, jump_ms: i64) -> Rebaser {
        Rebaser {
            jump_ms,
            newest_ms: None,
            tracks: vec![TrackShift::default(); tracks],
        }
    }

    /// Maps a frame of track `position` at input time `ms`.
    pub fn map(&mut self, position: usize, ms: i64) -> Rebased {
        if position >= self.tracks.len() {
            self.tracks.resize(position + 1, TrackShift::default());
        }
        let track = &mut self.tracks[position];
        let mut out = ms.saturating_add(track.offset_ms);
        let mut jumped = false;
        if let Some(newest) = self.newest_ms {
            let delta = out.saturating_sub(newest);
            if delta > self.jump_ms || delta < -self.jump_ms {
                let gap = track.gap_ms.unwrap_or(DEFAULT_GAP_MS).clamp(1, MAX_GAP_MS);
                let target = newest.saturating_add(gap);
                track.offset_ms = target.saturating_sub(ms);
                out = target;
                jumped = true;
            }
        }
        if let Some(last) = track.last_ms {
            if out > last && !jumped {
                track.gap_ms = Some(out - last);
            }
        }
        track.last_ms = Some(out);
        self.newest_ms = Some(self.newest_ms.map_or(out, |n| n.max(out)));
        Rebased {
            ms: out,
            offset_ms: track.offset_ms,
            jumped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_timestamps_pass_unchanged() {
        let mut r = Rebaser::new(2, 10_000);
        for i in 0..100 {
            assert_eq!(r.map(0, i * 40).ms, i * 40);
            assert_eq!(r.map(1, i * 40 + 3).ms, i * 40 + 3);
        }
    }

    #[test]
    fn a_forward_jump_of_hours_continues_after_the_newest_frame() {
        let mut r = Rebaser::new(2, 10_000);
        for i in 0..50 {
            r.map(0, i * 40);
            r.map(1, i * 40 + 5);
        }
        // Video jumps by 3 h; audio frames still on the old clock stay in place.
        let hours = 3 * 3600 * 1000;
        let v = r.map(0, 50 * 40 + hours);
        assert!(v.jumped);
        assert_eq!(v.ms, 49 * 40 + 5 + 40);
        assert_eq!(r.map(1, 50 * 40 + 5).ms, 50 * 40 + 5);
        // Then audio jumps too, and both continue together.
        let a = r.map(1, 51 * 40 + 5 + hours);
        assert!(a.jumped);
        assert!(a.ms > 50 * 40 + 5 && a.ms < 50 * 40 + 200, "{a:?}");
        let v2 = r.map(0, 51 * 40 + hours);
        assert!(!v2.jumped);
        assert_eq!(v2.ms, v.ms + 40);
    }

    #[test]
    fn a_backward_jump_keeps_time_moving_forward() {
        let mut r = Rebaser::new(1, 10_000);
        for i in 0..1000 {
            r.map(0, 5_000_000 + i * 40);
        }
        let back = r.map(0, 0);
        assert!(back.jumped);
        assert_eq!(back.ms, 5_000_000 + 999 * 40 + 40);
        assert_eq!(r.map(0, 40).ms, back.ms + 40);
    }

    #[test]
    fn small_reorderings_are_not_jumps() {
        let mut r = Rebaser::new(1, 10_000);
        r.map(0, 20_000);
        let m = r.map(0, 19_000);
        assert!(!m.jumped);
        assert_eq!(m.ms, 19_000);
    }
}
