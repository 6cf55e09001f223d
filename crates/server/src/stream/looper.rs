//! Plays a file as a never-ending live stream: pass after pass, paced at real time,
//! with timestamps that keep increasing across passes.
//!
//! Sample bytes are read a little ahead (up to [`READ_AHEAD`] of media) on a blocking
//! thread, then each frame is pushed into the [`LiveStream`] when the wall clock
//! reaches its decode time. If the task falls far behind (a suspended machine), the
//! clock is re-anchored rather than bursting to catch up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use brume_media::index::{interleave, position_of, tracks_of, MediaFile, ReadError};
use brume_media::Frame;
use tokio::time::Instant;

use super::live::LiveStream;
use super::source::{OpenedFile, SharedReader};
use super::timeline::FileTimeline;

/// How much media is read from the file ahead of the wall clock.
const READ_AHEAD: Duration = Duration::from_millis(500);
/// Beyond this lateness the pacing clock is re-anchored.
const MAX_LATENESS: Duration = Duration::from_secs(2);

/// Why a looped file stopped playing.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("{}: the file has no samples", .0.display())]
    NoSamples(PathBuf),
    #[error("track {0} vanished")]
    TrackVanished(u32),
    #[error("reading sample {sample} of track {track}: {cause}")]
    Read {
        track: u32,
        sample: usize,
        cause: ReadError,
    },
    #[error("the reader task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// One frame ready to publish, with the moment it is due.
struct Due {
    at_ns: i64,
    frame: Frame,
}

/// Runs until a read fails (or the task is aborted).
pub async fn run(file: OpenedFile, live: Arc<LiveStream>) -> Result<(), LoopError> {
    let order = Arc::new(interleave(tracks_of(&*file.index)));
    if order.is_empty() {
        return Err(LoopError::NoSamples(file.path.clone()));
    }
    let timeline = FileTimeline::of(&*file.index);
    let mut anchor = Instant::now();
    let mut pass: u64 = 0;
    let mut position = 0usize;
    loop {
        // Read the next batch: every sample due within READ_AHEAD of the first one.
        let (batch, next_pass, next_position) = {
            let index = file.index.clone();
            let reader = file.reader.clone();
            let order = order.clone();
            tokio::task::spawn_blocking(move || {
                read_batch(&*index, &reader, &order, timeline, pass, position)
            })
            .await??
        };
        pass = next_pass;
        position = next_position;
        for due in batch {
            let at = anchor + Duration::from_nanos(due.at_ns.max(0) as u64);
            let now = Instant::now();
            if now > at + MAX_LATENESS {
                tracing::warn!(
                    late_ms = (now - at).as_millis() as u64,
                    "looped stream fell behind; re-anchoring its clock"
                );
                anchor += now - at;
            } else if at > now {
                tokio::time::sleep_until(at).await;
            }
            live.push(due.frame);
        }
    }
}

fn read_batch(
    index: &dyn MediaFile,
    reader: &SharedReader,
    order: &[(u32, usize)],
    timeline: FileTimeline,
    mut pass: u64,
    mut position: usize,
) -> Result<(Vec<Due>, u64, usize), LoopError> {
    let mut batch = Vec::new();
    let mut first_ns = None;
    loop {
        if position >= order.len() {
            position = 0;
            pass += 1;
        }
        let (track_id, sample) = order[position];
        let slot = position_of(index, track_id).ok_or(LoopError::TrackVanished(track_id))?;
        let (track, samples) = index
            .track_at(slot)
            .ok_or(LoopError::TrackVanished(track_id))?;
        let timescale = track.timescale;
        let dts = samples.get(sample).map(|s| s.dts).unwrap_or_default();
        let at_ns = timeline.output_ns(dts, timescale, pass);
        let first = *first_ns.get_or_insert(at_ns);
        if at_ns - first > READ_AHEAD.as_nanos() as i64 && !batch.is_empty() {
            return Ok((batch, pass, position));
        }
        let mut frame = index
            .read_sample(&**reader, slot, sample)
            .map_err(|cause| LoopError::Read {
                track: track_id,
                sample,
                cause,
            })?;
        frame.dts += timeline.offset_ticks(timescale, pass);
        batch.push(Due { at_ns, frame });
        position += 1;
    }
}
