//! An on-demand viewer's reader: one segment (a GOP or more) at a time, read and
//! muxed on a blocking thread for this viewer's format and track selection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use brume_media::{scale_ticks, TimedFrame, Track, TrackKind};
use bytes::Bytes;
use tokio::task::JoinHandle;

use super::{Chunk, ReadError, SubscribeError};
use crate::stream::live::feed::{group_start_ms, select, Format, ProgressiveMuxer};
use crate::stream::selection::Selection;
use crate::stream::vod::VodStream;

type Render = JoinHandle<(ProgressiveMuxer, Result<Option<Chunk>, ReadError>)>;

/// An on-demand viewer's position in a file.
#[derive(Debug)]
pub struct VodReader {
    vod: Arc<VodStream>,
    selection: Arc<Selection>,
    /// Here between segments; on the blocking thread while one renders.
    muxer: Option<ProgressiveMuxer>,
    next_segment: usize,
    /// For the first segment: the requested position (ms).
    trim_ms: Option<i64>,
    render: Option<Render>,
}

impl VodReader {
    /// Starts at `position_ms` (from the keyframe at or before it), or at the
    /// beginning; also returns the header.
    pub fn start(
        vod: Arc<VodStream>,
        format: Format,
        selection: Arc<Selection>,
        position_ms: Option<i64>,
    ) -> Result<(Bytes, VodReader), SubscribeError> {
        let duration = u64::try_from(vod.duration_ms()).ok();
        let (muxer, header) = ProgressiveMuxer::new(format, &selection.tracks, duration)?;
        let position_ms = position_ms.map(|ms| ms.clamp(0, vod.duration_ms().max(0)));
        let next_segment = position_ms.map_or(0, |ms| {
            vod.segments()
                .partition_point(|s| s.start_ms <= ms)
                .saturating_sub(1)
        });
        let reader = VodReader {
            vod,
            selection,
            muxer: Some(muxer),
            next_segment,
            trim_ms: position_ms,
            render: None,
        };
        Ok((header, reader))
    }

    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Chunk, ReadError>>> {
        loop {
            if self.render.is_none() {
                if self.next_segment >= self.vod.segments().len() || self.vod.is_closed() {
                    return Poll::Ready(None);
                }
                let Some(muxer) = self.muxer.take() else {
                    return Poll::Ready(None);
                };
                let (vod, selection) = (self.vod.clone(), self.selection.clone());
                let (n, trim) = (self.next_segment, self.trim_ms.take());
                self.render = Some(tokio::task::spawn_blocking(move || {
                    let mut muxer = muxer;
                    let result = render_segment(&vod, &selection, &mut muxer, n, trim);
                    (muxer, result)
                }));
            }
            let Some(render) = self.render.as_mut() else {
                continue;
            };
            let joined = match Pin::new(render).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(joined) => joined,
            };
            self.render = None;
            self.next_segment += 1;
            match joined {
                Ok((muxer, result)) => {
                    self.muxer = Some(muxer);
                    match result {
                        Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                        Ok(None) => {}
                        Err(err) => {
                            self.next_segment = usize::MAX;
                            return Poll::Ready(Some(Err(err)));
                        }
                    }
                }
                Err(join) => {
                    self.next_segment = usize::MAX;
                    return Poll::Ready(Some(Err(join.into())));
                }
            }
        }
    }
}

impl Drop for VodReader {
    fn drop(&mut self) {
        if let Some(render) = self.render.take() {
            render.abort();
        }
    }
}

/// Reads segment `n` and muxes the selected tracks' frames into one chunk
/// (blocking). `Ok(None)`: nothing of the selection in it.
fn render_segment(
    vod: &VodStream,
    selection: &Selection,
    muxer: &mut ProgressiveMuxer,
    n: usize,
    trim_ms: Option<i64>,
) -> Result<Option<Chunk>, ReadError> {
    let mut frames = vod.segment_frames(n).map_err(ReadError::File)?;
    if let Some(position_ms) = trim_ms {
        frames = trim_to_position(frames, vod.tracks(), position_ms);
    }
    let selected = select(selection, &frames);
    let Some(start_ms) = group_start_ms(&selection.tracks, &selected) else {
        return Ok(None);
    };
    let bytes = muxer.mux(&selection.tracks, &selected, true)?;
    Ok(Some(Chunk {
        bytes,
        header: false,
        keyframe: true,
        start_ms: Some(start_ms),
    }))
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
        let Some((index, found)) = keyframe else {
            return frames;
        };
        let cut_ms = ms(found.track_index, found.frame.dts);
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
                ms(
                    t.track_index,
                    t.frame.dts.saturating_add(i64::from(t.duration_ticks)),
                ) > position_ms
            })
            .collect()
    }
}
