//! Live pushes: who publishes to a `push://` stream, and its online/offline
//! lifecycle.
//!
//! A publisher takes the stream's slot with [`StreamEntry::begin_publish`]
//! (refused while another one holds it, or when the stream is not a push
//! stream). The stream goes online at the first video keyframe (or first frame of
//! an audio-only push). When the publisher leaves, the stream stays online for a
//! grace period: a publisher that comes back within it continues the same
//! timeline (its timestamps are shifted to follow the last frame), so viewers carry
//! on. After the grace period the buffer is dropped and the stream goes offline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brume_media::{Frame, Track, TrackKind};

use super::live::LiveStream;
use super::{StreamEntry, StreamState, DEFAULT_DVR_WINDOW_MS};
use crate::config::SourceSpec;

/// How long a live push stays online after its publisher left.
pub const GRACE_PERIOD: Duration = Duration::from_secs(5);
/// Gap put between the last frame of a publisher and the first of the next one.
const RECONNECT_GAP_MS: i64 = 40;

/// Why a publish was refused (said to the client; never contains secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    #[error("stream is not configured for pushes")]
    NotPush,
    #[error("another publisher is already live on this stream")]
    Busy,
    #[error("the stream was removed")]
    Removed,
}

/// The push state of one stream.
#[derive(Debug, Default)]
pub struct PushSlot {
    /// A publisher holds the slot.
    active: bool,
    /// Counts publishers; a grace timer only acts if no newer one came.
    generation: u64,
    /// The live stream kept through the grace period, and where its timeline ended.
    kept: Option<(Arc<LiveStream>, i64)>,
}

impl StreamEntry {
    /// Takes the publishing slot of this stream.
    pub fn begin_publish(self: &Arc<Self>) -> Result<Publisher, PublishRefusal> {
        if self.source != SourceSpec::Push {
            return Err(PublishRefusal::NotPush);
        }
        self.take_publish_slot()
    }

    /// Takes the publishing slot for any live input (an RTMP push, a pull).
    pub(super) fn take_publish_slot(self: &Arc<Self>) -> Result<Publisher, PublishRefusal> {
        let mut slot = self.push_slot();
        if self.is_stopped() {
            return Err(PublishRefusal::Removed);
        }
        if slot.active {
            return Err(PublishRefusal::Busy);
        }
        slot.active = true;
        slot.generation += 1;
        let kept = slot.kept.take();
        Ok(Publisher {
            entry: self.clone(),
            generation: slot.generation,
            tracks: Vec::new(),
            live: None,
            kept,
            offset_ms: None,
            last_ms: i64::MIN,
        })
    }

    fn push_slot(&self) -> std::sync::MutexGuard<'_, PushSlot> {
        self.push.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the live stream kept through a grace period (the entry stopped).
    pub(super) fn push_slot_clear(&self) {
        if let Some((live, _)) = self.push_slot().kept.take() {
            live.close();
        }
    }
}

/// A publisher's hold on a push stream; dropping it starts the grace period.
#[derive(Debug)]
pub struct Publisher {
    entry: Arc<StreamEntry>,
    generation: u64,
    tracks: Vec<Track>,
    live: Option<Arc<LiveStream>>,
    /// The previous publisher's stream, continued if the tracks match.
    kept: Option<(Arc<LiveStream>, i64)>,
    /// Added to every timestamp (ms) so a reconnect continues the timeline.
    offset_ms: Option<i64>,
    last_ms: i64,
}

impl Publisher {
    /// The name of the stream this publisher pushes to.
    pub fn stream_name(&self) -> &str {
        &self.entry.name
    }

    /// A new or changed track (sequence header).
    pub fn track(&mut self, track: Track) {
        let changed = match self.tracks.iter_mut().find(|t| t.id == track.id) {
            Some(existing) if *existing == track => false,
            Some(existing) => {
                *existing = track;
                true
            }
            None => {
                self.tracks.push(track);
                true
            }
        };
        if changed && self.live.is_some() {
            // A new configuration mid-stream (new resolution, codec): start a new
            // live stream at the next keyframe; players reload on the info push.
            tracing::info!(stream = %self.entry.name, "track configuration changed; restarting the live stream");
            if let Some(live) = self.live.take() {
                self.kept = Some((live, self.last_ms));
            }
        }
    }

    /// One frame from the publisher (timestamps in its track's timescale, ms for FLV).
    pub fn frame(&mut self, mut frame: Frame) {
        if self.live.is_none() && !self.go_online(&frame) {
            return;
        }
        let offset = *self.offset_ms.get_or_insert(0);
        frame.dts += offset;
        self.last_ms = self.last_ms.max(frame.dts);
        if let Some(live) = &self.live {
            live.push(frame);
        }
    }

    /// Whether `frame` may start the stream; if so, the stream goes online.
    fn go_online(&mut self, frame: &Frame) -> bool {
        let has_video = self.tracks.iter().any(|t| t.kind() == TrackKind::Video);
        let is_video = self
            .tracks
            .iter()
            .any(|t| t.id == frame.track && t.kind() == TrackKind::Video);
        if self.tracks.is_empty()
            || (has_video && !(is_video && frame.keyframe))
            || self.entry.is_stopped()
        {
            return false;
        }
        // Continue the previous publisher's timeline if it is still kept and the
        // tracks are the same; otherwise start a fresh live stream.
        let reuse = match self.kept.take() {
            Some((live, end_ms)) if live.tracks() == self.tracks.as_slice() => Some((live, end_ms)),
            _ => None,
        };
        let live = match reuse {
            Some((live, end_ms)) => {
                self.offset_ms = Some(end_ms + RECONNECT_GAP_MS - frame.dts);
                self.last_ms = end_ms;
                live
            }
            None => {
                let window = self
                    .entry
                    .config
                    .dvr_window_ms
                    .unwrap_or(DEFAULT_DVR_WINDOW_MS);
                let max_bytes = self
                    .entry
                    .config
                    .dvr_max_bytes
                    .unwrap_or(super::live::DEFAULT_RING_BYTES);
                let part_target = self
                    .entry
                    .config
                    .part_target_ms
                    .unwrap_or(super::DEFAULT_PART_TARGET_MS);
                match LiveStream::with_byte_cap(self.tracks.clone(), window, max_bytes) {
                    Ok(live) => {
                        self.offset_ms = Some(0);
                        Arc::new(live.with_part_target_ms(part_target))
                    }
                    Err(err) => {
                        tracing::warn!(stream = %self.entry.name, %err, "cannot start the live stream");
                        return false;
                    }
                }
            }
        };
        tracing::info!(stream = %self.entry.name, "push stream online");
        self.entry.set(StreamState::Live(live.clone()));
        self.live = Some(live);
        true
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let entry = self.entry.clone();
        let generation = self.generation;
        if entry.is_stopped() {
            // Removed or replaced: nothing to keep, nobody to wait for.
            if let Some(live) = self.live.take() {
                live.close();
            }
            entry.push_slot().active = false;
            tracing::info!(stream = %entry.name, "publisher disconnected (stream removed)");
            return;
        }
        {
            let mut slot = entry.push_slot();
            slot.active = false;
            slot.kept = self.live.take().map(|live| (live, self.last_ms));
        }
        tracing::info!(stream = %entry.name, "publisher left; grace period started");
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Some((live, _)) = entry.push_slot().kept.take() {
                live.close();
            }
            entry.set(StreamState::Offline);
            return;
        };
        runtime.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(GRACE_PERIOD) => {}
                // `shut_down` already dropped what was kept.
                () = entry.stopped() => return,
            }
            let mut slot = entry.push_slot();
            if slot.generation == generation && !slot.active {
                // Closing ends the feeds of viewers still attached to it.
                let kept = slot.kept.take();
                drop(slot);
                if let Some((live, _)) = kept {
                    live.close();
                }
                tracing::info!(stream = %entry.name, "push stream offline");
                entry.set(StreamState::Offline);
            }
        });
    }
}

/// Keeps `Mutex` in scope for the field type in `StreamEntry`.
pub type PushState = Mutex<PushSlot>;
