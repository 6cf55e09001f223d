//! The DVR ring of a live stream: frames in arrival order, cut into segments.
//!
//! Where segments start is decided by brume-media's [`Segmenter`] (the same rule
//! on-demand files use): whole GOPs of about the target length, audio-only
//! streams every ~2 s, forced cuts when keyframes stay away, a cut at the next
//! keyframe after a timestamp jump. Segments carry absolute sequence numbers that
//! never repeat for the life of the stream, so a segment URL always means the
//! same bytes. The ring drops whole segments from the front once the DVR window
//! or the byte cap is exceeded; a segment is complete once the next one started.
//! Because forced cuts bound every segment, the ring holds at most the window
//! (or the byte cap) plus one segment, whatever the publisher sends.
//!
//! Each segment is also cut into parts (Low-Latency HLS partial segments): a part
//! starts at every segment start and at the video frame (any frame without
//! video) that would make the current part outlast the part target (by more
//! than a millisecond of rounding). Parts are
//! spans of the ring like segments, so they cost one entry each; a part is
//! complete once the next one started.

use std::collections::VecDeque;

use brume_media::segment::{Cut, FrameInfo, SegmentLimits, Segmenter};
use brume_media::Frame;

/// One frame in the ring with its decode time in milliseconds.
#[derive(Debug, Clone)]
pub struct RingFrame {
    pub frame: Frame,
    pub ms: i64,
    /// Frames without video in a row, ending with this one (0 for video).
    pub non_video_run: u32,
}

/// A complete segment: its sequence number and place in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentSpan {
    pub sequence: u64,
    /// Decode time (ms) of the segment's first frame and of the next segment's.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Absolute frame indices `[first, end)`.
    pub first: u64,
    pub end: u64,
}

impl SegmentSpan {
    pub fn duration_secs(&self) -> f64 {
        (self.end_ms - self.start_ms).max(0) as f64 / 1000.0
    }
}

/// A part: its segment, its index in it and its place in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartSpan {
    pub sequence: u64,
    pub part: u32,
    /// Decode time (ms) of its first frame and of the next part's (`None` while
    /// it is in progress).
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// Absolute frame indices `[first, end)`; `end` is `None` while in progress.
    pub first: u64,
    pub end: Option<u64>,
    /// It starts with a video keyframe (always, without video).
    pub independent: bool,
}

impl PartSpan {
    pub fn is_complete(&self) -> bool {
        self.end.is_some()
    }
}

/// Where a part starts.
#[derive(Debug, Clone, Copy)]
struct PartStart {
    index: u64,
    sequence: u64,
    part: u32,
    ms: i64,
    independent: bool,
}

/// A part may outlast the target by this much (millisecond rounding).
const PART_SLACK_MS: i64 = 1;

/// Default part target duration (`part_target_ms`).
pub const DEFAULT_PART_TARGET_MS: u64 = 500;

#[derive(Debug)]
pub struct FrameRing {
    frames: VecDeque<RingFrame>,
    /// (absolute frame index, sequence number) of every segment start still held.
    starts: VecDeque<(u64, u64)>,
    /// Absolute index of `frames[0]`.
    base: u64,
    next_sequence: u64,
    bytes: usize,
    window_ms: i64,
    max_bytes: usize,
    has_video: bool,
    segmenter: Segmenter,
    /// The last eviction was for bytes while the window was not full.
    byte_capped: bool,
    /// Every part start still held, oldest first.
    parts: VecDeque<PartStart>,
    part_target_ms: i64,
    /// Decode time of the last frame that could start a part.
    last_part_frame_ms: Option<i64>,
}

impl FrameRing {
    pub fn new(window_ms: u64, max_bytes: usize, has_video: bool) -> FrameRing {
        FrameRing {
            frames: VecDeque::new(),
            starts: VecDeque::new(),
            base: 0,
            next_sequence: 0,
            bytes: 0,
            window_ms: i64::try_from(window_ms).unwrap_or(i64::MAX),
            max_bytes,
            has_video,
            segmenter: Segmenter::new(SegmentLimits::default(), has_video),
            byte_capped: false,
            parts: VecDeque::new(),
            part_target_ms: DEFAULT_PART_TARGET_MS as i64,
            last_part_frame_ms: None,
        }
    }

    /// Sets the part target duration (ms, at least 1).
    pub fn set_part_target_ms(&mut self, ms: u64) {
        self.part_target_ms = i64::try_from(ms.max(1)).unwrap_or(i64::MAX);
    }

    pub fn part_target_ms(&self) -> u64 {
        self.part_target_ms as u64
    }

    /// The cutting rule's state (keyframe-less, jumps).
    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    /// The caller rebased a timestamp jump: the next keyframe starts a segment.
    pub fn discontinuity(&mut self) {
        self.segmenter.discontinuity();
    }

    /// Whether the byte cap, not the time window, decides what the ring keeps.
    pub fn is_byte_capped(&self) -> bool {
        self.byte_capped
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The byte cap.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Ms between the oldest segment start held and `newest_ms`.
    pub fn held_ms(&self, newest_ms: i64) -> i64 {
        self.starts
            .front()
            .and_then(|&(i, _)| self.get(i))
            .map_or(0, |f| newest_ms.saturating_sub(f.ms).max(0))
    }

    /// Adds a frame; `is_video` says whether it belongs to a video track.
    /// Returns why the frame starts a segment, if it does.
    pub fn push(&mut self, frame: Frame, ms: i64, is_video: bool) -> Option<Cut> {
        let index = self.base + self.frames.len() as u64;
        let cut = self.segmenter.push(FrameInfo {
            ms,
            is_video,
            keyframe: frame.keyframe,
            bytes: frame.data.len() as u64,
        });
        if cut.is_some() {
            self.starts.push_back((index, self.next_sequence));
            self.next_sequence += 1;
        }
        self.cut_part(index, ms, is_video, frame.keyframe, cut.is_some());
        self.bytes += frame.data.len();
        let non_video_run = self.non_video_run_after(is_video);
        self.frames.push_back(RingFrame {
            frame,
            ms,
            non_video_run,
        });
        self.evict(ms);
        cut
    }

    /// Starts a part at the frame at `index` when it starts a segment, or when
    /// it would make the current part outlast the target (judging its duration
    /// by the gap since the previous frame that could start a part).
    fn cut_part(&mut self, index: u64, ms: i64, is_video: bool, keyframe: bool, segment: bool) {
        let candidate = !self.has_video || is_video;
        let independent = !self.has_video || (is_video && keyframe);
        let interval = self
            .last_part_frame_ms
            .map_or(0, |last| ms.saturating_sub(last).max(0));
        if candidate {
            self.last_part_frame_ms = Some(ms);
        }
        let Some(&(_, sequence)) = self.starts.back() else {
            return;
        };
        let start = if segment {
            Some(0)
        } else {
            self.parts.back().and_then(|last| {
                // One ms of slack: timestamps in ms round 33.3 ms frames to 33 or 34.
                let outlasts = ms.saturating_add(interval).saturating_sub(last.ms)
                    > self.part_target_ms + PART_SLACK_MS;
                (candidate && outlasts && ms > last.ms && last.sequence == sequence)
                    .then(|| last.part.saturating_add(1))
            })
        };
        if let Some(part) = start {
            self.parts.push_back(PartStart {
                index,
                sequence,
                part,
                ms,
                independent,
            });
        }
    }

    fn get(&self, index: u64) -> Option<&RingFrame> {
        index
            .checked_sub(self.base)
            .and_then(|i| self.frames.get(i as usize))
    }

    fn evict(&mut self, newest_ms: i64) {
        while self.starts.len() >= 2 {
            let second = self.starts[1].0;
            let second_ms = self.get(second).map(|f| f.ms).unwrap_or(newest_ms);
            let over_time = newest_ms.saturating_sub(second_ms) >= self.window_ms;
            let over_bytes = self.bytes > self.max_bytes;
            if !(over_time || over_bytes) {
                break;
            }
            self.byte_capped = !over_time;
            self.drop_front_until(second);
            self.starts.pop_front();
        }
        // Frames before the first segment start can never be played.
        if let Some(&(first, _)) = self.starts.front() {
            self.drop_front_until(first);
        }
    }

    fn drop_front_until(&mut self, index: u64) {
        while self.base < index {
            if let Some(old) = self.frames.pop_front() {
                self.bytes -= old.frame.data.len();
            }
            self.base += 1;
        }
        while self.parts.front().is_some_and(|p| p.index < self.base) {
            self.parts.pop_front();
        }
    }

    fn part_span(&self, at: usize) -> Option<PartSpan> {
        let start = self.parts.get(at)?;
        let next = self.parts.get(at + 1);
        Some(PartSpan {
            sequence: start.sequence,
            part: start.part,
            start_ms: start.ms,
            end_ms: next.map(|n| n.ms),
            first: start.index,
            end: next.map(|n| n.index),
            independent: start.independent,
        })
    }

    /// Every part (complete or the one in progress) of segments `sequence` and
    /// later, oldest first.
    pub fn parts_since(&self, sequence: u64) -> Vec<PartSpan> {
        let from = self.parts.partition_point(|p| p.sequence < sequence);
        (from..self.parts.len())
            .filter_map(|i| self.part_span(i))
            .collect()
    }

    /// Part `part` of segment `sequence`, complete or in progress, if held.
    pub fn part(&self, sequence: u64, part: u32) -> Option<PartSpan> {
        let at = self
            .parts
            .binary_search_by(|p| (p.sequence, p.part).cmp(&(sequence, part)))
            .ok()?;
        self.part_span(at)
    }

    /// Whether a frame of `track` is among the frames `[first, end)`.
    pub fn has_track_frames(&self, first: u64, end: u64, track: u32) -> bool {
        (first.max(self.base)..end).any(|i| self.get(i).is_some_and(|f| f.frame.track == track))
    }

    /// The part in progress (the newest), as (sequence, part).
    pub fn part_in_progress(&self) -> Option<(u64, u32)> {
        self.parts.back().map(|p| (p.sequence, p.part))
    }

    /// The newest complete part, as (sequence, part).
    pub fn newest_complete_part(&self) -> Option<(u64, u32)> {
        let n = self.parts.len();
        (n >= 2).then(|| (self.parts[n - 2].sequence, self.parts[n - 2].part))
    }

    /// Every complete segment still in the ring, oldest first.
    pub fn segments(&self) -> Vec<SegmentSpan> {
        self.starts
            .iter()
            .zip(self.starts.iter().skip(1))
            .filter_map(|(&(first, sequence), &(end, _))| {
                Some(SegmentSpan {
                    sequence,
                    start_ms: self.get(first)?.ms,
                    end_ms: self.get(end)?.ms,
                    first,
                    end,
                })
            })
            .collect()
    }

    /// The complete segment with this sequence number, if still held.
    pub fn segment(&self, sequence: u64) -> Option<SegmentSpan> {
        let pos = self.starts.iter().position(|&(_, s)| s == sequence)?;
        let (first, _) = self.starts[pos];
        let (end, _) = *self.starts.get(pos + 1)?;
        Some(SegmentSpan {
            sequence,
            start_ms: self.get(first)?.ms,
            end_ms: self.get(end)?.ms,
            first,
            end,
        })
    }

    /// Frames `[first, end)` plus, per frame, the decode time of the next frame of
    /// the same track (looking past `end` when needed), for durations.
    pub fn frames_with_next(&self, first: u64, end: u64) -> Vec<(Frame, Option<i64>)> {
        let mut out: Vec<(Frame, Option<i64>)> =
            Vec::with_capacity((end.saturating_sub(first)) as usize);
        // (track, position in `out`) of each track's latest frame awaiting its successor.
        let mut waiting: Vec<(u32, usize)> = Vec::new();
        let limit = self.base + self.frames.len() as u64;
        let mut cursor = first;
        while cursor < limit && (cursor < end || !waiting.is_empty()) {
            if let Some(f) = self.get(cursor) {
                let track = f.frame.track;
                if let Some(w) = waiting.iter().position(|&(t, _)| t == track) {
                    let (_, at) = waiting.swap_remove(w);
                    out[at].1 = Some(f.frame.dts);
                }
                if cursor < end {
                    waiting.push((track, out.len()));
                    out.push((f.frame.clone(), None));
                }
            }
            cursor += 1;
        }
        out
    }

    /// Sequence number of the newest complete segment.
    pub fn newest_complete_sequence(&self) -> Option<u64> {
        let n = self.starts.len();
        (n >= 2).then(|| self.starts[n - 2].1)
    }

    /// Sequence number of the newest segment, complete or not.
    pub fn newest_sequence(&self) -> Option<u64> {
        self.starts.back().map(|&(_, s)| s)
    }

    /// Sequence number of the oldest segment still held.
    pub fn oldest_sequence(&self) -> Option<u64> {
        self.starts.front().map(|&(_, s)| s)
    }

    /// Frames from the latest segment start (complete or not) to the newest.
    pub fn latest_segment_start(&self) -> Option<u64> {
        self.starts.back().map(|&(i, _)| i)
    }

    /// [`RingFrame::non_video_run`] of a frame pushed next.
    pub fn non_video_run_after(&self, is_video: bool) -> u32 {
        if is_video {
            0
        } else {
            self.frames
                .back()
                .map_or(1, |f| f.non_video_run.saturating_add(1))
        }
    }

    /// Whether a segment starts at an absolute index in `[from, to)`.
    pub fn has_segment_start_in(&self, from: u64, to: u64) -> bool {
        self.starts
            .iter()
            .rev()
            .take_while(|&&(i, _)| i >= from)
            .any(|&(i, _)| i < to)
    }

    /// The absolute index the next pushed frame gets.
    pub fn next_index(&self) -> u64 {
        self.base + self.frames.len() as u64
    }

    /// Absolute index of the oldest frame held.
    pub fn first_index(&self) -> u64 {
        self.base
    }

    /// The frame at absolute index `index`, if still held.
    pub fn frame(&self, index: u64) -> Option<&RingFrame> {
        self.get(index)
    }

    /// Where a viewer starting at `ms` begins: the last video keyframe at or
    /// before it (the last frame at or before it without video), else the oldest
    /// segment start. `None` for an empty ring.
    pub fn start_at_or_before(&self, ms: i64, is_video: impl Fn(u32) -> bool) -> Option<u64> {
        let oldest = self.starts.front().map(|&(i, _)| i)?;
        let found = self.frames.iter().enumerate().rev().find(|(_, f)| {
            f.ms <= ms && (!self.has_video || (f.frame.keyframe && is_video(f.frame.track)))
        });
        Some(
            found
                .map_or(oldest, |(i, _)| self.base + i as u64)
                .max(oldest),
        )
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// First and last decode time (ms) of `track` in the ring, and its frame count.
    pub fn track_span(&self, track: u32) -> Option<(i64, i64, usize)> {
        let mut first = None;
        let mut last = 0;
        let mut count = 0;
        for f in self.frames.iter().filter(|f| f.frame.track == track) {
            first.get_or_insert(f.ms);
            last = f.ms;
            count += 1;
        }
        first.map(|first| (first, last, count))
    }

    /// Payload bytes per second of `track` over the ring.
    pub fn track_bps(&self, track: u32) -> u64 {
        let bytes: u64 = self
            .frames
            .iter()
            .filter(|f| f.frame.track == track)
            .map(|f| f.frame.data.len() as u64)
            .sum();
        match self.track_span(track) {
            Some((first, last, _)) if last > first => bytes * 1000 / (last - first) as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn frame(track: u32, dts: i64, keyframe: bool) -> Frame {
        Frame {
            track,
            dts,
            pts_offset: 0,
            keyframe,
            data: Bytes::from_static(&[0; 10]),
        }
    }

    /// 25 fps video with a keyframe every `gop` frames, for `count` frames.
    fn fill(ring: &mut FrameRing, count: i64, gop: i64) {
        for i in 0..count {
            ring.push(frame(1, i * 40, i % gop == 0), i * 40, true);
        }
    }

    #[test]
    fn segments_are_whole_gops_of_at_least_the_minimum_length() {
        let mut ring = FrameRing::new(60_000, usize::MAX, true);
        fill(&mut ring, 500, 25); // 1 s GOPs → 2 s segments
        let segments = ring.segments();
        assert!(!segments.is_empty());
        for s in &segments {
            assert_eq!(s.end_ms - s.start_ms, 2000, "{s:?}");
        }
        let sequences: Vec<u64> = segments.iter().map(|s| s.sequence).collect();
        assert!(sequences.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn window_drops_old_segments_and_sequence_numbers_keep_growing() {
        let mut ring = FrameRing::new(10_000, usize::MAX, true);
        fill(&mut ring, 1000, 50); // 40 s of 2 s GOPs
        let segments = ring.segments();
        let span = segments.last().unwrap().end_ms - segments[0].start_ms;
        assert!((10_000..=12_000).contains(&span), "{span}");
        assert!(segments[0].sequence > 0);
        assert!(ring.segment(0).is_none(), "an evicted segment is gone");
        let last = segments.last().unwrap();
        assert_eq!(ring.segment(last.sequence), Some(*last));
    }

    #[test]
    fn durations_come_from_the_next_frame_of_the_same_track() {
        let mut ring = FrameRing::new(60_000, usize::MAX, true);
        for i in 0..150i64 {
            ring.push(frame(1, i * 40, i % 50 == 0), i * 40, true);
            ring.push(frame(2, i * 40 + 5, true), i * 40 + 5, false);
        }
        let s = ring.segments()[0];
        let frames = ring.frames_with_next(s.first, s.end);
        assert!(frames
            .iter()
            .all(|(f, next)| next.is_some_and(|n| n - f.dts == 40)));
    }

    #[test]
    fn a_keyframe_less_stream_stays_within_the_window() {
        let mut ring = FrameRing::new(10_000, usize::MAX, true);
        // One keyframe, then 10 minutes of inter frames.
        for i in 0..15_000i64 {
            ring.push(frame(1, i * 40, i == 0), i * 40, true);
        }
        let held = ring.held_ms(15_000 * 40);
        assert!(held <= 10_000 + 2 * 2000, "{held} ms held");
        assert!(ring.len() <= 350, "{} frames held", ring.len());
        assert!(ring.segmenter().is_keyframeless());
    }

    #[test]
    fn the_byte_cap_holds_for_giant_frames() {
        let mut ring = FrameRing::new(60_000, 40 * 1024 * 1024, true);
        for i in 0..400i64 {
            let mut f = frame(1, i * 40, i % 25 == 0);
            f.data = Bytes::from(vec![0; 1024 * 1024]);
            ring.push(f, i * 40, true);
        }
        // The cap plus at most one (16 MiB) segment in progress.
        assert!(ring.bytes() <= 56 * 1024 * 1024, "{}", ring.bytes());
        assert!(ring.is_byte_capped());
        assert!(!ring.segments().is_empty());
    }

    #[test]
    fn audio_only_and_video_that_never_comes_stay_bounded() {
        let mut ring = FrameRing::new(5_000, usize::MAX, true);
        for i in 0..20_000i64 {
            ring.push(frame(2, i * 21, true), i * 21, false);
        }
        assert!(ring.held_ms(20_000 * 21) <= 5_000 + 2 * 2000);
        assert!(!ring.segments().is_empty());
    }

    #[test]
    fn parts_cut_segments_at_the_part_target() {
        let mut ring = FrameRing::new(60_000, usize::MAX, true);
        ring.set_part_target_ms(500);
        // 25 fps, a keyframe every 2 s, audio between video frames.
        for i in 0..300i64 {
            ring.push(frame(1, i * 40, i % 50 == 0), i * 40, true);
            ring.push(frame(2, i * 40 + 5, true), i * 40 + 5, false);
        }
        let segment = ring.segments()[1];
        let parts = ring.parts_since(segment.sequence);
        let of_segment: Vec<&PartSpan> = parts
            .iter()
            .filter(|p| p.sequence == segment.sequence)
            .collect();
        // 12 frames (480 ms) fit the target, 2 s make four of them and 80 ms.
        assert_eq!(of_segment.len(), 5, "{of_segment:?}");
        assert_eq!(of_segment[0].first, segment.first);
        assert!(of_segment[0].independent);
        assert!(of_segment[1..].iter().all(|p| !p.independent));
        for p in &of_segment[..4] {
            assert_eq!(p.end_ms.unwrap() - p.start_ms, 480, "{p:?}");
        }
        assert_eq!(of_segment[4].end, Some(segment.end));
        // The newest part is in progress, the one before it complete.
        let (sequence, part) = ring.part_in_progress().unwrap();
        assert!(!ring.part(sequence, part).unwrap().is_complete());
        assert_eq!(
            ring.newest_complete_part(),
            Some(parts[parts.len() - 2]).map(|p| (p.sequence, p.part))
        );
    }

    #[test]
    fn parts_leave_with_their_segments() {
        let mut ring = FrameRing::new(10_000, usize::MAX, true);
        fill(&mut ring, 1000, 50);
        let oldest = ring.segments()[0];
        let parts = ring.parts_since(0);
        assert_eq!(parts[0].sequence, oldest.sequence);
        assert_eq!(parts[0].part, 0);
        assert!(parts.len() <= 7 * 5, "{}", parts.len());
    }
}
