//! WebSockets on the media port: MP4 over WebSocket (MEWS) on `/S.mp4` and pushed
//! stream info on `/json_S.js`.
//!
//! Not served yet: these land with the player work.

use std::net::SocketAddr;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::Body;
use super::response::text;
use super::HttpContext;

pub async fn mews(_req: Request<Incoming>, _context: &HttpContext, _name: &str) -> Response<Body> {
    text(
        StatusCode::NOT_IMPLEMENTED,
        "WebSocket playback is not available yet\n",
    )
}

pub async fn stream_info(
    _req: Request<Incoming>,
    _context: &HttpContext,
    _peer: Option<SocketAddr>,
    _name: &str,
) -> Response<Body> {
    text(
        StatusCode::NOT_IMPLEMENTED,
        "WebSocket stream info is not available yet\n",
    )
}
