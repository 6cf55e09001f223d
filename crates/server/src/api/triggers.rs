//! Triggers and signed URLs through the API: `GET`/`PUT /api/v1/triggers` (the
//! configuration's `triggers` section, validated like the file) and
//! `POST /api/v1/streams/{name}/token` (a signed viewer URL token, made with the
//! configured `tokens.key`, which the API never shows).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{parse_json, ApiError};
use super::ApiState;
use crate::triggers::config::TriggersConfig;
use crate::triggers::Event;

/// Default lifetime of a minted token.
pub const DEFAULT_TOKEN_TTL_S: u64 = 3600;
/// Longest lifetime of a minted token: one year.
pub const MAX_TOKEN_TTL_S: u64 = 366 * 86_400;

fn document(triggers: &TriggersConfig) -> Value {
    json!({ "triggers": triggers, "events": Event::names() })
}

/// `GET /api/v1/triggers`: the handlers per event, and every event name.
pub async fn get(State(api): State<ApiState>) -> Json<Value> {
    Json(document(&api.server.config().triggers))
}

/// `PUT /api/v1/triggers`: replaces every handler (`{"USER_NEW": [...]}`).
pub async fn put(State(api): State<ApiState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let triggers: TriggersConfig = parse_json(&body)?;
    let server = api.server.clone();
    let config = super::blocking(move || {
        server.apply_config(Box::new(move |config| {
            config.triggers = triggers;
            Ok(())
        }))
    })
    .await?
    .map_err(|e| ApiError::from_update(e, |key| key.trim_start_matches("triggers.").to_owned()))?;
    tracing::info!(
        events = config.triggers.len(),
        "triggers configured through the API"
    );
    Ok(Json(document(&config.triggers)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    #[serde(default)]
    ttl_s: Option<u64>,
}

/// `POST /api/v1/streams/{name}/token`: `{"ttl_s": 3600}` → a token for the
/// stream's viewer URLs (`?tkn=…`) and when it expires.
pub async fn mint(
    State(api): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: TokenRequest = if body.is_empty() {
        TokenRequest::default()
    } else {
        parse_json(&body)?
    };
    let ttl = request.ttl_s.unwrap_or(DEFAULT_TOKEN_TTL_S);
    if !(1..=MAX_TOKEN_TTL_S).contains(&ttl) {
        return Err(ApiError::bad_field(
            "ttl_s",
            format!("ttl_s: must be between 1 and {MAX_TOKEN_TTL_S}"),
        ));
    }
    let config = api.server.config();
    if !config.streams.contains_key(&name) {
        return Err(ApiError::not_found(format!("no stream named {name:?}")));
    }
    let Some(key) = config.tokens.key.as_deref() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no signing key: set `tokens.key` in the configuration file",
        ));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires = now + ttl;
    let token = crate::access::token::sign(key.as_bytes(), &name, expires);
    Ok(Json(json!({
        "stream": name,
        "token": token,
        "expires": expires,
        "query": format!("{}={token}", crate::access::token::TOKEN_PARAM),
    })))
}
