//! The one place that decides which public URL a client reaches Brume under.
//!
//! [`resolve`] is a pure function of the request headers, the peer, the listener and
//! the configuration. In order:
//!
//! 1. `X-Mst-Path` (MistServer's proxy convention): a whole base URL, believed from
//!    any peer, used only when it is a well-formed `http`/`https` URL.
//! 2. `Forwarded` (RFC 7239, first element: `proto`, `host`) and
//!    `X-Forwarded-Proto` / `X-Forwarded-Host` / `X-Forwarded-Prefix`, believed only
//!    from a trusted proxy (`trusted_proxies`; a Unix-socket peer is trusted). When
//!    they name a configured public address (same scheme, host and port) and give
//!    no prefix, that address is used with the configured path, and the other
//!    configured addresses are listed after it: proxies such as lighttpd send
//!    `X-Forwarded-Host`/`-Proto` but cannot say which path they map to Brume.
//! 3. The configured `http.public_address` list (and `https.public_address` when
//!    HTTPS is configured): every entry is a base, the first is the primary one.
//! 4. The `Host` header with the listener's scheme (and its own port when the header
//!    has none); when HTTPS is configured the other scheme is listed too.
//!
//! Every host, port and path is validated before it is used, so a base never holds
//! characters that could break out of a URL, an HTML attribute or a JS string.
//! [`client_ip`] applies the same trust rule to `X-Real-IP` / `Forwarded: for` /
//! `X-Forwarded-For`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap};

use super::{HttpContext, Scheme};
use crate::config::Config;
use crate::net::Cidr;

/// Longest base URL (`X-Mst-Path`, a configured public address) accepted.
pub const MAX_BASE_LEN: usize = 2048;
/// Longest host name accepted (DNS allows 253).
pub const MAX_HOST_LEN: usize = 253;
/// Longest forwarding header value parsed at all.
pub const MAX_FORWARDED_LEN: usize = 4096;
/// Most `key=value` pairs read from one `Forwarded` element.
pub const MAX_FORWARDED_PAIRS: usize = 16;
/// RTMP's default port: omitted from `rtmp://` URLs.
pub const DEFAULT_RTMP_PORT: u16 = 1935;
/// At most one warning about bad proxy headers or public addresses per interval.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// `X-Mst-Path`, MistServer's proxy header.
pub const X_MST_PATH: &str = "x-mst-path";
const FORWARDED: &str = "forwarded";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const X_FORWARDED_PREFIX: &str = "x-forwarded-prefix";
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_REAL_IP: &str = "x-real-ip";

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    #[error("longer than {MAX_BASE_LEN} bytes")]
    TooLong,
    #[error("not an absolute http:// or https:// URL")]
    NotAbsolute,
    #[error("unsupported scheme (only http and https)")]
    UnsupportedScheme,
    #[error("invalid host")]
    BadHost,
    #[error("invalid port")]
    BadPort,
    #[error("invalid path")]
    BadPath,
    #[error("a base cannot carry a query, fragment or user name")]
    Extra,
}

/// A base every absolute URL is built on: scheme, host[:port], path prefix.
/// Only [`PublicBase::parse`] and [`PublicBase::new`] make one, so its parts are
/// always valid (no quotes, spaces, angle brackets or control characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBase {
    scheme: Scheme,
    /// Host as it goes in a URL (`example.com`, `[::1]`).
    host: String,
    /// `None` when it is the scheme's default port.
    port: Option<u16>,
    /// Path prefix, starting and ending with `/`.
    path: String,
}

impl PublicBase {
    /// A base from validated parts; `port` is dropped when it is the scheme's default.
    pub fn new(
        scheme: Scheme,
        host: &str,
        port: Option<u16>,
        path: &str,
    ) -> Result<Self, BaseError> {
        let host = parse_host(host)?;
        let path = normalize_path(path)?;
        Ok(PublicBase {
            scheme,
            host,
            port: port.filter(|p| *p != default_port(scheme)),
            path,
        })
    }

    /// Parses a full base URL (`https://example.com:4433/mistserver`). Without a
    /// scheme (`//host/p` or `host/p`) the text is refused unless `default_scheme`
    /// says which to assume.
    pub fn parse(text: &str, default_scheme: Option<Scheme>) -> Result<Self, BaseError> {
        let text = text.trim_matches(|c: char| c == ' ' || c == '\t');
        if text.len() > MAX_BASE_LEN {
            return Err(BaseError::TooLong);
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = if scheme.eq_ignore_ascii_case("http") {
                    Scheme::Http
                } else if scheme.eq_ignore_ascii_case("https") {
                    Scheme::Https
                } else {
                    return Err(BaseError::UnsupportedScheme);
                };
                (scheme, rest)
            }
            None => {
                let scheme = default_scheme.ok_or(BaseError::NotAbsolute)?;
                (scheme, text.strip_prefix("//").unwrap_or(text))
            }
        };
        if rest.contains(['?', '#']) {
            return Err(BaseError::Extra);
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(BaseError::Extra);
        }
        let (host, port) = parse_host_port(authority)?;
        PublicBase::new(scheme, &host, port, path)
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host without port (`example.com`, `[::1]`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The path prefix, starting and ending with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Host and port as they go in a URL (`example.com`, `example.com:8080`).
    pub fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        }
    }

    /// The absolute `http(s)://` URL of `relative` (a path below the base).
    pub fn url(&self, relative: &str) -> String {
        format!(
            "{}://{}{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path,
            relative
        )
    }

    /// The absolute `ws(s)://` URL of `relative`: `wss` for an `https` base.
    pub fn ws_url(&self, relative: &str) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "ws",
            Scheme::Https => "wss",
        };
        format!("{scheme}://{}{}{relative}", self.authority(), self.path)
    }

    /// An `rtmp://` URL on this base's host (never its port or path). `port` 1935 is
    /// omitted, and so is 0 (a listener on an ephemeral port not known here).
    pub fn rtmp_url(&self, relative: &str, port: u16) -> String {
        if port == DEFAULT_RTMP_PORT || port == 0 {
            format!("rtmp://{}/{relative}", self.host)
        } else {
            format!("rtmp://{}:{port}/{relative}", self.host)
        }
    }

    /// The base as the player's `host` option: the URL without its trailing `/`
    /// (`https://example.com/mistserver`, `http://h:8080`), so `host + "/json_S.js"`
    /// is right.
    pub fn player_host(&self) -> String {
        let url = self.url("");
        match url.strip_suffix('/') {
            Some(trimmed) => trimmed.to_owned(),
            None => url,
        }
    }
}

impl std::fmt::Display for PublicBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url(""))
    }
}

/// Which rule produced the bases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    MstPath,
    Forwarded,
    Configured,
    HostHeader,
}

/// The public bases of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Every base stream info lists sources under; never empty, `primary` first.
    pub bases: Vec<PublicBase>,
    /// The base the player page, `player.js` and embed code use.
    pub primary: PublicBase,
    /// Which rule produced them.
    pub origin: Origin,
}

impl Resolved {
    /// Whether `X-Mst-Path` decided the bases.
    pub fn from_mst_path(&self) -> bool {
        self.origin == Origin::MstPath
    }

    /// The `Vary` header value for a response built from these bases. `X-Mst-Path`
    /// is always named (a cache must not hand a proxied answer to a direct client or
    /// the other way round); forwarding headers when they were used.
    pub fn vary(&self) -> &'static str {
        match self.origin {
            Origin::Forwarded => {
                "X-Mst-Path, Forwarded, X-Forwarded-Proto, X-Forwarded-Host, X-Forwarded-Prefix"
            }
            _ => "X-Mst-Path",
        }
    }
}

/// The bases for a request on `context`'s listener.
pub fn for_request(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    context: &HttpContext,
) -> Resolved {
    resolve(
        headers,
        peer,
        context.scheme,
        context.local_port,
        &context.config(),
    )
}

/// Resolves the public bases of a request (see the module documentation for the
/// order). `peer` is `None` for a Unix-socket peer, which is trusted.
pub fn resolve(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    listener: Scheme,
    local_port: u16,
    config: &Config,
) -> Resolved {
    if let Some(value) = first_value(headers, X_MST_PATH) {
        match PublicBase::parse(value, None) {
            Ok(base) => return single(base, Origin::MstPath),
            Err(err) => warn_limited(&MST_PATH_WARNED, || {
                tracing::warn!(%err, value = %printable(value), "ignoring malformed X-Mst-Path header");
            }),
        }
    }
    if is_trusted(peer, &trusted_proxies(config)) {
        if let Some((base, explicit_prefix)) = forwarded_base(headers, listener) {
            // A proxy that names a configured address without saying its path
            // prefix (lighttpd sends X-Forwarded-Host/-Proto, never a prefix) is
            // at that address: the configuration knows the prefix.
            if !explicit_prefix {
                if let Some(resolved) = configured_matching(config, listener, &base) {
                    return resolved;
                }
            }
            return single(base, Origin::Forwarded);
        }
    }
    if let Some(resolved) = configured(config, listener) {
        return resolved;
    }
    from_host_header(headers, listener, local_port, config)
}

/// The client's address: the peer's, or what a trusted proxy says (`X-Real-IP`,
/// then `Forwarded: for=`, then the first `X-Forwarded-For` entry).
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trusted: &[Cidr]) -> IpAddr {
    let peer_ip = peer.map(|p| p.ip().to_canonical());
    if is_trusted(peer, trusted) {
        let claimed = first_value(headers, X_REAL_IP)
            .and_then(parse_ip)
            .or_else(|| {
                forwarded_element(headers).and_then(|e| e.for_.as_deref().and_then(parse_ip))
            })
            .or_else(|| first_value(headers, X_FORWARDED_FOR).and_then(parse_ip));
        if let Some(ip) = claimed {
            return ip;
        }
    }
    peer_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The configured trusted-proxy blocks (entries were validated at load).
pub fn trusted_proxies(config: &Config) -> Vec<Cidr> {
    config
        .trusted_proxies
        .iter()
        .filter_map(|text| Cidr::parse(text).ok())
        .collect()
}

fn is_trusted(peer: Option<SocketAddr>, trusted: &[Cidr]) -> bool {
    match peer {
        None => true,
        Some(peer) => trusted.iter().any(|cidr| cidr.contains(peer.ip())),
    }
}

fn single(base: PublicBase, origin: Origin) -> Resolved {
    Resolved {
        bases: vec![base.clone()],
        primary: base,
        origin,
    }
}

fn default_port(scheme: Scheme) -> u16 {
    match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    }
}

/// Step 2: a base from forwarding headers, if any usable one is present, and
/// whether the headers gave its path prefix.
fn forwarded_base(headers: &HeaderMap, listener: Scheme) -> Option<(PublicBase, bool)> {
    let element = forwarded_element(headers).unwrap_or_default();
    let proto = element
        .proto
        .as_deref()
        .or_else(|| first_item(headers, X_FORWARDED_PROTO))
        .and_then(|p| parse_scheme(p).or_else(|| warn_forwarded("proto", p)));
    let host = element
        .host
        .as_deref()
        .or_else(|| first_item(headers, X_FORWARDED_HOST))
        .and_then(|h| {
            parse_host_port(h)
                .ok()
                .or_else(|| warn_forwarded("host", h))
        });
    let prefix = first_item(headers, X_FORWARDED_PREFIX).and_then(|p| {
        normalize_path(p)
            .ok()
            .or_else(|| warn_forwarded("prefix", p))
    });
    if proto.is_none() && host.is_none() && prefix.is_none() {
        return None;
    }
    let scheme = proto.unwrap_or(listener);
    // The Host header is what the client asked the proxy for: taken as it is (no
    // port added), since the proxy's port is not ours.
    let (host, port) = match host {
        Some(host) => host,
        None => host_header(headers)?,
    };
    let base = PublicBase::new(scheme, &host, port, prefix.as_deref().unwrap_or("/")).ok()?;
    Some((base, prefix.is_some()))
}

/// The configured addresses with the one at `forwarded`'s scheme, host and port
/// first (and primary), if there is one.
fn configured_matching(
    config: &Config,
    listener: Scheme,
    forwarded: &PublicBase,
) -> Option<Resolved> {
    let mut resolved = configured(config, listener)?;
    let position = resolved.bases.iter().position(|b| {
        b.scheme == forwarded.scheme
            && b.host.eq_ignore_ascii_case(&forwarded.host)
            && b.port == forwarded.port
    })?;
    let matched = resolved.bases.remove(position);
    resolved.bases.insert(0, matched.clone());
    resolved.primary = matched;
    resolved.origin = Origin::Forwarded;
    Some(resolved)
}

fn warn_forwarded<T>(field: &'static str, value: &str) -> Option<T> {
    warn_limited(&FORWARDED_WARNED, || {
        tracing::warn!(field, value = %printable(value), "ignoring malformed forwarding header");
    });
    None
}

/// Step 3: the configured public addresses, the listener's own scheme first.
fn configured(config: &Config, listener: Scheme) -> Option<Resolved> {
    let http = config.http.public_address.iter().map(|a| (a, Scheme::Http));
    let https = config
        .https
        .iter()
        .flat_map(|h| h.public_address.iter().map(|a| (a, Scheme::Https)));
    let (first, second): (Vec<_>, Vec<_>) = match listener {
        Scheme::Http => (http.collect(), https.collect()),
        Scheme::Https => (https.collect(), http.collect()),
    };
    let mut bases: Vec<PublicBase> = Vec::new();
    for (text, scheme) in first.into_iter().chain(second) {
        match PublicBase::parse(text, Some(scheme)) {
            Ok(base) if !bases.contains(&base) => bases.push(base),
            Ok(_) => {}
            Err(err) => warn_limited(&CONFIG_WARNED, || {
                tracing::warn!(%err, address = %printable(text), "ignoring invalid public_address");
            }),
        }
    }
    let primary = bases.first()?.clone();
    Some(Resolved {
        bases,
        primary,
        origin: Origin::Configured,
    })
}

/// Step 4: the Host header (or the listen address) with the listener's scheme and
/// port, plus the other scheme when HTTPS is configured.
fn from_host_header(
    headers: &HeaderMap,
    listener: Scheme,
    local_port: u16,
    config: &Config,
) -> Resolved {
    let (host, port) = host_header(headers).unwrap_or_else(|| (fallback_host(config), None));
    let own = PublicBase::new(listener, &host, Some(port.unwrap_or(local_port)), "/")
        .or_else(|_| PublicBase::new(listener, "localhost", Some(local_port), "/"));
    let primary = match own {
        Ok(base) => base,
        // "localhost" always parses; keep a base regardless.
        Err(_) => PublicBase {
            scheme: listener,
            host: "localhost".to_owned(),
            port: Some(local_port),
            path: "/".to_owned(),
        },
    };
    let mut bases = vec![primary.clone()];
    if let Some(https) = &config.https {
        let (other, other_port) = match listener {
            Scheme::Http => (Scheme::Https, https.listen.port()),
            Scheme::Https => (Scheme::Http, config.http.listen.port()),
        };
        // Port 0 means "any free port": not known here, so not listed.
        if other_port != 0 {
            if let Ok(base) = PublicBase::new(other, primary.host(), Some(other_port), "/") {
                bases.push(base);
            }
        }
    }
    Resolved {
        bases,
        primary,
        origin: Origin::HostHeader,
    }
}

fn fallback_host(config: &Config) -> String {
    let ip = config.http.listen.ip();
    match ip {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn host_header(headers: &HeaderMap) -> Option<(String, Option<u16>)> {
    let value = first_value(headers, header::HOST.as_str())?;
    parse_host_port(value.trim()).ok()
}

/// A header value safe to put in a log line: at most 200 characters, escaped.
fn printable(value: &str) -> String {
    let cut: String = value.chars().take(200).collect();
    format!("{cut:?}")
}

static MST_PATH_WARNED: AtomicU64 = AtomicU64::new(0);
static FORWARDED_WARNED: AtomicU64 = AtomicU64::new(0);
static CONFIG_WARNED: AtomicU64 = AtomicU64::new(0);

/// Runs `log` at most once per [`WARN_INTERVAL`] for each `last` slot, so a client
/// sending bad headers on every request cannot flood the log.
fn warn_limited(last: &AtomicU64, log: impl FnOnce()) {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    // Milliseconds since start, plus one so that 0 means "never logged".
    let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
    let previous = last.load(Ordering::Relaxed);
    let due = previous == 0 || now.saturating_sub(previous) >= WARN_INTERVAL.as_millis() as u64;
    if due
        && last
            .compare_exchange(previous, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        log();
    }
}

mod syntax;
#[cfg(test)]
mod tests;

#[cfg(test)]
use syntax::parse_forwarded;
use syntax::{
    first_item, first_value, forwarded_element, normalize_path, parse_host, parse_host_port,
    parse_ip, parse_scheme,
};
