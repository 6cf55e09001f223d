//! The HTTP media port: accepting connections, answering requests.
//!
//! HTTP/1.1 with keep-alive (hyper). Nothing is tied to a connection: a reverse
//! proxy may send any request on any pooled connection. Every response carries open
//! CORS headers as MistServer's do; OPTIONS and HEAD answer with headers only.
//! Routing is in [`router`]; the outputs live in [`progressive`] (whole-stream
//! responses) and [`segmented`] (HLS, CMAF, DASH).

pub mod body;
pub mod connection;
pub mod info;
pub mod ll_hls;
pub mod ll_query;
pub mod pages;
pub mod playlists;
pub mod progressive;
pub mod public_base;
pub mod range;
pub mod response;
pub mod router;
pub mod segmented;
pub mod vendor;
pub mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::Instrument;

use body::Body;
use response::{add_common_headers, empty, not_found, text};
use router::{Route, RouteError};

use crate::config::Config;
use crate::config_limits::LimitsConfig;
use crate::conn_limits::{answer_busy, Gate, Slot};
use crate::state::ServerState;
use crate::stream::live::feed::Format;
use crate::stream::media::Media;
use crate::stream::{Registry, StreamEntry, StreamState};

/// Request headers bigger than this are refused (431).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Requests with more header fields than this are refused (431).
pub const MAX_HEADERS: usize = 100;
/// How long a media request waits for a source that is still opening.
const SOURCE_OPEN_WAIT: Duration = Duration::from_secs(10);

/// The scheme a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What every request handler of one listener can reach.
#[derive(Debug)]
pub struct HttpContext {
    /// The running server: configuration (public addresses, trusted proxies…),
    /// streams, metrics.
    pub state: Arc<ServerState>,
    /// What this listener speaks.
    pub scheme: Scheme,
    /// The port this listener serves, for URLs built from a Host header without one.
    pub local_port: u16,
}

impl HttpContext {
    /// The stream registry.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.state.config.current()
    }

    /// The port the RTMP listener is bound to, for RTMP URLs in stream info.
    pub fn rtmp_port(&self) -> u16 {
        self.state.rtmp_port()
    }
}

/// Accepts TCP connections until the task is dropped, admitting each through the
/// listener's [`Gate`] (`limits.http`); a refused client gets a 503.
pub async fn serve(listener: TcpListener, context: Arc<HttpContext>) {
    let gate = Gate::configured(
        "http",
        context.state.config.clone(),
        context.state.metrics.clone(),
        true,
        LimitsConfig::http,
        true,
    );
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment, keep serving.
                tokio::time::sleep(gate.accept_failed(&err)).await;
                continue;
            }
        };
        let Some(slot) = gate.admit(Some(peer.ip())) else {
            answer_busy(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        serve_connection(stream, context.clone(), Some(peer), slot);
    }
}

/// Serves HTTP/1.1 on one accepted connection (TCP, TLS or Unix socket) in its own
/// task, holding its listener's `slot` until it ends. `peer` is `None` for a
/// Unix-socket peer (a local proxy).
///
/// The connection's IO is wrapped in [`connection::GuardedIo`] with the
/// configured [`connection::Timeouts`]: a request head must be complete within
/// `http.head_timeout_ms` of its first byte, a connection that accepts no data
/// for `http.write_timeout_ms` is closed, and a keep-alive connection idle for
/// `http.idle_timeout_ms` is closed (hyper's header-read timer, which starts when
/// a connection waits for its next request).
pub fn serve_connection<I>(io: I, context: Arc<HttpContext>, peer: Option<SocketAddr>, slot: Slot)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let span = match peer {
        Some(peer) => {
            tracing::debug_span!("conn", conn = id, %peer, scheme = context.scheme.as_str())
        }
        None => tracing::debug_span!(
            "conn",
            conn = id,
            peer = "unix",
            scheme = context.scheme.as_str()
        ),
    };
    tokio::spawn(
        async move {
            let _slot = slot;
            let timeouts = connection::Timeouts::of(&context.state.config.current().http);
            let (io, tracker) = connection::GuardedIo::new(io, timeouts);
            let service = hyper::service::service_fn(move |req| {
                let context = context.clone();
                let tracker = tracker.clone();
                let in_flight = tracker.begin();
                async move {
                    let response = handle(req, &context, peer).await;
                    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                        tracker.upgraded();
                    }
                    Ok::<_, Infallible>(
                        response.map(|body| connection::TrackedBody::new(body, in_flight)),
                    )
                }
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .header_read_timeout(timeouts.idle)
                .max_headers(MAX_HEADERS)
                .max_buf_size(MAX_HEADER_BYTES.max(8192))
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades()
                .await;
            if let Err(err) = result {
                tracing::debug!(%err, "connection ended with an error");
            }
        }
        .instrument(span),
    );
}

/// Answers one request.
pub async fn handle(
    mut req: Request<Incoming>,
    context: &HttpContext,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let metrics = &context.state.metrics;
    metrics.request();
    // The path is routed once, here; media GETs also open viewer sessions.
    let routed = router::route(req.uri().path());
    let viewed = match &routed {
        Ok(route) => {
            metrics.routes.request(route);
            crate::metrics::ViewedRequest::start(&mut req, route, context, peer)
        }
        Err(_) => None,
    };
    let method = req.method().clone();
    // A Uri clone shares its bytes: no allocation per request for the log line.
    let uri = req.uri().clone();
    let mut response = match method {
        Method::OPTIONS => empty(StatusCode::OK),
        Method::GET | Method::HEAD | Method::POST => {
            route_request(req, routed, context, peer).await
        }
        Method::DELETE | Method::PATCH
            if matches!(routed, Ok(Route::WhepSession(..) | Route::WhipSession(..))) =>
        {
            route_request(req, routed, context, peer).await
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    // A WHIP path may name a stream key (PUSH_REWRITE): never logged.
    let path = if uri.path().starts_with("/whip/") {
        "/whip/…"
    } else {
        uri.path()
    };
    tracing::debug!(%method, path, status = response.status().as_u16(), "request");
    metrics.response(response.status().as_u16());
    if let Some(viewed) = viewed {
        viewed.finish(&mut response, metrics);
    }
    add_common_headers(&mut response);
    if method == Method::HEAD {
        // Headers only, but with the length a GET would have.
        if let Some(len) = http_body::Body::size_hint(response.body()).exact() {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, len.into());
        }
        *response.body_mut() = Body::Empty;
    } else if method == Method::OPTIONS {
        *response.body_mut() = Body::Empty;
    }
    response
}

/// Whether the request asks to become a WebSocket.
pub fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(header::UPGRADE, "websocket") && has_token(header::CONNECTION, "upgrade")
}

async fn route_request(
    req: Request<Incoming>,
    routed: Result<Route, RouteError>,
    context: &HttpContext,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    let mut route = match routed {
        Ok(route) => route,
        Err(RouteError::BadEncoding) => return text(StatusCode::BAD_REQUEST, "bad request path\n"),
        Err(RouteError::NotFound) => return not_found(),
    };
    if let Err(refused) = crate::access::http::check_publish(&req, &mut route, context, peer).await
    {
        return refused;
    }
    // Shares the request's bytes: no allocation.
    let uri = req.uri().clone();
    let admitted = match crate::access::http::check(&req, &route, context, peer).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let mut response = answer_route(req, &route, context, peer).await;
    crate::access::carry::response(&route, uri.query(), &mut response);
    if matches!(route, Route::Mp4(_) | Route::Ts(_) | Route::Flv(_)) {
        // A progressive viewer's session lasts as long as its body.
        let body = std::mem::replace(response.body_mut(), Body::Empty);
        *response.body_mut() = Body::Held(Box::new(body), admitted);
    }
    response
}

async fn answer_route(
    req: Request<Incoming>,
    route: &Route,
    context: &HttpContext,
    peer: Option<SocketAddr>,
) -> Response<Body> {
    if is_websocket_upgrade(req.headers()) {
        return match route {
            Route::Mp4(name) => ws::mews(req, context, name).await,
            Route::JsonInfo(name) => ws::stream_info(req, context, peer, name).await,
            _ => text(StatusCode::BAD_REQUEST, "no WebSocket here\n"),
        };
    }
    let headers = req.headers();
    match route {
        Route::Root => text(
            StatusCode::OK,
            "Brume media server. Try /demo.html, /demo.mp4 or /json_demo.js\n",
        ),
        Route::JsonInfo(name) => json_info(&req, context, peer, name),
        Route::Load if context.config().load_json => crate::balance::load::answer(context),
        Route::Load => not_found(),
        Route::Whep(name) => crate::webrtc::whep::offer(req, context, peer, name).await,
        Route::WhepSession(name, id) => crate::webrtc::whep::resource(&req, context, name, id),
        Route::Whip(name) => crate::webrtc::whip::offer(req, context, peer, name).await,
        Route::WhipSession(name, id) => crate::webrtc::whep::resource(&req, context, name, id),
        Route::Vendor(asset) => vendor::answer(headers, *asset),
        Route::Page(_) | Route::PlayerJs | Route::Embed(_) | Route::InfoJs(_) => {
            pages::answer(&req, context, peer, route)
        }
        Route::Mp4(name) => progressive_route(context, &req, name, Format::Mp4).await,
        Route::Ts(name) => progressive_route(context, &req, name, Format::Ts).await,
        Route::Flv(name) => progressive_route(context, &req, name, Format::Flv).await,
        Route::HlsMaster(name)
        | Route::HlsMedia(name)
        | Route::HlsSegment(name, _)
        | Route::CmafMaster(name)
        | Route::CmafMedia(name, _)
        | Route::CmafInit(name, _)
        | Route::CmafSegment(name, _, _)
        | Route::CmafPart(name, _, _, _)
        | Route::Dash(name) => match media(context, name).await {
            Ok(media) => segmented::answer(headers, req.uri().query(), route, &media).await,
            Err(response) => response,
        },
    }
}

async fn progressive_route(
    context: &HttpContext,
    req: &Request<Incoming>,
    name: &str,
    format: Format,
) -> Response<Body> {
    let protocol = match format {
        Format::Mp4 => crate::metrics::Protocol::Mp4,
        Format::Ts => crate::metrics::Protocol::Ts,
        Format::Flv => crate::metrics::Protocol::Flv,
    };
    let audience = crate::stream::subscription::Audience {
        metrics: context.state.metrics.clone(),
        stream: name.to_owned(),
        protocol,
        ip: crate::metrics::request_client_ip(req),
    };
    match media(context, name).await {
        Ok(media) => {
            progressive::serve(req.headers(), req.uri().query(), media, format, audience).await
        }
        Err(response) => response,
    }
}

/// The stream's media once its source is open, or the response explaining why not.
async fn media(context: &HttpContext, name: &str) -> Result<Media, Response<Body>> {
    let Some(entry) = context.registry().get(name) else {
        return Err(not_found());
    };
    match entry.settled_state(SOURCE_OPEN_WAIT).await {
        StreamState::Live(live) => Ok(Media::Live(live)),
        StreamState::Vod(_) => match entry.current_vod().await {
            Some(vod) => Ok(Media::Vod(vod)),
            None => Err(unavailable(&entry)),
        },
        _ => Err(unavailable(&entry)),
    }
}

fn unavailable(entry: &StreamEntry) -> Response<Body> {
    let reason = match entry.state() {
        StreamState::Error(reason) => reason.public(),
        StreamState::Starting => "stream is initializing",
        _ => "stream is offline",
    };
    text(StatusCode::SERVICE_UNAVAILABLE, &format!("{reason}\n"))
}

/// `/json_S.js`: the stream info document, with URLs under this request's bases.
fn json_info(
    req: &Request<Incoming>,
    context: &HttpContext,
    peer: Option<SocketAddr>,
    name: &str,
) -> Response<Body> {
    info::answer(req.headers(), context, peer, name, info::Flavor::Json)
}
