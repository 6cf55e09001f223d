//! Progressive live feeds: one muxed byte stream per (output format, track
//! selection), shared by all of that pair's viewers.
//!
//! The live stream hands each [`Feed`] a group of frames (everything whose duration
//! became known since the last group, closed at each video frame); the feed keeps
//! the frames of its selection, muxes them once into a [`LiveChunk`] and broadcasts
//! it. A feed remembers the chunks since the latest keyframe so a new viewer starts
//! there, after the format's header. Also here: [`ProgressiveMuxer`], the muxing
//! state of one progressive byte stream, which viewers catching up from the DVR
//! window or reading a file use too.

use std::borrow::Cow;
use std::sync::Arc;

use brume_media::flv::{self, FlvError};
use brume_media::mp4::fmp4::{self, Fmp4Error, FragmentSample, TrackRun};
use brume_media::mpegts::{TsError, TsMuxer};
use brume_media::{scale_ticks, TimedFrame, Track};
use bytes::Bytes;
use tokio::sync::broadcast;

use crate::stream::selection::Selection;

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
    /// FLV (`/S.flv`, RTMP play).
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

/// Why a progressive header or chunk could not be muxed.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    #[error("fMP4: {0}")]
    Fmp4(#[from] Fmp4Error),
    #[error("MPEG-TS: {0}")]
    Ts(#[from] TsError),
    #[error("FLV: {0}")]
    Flv(#[from] FlvError),
    #[error("a frame of track position {0}, which this output does not carry")]
    UnknownTrack(usize),
}

/// Muxing state of one progressive byte stream (a live feed, a viewer catching
/// up, or one on-demand response).
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
    ) -> Result<(ProgressiveMuxer, Bytes), MuxError> {
        match format {
            Format::Mp4 => {
                let header = fmp4::init_segment(tracks)?;
                Ok((ProgressiveMuxer::Mp4 { next_sequence: 1 }, header))
            }
            Format::Ts => {
                let mut muxer = TsMuxer::new(tracks)?;
                let mut header = Vec::with_capacity(2 * 188);
                muxer.write_tables(&mut header);
                Ok((ProgressiveMuxer::Ts(Box::new(muxer)), Bytes::from(header)))
            }
            Format::Flv => {
                let header = flv::flv_header_with_duration(tracks, duration_ms)?;
                Ok((ProgressiveMuxer::Flv, header))
            }
        }
    }

    /// Numbers the next fMP4 fragment (live outputs number fragments by where
    /// they close in the stream, so a viewer's own fragments and the shared
    /// feed's follow on from each other).
    pub fn set_next_sequence(&mut self, sequence: u32) {
        if let ProgressiveMuxer::Mp4 { next_sequence } = self {
            *next_sequence = sequence;
        }
    }

    /// Muxes one group of frames (decode order per track; positions among
    /// `tracks`) into one chunk.
    pub fn mux(
        &mut self,
        tracks: &[Track],
        group: &[TimedFrame],
        keyframe: bool,
    ) -> Result<Bytes, MuxError> {
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
                    muxer.write_frame(&timed.frame, &mut out)?;
                }
                Ok(Bytes::from(out))
            }
            ProgressiveMuxer::Flv => {
                let size: usize = group.iter().map(|t| t.frame.data.len() + 32).sum();
                let mut out = Vec::with_capacity(size);
                for timed in in_time_order(tracks, group) {
                    let track = tracks
                        .get(timed.track_index)
                        .ok_or(MuxError::UnknownTrack(timed.track_index))?;
                    flv::write_frame_tag(track, &timed.frame, &mut out)?;
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
        scale_ticks(timed.frame.dts, timescale, 1_000_000)
    });
    sorted
}

/// Media time (ms) of a group's earliest frame.
pub fn group_start_ms(tracks: &[Track], group: &[TimedFrame]) -> Option<i64> {
    group
        .iter()
        .filter_map(|t| {
            let track = tracks.get(t.track_index)?;
            Some(scale_ticks(t.frame.dts, track.timescale, 1000))
        })
        .min()
}

/// The fMP4 sequence number of the group that closes at ring index `close`.
pub fn close_sequence(close: u64) -> u32 {
    (close as u32).wrapping_add(1)
}

/// The frames of `group` (stream positions) that `selection` carries, at their
/// positions in the selection.
pub fn select<'a>(selection: &Selection, group: &'a [TimedFrame]) -> Cow<'a, [TimedFrame]> {
    if selection.is_all() {
        return Cow::Borrowed(group);
    }
    Cow::Owned(
        group
            .iter()
            .filter_map(|t| {
                selection.position(t.track_index).map(|q| TimedFrame {
                    track_index: q,
                    frame: t.frame.clone(),
                    duration_ticks: t.duration_ticks,
                })
            })
            .collect(),
    )
}

/// One muxed piece of a progressive feed, shared by every viewer.
#[derive(Debug, Clone)]
pub struct LiveChunk {
    /// Starts with a video keyframe (or carries no video): a viewer may begin here.
    pub keyframe: bool,
    /// Media time (ms) of its earliest frame.
    pub start_ms: i64,
    pub bytes: Bytes,
}

/// What a new viewer of a feed receives: the header, the chunks since the latest
/// keyframe, and a receiver for everything after them.
#[derive(Debug)]
pub struct FeedStart {
    pub header: Bytes,
    pub backlog: Vec<LiveChunk>,
    pub receiver: broadcast::Receiver<LiveChunk>,
}

#[derive(Debug)]
pub struct Feed {
    format: Format,
    selection: Arc<Selection>,
    /// Kept while nobody watches (the every-track feeds); others are dropped.
    permanent: bool,
    header: Bytes,
    muxer: ProgressiveMuxer,
    backlog: Vec<LiveChunk>,
    sender: broadcast::Sender<LiveChunk>,
}

impl Feed {
    pub fn new(
        format: Format,
        selection: Arc<Selection>,
        permanent: bool,
    ) -> Result<Feed, MuxError> {
        let (muxer, header) = ProgressiveMuxer::new(format, &selection.tracks, None)?;
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        Ok(Feed {
            format,
            selection,
            permanent,
            header,
            muxer,
            backlog: Vec::new(),
            sender,
        })
    }

    pub fn header(&self) -> &Bytes {
        &self.header
    }

    /// Whether this feed serves `format` with exactly these tracks.
    pub fn serves(&self, format: Format, selection: &Selection) -> bool {
        self.format == format && self.selection.ids() == selection.ids()
    }

    /// Whether the feed is worth keeping (someone watches, or it is permanent).
    pub fn in_use(&self) -> bool {
        self.permanent || self.sender.receiver_count() > 0
    }

    /// Muxes this feed's part of `group` (stream positions) once and sends it to
    /// every viewer; `close` is the ring index at which the group closed.
    pub fn publish(&mut self, group: &[TimedFrame], keyframe: bool, close: u64) {
        let selected = select(&self.selection, group);
        if selected.is_empty() {
            return;
        }
        let tracks = &self.selection.tracks;
        let keyframe = keyframe || !self.selection.has_video();
        let start_ms = group_start_ms(tracks, &selected).unwrap_or(0);
        self.muxer.set_next_sequence(close_sequence(close));
        let bytes = match self.muxer.mux(tracks, &selected, keyframe) {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::warn!(format = ?self.format, %err, "could not mux a live chunk; skipped");
                return;
            }
        };
        let chunk = LiveChunk {
            keyframe,
            start_ms,
            bytes,
        };
        if keyframe {
            self.backlog.clear();
        }
        if self.backlog.len() < MAX_BACKLOG_CHUNKS {
            self.backlog.push(chunk.clone());
        }
        // No receivers is fine: nobody is watching right now.
        let _ = self.sender.send(chunk);
    }

    /// Starts a viewer at the latest keyframe (`None`: the backlog does not begin
    /// at one, so the viewer has to start from the ring). Call under the same lock
    /// as [`Feed::publish`], so backlog and receiver neither overlap nor leave a gap.
    pub fn start(&self) -> Option<FeedStart> {
        if !self.backlog.first().is_some_and(|c| c.keyframe) {
            return None;
        }
        Some(FeedStart {
            header: self.header.clone(),
            backlog: self.backlog.clone(),
            receiver: self.sender.subscribe(),
        })
    }

    /// A receiver of the chunks published from now on.
    pub fn receiver(&self) -> broadcast::Receiver<LiveChunk> {
        self.sender.subscribe()
    }

    pub fn viewers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// Muxes a frame group into one moof+mdat with a traf per track present.
pub fn mux_fmp4(tracks: &[Track], group: &[TimedFrame], sequence: u32) -> Result<Bytes, MuxError> {
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
    Ok(fmp4::fragment(sequence, &runs)?)
}
