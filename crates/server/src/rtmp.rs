//! The RTMP port: publishers push live streams in, players pull streams out.
//!
//! Each connection runs one sans-IO [`ServerSession`] (brume-rtmp): bytes read
//! from the socket go in, bytes to write and events come out, and the session's
//! deadlines (handshake, idle) are slept on here. A publisher must name a
//! configured `push://` stream (`rtmp://host/APP/STREAM`); with a stream
//! `password`, APP must equal it (MistServer's convention; compared in constant
//! time, and a client with [`MAX_PUBLISH_FAILURES`] wrong ones in a minute is
//! refused until the window passes, counted in `brume_refused_total`). Media messages are FLV
//! tag bodies, demuxed into frames of the stream. A player (`rtmp://host/play/S`,
//! any app) is an adapter over an FLV [`Subscription`]: live, the stream's shared
//! FLV feed re-framed into RTMP messages (no media muxing per player); on demand,
//! the file muxed to FLV one segment at a time. Anything a peer does wrong closes
//! that connection only ([`ConnectionError`]). What a connection's session holds of
//! unfinished messages is reserved from the server's [`BufferBudget`]
//! (`limits.protocol_buffer_bytes`) after each read; past it the connection is
//! closed. When the stream a connection
//! publishes or plays is removed or restarted, the connection is closed.
//! Triggers ([`crate::triggers`]): a publish asks PUSH_REWRITE (key → stream name)
//! and STREAM_PUSH, and starts STREAM_BUFFER/STREAM_END watching; a play asks the
//! viewer admission ([`crate::access`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brume_media::flv::tag::{TagHeader, FILE_HEADER_SIZE, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_SIZE};
use brume_media::flv::{TagDemuxer, TagEvent};
use brume_rtmp::{Event, MediaKind, RejectCode, ServerSession, SessionConfig};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use tracing::Instrument;

use crate::api::password::constant_time_eq;
use crate::buffer_budget::{BudgetExceeded, BufferBudget, Reservation};
use crate::config_limits::LimitsConfig;
use crate::config_store::ConfigStore;
use crate::conn_limits::Gate;
use crate::failures::FailureLimiter;
use crate::metrics::{Metrics, Protocol};
use crate::state::ServerState;
use crate::stream::live::feed::Format;
use crate::stream::media::Media;
use crate::stream::publish::{PublishRefusal, Publisher};
use crate::stream::selection::Selection;
use crate::stream::subscription::{
    Audience, Chunk, ReadError, Start, SubscribeError, Subscription,
};
use crate::stream::{Registry, StreamEntry, StreamState};
use crate::triggers::stream_watch::BufferWatch;
use crate::triggers::{payload, Event as Trigger};

/// Bytes read from a socket at a time.
const READ_BUFFER: usize = 64 * 1024;
/// A write to a slow peer that takes longer than this ends the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a play request waits for a starting source (a pulled stream's first
/// viewer starts its pull).
const PLAY_OPEN_WAIT: Duration = Duration::from_secs(10);
/// Wrong stream passwords allowed per client (IPv4 address or IPv6 /64) within
/// [`PUBLISH_FAILURE_WINDOW`]; more are refused without looking at the password.
pub const MAX_PUBLISH_FAILURES: usize = 5;
pub const PUBLISH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Why an RTMP connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("read failed: {0}")]
    Read(#[source] std::io::Error),
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("the peer stopped reading for {0:?}")]
    WriteTimeout(Duration),
    #[error("RTMP: {0}")]
    Protocol(#[from] brume_rtmp::RtmpError),
    #[error("the stream was removed")]
    StreamRemoved,
    #[error("publish refused: no such stream")]
    UnknownStream,
    #[error("publish refused: wrong password")]
    WrongPassword,
    #[error("publish refused: too many wrong passwords from this address")]
    TooManyFailures,
    #[error("publish refused: {0}")]
    PublishRefused(#[from] PublishRefusal),
    #[error("closed to protect memory: {0}")]
    MemoryBudget(#[source] BudgetExceeded),
    #[error("playing failed: {0}")]
    Play(#[from] ReadError),
    #[error("publish refused by the PUSH_REWRITE trigger")]
    RewriteRefused,
    #[error("publish refused by the STREAM_PUSH trigger")]
    PushRefused,
    #[error("play refused: {0}")]
    ViewerRefused(#[from] crate::access::Refused),
}

/// Accepts RTMP connections until the task is dropped.
/// Connections are admitted through the port's [`Gate`] (`limits.rtmp`); a
/// refused one is closed at once, nothing read or buffered for it.
pub async fn serve(listener: TcpListener, server: Arc<ServerState>) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    let gate = Gate::configured(
        "rtmp",
        server.config.clone(),
        server.metrics.clone(),
        false,
        LimitsConfig::rtmp,
        false,
    );
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tokio::time::sleep(gate.accept_failed(&err)).await;
                continue;
            }
        };
        let Some(slot) = gate.admit(Some(peer.ip())) else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("rtmp", conn = id, %peer);
        let connection = Connection::new(socket, peer, &server);
        tokio::spawn(
            async move {
                let _slot = slot;
                match connection.run().await {
                    Ok(()) => tracing::debug!("RTMP connection closed"),
                    Err(reason) => tracing::info!(%reason, "RTMP connection closed"),
                }
            }
            .instrument(span),
        );
    }
}

/// A player: its subscription and the FLV bytes not yet forming a whole tag.
struct PlaySource {
    stream_id: u32,
    subscription: Subscription,
    pending: BytesMut,
}

struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
    /// Wrong stream passwords per client, shared by all RTMP connections.
    failures: Arc<FailureLimiter>,
    config: Arc<ConfigStore>,
    triggers: Arc<crate::triggers::Triggers>,
    access: Arc<crate::access::Admission>,
    /// STREAM_BUFFER/STREAM_END for what this connection publishes.
    buffer_watch: Option<BufferWatch>,
    /// The player's admission: its trigger session lasts as long as the connection.
    admitted: Option<crate::access::Admitted>,
    /// This connection's share of the protocol buffer budget: what its session
    /// holds of unfinished messages.
    buffers: Reservation,
    session: ServerSession,
    publisher: Option<(u32, Publisher, TagDemuxer)>,
    player: Option<PlaySource>,
    /// The stream published or played: its removal closes the connection.
    attached: Option<Arc<StreamEntry>>,
}

impl Connection {
    fn new(socket: TcpStream, peer: SocketAddr, server: &ServerState) -> Connection {
        Connection {
            socket,
            peer,
            registry: server.registry.clone(),
            metrics: server.metrics.clone(),
            failures: server.publish_failures.clone(),
            config: server.config.clone(),
            triggers: server.triggers.clone(),
            access: server.access.clone(),
            buffer_watch: None,
            admitted: None,
            buffers: BufferBudget::reservation(&server.buffer_budget),
            session: ServerSession::new(SessionConfig::default(), std::time::Instant::now()),
            publisher: None,
            player: None,
            attached: None,
        }
    }

    async fn run(mut self) -> Result<(), ConnectionError> {
        let mut buffer = vec![0u8; READ_BUFFER];
        loop {
            self.handle_events().await?;
            self.flush().await?;
            let deadline = self
                .session
                .next_deadline()
                .map(tokio::time::Instant::from_std);
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let attached = self.attached.clone();
            let removed = async {
                match &attached {
                    Some(entry) => entry.stopped().await,
                    None => std::future::pending().await,
                }
            };
            let chunk = async {
                match self.player.as_mut() {
                    Some(player) => player.subscription.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = self.socket.read(&mut buffer) => {
                    let n = read.map_err(ConnectionError::Read)?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.session
                        .receive(&buffer[..n], std::time::Instant::now())?;
                    self.account_buffers()?;
                }
                () = sleep => {
                    self.session.handle_timeout(std::time::Instant::now())?;
                }
                () = removed => return Err(ConnectionError::StreamRemoved),
                received = chunk => self.forward_to_player(received)?,
            }
        }
    }

    /// Resizes the connection's reservation to what its session buffers; past
    /// the budget the connection is closed (and counted).
    fn account_buffers(&mut self) -> Result<(), ConnectionError> {
        let want = self.session.buffered_bytes() as u64;
        if want == self.buffers.held() {
            return Ok(());
        }
        let limit = if want > self.buffers.held() {
            self.config.current().limits.protocol_buffer_bytes()
        } else {
            u64::MAX
        };
        self.buffers.resize(want, limit).map_err(|err| {
            self.metrics.refusals.count("rtmp", "memory_budget");
            ConnectionError::MemoryBudget(err)
        })
    }

    async fn flush(&mut self) -> Result<(), ConnectionError> {
        while let Some(bytes) = self.session.poll_transmit() {
            tokio::time::timeout(WRITE_TIMEOUT, self.socket.write_all(&bytes))
                .await
                .map_err(|_| ConnectionError::WriteTimeout(WRITE_TIMEOUT))?
                .map_err(ConnectionError::Write)?;
        }
        Ok(())
    }

    async fn handle_events(&mut self) -> Result<(), ConnectionError> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::PublishRequested {
                    stream_id,
                    app,
                    name,
                } => self.publish(stream_id, &app, &name).await?,
                Event::PlayRequested {
                    stream_id,
                    app,
                    name,
                } => {
                    if let Err(refused) = self.play(stream_id, &app, &name).await {
                        // Say why before closing.
                        self.flush().await?;
                        return Err(refused);
                    }
                }
                Event::Media {
                    stream_id,
                    kind,
                    timestamp_ms,
                    payload,
                } => self.media(stream_id, kind, timestamp_ms, payload),
                Event::Unpublished { stream_id }
                | Event::StreamDeleted { stream_id }
                | Event::PlayStopped { stream_id } => {
                    if self
                        .publisher
                        .as_ref()
                        .is_some_and(|(id, _, _)| *id == stream_id)
                    {
                        self.publisher = None;
                        self.buffer_watch = None;
                    }
                    if self
                        .player
                        .as_ref()
                        .is_some_and(|p| p.stream_id == stream_id)
                    {
                        self.player = None;
                    }
                    if self.publisher.is_none() && self.player.is_none() {
                        self.attached = None;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The URL a client asked for (`rtmp://HOST:PORT/APP/NAME`), for payloads.
    fn request_url(&self, app: &str, name: &str) -> String {
        let local = self
            .socket
            .local_addr()
            .map_or_else(|_| "localhost".to_owned(), |a| a.to_string());
        format!("rtmp://{local}/{app}/{name}")
    }

    async fn publish(
        &mut self,
        stream_id: u32,
        app: &str,
        name: &str,
    ) -> Result<(), ConnectionError> {
        // The key may carry a query (`stream?token=…`); the name is before it.
        let key = name.split('?').next().unwrap_or_default();
        let app_name = app.split('?').next().unwrap_or_default();
        let rewritten;
        let stream = if self.triggers.asks(Trigger::PushRewrite, None) {
            let lines = [
                self.request_url(app, name),
                self.peer.ip().to_canonical().to_string(),
                key.to_owned(),
            ];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            match self
                .triggers
                .ask(Trigger::PushRewrite, None, &payload(&lines))
                .await
            {
                Some(answer) if answer.0.is_empty() => {
                    // The key is a secret: never logged.
                    tracing::warn!("publish refused by PUSH_REWRITE");
                    self.metrics.refusals.count("rtmp", "push_rewrite");
                    self.session.reject_publish(
                        stream_id,
                        RejectCode::Denied,
                        "Publishing was refused by the site.",
                    );
                    return Err(ConnectionError::RewriteRefused);
                }
                Some(answer) => {
                    rewritten = answer.0;
                    rewritten.as_str()
                }
                None => key,
            }
        } else {
            self.triggers.notify(
                Trigger::PushRewrite,
                None,
                &payload(&[
                    &self.request_url(app, name),
                    &self.peer.ip().to_canonical().to_string(),
                    key,
                ]),
            );
            key
        };
        let app = app_name;
        let Some(entry) = self.registry.get(stream) else {
            tracing::warn!(stream, "publish refused: no such stream");
            self.session.reject_publish(
                stream_id,
                RejectCode::BadName,
                "No such stream is configured.",
            );
            return Err(ConnectionError::UnknownStream);
        };
        if let Some(password) = &entry.config.password {
            let now = std::time::Instant::now();
            if let Some(wait) = self.failures.limited(self.peer.ip(), now) {
                tracing::warn!(
                    stream,
                    wait_s = wait,
                    "publish refused: too many wrong passwords"
                );
                self.metrics.refusals.count("rtmp", "publish_rate_limited");
                self.session.reject_publish(
                    stream_id,
                    RejectCode::Denied,
                    &format!("Too many wrong passwords from this address: try again in {wait} s."),
                );
                return Err(ConnectionError::TooManyFailures);
            }
            if !constant_time_eq(app.as_bytes(), password.as_bytes()) {
                // Never log the secret or what was sent in its place.
                tracing::warn!(stream, "publish refused: wrong password");
                self.failures.record(self.peer.ip(), now);
                self.metrics.refusals.count("rtmp", "wrong_password");
                self.session.reject_publish(
                    stream_id,
                    RejectCode::Denied,
                    "Publishing to this stream needs the right password.",
                );
                return Err(ConnectionError::WrongPassword);
            }
        }
        if self.triggers.listens(Trigger::StreamPush, Some(stream)) {
            let lines = [
                stream.to_owned(),
                self.peer.ip().to_canonical().to_string(),
                "RTMP".to_owned(),
                self.request_url(app, stream),
            ];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            let answer = self
                .triggers
                .ask(Trigger::StreamPush, Some(stream), &payload(&lines))
                .await;
            if answer.is_some_and(|a| !a.is_positive()) {
                tracing::warn!(stream, "publish refused by STREAM_PUSH");
                self.metrics.refusals.count("rtmp", "stream_push");
                self.session.reject_publish(
                    stream_id,
                    RejectCode::Denied,
                    "Publishing to this stream was refused by the site.",
                );
                return Err(ConnectionError::PushRefused);
            }
        }
        match entry.begin_publish() {
            Ok(publisher) => {
                tracing::info!(stream, "publisher connected");
                self.buffer_watch = BufferWatch::start(&self.triggers, &entry);
                self.session.accept_publish(stream_id);
                self.publisher = Some((stream_id, publisher, TagDemuxer::new()));
                self.attached = Some(entry);
                Ok(())
            }
            Err(refusal) => {
                tracing::warn!(stream, %refusal, "publish refused");
                self.session
                    .reject_publish(stream_id, RejectCode::BadName, &refusal.to_string());
                Err(refusal.into())
            }
        }
    }

    fn media(&mut self, stream_id: u32, kind: MediaKind, timestamp_ms: u32, payload: Bytes) {
        let Some((id, publisher, demuxer)) = self.publisher.as_mut() else {
            return;
        };
        if *id != stream_id {
            return;
        }
        if let Some(watch) = &self.buffer_watch {
            watch.media();
        }
        self.metrics
            .bytes_in(publisher.stream_name(), payload.len() as u64);
        match demuxer.push_tag_bytes(kind.tag_type(), timestamp_ms, payload) {
            Ok(Some(TagEvent::Track(track))) => publisher.track(track),
            Ok(Some(TagEvent::Frame(frame))) => publisher.frame(frame),
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "skipped a media message"),
        }
    }

    async fn play(&mut self, stream_id: u32, app: &str, name: &str) -> Result<(), ConnectionError> {
        let stream = name.split('?').next().unwrap_or_default();
        if crate::config::validate_stream_name(stream).is_ok() {
            let url = self.request_url(app, name);
            let viewer = crate::access::ViewerRequest {
                stream,
                ip: self.peer.ip().to_canonical(),
                connector: Protocol::Rtmp,
                url: &url,
                user_agent: "",
                token: name
                    .split_once('?')
                    .and_then(|(_, query)| crate::access::token::from_query(Some(query))),
            };
            match self.access.admit(&viewer).await {
                Ok(admitted) => self.admitted = Some(admitted),
                Err(refused) => {
                    self.metrics.refusals.count("rtmp", "viewer_refused");
                    self.session.reject_play(stream_id, &format!("{refused}."));
                    return Err(refused.into());
                }
            }
        }
        let entry = self.registry.get(stream);
        let state = match &entry {
            Some(entry) => Some(entry.settled_state(PLAY_OPEN_WAIT).await),
            None => None,
        };
        let media = match state {
            Some(StreamState::Live(live)) => Media::Live(live),
            Some(StreamState::Vod(vod)) => Media::Vod(vod),
            _ => {
                self.session
                    .reject_play(stream_id, "The stream is offline or does not exist.");
                return Ok(());
            }
        };
        let audience = Audience {
            metrics: self.metrics.clone(),
            stream: stream.to_owned(),
            protocol: Protocol::Rtmp,
            ip: self.peer.ip().to_canonical(),
        };
        let selection = Arc::new(Selection::all(media.tracks()));
        let subscription =
            Subscription::open(&media, Format::Flv, selection, Start::Edge, audience.open());
        let subscription = match subscription {
            Ok(subscription) => subscription,
            Err(err) => {
                tracing::info!(stream, %err, "RTMP play refused");
                let message = match err {
                    SubscribeError::Ended => "The stream has ended.",
                    SubscribeError::Mux(_) => "The stream cannot be played over RTMP.",
                };
                self.session.reject_play(stream_id, message);
                return Ok(());
            }
        };
        self.session.accept_play(stream_id);
        self.attached = entry;
        tracing::info!(stream, live = media.is_live(), "RTMP player started");
        self.player = Some(PlaySource {
            stream_id,
            subscription,
            pending: BytesMut::new(),
        });
        Ok(())
    }

    fn forward_to_player(
        &mut self,
        received: Option<Result<Chunk, ReadError>>,
    ) -> Result<(), ConnectionError> {
        let Some(player) = self.player.as_mut() else {
            return Ok(());
        };
        match received {
            // The FLV header carries metadata and sequence headers; skip the file
            // header, keep the tags.
            Some(Ok(chunk)) if chunk.header => player.pending.extend_from_slice(
                chunk
                    .bytes
                    .get(FILE_HEADER_SIZE + PREVIOUS_TAG_SIZE_LEN..)
                    .unwrap_or_default(),
            ),
            Some(Ok(chunk)) => player.pending.extend_from_slice(&chunk.bytes),
            Some(Err(err)) => return Err(err.into()),
            None => {
                let id = player.stream_id;
                self.player = None;
                self.session.end_play(id);
                return Ok(());
            }
        }
        self.send_pending_tags();
        Ok(())
    }

    /// Sends every whole FLV tag in the player's pending bytes as an RTMP message.
    fn send_pending_tags(&mut self) {
        let Some(player) = self.player.as_mut() else {
            return;
        };
        loop {
            let Ok(header) = TagHeader::parse(&player.pending) else {
                return;
            };
            let total = TAG_HEADER_SIZE + header.data_size as usize + PREVIOUS_TAG_SIZE_LEN;
            if player.pending.len() < total {
                return;
            }
            let tag = player.pending.split_to(total).freeze();
            let body = tag.slice(TAG_HEADER_SIZE..TAG_HEADER_SIZE + header.data_size as usize);
            let kind = match header.tag_type {
                8 => MediaKind::Audio,
                9 => MediaKind::Video,
                _ => MediaKind::Data,
            };
            self.session
                .send_media(player.stream_id, kind, header.timestamp, &body);
        }
    }
}
