//! The frame tap of a live stream: every frame as it is pushed (after timestamp
//! rebasing), broadcast to frame-level readers — outputs that packetize frames
//! themselves (WebRTC) instead of reading a muxed progressive feed.
//!
//! A reader starts at the latest video keyframe in the DVR ring (the ring's frames
//! from there on, then the broadcast, taken under the stream's lock so nothing is
//! missed or repeated). Frames are shared ([`TapFrame`]): nothing is copied per
//! reader, and the form an output sends (H.264 as Annex B for RTP) is made once
//! per frame for all its readers ([`TapFrame::derived`]). A reader
//! more than [`TAP_CAPACITY`] frames behind lags (the broadcast drops for it) and
//! must resynchronise at a keyframe.

use std::sync::{Arc, OnceLock};

use brume_media::Frame;
use tokio::sync::broadcast;

use super::LiveStream;

/// Frames a tap reader may fall behind before it lags.
pub const TAP_CAPACITY: usize = 1024;

/// One frame as frame-level readers share it.
#[derive(Debug)]
pub struct TapFrame {
    pub frame: Frame,
    derived: OnceLock<Arc<[u8]>>,
}

impl TapFrame {
    pub fn new(frame: Frame) -> Arc<TapFrame> {
        Arc::new(TapFrame {
            frame,
            derived: OnceLock::new(),
        })
    }

    /// The payload in the form frame-level outputs send it, made by `make` for
    /// the first reader that asks and shared by the others.
    pub fn derived(&self, make: impl FnOnce(&Frame) -> Arc<[u8]>) -> Arc<[u8]> {
        self.derived.get_or_init(|| make(&self.frame)).clone()
    }
}

/// The sending side, held in the stream's state.
#[derive(Debug)]
pub(super) struct FrameTap {
    /// `None` once the stream closed: readers see the end.
    sender: Option<broadcast::Sender<Arc<TapFrame>>>,
}

impl FrameTap {
    pub(super) fn new() -> FrameTap {
        FrameTap {
            sender: Some(broadcast::channel(TAP_CAPACITY).0),
        }
    }

    /// Hands `frame` to every reader (a clone of its `Bytes`; nothing when there
    /// is none).
    pub(super) fn send(&self, frame: &Frame) {
        if let Some(sender) = &self.sender {
            if sender.receiver_count() > 0 {
                let _ = sender.send(TapFrame::new(frame.clone()));
            }
        }
    }

    pub(super) fn close(&mut self) {
        self.sender = None;
    }
}

/// Where a frame-level reader starts.
#[derive(Debug)]
pub enum TapStart {
    /// The frames from the latest keyframe (oldest first), then the live ones.
    Started {
        backlog: Vec<Arc<TapFrame>>,
        receiver: broadcast::Receiver<Arc<TapFrame>>,
    },
    /// The stream has ended.
    Closed,
}

impl LiveStream {
    /// Starts a frame-level reader at the latest video keyframe held (the latest
    /// segment start without video; an empty backlog while the ring is empty).
    pub fn tap_at_latest_keyframe(&self) -> TapStart {
        let inner = self.lock();
        let Some(sender) = &inner.tap.sender else {
            return TapStart::Closed;
        };
        let receiver = sender.subscribe();
        let video = |id: u32| {
            self.tracks
                .iter()
                .any(|t| t.id == id && t.kind() == brume_media::TrackKind::Video)
        };
        let mut backlog = Vec::new();
        if let Some(start) = inner.ring.start_at_or_before(i64::MAX, video) {
            let end = inner.ring.next_index();
            backlog.reserve(usize::try_from(end - start).unwrap_or(0));
            for index in start..end {
                if let Some(held) = inner.ring.frame(index) {
                    backlog.push(TapFrame::new(held.frame.clone()));
                }
            }
        }
        TapStart::Started { backlog, receiver }
    }
}
