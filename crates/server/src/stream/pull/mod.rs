//! Pulled sources: a live stream fed by another server's progressive FLV
//! (`brume://origin:port/S`, `http://host/x.flv`), so a Brume can be an edge of
//! another Brume (or of any server with an FLV output).
//!
//! A pull is started at the first viewer and stopped `idle_stop_s` seconds after
//! the last one (`"pull": {"start": "on_demand"}`, the default), or kept running
//! (`"start": "always"`). Frames go through the same [`Publisher`] as an RTMP
//! push, so a reconnect within the grace period continues the timeline. A pull
//! that fails is retried with a backoff (0.5 s doubling to 10 s) while the stream
//! is wanted; meanwhile the stream's state is an error saying why (the origin
//! refused the connection, answered 404, sent something that is not FLV...).

pub mod http;
pub mod url;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

pub use url::{PullUrl, PullUrlError};

use super::failure::{FailureKind, StreamFailure};
use super::publish::Publisher;
use super::{StreamEntry, StreamState};

/// First wait before retrying a failed pull.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often a running on-demand pull checks for viewers.
const IDLE_CHECK: Duration = Duration::from_secs(1);

fn default_idle_stop_s() -> u64 {
    10
}

/// When a pulled source is pulled (`streams.S.pull`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    #[serde(default)]
    pub start: PullStart,
    /// Seconds a pull goes on after the last viewer left (on demand).
    #[serde(default = "default_idle_stop_s")]
    pub idle_stop_s: u64,
}

impl Default for PullConfig {
    fn default() -> PullConfig {
        PullConfig {
            start: PullStart::default(),
            idle_stop_s: default_idle_stop_s(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullStart {
    /// At the first viewer; stopped `idle_stop_s` after the last.
    #[default]
    OnDemand,
    /// As soon as the stream is configured, for good.
    Always,
}

/// Why a pull failed or ended.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("{url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("HTTP error from {url}: {source}")]
    Http { url: String, source: hyper::Error },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} sent no media for {secs} s")]
    Stalled { url: String, secs: u64 },
    #[error("{url} is not a usable FLV stream: {source}")]
    Flv {
        url: String,
        source: brume_media::flv::FlvError,
    },
    #[error("{url} ended the stream")]
    Ended { url: String },
    #[error("the stream's slot is taken: {0}")]
    Slot(#[from] super::publish::PublishRefusal),
}

/// A pulled stream's demand: when a viewer last asked for it.
#[derive(Debug, Default)]
pub struct PullState {
    wanted: Notify,
    last_want: Mutex<Option<Instant>>,
}

impl PullState {
    fn last_want(&self) -> Option<Instant> {
        *self.last_want.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StreamEntry {
    /// A viewer asks for this stream: an on-demand pull that is not running
    /// starts now (the stream is `Starting` until it is live or fails).
    pub fn want(&self) {
        if !self.is_pulled() {
            return;
        }
        *self
            .pull
            .last_want
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        if matches!(self.state(), StreamState::Offline) {
            self.set(StreamState::Starting);
        }
        self.pull.wanted.notify_one();
    }

    /// Whether this stream's source is pulled from another server.
    pub fn is_pulled(&self) -> bool {
        matches!(self.source, crate::config::SourceSpec::Pull(_))
    }

    fn pull_config(&self) -> PullConfig {
        self.config.pull.clone().unwrap_or_default()
    }

    /// Whether an on-demand pull has had no viewer (nor request) for its idle time.
    fn pull_idle(&self, config: &PullConfig) -> bool {
        if config.start == PullStart::Always {
            return false;
        }
        let idle = Duration::from_secs(config.idle_stop_s);
        let recent = self.pull.last_want().is_some_and(|at| at.elapsed() < idle);
        !recent && self.metrics.stream_stats(&self.name).viewers == 0
    }
}

/// Runs the pulled source of `entry` until the entry stops.
pub(super) async fn run(entry: Arc<StreamEntry>, url: PullUrl) {
    let config = entry.pull_config();
    let mut backoff = MIN_BACKOFF;
    loop {
        if config.start == PullStart::OnDemand && entry.pull_idle(&config) {
            if matches!(entry.state(), StreamState::Starting | StreamState::Error(_)) {
                entry.set(StreamState::Offline);
            }
            entry.pull.wanted.notified().await;
            continue;
        }
        if !matches!(entry.state(), StreamState::Live(_)) {
            entry.set(StreamState::Starting);
        }
        let mut received = false;
        let result = pull_once(&entry, &url, &config, &mut received).await;
        match result {
            Ok(()) => {
                tracing::info!(stream = %entry.name, %url, "pull stopped: no viewers");
                backoff = MIN_BACKOFF;
            }
            Err(err) => {
                if received {
                    backoff = MIN_BACKOFF;
                }
                tracing::warn!(stream = %entry.name, %err, retry_ms = backoff.as_millis() as u64, "pull failed");
                if !matches!(entry.state(), StreamState::Live(_)) {
                    entry.set(StreamState::Error(StreamFailure::new(
                        FailureKind::Unreachable,
                        err.to_string(),
                    )));
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection: fetches the FLV stream and publishes its frames until the
/// origin ends it, fails, or (on demand) nobody watches any more (`Ok`).
async fn pull_once(
    entry: &Arc<StreamEntry>,
    url: &PullUrl,
    config: &PullConfig,
    received: &mut bool,
) -> Result<(), PullError> {
    let mut body = http::FlvBody::open(url).await?;
    tracing::info!(stream = %entry.name, %url, "pulling");
    let mut publisher: Option<Publisher> = None;
    let mut check = tokio::time::interval(IDLE_CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            event = body.next_event() => {
                let Some(event) = event? else {
                    return Err(PullError::Ended { url: url.to_string() });
                };
                // The stream's slot is taken at the first track: garbage never
                // takes it (nor starts a grace period).
                let publisher = match event {
                    http::Event::Bytes(n) => {
                        entry.metrics.bytes_in(&entry.name, n);
                        continue;
                    }
                    _ => match &mut publisher {
                        Some(p) => p,
                        None => publisher.insert(entry.take_publish_slot()?),
                    },
                };
                *received = true;
                match event {
                    http::Event::Track(track) => publisher.track(track),
                    http::Event::Frame(frame) => publisher.frame(frame),
                    http::Event::Bytes(_) => {}
                }
            }
            _ = check.tick() => {
                if entry.pull_idle(config) {
                    return Ok(());
                }
            }
        }
    }
}
