//! The API's error answers: every failure is JSON `{"error": "<words>", "field":
//! "<key path>"}` (field optional), with the right status.
//!
//! Also owns reading JSON request bodies ([`parse_json`]: serde with
//! `deny_unknown_fields` + serde_path_to_error, so a bad key names its path), the
//! fallback for unknown routes, and the layer that turns axum's own plain-text
//! rejections (405, 413, bad path parameters…) into the same JSON shape.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::config::ConfigError;
use crate::config_store::UpdateError;

/// Largest request body the API reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.into(),
            field: None,
        }
    }

    /// 400 for the value at `field`.
    pub fn bad_field(field: impl Into<String>, error: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            field: Some(field.into()),
        }
    }

    pub fn not_found(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, error)
    }

    pub fn internal(error: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error)
    }

    /// Maps a refused configuration change; `field_of` turns a config key path
    /// (`streams.x.source`) into the field path the caller sent (`source`).
    pub fn from_update<E: Into<ApiError>>(
        err: UpdateError<E>,
        field_of: impl Fn(&str) -> String,
    ) -> ApiError {
        match err {
            UpdateError::Edit(e) => e.into(),
            UpdateError::Invalid { key, message } => {
                let field = field_of(&key);
                ApiError::bad_field(field.clone(), format!("{field}: {message}"))
            }
            UpdateError::Refused { key, message } => ApiError {
                status: StatusCode::CONFLICT,
                error: message,
                field: Some(field_of(&key)),
            },
            UpdateError::Save(err) => {
                let full = matches!(
                    &err,
                    ConfigError::Write { source, .. }
                        if matches!(
                            source.kind(),
                            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                        )
                );
                let status = if full {
                    StatusCode::INSUFFICIENT_STORAGE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                ApiError::new(status, err.to_string())
            }
        }
    }
}

impl From<std::convert::Infallible> for ApiError {
    fn from(never: std::convert::Infallible) -> ApiError {
        match never {}
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.field {
            Some(field) => json!({ "error": self.error, "field": field }),
            None => json!({ "error": self.error }),
        };
        (self.status, Json(body)).into_response()
    }
}

/// Parses a JSON request body into `T` (whose structs deny unknown fields). A bad
/// key or value answers 400 with the key path in `field` (`sorce`,
/// `http.listen`); malformed JSON answers 400 without a field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request needs a JSON body",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the request body is not valid JSON: {}",
                    strip_position(&inner.to_string())
                ),
            );
        }
        from_serde(&path, &inner.to_string())
    })?;
    de.end().map_err(|err| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the request body is not valid JSON: {}",
                strip_position(&err.to_string())
            ),
        )
    })?;
    Ok(value)
}

/// Deserializes an already parsed JSON value (a merged document) the same way.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        from_serde(&path, &err.into_inner().to_string())
    })
}

/// A data error at `path` (serde_path_to_error's form: `.` for the top level).
/// An unknown key is reported at its own path.
fn from_serde(path: &str, message: &str) -> ApiError {
    let message = strip_position(message);
    let parent = if path == "." { "" } else { path };
    // serde_path_to_error already ends the path with an unknown key's name.
    let field = match unknown_field(&message) {
        Some(name) if parent.is_empty() => name.to_owned(),
        Some(name) if parent != name && !parent.ends_with(&format!(".{name}")) => {
            format!("{parent}.{name}")
        }
        None if parent.is_empty() => "(top level)".to_owned(),
        Some(_) | None => parent.to_owned(),
    };
    ApiError::bad_field(field.clone(), format!("{field}: {message}"))
}

/// The key named by serde's "unknown field `x`, expected …" message.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(&rest[..rest.find('`')?])
}

/// serde_json appends " at line L column C"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Unknown routes: 404 in JSON.
pub async fn fallback(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such API route: {method} {}", uri.path()))
}

/// Turns plain-text error answers (axum's own rejections: 405, 413, bad path
/// parameters) into `{"error": …}`; JSON and successful answers pass unchanged.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let error = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!("{path} does not accept {method}"),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than {} KiB", BODY_LIMIT / 1024)
        }
        StatusCode::NOT_FOUND if text.is_empty() => format!("not found: {path}"),
        _ if text.is_empty() => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
        _ => text,
    };
    let mut answer = (status, Json(json!({ "error": error }))).into_response();
    // Keep headers such as Allow and Retry-After; the body changed.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `Retry-After` header value for `seconds`.
pub fn retry_after(seconds: u64) -> HeaderValue {
    HeaderValue::from(seconds.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        listen: std::net::SocketAddr,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        source: Option<String>,
        http: Option<Inner>,
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_path() {
        let err = parse_json::<Outer>(br#"{"sorce": "x"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("sorce"));
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = parse_json::<Outer>(br#"{"http": {"lisen": "x"}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("http.lisen"));
        let err = parse_json::<Outer>(br#"{"http": {"listen": "nope"}}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("http.listen"));
        let err = parse_json::<Outer>(b"{\"http\": ").unwrap_err();
        assert_eq!(err.field, None);
        assert!(err.error.contains("not valid JSON"), "{}", err.error);
        let err = parse_json::<Outer>(b"{} {}").unwrap_err();
        assert_eq!(err.field, None);
        let err = parse_json::<Outer>(b"  ").unwrap_err();
        assert!(err.error.contains("JSON body"), "{}", err.error);
        let err = from_value::<Outer>(json!({"http": {}})).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("http"));
        assert!(err.error.contains("listen"), "{}", err.error);
    }
}
