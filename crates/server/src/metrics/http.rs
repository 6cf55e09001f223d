//! The media port's hooks into the metrics: which stream and protocol a GET
//! serves, the client's address (through trusted proxies), and the viewer
//! accounting of the response.
//!
//! [`ViewedRequest::start`] runs on the routed request, [`ViewedRequest::finish`] on the
//! response: a playlist or segment refreshes its polling session. A progressive
//! request (or its WebSocket upgrade) is marked with [`ClientIp`]; the viewer's
//! subscription opens its session (`stream::subscription::Audience`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::{Method, Request, Response, StatusCode};

use std::sync::Arc;

use super::{Metrics, Protocol};
use crate::http::body::Body;
use crate::http::router::Route;
use crate::http::{public_base, HttpContext};

/// The client address of a request (set on WebSocket upgrades of media URLs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The client address recorded on `req` by [`ViewedRequest::start`], or the
/// unspecified address when none was.
pub fn request_client_ip<B>(req: &Request<B>) -> IpAddr {
    req.extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0)
}

/// A GET of a media URL, being answered.
#[derive(Debug)]
pub struct ViewedRequest {
    stream: String,
    kind: Kind,
    ip: IpAddr,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Progressive MP4/TS/FLV or MEWS: the viewer's subscription opens its session.
    Progressive,
    /// One session per (stream, protocol, IP); `true`: a CMAF segment that HLS
    /// (fMP4) and DASH share.
    Polled(Protocol, bool),
}

impl ViewedRequest {
    /// What a request serves and to whom, if it is a GET of a media URL;
    /// `route` is the request's route, parsed once by the caller.
    pub fn start<B>(
        req: &mut Request<B>,
        route: &Route,
        context: &HttpContext,
        peer: Option<SocketAddr>,
    ) -> Option<ViewedRequest> {
        if req.method() != Method::GET {
            return None;
        }
        let (stream, kind) = match route {
            Route::Mp4(name) => (name, Kind::Progressive),
            Route::Ts(name) => (name, Kind::Progressive),
            Route::Flv(name) => (name, Kind::Progressive),
            Route::HlsMaster(name) | Route::HlsMedia(name) | Route::HlsSegment(name, _) => {
                (name, Kind::Polled(Protocol::Hls, false))
            }
            Route::CmafMaster(name) | Route::CmafMedia(name, _) => {
                (name, Kind::Polled(Protocol::Cmaf, false))
            }
            Route::CmafInit(name, _)
            | Route::CmafSegment(name, _, _)
            | Route::CmafPart(name, _, _, _) => (name, Kind::Polled(Protocol::Cmaf, true)),
            Route::Dash(name) => (name, Kind::Polled(Protocol::Dash, false)),
            _ => return None,
        };
        let stream = stream.clone();
        let trusted = context.state.config.trusted_proxies();
        let ip = public_base::client_ip(req.headers(), peer, &trusted);
        if let Kind::Progressive = kind {
            // Progressive and MEWS viewers: the subscription opens the session,
            // for the body's or the socket's lifetime.
            req.extensions_mut().insert(ClientIp(ip));
            return None;
        }
        Some(ViewedRequest { stream, kind, ip })
    }

    /// Accounts the response: opens the viewer session of a progressive body, or
    /// refreshes the polling session.
    pub fn finish(self, response: &mut Response<Body>, metrics: &Arc<Metrics>) {
        let status = response.status();
        match self.kind {
            Kind::Polled(protocol, shared)
                if status.is_success() || status == StatusCode::NOT_MODIFIED =>
            {
                let bytes = http_body::Body::size_hint(response.body())
                    .exact()
                    .unwrap_or(0);
                metrics.polled(self.stream, protocol, self.ip, bytes, shared);
            }
            _ => {}
        }
    }
}
