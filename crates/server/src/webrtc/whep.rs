//! The HTTP side of WHEP on the media port.
//!
//! * `POST /webrtc/S` or `/whep/S` with an SDP offer (`application/sdp`): `201
//!   Created` with the SDP answer and a `Location` naming the session resource
//!   (relative: `S/<id>`, so it resolves under any proxy prefix).
//! * `DELETE` on the resource ends the session (`200`); `PATCH` (trickle ICE) is
//!   answered `405` with `Allow`: this ICE-lite server learns the browser's
//!   address from its connectivity checks and needs no candidates.
//! * Errors are plain text saying what is wrong: `400` malformed offer, `404`
//!   unknown stream or session, `406` no usable codec (offered vs. needed), `409`
//!   an on-demand stream, `503` offline stream or no room.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::sdp::{offer_text, OfferError, MAX_OFFER_BYTES};
use super::session::PlayError;
use crate::http::body::Body;
use crate::http::response::{set, text};
use crate::http::HttpContext;
use crate::metrics::Protocol;
use crate::stream::subscription::Audience;
use crate::stream::StreamState;

/// How long an offer waits for a stream that is still opening.
const SOURCE_OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `POST /webrtc/S`, `/whep/S`.
pub async fn offer(
    req: Request<Incoming>,
    context: &HttpContext,
    peer: Option<SocketAddr>,
    name: &str,
) -> Response<Body> {
    if req.method() != Method::POST {
        return not_allowed("POST, OPTIONS");
    }
    let Some(webrtc) = context.state.webrtc() else {
        return text(
            StatusCode::NOT_FOUND,
            "WebRTC is off on this server (no webrtc section in its configuration)\n",
        );
    };
    let trusted = context.state.config.trusted_proxies();
    let client = crate::http::public_base::client_ip(req.headers(), peer, &trusted);
    let body = match Limited::new(req.into_body(), MAX_OFFER_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("{}\n", OfferError::TooLarge),
            )
        }
    };
    let offer = match offer_text(&body) {
        Ok(offer) => offer,
        Err(err) => return text(StatusCode::BAD_REQUEST, &format!("{err}\n")),
    };
    let Some(entry) = context.registry().get(name) else {
        return text(StatusCode::NOT_FOUND, "no such stream\n");
    };
    let live = match entry.settled_state(SOURCE_OPEN_WAIT).await {
        StreamState::Live(live) => live,
        StreamState::Vod(_) => {
            return text(
                StatusCode::CONFLICT,
                "WebRTC plays live streams; this stream is on demand\n",
            )
        }
        StreamState::Error(reason) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("{}\n", reason.public()),
            )
        }
        _ => return text(StatusCode::SERVICE_UNAVAILABLE, "stream is offline\n"),
    };
    let viewer = Audience {
        metrics: context.state.metrics.clone(),
        stream: name.to_owned(),
        protocol: Protocol::WebRtc,
        ip: client,
    }
    .open();
    match webrtc.play(name, live, offer, client, viewer) {
        Ok(answer) => {
            let mut response = Response::new(Body::full(Bytes::from(answer.sdp)));
            *response.status_mut() = StatusCode::CREATED;
            set(&mut response, "content-type", "application/sdp");
            if let Ok(location) = HeaderValue::try_from(format!("{name}/{}", answer.resource)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        Err(err) => {
            let status = match &err {
                PlayError::Offer(OfferError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
                PlayError::Offer(OfferError::NoCodec { .. } | OfferError::NoVideo { .. })
                | PlayError::StreamCodec(_) => StatusCode::NOT_ACCEPTABLE,
                PlayError::Offer(_) => StatusCode::BAD_REQUEST,
                PlayError::Ended | PlayError::Full => StatusCode::SERVICE_UNAVAILABLE,
                PlayError::Rtc(_) => StatusCode::BAD_REQUEST,
            };
            tracing::debug!(%err, "WHEP offer refused");
            text(status, &format!("{err}\n"))
        }
    }
}

/// `DELETE` / `PATCH` on `/webrtc/S/ID`, `/whep/S/ID`.
pub fn resource(
    req: &Request<Incoming>,
    context: &HttpContext,
    name: &str,
    id: &str,
) -> Response<Body> {
    let Some(webrtc) = context.state.webrtc() else {
        return text(StatusCode::NOT_FOUND, "no such session\n");
    };
    match *req.method() {
        Method::DELETE => {
            if webrtc.end(name, id) {
                text(StatusCode::OK, "session ended\n")
            } else {
                text(StatusCode::NOT_FOUND, "no such session\n")
            }
        }
        _ if !webrtc.has(name, id) => text(StatusCode::NOT_FOUND, "no such session\n"),
        _ => not_allowed("DELETE, OPTIONS"),
    }
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here\n");
    set(&mut response, "allow", allow);
    response
}
