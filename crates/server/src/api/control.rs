//! What the management API may ask of the server: the [`ServerControl`] trait.
//!
//! The API's handlers see the server only through this trait (the supervisor,
//! [`crate::supervisor::Supervisor`], implements it): read the configuration,
//! apply an edit to it (which rebinds listeners and reconciles streams), ask what
//! a stream is doing, and read the counters and recent logs. They never reach the
//! listeners, the registry's internals or the config store themselves.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::Config;
use crate::config_store::UpdateError;
use crate::logs::LogBuffer;
use crate::metrics::prometheus::StreamCounts;
use crate::metrics::{Metrics, StreamStats};
use crate::state::BoundPorts;
use crate::stream::StreamState;

use super::error::ApiError;

/// An edit of the configuration document; refusing it with an [`ApiError`]
/// (e.g. a 404 for a missing stream) leaves everything as it was.
pub type ConfigEdit<'a> = Box<dyn FnOnce(&mut Config) -> Result<(), ApiError> + 'a>;

/// What the registry and the metrics say about one stream now.
#[derive(Debug, Clone)]
pub struct StreamRuntime {
    /// `Starting` when the registry has no running entry (yet).
    pub state: StreamState,
    /// When the stream came online, while it is.
    pub online_since: Option<Instant>,
    pub stats: StreamStats,
}

/// The server as the management API sees it.
pub trait ServerControl: Send + Sync + Debug {
    /// The configuration in force.
    fn config(&self) -> Arc<Config>;

    /// The configuration file (`None`: the built-in default, not saved).
    fn config_path(&self) -> Option<PathBuf>;

    /// Applies `edit`: validated, new listen addresses bound, saved atomically,
    /// then listeners and streams follow. Returns the new document, or why
    /// nothing changed.
    fn apply_config(&self, edit: ConfigEdit<'_>) -> Result<Arc<Config>, UpdateError<ApiError>>;

    /// What stream `name` is doing (configured or not).
    fn stream_runtime(&self, name: &str) -> StreamRuntime;

    /// Streams configured, online, and with a live publisher.
    fn stream_counts(&self) -> StreamCounts;

    /// Where the listeners are bound now.
    fn ports(&self) -> BoundPorts;

    /// Wall-clock start time.
    fn started_at(&self) -> SystemTime;

    /// Time since start.
    fn uptime(&self) -> Duration;

    /// The server's counters.
    fn metrics(&self) -> &Metrics;

    /// The recent log lines.
    fn logs(&self) -> &LogBuffer;

    /// Recordings: start/stop, status, what is on disk.
    fn recorder(&self) -> &Arc<crate::recording::Recorder>;

    /// Pushes out: create, delete, list.
    fn pusher(&self) -> &Arc<crate::push::Pusher>;
}
