//! Observability routes: who is watching (`/api/v1/clients`), server totals
//! (`/api/v1/totals`), recent log lines (`/api/v1/logs?since=`) and Prometheus
//! metrics (`/metrics`). Read-only; the API's auth layer guards them.

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::json;

use super::ApiState;
use crate::metrics::prometheus;

/// The routes of this module.
pub fn routes() -> axum::Router<ApiState> {
    axum::Router::new()
        .route("/api/v1/clients", get(clients))
        .route("/api/v1/totals", get(totals))
        .route("/api/v1/logs", get(logs))
        .route("/metrics", get(metrics))
}

async fn clients(State(api): State<ApiState>) -> Json<serde_json::Value> {
    Json(json!({ "clients": api.server.metrics().clients() }))
}

async fn totals(State(api): State<ApiState>) -> Json<serde_json::Value> {
    let counts = api.server.stream_counts();
    let totals = api.server.metrics().totals();
    Json(json!({
        "streams": counts.streams,
        "streams_online": counts.online,
        "viewers": totals.viewers,
        "publishers": counts.publishers,
        "bytes_out": totals.bytes_out,
        "bytes_in": totals.bytes_in,
        "bandwidth_out_bps": totals.bandwidth_out_bps,
        "bandwidth_in_bps": totals.bandwidth_in_bps,
        "connections": totals.connections,
        "requests": totals.requests,
    }))
}

async fn logs(State(api): State<ApiState>, RawQuery(query): RawQuery) -> Response {
    let mut since = None;
    for pair in query.as_deref().unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "since" {
            continue;
        }
        match value.parse::<u64>() {
            Ok(value) => since = Some(value),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({
                        "error": "since must be a log sequence number (a non-negative integer)",
                        "field": "since",
                    })),
                )
                    .into_response()
            }
        }
    }
    let (lines, next) = api.server.logs().since(since);
    Json(json!({ "lines": lines, "next": next })).into_response()
}

async fn metrics(State(api): State<ApiState>) -> Response {
    let text = prometheus::render(api.server.metrics(), api.server.stream_counts());
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response()
}
