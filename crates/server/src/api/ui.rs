//! The web UI's static files (`web/ui/`), embedded in the binary and served on the
//! management port: `GET /` is `index.html`, `GET /ui/<file>` the scripts and style
//! sheet, `/ui/player.js` the preview's player. Every document carries a strict
//! Content-Security-Policy ([`CSP`]: no inline script, no framing). No
//! authentication (the UI logs in through the API itself); every answer says
//! `Cache-Control: no-cache` so an upgraded server's UI is picked up at once.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiState;

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "application/javascript; charset=utf-8";

/// `index.html`, served at `/`.
pub const INDEX_HTML: &str = include_str!("../../../../web/ui/index.html");

/// The files under `/ui/`: name, contents, content type.
pub const FILES: &[(&str, &str, &str)] = &[
    ("app.css", include_str!("../../../../web/ui/app.css"), CSS),
    (
        "api.js",
        include_str!("../../../../web/ui/api.js"),
        JAVASCRIPT,
    ),
    (
        "app.js",
        include_str!("../../../../web/ui/app.js"),
        JAVASCRIPT,
    ),
    (
        "streams.js",
        include_str!("../../../../web/ui/streams.js"),
        JAVASCRIPT,
    ),
    (
        "triggers.js",
        include_str!("../../../../web/ui/triggers.js"),
        JAVASCRIPT,
    ),
    (
        "recordings.js",
        include_str!("../../../../web/ui/recordings.js"),
        JAVASCRIPT,
    ),
    ("index.html", INDEX_HTML, HTML),
    // The preview's player, served from this port so that no script from the public
    // media port runs in the management origin.
    (
        "player.js",
        include_str!("../../../../web/player.js"),
        JAVASCRIPT,
    ),
];

/// The UI's Content-Security-Policy: scripts only from this port's own files (no
/// inline script), media and stream info from the media ports (any address the
/// operator set up, hence `http:`/`https:`/`ws:`/`wss:`), no framing, no plugins.
pub const CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; \
    media-src 'self' blob: http: https:; connect-src 'self' http: https: ws: wss:; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The routes of this module.
pub fn routes() -> axum::Router<ApiState> {
    axum::Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{file}", get(file))
}

async fn index() -> Response {
    document(INDEX_HTML, HTML)
}

async fn file(Path(name): Path<String>) -> Response {
    match lookup(&name) {
        Some((text, content_type)) => document(text, content_type),
        None => (
            StatusCode::NOT_FOUND,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            "no such file in the web UI\n",
        )
            .into_response(),
    }
}

/// The embedded file called `name` and its content type.
pub fn lookup(name: &str) -> Option<(&'static str, &'static str)> {
    FILES
        .iter()
        .find(|(file, _, _)| *file == name)
        .map(|(_, text, content_type)| (*text, *content_type))
}

fn document(text: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::HeaderName::from_static("x-frame-options"),
                HeaderValue::from_static("DENY"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_found_with_its_type() {
        assert_eq!(lookup("app.js").map(|f| f.1), Some(JAVASCRIPT));
        assert_eq!(lookup("app.css").map(|f| f.1), Some(CSS));
        assert!(lookup("../Cargo.toml").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn index_loads_only_embedded_files() {
        for (name, _, _) in FILES {
            if *name != "index.html" && *name != "player.js" {
                assert!(
                    INDEX_HTML.contains(&format!("/ui/{name}")),
                    "index.html does not load {name}"
                );
            }
        }
        // No external URLs: the UI works with no network beyond this server.
        for (name, text, _) in FILES {
            assert!(!text.contains("https://cdn"), "{name} loads from a CDN");
            assert!(!text.contains("<script src=\"http"), "{name}");
        }
    }
}
