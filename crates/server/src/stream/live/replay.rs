//! A viewer's own pass over the DVR ring, and its way back onto a shared feed.
//!
//! A viewer that starts back in the DVR window (or at the live edge before a
//! freshly made feed has a keyframe to offer) reads the ring from a keyframe with
//! a [`Replay`]: the same hold-back-one-frame grouping the stream does on push,
//! so its groups close at the very ring indices where the shared feeds' groups
//! closed. Once it has read everything and its last group closed where the
//! stream's did, it takes a receiver of the shared feed ([`Join::Joined`]): the
//! next chunk there holds exactly the frames it has not sent yet, with fMP4
//! sequence numbers that follow on (both number by ring index).

use std::sync::Arc;

use brume_media::{Frame, TimedFrame, TrackKind};
use tokio::sync::broadcast;

use super::feed::{Feed, FeedStart, Format, LiveChunk, MuxError};
use super::{closes_group, group_keyframe, Inner, LiveStream};
use crate::stream::selection::Selection;

/// Frames one [`LiveStream::replay_next`] call looks at, at most, under the lock.
const MAX_FRAMES_PER_STEP: usize = 4096;

/// A viewer's position in the ring and the frames it holds back.
#[derive(Debug)]
pub struct Replay {
    /// Absolute ring index of the next frame to read.
    cursor: u64,
    /// Per track position: the newest frame read, until its successor is read.
    held: Vec<Option<Frame>>,
    ready: Vec<TimedFrame>,
    /// Ring index at which this viewer's latest group closed.
    last_close: Option<u64>,
}

impl Replay {
    fn new(cursor: u64, tracks: usize) -> Replay {
        Replay {
            cursor,
            held: vec![None; tracks],
            ready: Vec::new(),
            last_close: None,
        }
    }
}

/// What reading the ring gave.
#[derive(Debug)]
pub enum Step {
    /// A closed group (stream track positions), muxed by the viewer.
    Group {
        frames: Vec<TimedFrame>,
        keyframe: bool,
        /// The ring index where it closed (numbers fMP4 fragments).
        close: u64,
    },
    /// Everything in the ring was read.
    Edge,
    /// The frames to read next left the window: the viewer was too slow.
    Evicted,
}

/// How a viewer starts at the live edge.
#[derive(Debug)]
pub enum EdgeStart {
    /// From the shared feed's backlog; `resync`: it has none, so wait for the
    /// next keyframe chunk.
    Feed {
        start: FeedStart,
        resync: bool,
    },
    /// From the latest keyframe, read from the ring.
    Replay {
        replay: Replay,
        header: bytes::Bytes,
    },
    Closed,
}

/// Whether a replaying viewer may move onto the shared feed now.
#[derive(Debug)]
pub enum Join {
    Closed,
    /// Frames are left to read.
    Behind,
    /// Read up, but its last group did not close where the stream's did yet:
    /// wait for the receiver to say more frames arrived, then read on.
    Wait(broadcast::Receiver<LiveChunk>),
    /// Go on with the feed's next chunk.
    Joined(broadcast::Receiver<LiveChunk>),
}

/// The feed of (format, selection), made if needed.
fn feed<'a>(
    inner: &'a mut Inner,
    format: Format,
    selection: &Arc<Selection>,
) -> Result<&'a mut Feed, MuxError> {
    let found = inner.feeds.iter().position(|f| f.serves(format, selection));
    let index = match found {
        Some(index) => index,
        None => {
            inner
                .feeds
                .push(Feed::new(format, selection.clone(), false)?);
            inner.feeds.len() - 1
        }
    };
    Ok(&mut inner.feeds[index])
}

impl LiveStream {
    /// Starts a viewer of (format, selection) at the latest keyframe.
    pub fn start_at_edge(
        &self,
        format: Format,
        selection: &Arc<Selection>,
    ) -> Result<EdgeStart, MuxError> {
        let mut inner = self.lock();
        if inner.closed {
            return Ok(EdgeStart::Closed);
        }
        let video = |id: u32| self.is_video_track(id);
        let latest = inner.ring.start_at_or_before(i64::MAX, video);
        let tracks = self.tracks.len();
        let feed = feed(&mut inner, format, selection)?;
        if let Some(start) = feed.start() {
            return Ok(EdgeStart::Feed {
                start,
                resync: false,
            });
        }
        let header = feed.header().clone();
        match latest {
            Some(index) => Ok(EdgeStart::Replay {
                replay: Replay::new(index, tracks),
                header,
            }),
            None => Ok(EdgeStart::Feed {
                start: FeedStart {
                    header,
                    backlog: Vec::new(),
                    receiver: feed.receiver(),
                },
                resync: true,
            }),
        }
    }

    /// A replay from the keyframe at or before media time `ms` in the DVR window
    /// (its oldest keyframe when `ms` is older); `None` when that is the latest
    /// keyframe anyway (start at the edge) or the ring is empty.
    pub fn replay_from(&self, ms: i64) -> Option<Replay> {
        let inner = self.lock();
        let video = |id: u32| self.is_video_track(id);
        let latest = inner.ring.start_at_or_before(i64::MAX, video)?;
        let index = inner.ring.start_at_or_before(ms, video)?;
        (index < latest).then(|| Replay::new(index, self.tracks.len()))
    }

    /// A replay from the oldest keyframe still held (after falling out of the
    /// window).
    pub fn replay_from_oldest(&self) -> Option<Replay> {
        let inner = self.lock();
        let index = inner
            .ring
            .start_at_or_before(i64::MIN, |id| self.is_video_track(id))?;
        Some(Replay::new(index, self.tracks.len()))
    }

    /// Reads the ring on until a group closes.
    pub fn replay_next(&self, replay: &mut Replay) -> Step {
        let inner = self.lock();
        if replay.cursor < inner.ring.first_index() {
            return Step::Evicted;
        }
        for _ in 0..MAX_FRAMES_PER_STEP {
            let index = replay.cursor;
            let Some(stored) = inner.ring.frame(index) else {
                return Step::Edge;
            };
            replay.cursor += 1;
            let frame = &stored.frame;
            let Some(position) = self.tracks.iter().position(|t| t.id == frame.track) else {
                continue;
            };
            let is_video = self.tracks[position].kind() == TrackKind::Video;
            if let Some(prev) = replay.held[position].replace(frame.clone()) {
                let duration = u32::try_from(frame.dts - prev.dts).unwrap_or(u32::MAX);
                replay.ready.push(TimedFrame {
                    track_index: position,
                    frame: prev,
                    duration_ticks: duration,
                });
                if closes_group(self.has_video, is_video, stored.non_video_run, index) {
                    let from = replay.last_close.replace(index).unwrap_or(0);
                    if !replay.ready.is_empty() {
                        let frames = std::mem::take(&mut replay.ready);
                        let restart = inner.ring.has_segment_start_in(from, index);
                        let keyframe =
                            group_keyframe(&self.tracks, self.has_video, &frames, restart);
                        return Step::Group {
                            frames,
                            keyframe,
                            close: index,
                        };
                    }
                }
            }
        }
        // A long run without a group closing: let others have the lock.
        Step::Group {
            frames: Vec::new(),
            keyframe: false,
            close: replay.cursor,
        }
    }

    /// Whether `replay` may go on with the shared feed of (format, selection).
    pub fn join(
        &self,
        format: Format,
        selection: &Arc<Selection>,
        replay: &Replay,
    ) -> Result<Join, MuxError> {
        let mut inner = self.lock();
        if inner.closed {
            return Ok(Join::Closed);
        }
        if replay.cursor < inner.ring.next_index() {
            return Ok(Join::Behind);
        }
        let in_step = replay.last_close.is_some() && replay.last_close == inner.last_close;
        let receiver = feed(&mut inner, format, selection)?.receiver();
        Ok(if in_step {
            Join::Joined(receiver)
        } else {
            Join::Wait(receiver)
        })
    }

    fn is_video_track(&self, id: u32) -> bool {
        self.tracks
            .iter()
            .any(|t| t.id == id && t.kind() == TrackKind::Video)
    }
}
