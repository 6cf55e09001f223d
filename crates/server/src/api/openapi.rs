//! The OpenAPI 3.0 document (`openapi.json` beside this file, hand-written and
//! embedded), served at `GET /api/v1/openapi.json`.
//!
//! The unit test below keeps it true: the documented `(method, path)` pairs must be
//! exactly the routes of [`super::table`] plus [`OBSERVE_ROUTES`] (observe's
//! routes, merged in from `observe.rs`); the integration test `api.rs` also probes
//! every documented route on a running server.

use axum::http::header;
use axum::response::IntoResponse;

use super::Verb;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// The routes `observe::routes()` serves (documented here, registered there).
pub const OBSERVE_ROUTES: &[(Verb, &str)] = &[
    (Verb::Get, "/api/v1/clients"),
    (Verb::Get, "/api/v1/totals"),
    (Verb::Get, "/api/v1/logs"),
    (Verb::Get, "/metrics"),
];

/// `GET /api/v1/openapi.json`.
pub async fn get() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

/// Every route the server answers (observe's included), sorted: what the
/// document must describe.
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    let mut routes: Vec<(&str, &str)> = super::table()
        .routes
        .iter()
        .chain(OBSERVE_ROUTES)
        .map(|(verb, path)| (verb.name(), *path))
        .collect();
    routes.sort_unstable();
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_exactly_the_served_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"].as_str().unwrap().get(..2), Some("3."));
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
        documented.sort();
        let served: Vec<(String, String)> = served_routes()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(
            documented, served,
            "openapi.json and the router disagree: document every route, and only those"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap();
        let text = DOCUMENT;
        let mut rest = text;
        while let Some(i) = rest.find("\"$ref\": \"#/") {
            let tail = &rest[i + 10..];
            let end = tail.find('"').unwrap();
            let pointer = &tail[..end];
            assert!(
                doc.pointer(pointer).is_some(),
                "dangling reference {pointer}"
            );
            rest = &tail[end..];
        }
    }
}
