//! Opus for WebRTC viewers of streams with AAC audio: one converter per stream
//! ([`crate::audio::aac_opus`]) in a task of its own, shared by every session
//! of that stream through a broadcast of [`OpusPacket`]s.
//!
//! The first session that needs it starts it; the task stops when the last
//! session drops its [`OpusFeed`] (or the stream ends). Nothing is decoded or
//! encoded per viewer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use brume_media::{scale_ticks, Codec, Track, TrackKind};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::audio::aac_opus::{AacToOpus, OpusPacket, TranscodeError};
use crate::stream::live::tap::TapStart;
use crate::stream::live::LiveStream;

/// Opus packets (20 ms each) a session may fall behind before it skips some.
pub const FEED_CAPACITY: usize = 256;

/// A running converter; dropping the last handle stops it.
#[derive(Debug)]
pub struct OpusFeed {
    sender: broadcast::Sender<Arc<OpusPacket>>,
    stop: CancellationToken,
}

impl Drop for OpusFeed {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl OpusFeed {
    /// Packets from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<OpusPacket>> {
        self.sender.subscribe()
    }
}

/// The converters running, one per live stream (by identity).
#[derive(Debug, Default)]
pub struct OpusFeeds {
    feeds: Mutex<HashMap<usize, Weak<OpusFeed>>>,
}

/// The stream's AAC track, when it has one.
pub fn aac_track(live: &LiveStream) -> Option<&Track> {
    live.tracks()
        .iter()
        .find(|t| t.kind() == TrackKind::Audio && t.codec == Codec::Aac)
}

impl OpusFeeds {
    /// The Opus feed of `live`'s AAC track `track`, started when none runs.
    pub fn get(
        &self,
        stream: &str,
        live: &Arc<LiveStream>,
        track: &Track,
    ) -> Result<Arc<OpusFeed>, TranscodeError> {
        let key = Arc::as_ptr(live) as usize;
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        feeds.retain(|_, feed| feed.strong_count() > 0);
        if let Some(feed) = feeds.get(&key).and_then(Weak::upgrade) {
            return Ok(feed);
        }
        let converter = AacToOpus::new(&track.init)?;
        let (sender, _) = broadcast::channel(FEED_CAPACITY);
        let feed = Arc::new(OpusFeed {
            sender: sender.clone(),
            stop: CancellationToken::new(),
        });
        let span = tracing::info_span!("opus", stream);
        tokio::spawn(
            convert(
                live.clone(),
                track.clone(),
                converter,
                sender,
                feed.stop.clone(),
            )
            .instrument(span),
        );
        feeds.insert(key, Arc::downgrade(&feed));
        Ok(feed)
    }
}

/// Converts the stream's AAC frames until `stop` or the stream's end.
async fn convert(
    live: Arc<LiveStream>,
    track: Track,
    mut converter: AacToOpus,
    sender: broadcast::Sender<Arc<OpusPacket>>,
    stop: CancellationToken,
) {
    let TapStart::Started { receiver, .. } = live.tap_at_latest_keyframe() else {
        return;
    };
    let mut receiver = receiver;
    drop(live);
    tracing::debug!("AAC to Opus conversion started");
    let mut packets = Vec::new();
    let mut failures: u64 = 0;
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => break,
            frame = receiver.recv() => frame,
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "Opus conversion fell behind");
                continue;
            }
            Err(RecvError::Closed) => break,
        };
        if frame.frame.track != track.id {
            continue;
        }
        let ts = scale_ticks(frame.frame.pts(), track.timescale, 48_000);
        if let Err(err) = converter.push(ts, &frame.frame.data, &mut packets) {
            failures += 1;
            if failures.is_power_of_two() {
                tracing::warn!(%err, failures, "AAC frame not converted to Opus");
            }
        }
        for packet in packets.drain(..) {
            let _ = sender.send(Arc::new(packet));
        }
    }
    tracing::debug!("AAC to Opus conversion stopped");
}
