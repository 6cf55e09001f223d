//! Building responses: status and body helpers, the headers every response
//! carries (CORS, server), and caching semantics for immutable segments
//! (strong ETags, `If-None-Match` → 304) and short-lived documents.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use super::body::Body;

pub const SERVER: &str = concat!("Brume/", env!("CARGO_PKG_VERSION"));

pub fn add_common_headers(response: &mut Response<Body>) {
    set(response, "access-control-allow-origin", "*");
    set(
        response,
        "access-control-allow-methods",
        "GET, POST, OPTIONS, HEAD, DELETE, PATCH",
    );
    set(response, "access-control-allow-headers", "*, Authorization");
    set(response, "access-control-expose-headers", "*, Location");
    set(response, "server", SERVER);
}

/// Sets a header to a static value.
pub fn set(response: &mut Response<Body>, name: &'static str, value: &'static str) {
    response.headers_mut().insert(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    );
}

/// Sets a header to a computed value (dropped if it is not a valid header value).
pub fn set_owned(response: &mut Response<Body>, name: HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        response.headers_mut().insert(name, value);
    }
}

pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::full(Bytes::copy_from_slice(message.as_bytes())));
    *response.status_mut() = status;
    set(&mut response, "content-type", "text/plain; charset=utf-8");
    response
}

pub fn not_found() -> Response<Body> {
    text(StatusCode::NOT_FOUND, "not found\n")
}

/// A document that changes over time (playlists, manifests, stream info).
pub fn document(bytes: Bytes, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::full(bytes));
    set(&mut response, "content-type", content_type);
    set(&mut response, "cache-control", "no-cache");
    response
}

/// How long a shared cache (a CDN, a cache edge) may serve a rendered document
/// without asking again: one second, so a thousand viewers behind an edge cost
/// the origin about one request per second per document. Browsers revalidate
/// every time (`max-age=0`), with the ETag. No `stale-while-revalidate`: browsers
/// honour it too, and would show a live playlist a refresh late; the edge
/// configurations in `deploy/` serve a stale copy only while one refresh runs.
pub const DOCUMENT_CACHE_CONTROL: &str = "public, max-age=0, s-maxage=1";

/// A rendered document (see [`crate::stream::cache::Document`]):
/// [`DOCUMENT_CACHE_CONTROL`], with its ETag; answers 304 when the client
/// already holds this rendering.
pub fn tagged_document(
    request_headers: &HeaderMap,
    doc: &crate::stream::cache::Document,
    content_type: &'static str,
) -> Response<Body> {
    let etag = doc.etag.to_str().unwrap_or_default();
    let mut response = if client_holds(request_headers, etag) {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        let mut response = Response::new(Body::full(doc.bytes.clone()));
        set(&mut response, "content-type", content_type);
        response
    };
    set(&mut response, "cache-control", DOCUMENT_CACHE_CONTROL);
    response
        .headers_mut()
        .insert(header::ETAG, doc.etag.clone());
    response
}

/// Whether `If-None-Match` names `etag` (or `*`).
fn client_holds(request_headers: &HeaderMap, etag: &str) -> bool {
    request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
}

/// An immutable object (a segment): cacheable for `max_age_secs`, with a strong
/// ETag; answers 304 when the client already holds it.
pub fn immutable(
    request_headers: &HeaderMap,
    bytes: Bytes,
    content_type: &'static str,
    etag: &str,
    max_age_secs: u64,
) -> Response<Body> {
    let mut response = if client_holds(request_headers, etag) {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        let mut response = Response::new(Body::full(bytes));
        set(&mut response, "content-type", content_type);
        response
    };
    set_owned(&mut response, header::ETAG, etag.to_owned());
    set_owned(
        &mut response,
        header::CACHE_CONTROL,
        format!("public, max-age={max_age_secs}, immutable"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_gives_304_with_the_same_validators() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", \"abc\""),
        );
        let response = immutable(
            &headers,
            Bytes::from_static(b"data"),
            "video/mp2t",
            "\"abc\"",
            60,
        );
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], "\"abc\"");
        let response = immutable(
            &HeaderMap::new(),
            Bytes::from_static(b"data"),
            "video/mp2t",
            "\"abc\"",
            60,
        );
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=60, immutable"
        );
    }
}
