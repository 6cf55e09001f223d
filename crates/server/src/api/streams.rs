//! Stream routes: `GET /api/v1/streams`, `GET/PUT/DELETE /api/v1/streams/{name}`.
//!
//! Every change goes through [`ServerControl::apply_config`] (validated, saved
//! atomically, then the registry follows), so a PUT starts or restarts the stream
//! and a DELETE disconnects its viewers and publisher. Status comes from the
//! registry and the metrics; stream passwords are shown only as "set"/"unset".

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use brume_media::{Track, TrackKind};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::control::ServerControl;
use super::error::{parse_json, ApiError};
use super::ApiState;
use crate::config::{validate_stream_name, StreamConfig};
use crate::stream::StreamState;

/// The body of `PUT /api/v1/streams/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamBody {
    source: String,
    #[serde(rename = "loop", default)]
    looped: bool,
    #[serde(default)]
    dvr_window_ms: Option<u64>,
    #[serde(default)]
    dvr_max_bytes: Option<u64>,
    #[serde(default)]
    part_target_ms: Option<u64>,
    /// For pulled sources: `{"start": "on_demand"|"always", "idle_stop_s": N}`.
    #[serde(default)]
    pull: Option<crate::stream::pull::PullConfig>,
    /// Recording settings (see `crate::recording::settings`).
    #[serde(default)]
    record: Option<crate::recording::settings::RecordConfig>,
    /// Absent: keep; `null`: clear; a string: set.
    #[serde(default, deserialize_with = "present")]
    password: Option<Option<String>>,
}

/// Tells a present `null` (`Some(None)`) from an absent key (`None`, the default).
fn present<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

/// Everything the API shows about one configured stream.
pub fn status(server: &dyn ServerControl, name: &str, config: &StreamConfig) -> Value {
    let runtime = server.stream_runtime(name);
    let state = runtime.state;
    let (status, error, kind, tracks): (&str, Option<String>, Option<&str>, Vec<Value>) =
        match &state {
            StreamState::Starting => ("starting", None, None, Vec::new()),
            StreamState::Live(live) => ("online", None, Some("live"), tracks(live.tracks())),
            StreamState::Vod(vod) => ("online", None, Some("vod"), tracks(vod.tracks())),
            StreamState::Offline => ("offline", None, None, Vec::new()),
            StreamState::Error(why) => ("error", Some(why.to_string()), None, Vec::new()),
        };
    let live_notes = match &state {
        StreamState::Live(live) => live.notes(),
        _ => Vec::new(),
    };
    let stats = runtime.stats;
    let uptime = runtime
        .online_since
        .filter(|_| kind.is_some())
        .map(|since| since.elapsed().as_secs_f64());
    json!({
        "name": name,
        "source": config.source,
        "loop": config.looped,
        "dvr_window_ms": config.dvr_window_ms,
        "dvr_max_bytes": config.dvr_max_bytes,
        "part_target_ms": config.part_target_ms,
        "pull": config.pull,
        "password": if config.password.is_some() { "set" } else { "unset" },
        "status": status,
        "error": error,
        "kind": kind,
        "viewers": stats.viewers,
        "bitrate_in_bps": stats.bitrate_in_bps,
        "bitrate_out_bps": stats.bitrate_out_bps,
        "uptime_s": uptime,
        "tracks": tracks,
        "live_notes": live_notes,
        "record": config.record,
        "recording": server.recorder().status(name),
    })
}

fn tracks(tracks: &[Track]) -> Vec<Value> {
    tracks
        .iter()
        .map(|track| match track.kind() {
            TrackKind::Video => {
                let video = track.video.unwrap_or_default();
                json!({
                    "type": "video",
                    "codec": track.codec.mist_name(),
                    "width": video.width,
                    "height": video.height,
                })
            }
            TrackKind::Audio => {
                let audio = track.audio.unwrap_or_default();
                json!({
                    "type": "audio",
                    "codec": track.codec.mist_name(),
                    "rate": audio.sample_rate,
                    "channels": audio.channels,
                })
            }
        })
        .collect()
}

/// `GET /api/v1/streams`: every configured stream, sorted by name.
pub async fn list(State(api): State<ApiState>) -> Json<Value> {
    let config = api.server.config();
    let streams: Vec<Value> = config
        .streams
        .iter()
        .map(|(name, stream)| status(&*api.server, name, stream))
        .collect();
    Json(json!({ "streams": streams }))
}

/// `GET /api/v1/streams/{name}`.
pub async fn get(
    State(api): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = api.server.config();
    let stream = config.streams.get(&name).ok_or_else(|| not_found(&name))?;
    Ok(Json(status(&*api.server, &name, stream)))
}

/// `PUT /api/v1/streams/{name}`: creates (201) or replaces (200) the stream.
pub async fn put(
    State(api): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    validate_stream_name(&name).map_err(|m| ApiError::bad_field("name", format!("name: {m}")))?;
    let body: StreamBody = parse_json(&body)?;
    if body.password == Some(Some(String::new())) {
        return Err(ApiError::bad_field(
            "password",
            "password: must not be empty (send null to remove it)",
        ));
    }
    let server = api.server.clone();
    let key = name.clone();
    let (config, created) = super::blocking(move || {
        let mut created = false;
        server
            .apply_config(Box::new(|config| {
                let old = config.streams.get(&key);
                created = old.is_none();
                let password = match body.password {
                    None => old.and_then(|s| s.password.clone()),
                    Some(new) => new,
                };
                config.streams.insert(
                    key.clone(),
                    StreamConfig {
                        source: body.source,
                        looped: body.looped,
                        password,
                        dvr_window_ms: body.dvr_window_ms,
                        dvr_max_bytes: body.dvr_max_bytes,
                        part_target_ms: body.part_target_ms,
                        pull: body.pull,
                        // Access settings are kept (file only for now).
                        access: old.map(|s| s.access).unwrap_or_default(),
                        ip_allow: old.map(|s| s.ip_allow.clone()).unwrap_or_default(),
                        ip_deny: old.map(|s| s.ip_deny.clone()).unwrap_or_default(),
                        record: body.record,
                    },
                );
                Ok(())
            }))
            .map(|config| (config, created))
    })
    .await?
    .map_err(|e| ApiError::from_update(e, |key| stream_field(&name, key)))?;
    let stream = config
        .streams
        .get(&name)
        .ok_or_else(|| ApiError::internal("the stream vanished while it was saved"))?;
    tracing::info!(stream = %name, created, "stream configured through the API");
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(status(&*api.server, &name, stream))).into_response())
}

/// `DELETE /api/v1/streams/{name}`: 204; viewers and publisher are disconnected.
pub async fn delete(
    State(api): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let server = api.server.clone();
    let key = name.clone();
    super::blocking(move || {
        server.apply_config(Box::new(|config| match config.streams.remove(&key) {
            Some(_) => Ok(()),
            None => Err(not_found(&key)),
        }))
    })
    .await?
    .map_err(|e| ApiError::from_update(e, |key| stream_field(&name, key)))?;
    tracing::info!(stream = %name, "stream deleted through the API");
    Ok(StatusCode::NO_CONTENT)
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no stream named {name:?}"))
}

/// Config key `streams.NAME.source` → `source`; `streams.NAME` → `name`.
fn stream_field(name: &str, key: &str) -> String {
    let prefix = format!("streams.{name}");
    match key.strip_prefix(&prefix) {
        Some("") => "name".to_owned(),
        Some(rest) if rest.starts_with('.') => rest[1..].to_owned(),
        _ => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_become_body_fields() {
        assert_eq!(stream_field("cam.1", "streams.cam.1.source"), "source");
        assert_eq!(stream_field("cam", "streams.cam"), "name");
        assert_eq!(stream_field("cam", "http.listen"), "http.listen");
    }

    #[test]
    fn password_absent_null_and_set_differ() {
        let b: StreamBody = parse_json(br#"{"source": "push://"}"#).unwrap();
        assert_eq!(b.password, None);
        let b: StreamBody = parse_json(br#"{"source": "push://", "password": null}"#).unwrap();
        assert_eq!(b.password, Some(None));
        let b: StreamBody = parse_json(br#"{"source": "push://", "password": "k"}"#).unwrap();
        assert_eq!(b.password, Some(Some("k".to_owned())));
        let err = parse_json::<StreamBody>(br#"{"sorce": "push://"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sorce"));
    }
}
