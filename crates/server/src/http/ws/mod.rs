//! WebSockets on the media port: MP4 over WebSocket ("MEWS", [`mews`]) on `/S.mp4`
//! and pushed stream info ([`info`]) on `/json_S.js`.
//!
//! This module owns the upgrade: it checks the RFC 6455 handshake headers, answers
//! `101 Switching Protocols` (`Connection: upgrade`, `Upgrade: websocket`,
//! `Sec-WebSocket-Accept`), and once hyper hands over the connection runs the
//! session on a task of its own, in a `ws` tracing span. Everything a peer can send
//! is bounded by the limits below; a message over them closes that connection only.

mod command;
mod info;
mod mews;
mod playback;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use super::body::Body;
use super::public_base;
use super::response::{empty, not_found, set, set_owned, text};
use super::HttpContext;
use crate::metrics::Protocol;
use crate::stream::media::Media;
use crate::stream::StreamState;

pub use command::{parse_command, Command, CommandError, PlayRate, SeekTarget};

/// Largest message (after reassembly of fragments) a client may send; more closes
/// the connection. MEWS commands and pings are a few hundred bytes.
pub const MAX_INCOMING_MESSAGE: usize = 64 * 1024;
/// Largest single frame a client may send.
pub const MAX_INCOMING_FRAME: usize = 64 * 1024;
/// Bytes read from the socket at once.
const READ_BUFFER: usize = 16 * 1024;
/// Outgoing bytes gathered before they are written (each message is flushed anyway).
const WRITE_BUFFER: usize = 64 * 1024;
/// Cap on the outgoing buffer: the largest fragment (a capped VoD segment) plus room.
const MAX_WRITE_BUFFER: usize = 40 * 1024 * 1024;
/// A message the peer does not take within this long ends the connection.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the server pings an open socket (keeps proxies from timing it out).
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// A peer silent for this long (not even a pong) is gone.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(75);
/// How long the closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a MEWS upgrade waits for a source that is still opening.
const MEDIA_OPEN_WAIT: Duration = Duration::from_secs(10);

/// Errors that end a WebSocket session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("websocket: {0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the peer did not take a message within {0:?}")]
    SendTimeout(Duration),
    #[error("the peer was silent for {0:?}")]
    PeerSilent(Duration),
    #[error("could not build a message: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The limits every accepted socket runs with.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_INCOMING_MESSAGE))
        .max_frame_size(Some(MAX_INCOMING_FRAME))
}

/// Sends one message, giving up after [`SEND_TIMEOUT`].
pub(crate) async fn send<S>(
    ws: &mut WebSocketStream<S>,
    message: Message,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(SEND_TIMEOUT, ws.send(message)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(SessionError::SendTimeout(SEND_TIMEOUT)),
    }
}

/// Sends a JSON document as a text message.
pub(crate) async fn send_json<S>(
    ws: &mut WebSocketStream<S>,
    value: &serde_json::Value,
) -> Result<(), SessionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    send(ws, Message::text(serde_json::to_string(value)?)).await
}

/// Starts (or answers) the closing handshake and waits briefly for it to finish.
pub(crate) async fn close<S>(mut ws: WebSocketStream<S>, frame: Option<CloseFrame>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let finish = async {
        // Err: already closed by the peer, or the socket is gone; either way done.
        let _ = ws.close(frame).await;
        use futures_util::StreamExt;
        while let Some(Ok(_)) = ws.next().await {}
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, finish).await;
}

/// Why an upgrade request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum HandshakeError {
    #[error("a WebSocket upgrade must be a GET")]
    NotGet,
    #[error("unsupported WebSocket version")]
    Version,
    #[error("missing or malformed Sec-WebSocket-Key")]
    Key,
}

impl HandshakeError {
    fn response(self) -> Response<Body> {
        let message = format!("{self}\n");
        match self {
            HandshakeError::Version => {
                let mut response = text(StatusCode::UPGRADE_REQUIRED, &message);
                set(&mut response, "sec-websocket-version", "13");
                response
            }
            HandshakeError::NotGet | HandshakeError::Key => text(StatusCode::BAD_REQUEST, &message),
        }
    }
}

/// Checks the handshake headers of an upgrade request; the `Sec-WebSocket-Accept`
/// value to answer with.
fn accept_key(req: &Request<Incoming>) -> Result<String, HandshakeError> {
    if req.method() != Method::GET {
        return Err(HandshakeError::NotGet);
    }
    let headers = req.headers();
    let version_ok = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "13");
    if !version_ok {
        return Err(HandshakeError::Version);
    }
    // The key is 16 random bytes in base64: 24 characters.
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(HeaderValue::as_bytes)
        .filter(|k| {
            k.len() == 24
                && k.iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        })
        .map(derive_accept_key)
        .ok_or(HandshakeError::Key)
}

/// The `101 Switching Protocols` answer.
fn switching_protocols(accept: String) -> Response<Body> {
    let mut response = empty(StatusCode::SWITCHING_PROTOCOLS);
    set(&mut response, "connection", "upgrade");
    set(&mut response, "upgrade", "websocket");
    set_owned(&mut response, header::SEC_WEBSOCKET_ACCEPT, accept);
    response
}

/// Answers the upgrade and runs `session` on the upgraded connection in its own
/// task (in a `ws` span inside the connection's span).
fn upgrade<F, Fut>(
    mut req: Request<Incoming>,
    accept: String,
    kind: &'static str,
    name: &str,
    session: F,
) -> Response<Body>
where
    F: FnOnce(WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(&mut req);
    let span = tracing::debug_span!("ws", kind, stream = %name);
    tokio::spawn(
        async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let ws = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(socket_config()),
                    )
                    .await;
                    tracing::debug!("websocket open");
                    session(ws).await;
                    tracing::debug!("websocket closed");
                }
                Err(err) => tracing::debug!(%err, "upgrade failed"),
            }
        }
        .instrument(span),
    );
    switching_protocols(accept)
}

/// `/S.mp4` as a WebSocket: MP4 over WebSocket (MEWS).
pub async fn mews(req: Request<Incoming>, context: &HttpContext, name: &str) -> Response<Body> {
    let accept = match accept_key(&req) {
        Ok(accept) => accept,
        Err(err) => return err.response(),
    };
    let Some(entry) = context.registry().get(name) else {
        return not_found();
    };
    let media = match entry.settled_state(MEDIA_OPEN_WAIT).await {
        StreamState::Live(live) => Media::Live(live),
        StreamState::Vod(_) => match entry.current_vod().await {
            Some(vod) => Media::Vod(vod),
            None => return text(StatusCode::SERVICE_UNAVAILABLE, "stream is offline\n"),
        },
        StreamState::Error(reason) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{}\n", reason.public()),
            )
        }
        StreamState::Starting => {
            return text(StatusCode::SERVICE_UNAVAILABLE, "stream is initializing\n")
        }
        StreamState::Offline => {
            return text(StatusCode::SERVICE_UNAVAILABLE, "stream is offline\n")
        }
    };
    // One viewer session for the socket's lifetime.
    let viewer = crate::stream::subscription::Audience {
        metrics: context.state.metrics.clone(),
        stream: name.to_owned(),
        protocol: Protocol::Mews,
        ip: crate::metrics::request_client_ip(&req),
    }
    .open();
    upgrade(req, accept, "mews", name, move |ws| async move {
        mews::run(ws, entry, media, viewer).await;
    })
}

/// `/json_S.js` as a WebSocket: the stream info document now and on every change.
pub async fn stream_info(
    req: Request<Incoming>,
    context: &HttpContext,
    peer: Option<SocketAddr>,
    name: &str,
) -> Response<Body> {
    let accept = match accept_key(&req) {
        Ok(accept) => accept,
        Err(err) => return err.response(),
    };
    let resolved = public_base::for_request(req.headers(), peer, context);
    let target = info::InfoTarget {
        registry: Arc::clone(&context.state.registry),
        name: name.to_owned(),
        bases: resolved.bases,
        rtmp_port: context.rtmp_port(),
        webrtc: context.state.webrtc().is_some(),
    };
    upgrade(req, accept, "info", name, move |ws| info::run(ws, target))
}
