//! Streams: the registry of configured streams and the state of each.
//!
//! Every configured stream name has a [`StreamEntry`] whose [`StreamState`] is
//! published on a watch channel (so outputs and, later, the stream-info WebSocket can
//! follow changes). Starting a stream opens its source: a looped file becomes a
//! [`LiveStream`] fed by the [`looper`]; a plain file becomes a [`VodStream`]; a push
//! source waits offline for a publisher. A source that fails puts its stream in
//! [`StreamState::Error`] with the reason; nothing else is affected.

pub mod cache;
pub mod live;
pub mod looper;
pub mod media;
pub mod publish;
pub mod source;
pub mod timeline;
pub mod vod;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use brume_media::index::tracks_of;
use tokio::sync::watch;

use crate::config::{Config, SourceSpec, StreamConfig};
use live::LiveStream;
use source::OpenedFile;
use vod::VodStream;

/// A number no other live or on-demand stream instance of this process has.
pub fn next_instance() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Default DVR window of live streams.
pub const DEFAULT_DVR_WINDOW_MS: u64 = 50_000;

/// What a stream is doing right now.
#[derive(Debug, Clone)]
pub enum StreamState {
    /// The source is being opened.
    Starting,
    /// Live frames are flowing.
    Live(Arc<LiveStream>),
    /// An indexed file, played on demand.
    Vod(Arc<VodStream>),
    /// No data (a push stream without a publisher).
    Offline,
    /// The source failed; the text says why.
    Error(String),
}

/// One configured stream.
#[derive(Debug)]
pub struct StreamEntry {
    pub name: String,
    pub config: StreamConfig,
    source: SourceSpec,
    state: watch::Sender<StreamState>,
    /// Who publishes to a push stream (unused for file sources).
    push: publish::PushState,
}

impl StreamEntry {
    pub fn state(&self) -> StreamState {
        self.state.borrow().clone()
    }

    /// The state once the source has finished opening (waits up to `limit`).
    pub async fn settled_state(&self, limit: std::time::Duration) -> StreamState {
        let mut watch = self.watch();
        let settled = tokio::time::timeout(
            limit,
            watch.wait_for(|s| !matches!(s, StreamState::Starting)),
        )
        .await;
        match settled {
            Ok(Ok(state)) => state.clone(),
            _ => self.state(),
        }
    }

    /// When the stream last came online (`None` while it is not).
    pub fn online_since(&self) -> Option<std::time::Instant> {
        // Tracked once runtime stream changes land.
        None
    }

    /// A receiver that wakes on every state change.
    pub fn watch(&self) -> watch::Receiver<StreamState> {
        self.state.subscribe()
    }

    fn set(&self, state: StreamState) {
        self.state.send_replace(state);
    }

    /// The current VoD index, reopened first if the file changed on disk.
    pub async fn current_vod(self: &Arc<Self>) -> Option<Arc<VodStream>> {
        let StreamState::Vod(vod) = self.state() else {
            return None;
        };
        let SourceSpec::File(path) = &self.source else {
            return Some(vod);
        };
        let path = path.clone();
        let known = vod.file.fingerprint;
        let changed = tokio::task::spawn_blocking({
            let path = path.clone();
            move || source::fingerprint(&path) != known
        })
        .await
        .unwrap_or(false);
        if !changed {
            return Some(vod);
        }
        tracing::info!(stream = %self.name, "source file changed on disk; re-indexing");
        self.set(open_vod(&path).await);
        match self.state() {
            StreamState::Vod(vod) => Some(vod),
            _ => None,
        }
    }
}

/// Every configured stream, by name.
#[derive(Debug, Default)]
pub struct Registry {
    streams: RwLock<HashMap<String, Arc<StreamEntry>>>,
}

impl Registry {
    /// Creates the registry for `config` and starts every stream's source.
    /// `config_path` anchors relative file paths.
    pub fn start(config: &Config, config_path: Option<&Path>) -> Arc<Registry> {
        let base = config_path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let registry = Arc::new(Registry::default());
        for (name, stream) in &config.streams {
            let source = match SourceSpec::parse(&stream.source, &base) {
                Ok(source) => source,
                Err(message) => {
                    // Config validation makes this unreachable; keep the stream visible.
                    tracing::error!(stream = %name, %message, "bad source");
                    continue;
                }
            };
            let (state, _) = watch::channel(StreamState::Starting);
            let entry = Arc::new(StreamEntry {
                name: name.clone(),
                config: stream.clone(),
                source,
                state,
                push: Default::default(),
            });
            registry.write().insert(name.clone(), entry.clone());
            tokio::spawn(run_source(entry));
        }
        registry
    }

    pub fn get(&self, name: &str) -> Option<Arc<StreamEntry>> {
        self.read().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<StreamEntry>>> {
        self.streams.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<StreamEntry>>> {
        self.streams.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Opens a stream's source and keeps it running.
async fn run_source(entry: Arc<StreamEntry>) {
    let span = tracing::info_span!("stream", stream = %entry.name);
    let _enter = span.enter();
    drop(_enter);
    match (&entry.source, entry.config.looped) {
        (SourceSpec::Push, _) => entry.set(StreamState::Offline),
        (SourceSpec::BuiltinDemo, true) => {
            let opened = source::open_builtin_demo().map_err(|e| e.to_string());
            run_looped(&entry, opened).await;
        }
        (SourceSpec::File(path), true) => {
            let opened = open_blocking(path.clone()).await;
            run_looped(&entry, opened).await;
        }
        (SourceSpec::BuiltinDemo, false) => {
            let state = match source::open_builtin_demo() {
                Ok(file) => vod_state(file),
                Err(e) => StreamState::Error(e.to_string()),
            };
            entry.set(state);
        }
        (SourceSpec::File(path), false) => entry.set(open_vod(path).await),
    }
    if let StreamState::Error(reason) = entry.state() {
        tracing::error!(stream = %entry.name, %reason, "stream failed");
    }
}

async fn open_blocking(path: PathBuf) -> Result<OpenedFile, String> {
    tokio::task::spawn_blocking(move || source::open_file(&path).map_err(|e| e.to_string()))
        .await
        .unwrap_or_else(|e| Err(format!("opening task failed: {e}")))
}

async fn open_vod(path: &Path) -> StreamState {
    match open_blocking(path.to_path_buf()).await {
        Ok(file) => vod_state(file),
        Err(reason) => StreamState::Error(reason),
    }
}

fn vod_state(file: OpenedFile) -> StreamState {
    let path = file.path.clone();
    match VodStream::new(file) {
        Ok(vod) => {
            tracing::info!(path = %path.display(), duration_ms = vod.duration_ms(), "on-demand stream ready");
            StreamState::Vod(Arc::new(vod))
        }
        Err(reason) => StreamState::Error(format!("{}: {reason}", path.display())),
    }
}

async fn run_looped(entry: &Arc<StreamEntry>, opened: Result<OpenedFile, String>) {
    let file = match opened {
        Ok(file) => file,
        Err(reason) => return entry.set(StreamState::Error(reason)),
    };
    let tracks = tracks_of(&*file.index)
        .into_iter()
        .map(|(t, _)| t.clone())
        .collect();
    let window = entry.config.dvr_window_ms.unwrap_or(DEFAULT_DVR_WINDOW_MS);
    let live = match LiveStream::new(tracks, window) {
        Ok(live) => Arc::new(live),
        Err(err) => {
            return entry.set(StreamState::Error(format!(
                "{}: {err}",
                file.path.display()
            )))
        }
    };
    tracing::info!(stream = %entry.name, path = %file.path.display(), "looping file as a live stream");
    entry.set(StreamState::Live(live.clone()));
    if let Err(reason) = looper::run(file, live).await {
        entry.set(StreamState::Error(reason));
    }
}
