//! Routes for signing in and managing accounts: `POST /api/v1/login`,
//! `POST /api/v1/logout`, `GET /api/v1/session`, `GET /api/v1/accounts`,
//! `PUT/DELETE /api/v1/accounts/{name}`.
//!
//! Accounts are stored in the configuration (`api.accounts`, name → argon2 hash)
//! through `update_config`, so they are saved atomically like every other change.
//! Hashes and passwords never appear in answers or logs.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::{self, AuthUser, Verdict, COOKIE};
use super::error::{parse_json, ApiError};
use super::listen::DirectTls;
use super::{password, ApiState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

/// `POST /api/v1/login`: checks the password, starts a session, sets the cookie.
pub async fn login(
    State(api): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    direct_tls: Option<Extension<DirectTls>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(wait) = api.auth.limited(peer.ip()) {
        return Ok(auth::too_many(wait));
    }
    let LoginBody { username, password } = parse_json(&body)?;
    let stored = api.server.config().api.accounts.get(&username).cloned();
    if !api.auth.check_password(peer.ip(), stored, password).await {
        tracing::info!(peer = %peer, user = %username, "wrong username or password at login");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong username or password",
        ));
    }
    let token = api.auth.open_session(&username);
    tracing::info!(peer = %peer, user = %username, "logged in");
    let secure = direct_tls.is_some() || auth::over_https(peer, &headers, &api.server.config());
    let cookie = session_cookie(&token, secure);
    let mut response = Json(json!({ "username": username })).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /api/v1/logout`: forgets the session and clears the cookie.
pub async fn logout(State(api): State<ApiState>, headers: HeaderMap) -> Response {
    if let Some(token) = auth::session_cookie(&headers) {
        api.auth.close_session(token);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "brume_session=; HttpOnly; SameSite=Strict; Path=/api/v1/; Max-Age=0",
        ),
    );
    response
}

/// `GET /api/v1/session`: whether the caller is signed in, and as whom.
pub async fn session(
    State(api): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let setup_mode = api.server.config().api.accounts.is_empty();
    let (authenticated, username) = match auth::identify(&api, peer, &headers).await {
        Verdict::Setup => (true, None),
        Verdict::User(user) => (true, Some(user)),
        Verdict::Limited(wait) => return auth::too_many(wait),
        Verdict::SetupRemote | Verdict::Unauthenticated => (false, None),
    };
    Json(json!({
        "authenticated": authenticated,
        "username": username,
        "setup_mode": setup_mode,
    }))
    .into_response()
}

/// `GET /api/v1/accounts`: account names.
pub async fn list(State(api): State<ApiState>) -> Json<serde_json::Value> {
    let config = api.server.config();
    let names: Vec<&String> = config.api.accounts.keys().collect();
    Json(json!({ "accounts": names }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    password: String,
    /// Needed for the first account (setup mode): the token from the log.
    #[serde(default)]
    setup_token: Option<String>,
}

/// Why the first account was not created.
fn setup_token_refused() -> ApiError {
    ApiError {
        status: StatusCode::FORBIDDEN,
        error: "creating the first account needs the setup token printed in the server's \
                log at startup (open the URL logged there, or send \"setup_token\")"
            .to_owned(),
        field: Some("setup_token".to_owned()),
    }
}

/// `PUT /api/v1/accounts/{name}` `{"password", "setup_token"?}`: creates (201) or
/// changes (200). The first account needs the setup token; changing a password
/// ends the account's sessions (the caller's own gets a fresh cookie).
pub async fn put(
    State(api): State<ApiState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(AuthUser(caller)): Extension<AuthUser>,
    direct_tls: Option<Extension<DirectTls>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    password::check_account_name(&name).map_err(|e| ApiError::bad_field("name", e.to_string()))?;
    let AccountBody {
        password: secret,
        setup_token,
    } = parse_json(&body)?;
    password::check(&secret).map_err(|e| ApiError::bad_field("password", e.to_string()))?;
    let token_ok = setup_token
        .as_deref()
        .is_some_and(|t| api.auth.setup_token_matches(t));
    if api.server.config().api.accounts.is_empty() && !token_ok {
        return Err(setup_token_refused());
    }
    let hash = tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ApiError::internal(format!("cannot hash the password: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let server = api.server.clone();
    let account = name.clone();
    let (created, was_setup) = super::blocking(move || {
        let (mut created, mut was_setup) = (false, false);
        server
            .apply_config(Box::new(|config| {
                // Checked again under the edit lock: two racing first accounts.
                was_setup = config.api.accounts.is_empty();
                if was_setup && !token_ok {
                    return Err(setup_token_refused());
                }
                created = config.api.accounts.insert(account, hash).is_none();
                Ok(())
            }))
            .map(|_| (created, was_setup))
    })
    .await?
    .map_err(|e| ApiError::from_update(e, account_field))?;
    if was_setup {
        api.auth.renew_setup_token();
    }
    tracing::info!(user = %name, created, "account password set");
    if created {
        return Ok((StatusCode::CREATED, Json(json!({ "username": name }))).into_response());
    }
    api.auth.close_sessions_of(&name);
    let mut response = Json(json!({ "username": name })).into_response();
    let own_session = auth::session_cookie(&headers).is_some();
    if own_session && caller.as_deref() == Some(name.as_str()) {
        let token = api.auth.open_session(&name);
        let secure = direct_tls.is_some() || auth::over_https(peer, &headers, &api.server.config());
        if let Ok(value) = HeaderValue::from_str(&session_cookie(&token, secure)) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

/// The `Set-Cookie` value for a new session: host-only, `Path=/api/v1/` (the UI
/// only talks to the API; browsers send cookies to every port of a host, so the
/// path keeps it off the media port's URLs),
/// `Secure` when the API was reached over HTTPS (`api.tls`, or a trusted proxy
/// that says so).
fn session_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/api/v1/{secure}")
}

/// `DELETE /api/v1/accounts/{name}`: 204, or 404. Deleting the last account
/// returns the server to setup mode.
pub async fn delete(
    State(api): State<ApiState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let server = api.server.clone();
    let account = name.clone();
    super::blocking(move || {
        server.apply_config(Box::new(|config| {
            match config.api.accounts.remove(&account) {
                Some(_) => Ok(()),
                None => Err(ApiError::not_found(format!("no account named {account:?}"))),
            }
        }))
    })
    .await?
    .map_err(|e| ApiError::from_update(e, account_field))?;
    api.auth.close_sessions_of(&name);
    tracing::info!(user = %name, "account deleted");
    let config = api.server.config();
    if config.api.accounts.is_empty() {
        if let Some(address) = api.server.ports().api {
            let scheme = if config.api.tls.is_some() {
                "https"
            } else {
                "http"
            };
            auth::announce_setup(&api.auth, address, scheme);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Config key `api.accounts.NAME` → the route's fields.
fn account_field(key: &str) -> String {
    if key.starts_with("api.accounts") {
        "name".to_owned()
    } else {
        key.to_owned()
    }
}
