//! The HTTP media port: accepting connections, answering requests.
//!
//! HTTP/1.1 with keep-alive (hyper). Nothing is tied to a connection: a reverse
//! proxy may send any request on any pooled connection. Every response carries open
//! CORS headers as MistServer's do; OPTIONS and HEAD answer with headers only.

pub mod body;
pub mod info;
pub mod router;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::Instrument;

use body::{Body, LiveBody};
use info::PublicBase;
use router::{Route, RouteError};

use crate::stream::live::feed::Format;
use crate::stream::{Registry, StreamState};

/// Keep-alive connections idle this long are closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Request headers bigger than this are refused.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long a media request waits for a source that is still opening.
const SOURCE_OPEN_WAIT: Duration = Duration::from_secs(10);

const SERVER: &str = concat!("Brume/", env!("CARGO_PKG_VERSION"));

/// What every request handler can reach.
#[derive(Debug)]
pub struct HttpContext {
    pub registry: Arc<Registry>,
    /// The port this listener serves, for URLs built from a Host header without one.
    pub local_port: u16,
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, context: Arc<HttpContext>) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(0);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment, keep serving.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
        let context = context.clone();
        let span = tracing::debug_span!("conn", conn = id, %peer);
        tokio::spawn(
            async move {
                let service = hyper::service::service_fn(move |req| {
                    let context = context.clone();
                    async move { Ok::<_, Infallible>(handle(req, &context, peer).await) }
                });
                let result = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .keep_alive(true)
                    .header_read_timeout(IDLE_TIMEOUT)
                    .max_buf_size(MAX_HEADER_BYTES.max(8192))
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
                if let Err(err) = result {
                    tracing::debug!(%err, "connection ended with an error");
                }
            }
            .instrument(span),
        );
    }
}

/// Answers one request.
pub async fn handle(
    req: Request<Incoming>,
    context: &HttpContext,
    peer: SocketAddr,
) -> Response<Body> {
    let method = req.method().clone();
    let mut response = match method {
        Method::OPTIONS => empty(StatusCode::OK),
        Method::GET | Method::HEAD | Method::POST => route_request(&req, context).await,
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
    };
    tracing::debug!(%peer, %method, path = req.uri().path(), status = response.status().as_u16(), "request");
    add_common_headers(&mut response);
    if method == Method::HEAD || method == Method::OPTIONS {
        *response.body_mut() = Body::Empty;
    }
    response
}

async fn route_request(req: &Request<Incoming>, context: &HttpContext) -> Response<Body> {
    let route = match router::route(req.uri().path()) {
        Ok(route) => route,
        Err(RouteError::BadEncoding) => return text(StatusCode::BAD_REQUEST, "bad request path\n"),
        Err(RouteError::NotFound) => return not_found(),
    };
    match route {
        Route::Root => text(
            StatusCode::OK,
            "Brume media server. Try /demo.mp4 or /json_demo.js\n",
        ),
        Route::JsonInfo(name) => json_info(req, context, &name),
        Route::Mp4(name) => mp4(context, &name).await,
    }
}

fn json_info(req: &Request<Incoming>, context: &HttpContext, name: &str) -> Response<Body> {
    let doc = match context.registry.get(name) {
        Some(entry) => info::stream_info(name, &entry.state(), &public_base(req, context)),
        None => info::error_doc("Stream is offline"),
    };
    let mut response = Response::new(Body::full(doc.to_string()));
    set(&mut response, header::CONTENT_TYPE, "application/json");
    set(&mut response, header::CACHE_CONTROL, "no-cache");
    response
}

async fn mp4(context: &HttpContext, name: &str) -> Response<Body> {
    let Some(entry) = context.registry.get(name) else {
        return not_found();
    };
    let body = match entry.settled_state(SOURCE_OPEN_WAIT).await {
        StreamState::Live(live) => match live.subscribe(Format::Mp4) {
            Some(subscription) => Body::Live(LiveBody::new(subscription)),
            None => return not_found(),
        },
        StreamState::Vod(_) => {
            let Some(vod) = entry.current_vod().await else {
                return unavailable(&entry.state());
            };
            let (sender, receiver) = tokio::sync::mpsc::channel(2);
            let header = match brume_media::mp4::fmp4::init_segment(vod.tracks()) {
                Ok(header) => header,
                Err(err) => return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err}\n")),
            };
            tokio::spawn(crate::stream::vod::send_all(vod, header, sender).in_current_span());
            Body::Channel(receiver)
        }
        other => return unavailable(&other),
    };
    let mut response = Response::new(body);
    set(&mut response, header::CONTENT_TYPE, "video/mp4");
    set(&mut response, header::CACHE_CONTROL, "no-cache");
    set_static(&mut response, "x-accel-buffering", "no");
    response
}

fn unavailable(state: &StreamState) -> Response<Body> {
    let reason = match state {
        StreamState::Error(reason) => reason.as_str(),
        StreamState::Starting => "stream is initializing",
        _ => "stream is offline",
    };
    text(StatusCode::SERVICE_UNAVAILABLE, &format!("{reason}\n"))
}

/// The base of absolute URLs for this request (scheme, host from `Host`, root path).
/// The proxy-aware resolution replaces this in the reverse-proxy work.
fn public_base(req: &Request<Incoming>, context: &HttpContext) -> PublicBase {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned);
    let authority = match host {
        Some(host) if host.contains(':') && !host.ends_with(']') => host,
        Some(host) => format!("{host}:{}", context.local_port),
        None => format!("localhost:{}", context.local_port),
    };
    let authority = authority
        .strip_suffix(":80")
        .map(str::to_owned)
        .unwrap_or(authority);
    PublicBase {
        scheme: "http",
        authority,
        path: "/".to_owned(),
    }
}

fn add_common_headers(response: &mut Response<Body>) {
    set_static(response, "access-control-allow-origin", "*");
    set_static(
        response,
        "access-control-allow-methods",
        "GET, POST, OPTIONS, HEAD",
    );
    set_static(response, "access-control-allow-headers", "*");
    set_static(response, "access-control-expose-headers", "*");
    set_static(response, "server", SERVER);
}

fn set(response: &mut Response<Body>, name: header::HeaderName, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn set_static(response: &mut Response<Body>, name: &'static str, value: &'static str) {
    response.headers_mut().insert(
        header::HeaderName::from_static(name),
        HeaderValue::from_static(value),
    );
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::full(Bytes::copy_from_slice(message.as_bytes())));
    *response.status_mut() = status;
    set(
        &mut response,
        header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    );
    response
}

fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found\n")
}
