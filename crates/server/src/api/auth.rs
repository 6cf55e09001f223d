//! Who may use the API: setup mode, HTTP Basic auth, session cookies and the
//! per-IP limit on wrong passwords.
//!
//! * No account configured (setup mode): loopback peers that come straight in (no
//!   `Forwarded`/`X-Forwarded-For`/`X-Real-IP`, i.e. not through a local proxy)
//!   may do everything but create the first account, which also needs the
//!   one-time setup token printed in the log at startup ([`AuthState::setup_token`]).
//!   Others get 403.
//! * With accounts: a request carries either `Authorization: Basic …` or the
//!   `brume_session` cookie from `POST /api/v1/login`. Sessions live in memory
//!   (token → user), expire after 12 hours unused and end when their account is
//!   deleted.
//! * Wrong passwords (login or Basic) are counted per client (the TCP peer's
//!   IPv4 address, or its IPv6 /64: [`crate::failures`]): 5 within a minute and that IP gets 429 with `Retry-After` until the oldest
//!   failure is a minute old.
//!
//! Argon2 verification runs on the blocking pool, at most [`VERIFY_SLOTS`] at once.
//! Passwords, hashes and tokens are never logged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::RngCore;
use serde_json::json;
use tokio::sync::Semaphore;

use super::error::retry_after;
use super::password;
use super::ApiState;

/// The session cookie's name.
pub const COOKIE: &str = "brume_session";
/// A session unused this long is forgotten.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest go first).
pub const MAX_SESSIONS: usize = 1000;
/// Wrong passwords allowed per IP within [`FAILURE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Argon2 verifications running at once (each takes ~19 MiB).
pub const VERIFY_SLOTS: usize = 4;

/// The authenticated user of a request, put in its extensions by [`require`]
/// (`None` in setup mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser(pub Option<String>);

#[derive(Debug)]
struct Session {
    user: String,
    last_used: Instant,
}

/// Sessions and failure counts.
#[derive(Debug)]
pub struct AuthState {
    sessions: Mutex<HashMap<String, Session>>,
    failures: crate::failures::FailureLimiter,
    verify_slots: Semaphore,
    /// The one-time token that creating the first account needs.
    setup_token: Mutex<String>,
}

impl Default for AuthState {
    fn default() -> Self {
        AuthState {
            sessions: Mutex::new(HashMap::new()),
            failures: crate::failures::FailureLimiter::new(MAX_FAILURES, FAILURE_WINDOW),
            verify_slots: Semaphore::new(VERIFY_SLOTS),
            setup_token: Mutex::new(random_hex(24)),
        }
    }
}

/// What a request's credentials came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Setup mode, loopback peer.
    Setup,
    /// Authenticated as this user.
    User(String),
    /// Setup mode, peer not on loopback.
    SetupRemote,
    /// No (valid) credentials.
    Unauthenticated,
    /// Too many wrong passwords from this IP; retry after this many seconds.
    Limited(u64),
}

impl AuthState {
    /// The current setup token (24 random bytes, hex).
    pub fn setup_token(&self) -> String {
        self.setup_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether `given` is the current setup token (compared in constant time).
    pub fn setup_token_matches(&self, given: &str) -> bool {
        let token = self.setup_token.lock().unwrap_or_else(|p| p.into_inner());
        password::constant_time_eq(token.as_bytes(), given.as_bytes())
    }

    /// Replaces the setup token (the old one was used).
    pub fn renew_setup_token(&self) {
        *self.setup_token.lock().unwrap_or_else(|p| p.into_inner()) = random_hex(24);
    }

    /// Starts a session for `user`; returns its token (32 random bytes, hex).
    pub fn open_session(&self, user: &str) -> String {
        let token = random_hex(32);
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        }
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                last_used: now,
            },
        );
        token
    }

    /// The user of a live session (refreshing its idle timer).
    pub fn session_user(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get_mut(token)?;
        if now.duration_since(session.last_used) >= SESSION_IDLE {
            sessions.remove(token);
            return None;
        }
        session.last_used = now;
        Some(session.user.clone())
    }

    pub fn close_session(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Ends every session of `user` (its account was deleted).
    pub fn close_sessions_of(&self, user: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| s.user != user);
    }

    /// `Some(seconds)` when `ip` (its /64 for IPv6) must wait before trying a
    /// password again.
    pub fn limited(&self, ip: IpAddr) -> Option<u64> {
        self.failures.limited(ip, Instant::now())
    }

    /// Counts a wrong password from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        self.failures.record(ip, Instant::now());
    }

    /// Checks `password` against `user`'s stored hash (`None`: no such account —
    /// a dummy hash is checked anyway so both cases take as long), off the async
    /// threads. Counts a failure for `ip` when wrong.
    pub async fn check_password(
        &self,
        ip: IpAddr,
        stored: Option<String>,
        password: String,
    ) -> bool {
        let ok = match self.verify_slots.acquire().await {
            Ok(_permit) => tokio::task::spawn_blocking(move || match stored {
                Some(hash) => password::verify(&hash, &password),
                None => {
                    let _ = password::verify(dummy_hash(), &password);
                    false
                }
            })
            .await
            .unwrap_or(false),
            Err(_) => false,
        };
        if !ok {
            self.record_failure(ip);
        }
        ok
    }
}

/// `bytes` random bytes, as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Logs where to create the first account: the UI's URL with the setup token
/// (the token's fields are redacted in the in-memory log the API serves).
pub fn announce_setup(auth: &AuthState, api: SocketAddr, scheme: &str) {
    let host = match api.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_owned(),
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    let token = auth.setup_token();
    let token_url = format!("{scheme}://{host}:{}/?setup={token}", api.port());
    tracing::warn!(
        setup_token = %token,
        %token_url,
        "setup mode: no account exists yet; open token_url (or send setup_token) to create the first one"
    );
}

/// Whether the browser reached the API over HTTPS: a trusted proxy in front of
/// it says so (`X-Forwarded-Proto: https` or `Forwarded: proto=https`).
pub fn over_https(peer: SocketAddr, headers: &HeaderMap, config: &crate::config::Config) -> bool {
    let trusted = config
        .trusted_proxies
        .iter()
        .filter_map(|text| crate::net::Cidr::parse(text).ok())
        .any(|cidr| cidr.contains(peer.ip()));
    if !trusted {
        return false;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    header("x-forwarded-proto").trim() == "https"
        || header("forwarded")
            .split([';', ','])
            .any(|pair| pair.trim() == "proto=https")
}

/// Whether a request came through a proxy (so its loopback peer says nothing
/// about the client).
fn forwarded(headers: &HeaderMap) -> bool {
    ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|name| headers.contains_key(*name))
}

/// A hash no password is checked against for real (timing equaliser).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| password::hash("no such account").unwrap_or_default())
}

/// Whether `ip` is a loopback address (IPv4-mapped IPv6 included).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The `brume_session` cookie's value, if sent.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

/// `(user, password)` from `Authorization: Basic …`, if present and well formed.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 (padding optional); `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() > 4096 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decides who is asking: setup mode, a session cookie, then Basic auth.
pub async fn identify(api: &ApiState, peer: SocketAddr, headers: &HeaderMap) -> Verdict {
    let config = api.server.config();
    let accounts = &config.api.accounts;
    if accounts.is_empty() {
        return if is_loopback(peer.ip()) && !forwarded(headers) {
            Verdict::Setup
        } else {
            Verdict::SetupRemote
        };
    }
    if let Some(user) = session_cookie(headers).and_then(|t| api.auth.session_user(t)) {
        if accounts.contains_key(&user) {
            return Verdict::User(user);
        }
    }
    let Some((user, password)) = basic_credentials(headers) else {
        return Verdict::Unauthenticated;
    };
    if let Some(wait) = api.auth.limited(peer.ip()) {
        return Verdict::Limited(wait);
    }
    let stored = accounts.get(&user).cloned();
    if api.auth.check_password(peer.ip(), stored, password).await {
        Verdict::User(user)
    } else {
        tracing::info!(peer = %peer, user = %user, "wrong Basic auth credentials");
        Verdict::Unauthenticated
    }
}

/// 401, with a Basic challenge unless the web UI asked (`X-Brume-UI: 1`).
pub fn unauthorized(headers: &HeaderMap) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "authentication required" })),
    )
        .into_response();
    let from_ui = headers
        .get("x-brume-ui")
        .is_some_and(|v| v.as_bytes() == b"1");
    if !from_ui {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Brume\""),
        );
    }
    response
}

/// 429 with `Retry-After`.
pub fn too_many(wait: u64) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({
            "error": format!("too many wrong passwords from this address; try again in {wait} s"),
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, retry_after(wait));
    response
}

/// 403 for remote peers in setup mode.
pub fn setup_forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({
            "error": "no account exists yet: create an account first, from the server itself \
                      (the web UI on a loopback address with the setup token from the \
                      server's log, or `brume passwd --config FILE`)",
        })),
    )
        .into_response()
}

/// The middleware guarding every protected route.
pub async fn require(
    State(api): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let user = match identify(&api, peer, request.headers()).await {
        Verdict::Setup => None,
        Verdict::User(user) => Some(user),
        Verdict::SetupRemote => return setup_forbidden(),
        Verdict::Unauthenticated => return unauthorized(request.headers()),
        Verdict::Limited(wait) => return too_many(wait),
    };
    request.extensions_mut().insert(AuthUser(user));
    next.run(request).await
}

/// An `Arc`'d auth state, for the router's state.
pub fn new_state() -> Arc<AuthState> {
    Arc::new(AuthState::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_basic_credentials() {
        assert_eq!(base64_decode("YWRtaW46c2VjcmV0").unwrap(), b"admin:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert!(base64_decode("*").is_none());
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46c2U6Y3JldA=="),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("admin".to_owned(), "se:cret".to_owned()))
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&headers), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; brume_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers), Some("abc"));
    }

    #[test]
    fn sessions_and_failures() {
        let auth = AuthState::default();
        let token = auth.open_session("admin");
        assert_eq!(token.len(), 64);
        assert_eq!(auth.session_user(&token).as_deref(), Some("admin"));
        auth.close_sessions_of("admin");
        assert_eq!(auth.session_user(&token), None);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            auth.record_failure(ip);
        }
        assert_eq!(auth.limited(ip), None);
        auth.record_failure(ip);
        let wait = auth.limited(ip).unwrap();
        assert!((59..=60).contains(&wait), "{wait}");
        assert_eq!(auth.limited("192.0.2.8".parse().unwrap()), None);
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("192.0.2.7".parse().unwrap()));
    }
}
