//! `GET /api/v1/server`: version, uptime, the addresses the listeners are bound
//! to, the config file and the configured public addresses.

use std::time::UNIX_EPOCH;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::ApiState;

/// `GET /api/v1/server`.
pub async fn get(State(api): State<ApiState>) -> Json<Value> {
    let server = &api.server;
    let config = server.config();
    let ports = server.ports();
    let started_at_ms = server
        .started_at()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let public: Vec<&String> = config
        .http
        .public_address
        .iter()
        .chain(config.https.iter().flat_map(|h| h.public_address.iter()))
        .collect();
    let addr = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string());
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": server.uptime().as_secs_f64(),
        "started_at_ms": started_at_ms,
        "config_path": server.config_path().map(|p| p.display().to_string()),
        "ports": {
            "http": addr(ports.http),
            "https": addr(ports.https),
            "rtmp": addr(ports.rtmp),
            "api": addr(ports.api),
        },
        "public_address": public,
    }))
}
