//! Who may talk to the management port at all, before any credentials are looked
//! at: the `Host` and `Origin` checks that stop DNS rebinding and cross-site
//! requests, and the security headers every answer of the port carries.
//!
//! * `Host` must name this server as the operator reaches it: `localhost`, an
//!   address in 127.0.0.0/8, `[::1]`, or a name/address listed in
//!   `api.allowed_hosts`. Anything else (a rebinding page at `attacker.example`
//!   resolving to 127.0.0.1) gets 403 whatever it asks for.
//! * A state-changing request (anything but GET/HEAD/OPTIONS) and any request that
//!   carries the session cookie must, when it has an `Origin`, come from this
//!   origin: the `Origin`'s host and port equal the `Host` header, or its host is
//!   listed in `api.allowed_hosts`. Non-browser clients send no `Origin` and pass.
//! * Every answer says `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`
//!   and `Referrer-Policy: no-referrer`; the UI's documents add their CSP.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::ApiState;

/// The host part of an `authority` (`host[:port]`, `[v6][:port]`), lower-cased
/// brackets kept off; `None` when malformed.
pub fn host_of(authority: &str) -> Option<String> {
    let authority = authority.trim();
    if authority.is_empty() || authority.contains(['/', '@', ' ']) {
        return None;
    }
    let host = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        inside
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => return None,
            None => authority,
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// Whether `host` (from [`host_of`]) is this machine's loopback by any spelling.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// An `api.allowed_hosts` entry that is not a host name or IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a host name or IP address (no scheme, no port)")]
pub struct BadHostEntry(pub String);

/// Checks one `api.allowed_hosts` entry: a DNS name or an IP address, no port.
pub fn check_allowed_host(entry: &str) -> Result<(), BadHostEntry> {
    let bare = entry.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name_ok = !entry.is_empty()
        && entry.len() <= 253
        && entry.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if name_ok {
        Ok(())
    } else {
        Err(BadHostEntry(entry.to_owned()))
    }
}

/// Whether `host` is one of the configured `allowed` entries.
fn configured(host: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|entry| {
        let entry = entry.trim_start_matches('[').trim_end_matches(']');
        match (entry.parse::<IpAddr>(), host.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a.to_canonical() == b.to_canonical(),
            _ => entry.eq_ignore_ascii_case(host),
        }
    })
}

/// Whether a request naming `host` may be answered.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    is_loopback_host(host) || configured(host, allowed)
}

/// Whether the `Origin` value `origin` is this port's own origin for a request
/// whose `Host` header is `host_header`.
pub fn same_origin(origin: &str, host_header: &str, allowed: &[String]) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null" and garbage
    };
    if !matches!(scheme, "http" | "https") {
        return false;
    }
    if authority.eq_ignore_ascii_case(host_header.trim()) {
        return true;
    }
    host_of(authority).is_some_and(|host| configured(&host, allowed))
}

/// Why the guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the request has no usable Host header")]
    NoHost,
    #[error(
        "this management port does not answer to the host name {0:?}: use localhost or \
         127.0.0.1, or list the name in api.allowed_hosts"
    )]
    ForeignHost(String),
    #[error(
        "cross-origin request refused: the management API only takes changes from its own web UI"
    )]
    CrossOrigin,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = match self {
            Refused::NoHost => StatusCode::BAD_REQUEST,
            Refused::ForeignHost(_) | Refused::CrossOrigin => StatusCode::FORBIDDEN,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

/// What the guard decides for a request's method and headers.
pub fn verdict(method: &Method, headers: &HeaderMap, allowed: &[String]) -> Result<(), Refused> {
    let host_header = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = host_of(host_header).ok_or(Refused::NoHost)?;
    if !host_allowed(&host, allowed) {
        return Err(Refused::ForeignHost(host));
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let has_cookie = super::auth::session_cookie(headers).is_some();
    if changes_state || has_cookie {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            if !same_origin(origin, host_header, allowed) {
                return Err(Refused::CrossOrigin);
            }
        }
    }
    Ok(())
}

/// The middleware in front of the whole management port.
pub async fn check(State(api): State<ApiState>, request: Request, next: Next) -> Response {
    let config = api.server.config();
    if let Err(refused) = verdict(
        request.method(),
        request.headers(),
        &config.api.allowed_hosts,
    ) {
        tracing::info!(
            reason = %refused,
            method = %request.method(),
            path = %request.uri().path(),
            "management request refused by the Host/Origin check"
        );
        return with_headers(refused.into_response());
    }
    drop(config);
    with_headers(next.run(request).await)
}

/// Adds the headers every management answer carries.
fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_parsed_and_judged() {
        assert_eq!(host_of("127.0.0.1:4242").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("[::1]:4242").as_deref(), Some("::1"));
        assert_eq!(host_of("LocalHost.").as_deref(), Some("localhost"));
        assert_eq!(host_of("a/b"), None);
        assert_eq!(host_of(""), None);
        assert!(host_allowed("127.0.0.9", &[]));
        assert!(host_allowed("::1", &[]));
        assert!(!host_allowed("attacker.example", &[]));
        assert!(host_allowed("admin.example", &["admin.example".to_owned()]));
        assert!(host_allowed("10.0.0.5", &["10.0.0.5".to_owned()]));
        assert!(check_allowed_host("admin.example").is_ok());
        assert!(check_allowed_host("[2001:db8::1]").is_ok());
        assert!(check_allowed_host("http://x").is_err());
        assert!(check_allowed_host("x:80").is_err());
    }

    #[test]
    fn origins_must_match_the_host() {
        assert!(same_origin("http://127.0.0.1:4242", "127.0.0.1:4242", &[]));
        assert!(!same_origin("http://127.0.0.1:4243", "127.0.0.1:4242", &[]));
        assert!(!same_origin("null", "127.0.0.1:4242", &[]));
        assert!(!same_origin("http://evil.example", "127.0.0.1:4242", &[]));
        let allowed = ["admin.example".to_owned()];
        assert!(same_origin(
            "https://admin.example",
            "127.0.0.1:4242",
            &allowed
        ));
    }
}
