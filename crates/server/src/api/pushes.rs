//! Push routes: `GET`/`POST /api/v1/pushes` and `DELETE /api/v1/pushes/{id}`
//! ([`crate::push`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::{parse_json, ApiError};
use super::ApiState;
use crate::push::CreateError;

/// The body of `POST /api/v1/pushes`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    stream: String,
    target: String,
}

/// `GET /api/v1/pushes`: every push with its status and bytes sent.
pub async fn list(State(api): State<ApiState>) -> Json<Value> {
    Json(json!({ "pushes": api.server.pusher().list() }))
}

/// `POST /api/v1/pushes {stream, target}`: 201 with the push.
pub async fn create(
    State(api): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: PushBody = parse_json(&body)?;
    let id = api
        .server
        .pusher()
        .create(&body.stream, &body.target)
        .map_err(|err| match err {
            CreateError::Target(_) => ApiError::bad_field("target", err.to_string()),
            CreateError::NoStream(_) => ApiError::bad_field("stream", err.to_string()),
            CreateError::TooMany => ApiError::bad_field("target", err.to_string()),
        })?;
    let push = api
        .server
        .pusher()
        .list()
        .into_iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| json!({ "id": id }));
    Ok((StatusCode::CREATED, Json(push)))
}

/// `DELETE /api/v1/pushes/{id}`: 204; the push stops.
pub async fn delete(
    State(api): State<ApiState>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    if api.server.pusher().delete(id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no push {id}")))
    }
}
