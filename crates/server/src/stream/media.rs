//! One view over live and on-demand streams for the segmented outputs (HLS, DASH):
//! their tracks, their segment list and render-once access to segment bytes.

use std::sync::Arc;

use brume_media::index::tracks_of;
use brume_media::{Frame, TimedFrame, Track};
use bytes::Bytes;

use super::cache::{RenderCache, Rendition};
use super::live::feed::mux_fmp4;
use super::live::LiveStream;
use super::vod::VodStream;

/// A stream that has segments.
#[derive(Debug, Clone)]
pub enum Media {
    Live(Arc<LiveStream>),
    Vod(Arc<VodStream>),
}

/// A complete segment as playlists list it: its sequence number and its span
/// (ms on the stream's output timeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRef {
    pub sequence: u64,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Media {
    pub fn tracks(&self) -> &[Track] {
        match self {
            Media::Live(live) => live.tracks(),
            Media::Vod(vod) => vod.tracks(),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, Media::Live(_))
    }

    pub fn instance(&self) -> u64 {
        match self {
            Media::Live(live) => live.instance,
            Media::Vod(vod) => vod.instance,
        }
    }

    pub fn cache(&self) -> &RenderCache {
        match self {
            Media::Live(live) => &live.cache,
            Media::Vod(vod) => &vod.cache,
        }
    }

    /// Every complete segment, oldest first (live: those in the DVR window).
    pub fn segments(&self) -> Vec<SegmentRef> {
        match self {
            Media::Live(live) => live
                .segments()
                .into_iter()
                .map(|s| SegmentRef {
                    sequence: s.sequence,
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                })
                .collect(),
            Media::Vod(vod) => vod
                .segments()
                .iter()
                .enumerate()
                .map(|(i, s)| SegmentRef {
                    sequence: i as u64,
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                })
                .collect(),
        }
    }

    /// Bits per second of each track (in [`Media::tracks`] order), estimated from
    /// the window (live) or the whole file (on demand); at least 1.
    pub fn track_bitrates(&self) -> Vec<u64> {
        match self {
            Media::Live(live) => live
                .track_stats()
                .iter()
                .map(|s| (s.bytes_per_sec * 8).max(1))
                .collect(),
            Media::Vod(vod) => tracks_of(&*vod.file.index)
                .iter()
                .map(|(track, samples)| {
                    let bytes: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
                    let span = match (samples.first(), samples.last()) {
                        (Some(a), Some(b)) => b.dts + i64::from(b.duration) - a.dts,
                        _ => 0,
                    };
                    let ms = brume_media::scale_ticks(span, track.timescale, 1000).max(1) as u64;
                    (bytes * 8 * 1000 / ms).max(1)
                })
                .collect(),
        }
    }

    /// Sequence number of the newest complete segment: the version of the
    /// segment list, which playlists are cached by.
    pub fn newest_sequence(&self) -> Option<u64> {
        match self {
            Media::Live(live) => live.newest_sequence(),
            Media::Vod(vod) => vod.segments().len().checked_sub(1).map(|n| n as u64),
        }
    }

    /// Changes whenever the segment list (and with it every document) changes;
    /// on-demand streams never change.
    pub fn version(&self) -> u64 {
        match self {
            Media::Live(live) => live.version(),
            Media::Vod(_) => 0,
        }
    }

    /// Unix time (ms) of media time zero (live streams).
    pub fn epoch_unix_ms(&self) -> Option<i64> {
        match self {
            Media::Live(live) => live.epoch_unix_ms(),
            Media::Vod(_) => None,
        }
    }

    /// The bytes of segment `sequence` in `rendition`, rendered at most once.
    /// `Ok(None)`: no such segment (never was, not complete yet, or left the window).
    pub async fn segment(
        &self,
        sequence: u64,
        rendition: Rendition,
    ) -> Result<Option<Bytes>, SegmentError> {
        if let Rendition::Cmaf(id) | Rendition::CmafPart(id, _) = rendition {
            if !self.tracks().iter().any(|t| t.id == id) {
                return Ok(None);
            }
        }
        match self {
            Media::Live(live) => {
                if !live.has_segment(sequence) {
                    return Ok(None);
                }
                let result = live.cache.get_or_render(sequence, rendition, || {
                    let (_, frames) = live
                        .segment_frames(sequence)
                        .ok_or(SegmentError::LeftWindow)?;
                    render(live.tracks(), &frames, rendition, sequence)
                });
                match result {
                    Ok(bytes) => Ok(Some(bytes)),
                    // Evicted between the check and the render: it is gone.
                    Err(_) if !live.has_segment(sequence) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Media::Vod(vod) => {
                let Ok(n) = usize::try_from(sequence) else {
                    return Ok(None);
                };
                if n >= vod.segments().len() {
                    return Ok(None);
                }
                let vod = vod.clone();
                tokio::task::spawn_blocking(move || {
                    vod.cache.get_or_render(sequence, rendition, || {
                        let frames = vod.segment_frames(n).map_err(SegmentError::Read)?;
                        render(vod.tracks(), &frames, rendition, sequence)
                    })
                })
                .await?
                .map(Some)
            }
        }
    }
}

impl Media {
    /// The bytes of part `part` of segment `sequence` of track `track`, rendered
    /// at most once. A part in progress, or the one right after it, is waited
    /// for up to `wait`. `Ok(None)`: no such part (on-demand streams have none),
    /// or it did not complete in time.
    pub async fn part(
        &self,
        sequence: u64,
        part: u32,
        track: u32,
        wait: std::time::Duration,
    ) -> Result<Option<Bytes>, SegmentError> {
        let Media::Live(live) = self else {
            return Ok(None);
        };
        if !self.tracks().iter().any(|t| t.id == track) {
            return Ok(None);
        }
        let wanted = (sequence, part);
        let complete =
            |live: &LiveStream| live.part(sequence, part).is_some_and(|p| p.is_complete());
        if !complete(live) {
            let Some(current) = live.part_in_progress() else {
                return Ok(None);
            };
            let next = [(current.0, current.1.saturating_add(1)), (current.0 + 1, 0)];
            if wanted != current && !next.contains(&wanted) {
                return Ok(None);
            }
            // Ready once it completed, or once something after it did (a part
            // that will never come).
            live.wait_until(wait, || {
                complete(live) || live.newest_complete_part().is_some_and(|n| n > wanted)
            })
            .await;
            if !complete(live) {
                return Ok(None);
            }
        }
        let rendition = Rendition::CmafPart(track, part);
        let result = live.cache.get_or_render(sequence, rendition, || {
            let frames = live
                .part_frames(sequence, part)
                .ok_or(SegmentError::LeftWindow)?;
            let number = (sequence as u32)
                .wrapping_add(1)
                .wrapping_mul(256)
                .wrapping_add(part);
            render_track(live.tracks(), &frames, track, sequence, number)
        });
        match result {
            Ok(bytes) => Ok(Some(bytes)),
            Err(_) if live.part(sequence, part).is_none() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Muxes one segment's frames in `rendition`.
fn render(
    tracks: &[Track],
    frames: &[TimedFrame],
    rendition: Rendition,
    sequence: u64,
) -> Result<Bytes, SegmentError> {
    match rendition {
        Rendition::Ts => mux_ts(tracks, frames),
        Rendition::Cmaf(id) | Rendition::CmafPart(id, _) => render_track(
            tracks,
            frames,
            id,
            sequence,
            (sequence as u32).wrapping_add(1),
        ),
    }
}

/// Muxes the frames of track `id` among `frames` as one fMP4 fragment with
/// `number` as its sequence number.
fn render_track(
    tracks: &[Track],
    frames: &[TimedFrame],
    id: u32,
    sequence: u64,
    number: u32,
) -> Result<Bytes, SegmentError> {
    let position = tracks
        .iter()
        .position(|t| t.id == id)
        .ok_or(SegmentError::NoTrack(id))?;
    let only: Vec<TimedFrame> = frames
        .iter()
        .filter(|t| t.track_index == position)
        .cloned()
        .collect();
    if only.is_empty() {
        return Err(SegmentError::NoFrames {
            sequence,
            track: id,
        });
    }
    Ok(mux_fmp4(tracks, &only, number)?)
}

fn mux_ts(tracks: &[Track], frames: &[TimedFrame]) -> Result<Bytes, SegmentError> {
    let mut frames: Vec<Frame> = frames.iter().map(|t| t.frame.clone()).collect();
    // A segment cut by force (keyframe-less publisher) starts with an inter frame:
    // mux it as a random access point so it carries the parameter sets and a
    // player can at least start decoding there.
    let first_video = frames.iter_mut().find(|f| {
        tracks
            .iter()
            .any(|t| t.id == f.track && t.kind() == brume_media::TrackKind::Video)
    });
    if let Some(first) = first_video {
        first.keyframe = true;
    }
    Ok(brume_media::mpegts::mux_segment(tracks, &frames)?)
}

/// Why a segment could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("the segment left the window")]
    LeftWindow,
    #[error("no track {0}")]
    NoTrack(u32),
    #[error("segment {sequence} has no frames of track {track}")]
    NoFrames { sequence: u64, track: u32 },
    #[error("reading the segment's samples: {0}")]
    Read(super::vod::VodError),
    #[error("muxing the fMP4 segment: {0}")]
    Fmp4(#[from] super::live::feed::MuxError),
    #[error("muxing the MPEG-TS segment: {0}")]
    Ts(#[from] brume_media::mpegts::TsError),
    #[error("the render task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
