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
        }
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
}
