//! Pushed stream info: `/json_S.js` upgraded to a WebSocket.
//!
//! The client gets the info document at once, then a fresh one whenever the stream's
//! state or tracks change (a source opens or fails, a live stream restarts with
//! other tracks, a file is re-indexed). A stream that does not exist (yet) gets
//! `{"error":"Stream is offline"}`, and the registry is looked at again every
//! [`REGISTRY_POLL`], so a stream created later is pushed when it appears. The
//! figures that move all the time (last timestamp, bitrate) do not trigger a push.
//! Client messages are read only for pings and closing; anything else is ignored.

use std::sync::Arc;
use std::time::Duration;

use brume_media::Track;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{close, send, send_json, SessionError, PEER_TIMEOUT, PING_INTERVAL};
use crate::http::info::{add_whep_source, error_doc, stream_info, PublicBase};
use crate::stream::{Registry, StreamEntry, StreamState};

/// How often the registry is looked at again (a stream added, removed or replaced).
pub const REGISTRY_POLL: Duration = Duration::from_secs(2);

/// What the documents are about and how their URLs are built.
#[derive(Debug)]
pub struct InfoTarget {
    pub registry: Arc<Registry>,
    pub name: String,
    /// The request's public bases (every source is listed under each).
    pub bases: Vec<PublicBase>,
    pub rtmp_port: u16,
    /// WebRTC is on: live H.264 streams list their WHEP source.
    pub webrtc: bool,
}

/// The parts of a stream's state a pushed document follows.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    Missing,
    Starting,
    Offline,
    Error(&'static str),
    Live(u64, Vec<Track>),
    Vod(u64, Vec<Track>),
}

fn shape(state: Option<&StreamState>) -> Shape {
    match state {
        None => Shape::Missing,
        Some(StreamState::Starting) => Shape::Starting,
        Some(StreamState::Offline) => Shape::Offline,
        Some(StreamState::Error(reason)) => Shape::Error(reason.public()),
        Some(StreamState::Live(live)) => Shape::Live(live.instance, live.tracks().to_vec()),
        Some(StreamState::Vod(vod)) => Shape::Vod(vod.instance, vod.tracks().to_vec()),
    }
}

/// Runs one stream-info socket until the client leaves.
pub async fn run<S>(ws: WebSocketStream<S>, target: InfoTarget)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut session = InfoSession {
        ws,
        target,
        entry: None,
        watch: None,
        last: None,
        last_heard: Instant::now(),
    };
    match session.serve().await {
        Ok(()) => {}
        Err(err) => tracing::debug!(%err, "stream-info websocket ended"),
    }
    close(session.ws, None).await;
}

struct InfoSession<S> {
    ws: WebSocketStream<S>,
    target: InfoTarget,
    entry: Option<Arc<StreamEntry>>,
    watch: Option<watch::Receiver<StreamState>>,
    /// The shape of the last document sent.
    last: Option<Shape>,
    last_heard: Instant,
}

impl<S> InfoSession<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn serve(&mut self) -> Result<(), SessionError> {
        self.follow_registry();
        self.push_if_changed().await?;
        let mut poll = tokio::time::interval(REGISTRY_POLL);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Both fire at once; the document was just sent.
        poll.tick().await;
        ping.tick().await;
        loop {
            tokio::select! {
                incoming = self.ws.next() => match incoming {
                    None => return Ok(()),
                    Some(Err(err)) => return Err(err.into()),
                    Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(_)) => self.last_heard = Instant::now(),
                },
                changed = changed(&mut self.watch) => {
                    if changed.is_err() {
                        // The entry went away; the next registry poll looks again.
                        self.watch = None;
                    }
                    self.push_if_changed().await?;
                }
                _ = poll.tick() => {
                    self.follow_registry();
                    self.push_if_changed().await?;
                }
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > PEER_TIMEOUT {
                        return Err(SessionError::PeerSilent(PEER_TIMEOUT));
                    }
                    send(&mut self.ws, Message::Ping(Default::default())).await?;
                }
            }
        }
    }

    /// Looks the stream up again and follows the entry now registered.
    fn follow_registry(&mut self) {
        let entry = self.target.registry.get(&self.target.name);
        let same = match (&entry, &self.entry) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same || (entry.is_some() && self.watch.is_none()) {
            self.watch = entry.as_ref().map(|e| e.watch());
            self.entry = entry;
        }
    }

    /// Sends the current document when its state or tracks differ from the last one
    /// sent.
    async fn push_if_changed(&mut self) -> Result<(), SessionError> {
        let state = self.entry.as_ref().map(|e| e.state());
        let now = shape(state.as_ref());
        if self.last.as_ref() == Some(&now) {
            return Ok(());
        }
        let doc = match &state {
            Some(state) => {
                let target = &self.target;
                let mut doc = stream_info(&target.name, state, &target.bases, target.rtmp_port);
                add_whep_source(&mut doc, &target.name, state, &target.bases, target.webrtc);
                doc
            }
            None => error_doc("Stream is offline"),
        };
        send_json(&mut self.ws, &doc).await?;
        self.last = Some(now);
        Ok(())
    }
}

/// Waits for the next state change; never resolves without a receiver.
async fn changed(
    watch: &mut Option<watch::Receiver<StreamState>>,
) -> Result<(), watch::error::RecvError> {
    match watch {
        Some(receiver) => receiver.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::failure::{FailureKind, StreamFailure};

    #[test]
    fn volatile_figures_do_not_change_the_shape() {
        assert_eq!(shape(None), Shape::Missing);
        assert_eq!(shape(Some(&StreamState::Offline)), Shape::Offline);
        assert_ne!(
            shape(Some(&StreamState::Error(StreamFailure::new(
                FailureKind::NotMedia,
                "a"
            )))),
            shape(Some(&StreamState::Error(StreamFailure::new(
                FailureKind::CannotOpen,
                "b"
            ))))
        );
        let track = Track {
            id: 1,
            codec: brume_media::Codec::H264,
            timescale: 1000,
            init: bytes::Bytes::from_static(&[1, 66, 0, 30, 0xff, 0xe0, 0]),
            codec_string: "avc1.42001e".into(),
            video: Some(brume_media::VideoInfo {
                width: 16,
                height: 16,
            }),
            audio: None,
        };
        let live = Arc::new(crate::stream::live::LiveStream::new(vec![track], 1000).unwrap());
        let state = StreamState::Live(live.clone());
        let before = shape(Some(&state));
        for i in 0..10 {
            live.push(brume_media::Frame {
                track: 1,
                dts: i * 40,
                pts_offset: 0,
                keyframe: i == 0,
                data: bytes::Bytes::from_static(&[0, 0, 0, 1, 0x65]),
            });
        }
        assert_eq!(shape(Some(&state)), before);
    }
}
