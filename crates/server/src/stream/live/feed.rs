//! Progressive live feeds: one muxed byte stream per output format, shared by all
//! of that format's viewers.
//!
//! The live stream hands each [`Feed`] a group of frames (everything whose duration
//! became known since the last group, closed at each video frame); the feed muxes it
//! once into a [`LiveChunk`] and broadcasts it. A feed remembers the chunks since the
//! latest keyframe so a new viewer starts there, after the format's header.

use brume_media::flv;
use brume_media::mp4::fmp4::{self, FragmentSample, TrackRun};
use brume_media::mpegts::TsMuxer;
use brume_media::{TimedFrame, Track};
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
    /// MPEG-TS (`/S.ts`).
    Ts,
    /// FLV (`/S.flv`).
    Flv,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Mp4, Format::Ts, Format::Flv];

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mp4 => "video/mp4",
            Format::Ts => "video/mp2t",
            Format::Flv => "video/x-flv",
        }
    }
}

/// Muxing state of one progressive byte stream (a live feed, or one VoD response).
#[derive(Debug)]
pub enum ProgressiveMuxer {
    Mp4 { next_sequence: u32 },
    Ts(Box<TsMuxer>),
    Flv,
}

impl ProgressiveMuxer {
    /// A muxer for `format` and the header a viewer must receive first;
    /// `duration_ms` is known for on-demand files (None: live).
    pub fn new(
        format: Format,
        tracks: &[Track],
        duration_ms: Option<u64>,
    ) -> Result<(ProgressiveMuxer, Bytes), String> {
        match format {
            Format::Mp4 => {
                let header = fmp4::init_segment(tracks).map_err(|e| e.to_string())?;
                Ok((ProgressiveMuxer::Mp4 { next_sequence: 1 }, header))
            }
            Format::Ts => {
                let mut muxer = TsMuxer::new(tracks).map_err(|e| e.to_string())?;
                let mut header = Vec::with_capacity(2 * 188);
                muxer.write_tables(&mut header);
                Ok((ProgressiveMuxer::Ts(Box::new(muxer)), Bytes::from(header)))
            }
            Format::Flv => {
                let header = flv::flv_header_with_duration(tracks, duration_ms)
                    .map_err(|e| e.to_string())?;
                Ok((ProgressiveMuxer::Flv, header))
            }
        }
    }

    /// Muxes one group of frames (decode order per track) into one chunk.
    pub fn mux(
        &mut self,
        tracks: &[Track],
        group: &[TimedFrame],
        keyframe: bool,
    ) -> Result<Bytes, String> {
        match self {
            ProgressiveMuxer::Mp4 { next_sequence } => {
                let bytes = mux_fmp4(tracks, group, *next_sequence)?;
                *next_sequence = next_sequence.wrapping_add(1);
                Ok(bytes)
            }
            ProgressiveMuxer::Ts(muxer) => {
                let size: usize = group.iter().map(|t| muxer.max_frame_size(&t.frame)).sum();
                let mut out = Vec::with_capacity(size + 2 * 188);
                if keyframe {
                    muxer.write_tables(&mut out);
                }
                for timed in in_time_order(tracks, group) {
                    muxer
                        .write_frame(&timed.frame, &mut out)
                        .map_err(|e| e.to_string())?;
                }
                Ok(Bytes::from(out))
            }
            ProgressiveMuxer::Flv => {
                let size: usize = group.iter().map(|t| t.frame.data.len() + 32).sum();
                let mut out = Vec::with_capacity(size);
                for timed in in_time_order(tracks, group) {
                    let track = tracks
                        .get(timed.track_index)
                        .ok_or("frame of an unknown track")?;
                    flv::write_frame_tag(track, &timed.frame, &mut out)
                        .map_err(|e| e.to_string())?;
                }
                Ok(Bytes::from(out))
            }
        }
    }
}

/// The group's frames ordered by decode time across tracks (for interleaved
/// containers; the group holds frames in the order their durations became known).
fn in_time_order<'a>(tracks: &[Track], group: &'a [TimedFrame]) -> Vec<&'a TimedFrame> {
    let mut sorted: Vec<&TimedFrame> = group.iter().collect();
    sorted.sort_by_key(|timed| {
        let timescale = tracks.get(timed.track_index).map_or(1000, |t| t.timescale);
        brume_media::scale_ticks(timed.frame.dts, timescale, 1_000_000)
    });
    sorted
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

#[derive(Debug)]
pub struct Feed {
    format: Format,
    header: Bytes,
    muxer: ProgressiveMuxer,
    backlog: Vec<LiveChunk>,
    sender: broadcast::Sender<LiveChunk>,
    next_sequence: u64,
}

impl Feed {
    pub fn new(format: Format, tracks: &[Track]) -> Result<Feed, String> {
        let (muxer, header) = ProgressiveMuxer::new(format, tracks, None)?;
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        Ok(Feed {
            format,
            header,
            muxer,
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
    pub fn publish(&mut self, tracks: &[Track], group: &[TimedFrame], keyframe: bool) {
        let bytes = match self.muxer.mux(tracks, group, keyframe) {
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
pub fn mux_fmp4(tracks: &[Track], group: &[TimedFrame], sequence: u32) -> Result<Bytes, String> {
    let mut samples: Vec<Vec<FragmentSample<'_>>> = (0..tracks.len()).map(|_| Vec::new()).collect();
    for timed in group {
        if let Some(list) = samples.get_mut(timed.track_index) {
            list.push(FragmentSample {
                frame: &timed.frame,
                duration: timed.duration_ticks,
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
