//! One viewer's read of a stream: every live or on-demand viewer (progressive
//! HTTP MP4/TS/FLV, MP4 over WebSocket, RTMP play) reads through a
//! [`Subscription`], and its metrics viewer session is opened here
//! ([`Audience::open`]).
//!
//! A subscription yields [`Chunk`]s of one progressive [`Format`] for one track
//! [`Selection`]: the format's header first, then media. An output is a small
//! adapter that writes chunks to its transport (an HTTP body, WebSocket messages,
//! RTMP messages re-framed from FLV tags). It starts
//! * at the live edge: from the shared feed of (format, selection) — muxed once
//!   for all its viewers — at its latest keyframe ([`live`]);
//! * back in the DVR window ([`Start::At`]): from the keyframe at or before that
//!   time, muxed for this viewer from the ring until it has caught up, then on the
//!   shared feed, without a gap or an overlap;
//! * in a file ([`vod`]): from the keyframe at or before the time, one segment
//!   at a time, muxed on a blocking thread.
//!
//! A live viewer that falls more than the feed's capacity behind (or out of the
//! DVR window while catching up) resumes at the next keyframe; each such skip
//! counts in `brume_viewer_skips_total{stream,protocol}`.

pub mod frames;
pub mod live;
pub mod vod;

use std::future::poll_fn;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::live::feed::{Format, MuxError};
use super::media::Media;
use super::selection::Selection;
use crate::metrics::{Metrics, Protocol, Viewer};

/// Who a subscription serves: what its metrics viewer session is filed under.
#[derive(Debug, Clone)]
pub struct Audience {
    pub metrics: Arc<Metrics>,
    pub stream: String,
    pub protocol: Protocol,
    pub ip: IpAddr,
}

impl Audience {
    /// Opens the viewer session (it ends when the last holder drops it). The one
    /// place viewer sessions of connected viewers are opened.
    pub fn open(&self) -> Arc<Viewer> {
        Arc::new(
            self.metrics
                .open_viewer(&self.stream, self.protocol, self.ip),
        )
    }
}

/// A viewer session for unit tests (on a metrics instance of its own).
#[cfg(test)]
pub fn test_viewer() -> Arc<Viewer> {
    let metrics = Arc::new(Metrics::default());
    Arc::new(metrics.open_viewer("test", Protocol::Mp4, IpAddr::from([127, 0, 0, 1])))
}

/// Where a viewer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Live: the latest keyframe. On demand: the beginning.
    Edge,
    /// Media time in ms: live, inside the DVR window (clamped to it); on demand,
    /// in the file.
    At(i64),
}

/// Why a viewer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error("the stream has ended")]
    Ended,
    #[error("cannot mux the selected tracks: {0}")]
    Mux(#[from] MuxError),
}

/// Why a subscription stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("muxing failed: {0}")]
    Mux(#[from] MuxError),
    #[error("reading the file failed: {0}")]
    File(crate::stream::vod::VodError),
    #[error("the reading task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A piece of a viewer's byte stream.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub bytes: Bytes,
    /// The format's header (init segment, PAT/PMT, FLV header and metadata).
    pub header: bool,
    /// A decoder may start here.
    pub keyframe: bool,
    /// Media time (ms) of the chunk's earliest frame (media chunks).
    pub start_ms: Option<i64>,
}

#[derive(Debug)]
enum Source {
    Live(live::LiveReader),
    Vod(vod::VodReader),
}

/// One viewer's read of a stream.
#[derive(Debug)]
pub struct Subscription {
    header: Option<Bytes>,
    source: Source,
    selection: Arc<Selection>,
    viewer: Arc<Viewer>,
}

impl Subscription {
    /// Starts reading `media` as `format`, for `selection`, from `start`; bytes
    /// handed out count for `viewer`.
    pub fn open(
        media: &Media,
        format: Format,
        selection: Arc<Selection>,
        start: Start,
        viewer: Arc<Viewer>,
    ) -> Result<Subscription, SubscribeError> {
        let (header, source) = match media {
            Media::Live(stream) => {
                let (header, reader) = live::LiveReader::start(
                    stream.clone(),
                    format,
                    selection.clone(),
                    start,
                    viewer.clone(),
                )?;
                (header, Source::Live(reader))
            }
            Media::Vod(file) => {
                let position = match start {
                    Start::Edge => None,
                    Start::At(ms) => Some(ms),
                };
                let (header, reader) =
                    vod::VodReader::start(file.clone(), format, selection.clone(), position)?;
                (header, Source::Vod(reader))
            }
        };
        Ok(Subscription {
            header: Some(header),
            source,
            selection,
            viewer,
        })
    }

    /// The tracks this viewer receives.
    pub fn selection(&self) -> &Arc<Selection> {
        &self.selection
    }

    /// Leaves out the header (the viewer has it from an earlier subscription).
    pub fn skip_header(&mut self) {
        self.header = None;
    }

    /// Whether a live viewer is on the shared feed (at the live edge).
    pub fn at_live_edge(&self) -> bool {
        match &self.source {
            Source::Live(reader) => reader.on_feed(),
            Source::Vod(_) => false,
        }
    }

    /// The next chunk; `None` once the stream (or file) ended.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Chunk, ReadError>>> {
        let polled = match self.header.take() {
            Some(bytes) => Poll::Ready(Some(Ok(Chunk {
                bytes,
                header: true,
                keyframe: false,
                start_ms: None,
            }))),
            None => match &mut self.source {
                Source::Live(reader) => reader.poll_next(cx),
                Source::Vod(reader) => reader.poll_next(cx),
            },
        };
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.viewer.sent(chunk.bytes.len() as u64);
        }
        polled
    }

    /// The next chunk; cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Chunk, ReadError>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }
}
