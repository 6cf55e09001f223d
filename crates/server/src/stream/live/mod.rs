//! A live stream: frames from one input, kept in a DVR ring and fanned out.
//!
//! Frames are pushed in decode order by one input. The stream
//! * keeps the DVR ring ([`ring::FrameRing`]), cut into segments with stable
//!   sequence numbers, which HLS and DASH render from (once, cached);
//! * holds back each track's newest frame until the next one tells its duration,
//!   then hands groups of frames (closed at each video frame) to the progressive
//!   [`feed::Feed`]s — one per (format, track selection), made when a viewer
//!   asks and dropped when unused — which mux them once and broadcast the shared
//!   bytes;
//! * lets a viewer that starts back in the DVR window (or before a new feed has
//!   a keyframe) replay the ring itself ([`replay`]) and join the shared feed
//!   exactly where its own groups end;
//! * cuts each segment into parts for Low-Latency HLS ([`parts`]) and wakes the
//!   requests waiting for a part or segment through one watch channel;
//! * records when media time zero happened on the wall clock, for DASH;
//! * keeps its timeline continuous when the publisher's timestamps jump
//!   ([`brume_media::segment::jumps::Rebaser`]);
//! * says in [`LiveStream::notes`] why it cuts or evicts unusually (no keyframes,
//!   byte cap, timestamp jumps), logging each change once.
//!
//! Memory is bounded whatever the publisher sends: the ring by its window and
//! byte cap (segments are always cut, by force if need be), the frames waiting
//! for the next progressive chunk by [`MAX_READY_FRAMES`].
//!
//! A viewer that falls more than the feed's capacity behind skips to the next
//! keyframe; it never makes the stream buffer grow.

pub mod feed;
pub mod parts;
pub mod replay;
pub mod ring;
pub mod tap;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use brume_media::segment::jumps::Rebaser;
use brume_media::segment::{Cut, TIMESTAMP_JUMP_MS};
use brume_media::{scale_ticks, Frame, TimedFrame, Track, TrackKind};

use super::cache::RenderCache;
use super::selection::Selection;
use feed::{Feed, Format};
use ring::{FrameRing, SegmentSpan};

/// Default cap on the DVR ring's payload bytes, whatever its time window says
/// (`dvr_max_bytes` in a stream's configuration overrides it).
pub const DEFAULT_RING_BYTES: u64 = 512 * 1024 * 1024;
/// Most bytes of rendered segments kept per live stream.
const LIVE_CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Audio-only streams: frames per progressive chunk.
const AUDIO_ONLY_FRAMES_PER_CHUNK: usize = 4;
/// Most frames waiting for the next progressive chunk (a video stream whose video
/// stopped closes chunks at this many audio frames).
pub const MAX_READY_FRAMES: usize = 64;

/// Why a live stream could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot set up the progressive outputs: {0}")]
    Feed(String),
}

/// Something unusual about how a live stream is cut or kept (see [`LiveStream::notes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Conditions {
    keyframeless: bool,
    byte_capped: bool,
    jumped: bool,
}
#[derive(Debug)]
pub struct LiveStream {
    tracks: Vec<Track>,
    has_video: bool,
    inner: Mutex<Inner>,
    /// Rendered segments, shared by every viewer.
    pub cache: RenderCache,
    /// Tells this stream's segments from those of an earlier run (ETags).
    pub instance: u64,
    /// Bumped whenever the segment list changes (documents are cached by it).
    version: AtomicU64,
    /// Bumped whenever a part or segment completes or the stream closes; blocked
    /// playlist and part requests wait on it.
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug)]
struct Inner {
    /// Per track position: the newest frame, held until its successor arrives.
    held: Vec<Option<Frame>>,
    /// Shifts tracks whose timestamps jumped, per track position.
    rebaser: Rebaser,
    /// Ms added to each track's timestamps by the rebaser, as ticks of the track.
    offsets: Vec<i64>,
    conditions: Conditions,
    /// Timestamps jumped and no segment was cut since.
    jump_pending: bool,
    /// The segment that began after the latest timestamp jump.
    jump_sequence: Option<u64>,
    /// Frames whose duration is known, waiting for the next chunk.
    ready: Vec<TimedFrame>,
    ring: FrameRing,
    feeds: Vec<Feed>,
    /// Ring index of the frame whose arrival closed the latest group.
    last_close: Option<u64>,
    /// Unix time (ms) at which media time 0 happened; set by the first frame.
    epoch_unix_ms: Option<i64>,
    /// Frames dropped because their timestamps did not advance.
    dropped: u64,
    /// The stream was closed: no more frames, no new viewers.
    closed: bool,
    /// Every frame as pushed, for frame-level viewers ([`tap`]).
    tap: tap::FrameTap,
}

impl LiveStream {
    pub fn new(tracks: Vec<Track>, dvr_window_ms: u64) -> Result<LiveStream, LiveError> {
        LiveStream::with_byte_cap(tracks, dvr_window_ms, DEFAULT_RING_BYTES)
    }

    /// A live stream keeping `dvr_window_ms` of media, but at most `max_bytes` of
    /// frame payloads.
    pub fn with_byte_cap(
        tracks: Vec<Track>,
        dvr_window_ms: u64,
        max_bytes: u64,
    ) -> Result<LiveStream, LiveError> {
        let has_video = tracks.iter().any(|t| t.kind() == TrackKind::Video);
        let every = std::sync::Arc::new(Selection::all(&tracks));
        let feeds = Format::ALL
            .iter()
            .map(|&format| Feed::new(format, every.clone(), true))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LiveError::Feed(e.to_string()))?;
        let max_bytes = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        Ok(LiveStream {
            inner: Mutex::new(Inner {
                held: vec![None; tracks.len()],
                rebaser: Rebaser::new(tracks.len(), TIMESTAMP_JUMP_MS),
                offsets: vec![0; tracks.len()],
                conditions: Conditions::default(),
                jump_pending: false,
                jump_sequence: None,
                ready: Vec::new(),
                ring: FrameRing::new(dvr_window_ms, max_bytes, has_video),
                feeds,
                last_close: None,
                epoch_unix_ms: None,
                dropped: 0,
                closed: false,
                tap: tap::FrameTap::new(),
            }),
            has_video,
            tracks,
            cache: RenderCache::new(LIVE_CACHE_BYTES),
            instance: super::next_instance(),
            version: AtomicU64::new(0),
            changes: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Sets the part target duration of Low-Latency HLS (before frames arrive).
    pub fn with_part_target_ms(self, ms: u64) -> LiveStream {
        self.lock().ring.set_part_target_ms(ms);
        self
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn has_video(&self) -> bool {
        self.has_video
    }

    /// Adds one frame. Frames whose decode time does not advance within their
    /// track, or that name an unknown track, are dropped; a track whose
    /// timestamps jump far (forward or back) is shifted to continue the timeline.
    pub fn push(&self, mut frame: Frame) {
        let Some(position) = self.tracks.iter().position(|t| t.id == frame.track) else {
            return;
        };
        let track = &self.tracks[position];
        let is_video = track.kind() == TrackKind::Video;
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.closed {
            return;
        }
        let input_ms = scale_ticks(frame.dts, track.timescale, 1000);
        let rebased = inner.rebaser.map(position, input_ms);
        if rebased.jumped {
            inner.offsets[position] = scale_ticks(rebased.offset_ms, 1000, track.timescale);
            inner.ring.discontinuity();
            tracing::info!(
                track = frame.track,
                input_ms,
                continued_at_ms = rebased.ms,
                "timestamps jumped; the timeline continues"
            );
        }
        frame.dts = frame.dts.saturating_add(inner.offsets[position]);
        let ms = scale_ticks(frame.dts, track.timescale, 1000);
        if inner.epoch_unix_ms.is_none() {
            inner.epoch_unix_ms = Some(crate::util::unix_ms() - ms);
            // Documents rendered before the first frame lack the epoch.
            self.version.fetch_add(1, Ordering::Release);
        }
        if let Some(prev) = inner.held[position].take() {
            if frame.dts <= prev.dts {
                inner.dropped += 1;
                tracing::debug!(
                    track = frame.track,
                    dts = frame.dts,
                    "dropped a frame whose timestamp did not advance"
                );
                inner.held[position] = Some(prev);
                return;
            }
            let duration = u32::try_from(frame.dts - prev.dts).unwrap_or(u32::MAX);
            inner.ready.push(TimedFrame {
                track_index: position,
                frame: prev,
                duration_ticks: duration,
            });
            let index = inner.ring.next_index();
            let run = inner.ring.non_video_run_after(is_video);
            if closes_group(self.has_video, is_video, run, index) {
                self.publish_ready(inner, index);
            }
        }
        let before = inner.ring.oldest_sequence();
        let newest_before = inner.ring.newest_complete_sequence();
        let part_before = inner.ring.part_in_progress();
        let cut = inner.ring.push(frame.clone(), ms, is_video);
        if inner.ring.part_in_progress() != part_before {
            self.changes.send_modify(|n| *n += 1);
        }
        let after = inner.ring.oldest_sequence();
        if after != before {
            if let Some(oldest) = after {
                self.cache.forget_before(oldest);
            }
        }
        if after != before || inner.ring.newest_complete_sequence() != newest_before {
            self.version.fetch_add(1, Ordering::Release);
        }
        inner.tap.send(&frame);
        inner.held[position] = Some(frame);
        self.update_conditions(inner, cut, rebased.jumped);
    }

    /// Tracks the unusual conditions and logs each change once.
    /// A jump is reported while the DVR window holds it.
    fn update_conditions(&self, inner: &mut Inner, cut: Option<Cut>, jumped: bool) {
        if jumped {
            inner.jump_pending = true;
        } else if cut.is_some() && inner.jump_pending {
            inner.jump_pending = false;
            inner.jump_sequence = inner.ring.newest_sequence();
        }
        let jump_held = inner
            .jump_sequence
            .zip(inner.ring.oldest_sequence())
            .is_some_and(|(jump, oldest)| oldest <= jump);
        let now = Conditions {
            keyframeless: inner.ring.segmenter().is_keyframeless(),
            byte_capped: inner.ring.is_byte_capped(),
            jumped: inner.jump_pending || jump_held,
        };
        let was = inner.conditions;
        if now == was {
            return;
        }
        inner.conditions = now;
        let notes = notes_of(now, &inner.ring);
        if notes.is_empty() {
            tracing::info!("live stream back to normal: keyframe cuts, window by time");
        } else {
            tracing::warn!(notes = %notes.join("; "), "live stream cutting or evicting unusually");
        }
    }

    /// Closes the group at ring index `close`: every feed muxes and sends its
    /// part; feeds nobody watches any more are dropped.
    fn publish_ready(&self, inner: &mut Inner, close: u64) {
        let from = inner.last_close.replace(close).unwrap_or(0);
        inner.feeds.retain(Feed::in_use);
        if inner.ready.is_empty() {
            return;
        }
        let restart = inner.ring.has_segment_start_in(from, close);
        let keyframe = group_keyframe(&self.tracks, self.has_video, &inner.ready, restart);
        for feed in &mut inner.feeds {
            feed.publish(&inner.ready, keyframe, close);
        }
        inner.ready.clear();
    }

    /// Why the stream cuts or evicts unusually, in words (empty when it cuts at
    /// keyframes and keeps its whole time window).
    pub fn notes(&self) -> Vec<String> {
        let inner = self.lock();
        notes_of(inner.conditions, &inner.ring)
    }

    /// Ends the stream for everyone: the feeds' senders are dropped, so every
    /// progressive viewer (HTTP body, RTMP player, WebSocket) reaches its end after
    /// the chunks already sent; later frames are ignored and new viewers refused.
    pub fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.feeds.clear();
        inner.tap.close();
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Whether [`LiveStream::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Progressive viewers currently attached, over all formats.
    pub fn viewer_count(&self) -> usize {
        self.lock().feeds.iter().map(Feed::viewers).sum()
    }

    /// Every complete segment in the DVR window, oldest first.
    pub fn segments(&self) -> Vec<SegmentSpan> {
        self.lock().ring.segments()
    }

    /// The frames of segment `sequence` (with each frame's duration), or `None`
    /// once it has left the window (or before it is complete).
    pub fn segment_frames(&self, sequence: u64) -> Option<(SegmentSpan, Vec<TimedFrame>)> {
        let inner = self.lock();
        let span = inner.ring.segment(sequence)?;
        let frames = inner.ring.frames_with_next(span.first, span.end);
        drop(inner);
        Some((span, self.timed(frames)))
    }

    /// Frames with the decode time of their track's next frame, as frames with
    /// durations. A frame whose successor is not in the ring yet keeps the
    /// track's last known duration (only possible for the very newest frames).
    fn timed(&self, frames: Vec<(Frame, Option<i64>)>) -> Vec<TimedFrame> {
        let mut last_duration: Vec<(u32, u32)> = Vec::new();
        frames
            .into_iter()
            .map(|(frame, next)| {
                let duration = match next {
                    Some(next) => u32::try_from(next - frame.dts).unwrap_or(u32::MAX),
                    None => last_duration
                        .iter()
                        .find(|(t, _)| *t == frame.track)
                        .map(|(_, d)| *d)
                        .unwrap_or(1),
                };
                match last_duration.iter_mut().find(|(t, _)| *t == frame.track) {
                    Some(entry) => entry.1 = duration,
                    None => last_duration.push((frame.track, duration)),
                }
                let position = self
                    .tracks
                    .iter()
                    .position(|t| t.id == frame.track)
                    .unwrap_or(0);
                TimedFrame {
                    track_index: position,
                    frame,
                    duration_ticks: duration,
                }
            })
            .collect()
    }

    /// The segment list's version: changes whenever a segment completes or leaves
    /// the window.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// Sequence number of the newest complete segment, if any.
    pub fn newest_sequence(&self) -> Option<u64> {
        self.lock().ring.newest_complete_sequence()
    }

    /// Whether segment `sequence` is complete and still in the window.
    pub fn has_segment(&self, sequence: u64) -> bool {
        self.lock().ring.segment(sequence).is_some()
    }

    /// Unix time (ms) of media time zero, once the first frame arrived.
    pub fn epoch_unix_ms(&self) -> Option<i64> {
        self.lock().epoch_unix_ms
    }

    /// Per track (in [`LiveStream::tracks`] order): first and last decode time in
    /// the window (ms), frame count, and bytes per second.
    pub fn track_stats(&self) -> Vec<TrackStats> {
        let inner = self.lock();
        self.tracks
            .iter()
            .map(|t| {
                let (first_ms, last_ms, frames) = inner.ring.track_span(t.id).unwrap_or((0, 0, 0));
                TrackStats {
                    first_ms,
                    last_ms,
                    frames,
                    bytes_per_sec: inner.ring.track_bps(t.id),
                }
            })
            .collect()
    }

    /// Frames currently held in the DVR ring.
    pub fn ring_len(&self) -> usize {
        self.lock().ring.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug elsewhere; the data stays usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether the arrival of the frame at ring index `index` closes a group: every
/// video frame does, and in a video stream whose video stopped every
/// [`MAX_READY_FRAMES`]th frame of the run without video (`run`, counting this
/// frame); without video, every [`AUDIO_ONLY_FRAMES_PER_CHUNK`]th frame. Only the
/// ring decides, so a viewer replaying the ring closes its groups exactly where
/// the shared feeds did.
pub(super) fn closes_group(has_video: bool, is_video: bool, run: u32, index: u64) -> bool {
    if has_video {
        is_video || (run as usize).checked_rem(MAX_READY_FRAMES) == Some(0)
    } else {
        index % AUDIO_ONLY_FRAMES_PER_CHUNK as u64 == AUDIO_ONLY_FRAMES_PER_CHUNK as u64 - 1
    }
}

/// Whether a group may start a viewer: its video frame is a keyframe (always
/// without video), or a segment starts in it (`restart`: a forced cut of a
/// keyframe-less stream is the best place there is).
pub(super) fn group_keyframe(
    tracks: &[Track],
    has_video: bool,
    group: &[TimedFrame],
    restart: bool,
) -> bool {
    !has_video
        || restart
        || group
            .iter()
            .find(|t| tracks.get(t.track_index).map(Track::kind) == Some(TrackKind::Video))
            .is_some_and(|t| t.frame.keyframe)
}

fn notes_of(conditions: Conditions, ring: &FrameRing) -> Vec<String> {
    let limits = ring.segmenter().limits();
    let mut notes = Vec::new();
    if conditions.keyframeless {
        notes.push(format!(
            "no keyframe for {} s: forced cuts every {} s",
            limits.forced_after_ms / 1000,
            limits.forced_every_ms / 1000
        ));
    }
    if conditions.byte_capped {
        notes.push(format!(
            "DVR byte cap of {} MiB reached: oldest segments evicted before the time window",
            ring.max_bytes() / (1024 * 1024)
        ));
    }
    if conditions.jumped {
        notes.push(format!(
            "timestamps jumped by more than {} s within the DVR window: timeline continued",
            limits.jump_ms / 1000
        ));
    }
    notes
}

/// Figures about one track over the DVR window.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackStats {
    pub first_ms: i64,
    pub last_ms: i64,
    pub frames: usize,
    pub bytes_per_sec: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_media::{Codec, VideoInfo};
    use bytes::Bytes;

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

    fn every_track(live: &LiveStream) -> std::sync::Arc<Selection> {
        std::sync::Arc::new(Selection::all(live.tracks()))
    }

    #[test]
    fn new_viewer_starts_at_the_latest_keyframe_and_follows_live() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        for i in 0..7i64 {
            live.push(frame(i * 40, i % 3 == 0));
        }
        let replay::EdgeStart::Feed { mut start, resync } = live
            .start_at_edge(Format::Mp4, &every_track(&live))
            .unwrap()
        else {
            panic!("the every-track feed has a backlog");
        };
        assert!(!resync);
        assert!(!start.header.is_empty());
        // Frames 0..=5 are muxed (6 is held back); the latest keyframe among them is 3.
        assert_eq!(start.backlog.len(), 3);
        assert!(start.backlog[0].keyframe);
        assert_eq!(start.backlog[0].start_ms, 120);
        live.push(frame(7 * 40, false));
        let next = start.receiver.try_recv().unwrap();
        assert_eq!(next.start_ms, 240);
    }

    #[test]
    fn timestamps_that_go_backwards_are_dropped() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        live.push(frame(100, true));
        live.push(frame(50, false));
        live.push(frame(100, false));
        assert_eq!(live.ring_len(), 1);
    }

    #[test]
    fn closing_ends_every_viewer_and_refuses_new_ones() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        for i in 0..4i64 {
            live.push(frame(i * 40, i == 0));
        }
        let replay::EdgeStart::Feed { mut start, .. } =
            live.start_at_edge(Format::Ts, &every_track(&live)).unwrap()
        else {
            panic!("the every-track feed has a backlog");
        };
        live.close();
        assert!(live.is_closed());
        assert!(matches!(
            start.receiver.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Closed)
        ));
        assert!(matches!(
            live.start_at_edge(Format::Mp4, &every_track(&live)),
            Ok(replay::EdgeStart::Closed)
        ));
        assert_eq!(live.viewer_count(), 0);
        live.push(frame(400, true));
        assert_eq!(live.ring_len(), 4);
    }

    #[test]
    fn complete_segments_carry_their_frames_and_durations() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        for i in 0..130i64 {
            live.push(frame(i * 40, i % 50 == 0));
        }
        let segments = live.segments();
        assert_eq!(segments.len(), 2);
        let (span, frames) = live.segment_frames(segments[1].sequence).unwrap();
        assert_eq!(span.end_ms - span.start_ms, 2000);
        assert_eq!(frames.len(), 50);
        assert!(frames.iter().all(|t| t.duration_ticks == 40));
        assert!(live.segment_frames(99).is_none());
    }

    #[test]
    fn a_timestamp_jump_of_hours_keeps_segments_coming_and_is_reported() {
        let live = LiveStream::new(vec![video_track()], 50_000).unwrap();
        let hours = 3 * 3600 * 1000;
        for i in 0..300i64 {
            let dts = if i < 100 { i * 40 } else { hours + i * 40 };
            live.push(frame(dts, i % 25 == 0));
        }
        assert_eq!(live.ring_len(), 300, "no frame dropped");
        let segments = live.segments();
        assert!(segments.len() >= 5, "{segments:?}");
        for s in &segments {
            assert!((0..=2000).contains(&(s.end_ms - s.start_ms)), "{s:?}");
        }
        assert!(live.notes().iter().any(|n| n.contains("timestamps jumped")));
        // Backwards by hours: still no frame dropped, time keeps going forward.
        for i in 0..100i64 {
            live.push(frame(i * 40, i % 25 == 0));
        }
        assert_eq!(live.ring_len(), 400);
    }

    #[test]
    fn a_keyframe_less_stream_says_so_and_stays_bounded() {
        let live = LiveStream::new(vec![video_track()], 10_000).unwrap();
        assert!(live.notes().is_empty());
        for i in 0..3000i64 {
            live.push(frame(i * 40, i == 0));
        }
        assert!(live.ring_len() <= 350, "{}", live.ring_len());
        let notes = live.notes();
        assert!(notes.iter().any(|n| n.contains("no keyframe")), "{notes:?}");
        // Viewers start at the latest forced cut, not at the first frame ever.
        let replay::EdgeStart::Feed { start, .. } =
            live.start_at_edge(Format::Ts, &every_track(&live)).unwrap()
        else {
            panic!("the every-track feed has a backlog");
        };
        assert!(!start.backlog.is_empty() && start.backlog.len() <= 60);
    }
}
