//! The one cutting rule: where a stream's frames are cut into segments.
//!
//! Live (the DVR ring) and on-demand (a file's index) feed their frames, in decode
//! order, to a [`Segmenter`], which says for each frame whether it starts a new
//! segment and why ([`Cut`]):
//! * a video keyframe once the segment reached [`SegmentLimits::target_ms`], so
//!   segments are whole GOPs of about the target length;
//! * any frame of an audio-only stream once the segment reached
//!   [`SegmentLimits::audio_only_ms`];
//! * any frame once the segment holds [`SegmentLimits::max_bytes`];
//! * a video frame (any frame when video stopped) once no keyframe came for
//!   [`SegmentLimits::forced_after_ms`] — keyframe-less publishers, intra-refresh
//!   encoders — and from then on every [`SegmentLimits::forced_every_ms`] until a
//!   keyframe comes back (whatever else cut segments meanwhile, e.g. bytes);
//! * the next keyframe after the timestamps jumped by more than
//!   [`SegmentLimits::jump_ms`] (forward or back), whatever the segment's length.
//!
//! Segment lengths are measured on a clock that only moves forward and ignores
//! jumps, so a jump neither makes a segment look hours long nor stops cutting.
//! Sans-IO: the caller's timestamps are the only clock. [`jumps::Rebaser`] keeps a
//! live timeline continuous across such jumps.

pub mod jumps;

/// Segments are whole GOPs of at least this length (ms).
pub const TARGET_SEGMENT_MS: i64 = 1900;
/// Audio-only streams are cut at this length (ms).
pub const AUDIO_ONLY_SEGMENT_MS: i64 = 2000;
/// Without a keyframe for this long (ms), a segment is cut at any video frame.
/// Longer than the longest common GOP (x264's default 250 frames is 10.4 s at
/// 24 fps), short enough to bound what a keyframe-less stream makes Brume hold.
pub const FORCED_CUT_AFTER_MS: i64 = 12_000;
/// While keyframes stay away, forced cuts come this often (ms).
pub const FORCED_CUT_EVERY_MS: i64 = 2000;
/// A segment is closed at this many payload bytes even inside a GOP.
pub const MAX_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Timestamps that move by more than this (ms) between frames are a jump.
pub const TIMESTAMP_JUMP_MS: i64 = 10_000;

/// The named limits of the cutting rule (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLimits {
    pub target_ms: i64,
    pub audio_only_ms: i64,
    pub forced_after_ms: i64,
    pub forced_every_ms: i64,
    pub max_bytes: u64,
    pub jump_ms: i64,
}

impl Default for SegmentLimits {
    fn default() -> Self {
        SegmentLimits {
            target_ms: TARGET_SEGMENT_MS,
            audio_only_ms: AUDIO_ONLY_SEGMENT_MS,
            forced_after_ms: FORCED_CUT_AFTER_MS,
            forced_every_ms: FORCED_CUT_EVERY_MS,
            max_bytes: MAX_SEGMENT_BYTES,
            jump_ms: TIMESTAMP_JUMP_MS,
        }
    }
}

/// Why a frame starts a new segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cut {
    /// The stream's first segment.
    First,
    /// A video keyframe after the target length.
    Keyframe,
    /// An audio-only stream reached its segment length.
    AudioOnly,
    /// The segment reached the byte limit.
    Bytes,
    /// No keyframe for too long.
    Forced,
    /// The first keyframe after a timestamp jump.
    Discontinuity,
}

/// What the segmenter needs to know of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// Decode time in milliseconds.
    pub ms: i64,
    pub is_video: bool,
    pub keyframe: bool,
    /// Payload bytes.
    pub bytes: u64,
}

/// Decides segment starts for one stream (see the module docs).
#[derive(Debug, Clone)]
pub struct Segmenter {
    limits: SegmentLimits,
    has_video: bool,
    /// Decode time of the current segment's first frame, once one started.
    start_ms: Option<i64>,
    /// The forward-only clock: newest decode time seen, and ms it advanced in the
    /// current segment, since the last keyframe and since the last video frame.
    newest_ms: Option<i64>,
    segment_elapsed: i64,
    since_keyframe: i64,
    since_video: i64,
    /// Timestamps jumped in the current segment (raw lengths mean nothing then).
    jumped_in_segment: bool,
    /// A jump happened: the next eligible frame cuts.
    pending_discontinuity: bool,
    /// Payload bytes of the current segment so far.
    bytes: u64,
    jumps: u64,
}

impl Segmenter {
    pub fn new(limits: SegmentLimits, has_video: bool) -> Segmenter {
        Segmenter {
            limits,
            has_video,
            start_ms: None,
            newest_ms: None,
            segment_elapsed: 0,
            since_keyframe: 0,
            since_video: 0,
            jumped_in_segment: false,
            pending_discontinuity: false,
            bytes: 0,
            jumps: 0,
        }
    }

    /// The first segment is already open, starting at `ms` (a file is played
    /// from its start, keyframe or not).
    pub fn opened_at(mut self, ms: i64) -> Segmenter {
        self.start_ms = Some(ms);
        self
    }

    pub fn limits(&self) -> &SegmentLimits {
        &self.limits
    }

    /// Whether keyframes stayed away long enough that cuts are forced.
    pub fn is_keyframeless(&self) -> bool {
        self.has_video && self.since_keyframe >= self.limits.forced_after_ms
    }

    /// How many timestamp jumps were seen.
    pub fn jumps(&self) -> u64 {
        self.jumps
    }

    /// Ms on the forward-only clock since the last video keyframe.
    pub fn ms_since_keyframe(&self) -> i64 {
        self.since_keyframe
    }

    /// The caller saw a discontinuity (e.g. it rebased a jump away): the next
    /// eligible frame starts a segment.
    pub fn discontinuity(&mut self) {
        self.pending_discontinuity = true;
        self.jumps += 1;
    }

    /// Feeds one frame (decode order); says whether it starts a segment and why.
    pub fn push(&mut self, frame: FrameInfo) -> Option<Cut> {
        self.advance_clock(frame.ms);
        if frame.is_video {
            self.since_video = 0;
        }
        let is_keyframe = frame.is_video && frame.keyframe;
        if is_keyframe {
            self.since_keyframe = 0;
        }
        let eligible = if self.has_video { is_keyframe } else { true };
        let cut = self.decide(frame, eligible);
        if cut.is_some() {
            self.start_ms = Some(frame.ms);
            self.segment_elapsed = 0;
            self.bytes = 0;
            self.jumped_in_segment = false;
            self.pending_discontinuity = false;
        }
        self.bytes = self.bytes.saturating_add(frame.bytes);
        cut
    }

    fn advance_clock(&mut self, ms: i64) {
        let Some(newest) = self.newest_ms else {
            self.newest_ms = Some(ms);
            return;
        };
        let delta = ms.saturating_sub(newest);
        if delta > self.limits.jump_ms || delta < -self.limits.jump_ms {
            self.newest_ms = Some(ms);
            self.jumped_in_segment = true;
            self.discontinuity();
        } else if delta > 0 {
            self.newest_ms = Some(ms);
            self.segment_elapsed += delta;
            self.since_keyframe = self.since_keyframe.saturating_add(delta);
            self.since_video = self.since_video.saturating_add(delta);
        }
    }

    fn decide(&self, frame: FrameInfo, eligible: bool) -> Option<Cut> {
        // A frame may be cut at by force if it is video, or video has stopped.
        let forceable =
            frame.is_video || !self.has_video || self.since_video >= self.limits.target_ms;
        let Some(start_ms) = self.start_ms else {
            if eligible {
                return Some(Cut::First);
            }
            let overdue = self.since_keyframe >= self.limits.forced_after_ms
                || self.bytes >= self.limits.max_bytes;
            return (overdue && forceable).then_some(Cut::Forced);
        };
        let length = if self.jumped_in_segment {
            self.segment_elapsed
        } else {
            frame.ms.saturating_sub(start_ms)
        };
        if eligible && self.pending_discontinuity {
            return Some(Cut::Discontinuity);
        }
        if eligible {
            if self.has_video && length >= self.limits.target_ms {
                return Some(Cut::Keyframe);
            }
            if !self.has_video && length >= self.limits.audio_only_ms {
                return Some(Cut::AudioOnly);
            }
        }
        if self.bytes >= self.limits.max_bytes {
            return Some(Cut::Bytes);
        }
        // Keyframes stayed away too long (whatever cut the segments meanwhile).
        if forceable
            && self.is_keyframeless()
            && (length >= self.limits.forced_every_ms
                || self.segment_elapsed >= self.limits.forced_every_ms)
        {
            return Some(Cut::Forced);
        }
        None
    }
}

#[cfg(test)]
mod tests;
