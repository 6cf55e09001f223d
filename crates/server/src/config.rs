//! The configuration file: its schema, defaults, validation and atomic saving.
//!
//! One JSON document holds everything (the management API will edit it). Every key is
//! optional; unknown keys are refused with their path (`streams.demo.sorce`), so a
//! typo never silently does nothing. Saving writes a temporary file beside the real
//! one, fsyncs it and renames it over, so a crash at any moment leaves either the old
//! or the new file, never a torn one.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything that can go wrong reading or writing the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: at `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("cannot write config file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The whole configuration document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https: Option<HttpsConfig>,
    pub rtmp: ListenConfig,
    pub api: ApiConfig,
    /// WebRTC playback and ingest (off unless present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<crate::webrtc::config::WebRtcConfig>,
    /// Connection caps ([`crate::config_limits`]).
    #[serde(skip_serializing_if = "crate::config_limits::LimitsConfig::is_default")]
    pub limits: crate::config_limits::LimitsConfig,
    /// Peers (CIDR blocks) whose forwarding headers are believed.
    pub trusted_proxies: Vec<String>,
    /// Serve `GET /load.json` (viewers, bandwidth, CPU: what `brume balance`
    /// polls) on the media ports.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub load_json: bool,
    pub streams: BTreeMap<String, StreamConfig>,
    /// The key of signed viewer URLs ([`crate::access::token`]).
    #[serde(skip_serializing_if = "crate::access::config::TokensConfig::is_default")]
    pub tokens: crate::access::config::TokensConfig,
    /// Event → handlers ([`crate::triggers::config`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub triggers: crate::triggers::config::TriggersConfig,
    /// Automatic pushes ([`crate::push`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub push_rules: Vec<crate::push::target::PushRule>,
}

impl Default for Config {
    fn default() -> Self {
        let mut streams = BTreeMap::new();
        streams.insert(
            "demo".to_owned(),
            StreamConfig {
                source: "builtin:demo".to_owned(),
                looped: true,
                password: None,
                dvr_window_ms: None,
                dvr_max_bytes: None,
                part_target_ms: None,
                pull: None,
                access: Default::default(),
                ip_allow: Vec::new(),
                ip_deny: Vec::new(),
                record: None,
            },
        );
        Config {
            http: HttpConfig::default(),
            https: None,
            rtmp: ListenConfig {
                listen: SocketAddr::from(([0, 0, 0, 0], 1935)),
            },
            api: ApiConfig::default(),
            webrtc: None,
            limits: crate::config_limits::LimitsConfig::default(),
            trusted_proxies: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
            load_json: false,
            streams,
            tokens: Default::default(),
            triggers: BTreeMap::new(),
            push_rules: Vec::new(),
        }
    }
}

/// The HTTP media port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Full public addresses this port is reachable as through proxies.
    pub public_address: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unix_socket: Option<PathBuf>,
    /// A viewer that accepts no data for this long is closed (milliseconds;
    /// the `BRUME_WRITE_TIMEOUT_MS` environment variable overrides it).
    pub write_timeout_ms: u64,
    /// A request head must arrive whole within this time of its first byte
    /// (milliseconds; slow clients are dropped).
    pub head_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this long (milliseconds).
    pub idle_timeout_ms: u64,
}

/// Default of `http.write_timeout_ms`.
pub const DEFAULT_WRITE_TIMEOUT_MS: u64 = 30_000;
/// Default of `http.head_timeout_ms`.
pub const DEFAULT_HEAD_TIMEOUT_MS: u64 = 20_000;
/// Default of `http.idle_timeout_ms`.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
/// The range every `http.*_timeout_ms` must lie in: 100 ms to one hour.
pub const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=3_600_000;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            public_address: Vec::new(),
            unix_socket: None,
            write_timeout_ms: DEFAULT_WRITE_TIMEOUT_MS,
            head_timeout_ms: DEFAULT_HEAD_TIMEOUT_MS,
            idle_timeout_ms: DEFAULT_IDLE_TIMEOUT_MS,
        }
    }
}

impl HttpConfig {
    /// The timeouts with their key names, for validation.
    fn timeouts(&self) -> [(&'static str, u64); 3] {
        [
            ("http.write_timeout_ms", self.write_timeout_ms),
            ("http.head_timeout_ms", self.head_timeout_ms),
            ("http.idle_timeout_ms", self.idle_timeout_ms),
        ]
    }
}

/// The HTTPS media port: every HTTP output over TLS (PEM cert chain and key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsConfig {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub public_address: Vec<String>,
}

/// A protocol that only needs an address to listen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    pub listen: SocketAddr,
}

/// The management API: where it listens, and its accounts (name -> argon2 PHC
/// hash string, as `brume passwd` and `PUT /api/v1/accounts/{name}` store them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, String>,
    /// Host names/addresses (besides loopback ones) the management port answers
    /// to, e.g. when it is deliberately exposed or reached through a proxy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// Serve the management port over TLS only (PEM certificate chain and key,
    /// relative to the configuration file's folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4242)),
            accounts: BTreeMap::new(),
            allowed_hosts: Vec::new(),
            tls: None,
        }
    }
}

/// Accepted `part_target_ms` values.
pub const PART_TARGET_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=5000;

/// Smallest accepted `dvr_max_bytes`.
pub const MIN_DVR_BYTES: u64 = 1024 * 1024;

/// One stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// `builtin:demo`, a file path (relative paths are relative to the config
    /// file's folder) or `push://`.
    pub source: String,
    /// Play a file source as a never-ending live stream.
    #[serde(rename = "loop", default, skip_serializing_if = "is_false")]
    pub looped: bool,
    /// Required publishing key for push sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// How much of a live stream is kept for late joiners and DVR (default 50 000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dvr_window_ms: Option<u64>,
    /// Most payload bytes a live stream keeps, whatever its window says
    /// (default 512 MiB); the oldest segments go first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dvr_max_bytes: Option<u64>,
    /// Low-Latency HLS part target duration of a live stream, ms (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_target_ms: Option<u64>,
    /// When a pulled source (`brume://`, `http://…flv`) is pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<crate::stream::pull::PullConfig>,
    /// Who may watch: `public` (default), `token` or `trigger` ([`crate::access`]).
    #[serde(
        default,
        skip_serializing_if = "crate::access::config::AccessMode::is_public"
    )]
    pub access: crate::access::config::AccessMode,
    /// Only viewers from these CIDR blocks (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allow: Vec<String>,
    /// Never viewers from these CIDR blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_deny: Vec<String>,
    /// Record the stream while it is live (see [`crate::recording`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<crate::recording::settings::RecordConfig>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// Where a stream's media comes from, as parsed from [`StreamConfig::source`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The clip bundled in the binary.
    BuiltinDemo,
    /// A media file on disk.
    File(PathBuf),
    /// A live push (RTMP).
    Push,
    /// A live stream pulled from another server.
    Pull(crate::stream::pull::PullUrl),
}

/// Why a `source` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceSpecError {
    #[error("unknown built-in source `{0}` (only `builtin:demo` exists)")]
    UnknownBuiltin(String),
    #[error("source is empty")]
    Empty,
    #[error("unsupported source scheme `{0}://` (use a file path, `push://`, `brume://host:port/STREAM`, `http://…/x.flv` or `builtin:demo`)")]
    UnsupportedScheme(String),
    #[error(transparent)]
    Pull(#[from] crate::stream::pull::PullUrlError),
}

/// Why a stream name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("stream name is empty")]
    Empty,
    #[error("stream name is longer than 100 bytes")]
    TooLong,
    #[error("stream name contains the character {0:?}")]
    BadCharacter(char),
    #[error("stream name starts with a dot")]
    LeadingDot,
}

impl SourceSpec {
    /// Parses a `source` value; relative file paths are resolved against `base_dir`.
    pub fn parse(source: &str, base_dir: &Path) -> Result<SourceSpec, SourceSpecError> {
        if source == "builtin:demo" {
            return Ok(SourceSpec::BuiltinDemo);
        }
        if let Some(rest) = source.strip_prefix("builtin:") {
            return Err(SourceSpecError::UnknownBuiltin(rest.to_owned()));
        }
        if source.starts_with("push://") {
            return Ok(SourceSpec::Push);
        }
        if source.is_empty() {
            return Err(SourceSpecError::Empty);
        }
        if let Some(url) = crate::stream::pull::PullUrl::parse(source)? {
            return Ok(SourceSpec::Pull(url));
        }
        if let Some((scheme, _)) = source.split_once("://") {
            return Err(SourceSpecError::UnsupportedScheme(scheme.to_owned()));
        }
        let path = Path::new(source);
        Ok(SourceSpec::File(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        }))
    }
}

/// Checks a stream name: what MistServer accepts in URLs, without surprises.
pub fn validate_stream_name(name: &str) -> Result<(), StreamNameError> {
    if name.is_empty() {
        return Err(StreamNameError::Empty);
    }
    if name.len() > 100 {
        return Err(StreamNameError::TooLong);
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_control() || matches!(c, '/' | '\\' | '?' | '#' | '%' | '"' | '<' | '>'))
    {
        return Err(StreamNameError::BadCharacter(bad));
    }
    if name.starts_with('.') {
        return Err(StreamNameError::LeadingDot);
    }
    Ok(())
}

impl Config {
    /// Parses a configuration document; `path` only names the file in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let key = err.path().to_string();
            let inner = err.into_inner();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                key: if key == "." {
                    "(top level)".to_owned()
                } else {
                    key
                },
                message: strip_position(&inner.to_string()),
            }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what serde cannot: stream names, sources, proxies. `path` names the
    /// file in errors and anchors relative source paths.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, message: &dyn std::fmt::Display| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message: message.to_string(),
        };
        let base = path.parent().unwrap_or(Path::new("."));
        for (i, rule) in self.push_rules.iter().enumerate() {
            crate::push::target::RtmpTarget::parse(&rule.target.replace("$stream", "s"))
                .map_err(|e| invalid(format!("push_rules[{i}].target"), &e))?;
        }
        for (name, stream) in &self.streams {
            validate_stream_name(name).map_err(|e| invalid(format!("streams.{name}"), &e))?;
            let spec = SourceSpec::parse(&stream.source, base)
                .map_err(|e| invalid(format!("streams.{name}.source"), &e))?;
            if stream.looped && spec == SourceSpec::Push {
                return Err(invalid(
                    format!("streams.{name}.loop"),
                    &"a push source cannot loop",
                ));
            }
            if let Some(record) = &stream.record {
                record
                    .validate()
                    .map_err(|e| invalid(format!("streams.{name}.record"), &e))?;
            }
            let pulled = matches!(spec, SourceSpec::Pull(_));
            if stream.looped && pulled {
                return Err(invalid(
                    format!("streams.{name}.loop"),
                    &"a pulled source cannot loop",
                ));
            }
            if stream.pull.is_some() && !pulled {
                return Err(invalid(
                    format!("streams.{name}.pull"),
                    &"only pulled sources (brume://, http://) take pull settings",
                ));
            }
            if stream.dvr_window_ms == Some(0) {
                return Err(invalid(
                    format!("streams.{name}.dvr_window_ms"),
                    &"must be greater than 0",
                ));
            }
            if stream
                .part_target_ms
                .is_some_and(|ms| !PART_TARGET_RANGE_MS.contains(&ms))
            {
                return Err(invalid(
                    format!("streams.{name}.part_target_ms"),
                    &format!(
                        "must be between {} and {}",
                        PART_TARGET_RANGE_MS.start(),
                        PART_TARGET_RANGE_MS.end()
                    ),
                ));
            }
            crate::access::config::check_stream(
                stream.access,
                &stream.ip_allow,
                &stream.ip_deny,
                &self.tokens,
            )
            .map_err(|(field, m)| invalid(format!("streams.{name}.{field}"), &m))?;
            if stream.dvr_max_bytes.is_some_and(|b| b < MIN_DVR_BYTES) {
                return Err(invalid(
                    format!("streams.{name}.dvr_max_bytes"),
                    &format!("must be at least {MIN_DVR_BYTES} (1 MiB)"),
                ));
            }
        }
        for (name, hash) in &self.api.accounts {
            let key = || format!("api.accounts.{name}");
            crate::api::password::check_account_name(name).map_err(|e| invalid(key(), &e))?;
            crate::api::password::check_stored_hash(hash).map_err(|e| invalid(key(), &e))?;
        }
        for (i, host) in self.api.allowed_hosts.iter().enumerate() {
            crate::api::guard::check_allowed_host(host)
                .map_err(|m| invalid(format!("api.allowed_hosts[{i}]"), &m))?;
        }
        for (i, cidr) in self.trusted_proxies.iter().enumerate() {
            crate::net::Cidr::parse(cidr)
                .map_err(|e| invalid(format!("trusted_proxies[{i}]"), &e))?;
        }
        self.limits
            .check()
            .map_err(|(key, message)| invalid(key, &message))?;
        crate::access::config::check_tokens(&self.tokens)
            .map_err(|e| invalid("tokens.key".to_owned(), &e))?;
        crate::triggers::config::check(&self.triggers)
            .map_err(|(key, message)| invalid(key, &message))?;
        if let Some(webrtc) = &self.webrtc {
            webrtc
                .check()
                .map_err(|(key, m)| invalid(key.to_owned(), &m))?;
        }
        for (key, ms) in self.http.timeouts() {
            if !TIMEOUT_RANGE_MS.contains(&ms) {
                return Err(invalid(
                    key.to_owned(),
                    &format_args!(
                        "{ms} is out of range: a timeout is {} to {} milliseconds",
                        TIMEOUT_RANGE_MS.start(),
                        TIMEOUT_RANGE_MS.end()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads the file at `path`; if it does not exist, writes the default
    /// configuration there first. Returns the config and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Config, bool), ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Config::from_json(&text, path)?, false)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let config = Config::default();
                config.save(path)?;
                Ok((config, true))
            }
            Err(source) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The document as [`Config::save`] writes it.
    pub fn render(&self) -> Result<String, serde_json::Error> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// Writes the configuration atomically: temp file, fsync, rename, fsync folder.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let write_err = |source| ConfigError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = self
            .render()
            .map_err(|e| write_err(std::io::Error::other(e)))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| write_err(std::io::Error::other("path has no file name")))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        let result = (|| {
            let mut file = crate::config_store::create_like(&tmp, path)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Ok(dir) = std::fs::File::open(&dir) {
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }
}

/// serde_json appends " at line L column C"; the key path says more, keep it short.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_json(text, Path::new("/etc/brume.json"))
    }

    #[test]
    fn empty_document_gives_the_defaults() {
        let config = parse("{}").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.http.listen.port(), 8080);
        assert_eq!(config.api.listen.to_string(), "127.0.0.1:4242");
        assert!(config.streams["demo"].looped);
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"{"http": {"listen": "0.0.0.0:8080", "public_address": []},
            "https": {"listen": "0.0.0.0:4433", "cert": "cert.pem", "key": "key.pem"},
            "rtmp": {"listen": "0.0.0.0:1935"},
            "api": {"listen": "127.0.0.1:4242"},
            "trusted_proxies": ["127.0.0.0/8", "::1/128"],
            "streams": {"demo": {"source": "builtin:demo", "loop": true}}}"#;
        let config = parse(text).unwrap();
        assert_eq!(config.https.unwrap().listen.port(), 4433);
    }

    #[test]
    fn unknown_key_names_its_path() {
        let err = parse(r#"{"streams": {"demo": {"sorce": "x"}}}"#).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/etc/brume.json"), "{text}");
        assert!(text.contains("streams.demo"), "{text}");
        assert!(text.contains("sorce"), "{text}");
    }

    #[test]
    fn bad_values_name_their_path() {
        let err = parse(r#"{"http": {"listen": "nonsense"}}"#).unwrap_err();
        assert!(err.to_string().contains("http.listen"), "{err}");
        let err = parse(r#"{"streams": {"a/b": {"source": "builtin:demo"}}}"#).unwrap_err();
        assert!(err.to_string().contains("streams.a/b"), "{err}");
        let err = parse(r#"{"streams": {"x": {"source": "rtsp://cam"}}}"#).unwrap_err();
        assert!(err.to_string().contains("streams.x.source"), "{err}");
        let err = parse(r#"{"trusted_proxies": ["10.0.0.0/99"]}"#).unwrap_err();
        assert!(err.to_string().contains("trusted_proxies[0]"), "{err}");
        let err = parse("{\"http\": ").unwrap_err();
        assert!(err.to_string().contains("/etc/brume.json"), "{err}");
    }

    #[test]
    fn relative_sources_resolve_against_the_config_folder() {
        let spec = SourceSpec::parse("media/a.mp4", Path::new("/srv")).unwrap();
        assert_eq!(spec, SourceSpec::File(PathBuf::from("/srv/media/a.mp4")));
        assert_eq!(
            SourceSpec::parse("push://", Path::new("/")).unwrap(),
            SourceSpec::Push
        );
    }

    #[test]
    fn save_then_load_round_trips_and_creates_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brume.json");
        let (config, created) = Config::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(config, Config::default());
        let (again, created) = Config::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(again, config);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
