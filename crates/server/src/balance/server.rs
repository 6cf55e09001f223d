//! The balancer's HTTP port: viewers' requests answered with a redirect to an
//! edge, MistServer's plain-text load-balancer queries, and `/edges` (list,
//! register, remove).
//!
//! * `GET /S.mp4`, `/hls/S/index.m3u8`, `/json_S.js`, `/S.m3u8`… (any method: a
//!   WHEP `POST /whep/S` too): `307` to the same path and query on the
//!   least-loaded healthy edge that can serve S; `503` when none can.
//!   Requests that name no stream (`/player.js`, `/hlsjs.js`) go to the
//!   least-loaded healthy edge.
//! * `GET /S` (a bare stream name) and `GET /?stream=S`: the chosen edge's
//!   `host:port` as plain text (MistServer's load balancer answers a host name
//!   this way); the fallback text (`FULL` unless configured) when none.
//! * `GET /?source=S`: `brume://host:port/S` of the least-loaded edge where S is
//!   online now, for another server to pull it from (MistServer answers
//!   `dtsc://host`); `?fallback=` or the configured fallback when none.
//! * `GET /edges`: the edges and their last load (JSON). `POST /edges` and
//!   `DELETE /edges` with `{"url": "http://host:port"}` and
//!   `Authorization: Bearer SECRET` add and remove an edge.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;

use super::edges::{AddError, Added, Edges};
use crate::http::router::{self, Route};

/// Largest `POST /edges` body.
const MAX_REGISTER_BYTES: usize = 4096;
/// Most connections served at once; more wait in the listen queue.
const MAX_CONNECTIONS: usize = 10_000;
/// A request head must arrive within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Wrong registration secrets allowed per client within [`SECRET_FAILURE_WINDOW`];
/// more are refused (429) without looking at the secret.
pub const MAX_SECRET_FAILURES: usize = 5;
pub const SECRET_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// What every request handler shares.
#[derive(Debug)]
pub struct Balancer {
    pub edges: Edges,
    pub secret: Option<String>,
    pub fallback: String,
    /// Wrong secrets per client.
    pub failures: crate::failures::FailureLimiter,
}

type Answer = Response<Full<Bytes>>;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, balancer: Arc<Balancer>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let balancer = balancer.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let balancer = balancer.clone();
                async move { Ok::<_, Infallible>(answer(req, &balancer, peer).await) }
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(socket), service)
                .await;
            if let Err(err) = result {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
}

async fn answer(req: Request<Incoming>, balancer: &Balancer, peer: SocketAddr) -> Answer {
    let path = req.uri().path().to_owned();
    if path == "/edges" {
        return edges_request(req, balancer, peer).await;
    }
    if req.method() == Method::OPTIONS {
        return cors_preflight();
    }
    if path == "/" {
        return query_request(req.uri().query().unwrap_or(""), balancer);
    }
    if path == "/favicon.ico" {
        return text(StatusCode::NOT_FOUND, "no favicon\n");
    }
    // A bare stream name: MistServer's plain-text answer.
    if let Some(name) = bare_stream(&path) {
        return plain_host(balancer, &name);
    }
    let stream = stream_of(&path);
    let Some(edge) = balancer.edges.choose(stream.as_deref()) else {
        let why = match &stream {
            Some(name) => format!("no edge can serve stream {name} now\n"),
            None => "no edge is up now\n".to_owned(),
        };
        let mut response = text(StatusCode::SERVICE_UNAVAILABLE, &why);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return response;
    };
    let target = match req.uri().query() {
        Some(query) => format!("{}{path}?{query}", edge.addr.base),
        None => format!("{}{path}", edge.addr.base),
    };
    tracing::debug!(stream = stream.as_deref().unwrap_or(""), edge = %edge.addr.base, "sent");
    redirect(&target)
}

/// The stream a request path names: any of Brume's own URLs, or `/S.ext` for
/// another server's extension (`/S.m3u8`).
pub fn stream_of(path: &str) -> Option<String> {
    if let Ok(route) = router::route(path) {
        return match route {
            Route::Mp4(name)
            | Route::Ts(name)
            | Route::Flv(name)
            | Route::JsonInfo(name)
            | Route::HlsMaster(name)
            | Route::HlsMedia(name)
            | Route::HlsSegment(name, _)
            | Route::CmafMaster(name)
            | Route::CmafMedia(name, _)
            | Route::CmafInit(name, _)
            | Route::CmafSegment(name, _, _)
            | Route::CmafPart(name, _, _, _)
            | Route::Dash(name)
            | Route::Page(name)
            | Route::Embed(name)
            | Route::InfoJs(name)
            | Route::Whep(name)
            | Route::WhepSession(name, _) => Some(name),
            _ => None,
        };
    }
    let file = path.strip_prefix('/')?;
    let (name, _extension) = file.rsplit_once('.')?;
    valid_name(name)
}

/// `/S` with no extension and no further path.
pub fn bare_stream(path: &str) -> Option<String> {
    let file = path.strip_prefix('/')?;
    if file.contains('.') {
        return None;
    }
    valid_name(file)
}

fn valid_name(encoded: &str) -> Option<String> {
    let name = router::percent_decode(encoded).ok()?;
    crate::config::validate_stream_name(&name).ok()?;
    Some(name.into_owned())
}

/// `/?source=S`, `/?stream=S`, or a short index.
fn query_request(query: &str, balancer: &Balancer) -> Answer {
    let var = |key: &str| query_var(query, key);
    if let Some(stream) = var("source") {
        let body = match balancer.edges.source(&stream) {
            Some(edge) => format!("brume://{}/{stream}", edge.addr.authority()),
            None => var("fallback").unwrap_or_else(|| balancer.fallback.clone()),
        };
        return text(StatusCode::OK, &body);
    }
    if let Some(stream) = var("stream") {
        return plain_host(balancer, &stream);
    }
    let edges = balancer.edges.snapshot();
    let healthy = edges.iter().filter(|e| e.is_healthy()).count();
    text(
        StatusCode::OK,
        &format!(
            "Brume load balancer: {healthy} of {} edges up. Viewers: /STREAM.mp4, /hls/STREAM/index.m3u8… are sent to an edge; /edges lists them.\n",
            edges.len()
        ),
    )
}

/// The chosen edge's `host:port`, or the fallback text.
fn plain_host(balancer: &Balancer, stream: &str) -> Answer {
    let body = match balancer.edges.choose(Some(stream)) {
        Some(edge) => edge.addr.authority().to_owned(),
        None => balancer.fallback.clone(),
    };
    text(StatusCode::OK, &body)
}

/// The first value of `key` in a query string, percent-decoded (`+` is a space).
pub fn query_var(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != key {
            return None;
        }
        let v = v.replace('+', " ");
        router::percent_decode(&v).ok().map(|v| v.into_owned())
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EdgeRequest {
    url: String,
}

async fn edges_request(req: Request<Incoming>, balancer: &Balancer, peer: SocketAddr) -> Answer {
    let method = req.method().clone();
    if method == Method::GET || method == Method::HEAD {
        let views: Vec<_> = balancer.edges.snapshot().iter().map(|e| e.view()).collect();
        return json(StatusCode::OK, &serde_json::json!({ "edges": views }));
    }
    if method != Method::POST && method != Method::DELETE {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET, POST or DELETE\n");
    }
    let Some(secret) = &balancer.secret else {
        return text(
            StatusCode::FORBIDDEN,
            "registration is off: the balancer has no secret configured\n",
        );
    };
    let now = std::time::Instant::now();
    if let Some(wait) = balancer.failures.limited(peer.ip(), now) {
        tracing::warn!(%peer, wait_s = wait, "edge registration refused: too many wrong secrets");
        let mut response = text(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many wrong secrets from this address: try again in {wait} s\n"),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !crate::api::password::constant_time_eq(given.as_bytes(), secret.as_bytes()) {
        // Never log what was sent in the secret's place.
        tracing::warn!(%peer, "edge registration refused: wrong secret");
        balancer.failures.record(peer.ip(), now);
        let mut response = text(StatusCode::UNAUTHORIZED, "wrong or missing secret\n");
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let body = match Limited::new(req.into_body(), MAX_REGISTER_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is over {MAX_REGISTER_BYTES} bytes\n"),
            )
        }
    };
    let request: EdgeRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"url\": \"http://host:port\"}}: {err}\n"),
            )
        }
    };
    if method == Method::DELETE {
        return match balancer.edges.remove(&request.url) {
            Ok(true) => json(StatusCode::OK, &serde_json::json!({"removed": request.url})),
            Ok(false) => text(StatusCode::NOT_FOUND, "no such edge\n"),
            Err(err) => text(StatusCode::BAD_REQUEST, &format!("{err}\n")),
        };
    }
    match balancer.edges.add(&request.url, true) {
        Ok(added) => {
            let status = match added {
                Added::New => StatusCode::CREATED,
                Added::Known => StatusCode::OK,
            };
            json(status, &serde_json::json!({"added": request.url}))
        }
        Err(err @ AddError::Full) => text(StatusCode::INSUFFICIENT_STORAGE, &format!("{err}\n")),
        Err(err) => text(StatusCode::BAD_REQUEST, &format!("{err}\n")),
    }
}

fn with_common_headers(mut response: Answer) -> Answer {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Players on any site follow the redirect (a cross-origin fetch follows a
    // redirect only if the redirect itself allows the origin).
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::SERVER,
        HeaderValue::from_static(crate::http::response::SERVER),
    );
    response
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Answer {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    with_common_headers(response)
}

fn text(status: StatusCode, body: &str) -> Answer {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(body.to_owned()),
    )
}

fn json(status: StatusCode, value: &serde_json::Value) -> Answer {
    respond(status, "application/json", Bytes::from(value.to_string()))
}

fn redirect(target: &str) -> Answer {
    let mut response = text(StatusCode::TEMPORARY_REDIRECT, &format!("{target}\n"));
    match HeaderValue::from_str(target) {
        Ok(location) => {
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => text(StatusCode::BAD_REQUEST, "bad request path\n"),
    }
}

fn cors_preflight() -> Answer {
    let mut response = respond(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, PATCH, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_come_from_every_url_shape() {
        assert_eq!(stream_of("/live.mp4").as_deref(), Some("live"));
        assert_eq!(stream_of("/hls/live/index.m3u8").as_deref(), Some("live"));
        assert_eq!(stream_of("/cmaf/live/1/7.m4s").as_deref(), Some("live"));
        assert_eq!(stream_of("/json_live.js").as_deref(), Some("live"));
        assert_eq!(stream_of("/whep/live").as_deref(), Some("live"));
        assert_eq!(stream_of("/live.m3u8").as_deref(), Some("live"));
        assert_eq!(stream_of("/player.js"), None);
        assert_eq!(stream_of("/a/b/c/d/e"), None);
        assert_eq!(bare_stream("/live").as_deref(), Some("live"));
        assert_eq!(bare_stream("/live.mp4"), None);
        assert_eq!(bare_stream("/a/b"), None);
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_var("a=1&source=my%20cam", "source").as_deref(),
            Some("my cam")
        );
        assert_eq!(query_var("stream=x+y", "stream").as_deref(), Some("x y"));
        assert_eq!(query_var("streams=x", "stream"), None);
        assert_eq!(query_var("lstserver", "lstserver").as_deref(), Some(""));
    }
}
