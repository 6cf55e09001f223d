//! The `triggers` section of the configuration: event name → handlers.
//!
//! ```json
//! "triggers": {"USER_NEW": [{"handler": "http://backend/hook", "sync": true,
//!   "streams": ["cam"], "default": "false", "timeout_ms": 2000, "cache_s": 10}]}
//! ```
//! A handler containing `://` is an `http://` or `https://` URL (POST, payload as
//! the body, answer in the response body); anything else is the absolute path of
//! an executable (event name as its only argument, payload on stdin, answer on
//! stdout), as MistServer does it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Event;

/// Default of `timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Accepted `timeout_ms` values: 10 ms to one minute.
pub const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 10..=60_000;
/// Longest `cache_s`: one day.
pub const MAX_CACHE_S: u64 = 86_400;
/// Most handlers per event.
pub const MAX_HANDLERS_PER_EVENT: usize = 16;

/// Event name (`USER_NEW`) → its handlers, in order.
pub type TriggersConfig = BTreeMap<String, Vec<HandlerConfig>>;

/// One handler of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerConfig {
    /// `http(s)://…` URL, or the absolute path of an executable.
    pub handler: String,
    /// Wait for the answer and act on it (blocking); otherwise fire and forget.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sync: bool,
    /// Only for these streams (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<String>,
    /// The answer used when the handler fails or times out (blocking only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// How long the handler may take, milliseconds (default 2000).
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout_ms: u64,
    /// Blocking answers are reused for this long for the same payload (0: never).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_s: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn is_default_timeout(value: &u64) -> bool {
    *value == DEFAULT_TIMEOUT_MS
}

/// Why a `handler` value is refused.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("not a valid URL: {0}")]
    Url(#[from] http::uri::InvalidUri),
    #[error("a handler URL must be http:// or https:// with a host")]
    Scheme,
    #[error("a handler is an http(s):// URL or the absolute path of an executable")]
    NotAbsolute,
}

/// Where a handler's payload goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Url(http::Uri),
    Executable(std::path::PathBuf),
}

impl HandlerConfig {
    /// What the `handler` string names.
    pub fn target(&self) -> Result<Target, HandlerError> {
        if self.handler.contains("://") {
            let uri: http::Uri = self.handler.parse()?;
            match uri.scheme_str() {
                Some("http" | "https") if uri.host().is_some() => Ok(Target::Url(uri)),
                _ => Err(HandlerError::Scheme),
            }
        } else {
            let path = std::path::PathBuf::from(&self.handler);
            if !path.is_absolute() {
                return Err(HandlerError::NotAbsolute);
            }
            Ok(Target::Executable(path))
        }
    }

    /// Whether this handler wants events of `stream` (`None`: not stream-specific).
    pub fn wants(&self, stream: Option<&str>) -> bool {
        match stream {
            Some(name) if !self.streams.is_empty() => self.streams.iter().any(|s| s == name),
            _ => true,
        }
    }
}

/// Checks the section: known events, valid handlers and ranges. Errors are
/// `(key path, message)`.
pub fn check(triggers: &TriggersConfig) -> Result<(), (String, String)> {
    for (event, handlers) in triggers {
        if Event::from_name(event).is_none() {
            return Err((
                format!("triggers.{event}"),
                format!("unknown event (known: {})", Event::names().join(", ")),
            ));
        }
        if handlers.len() > MAX_HANDLERS_PER_EVENT {
            return Err((
                format!("triggers.{event}"),
                format!("at most {MAX_HANDLERS_PER_EVENT} handlers per event"),
            ));
        }
        for (i, handler) in handlers.iter().enumerate() {
            let key = |field: &str| format!("triggers.{event}[{i}].{field}");
            handler
                .target()
                .map_err(|m| (key("handler"), m.to_string()))?;
            if !TIMEOUT_RANGE_MS.contains(&handler.timeout_ms) {
                return Err((
                    key("timeout_ms"),
                    format!(
                        "must be between {} and {}",
                        TIMEOUT_RANGE_MS.start(),
                        TIMEOUT_RANGE_MS.end()
                    ),
                ));
            }
            if handler.cache_s > MAX_CACHE_S {
                return Err((key("cache_s"), format!("at most {MAX_CACHE_S}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> TriggersConfig {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_documented_example_parses_and_checks() {
        let t = parse(
            r#"{"USER_NEW": [{"handler": "http://backend/hook", "sync": true,
            "streams": ["cam"], "default": "false", "timeout_ms": 2000, "cache_s": 10}]}"#,
        );
        check(&t).unwrap();
        let h = &t["USER_NEW"][0];
        assert!(h.sync && h.wants(Some("cam")) && !h.wants(Some("other")));
        assert!(matches!(h.target(), Ok(Target::Url(_))));
    }

    #[test]
    fn bad_entries_name_their_key() {
        let err = check(&parse(r#"{"USER_NOPE": []}"#)).unwrap_err();
        assert_eq!(err.0, "triggers.USER_NOPE");
        let err = check(&parse(r#"{"USER_NEW": [{"handler": "hook.sh"}]}"#)).unwrap_err();
        assert_eq!(err.0, "triggers.USER_NEW[0].handler");
        let err = check(&parse(r#"{"USER_NEW": [{"handler": "ftp://x/y"}]}"#)).unwrap_err();
        assert_eq!(err.0, "triggers.USER_NEW[0].handler");
        let err = check(&parse(
            r#"{"USER_NEW": [{"handler": "/bin/true", "timeout_ms": 0}]}"#,
        ))
        .unwrap_err();
        assert_eq!(err.0, "triggers.USER_NEW[0].timeout_ms");
        assert!(serde_json::from_str::<TriggersConfig>(
            r#"{"USER_NEW": [{"handler": "/bin/true", "sinc": true}]}"#
        )
        .is_err());
    }
}
