//! The HTTP side of WHIP on the media port.
//!
//! * `POST /whip/S` with an SDP offer (`application/sdp`) publishes to the push
//!   stream S: `201 Created` with the SDP answer and a `Location` naming the
//!   session resource (relative: `S/<id>`). A stream with a `password` wants
//!   `Authorization: Bearer <password>` (compared in constant time); wrong ones
//!   count in the per-address limiter RTMP publishing uses, and past its limit
//!   an address is refused (`429`, `Retry-After`) without a look at the token.
//! * `DELETE` on the resource ends the session (`200`), and with it the push.
//! * Errors are plain text saying what is wrong: `400` malformed offer, `401`
//!   missing or wrong token, `404` unknown stream or session, `406` no H.264 in
//!   the offer, `409` not a push stream or another publisher is live, `503` no
//!   room.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::ingest::IngestError;
use super::sdp::{offer_text, OfferError, MAX_OFFER_BYTES};
use crate::api::password::constant_time_eq;
use crate::http::body::Body;
use crate::http::response::{set, text};
use crate::http::HttpContext;
use crate::stream::publish::PublishRefusal;

/// The bearer token of an `Authorization` header, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
}

/// `POST /whip/S`.
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
    let Some(entry) = context.registry().get(name) else {
        return text(StatusCode::NOT_FOUND, "no such stream\n");
    };
    if let Some(password) = &entry.config.password {
        let limiter = &context.state.publish_failures;
        let now = std::time::Instant::now();
        if let Some(wait) = limiter.limited(client, now) {
            tracing::warn!(stream = name, %client, wait_s = wait, "WHIP publish refused: too many wrong tokens");
            context
                .state
                .metrics
                .refusals
                .count("whip", "publish_rate_limited");
            let mut response = text(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("too many wrong tokens from this address: try again in {wait} s\n"),
            );
            if let Ok(value) = HeaderValue::try_from(wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        let good =
            bearer(req.headers()).is_some_and(|token| constant_time_eq(token, password.as_bytes()));
        if !good {
            // Never log the secret or what was sent in its place.
            tracing::warn!(stream = name, %client, "WHIP publish refused: wrong or missing token");
            limiter.record(client, now);
            context
                .state
                .metrics
                .refusals
                .count("whip", "wrong_password");
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "publishing to this stream needs its password as a bearer token\n",
            );
            set(&mut response, "www-authenticate", "Bearer");
            return response;
        }
    }
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
    let publisher = match entry.begin_publish() {
        Ok(publisher) => publisher,
        Err(refusal) => {
            let status = match refusal {
                PublishRefusal::Removed => StatusCode::NOT_FOUND,
                PublishRefusal::NotPush | PublishRefusal::Busy => StatusCode::CONFLICT,
            };
            tracing::info!(stream = name, %refusal, "WHIP publish refused");
            return text(status, &format!("{refusal}\n"));
        }
    };
    match webrtc.ingest(name, publisher, offer, client) {
        Ok(answer) => {
            tracing::info!(stream = name, %client, "WHIP publisher accepted");
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
                IngestError::Offer(OfferError::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
                IngestError::Offer(OfferError::NoCodec { .. } | OfferError::NoVideo { .. }) => {
                    StatusCode::NOT_ACCEPTABLE
                }
                IngestError::Offer(_) | IngestError::Rtc(_) => StatusCode::BAD_REQUEST,
                IngestError::Full => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::debug!(%err, "WHIP offer refused");
            text(status, &format!("{err}\n"))
        }
    }
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here\n");
    set(&mut response, "allow", allow);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret "),
        );
        assert_eq!(bearer(&headers), Some(&b"s3cret"[..]));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer x"));
        assert_eq!(bearer(&headers), Some(&b"x"[..]));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eDp5"),
        );
        assert_eq!(bearer(&headers), None);
    }
}
