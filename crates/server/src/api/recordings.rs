//! Recording routes: `POST`/`DELETE /api/v1/streams/{name}/recording` (start,
//! stop) and `GET /api/v1/streams/{name}/recordings` (what is on disk).
//!
//! Recordings are served on the API port only (behind its authentication):
//! they may be private, so the media port never shows them.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{parse_json, ApiError};
use super::ApiState;
use crate::recording::settings::RecordConfig;
use crate::recording::StartError;

fn configured(api: &ApiState, name: &str) -> Result<(), ApiError> {
    if api.server.config().streams.contains_key(name) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no stream named {name:?}")))
    }
}

/// `POST /api/v1/streams/{name}/recording`: 202; records while the stream is
/// live, with the body's settings (`{"path": …, "format": …}`) or the stream's.
pub async fn start(
    State(api): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    configured(&api, &name)?;
    let settings: Option<RecordConfig> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(parse_json(&body)?)
    };
    api.server
        .recorder()
        .start_recording(&name, settings)
        .map_err(|err| match err {
            StartError::NoSettings => ApiError::bad_field("path", err.to_string()),
            StartError::Invalid(_) => ApiError::bad_field("record", err.to_string()),
        })?;
    tracing::info!(stream = %name, "recording started through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(api.server.recorder().status(&name)),
    ))
}

/// `DELETE /api/v1/streams/{name}/recording`: 204; the open segment is written.
pub async fn stop(
    State(api): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    configured(&api, &name)?;
    api.server.recorder().stop_recording(&name);
    tracing::info!(stream = %name, "recording stopped through the API");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/streams/{name}/recordings`: every recording on disk, oldest first.
pub async fn list(
    State(api): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    configured(&api, &name)?;
    let recorder = api.server.recorder().clone();
    let key = name.clone();
    let recordings = super::blocking(move || recorder.recordings(&key)).await?;
    let list: Vec<Value> = recordings
        .iter()
        .map(|r| {
            let start = r.start_unix_ms();
            let end = r.end_unix_ms();
            json!({
                "id": r.id,
                "stream": name,
                "format": r.segments.first().map(|s| s.format),
                "start": brume_media::playlist::time::date_time(start).ok(),
                "end": brume_media::playlist::time::date_time(end).ok(),
                "start_unix_ms": start,
                "end_unix_ms": end,
                "duration_s": (end - start).max(0) as f64 / 1000.0,
                "bytes": r.bytes(),
                "segments": r.segments.len(),
            })
        })
        .collect();
    Ok(Json(json!({ "recordings": list })))
}
