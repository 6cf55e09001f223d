//! The media port's admission check point: which routes start a viewer session,
//! and the 403 a refused viewer gets; and the publish triggers of WHIP.

use std::net::SocketAddr;

use http::{Request, Response, StatusCode};

use super::ViewerRequest;
use crate::http::body::Body;
use crate::http::router::Route;
use crate::http::{is_websocket_upgrade, HttpContext};
use crate::metrics::Protocol;
use crate::triggers::{payload, Event};

/// The stream and connector of a route that starts a viewer session; `None` for
/// segments, pages, stream info and the rest.
pub fn viewer_route<B>(req: &Request<B>, route: &Route) -> Option<(String, Protocol)> {
    let (name, protocol) = match route {
        Route::Mp4(name) if is_websocket_upgrade(req.headers()) => (name, Protocol::Mews),
        Route::Mp4(name) => (name, Protocol::Mp4),
        Route::Ts(name) => (name, Protocol::Ts),
        Route::Flv(name) => (name, Protocol::Flv),
        Route::HlsMaster(name) | Route::HlsMedia(name) => (name, Protocol::Hls),
        Route::CmafMaster(name) | Route::CmafMedia(name, _) => (name, Protocol::Cmaf),
        Route::Dash(name) => (name, Protocol::Dash),
        Route::Whep(name) if req.method() == http::Method::POST => (name, Protocol::WebRtc),
        _ => return None,
    };
    Some((name.clone(), protocol))
}

/// Admits the request's viewer, or answers 403 with the reason.
pub async fn check<B>(
    req: &Request<B>,
    route: &Route,
    context: &HttpContext,
    peer: Option<SocketAddr>,
) -> Result<super::Admitted, Response<Body>> {
    let Some((stream, connector)) = viewer_route(req, route) else {
        return Ok(super::Admitted::default());
    };
    let trusted = context.state.config.trusted_proxies();
    let ip = crate::http::public_base::client_ip(req.headers(), peer, &trusted);
    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let url = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let viewer = ViewerRequest {
        stream: &stream,
        ip,
        connector,
        url,
        user_agent,
        token: super::token::from_query(req.uri().query()),
    };
    context
        .state
        .access
        .admit(&viewer)
        .await
        .map_err(|refused| {
            context
                .state
                .metrics
                .refusals
                .count("http", "viewer_refused");
            crate::http::response::text(StatusCode::FORBIDDEN, &format!("{refused}\n"))
        })
}

/// A WHIP publish (`POST /whip/NAME`) asks what an RTMP publish asks:
/// `PUSH_REWRITE` (the name in the URL, often a secret key, becomes the stream
/// name the route then uses; an empty answer refuses) and `STREAM_PUSH`.
pub async fn check_publish<B>(
    req: &Request<B>,
    route: &mut Route,
    context: &HttpContext,
    peer: Option<SocketAddr>,
) -> Result<(), Response<Body>> {
    let Route::Whip(name) = route else {
        return Ok(());
    };
    if req.method() != http::Method::POST {
        return Ok(());
    }
    let triggers = &context.state.triggers;
    let trusted = context.state.config.trusted_proxies();
    let ip = crate::http::public_base::client_ip(req.headers(), peer, &trusted).to_string();
    let url = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let refuse = |reason: &'static str| {
        context.state.metrics.refusals.count("whip", reason);
        crate::http::response::text(
            StatusCode::FORBIDDEN,
            "publishing to this stream was refused by the site\n",
        )
    };
    let rewrite = payload(&[url, &ip, name]);
    if triggers.asks(Event::PushRewrite, None) {
        match triggers.ask(Event::PushRewrite, None, &rewrite).await {
            // The key is a secret: never logged.
            Some(answer) if crate::config::validate_stream_name(&answer.0).is_err() => {
                tracing::warn!("WHIP publish refused by PUSH_REWRITE");
                return Err(refuse("push_rewrite"));
            }
            Some(answer) => *name = answer.0,
            None => {}
        }
    } else {
        triggers.notify(Event::PushRewrite, None, &rewrite);
    }
    if triggers.listens(Event::StreamPush, Some(name)) {
        let lines = payload(&[name, &ip, "WebRTC", &format!("/whip/{name}")]);
        let answer = triggers.ask(Event::StreamPush, Some(name), &lines).await;
        if answer.is_some_and(|a| !a.is_positive()) {
            tracing::warn!(stream = %name, "WHIP publish refused by STREAM_PUSH");
            return Err(refuse("stream_push"));
        }
    }
    Ok(())
}
