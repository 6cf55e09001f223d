//! The player page (`/S.html`), the embeddable player (`/player.js`), the embed
//! script (`/embed_S.js`) and stream info as JavaScript (`/info_S.js`).
//!
//! Not served yet: these land with the player work.

use std::net::SocketAddr;

use http::{Request, Response};
use hyper::body::Incoming;

use super::body::Body;
use super::response::not_found;
use super::router::Route;
use super::HttpContext;

pub fn answer(
    _req: &Request<Incoming>,
    _context: &HttpContext,
    _peer: Option<SocketAddr>,
    _route: &Route,
) -> Response<Body> {
    not_found()
}
