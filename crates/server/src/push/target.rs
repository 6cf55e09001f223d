//! Push targets and rules: `rtmp://host[:port]/app/key` parsed
//! ([`RtmpTarget`]), and `push_rules` (a stream-name pattern with `*` and a
//! target that may use `$stream`).

use serde::{Deserialize, Serialize};

/// Default RTMP port.
pub const RTMP_PORT: u16 = 1935;
/// Longest target URL accepted.
pub const MAX_TARGET_LEN: usize = 2048;

/// An automatic push: every live stream whose name matches `streams` is pushed
/// to `target` (`$stream` replaced by the name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRule {
    pub streams: String,
    pub target: String,
}

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("a push target must be rtmp://host[:port]/app/key")]
    Shape,
    #[error("the target is longer than {MAX_TARGET_LEN} bytes")]
    TooLong,
    #[error("the port is not a number from 1 to 65535")]
    Port,
}

/// Where an RTMP push goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpTarget {
    pub host: String,
    pub port: u16,
    pub app: String,
    /// The stream name or key (a secret: never logged).
    pub key: String,
}

impl RtmpTarget {
    pub fn parse(url: &str) -> Result<RtmpTarget, TargetError> {
        if url.len() > MAX_TARGET_LEN {
            return Err(TargetError::TooLong);
        }
        let rest = url.strip_prefix("rtmp://").ok_or(TargetError::Shape)?;
        let (authority, path) = rest.split_once('/').ok_or(TargetError::Shape)?;
        let (app, key) = path.split_once('/').ok_or(TargetError::Shape)?;
        if authority.is_empty() || app.is_empty() || key.is_empty() || authority.contains('@') {
            return Err(TargetError::Shape);
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
                let port: u16 = port.parse().map_err(|_| TargetError::Port)?;
                if port == 0 {
                    return Err(TargetError::Port);
                }
                (host, port)
            }
            _ => (authority, RTMP_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', ' ', '[', ']']) {
            return Err(TargetError::Shape);
        }
        Ok(RtmpTarget {
            host: host.to_owned(),
            port,
            app: app.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The `tcUrl` of `connect`.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}:{}/{}", self.host, self.port, self.app)
    }

    /// The target without its key, for logs and status.
    pub fn redacted(&self) -> String {
        format!("{}/***", self.tc_url())
    }
}

/// Whether `name` matches `pattern` (`*` stands for any run of characters).
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_are_redacted() {
        let t = RtmpTarget::parse("rtmp://example.com/live/secret").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.app.as_str(), t.key.as_str()),
            ("example.com", 1935, "live", "secret")
        );
        assert_eq!(t.redacted(), "rtmp://example.com:1935/live/***");
        let t = RtmpTarget::parse("rtmp://[::1]:1936/app/a/b").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.key.as_str()),
            ("::1", 1936, "a/b")
        );
        for bad in [
            "http://x/a/b",
            "rtmp://x/a",
            "rtmp://x:0/a/b",
            "rtmp://x:99999/a/b",
            "rtmp:///a/b",
            "rtmp://u@x/a/b",
        ] {
            assert!(RtmpTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_match_with_stars() {
        assert!(matches("cam*", "cam1"));
        assert!(matches("*", "x"));
        assert!(matches("a*b*c", "a-b-c"));
        assert!(!matches("cam*", "demo"));
        assert!(!matches("a*a", "a"));
        assert!(matches("demo", "demo"));
    }
}
