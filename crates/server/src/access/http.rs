//! The media port's admission check point: which routes start a viewer session,
//! and the 403 a refused viewer gets.

use std::net::SocketAddr;

use http::{Request, Response, StatusCode};

use super::ViewerRequest;
use crate::http::body::Body;
use crate::http::router::Route;
use crate::http::{is_websocket_upgrade, HttpContext};
use crate::metrics::Protocol;

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
