//! A frame-level read of a live stream, for outputs that packetize frames
//! themselves (WebRTC): no muxing, every frame as a shared `Bytes`.
//!
//! It starts at the latest video keyframe in the DVR ring and follows the
//! stream's frame tap ([`crate::stream::live::tap`]). A reader that falls more
//! than [`crate::stream::live::tap::TAP_CAPACITY`] frames behind resumes at the
//! next video keyframe; the skip counts in `brume_viewer_skips_total`.

use std::collections::VecDeque;
use std::sync::Arc;

use brume_media::TrackKind;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::SubscribeError;
use crate::metrics::Viewer;
use crate::stream::live::tap::{TapFrame, TapStart};
use crate::stream::live::LiveStream;

/// One viewer's frame-level position in a live stream.
#[derive(Debug)]
pub struct FrameSubscription {
    live: Arc<LiveStream>,
    backlog: VecDeque<Arc<TapFrame>>,
    receiver: Receiver<Arc<TapFrame>>,
    /// After lagging: frames are dropped until the next video keyframe.
    resyncing: bool,
    viewer: Arc<Viewer>,
}

impl FrameSubscription {
    /// Starts at the latest keyframe of `live`; frames handed out count for `viewer`.
    pub fn open(live: Arc<LiveStream>, viewer: Arc<Viewer>) -> Result<Self, SubscribeError> {
        match live.tap_at_latest_keyframe() {
            TapStart::Closed => Err(SubscribeError::Ended),
            TapStart::Started { backlog, receiver } => Ok(FrameSubscription {
                live,
                backlog: backlog.into(),
                receiver,
                resyncing: false,
                viewer,
            }),
        }
    }

    /// The stream read.
    pub fn live(&self) -> &Arc<LiveStream> {
        &self.live
    }

    /// The next frame; `None` once the stream ended. Cancel-safe.
    pub async fn next(&mut self) -> Option<Arc<TapFrame>> {
        if let Some(frame) = self.backlog.pop_front() {
            self.viewer.sent(frame.frame.data.len() as u64);
            return Some(frame);
        }
        loop {
            match self.receiver.recv().await {
                Ok(frame) => {
                    if self.resyncing {
                        if !(frame.frame.keyframe && self.is_video(frame.frame.track)) {
                            continue;
                        }
                        self.resyncing = false;
                    }
                    self.viewer.sent(frame.frame.data.len() as u64);
                    return Some(frame);
                }
                Err(RecvError::Closed) => return None,
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "frame reader fell behind; skipping to a keyframe");
                    self.viewer.skipped();
                    self.resyncing = self.live.has_video();
                }
            }
        }
    }

    fn is_video(&self, track: u32) -> bool {
        self.live
            .tracks()
            .iter()
            .any(|t| t.id == track && t.kind() == TrackKind::Video)
    }
}
