//! Progressive live feeds: one muxed byte stream per output format, shared by all
//! of that format's viewers.
//!
//! The live stream hands each [`Feed`] a group of frames (everything whose duration
//! became known since the last group, closed at each video frame); the feed muxes it
//! once into a [`LiveChunk`] and broadcasts it. A feed remembers the chunks since the
//! latest keyframe so a new viewer starts there, after the format's header.

use brume_media::mp4::fmp4::{self, FragmentSample, TrackRun};
use brume_media::{Frame, Track};
use bytes::Bytes;
use tokio::sync::broadcast;

/// Chunks a viewer may fall behind before it is moved to the next keyframe.
pub const FANOUT_CAPACITY: usize = 256;
/// Cap on the chunks kept for new viewers (a very long GOP).
const MAX_BACKLOG_CHUNKS: usize = 4096;

/// Progressive output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Fragmented MP4 (`/S.mp4`, MP4 over WebSocket).
    Mp4,
}

/// One muxed piece of a progressive feed, shared by every viewer.
#[derive(Debug, Clone)]
pub struct LiveChunk {
    pub sequence: u64,
    /// Starts with a video keyframe (or carries audio only): a viewer may begin here.
    pub keyframe: bool,
    pub bytes: Bytes,
}

/// What a new viewer receives: the header, the chunks since the latest keyframe,
/// and a receiver for everything after them.
#[derive(Debug)]
pub struct Subscription {
    pub header: Bytes,
    pub backlog: Vec<LiveChunk>,
    pub receiver: broadcast::Receiver<LiveChunk>,
}

/// A group of frames with known durations, by track position.
pub type FrameGroup = [(usize, Frame, u32)];

#[derive(Debug)]
pub struct Feed {
    format: Format,
    header: Bytes,
    backlog: Vec<LiveChunk>,
    sender: broadcast::Sender<LiveChunk>,
    next_sequence: u64,
}

impl Feed {
    pub fn new(format: Format, tracks: &[Track]) -> Result<Feed, String> {
        let header = match format {
            Format::Mp4 => fmp4::init_segment(tracks).map_err(|e| e.to_string())?,
        };
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        Ok(Feed {
            format,
            header,
            backlog: Vec::new(),
            sender,
            next_sequence: 1,
        })
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn header(&self) -> &Bytes {
        &self.header
    }

    /// Muxes `group` once and sends it to every viewer of this feed.
    pub fn publish(&mut self, tracks: &[Track], group: &FrameGroup, keyframe: bool) {
        let muxed = match self.format {
            Format::Mp4 => mux_fmp4(tracks, group, self.next_sequence as u32),
        };
        let bytes = match muxed {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(format = ?self.format, %err, "could not mux a live chunk; skipped");
                return;
            }
        };
        let chunk = LiveChunk {
            sequence: self.next_sequence,
            keyframe,
            bytes,
        };
        self.next_sequence += 1;
        if keyframe {
            self.backlog.clear();
        }
        if self.backlog.len() < MAX_BACKLOG_CHUNKS {
            self.backlog.push(chunk.clone());
        }
        // No receivers is fine: nobody is watching right now.
        let _ = self.sender.send(chunk);
    }

    /// Starts a viewer at the latest keyframe. Call under the same lock as
    /// [`Feed::publish`], so backlog and receiver neither overlap nor leave a gap.
    pub fn subscribe(&self) -> Subscription {
        let receiver = self.sender.subscribe();
        let backlog = if self.backlog.first().is_some_and(|c| c.keyframe) {
            self.backlog.clone()
        } else {
            Vec::new()
        };
        Subscription {
            header: self.header.clone(),
            backlog,
            receiver,
        }
    }

    pub fn viewers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// Muxes a frame group into one moof+mdat with a traf per track present.
pub fn mux_fmp4(tracks: &[Track], group: &FrameGroup, sequence: u32) -> Result<Bytes, String> {
    let mut samples: Vec<Vec<FragmentSample<'_>>> = (0..tracks.len()).map(|_| Vec::new()).collect();
    for (position, frame, duration) in group {
        if let Some(list) = samples.get_mut(*position) {
            list.push(FragmentSample {
                frame,
                duration: *duration,
            });
        }
    }
    let runs: Vec<TrackRun<'_>> = tracks
        .iter()
        .zip(&samples)
        .filter(|(_, s)| !s.is_empty())
        .map(|(track, samples)| TrackRun { track, samples })
        .collect();
    fmp4::fragment(sequence, &runs).map_err(|e| e.to_string())
}
