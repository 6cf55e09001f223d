//! Observability routes: who is watching (`/api/v1/clients`), server totals
//! (`/api/v1/totals`), recent log lines (`/api/v1/logs?since=`) and Prometheus
//! metrics (`/metrics`). Read-only; the API's auth layer guards them.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::json;

use crate::metrics::prometheus::{self, StreamCounts};
use crate::state::ServerState;
use crate::stream::{Registry, StreamState};

/// The routes of this module.
pub fn routes() -> axum::Router<Arc<ServerState>> {
    axum::Router::new()
        .route("/api/v1/clients", get(clients))
        .route("/api/v1/totals", get(totals))
        .route("/api/v1/logs", get(logs))
        .route("/metrics", get(metrics))
}

/// Streams configured, with media now, and push streams with a live publisher.
pub fn stream_counts(registry: &Registry) -> StreamCounts {
    let mut counts = StreamCounts::default();
    for name in registry.names() {
        let Some(entry) = registry.get(&name) else {
            continue;
        };
        counts.streams += 1;
        match entry.state() {
            StreamState::Live(_) => {
                counts.online += 1;
                if entry.config.source.starts_with("push://") {
                    counts.publishers += 1;
                }
            }
            StreamState::Vod(_) => counts.online += 1,
            _ => {}
        }
    }
    counts
}

async fn clients(State(state): State<Arc<ServerState>>) -> Json<serde_json::Value> {
    Json(json!({ "clients": state.metrics.clients() }))
}

async fn totals(State(state): State<Arc<ServerState>>) -> Json<serde_json::Value> {
    let counts = stream_counts(&state.registry);
    let totals = state.metrics.totals();
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

async fn logs(State(state): State<Arc<ServerState>>, RawQuery(query): RawQuery) -> Response {
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
    let (lines, next) = state.logs.since(since);
    Json(json!({ "lines": lines, "next": next })).into_response()
}

async fn metrics(State(state): State<Arc<ServerState>>) -> Response {
    let text = prometheus::render(&state.metrics, stream_counts(&state.registry));
    ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response()
}
