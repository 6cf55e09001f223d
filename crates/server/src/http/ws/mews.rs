//! MP4 over WebSocket ("MEWS"): `/S.mp4` upgraded, as MistServer's player speaks it.
//!
//! Server → client binary messages carry the fMP4 init segment, then `moof`+`mdat`
//! fragments; text messages are JSON with a `type`. Commands (see [`super::command`]):
//!
//! * `request_codec_data` → `codec_data` with the codec strings and track ids this
//!   viewer gets (only codec families the player named; none → `error`).
//! * `play` → `codec_data` if not sent yet, the init segment, then fragments of
//!   the viewer's [`Subscription`]. Live: from the latest keyframe of the shared
//!   feed of its track selection (no per-viewer muxing), or with `seek_time` from
//!   that time in the DVR window. On demand: from `seek_time`. Paced
//!   [`VOD_LEAD_MS`](super::playback::VOD_LEAD_MS) ahead of the player, except on
//!   the live edge, which comes in real time.
//! * `pause` / `hold` → sending stops, answered with `pause`; live resumes at the
//!   live edge, on-demand where it stopped.
//! * `seek` → restart at that time (live: inside the DVR window, or `"live"`),
//!   answered with `seek`.
//! * `set_speed` → answered with `set_speed`; it scales the pacing (on demand,
//!   and live while catching up from the DVR window, until the live edge).
//! * `tracks {video, audio}` → MistServer's selectors (`none`, `all`, `maxbps`,
//!   `minbps`, track ids) choose the tracks; a change after the init segment sends
//!   `codec_data` and a new init segment. Answered with `tracks`.
//! * `stop` → `on_stop`, then the connection closes.
//!
//! While playing, `on_time` goes out about once a second (and right after the first
//! fragment of a play or seek) with the media time of the last fragment sent and the
//! available window. The end of a file is followed by `on_stop`. A bad command is
//! answered with `error` and the connection stays; an oversize message closes it.
//! When the stream is removed or restarted, `on_stop` is sent and the socket closed
//! (close code 1001, "stream removed").

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::command::{parse_command, Command, PlayRate, SeekTarget};
use super::playback::Playback;
use super::{close, send, send_json, SessionError, PEER_TIMEOUT, PING_INTERVAL};
use crate::metrics::Viewer;
use crate::stream::live::feed::Format;
use crate::stream::media::Media;
use crate::stream::selection::{Selection, Selector, SelectorError};
use crate::stream::subscription::{Chunk, ReadError, Start, Subscription};
use crate::stream::{StreamEntry, StreamState};

/// How often `on_time` is sent while playing.
pub const ON_TIME_INTERVAL: Duration = Duration::from_secs(1);

/// Runs one MEWS connection until the client stops or leaves.
pub async fn run<S>(
    ws: WebSocketStream<S>,
    entry: Arc<StreamEntry>,
    media: Media,
    viewer: Arc<Viewer>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let watch = matches!(media, Media::Live(_)).then(|| entry.watch());
    let mut on_time = tokio::time::interval(ON_TIME_INTERVAL);
    on_time.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut session = MewsSession {
        ws,
        entry,
        media,
        watch,
        selection: None,
        chosen: None,
        failed: None,
        init_sent: false,
        playback: None,
        playing: false,
        rate: PlayRate::Auto,
        current_ms: None,
        announce: false,
        on_time,
        last_heard: Instant::now(),
        viewer,
    };
    let result = session.serve().await;
    let frame = match &result {
        Ok(()) if session.entry.is_stopped() => Some(CloseFrame {
            code: CloseCode::Away,
            reason: "stream removed".into(),
        }),
        // The stream could not be read: 1011, the server's failure.
        Ok(()) if session.failed.is_some() => Some(CloseFrame {
            code: CloseCode::Error,
            reason: "reading the stream failed".into(),
        }),
        Ok(()) => None,
        Err(SessionError::Socket(WsError::Capacity(err))) => {
            tracing::debug!(%err, "client message over the limits; closing");
            Some(CloseFrame {
                code: CloseCode::Size,
                reason: "message too big".into(),
            })
        }
        Err(err) => {
            tracing::debug!(%err, "MP4 websocket ended");
            None
        }
    };
    close(session.ws, frame).await;
}

/// The next chunk of the playback, if there is one.
async fn next_output(playback: &mut Option<Playback>) -> Option<Result<Chunk, ReadError>> {
    match playback {
        None => std::future::pending().await,
        Some(playback) => playback.next().await,
    }
}

/// Whether the connection goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

struct MewsSession<S> {
    ws: WebSocketStream<S>,
    entry: Arc<StreamEntry>,
    media: Media,
    /// Live only: the stream's state, to notice it restarting or ending.
    watch: Option<watch::Receiver<StreamState>>,
    /// The tracks this viewer gets, once decided.
    selection: Option<Arc<Selection>>,
    /// The tracks chosen with the `tracks` command, if it was sent.
    chosen: Option<Arc<Selection>>,
    /// Why reading the stream failed, if it did (decides the close code).
    failed: Option<ReadError>,
    init_sent: bool,
    /// What is being sent (or paused, on demand).
    playback: Option<Playback>,
    playing: bool,
    rate: PlayRate,
    /// Media time (ms) of the last fragment sent, or where a seek went.
    current_ms: Option<i64>,
    /// Send `on_time` right after the next fragment (after play or seek).
    announce: bool,
    on_time: Interval,
    last_heard: Instant,
    /// This socket's viewer session (bytes sent; ends with the socket).
    viewer: Arc<Viewer>,
}

impl<S> MewsSession<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async fn serve(&mut self) -> Result<(), SessionError> {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.tick().await;
        let entry = self.entry.clone();
        loop {
            let flow = tokio::select! {
                // Removed or restarted: say so, then close (see `run`).
                () = entry.stopped() => {
                    let _ = send_json(&mut self.ws, &json!({"type": "on_stop"})).await;
                    Flow::Stop
                }
                incoming = self.ws.next() => match incoming {
                    None => return Ok(()),
                    Some(Err(err)) => return Err(err.into()),
                    Some(Ok(message)) => {
                        self.last_heard = Instant::now();
                        self.message(message).await?
                    }
                },
                output = next_output(&mut self.playback), if self.playing => {
                    self.output(output).await?
                }
                _ = self.on_time.tick(), if self.playing => {
                    self.send_on_time().await?;
                    Flow::Continue
                }
                _ = ping.tick() => {
                    if self.last_heard.elapsed() > PEER_TIMEOUT {
                        return Err(SessionError::PeerSilent(PEER_TIMEOUT));
                    }
                    send(&mut self.ws, Message::Ping(Bytes::new())).await?;
                    Flow::Continue
                }
                changed = state_changed(&mut self.watch) => self.state_changed(changed.is_err()),
            };
            if flow == Flow::Stop {
                return Ok(());
            }
        }
    }

    async fn message(&mut self, message: Message) -> Result<Flow, SessionError> {
        match message {
            Message::Text(text) => self.command(text.as_str()).await,
            Message::Binary(_) => {
                self.error("binary messages are not understood; send JSON commands")
                    .await?;
                Ok(Flow::Continue)
            }
            Message::Close(_) => Ok(Flow::Stop),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(Flow::Continue),
        }
    }

    async fn command(&mut self, text: &str) -> Result<Flow, SessionError> {
        let command = match parse_command(text) {
            Ok(command) => command,
            Err(err) => {
                self.error(&err.to_string()).await?;
                return Ok(Flow::Continue);
            }
        };
        tracing::trace!(?command, "MEWS command");
        match command {
            Command::RequestCodecData { supported } => self.request_codec_data(supported).await?,
            Command::Play { seek } => self.play(seek).await?,
            Command::Pause | Command::Hold => self.pause().await?,
            Command::Seek { target } => self.seek(target).await?,
            Command::SetSpeed { rate } => self.set_speed(rate).await?,
            Command::Tracks { video, audio } => self.tracks(video, audio).await?,
            Command::Stop => {
                send_json(&mut self.ws, &json!({"type": "on_stop"})).await?;
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    async fn error(&mut self, message: &str) -> Result<(), SessionError> {
        send_json(&mut self.ws, &json!({"type": "error", "data": message})).await
    }

    fn selection_or_all(&self) -> Arc<Selection> {
        self.selection
            .clone()
            .unwrap_or_else(|| Arc::new(Selection::all(self.media.tracks())))
    }

    fn codec_names(&self) -> String {
        let names: Vec<&str> = self
            .media
            .tracks()
            .iter()
            .map(|t| t.codec.mist_name())
            .collect();
        names.join(", ")
    }

    async fn send_codec_data(&mut self, selection: &Selection) -> Result<(), SessionError> {
        let doc = json!({"type": "codec_data", "data": {
            "codecs": selection.codecs(),
            "tracks": selection.ids(),
        }});
        send_json(&mut self.ws, &doc).await
    }

    async fn request_codec_data(
        &mut self,
        supported: Option<Vec<String>>,
    ) -> Result<(), SessionError> {
        if let Some(chosen) = self.selection.clone().filter(|_| self.init_sent) {
            // The init segment is out: the selection stays for this connection.
            return self.send_codec_data(&chosen).await;
        }
        let tracks = self.media.tracks();
        let mut selection = match &supported {
            None => Selection::all(tracks),
            Some(names) => Selection::supported(tracks, names),
        };
        if let Some(chosen) = &self.chosen {
            // Tracks picked with `tracks`, among those the player can decode.
            selection = selection.and(chosen, tracks);
        }
        if selection.is_empty() {
            let message = format!(
                "this player supports none of the stream's codecs ({})",
                self.codec_names()
            );
            return self.error(&message).await;
        }
        let selection = Arc::new(selection);
        self.selection = Some(selection.clone());
        self.send_codec_data(&selection).await
    }

    /// The selection, deciding it (every track) and telling the client if needed.
    async fn ensure_selection(&mut self) -> Result<Arc<Selection>, SessionError> {
        if let Some(selection) = &self.selection {
            return Ok(selection.clone());
        }
        let selection = Arc::new(Selection::all(self.media.tracks()));
        self.send_codec_data(&selection).await?;
        self.selection = Some(selection.clone());
        Ok(selection)
    }

    /// Starts a paced subscription of the selected tracks at `start`.
    async fn open(&mut self, selection: Arc<Selection>, start: Start) -> Result<(), SessionError> {
        let opened = Subscription::open(
            &self.media,
            Format::Mp4,
            selection,
            start,
            self.viewer.clone(),
        );
        let mut subscription = match opened {
            Ok(subscription) => subscription,
            Err(err) => {
                self.playback = None;
                return self.error(&err.to_string()).await;
            }
        };
        if self.init_sent {
            subscription.skip_header();
        }
        let position = match start {
            Start::At(ms) => ms,
            Start::Edge if self.media.is_live() => window(&self.media).1,
            Start::Edge => 0,
        };
        self.current_ms = match start {
            Start::At(ms) => Some(ms),
            Start::Edge => None,
        };
        self.playback = Some(Playback::new(subscription, position, self.rate.factor()));
        Ok(())
    }

    /// Starts or resumes sending; `seek` repositions first.
    async fn play(&mut self, seek: Option<SeekTarget>) -> Result<(), SessionError> {
        let selection = self.ensure_selection().await?;
        let start = match (self.playback.as_mut(), seek) {
            (_, Some(SeekTarget::Ms(ms))) => Some(Start::At(ms)),
            // Already playing the live edge, or paused on demand: go on.
            (Some(playback), Some(SeekTarget::Live) | None) => {
                playback.clock.resume(Instant::now());
                None
            }
            (None, Some(SeekTarget::Live) | None) => Some(match self.media {
                Media::Live(_) => Start::Edge,
                Media::Vod(_) => Start::At(0),
            }),
        };
        if let Some(start) = start {
            self.open(selection, start).await?;
            if self.playback.is_none() {
                return Ok(());
            }
        }
        if !self.playing {
            self.on_time.reset();
        }
        self.playing = true;
        self.announce = true;
        Ok(())
    }

    async fn pause(&mut self) -> Result<(), SessionError> {
        self.playing = false;
        match (&self.media, &mut self.playback) {
            // Live resumes at the live edge, so the position is let go.
            (Media::Live(_), playback) => *playback = None,
            (Media::Vod(_), Some(playback)) => playback.clock.pause(Instant::now()),
            (Media::Vod(_), None) => {}
        }
        let mut data = self.time_data();
        if let Value::Object(map) = &mut data {
            map.insert("paused".into(), Value::Bool(true));
        }
        send_json(&mut self.ws, &json!({"type": "pause", "data": data})).await
    }

    async fn seek(&mut self, target: SeekTarget) -> Result<(), SessionError> {
        if let (Media::Vod(_), SeekTarget::Live) = (&self.media, target) {
            return self
                .error("an on-demand stream seeks to a time in milliseconds")
                .await;
        }
        // Live: a time inside the DVR window, or the live edge.
        self.playback = None;
        self.play(Some(target)).await?;
        self.on_time.reset();
        let mut data = self.time_data();
        if let Value::Object(map) = &mut data {
            let seek_time = match target {
                SeekTarget::Live => Value::from("live"),
                SeekTarget::Ms(ms) => Value::from(ms),
            };
            map.insert("seek_time".into(), seek_time);
        }
        send_json(&mut self.ws, &json!({"type": "seek", "data": data})).await
    }

    async fn set_speed(&mut self, rate: PlayRate) -> Result<(), SessionError> {
        self.rate = rate;
        if let Some(playback) = &mut self.playback {
            playback.clock.set_rate(Instant::now(), rate.factor());
        }
        let doc = json!({"type": "set_speed", "data": {
            "play_rate": rate.to_json(),
            "play_rate_curr": self.rate_now(),
        }});
        send_json(&mut self.ws, &doc).await
    }

    /// The delivery rate in force: the live edge is always real time (`"auto"`).
    fn rate_now(&self) -> Value {
        let on_edge = self
            .playback
            .as_ref()
            .is_none_or(|p| p.subscription.at_live_edge());
        match self.media {
            Media::Live(_) if on_edge => Value::from("auto"),
            _ => self.rate.to_json(),
        }
    }

    /// `tracks`: chooses the tracks with MistServer's selectors.
    async fn tracks(
        &mut self,
        video: Option<String>,
        audio: Option<String>,
    ) -> Result<(), SessionError> {
        if video.is_some() || audio.is_some() {
            let chosen = (|| -> Result<Selection, SelectorError> {
                let video = video.map(|v| Selector::parse("video", &v)).transpose()?;
                let audio = audio.map(|a| Selector::parse("audio", &a)).transpose()?;
                let bitrates = self.media.track_bitrates();
                Selection::from_selectors(
                    self.media.tracks(),
                    video.as_ref(),
                    audio.as_ref(),
                    &bitrates,
                )
            })();
            let selection = match chosen {
                Ok(selection) => Arc::new(selection),
                Err(err) => return self.error(&err.to_string()).await,
            };
            self.chosen = Some(selection.clone());
            let changed = self
                .selection
                .as_ref()
                .is_none_or(|s| s.ids() != selection.ids());
            if changed {
                self.selection = Some(selection.clone());
                if self.init_sent {
                    // New tracks need a new init segment, then media from where
                    // the player is.
                    self.init_sent = false;
                    self.send_codec_data(&selection).await?;
                    if self.playback.is_some() {
                        let start = match (&self.media, self.current_ms) {
                            (Media::Live(_), _) if self.at_edge() => Start::Edge,
                            (_, Some(ms)) => Start::At(ms),
                            (Media::Live(_), None) => Start::Edge,
                            (Media::Vod(_), None) => Start::At(0),
                        };
                        self.open(selection, start).await?;
                        self.announce = true;
                    }
                }
            }
        }
        let selection = self.selection_or_all();
        let doc = json!({"type": "tracks", "data": {
            "codecs": selection.codecs(),
            "tracks": selection.ids(),
            "current": self.current(),
        }});
        send_json(&mut self.ws, &doc).await
    }

    fn at_edge(&self) -> bool {
        self.playback
            .as_ref()
            .is_some_and(|p| p.subscription.at_live_edge())
    }

    async fn output(
        &mut self,
        output: Option<Result<Chunk, ReadError>>,
    ) -> Result<Flow, SessionError> {
        match output {
            Some(Ok(chunk)) => {
                send(&mut self.ws, Message::Binary(chunk.bytes)).await?;
                if chunk.header {
                    self.init_sent = true;
                    return Ok(Flow::Continue);
                }
                if let Some(ms) = chunk.start_ms {
                    self.current_ms = Some(ms);
                }
            }
            None if self.media.is_live() => {
                send_json(&mut self.ws, &json!({"type": "on_stop"})).await?;
                return Ok(Flow::Stop);
            }
            None => {
                self.send_on_time().await?;
                send_json(&mut self.ws, &json!({"type": "on_stop"})).await?;
                self.playing = false;
                return Ok(Flow::Continue);
            }
            Some(Err(err)) => {
                tracing::warn!(%err, "reading the stream failed; ending the MP4 websocket");
                self.error("reading the stream failed").await?;
                self.failed = Some(err);
                return Ok(Flow::Stop);
            }
        }
        if self.announce {
            self.announce = false;
            self.send_on_time().await?;
            self.on_time.reset();
        }
        Ok(Flow::Continue)
    }

    /// The live stream changed state: a restart or an end closes the connection
    /// (the player reconnects and starts over with the new tracks).
    fn state_changed(&mut self, gone: bool) -> Flow {
        let Media::Live(live) = &self.media else {
            return Flow::Continue;
        };
        let same = !gone
            && matches!(self.entry.state(), StreamState::Live(now) if now.instance == live.instance);
        if same {
            Flow::Continue
        } else {
            tracing::debug!("the live stream restarted or ended; closing the MP4 websocket");
            Flow::Stop
        }
    }

    /// Media time of the last fragment sent (ms).
    fn current(&self) -> i64 {
        match &self.media {
            Media::Live(_) => self.current_ms.unwrap_or_else(|| window(&self.media).1),
            Media::Vod(_) => self.current_ms.unwrap_or(0),
        }
    }

    fn time_data(&self) -> Value {
        let (begin, end) = window(&self.media);
        json!({
            "current": self.current(),
            "begin": begin,
            "end": end,
            "tracks": self.selection_or_all().ids(),
            "play_rate_curr": self.rate_now(),
        })
    }

    async fn send_on_time(&mut self) -> Result<(), SessionError> {
        let doc = json!({"type": "on_time", "data": self.time_data()});
        send_json(&mut self.ws, &doc).await
    }
}

/// The media time span (ms) a viewer can play: the DVR window, or the whole file.
fn window(media: &Media) -> (i64, i64) {
    match media {
        Media::Live(live) => {
            let stats = live.track_stats();
            let begin = stats.iter().map(|s| s.first_ms).min().unwrap_or(0);
            let end = stats.iter().map(|s| s.last_ms).max().unwrap_or(0);
            (begin, end)
        }
        Media::Vod(vod) => (0, vod.duration_ms()),
    }
}

/// Waits for the stream's next state change; never resolves without a receiver.
async fn state_changed(
    watch: &mut Option<watch::Receiver<StreamState>>,
) -> Result<(), watch::error::RecvError> {
    match watch {
        Some(receiver) => receiver.changed().await,
        None => std::future::pending().await,
    }
}
