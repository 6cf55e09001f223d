//! An on-demand stream: a file index, cut into segments, read on demand.
//!
//! The file is never loaded whole. At open, its samples are put in decode order and
//! cut into segments by brume-media's [`Segmenter`], the rule live streams use too
//! (whole GOPs of about 2 s, capped in bytes, forced cuts in keyframe-less files). Segments serve HLS/DASH and, one after
//! another, the progressive outputs; each is read on a blocking thread when needed.
//! [`VodStream::close`] (the stream was removed) ends every download in flight.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use brume_media::index::{decode_order, position_of, tracks_of, ReadError};
use brume_media::mp4::progressive::{Piece, ProgressiveError, ProgressiveMp4};
use brume_media::segment::{FrameInfo, SegmentLimits, Segmenter};
use brume_media::{scale_ticks, TimedFrame, Track, TrackKind};
use bytes::Bytes;

use super::cache::RenderCache;
use super::live::feed::{Format, ProgressiveMuxer};
use super::source::OpenedFile;
use super::timeline::FileTimeline;

/// Most bytes of rendered segments kept per on-demand stream.
const VOD_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Why an on-demand file cannot be indexed or read. Clone (causes shared) so the
/// seekable layout's failure can be kept and reported to every request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VodError {
    #[error("the file has no samples")]
    NoSamples,
    #[error("segment {0} does not exist")]
    NoSegment(usize),
    #[error("{}: no track {track}", path.display())]
    NoTrack { path: PathBuf, track: u32 },
    #[error("{}: {cause}", path.display())]
    Read {
        path: PathBuf,
        cause: Arc<ReadError>,
    },
    #[error("{}: {cause}", path.display())]
    Layout {
        path: PathBuf,
        cause: Arc<ProgressiveError>,
    },
    #[error("{}: sample {sample} of track {track} changed size", path.display())]
    Resized {
        path: PathBuf,
        sample: usize,
        track: u32,
    },
}

/// One segment of a file: samples `order[range]`, and its time span in ms (on the
/// output timeline, which starts at 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VodSegment {
    pub range: Range<usize>,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl VodSegment {
    pub fn duration_secs(&self) -> f64 {
        (self.end_ms - self.start_ms).max(0) as f64 / 1000.0
    }
}

#[derive(Debug)]
pub struct VodStream {
    pub file: OpenedFile,
    tracks: Vec<Track>,
    timeline: FileTimeline,
    /// Every sample in decode order: (track position, sample index); 8 bytes a
    /// sample (an hour of video and audio is ~300 000 of them).
    order: Vec<(u32, u32)>,
    segments: Vec<VodSegment>,
    /// Rendered segments, shared by every viewer.
    pub cache: RenderCache,
    /// Tells this index's segments from those of an earlier version of the file.
    pub instance: u64,
    /// The seekable MP4 layout, computed on first use.
    progressive: OnceLock<Result<Arc<ProgressiveMp4>, VodError>>,
    /// Fires when the stream is removed: downloads in flight end.
    closed: tokio_util::sync::CancellationToken,
}

impl VodStream {
    pub fn new(file: OpenedFile) -> Result<VodStream, VodError> {
        let list = tracks_of(&*file.index);
        let tracks: Vec<Track> = list.iter().map(|(t, _)| (*t).clone()).collect();
        let timeline = FileTimeline::of(&*file.index);
        // A sample is filed under the first track with its track's id.
        let filed: Vec<Option<u32>> = tracks
            .iter()
            .map(|t| {
                let first = tracks.iter().position(|u| u.id == t.id)?;
                u32::try_from(first).ok()
            })
            .collect();
        let total = list.iter().map(|(_, s)| s.len()).sum();
        let mut order: Vec<(u32, u32)> = Vec::with_capacity(total);
        for (position, i) in decode_order(&list) {
            let filed = filed.get(position).copied().flatten();
            if let (Some(position), Ok(i)) = (filed, u32::try_from(i)) {
                order.push((position, i));
            }
        }
        if order.is_empty() {
            return Err(VodError::NoSamples);
        }
        let has_video = tracks.iter().any(|t| t.kind() == TrackKind::Video);
        let output_ms = |position: usize, index: usize| -> i64 {
            let (track, samples) = list[position];
            let dts = samples.get(index).map(|s| s.dts).unwrap_or(0);
            timeline.output_ns(dts, track.timescale, 0) / 1_000_000
        };
        let mut segments = Vec::new();
        let mut start = 0usize;
        let mut start_ms = 0i64;
        let mut segmenter = Segmenter::new(SegmentLimits::default(), has_video).opened_at(0);
        for (i, &(position, index)) in order.iter().enumerate() {
            let (position, index) = (position as usize, index as usize);
            let (track, samples) = list[position];
            let Some(sample) = samples.get(index) else {
                continue;
            };
            let ms = output_ms(position, index);
            let cut = segmenter.push(FrameInfo {
                ms,
                is_video: track.kind() == TrackKind::Video,
                keyframe: sample.keyframe,
                bytes: u64::from(sample.size),
            });
            if i > start && cut.is_some() {
                segments.push(VodSegment {
                    range: start..i,
                    start_ms,
                    end_ms: ms,
                });
                start = i;
                start_ms = ms;
            }
        }
        segments.push(VodSegment {
            range: start..order.len(),
            start_ms,
            end_ms: (timeline.period_ns / 1_000_000).max(start_ms),
        });
        Ok(VodStream {
            file,
            tracks,
            timeline,
            order,
            segments,
            cache: RenderCache::new(VOD_CACHE_BYTES),
            instance: super::next_instance(),
            progressive: OnceLock::new(),
            closed: Default::default(),
        })
    }

    /// Ends every download of this file in flight (the stream was removed).
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Whether [`VodStream::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Completes once the stream is closed.
    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.closed.cancelled()
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    pub fn segments(&self) -> &[VodSegment] {
        &self.segments
    }

    pub fn duration_ms(&self) -> i64 {
        self.timeline.period_ns / 1_000_000
    }

    /// Reads segment `n`'s frames with their durations, on the output timeline
    /// (blocking: call from a blocking thread).
    pub fn segment_frames(&self, n: usize) -> Result<Vec<TimedFrame>, VodError> {
        let segment = self.segments.get(n).ok_or(VodError::NoSegment(n))?;
        let index = &*self.file.index;
        let mut out = Vec::with_capacity(segment.range.len());
        for &(position, sample) in &self.order[segment.range.clone()] {
            let (position, sample) = (position as usize, sample as usize);
            let Some((track, samples)) = index.track_at(position) else {
                continue;
            };
            let duration = samples.get(sample).map(|s| s.duration).unwrap_or(0);
            let mut frame = index
                .read_sample(&*self.file.reader, position, sample)
                .map_err(|e| self.read_error(e))?;
            frame.dts += self.timeline.offset_ticks(track.timescale, 0);
            out.push(TimedFrame {
                track_index: position,
                frame,
                duration_ticks: duration,
            });
        }
        Ok(out)
    }

    /// The seekable MP4 layout of the whole file (computed once; blocking).
    pub fn progressive_mp4(&self) -> Result<Arc<ProgressiveMp4>, VodError> {
        self.progressive
            .get_or_init(|| {
                // Borrowed from the file's index: no copy of the samples.
                ProgressiveMp4::from_slices(&tracks_of(&*self.file.index))
                    .map(Arc::new)
                    .map_err(|e| VodError::Layout {
                        path: self.file.path.clone(),
                        cause: Arc::new(e),
                    })
            })
            .clone()
    }

    /// Bytes `[start, end)` of the seekable MP4 (blocking). Sample bytes come from
    /// the source; a sample whose size changed since indexing is an error.
    pub fn progressive_bytes(
        &self,
        layout: &ProgressiveMp4,
        start: u64,
        end: u64,
    ) -> Result<Vec<Bytes>, VodError> {
        let index = &*self.file.index;
        let mut out = Vec::new();
        for piece in layout.pieces(start..end) {
            match piece {
                Piece::Header(range) => out.push(layout.header().slice(range)),
                Piece::Sample {
                    track_id,
                    index: sample,
                    within,
                } => {
                    let position =
                        position_of(index, track_id).ok_or_else(|| VodError::NoTrack {
                            path: self.file.path.clone(),
                            track: track_id,
                        })?;
                    let frame = index
                        .read_sample(&*self.file.reader, position, sample)
                        .map_err(|e| self.read_error(e))?;
                    let range = within.start as usize..within.end as usize;
                    if range.end > frame.data.len() {
                        return Err(VodError::Resized {
                            path: self.file.path.clone(),
                            sample,
                            track: track_id,
                        });
                    }
                    out.push(frame.data.slice(range));
                }
            }
        }
        Ok(out)
    }

    fn read_error(&self, cause: ReadError) -> VodError {
        VodError::Read {
            path: self.file.path.clone(),
            cause: Arc::new(cause),
        }
    }

    /// Where segment `n` starts in `track`'s timescale on the output timeline.
    pub fn segment_start_ticks(&self, n: usize, timescale: u32) -> i64 {
        self.segments
            .get(n)
            .map(|s| scale_ticks(s.start_ms, 1000, timescale))
            .unwrap_or(0)
    }
}

/// Streams a whole on-demand file in `format` into `sender`, one segment at a time
/// (read and muxed on a blocking thread); stops early when the receiver is gone or
/// the stream is closed (the response then ends).
pub async fn send_all(
    vod: Arc<VodStream>,
    format: Format,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let watched = vod.clone();
    tokio::select! {
        () = send_all_segments(vod, format, sender) => {}
        () = watched.closed() => {}
    }
}

async fn send_all_segments(
    vod: Arc<VodStream>,
    format: Format,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let duration = u64::try_from(vod.duration_ms()).ok();
    let (muxer, header) = match ProgressiveMuxer::new(format, vod.tracks(), duration) {
        Ok(made) => made,
        Err(message) => {
            let _ = sender.send(Err(std::io::Error::other(message))).await;
            return;
        }
    };
    if sender.send(Ok(header)).await.is_err() {
        return;
    }
    let mut muxer = Some(muxer);
    for n in 0..vod.segments().len() {
        let job = vod.clone();
        let Some(mut muxer_now) = muxer.take() else {
            return;
        };
        let result = tokio::task::spawn_blocking(move || {
            let bytes = job
                .segment_frames(n)
                .map_err(std::io::Error::other)
                .and_then(|frames| {
                    muxer_now
                        .mux(job.tracks(), &frames, true)
                        .map_err(std::io::Error::other)
                });
            (muxer_now, bytes)
        })
        .await;
        let item = match result {
            Ok((returned, Ok(bytes))) => {
                muxer = Some(returned);
                Ok(bytes)
            }
            Ok((_, Err(err))) => {
                tracing::warn!(%err, "on-demand read failed; ending the response");
                Err(err)
            }
            Err(join) => Err(std::io::Error::other(join)),
        };
        let failed = item.is_err();
        if sender.send(item).await.is_err() || failed {
            return;
        }
    }
}

/// Bytes per blocking read when streaming the seekable MP4.
const PROGRESSIVE_CHUNK: u64 = 512 * 1024;

/// Streams bytes `[start, end)` of the seekable MP4 into `sender`; stops early
/// when the receiver is gone or the stream is closed.
pub async fn send_progressive_range(
    vod: Arc<VodStream>,
    layout: Arc<ProgressiveMp4>,
    start: u64,
    end: u64,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let watched = vod.clone();
    tokio::select! {
        () = send_range(vod, layout, start, end, sender) => {}
        () = watched.closed() => {}
    }
}

async fn send_range(
    vod: Arc<VodStream>,
    layout: Arc<ProgressiveMp4>,
    start: u64,
    end: u64,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let mut at = start;
    while at < end {
        let until = (at + PROGRESSIVE_CHUNK).min(end);
        let (job, layout_now) = (vod.clone(), layout.clone());
        let result =
            tokio::task::spawn_blocking(move || job.progressive_bytes(&layout_now, at, until))
                .await;
        let pieces = match result {
            Ok(Ok(pieces)) => pieces,
            Ok(Err(err)) => {
                tracing::warn!(%err, "on-demand read failed; ending the response");
                let _ = sender.send(Err(std::io::Error::other(err))).await;
                return;
            }
            Err(join) => {
                let _ = sender.send(Err(std::io::Error::other(join))).await;
                return;
            }
        };
        for piece in pieces {
            if sender.send(Ok(piece)).await.is_err() {
                return;
            }
        }
        at = until;
    }
}
