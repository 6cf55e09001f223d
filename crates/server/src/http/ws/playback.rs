//! Where a MEWS viewer's fragments come from.
//!
//! * [`LiveSource`]: the stream's shared fMP4 feed (muxed once for every viewer):
//!   the chunks since the latest keyframe, then the broadcast. A viewer that lags
//!   past the feed's capacity skips to the next keyframe chunk.
//! * [`VodSource`]: an on-demand file, one segment (a GOP or more) per fragment,
//!   read and muxed on a blocking thread for this viewer's track selection, and
//!   paced so that it stays at most [`VOD_LEAD_MS`] ahead of where the player
//!   plays (estimated from the wall clock and the playback rate).
//!
//! Also here: which tracks a player can take ([`Selection`]), and the media time
//! a shared live fragment starts at ([`fragment_start_ms`]).

use std::collections::VecDeque;
use std::sync::Arc;

use brume_media::mp4::boxes::{find_child, Boxes, FourCC, Reader};
use brume_media::mp4::fmp4;
use brume_media::{scale_ticks, Codec, TimedFrame, Track, TrackKind};
use bytes::Bytes;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::stream::live::feed::{mux_fmp4, Format, LiveChunk};
use crate::stream::live::LiveStream;
use crate::stream::vod::VodStream;

/// How far (media ms) an on-demand viewer is sent ahead of its estimated position.
pub const VOD_LEAD_MS: i64 = 6_000;

/// The tracks one viewer receives, and where each of the stream's tracks went.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The selected tracks, in stream order.
    pub tracks: Vec<Track>,
    /// For each track of the stream (by position): its position among `tracks`.
    map: Vec<Option<usize>>,
}

impl Selection {
    /// Every track of the stream.
    pub fn all(tracks: &[Track]) -> Selection {
        Selection {
            tracks: tracks.to_vec(),
            map: (0..tracks.len()).map(Some).collect(),
        }
    }

    /// The tracks whose codec family is named in `supported` (MistServer's codec
    /// names, as the player sends them: `H264`, `HEVC`, `AAC`; a few aliases too).
    pub fn supported(tracks: &[Track], supported: &[String]) -> Selection {
        let families: Vec<Codec> = supported.iter().filter_map(|n| codec_family(n)).collect();
        let mut selected = Vec::new();
        let mut map = Vec::with_capacity(tracks.len());
        for track in tracks {
            if families.contains(&track.codec) {
                map.push(Some(selected.len()));
                selected.push(track.clone());
            } else {
                map.push(None);
            }
        }
        Selection {
            tracks: selected,
            map,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Whether every track of the stream is selected.
    pub fn is_all(&self) -> bool {
        self.map.iter().all(Option::is_some)
    }

    /// RFC 6381 codec strings of the selected tracks (`avc1.64001e`, `mp4a.40.2`).
    pub fn codecs(&self) -> Vec<String> {
        self.tracks.iter().map(fmp4::track_codec_string).collect()
    }

    /// Track ids of the selected tracks.
    pub fn ids(&self) -> Vec<u32> {
        self.tracks.iter().map(|t| t.id).collect()
    }

    /// A stream track position's position in the selection.
    fn position(&self, stream_position: usize) -> Option<usize> {
        self.map.get(stream_position).copied().flatten()
    }
}

/// The codec a player's codec name stands for.
fn codec_family(name: &str) -> Option<Codec> {
    let name = name.trim().to_ascii_uppercase();
    match name.as_str() {
        "H264" | "AVC" | "AVC1" | "AVC3" => Some(Codec::H264),
        "HEVC" | "H265" | "HEV1" | "HVC1" => Some(Codec::H265),
        "AAC" | "MP4A" => Some(Codec::Aac),
        _ => None,
    }
}

/// The media time (ms) a fragment (`moof` + `mdat`) starts at: the earliest
/// `tfdt` among its track fragments. `None` for anything else.
pub fn fragment_start_ms(bytes: &[u8], tracks: &[Track]) -> Option<i64> {
    let (kind, moof) = Boxes::new(bytes, "fragment").next()?.ok()?;
    if kind != FourCC(*b"moof") {
        return None;
    }
    let mut earliest: Option<i64> = None;
    for child in Boxes::new(moof, "moof") {
        let (kind, traf) = child.ok()?;
        if kind != FourCC(*b"traf") {
            continue;
        }
        let tfhd = find_child(traf, "traf", FourCC(*b"tfhd")).ok()??;
        let tfdt = find_child(traf, "traf", FourCC(*b"tfdt")).ok()??;
        let mut reader = Reader::new(tfhd, "tfhd");
        reader.version_flags().ok()?;
        let track_id = reader.u32().ok()?;
        let mut reader = Reader::new(tfdt, "tfdt");
        let (version, _) = reader.version_flags().ok()?;
        let base = if version == 1 {
            i64::try_from(reader.u64().ok()?).ok()?
        } else {
            i64::from(reader.u32().ok()?)
        };
        let timescale = tracks.iter().find(|t| t.id == track_id)?.timescale;
        let ms = scale_ticks(base, timescale, 1000);
        earliest = Some(earliest.map_or(ms, |e| e.min(ms)));
    }
    earliest
}

/// A live viewer's position in the stream's shared fMP4 feed.
#[derive(Debug)]
pub struct LiveSource {
    pending: VecDeque<Bytes>,
    receiver: Receiver<LiveChunk>,
    /// Set after lagging: chunks are dropped until the next keyframe.
    resyncing: bool,
}

impl LiveSource {
    /// Joins the feed at the latest keyframe; also returns the init segment.
    pub fn start(live: &LiveStream) -> Option<(LiveSource, Bytes)> {
        let subscription = live.subscribe(Format::Mp4)?;
        let source = LiveSource {
            pending: subscription.backlog.into_iter().map(|c| c.bytes).collect(),
            receiver: subscription.receiver,
            resyncing: false,
        };
        Some((source, subscription.header))
    }

    /// The next fragment (shared bytes), or `None` once the feed is gone.
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<Bytes> {
        if let Some(bytes) = self.pending.pop_front() {
            return Some(bytes);
        }
        loop {
            match self.receiver.recv().await {
                Ok(chunk) => {
                    if self.resyncing && !chunk.keyframe {
                        continue;
                    }
                    self.resyncing = false;
                    return Some(chunk.bytes);
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "viewer fell behind; skipping to the next keyframe");
                    self.resyncing = true;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Maps media time onto the wall clock for pacing: where the player is estimated
/// to be now.
#[derive(Debug, Clone, Copy)]
pub struct PaceClock {
    anchor: Instant,
    anchor_ms: i64,
    rate: f64,
    paused: bool,
}

impl PaceClock {
    pub fn new(now: Instant, position_ms: i64, rate: f64) -> PaceClock {
        PaceClock {
            anchor: now,
            anchor_ms: position_ms,
            rate,
            paused: false,
        }
    }

    /// The estimated playback position at `now`.
    pub fn position(&self, now: Instant) -> i64 {
        if self.paused {
            return self.anchor_ms;
        }
        let elapsed = now.saturating_duration_since(self.anchor).as_secs_f64() * 1000.0;
        self.anchor_ms
            .saturating_add((elapsed * self.rate).min(i64::MAX as f64 / 2.0) as i64)
    }

    /// When media time `start_ms` may be sent (it is then [`VOD_LEAD_MS`] ahead).
    pub fn due(&self, start_ms: i64) -> Instant {
        let ahead = start_ms
            .saturating_sub(VOD_LEAD_MS)
            .saturating_sub(self.anchor_ms);
        if ahead <= 0 || self.paused {
            return self.anchor;
        }
        let wait_ms = (ahead as f64 / self.rate).min(86_400_000.0);
        self.anchor + std::time::Duration::from_secs_f64(wait_ms / 1000.0)
    }

    pub fn pause(&mut self, now: Instant) {
        self.anchor_ms = self.position(now);
        self.anchor = now;
        self.paused = true;
    }

    /// Continues from where [`PaceClock::pause`] stopped (no-op while running).
    pub fn resume(&mut self, now: Instant) {
        if self.paused {
            self.anchor = now;
            self.paused = false;
        }
    }

    pub fn set_rate(&mut self, now: Instant, rate: f64) {
        self.anchor_ms = self.position(now);
        self.anchor = now;
        self.rate = rate;
    }
}

/// One rendered on-demand fragment.
#[derive(Debug, Clone)]
pub struct VodFragment {
    pub bytes: Bytes,
    pub start_ms: i64,
}

/// What an on-demand source yields next.
#[derive(Debug)]
pub enum VodEvent {
    Fragment(VodFragment),
    /// Every fragment up to the end of the file was handed out.
    End,
    /// Reading or muxing failed.
    Failed(String),
}

type Render = JoinHandle<Result<Option<VodFragment>, String>>;

/// An on-demand viewer's position in a file.
#[derive(Debug)]
pub struct VodSource {
    vod: Arc<VodStream>,
    selection: Arc<Selection>,
    next_segment: usize,
    /// For the first segment after a seek: the requested position (ms).
    trim_ms: Option<i64>,
    render: Option<Render>,
    ready: Option<VodFragment>,
    sequence: u32,
    end_reported: bool,
    pub clock: PaceClock,
}

impl VodSource {
    /// Starts at `position_ms` (from the keyframe at or before it).
    pub fn start(
        vod: Arc<VodStream>,
        selection: Arc<Selection>,
        position_ms: i64,
        rate: f64,
    ) -> VodSource {
        let position_ms = position_ms.clamp(0, vod.duration_ms().max(0));
        let segments = vod.segments();
        let next_segment = segments
            .partition_point(|s| s.start_ms <= position_ms)
            .saturating_sub(1);
        VodSource {
            vod,
            selection,
            next_segment,
            trim_ms: Some(position_ms),
            render: None,
            ready: None,
            sequence: 1,
            end_reported: false,
            clock: PaceClock::new(Instant::now(), position_ms, rate),
        }
    }

    /// Moves to `position_ms`, keeping the fragment sequence going.
    pub fn seek(&mut self, position_ms: i64, rate: f64) {
        if let Some(render) = self.render.take() {
            render.abort();
        }
        let sequence = self.sequence;
        *self = VodSource::start(self.vod.clone(), self.selection.clone(), position_ms, rate);
        self.sequence = sequence;
    }

    /// The next fragment once it is due, [`VodEvent::End`] once, then nothing.
    /// Cancel-safe: a render in flight and a fragment waiting for its time are kept.
    pub async fn next(&mut self) -> VodEvent {
        loop {
            if let Some(fragment) = &self.ready {
                let due = self.clock.due(fragment.start_ms);
                tokio::time::sleep_until(due).await;
                if let Some(fragment) = self.ready.take() {
                    return VodEvent::Fragment(fragment);
                }
                continue;
            }
            if self.render.is_none() {
                if self.next_segment >= self.vod.segments().len() {
                    if self.end_reported {
                        return std::future::pending().await;
                    }
                    self.end_reported = true;
                    return VodEvent::End;
                }
                let (vod, selection) = (self.vod.clone(), self.selection.clone());
                let (n, trim, sequence) = (self.next_segment, self.trim_ms.take(), self.sequence);
                self.render = Some(tokio::task::spawn_blocking(move || {
                    render_segment(&vod, &selection, n, trim, sequence)
                }));
            }
            let Some(render) = self.render.as_mut() else {
                continue;
            };
            let result = render.await;
            self.render = None;
            self.next_segment += 1;
            match result {
                Ok(Ok(Some(fragment))) => {
                    self.sequence = self.sequence.wrapping_add(1);
                    self.ready = Some(fragment);
                }
                Ok(Ok(None)) => {}
                Ok(Err(message)) => return VodEvent::Failed(message),
                Err(join) => return VodEvent::Failed(join.to_string()),
            }
        }
    }
}

/// Reads segment `n` and muxes the selected tracks' frames into one fragment
/// (blocking). `Ok(None)`: nothing of the selection in it.
fn render_segment(
    vod: &VodStream,
    selection: &Selection,
    n: usize,
    trim_ms: Option<i64>,
    sequence: u32,
) -> Result<Option<VodFragment>, String> {
    let mut frames = vod.segment_frames(n)?;
    if let Some(position_ms) = trim_ms {
        frames = trim_to_position(frames, vod.tracks(), position_ms);
    }
    let group: Vec<TimedFrame> = frames
        .into_iter()
        .filter_map(|timed| {
            selection.position(timed.track_index).map(|q| TimedFrame {
                track_index: q,
                ..timed
            })
        })
        .collect();
    let Some(start_ms) = group
        .iter()
        .filter_map(|timed| {
            selection
                .tracks
                .get(timed.track_index)
                .map(|t| scale_ticks(timed.frame.dts, t.timescale, 1000))
        })
        .min()
    else {
        return Ok(None);
    };
    let bytes = mux_fmp4(&selection.tracks, &group, sequence)?;
    Ok(Some(VodFragment { bytes, start_ms }))
}

/// Drops the frames of a segment that come before `position_ms`: video starts at
/// the last keyframe at or before it, audio at that keyframe's time. Without video,
/// audio starts with the frame that plays at `position_ms`.
pub fn trim_to_position(
    frames: Vec<TimedFrame>,
    tracks: &[Track],
    position_ms: i64,
) -> Vec<TimedFrame> {
    let kind = |p: usize| tracks.get(p).map(Track::kind);
    let ms = |p: usize, ticks: i64| {
        tracks
            .get(p)
            .map_or(ticks, |t| scale_ticks(ticks, t.timescale, 1000))
    };
    let has_video = frames
        .iter()
        .any(|t| kind(t.track_index) == Some(TrackKind::Video));
    if has_video {
        let keyframe = frames.iter().enumerate().rev().find(|(_, t)| {
            kind(t.track_index) == Some(TrackKind::Video)
                && t.frame.keyframe
                && ms(t.track_index, t.frame.dts) <= position_ms
        });
        let Some((index, t)) = keyframe else {
            return frames;
        };
        let (index, cut_ms) = (index, ms(t.track_index, t.frame.dts));
        frames
            .into_iter()
            .enumerate()
            .filter(|(i, t)| match kind(t.track_index) {
                Some(TrackKind::Video) => *i >= index,
                _ => ms(t.track_index, t.frame.dts) >= cut_ms,
            })
            .map(|(_, frame)| frame)
            .collect()
    } else {
        frames
            .into_iter()
            .filter(|t| {
                let end = t.frame.dts.saturating_add(i64::from(t.duration_ticks));
                ms(t.track_index, end) > position_ms
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_media::mp4::fmp4::{FragmentSample, TrackRun};
    use brume_media::{AudioInfo, Frame, VideoInfo};

    fn track(id: u32, codec: Codec, timescale: u32) -> Track {
        Track {
            id,
            codec,
            timescale,
            init: Bytes::new(),
            codec_string: match codec {
                Codec::H264 => "avc1.64001e".into(),
                Codec::H265 => "hvc1.1.6.L93.B0".into(),
                Codec::Aac => "mp4a.40.2".into(),
            },
            video: (codec.kind() == TrackKind::Video).then_some(VideoInfo {
                width: 16,
                height: 16,
            }),
            audio: (codec.kind() == TrackKind::Audio).then_some(AudioInfo {
                sample_rate: 48_000,
                channels: 2,
                sample_size: 16,
            }),
        }
    }

    fn frame(track: u32, dts: i64, keyframe: bool) -> Frame {
        Frame {
            track,
            dts,
            pts_offset: 0,
            keyframe,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        }
    }

    #[test]
    fn selection_follows_the_players_codec_names() {
        let tracks = [track(1, Codec::H265, 90_000), track(2, Codec::Aac, 48_000)];
        let all = Selection::all(&tracks);
        assert!(all.is_all());
        assert_eq!(all.ids(), [1, 2]);
        let audio = Selection::supported(&tracks, &["AAC".into(), "H264".into()]);
        assert!(!audio.is_all());
        assert_eq!(audio.codecs(), ["mp4a.40.2"]);
        assert_eq!(audio.position(1), Some(0));
        assert_eq!(audio.position(0), None);
        assert!(Selection::supported(&tracks, &["VP9".into()]).is_empty());
        assert!(Selection::supported(&tracks, &["hevc".into(), "aac".into()]).is_all());
    }

    #[test]
    fn fragment_start_is_read_from_tfdt() {
        let tracks = [track(1, Codec::H264, 90_000), track(2, Codec::Aac, 48_000)];
        let (v, a) = (frame(1, 90_000 * 5, true), frame(2, 48_000 * 4, true));
        let bytes = fmp4::fragment(
            7,
            &[
                TrackRun {
                    track: &tracks[0],
                    samples: &[FragmentSample {
                        frame: &v,
                        duration: 3000,
                    }],
                },
                TrackRun {
                    track: &tracks[1],
                    samples: &[FragmentSample {
                        frame: &a,
                        duration: 1024,
                    }],
                },
            ],
        )
        .unwrap();
        assert_eq!(fragment_start_ms(&bytes, &tracks), Some(4000));
        assert_eq!(fragment_start_ms(&bytes[..20], &tracks), None);
        assert_eq!(fragment_start_ms(b"garbage!garbage!", &tracks), None);
        assert_eq!(fragment_start_ms(&bytes, &tracks[1..]), None);
    }

    #[test]
    fn a_seek_starts_at_the_keyframe_before_the_position() {
        let tracks = [track(1, Codec::H264, 1000), track(2, Codec::Aac, 1000)];
        let mut frames = Vec::new();
        for i in 0..40i64 {
            let timed = |track_index, frame| TimedFrame {
                track_index,
                frame,
                duration_ticks: 50,
            };
            frames.push(timed(0, frame(1, 2000 + i * 50, i % 10 == 0)));
            frames.push(timed(1, frame(2, 2000 + i * 50 + 10, true)));
        }
        let kept = trim_to_position(frames.clone(), &tracks, 3100);
        let first_video = kept.iter().find(|t| t.track_index == 0).unwrap();
        assert_eq!(first_video.frame.dts, 3000);
        assert!(first_video.frame.keyframe);
        assert!(kept.iter().all(|t| t.frame.dts >= 3000));
        assert_eq!(kept.len(), 40);
        // Before the first keyframe: everything stays.
        assert_eq!(trim_to_position(frames.clone(), &tracks, 100).len(), 80);
        // Audio only: from the frame playing at the position.
        let audio: Vec<TimedFrame> = frames.into_iter().filter(|t| t.track_index == 1).collect();
        let kept = trim_to_position(audio, &tracks, 3000);
        assert_eq!(kept[0].frame.dts, 2960);
    }

    #[test]
    fn pacing_keeps_a_lead_and_follows_rate_and_pause() {
        let start = Instant::now();
        let mut clock = PaceClock::new(start, 10_000, 1.0);
        assert_eq!(clock.due(12_000), start);
        assert_eq!(
            clock.due(20_000),
            start + std::time::Duration::from_millis(4_000)
        );
        let later = start + std::time::Duration::from_secs(2);
        assert_eq!(clock.position(later), 12_000);
        clock.set_rate(later, 2.0);
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(1)),
            14_000
        );
        clock.pause(later + std::time::Duration::from_secs(1));
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(30)),
            14_000
        );
        clock.resume(later + std::time::Duration::from_secs(30));
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(31)),
            16_000
        );
        // A second resume while running changes nothing.
        clock.resume(later + std::time::Duration::from_secs(31));
        assert_eq!(
            clock.position(later + std::time::Duration::from_secs(31)),
            16_000
        );
    }
}
