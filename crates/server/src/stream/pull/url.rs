//! Pulled source URLs: `brume://host[:port]/STREAM` (another Brume's progressive
//! FLV output of STREAM) and `http://host[:port]/path.flv` (any progressive FLV
//! over HTTP). Both come down to one HTTP GET of an FLV stream.

use std::fmt;

/// The HTTP port a `brume://` URL without one means (Brume's default).
pub const DEFAULT_BRUME_PORT: u16 = 8080;
/// Longest pulled source URL accepted.
pub const MAX_PULL_URL_LEN: usize = 2048;

/// Why a pulled source URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullUrlError {
    #[error("bad pull URL `{url}`: {why}")]
    Bad { url: String, why: &'static str },
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Where a pulled stream comes from: an FLV stream fetched with `GET path` from
/// `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullUrl {
    pub host: String,
    pub port: u16,
    /// Absolute path (and query) of the FLV stream.
    pub path: String,
}

impl fmt::Display for PullUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

impl PullUrl {
    /// `Ok(None)` when `source` is not a pull URL at all.
    pub fn parse(source: &str) -> Result<Option<PullUrl>, PullUrlError> {
        let bad = |why| PullUrlError::Bad {
            url: source.chars().take(200).collect(),
            why,
        };
        let (brume, rest) = if let Some(rest) = source.strip_prefix("brume://") {
            (true, rest)
        } else if let Some(rest) = source.strip_prefix("http://") {
            (false, rest)
        } else if source.starts_with("https://") {
            return Err(PullUrlError::Unsupported(
                "https:// pulls are not supported yet: pull over http:// (for example through a local TLS-terminating proxy)",
            ));
        } else if source.starts_with("rtmp://") {
            return Err(PullUrlError::Unsupported(
                "rtmp:// pulls are not supported yet: pull the server's progressive FLV over http:// instead",
            ));
        } else {
            return Ok(None);
        };
        if source.len() > MAX_PULL_URL_LEN {
            return Err(bad("longer than 2048 bytes"));
        }
        if !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("only printable ASCII without spaces is allowed"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Err(bad("no path")),
        };
        let (host, port) = split_authority(authority).ok_or_else(|| bad("bad host or port"))?;
        let port = port.unwrap_or(if brume { DEFAULT_BRUME_PORT } else { 80 });
        let path = if brume {
            let name = &path[1..];
            if name.is_empty() || name.contains(['/', '?', '#']) {
                return Err(bad(
                    "brume:// takes one stream name: brume://host:port/STREAM",
                ));
            }
            format!("/{name}.flv")
        } else {
            let file = path.split(['?', '#']).next().unwrap_or_default();
            if !file.ends_with(".flv") {
                return Err(PullUrlError::Unsupported(
                    "only progressive FLV (a path ending in .flv) can be pulled over http:// yet",
                ));
            }
            path.split('#').next().unwrap_or_default().to_owned()
        };
        Ok(Some(PullUrl {
            host: host.to_owned(),
            port,
            path,
        }))
    }

    /// The `Host` header value.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `host[:port]` or `[v6][:port]`, the host made of DNS characters.
fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let dns = |h: &str| {
        !h.is_empty()
            && h.len() <= 253
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    if !authority.starts_with('[') && !dns(host) {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0)?),
        None => None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brume_and_http_urls_become_an_flv_get() {
        let url = PullUrl::parse("brume://origin.example:9000/cam")
            .unwrap()
            .unwrap();
        assert_eq!(url.to_string(), "http://origin.example:9000/cam.flv");
        let url = PullUrl::parse("brume://10.0.0.1/cam").unwrap().unwrap();
        assert_eq!(url.port, DEFAULT_BRUME_PORT);
        let url = PullUrl::parse("http://[::1]:81/live/x.flv?k=v")
            .unwrap()
            .unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 81));
        assert_eq!(url.path, "/live/x.flv?k=v");
        assert_eq!(url.authority(), "[::1]:81");
        assert_eq!(PullUrl::parse("push://").unwrap(), None);
        assert_eq!(PullUrl::parse("movies/a.mp4").unwrap(), None);
    }

    #[test]
    fn bad_and_unsupported_urls_are_refused_with_a_reason() {
        for bad in [
            "brume://host/",
            "brume://host/a/b",
            "brume://ho st/cam",
            "brume://host:99999/cam",
            "brume://host:0/cam",
            "brume://host",
            "http://exa<mple>/x.flv",
        ] {
            assert!(
                matches!(PullUrl::parse(bad), Err(PullUrlError::Bad { .. })),
                "{bad}"
            );
        }
        for unsupported in ["https://h/x.flv", "rtmp://h/app/key", "http://h/x.ts"] {
            assert!(
                matches!(
                    PullUrl::parse(unsupported),
                    Err(PullUrlError::Unsupported(_))
                ),
                "{unsupported}"
            );
        }
    }
}
