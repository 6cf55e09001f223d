//! `brume balance`: a load balancer for Brume edges, in the spirit of
//! MistServer's MistUtilLoad. It polls each edge's public load document
//! (`/load.json`, see [`load`]) every `poll_ms`, and answers each viewer with a
//! redirect to the least-loaded healthy edge that can serve the stream
//! ([`server`]). Edges come from the configuration / command line, or register
//! themselves with `POST /edges` and a shared secret ([`edges`]).

pub mod edges;
pub mod load;
pub mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use self::edges::{AddError, Edges};
use self::server::Balancer;

/// Default listening address (MistUtilLoad's port).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8042";
/// Default poll interval.
pub const DEFAULT_POLL_MS: u64 = 2000;
/// Allowed poll intervals.
pub const POLL_RANGE_MS: std::ops::RangeInclusive<u64> = 100..=60_000;
/// Environment variable with the registration secret (instead of the file).
pub const SECRET_ENV: &str = "BRUME_BALANCE_SECRET";

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8042))
}

fn default_poll_ms() -> u64 {
    DEFAULT_POLL_MS
}

fn default_fallback() -> String {
    "FULL".to_owned()
}

/// The balancer's configuration file (`brume balance --config FILE`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Edge media ports, `http://host:port`.
    #[serde(default)]
    pub edges: Vec<String>,
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Shared secret for `POST /edges` / `DELETE /edges` (registration is off
    /// without one).
    #[serde(default)]
    pub secret: Option<String>,
    /// Plain-text answer when no edge can take a viewer (MistServer: `FULL`).
    #[serde(default = "default_fallback")]
    pub fallback: String,
}

impl Default for BalanceConfig {
    fn default() -> Self {
        BalanceConfig {
            listen: default_listen(),
            edges: Vec::new(),
            poll_ms: DEFAULT_POLL_MS,
            secret: None,
            fallback: default_fallback(),
        }
    }
}

/// `brume balance` options; they override the file's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BalanceArgs {
    /// JSON file: {"listen", "edges", "poll_ms", "secret", "fallback"}.
    #[arg(short, long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 0.0.0.0:8042].
    #[arg(short, long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// An edge's media port, http://HOST:PORT (repeat for more). Each must
    /// have "load_json": true in its configuration.
    #[arg(short, long = "edge", value_name = "URL")]
    pub edges: Vec<String>,
    /// How often each edge's load is read, in milliseconds [default: 2000].
    #[arg(long, value_name = "MS")]
    pub poll_ms: Option<u64>,
    /// Plain-text answer when no edge can take a viewer [default: FULL].
    #[arg(long, value_name = "TEXT")]
    pub fallback: Option<String>,
}

/// Why the balancer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("poll_ms must be between {} and {}", POLL_RANGE_MS.start(), POLL_RANGE_MS.end())]
    PollMs,
    #[error("the secret is empty")]
    EmptySecret,
    #[error("edge {0}")]
    Edge(#[from] AddError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
}

impl BalanceConfig {
    fn load(path: &Path) -> Result<BalanceConfig, BalanceError> {
        let text = std::fs::read_to_string(path).map_err(|source| BalanceError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| BalanceError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// The file's configuration (or the defaults) with the options and the
    /// secret from the environment (`secret_env`) applied.
    pub fn resolve(
        args: &BalanceArgs,
        secret_env: Option<String>,
    ) -> Result<BalanceConfig, BalanceError> {
        let mut config = match &args.config {
            Some(path) => BalanceConfig::load(path)?,
            None => BalanceConfig::default(),
        };
        if let Some(listen) = args.listen {
            config.listen = listen;
        }
        config.edges.extend(args.edges.iter().cloned());
        if let Some(poll_ms) = args.poll_ms {
            config.poll_ms = poll_ms;
        }
        if let Some(fallback) = &args.fallback {
            config.fallback = fallback.clone();
        }
        if let Some(secret) = secret_env {
            config.secret = Some(secret);
        }
        if !POLL_RANGE_MS.contains(&config.poll_ms) {
            return Err(BalanceError::PollMs);
        }
        if config.secret.as_deref() == Some("") {
            return Err(BalanceError::EmptySecret);
        }
        for edge in &config.edges {
            edges::EdgeAddr::parse(edge).map_err(AddError::from)?;
        }
        Ok(config)
    }
}

/// Runs the balancer until the process ends.
pub async fn run(config: BalanceConfig) -> Result<(), BalanceError> {
    let edges = Edges::default();
    for edge in &config.edges {
        edges.add(edge, false)?;
    }
    let balancer = Arc::new(Balancer {
        edges,
        secret: config.secret.clone(),
        fallback: config.fallback.clone(),
        failures: crate::failures::FailureLimiter::new(
            server::MAX_SECRET_FAILURES,
            server::SECRET_FAILURE_WINDOW,
        ),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| BalanceError::Listen {
            address: config.listen,
            source,
        })?;
    let address = listener
        .local_addr()
        .map_err(|source| BalanceError::Listen {
            address: config.listen,
            source,
        })?;
    tracing::info!(
        address = %address,
        edges = config.edges.len(),
        poll_ms = config.poll_ms,
        registration = config.secret.is_some(),
        "balancer listening"
    );
    let interval = Duration::from_millis(config.poll_ms);
    let poller = {
        let balancer = balancer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                balancer.edges.poll_all(interval).await;
            }
        })
    };
    server::serve(listener, balancer).await;
    poller.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_the_file_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("balance.json");
        std::fs::write(
            &path,
            r#"{"edges": ["http://a:8080"], "poll_ms": 500, "secret": "s3"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let args = BalanceArgs {
            config: Some(path.clone()),
            edges: vec!["http://b:8080".into()],
            poll_ms: Some(1000),
            ..BalanceArgs::default()
        };
        let config = BalanceConfig::resolve(&args, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.edges, ["http://a:8080", "http://b:8080"]);
        assert_eq!(config.poll_ms, 1000);
        assert_eq!(config.secret.as_deref(), Some("s3"));
        assert_eq!(config.listen, default_listen());
        let from_env = BalanceConfig::resolve(&args, Some("env".into()));
        assert_eq!(from_env.ok().and_then(|c| c.secret).as_deref(), Some("env"));
        let fast = BalanceArgs {
            poll_ms: Some(1),
            ..BalanceArgs::default()
        };
        assert!(matches!(
            BalanceConfig::resolve(&fast, None),
            Err(BalanceError::PollMs)
        ));
        let bad_edge = BalanceArgs {
            edges: vec!["ftp://x".into()],
            ..BalanceArgs::default()
        };
        let err = BalanceConfig::resolve(&bad_edge, None)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("edge \"ftp://x\": only http:// edges are polled")
        );
        std::fs::write(&path, r#"{"edgez": []}"#).unwrap_or_else(|e| panic!("{e}"));
        let err = BalanceConfig::resolve(&args, None)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("unknown field `edgez`")));
    }
}
