//! Streams: the registry of configured streams and the state of each.
//!
//! Every configured stream name has a [`StreamEntry`] whose [`StreamState`] is
//! published on a watch channel (so outputs and, later, the stream-info WebSocket can
//! follow changes). Starting a stream opens its source: a looped file becomes a
//! [`LiveStream`] fed by the [`looper`]; a plain file becomes a [`VodStream`]; a push
//! source waits offline for a publisher. A source that fails puts its stream in
//! [`StreamState::Error`] with the reason; nothing else is affected.
//!
//! The registry changes while the server runs ([`Registry::reconcile`] follows a new
//! configuration): a removed or replaced entry is *stopped* — its cancellation token
//! fires (source task, publisher, RTMP players, WebSocket viewers all watch it), its
//! live feeds are closed (progressive viewers' bodies end) and its on-demand file
//! stops feeding downloads. A stopped entry never comes back; a restart is a new
//! entry under the same name.

pub mod cache;
pub mod failure;
pub mod live;
pub mod looper;
pub mod media;
pub mod publish;
pub mod pull;
pub mod selection;
pub mod source;
pub mod subscription;
pub mod timeline;
pub mod vod;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use brume_media::index::tracks_of;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::config::{Config, SourceSpec, SourceSpecError, StreamConfig};
use crate::metrics::Metrics;
use live::LiveStream;
use looper::LoopError;
use source::{OpenedFile, SourceError};
use vod::VodStream;

/// A number no other live or on-demand stream instance of this process has.
pub fn next_instance() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Why a stream could not start, or stopped playing. Shown (as text) in
/// [`StreamState::Error`]; nothing outside the stream is affected.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The configured `source` is not one Brume knows.
    #[error(transparent)]
    Spec(#[from] SourceSpecError),
    /// The file could not be opened or indexed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The file's tracks cannot be served (live ring or on-demand index).
    #[error("{}: {reason}", path.display())]
    Media {
        path: PathBuf,
        reason: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A looped file stopped playing.
    #[error(transparent)]
    Loop(#[from] LoopError),
    /// The blocking task that opened the file failed.
    #[error("the opening task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Default DVR window of live streams.
pub const DEFAULT_DVR_WINDOW_MS: u64 = 50_000;
/// Low-Latency HLS part target of a live stream without `part_target_ms`.
pub use live::ring::DEFAULT_PART_TARGET_MS;

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
    /// The source failed: the full reason and its public wording.
    Error(failure::StreamFailure),
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
    /// Who wants a pulled stream (unused for other sources).
    pull: pull::PullState,
    /// Fires when the entry is removed or replaced.
    stop: CancellationToken,
    /// When the state last became Live or Vod (`None` while it is neither).
    online: Mutex<Option<Instant>>,
    /// The server's metrics: the render caches of this stream's media count into it.
    metrics: Arc<Metrics>,
    /// When the on-demand source file was last checked for changes.
    source_checked: Mutex<Option<Instant>>,
}

/// How often requests check an on-demand source file for changes (a `stat` on a
/// blocking thread: once per request would cost more than serving a playlist).
const SOURCE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl StreamEntry {
    pub fn state(&self) -> StreamState {
        self.state.borrow().clone()
    }

    /// A viewer's wait for the stream: asks for it (a pulled stream on demand
    /// starts now, whatever the viewer's protocol: every HTTP, WebSocket, RTMP
    /// and WHEP viewer comes through here before its subscription is made), then
    /// returns the state once the source has finished opening (waits up to `limit`).
    pub async fn settled_state(&self, limit: std::time::Duration) -> StreamState {
        self.want();
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

    /// A new entry in [`StreamState::Starting`]; nothing runs until it is started.
    fn new(
        name: &str,
        config: &StreamConfig,
        base: &Path,
        metrics: &Arc<Metrics>,
    ) -> Result<StreamEntry, SourceSpecError> {
        let source = SourceSpec::parse(&config.source, base)?;
        let (state, _) = watch::channel(StreamState::Starting);
        Ok(StreamEntry {
            name: name.to_owned(),
            config: config.clone(),
            source,
            state,
            push: Default::default(),
            pull: Default::default(),
            stop: CancellationToken::new(),
            online: Mutex::new(None),
            metrics: metrics.clone(),
            source_checked: Mutex::new(None),
        })
    }

    /// When the stream last came online (became live or on-demand); `None` while
    /// it is not.
    pub fn online_since(&self) -> Option<Instant> {
        *self.online.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the entry was removed or replaced.
    pub fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Completes when the entry is removed or replaced: everything attached to it
    /// (viewers, publisher, source task) ends then.
    pub fn stopped(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    /// Stops the entry: fires its token, closes its live feeds (progressive viewers'
    /// bodies end) and on-demand downloads, and leaves it offline for good.
    fn shut_down(&self) {
        self.stop.cancel();
        self.state.send_modify(|state| {
            close_media(state);
            *state = StreamState::Offline;
        });
        self.mark_online(false);
        self.push_slot_clear();
    }

    fn mark_online(&self, online: bool) {
        let mut since = self.online.lock().unwrap_or_else(|p| p.into_inner());
        match (online, since.is_some()) {
            (true, false) => *since = Some(Instant::now()),
            (false, true) => *since = None,
            _ => {}
        }
    }

    /// A receiver that wakes on every state change.
    pub fn watch(&self) -> watch::Receiver<StreamState> {
        self.state.subscribe()
    }

    /// Publishes a new state; on a stopped entry the new state's media is closed
    /// instead (a source that finished opening after the entry was removed).
    fn set(&self, state: StreamState) {
        // Checked under the watch's lock, which `shut_down` also takes after
        // cancelling: a state set concurrently is either seen and closed by
        // `shut_down`, or sees the cancellation here.
        let mut state = Some(state);
        self.state.send_if_modified(|current| {
            let Some(mut new) = state.take() else {
                return false;
            };
            if self.stop.is_cancelled() {
                close_media(&mut new);
                return false;
            }
            let online = match &new {
                StreamState::Live(live) => {
                    live.cache.count_into(&self.metrics);
                    true
                }
                StreamState::Vod(vod) => {
                    vod.cache.count_into(&self.metrics);
                    true
                }
                _ => false,
            };
            *current = new;
            self.mark_online(online);
            true
        });
    }

    /// The current VoD index, reopened first if the file changed on disk.
    pub async fn current_vod(self: &Arc<Self>) -> Option<Arc<VodStream>> {
        let StreamState::Vod(vod) = self.state() else {
            return None;
        };
        let SourceSpec::File(path) = &self.source else {
            return Some(vod);
        };
        {
            let mut checked = self
                .source_checked
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            if checked.is_some_and(|at| now.duration_since(at) < SOURCE_CHECK_INTERVAL) {
                return Some(vod);
            }
            *checked = Some(now);
        }
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

/// Closes what a state's media serves from: live feeds end, downloads stop.
fn close_media(state: &mut StreamState) {
    match state {
        StreamState::Live(live) => live.close(),
        StreamState::Vod(vod) => vod.close(),
        _ => {}
    }
}

/// Every configured stream, by name.
#[derive(Debug)]
pub struct Registry {
    streams: RwLock<HashMap<String, Arc<StreamEntry>>>,
    /// The folder relative source paths resolve against.
    base: PathBuf,
    /// The server's metrics, handed to every entry.
    metrics: Arc<Metrics>,
}

/// What [`Registry::reconcile`] did, by stream name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub started: Vec<String>,
    pub restarted: Vec<String>,
    pub stopped: Vec<String>,
}

impl Registry {
    /// Creates the registry for `config` and starts every stream's source.
    /// `config_path` anchors relative file paths; `metrics` is the server's.
    pub fn start(
        config: &Config,
        config_path: Option<&Path>,
        metrics: Arc<Metrics>,
    ) -> Arc<Registry> {
        let base = config_path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let registry = Arc::new(Registry {
            streams: RwLock::default(),
            base,
            metrics,
        });
        for (name, stream) in &config.streams {
            registry.insert(name, stream);
        }
        registry
    }

    /// Starts stream `name` with `config`, replacing (and stopping) any entry of
    /// that name. Returns the new entry (in [`StreamState::Starting`] until its
    /// source opens), or `None` when the source cannot be parsed (which config
    /// validation rules out). Must run inside the tokio runtime.
    pub fn insert(&self, name: &str, config: &StreamConfig) -> Option<Arc<StreamEntry>> {
        let entry = match StreamEntry::new(name, config, &self.base, &self.metrics) {
            Ok(entry) => Arc::new(entry),
            Err(err) => {
                tracing::error!(stream = %name, %err, "bad source");
                return None;
            }
        };
        let old = self.write().insert(name.to_owned(), entry.clone());
        if let Some(old) = old {
            old.shut_down();
        }
        let running = entry.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = run_source(running.clone()) => {}
                () = running.stopped() => {}
            }
        });
        Some(entry)
    }

    /// Removes stream `name` and disconnects everything attached to it.
    pub fn remove(&self, name: &str) -> Option<Arc<StreamEntry>> {
        let entry = self.write().remove(name)?;
        entry.shut_down();
        Some(entry)
    }

    /// Makes the registry follow `config`: new streams start, removed ones stop,
    /// changed ones (any setting) restart; unchanged ones are left alone. Returns
    /// once every new entry is registered (in `Starting` at least).
    pub fn reconcile(&self, config: &Config) -> Reconciled {
        let mut done = Reconciled::default();
        let current: Vec<(String, Arc<StreamEntry>)> = self
            .read()
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect();
        for (name, entry) in &current {
            if !config.streams.contains_key(name) {
                self.remove(name);
                tracing::info!(stream = %name, "stream removed");
                done.stopped.push(name.clone());
            } else if config.streams.get(name) != Some(&entry.config) {
                done.restarted.push(name.clone());
            }
        }
        for (name, stream) in &config.streams {
            let known = current.iter().any(|(n, _)| n == name);
            if known && !done.restarted.contains(name) {
                continue;
            }
            if self.insert(name, stream).is_some() {
                if known {
                    tracing::info!(stream = %name, "stream settings changed; restarted");
                } else {
                    tracing::info!(stream = %name, "stream added");
                    done.started.push(name.clone());
                }
            }
        }
        done.started.sort();
        done.restarted.sort();
        done.stopped.sort();
        done
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
        (SourceSpec::Pull(url), _) => pull::run(entry.clone(), url.clone()).await,
        (SourceSpec::BuiltinDemo, true) => {
            let opened = source::open_builtin_demo().map_err(StreamError::from);
            run_looped(&entry, opened).await;
        }
        (SourceSpec::File(path), true) => {
            let opened = open_blocking(path.clone()).await;
            run_looped(&entry, opened).await;
        }
        (SourceSpec::BuiltinDemo, false) => {
            let state = source::open_builtin_demo()
                .map_err(StreamError::from)
                .and_then(vod_state);
            entry.set(StreamState::from(state));
        }
        (SourceSpec::File(path), false) => entry.set(open_vod(path).await),
    }
    if let StreamState::Error(reason) = entry.state() {
        tracing::error!(stream = %entry.name, %reason, "stream failed");
    }
}

impl From<Result<StreamState, StreamError>> for StreamState {
    /// A stream that failed shows why in [`StreamState::Error`].
    fn from(result: Result<StreamState, StreamError>) -> StreamState {
        result.unwrap_or_else(|err| StreamState::Error(err.into()))
    }
}

async fn open_blocking(path: PathBuf) -> Result<OpenedFile, StreamError> {
    Ok(tokio::task::spawn_blocking(move || source::open_file(&path)).await??)
}

async fn open_vod(path: &Path) -> StreamState {
    let opened = open_blocking(path.to_path_buf()).await;
    StreamState::from(opened.and_then(vod_state))
}

fn vod_state(file: OpenedFile) -> Result<StreamState, StreamError> {
    let path = file.path.clone();
    let vod = VodStream::new(file).map_err(|reason| StreamError::Media {
        path: path.clone(),
        reason: reason.into(),
    })?;
    tracing::info!(path = %path.display(), duration_ms = vod.duration_ms(), "on-demand stream ready");
    Ok(StreamState::Vod(Arc::new(vod)))
}

async fn run_looped(entry: &Arc<StreamEntry>, opened: Result<OpenedFile, StreamError>) {
    if let Err(err) = loop_file(entry, opened).await {
        entry.set(StreamState::Error(err.into()));
    }
}

/// Plays `opened` as a live stream until reading it fails.
async fn loop_file(
    entry: &Arc<StreamEntry>,
    opened: Result<OpenedFile, StreamError>,
) -> Result<(), StreamError> {
    let file = opened?;
    let tracks = tracks_of(&*file.index)
        .into_iter()
        .map(|(t, _)| t.clone())
        .collect();
    let window = entry.config.dvr_window_ms.unwrap_or(DEFAULT_DVR_WINDOW_MS);
    let max_bytes = entry
        .config
        .dvr_max_bytes
        .unwrap_or(live::DEFAULT_RING_BYTES);
    let live = LiveStream::with_byte_cap(tracks, window, max_bytes)
        .map_err(|reason| StreamError::Media {
            path: file.path.clone(),
            reason: reason.into(),
        })?
        .with_part_target_ms(
            entry
                .config
                .part_target_ms
                .unwrap_or(DEFAULT_PART_TARGET_MS),
        );
    let live = Arc::new(live);
    tracing::info!(stream = %entry.name, path = %file.path.display(), "looping file as a live stream");
    entry.set(StreamState::Live(live.clone()));
    looper::run(file, live).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use live::feed::Format;

    fn stream(source: &str, looped: bool) -> StreamConfig {
        StreamConfig {
            source: source.to_owned(),
            looped,
            password: None,
            dvr_window_ms: None,
            dvr_max_bytes: None,
            part_target_ms: None,
            pull: None,
            access: Default::default(),
            ip_allow: Vec::new(),
            ip_deny: Vec::new(),
            record: None,
        }
    }

    fn config(streams: &[(&str, StreamConfig)]) -> Config {
        Config {
            streams: streams
                .iter()
                .map(|(n, s)| ((*n).to_owned(), s.clone()))
                .collect(),
            ..Config::default()
        }
    }

    async fn live_of(entry: &StreamEntry) -> Arc<LiveStream> {
        match entry.settled_state(Duration::from_secs(10)).await {
            StreamState::Live(live) => live,
            other => panic!("not live: {other:?}"),
        }
    }

    /// Polls `check` until it holds (or fails after 10 s).
    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn reconcile_starts_restarts_and_stops_streams() {
        let registry = Registry::start(
            &config(&[
                ("a", stream("builtin:demo", true)),
                ("b", stream("builtin:demo", false)),
                ("c", stream("push://", false)),
            ]),
            None,
            Default::default(),
        );
        let (a, b, c) = (
            registry.get("a").unwrap(),
            registry.get("b").unwrap(),
            registry.get("c").unwrap(),
        );
        let done = registry.reconcile(&config(&[
            ("b", stream("builtin:demo", true)),
            ("c", stream("push://", false)),
            ("d", stream("push://", false)),
        ]));
        assert_eq!(
            done,
            Reconciled {
                started: vec!["d".to_owned()],
                restarted: vec!["b".to_owned()],
                stopped: vec!["a".to_owned()],
            }
        );
        assert_eq!(registry.names(), ["b", "c", "d"]);
        assert!(a.is_stopped() && b.is_stopped() && !c.is_stopped());
        assert!(
            Arc::ptr_eq(&c, &registry.get("c").unwrap()),
            "unchanged: kept"
        );
        let new_b = registry.get("b").unwrap();
        assert!(new_b.config.looped);
        assert!(matches!(
            new_b.settled_state(Duration::from_secs(10)).await,
            StreamState::Live(_)
        ));
        assert!(matches!(
            registry
                .get("d")
                .unwrap()
                .settled_state(Duration::from_secs(10))
                .await,
            StreamState::Offline
        ));
    }

    #[tokio::test]
    async fn removing_a_looped_stream_ends_its_viewers_and_its_task() {
        let registry = Registry::start(
            &config(&[("demo", stream("builtin:demo", true))]),
            None,
            Default::default(),
        );
        let entry = registry.get("demo").unwrap();
        let live = live_of(&entry).await;
        let since = entry.online_since().expect("online once live");
        assert!(since.elapsed() < Duration::from_secs(10));
        let open = |format| {
            subscription::Subscription::open(
                &media::Media::Live(live.clone()),
                format,
                Arc::new(selection::Selection::all(live.tracks())),
                subscription::Start::Edge,
                subscription::test_viewer(),
            )
        };
        let mut viewer = open(Format::Mp4).unwrap();
        let removed = registry.remove("demo").unwrap();
        assert!(Arc::ptr_eq(&removed, &entry));
        assert!(registry.get("demo").is_none());
        assert!(entry.is_stopped());
        assert!(entry.online_since().is_none());
        assert!(matches!(entry.state(), StreamState::Offline));
        // The viewer reaches the end after what was already sent.
        while let Some(read) = viewer.next().await {
            read.unwrap();
        }
        assert!(matches!(
            open(Format::Ts),
            Err(subscription::SubscribeError::Ended)
        ));
        drop(viewer);
        // The looping task let go of the stream: only this test holds it.
        eventually("the looping task ended", || Arc::strong_count(&live) == 1).await;
    }

    #[tokio::test]
    async fn a_removed_push_stream_refuses_publishers() {
        let registry = Registry::start(
            &config(&[("in", stream("push://", false))]),
            None,
            Default::default(),
        );
        let entry = registry.get("in").unwrap();
        let publisher = entry.begin_publish().unwrap();
        registry.remove("in");
        drop(publisher);
        assert!(matches!(
            entry.begin_publish(),
            Err(publish::PublishRefusal::Removed)
        ));
        assert!(matches!(entry.state(), StreamState::Offline));
    }

    #[tokio::test]
    async fn removing_an_on_demand_stream_ends_downloads_in_flight() {
        let registry = Registry::start(
            &config(&[("file", stream("builtin:demo", false))]),
            None,
            Default::default(),
        );
        let entry = registry.get("file").unwrap();
        let StreamState::Vod(vod) = entry.settled_state(Duration::from_secs(10)).await else {
            panic!("not on demand");
        };
        assert!(entry.online_since().is_some());
        let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
        let download = tokio::spawn(vod::send_all(vod.clone(), Format::Ts, sender));
        // The header arrives; the download then waits for this reader.
        assert!(matches!(receiver.recv().await, Some(Ok(_))));
        registry.remove("file");
        assert!(vod.is_closed());
        while receiver.recv().await.is_some() {}
        tokio::time::timeout(Duration::from_secs(10), download)
            .await
            .expect("the download task ended")
            .unwrap();
    }

    #[tokio::test]
    async fn a_source_that_opens_after_removal_is_closed() {
        let entry = StreamEntry::new(
            "x",
            &stream("builtin:demo", true),
            Path::new("."),
            &Default::default(),
        )
        .unwrap();
        entry.shut_down();
        let demo = source::open_builtin_demo().unwrap();
        let tracks = tracks_of(&*demo.index)
            .into_iter()
            .map(|(t, _)| t.clone())
            .collect();
        let live = Arc::new(LiveStream::new(tracks, 1000).unwrap());
        entry.set(StreamState::Live(live.clone()));
        assert!(live.is_closed());
        assert!(matches!(entry.state(), StreamState::Offline));
        assert!(entry.online_since().is_none());
    }
}
