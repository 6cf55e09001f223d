//! Recording routes: `POST`/`DELETE /api/v1/streams/{name}/recording` (start,
//! stop), `GET /api/v1/streams/{name}/recordings` (what is on disk) and playback
//! of one recording `…/recordings/{id}/`: `index.m3u8` (HLS VoD over its segment
//! files, `files/{file}`) and `recording.mp4` (one seekable MP4), both for a
//! `?start=…&end=…` range.
//!
//! Recordings are served on the API port only (behind its authentication):
//! they may be private, so the media port never shows them.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::{parse_json, ApiError};
use super::ApiState;
use crate::http::range::{parse_range, RangeAnswer};
use crate::recording::index::SegmentEntry;
use crate::recording::playback::{hls_playlist, open_range, parse_time, select, PlaybackError};
use crate::recording::settings::{RecordConfig, RecordFormat};
use crate::recording::{Recording, StartError};

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

/// `?start=…&end=…` of the playback routes (ISO-8601 or unix seconds).
#[derive(Debug, Default, serde::Deserialize)]
pub struct TimeRange {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

/// Bytes of the seekable MP4 produced per read on the blocking pool.
const MP4_WINDOW: u64 = 1024 * 1024;
/// MP4 windows read ahead of the client.
const MP4_WINDOWS_AHEAD: usize = 4;

fn playback_error(err: PlaybackError) -> ApiError {
    match err {
        PlaybackError::EmptyRange | PlaybackError::TooLong | PlaybackError::NotTs => {
            ApiError::bad_field("start", err.to_string())
        }
        other => {
            tracing::warn!(error = %other, "recording playback failed");
            ApiError::internal("the recording cannot be read")
        }
    }
}

/// The recording `id` of `name` and its segments in `range`.
async fn chosen(
    api: &ApiState,
    name: &str,
    id: &str,
    range: &TimeRange,
) -> Result<(Recording, Vec<SegmentEntry>), ApiError> {
    configured(api, name)?;
    let time = |value: &Option<String>, field: &str| -> Result<Option<i64>, ApiError> {
        value
            .as_deref()
            .map(|v| parse_time(v).map_err(|e| ApiError::bad_field(field, e.to_string())))
            .transpose()
    };
    let (start, end) = (time(&range.start, "start")?, time(&range.end, "end")?);
    let recorder = api.server.recorder().clone();
    let key = name.to_owned();
    let recordings = super::blocking(move || recorder.recordings(&key)).await?;
    let recording = recordings
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no recording {id:?} of {name:?}")))?;
    let segments = select(&recording, start, end).map_err(playback_error)?;
    Ok((recording, segments))
}

/// `GET /api/v1/streams/{name}/recordings/{id}/index.m3u8`: the range as an
/// HLS VoD playlist over the recorded segments.
pub async fn playlist(
    State(api): State<ApiState>,
    Path((name, id)): Path<(String, String)>,
    Query(range): Query<TimeRange>,
) -> Result<Response, ApiError> {
    let (_, segments) = chosen(&api, &name, &id, &range).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.apple.mpegurl"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        hls_playlist(&segments),
    )
        .into_response())
}

/// `GET /api/v1/streams/{name}/recordings/{id}/files/{file}`: one segment
/// file, with byte ranges.
pub async fn segment(
    State(api): State<ApiState>,
    Path((name, id, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (recording, _) = chosen(&api, &name, &id, &TimeRange::default()).await?;
    let entry = recording
        .segments
        .iter()
        .find(|s| s.file == file)
        .ok_or_else(|| ApiError::not_found(format!("no segment {file:?}")))?;
    let path = recording.folder.join(&entry.file);
    let wanted = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = match entry.format {
        RecordFormat::Ts => "video/mp2t",
        RecordFormat::Fmp4 => "video/mp4",
    };
    let read = super::blocking(move || -> std::io::Result<(Vec<u8>, u64, RangeAnswer)> {
        let file = std::fs::File::open(&path)?;
        let len = file.metadata()?.len();
        let answer = parse_range(wanted.as_deref(), len);
        let (start, end) = match answer {
            RangeAnswer::Whole => (0, len),
            RangeAnswer::Partial { start, end } => (start, end),
            RangeAnswer::Unsatisfiable => (0, 0),
        };
        let mut data = vec![0u8; (end - start) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut data, start)?;
        Ok((data, len, answer))
    })
    .await?
    .map_err(|e| playback_error(e.into()))?;
    let (data, len, answer) = read;
    Ok(ranged(Body::from(data), content_type, &answer, len))
}

/// A response for `answer` against a resource of `len` bytes with `body`.
fn ranged(body: Body, content_type: &str, answer: &RangeAnswer, len: u64) -> Response {
    let mut response = Response::new(body);
    let content_range = match *answer {
        RangeAnswer::Whole => None,
        RangeAnswer::Partial { start, end } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            Some(format!("bytes {start}-{}/{len}", end - 1))
        }
        RangeAnswer::Unsatisfiable => {
            *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            Some(format!("bytes */{len}"))
        }
    };
    let headers = response.headers_mut();
    let mut put = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    put(header::CONTENT_TYPE, content_type);
    put(header::ACCEPT_RANGES, "bytes");
    put(header::CACHE_CONTROL, "private");
    if let Some(value) = content_range {
        put(header::CONTENT_RANGE, &value);
    }
    response
}

/// `GET /api/v1/streams/{name}/recordings/{id}/recording.mp4`: the range as
/// one seekable MP4 (`moov` first, byte ranges), whole segments, so it spans
/// the range give or take a GOP. MPEG-TS recordings only.
pub async fn mp4(
    State(api): State<ApiState>,
    Path((name, id)): Path<(String, String)>,
    Query(range): Query<TimeRange>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (recording, segments) = chosen(&api, &name, &id, &range).await?;
    if segments.iter().any(|s| s.format != RecordFormat::Ts) {
        return Err(playback_error(PlaybackError::NotTs));
    }
    let folder = recording.folder.clone();
    let opened = super::blocking(move || {
        let vod = open_range(&folder, &segments)?;
        let layout = vod.progressive_mp4()?;
        Ok::<_, PlaybackError>((vod, layout))
    })
    .await?
    .map_err(playback_error)?;
    let (vod, layout) = opened;
    let len = layout.len();
    let wanted = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let answer = parse_range(wanted, len);
    let (start, end) = match answer {
        RangeAnswer::Whole => (0, len),
        RangeAnswer::Partial { start, end } => (start, end),
        RangeAnswer::Unsatisfiable => (0, 0),
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(MP4_WINDOWS_AHEAD);
    tokio::spawn(async move {
        let mut at = start;
        while at < end {
            let until = (at + MP4_WINDOW).min(end);
            let (vod, layout) = (vod.clone(), layout.clone());
            let read =
                tokio::task::spawn_blocking(move || vod.progressive_bytes(&layout, at, until))
                    .await;
            let pieces = match read {
                Ok(Ok(pieces)) => pieces,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "reading a recording for MP4 failed");
                    let _ = sender.send(Err(std::io::Error::other(err))).await;
                    return;
                }
                Err(_) => return,
            };
            for piece in pieces {
                if sender.send(Ok(piece)).await.is_err() {
                    return;
                }
            }
            at = until;
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let mut response = ranged(body, "video/mp4", &answer, len);
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}-{}.mp4\"",
        crate::recording::path::component(&name),
        crate::recording::path::component(&id)
    )) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
