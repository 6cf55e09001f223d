//! A live stream: the frames arriving from an input, muxed once, fanned out to many.
//!
//! Frames are pushed in decode order by one input. The stream
//! * keeps a DVR ring of frames ([`FrameRing`]) bounded by time and bytes, with a
//!   keyframe index, for later segmenters and late joiners;
//! * muxes each group of frames into one fMP4 fragment exactly once and sends the
//!   shared [`Bytes`] to every progressive viewer through a broadcast channel;
//! * remembers the fragments since the latest keyframe so that a new viewer starts
//!   there (init segment, then those fragments, then the live feed).
//!
//! A viewer that falls more than the channel's capacity behind is told it lagged and
//! skips to the next keyframe fragment; it never makes the stream buffer grow.

use std::collections::VecDeque;
use std::sync::Mutex;

use brume_media::mp4::fmp4::{self, FragmentSample, TrackRun};
use brume_media::{scale_ticks, Frame, Track, TrackKind};
use bytes::Bytes;
use tokio::sync::broadcast;

/// Fragments a viewer may fall behind before it is moved to the next keyframe.
const FANOUT_CAPACITY: usize = 256;
/// Hard cap on the DVR ring, whatever its time window says.
const MAX_RING_BYTES: usize = 512 * 1024 * 1024;
/// Cap on the fragments kept for new viewers (a very long GOP).
const MAX_BACKLOG_FRAGMENTS: usize = 4096;
/// Audio-only streams: frames per fragment.
const AUDIO_ONLY_FRAMES_PER_FRAGMENT: usize = 4;

/// One muxed moof+mdat, shared by every viewer.
#[derive(Debug, Clone)]
pub struct LiveFragment {
    pub sequence: u64,
    /// Starts with a video keyframe (or carries audio only): a viewer may begin here.
    pub keyframe: bool,
    pub bytes: Bytes,
}

/// What a new viewer receives: the init segment, the fragments since the latest
/// keyframe, and a receiver for everything after them.
#[derive(Debug)]
pub struct Subscription {
    pub init: Bytes,
    pub backlog: Vec<LiveFragment>,
    pub receiver: broadcast::Receiver<LiveFragment>,
}

#[derive(Debug)]
pub struct LiveStream {
    tracks: Vec<Track>,
    init: Bytes,
    has_video: bool,
    inner: Mutex<Inner>,
    sender: broadcast::Sender<LiveFragment>,
}

#[derive(Debug)]
struct Inner {
    /// Per track (same order as `tracks`): the newest frame, held until the next
    /// one tells its duration.
    held: Vec<Option<Frame>>,
    /// Frames whose duration is known, waiting to be muxed: (track index, frame, duration).
    ready: Vec<(usize, Frame, u32)>,
    ring: FrameRing,
    backlog: Vec<LiveFragment>,
    next_sequence: u64,
    /// Dropped frames whose timestamps went backwards.
    dropped: u64,
}

impl LiveStream {
    pub fn new(tracks: Vec<Track>, dvr_window_ms: u64) -> Result<LiveStream, fmp4::Fmp4Error> {
        let init = fmp4::init_segment(&tracks)?;
        let has_video = tracks.iter().any(|t| t.kind() == TrackKind::Video);
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        let held = vec![None; tracks.len()];
        Ok(LiveStream {
            init,
            has_video,
            inner: Mutex::new(Inner {
                held,
                ready: Vec::new(),
                ring: FrameRing::new(dvr_window_ms, MAX_RING_BYTES),
                backlog: Vec::new(),
                next_sequence: 1,
                dropped: 0,
            }),
            sender,
            tracks,
        })
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn init_segment(&self) -> &Bytes {
        &self.init
    }

    /// Adds one frame (decode order per track). Frames whose decode time does not
    /// advance, or that name an unknown track, are dropped.
    pub fn push(&self, frame: Frame) {
        let Some(index) = self.tracks.iter().position(|t| t.id == frame.track) else {
            return;
        };
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(prev) = inner.held[index].take() {
            if frame.dts <= prev.dts {
                inner.dropped += 1;
                tracing::debug!(
                    track = frame.track,
                    dts = frame.dts,
                    "dropped a frame whose timestamp did not advance"
                );
                inner.held[index] = Some(prev);
                return;
            }
            let duration = u32::try_from(frame.dts - prev.dts).unwrap_or(u32::MAX);
            let is_video = self.tracks[index].kind() == TrackKind::Video;
            inner.ready.push((index, prev, duration));
            let flush = if self.has_video {
                is_video
            } else {
                inner.ready.len() >= AUDIO_ONLY_FRAMES_PER_FRAGMENT
            };
            if flush {
                self.flush(inner);
            }
        }
        let ms = scale_ticks(frame.dts, self.tracks[index].timescale, 1000);
        let starts_gop =
            frame.keyframe && (!self.has_video || self.tracks[index].kind() == TrackKind::Video);
        inner.ring.push(frame.clone(), ms, starts_gop);
        inner.held[index] = Some(frame);
    }

    /// Muxes the ready frames into one fragment and sends it to every viewer.
    fn flush(&self, inner: &mut Inner) {
        if inner.ready.is_empty() {
            return;
        }
        let keyframe = if self.has_video {
            inner
                .ready
                .iter()
                .find(|(i, _, _)| self.tracks[*i].kind() == TrackKind::Video)
                .is_some_and(|(_, f, _)| f.keyframe)
        } else {
            true
        };
        let mut samples: Vec<Vec<FragmentSample<'_>>> =
            (0..self.tracks.len()).map(|_| Vec::new()).collect();
        for (index, frame, duration) in &inner.ready {
            samples[*index].push(FragmentSample {
                frame,
                duration: *duration,
            });
        }
        let runs: Vec<TrackRun<'_>> = self
            .tracks
            .iter()
            .zip(&samples)
            .filter(|(_, s)| !s.is_empty())
            .map(|(track, samples)| TrackRun { track, samples })
            .collect();
        let sequence = inner.next_sequence;
        let result = fmp4::fragment(sequence as u32, &runs);
        drop(runs);
        drop(samples);
        inner.ready.clear();
        let bytes = match result {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(%err, "could not mux a live fragment; skipped");
                return;
            }
        };
        inner.next_sequence += 1;
        let fragment = LiveFragment {
            sequence,
            keyframe,
            bytes,
        };
        if keyframe {
            inner.backlog.clear();
        }
        if inner.backlog.len() < MAX_BACKLOG_FRAGMENTS {
            inner.backlog.push(fragment.clone());
        }
        // No receivers is fine: nobody is watching right now.
        let _ = self.sender.send(fragment);
    }

    /// Starts a viewer at the latest keyframe.
    pub fn subscribe(&self) -> Subscription {
        let inner = self.lock();
        // Subscribing under the lock: `flush` sends under the same lock, so the
        // backlog and the receiver neither overlap nor leave a gap.
        let receiver = self.sender.subscribe();
        let backlog = if inner.backlog.first().is_some_and(|f| f.keyframe) {
            inner.backlog.clone()
        } else {
            Vec::new()
        };
        Subscription {
            init: self.init.clone(),
            backlog,
            receiver,
        }
    }

    /// Number of viewers currently receiving fragments.
    pub fn viewer_count(&self) -> usize {
        self.sender.receiver_count()
    }

    /// First and last decode time (ms) of each track still in the DVR window,
    /// in the order of [`LiveStream::tracks`].
    pub fn buffered_ms(&self) -> Vec<Option<(i64, i64)>> {
        let inner = self.lock();
        self.tracks
            .iter()
            .map(|t| inner.ring.track_span_ms(t.id, t.timescale))
            .collect()
    }

    /// Bytes per second of each track over the DVR window.
    pub fn track_bitrates(&self) -> Vec<u64> {
        let inner = self.lock();
        self.tracks
            .iter()
            .map(|t| inner.ring.track_bps(t.id, t.timescale))
            .collect()
    }

    /// Frames of `track` currently in the DVR window.
    pub fn frames_in_window(&self, track: u32) -> usize {
        self.lock()
            .ring
            .frames
            .iter()
            .filter(|(f, _)| f.track == track)
            .count()
    }

    /// Frames currently held in the DVR ring (for diagnostics and tests).
    pub fn ring_len(&self) -> usize {
        self.lock().ring.frames.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug elsewhere; the data stays usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The DVR ring: frames in arrival order, dropped a whole GOP at a time from the
/// front once the window (or the byte cap) is exceeded.
#[derive(Debug)]
pub struct FrameRing {
    frames: VecDeque<(Frame, i64)>,
    /// Absolute index (see `base`) of every frame that starts a GOP.
    gop_starts: VecDeque<u64>,
    /// Absolute index of `frames[0]`.
    base: u64,
    bytes: usize,
    window_ms: i64,
    max_bytes: usize,
}

impl FrameRing {
    pub fn new(window_ms: u64, max_bytes: usize) -> FrameRing {
        FrameRing {
            frames: VecDeque::new(),
            gop_starts: VecDeque::new(),
            base: 0,
            bytes: 0,
            window_ms: i64::try_from(window_ms).unwrap_or(i64::MAX),
            max_bytes,
        }
    }

    pub fn push(&mut self, frame: Frame, ms: i64, starts_gop: bool) {
        if starts_gop {
            self.gop_starts
                .push_back(self.base + self.frames.len() as u64);
        }
        self.bytes += frame.data.len();
        self.frames.push_back((frame, ms));
        self.evict(ms);
    }

    fn evict(&mut self, newest_ms: i64) {
        // Drop the oldest GOP while the next GOP alone still covers the window
        // (or the byte cap is exceeded and there is a later GOP to keep).
        while self.gop_starts.len() >= 2 {
            let second = self.gop_starts[1];
            let second_ms = self
                .frames
                .get((second - self.base) as usize)
                .map(|(_, ms)| *ms)
                .unwrap_or(newest_ms);
            let over_time = newest_ms.saturating_sub(second_ms) >= self.window_ms;
            let over_bytes = self.bytes > self.max_bytes;
            if !(over_time || over_bytes) {
                break;
            }
            while self.base < second {
                if let Some((frame, _)) = self.frames.pop_front() {
                    self.bytes -= frame.data.len();
                }
                self.base += 1;
            }
            self.gop_starts.pop_front();
        }
        // Frames before the first GOP start are useless to anyone.
        if let Some(&first) = self.gop_starts.front() {
            while self.base < first {
                if let Some((frame, _)) = self.frames.pop_front() {
                    self.bytes -= frame.data.len();
                }
                self.base += 1;
            }
        }
    }

    fn track_span_ms(&self, track: u32, timescale: u32) -> Option<(i64, i64)> {
        let first = self.frames.iter().find(|(f, _)| f.track == track)?;
        let last = self.frames.iter().rev().find(|(f, _)| f.track == track)?;
        Some((
            scale_ticks(first.0.dts, timescale, 1000),
            scale_ticks(last.0.dts, timescale, 1000),
        ))
    }

    fn track_bps(&self, track: u32, timescale: u32) -> u64 {
        let mut bytes = 0u64;
        for (frame, _) in self.frames.iter().filter(|(f, _)| f.track == track) {
            bytes += frame.data.len() as u64;
        }
        match self.track_span_ms(track, timescale) {
            Some((first, last)) if last > first => bytes * 1000 / (last - first) as u64,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_media::{Codec, VideoInfo};

    fn video_track() -> Track {
        Track {
            id: 1,
            codec: Codec::H264,
            timescale: 1000,
            // A minimal avcC: version 1, profile 66, level 30, 4-byte lengths, no sets.
            init: Bytes::from_static(&[1, 66, 0, 30, 0xff, 0xe0, 0]),
            codec_string: "avc1.42001e".to_owned(),
            video: Some(VideoInfo {
                width: 16,
                height: 16,
            }),
            audio: None,
        }
    }

    fn frame(dts: i64, keyframe: bool) -> Frame {
        Frame {
            track: 1,
            dts,
            pts_offset: 0,
            keyframe,
            data: Bytes::from(vec![0, 0, 0, 1, 0x65]),
        }
    }

    #[test]
    fn ring_drops_whole_gops_beyond_the_window() {
        let mut ring = FrameRing::new(1000, usize::MAX);
        for i in 0..100i64 {
            ring.push(frame(i * 100, i % 5 == 0), i * 100, i % 5 == 0);
        }
        // The oldest kept frame starts a GOP and the window is covered.
        let (first, first_ms) = ring.frames.front().unwrap();
        assert!(first.keyframe);
        assert!(9900 - first_ms >= 1000);
        assert!(9900 - first_ms < 1500);
    }

    #[test]
    fn new_viewer_starts_at_the_latest_keyframe_and_follows_live() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        for i in 0..7i64 {
            live.push(frame(i * 40, i % 3 == 0));
        }
        let mut sub = live.subscribe();
        assert!(!sub.init.is_empty());
        // Frames 0..=5 are muxed (6 is held back); the latest keyframe among them is 3.
        assert_eq!(sub.backlog.len(), 3);
        assert!(sub.backlog[0].keyframe);
        live.push(frame(7 * 40, false));
        let next = sub.receiver.try_recv().unwrap();
        assert_eq!(next.sequence, sub.backlog[2].sequence + 1);
    }

    #[test]
    fn timestamps_that_go_backwards_are_dropped() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        live.push(frame(100, true));
        live.push(frame(50, false));
        live.push(frame(100, false));
        assert_eq!(live.ring_len(), 1);
    }
}
