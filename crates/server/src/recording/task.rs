//! One recording: a subscriber of a live stream (like any viewer, through
//! [`Subscription`], so muxing is the shared feed's) that cuts the byte stream
//! into segments at keyframes and hands each finished one to
//! [`RecordingFolder::write_segment`] on the blocking pool.
//!
//! The open segment is held in memory (at most [`MAX_SEGMENT_BYTES`]): a crash
//! loses it and nothing else. A failed write ends the recording with an error;
//! the live stream and its viewers never notice.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::index::{RecordingFolder, SegmentEntry, WriteError};
use super::settings::{RecordConfig, RecordFormat};
use super::{path, retention, unix_ms, RecordingCounts};
use crate::metrics::{Metrics, Protocol};
use crate::stream::live::feed::Format;
use crate::stream::live::LiveStream;
use crate::stream::media::Media;
use crate::stream::selection::Selection;
use crate::stream::subscription::{ReadError, Start, SubscribeError, Subscription};

/// A segment is cut at the next keyframe past this many bytes even before its
/// target length, and cut regardless at twice it.
pub const MAX_SEGMENT_BYTES: usize = 64 * 1024 * 1024;
/// A keyframe this close before the target length still ends the segment (a
/// chunk's time is its earliest frame's, often audio a few ms before the
/// keyframe).
const SEGMENT_SLACK_MS: i64 = 250;

/// Why a recording stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("cannot read the stream: {0}")]
    Subscribe(#[from] SubscribeError),
    #[error("reading the stream failed: {0}")]
    Read(#[from] ReadError),
    #[error("the writing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What a running recording has done so far (shown by the API).
#[derive(Debug, Default)]
pub struct Progress {
    pub folder: Mutex<Option<PathBuf>>,
    pub bytes: AtomicU64,
    pub segments: AtomicU64,
}

/// Everything one recording needs.
#[derive(Debug)]
pub struct Job {
    pub stream: String,
    pub live: Arc<LiveStream>,
    pub settings: RecordConfig,
    pub base: PathBuf,
    pub stop: CancellationToken,
    pub progress: Arc<Progress>,
    pub counts: Arc<RecordingCounts>,
}

/// How a recording went, for RECORDING_END.
#[derive(Debug, Default)]
pub struct Summary {
    pub folder: Option<PathBuf>,
    pub bytes: u64,
    pub started_unix_ms: i64,
    pub ended_unix_ms: i64,
    pub writing_s: u64,
    pub first_media_ms: Option<i64>,
    pub last_media_ms: Option<i64>,
}

struct OpenSegment {
    data: Vec<u8>,
    header_bytes: usize,
    media_start_ms: i64,
    last_media_ms: i64,
}

/// Records `job.live` until it ends or `job.stop` fires; the summary comes
/// back either way, with the error that ended it, if any.
pub async fn run(job: Job) -> (Summary, Result<(), RecordError>) {
    let started = Instant::now();
    let mut summary = Summary {
        started_unix_ms: unix_ms(),
        ..Summary::default()
    };
    let result = record(&job, &mut summary).await;
    summary.ended_unix_ms = unix_ms();
    summary.writing_s = started.elapsed().as_secs();
    (summary, result)
}

async fn record(job: &Job, summary: &mut Summary) -> Result<(), RecordError> {
    let target = path::expand(
        &job.settings.path,
        &job.stream,
        summary.started_unix_ms,
        &job.base,
    );
    let mut folder =
        tokio::task::spawn_blocking(move || RecordingFolder::create(&target)).await??;
    summary.folder = Some(folder.path.clone());
    *job.progress
        .folder
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(folder.path.clone());
    tracing::info!(stream = %job.stream, folder = %folder.path.display(), "recording started");
    let format = match job.settings.format {
        RecordFormat::Fmp4 => Format::Mp4,
        RecordFormat::Ts => Format::Ts,
    };
    // A metrics instance of its own: a recording is not a viewer.
    let viewer = Arc::new(Arc::new(Metrics::default()).open_viewer(
        &job.stream,
        Protocol::Mp4,
        IpAddr::from([127, 0, 0, 1]),
    ));
    let mut subscription = Subscription::open(
        &Media::Live(job.live.clone()),
        format,
        Arc::new(Selection::all(job.live.tracks())),
        Start::Edge,
        viewer,
    )?;
    let segment_ms = i64::from(job.settings.segment_s) * 1000;
    let mut header = Bytes::new();
    let mut open: Option<OpenSegment> = None;
    loop {
        let read = tokio::select! {
            () = job.stop.cancelled() => break,
            read = subscription.next() => read,
        };
        let Some(chunk) = read.transpose()? else {
            break;
        };
        if chunk.header {
            header = chunk.bytes;
            continue;
        }
        let at = chunk.start_ms.or(open.as_ref().map(|s| s.last_media_ms));
        let at = at.unwrap_or(0);
        if let Some(segment) = &open {
            let long = at - segment.media_start_ms >= segment_ms - SEGMENT_SLACK_MS;
            let big = segment.data.len() >= MAX_SEGMENT_BYTES;
            if (chunk.keyframe && (long || big)) || segment.data.len() >= 2 * MAX_SEGMENT_BYTES {
                let segment = open.take().expect("checked");
                folder = finish(job, folder, segment, at, summary).await?;
            }
        }
        if open.is_none() {
            if !chunk.keyframe {
                continue;
            }
            let mut data = Vec::with_capacity(header.len() + chunk.bytes.len());
            data.extend_from_slice(&header);
            open = Some(OpenSegment {
                data,
                header_bytes: header.len(),
                media_start_ms: at,
                last_media_ms: at,
            });
        }
        let segment = open.as_mut().expect("opened above");
        segment.data.extend_from_slice(&chunk.bytes);
        segment.last_media_ms = segment.last_media_ms.max(at);
    }
    if let Some(segment) = open.take() {
        let end = segment.last_media_ms;
        finish(job, folder, segment, end, summary).await?;
    }
    Ok(())
}

/// Writes a finished segment (and applies retention) on the blocking pool.
async fn finish(
    job: &Job,
    mut folder: RecordingFolder,
    segment: OpenSegment,
    end_media_ms: i64,
    summary: &mut Summary,
) -> Result<RecordingFolder, RecordError> {
    let start_unix_ms = job
        .live
        .epoch_unix_ms()
        .map_or_else(unix_ms, |epoch| epoch + segment.media_start_ms);
    let entry = SegmentEntry {
        stream: job.stream.clone(),
        format: job.settings.format,
        file: String::new(),
        sequence: 0,
        start_unix_ms,
        media_start_ms: segment.media_start_ms,
        duration_ms: (end_media_ms - segment.media_start_ms).max(0) as u64,
        bytes: 0,
        header_bytes: segment.header_bytes as u64,
    };
    let root = path::root(&job.settings.path, &job.stream, &job.base);
    let limits = job.settings.retention;
    let (folder, written) = tokio::task::spawn_blocking(move || {
        let written = folder.write_segment(&segment.data, entry);
        if written.is_ok() {
            retention::apply(&root, &limits, unix_ms(), Some(&folder.path));
        }
        (folder, written)
    })
    .await?;
    let entry = written?;
    job.progress.bytes.fetch_add(entry.bytes, Ordering::Relaxed);
    job.progress.segments.fetch_add(1, Ordering::Relaxed);
    job.counts.add_bytes(&job.stream, entry.bytes);
    summary.bytes += entry.bytes;
    summary.first_media_ms.get_or_insert(entry.media_start_ms);
    summary.last_media_ms = Some(end_media_ms);
    tracing::debug!(stream = %job.stream, file = %entry.file, bytes = entry.bytes, "segment recorded");
    Ok(folder)
}
