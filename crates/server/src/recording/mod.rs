//! Recording live streams to disk, and what is recorded.
//!
//! A stream with `record` settings ([`settings`]) is recorded whenever it is
//! live; `POST`/`DELETE /api/v1/streams/S/recording` start and stop it by hand
//! (a started one uses the body's settings or the stream's). The [`Recorder`]
//! follows the registry every [`TICK`], starts a recording ([`task`]) per live
//! stream that should have one, and applies retention ([`retention`]) every
//! [`RETENTION_EVERY`] as well as after each segment.
//!
//! Each recording is a folder ([`path`] names it) of segments and an index
//! ([`index`]). A recording that fails (unwritable folder, full disk) stops,
//! shows its error in the stream's status and the log, and is retried after
//! [`RETRY_AFTER`]; the live stream is not affected. A recording's end fires
//! RECORDING_END.

pub mod index;
pub mod path;
pub mod playback;
pub mod retention;
pub mod settings;
pub mod task;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::config_store::ConfigStore;
use crate::metrics::Metrics;
use crate::stream::{Registry, StreamState};
use crate::triggers::{payload, Event, Triggers};
use settings::RecordConfig;
use task::{Job, Progress};

/// How often the recorder looks at the streams.
pub const TICK: Duration = Duration::from_millis(500);
/// How long a failed recording waits before it is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);
/// How often retention runs besides after each segment.
pub const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Unix time now, ms.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `brume_recording_bytes_total{stream}` and `brume_recordings_active`.
#[derive(Debug, Default)]
pub struct RecordingCounts {
    bytes: Mutex<BTreeMap<String, u64>>,
    active: AtomicU64,
}

impl RecordingCounts {
    fn add_bytes(&self, stream: &str, bytes: u64) {
        let mut all = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        *all.entry(stream.to_owned()).or_default() += bytes;
    }

    /// Bytes recorded per stream.
    pub fn bytes(&self) -> Vec<(String, u64)> {
        let all = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        all.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Recordings running now.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }
}

/// Who decides whether a stream records.
#[derive(Debug, Clone, Default)]
enum Wanted {
    /// Its `record` settings (none: it does not).
    #[default]
    Config,
    /// Started through the API with these settings.
    Api(RecordConfig),
    /// Stopped through the API.
    Stopped,
}

#[derive(Debug)]
struct Active {
    /// The live stream instance recorded: a new one (or none) ends this recording.
    instance: u64,
    stop: CancellationToken,
    progress: Arc<Progress>,
    started: Instant,
}

#[derive(Debug, Default)]
struct StreamRecording {
    wanted: Wanted,
    active: Option<Active>,
    error: Option<String>,
    failed_at: Option<Instant>,
}

/// Why the API cannot start a recording.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the stream has no `record` settings; send them in the body")]
    NoSettings,
    #[error("invalid record settings: {0}")]
    Invalid(#[from] settings::SettingsError),
}

/// Runs every recording of one server.
#[derive(Debug)]
pub struct Recorder {
    streams: Mutex<HashMap<String, StreamRecording>>,
    registry: Arc<Registry>,
    triggers: Arc<Triggers>,
    config: Arc<ConfigStore>,
    counts: Arc<RecordingCounts>,
    stop: CancellationToken,
}

impl Recorder {
    /// Starts following the registry (inside the runtime).
    pub fn start(
        registry: Arc<Registry>,
        triggers: Arc<Triggers>,
        config: Arc<ConfigStore>,
        metrics: &Metrics,
    ) -> Arc<Recorder> {
        let recorder = Arc::new(Recorder {
            streams: Mutex::default(),
            registry,
            triggers,
            config,
            counts: metrics.recordings.clone(),
            stop: CancellationToken::new(),
        });
        tokio::spawn(follow(recorder.clone()));
        recorder
    }

    /// Stops every recording (each finishes its open segment) and the follower.
    pub fn shutdown(&self) {
        self.stop.cancel();
        for rec in self.lock().values() {
            if let Some(active) = &rec.active {
                active.stop.cancel();
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StreamRecording>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn settings_for(&self, name: &str, wanted: &Wanted) -> Option<RecordConfig> {
        match wanted {
            Wanted::Config => self.config.current().streams.get(name)?.record.clone(),
            Wanted::Api(settings) => Some(settings.clone()),
            Wanted::Stopped => None,
        }
    }

    /// `POST /api/v1/streams/S/recording`: records `name` from now on (while it
    /// is live) with `settings`, or its configured ones.
    pub fn start_recording(
        &self,
        name: &str,
        settings: Option<RecordConfig>,
    ) -> Result<(), StartError> {
        let settings = match settings {
            Some(settings) => settings,
            None => self
                .config
                .current()
                .streams
                .get(name)
                .and_then(|s| s.record.clone())
                .ok_or(StartError::NoSettings)?,
        };
        settings.validate()?;
        let mut streams = self.lock();
        let rec = streams.entry(name.to_owned()).or_default();
        rec.wanted = Wanted::Api(settings);
        rec.failed_at = None;
        rec.error = None;
        Ok(())
    }

    /// `DELETE /api/v1/streams/S/recording`: stops recording `name` (the open
    /// segment is written) until started again or the server restarts.
    pub fn stop_recording(&self, name: &str) {
        let mut streams = self.lock();
        let rec = streams.entry(name.to_owned()).or_default();
        rec.wanted = Wanted::Stopped;
        if let Some(active) = &rec.active {
            active.stop.cancel();
        }
    }

    /// The recording state of `name`, for its API status.
    pub fn status(&self, name: &str) -> Value {
        let streams = self.lock();
        let Some(rec) = streams.get(name) else {
            return json!({"active": false, "error": null});
        };
        let active = rec.active.as_ref().map(|a| {
            let folder = a.progress.folder.lock().unwrap_or_else(|p| p.into_inner());
            json!({
                "folder": folder.as_ref().map(|f| f.display().to_string()),
                "bytes": a.progress.bytes.load(Ordering::Relaxed),
                "segments": a.progress.segments.load(Ordering::Relaxed),
                "seconds": a.started.elapsed().as_secs(),
            })
        });
        json!({
            "active": active.is_some(),
            "current": active,
            "stopped_by_api": matches!(rec.wanted, Wanted::Stopped),
            "error": rec.error,
        })
    }

    /// One pass: start recordings that should run, stop those that should not.
    fn reconcile(self: &Arc<Self>) {
        for name in self.registry.names() {
            let Some(entry) = self.registry.get(&name) else {
                continue;
            };
            let live = match entry.state() {
                StreamState::Live(live) if !live.is_closed() => Some(live),
                _ => None,
            };
            let mut streams = self.lock();
            let rec = streams.entry(name.clone()).or_default();
            let settings = self.settings_for(&name, &rec.wanted);
            if let Some(active) = &rec.active {
                // A push stream that went offline after its grace period keeps
                // its (unclosed) live stream: the recording ends with the state.
                let current = live.as_ref().is_some_and(|l| l.instance == active.instance);
                if settings.is_none() || !current {
                    active.stop.cancel();
                }
                continue;
            }
            let (Some(settings), Some(live)) = (settings, live) else {
                continue;
            };
            if rec.failed_at.is_some_and(|at| at.elapsed() < RETRY_AFTER) {
                continue;
            }
            let progress = Arc::new(Progress::default());
            let stop = self.stop.child_token();
            rec.active = Some(Active {
                instance: live.instance,
                stop: stop.clone(),
                progress: progress.clone(),
                started: Instant::now(),
            });
            self.counts.active.fetch_add(1, Ordering::Relaxed);
            let job = Job {
                stream: name.clone(),
                live,
                settings,
                base: self.config.base_dir(),
                stop,
                progress,
                counts: self.counts.clone(),
            };
            tokio::spawn(run(self.clone(), job));
        }
    }

    /// Retention for every stream with settings, off the runtime.
    async fn sweep(self: &Arc<Self>) {
        let base = self.config.base_dir();
        let mut work = Vec::new();
        for name in self.registry.names() {
            let streams = self.lock();
            let wanted = streams
                .get(&name)
                .map(|r| r.wanted.clone())
                .unwrap_or_default();
            let keep = streams
                .get(&name)
                .and_then(|r| r.active.as_ref())
                .and_then(|a| a.progress.folder.lock().ok().and_then(|f| f.clone()));
            drop(streams);
            let settings = self
                .settings_for(&name, &wanted)
                .or_else(|| self.config.current().streams.get(&name)?.record.clone());
            if let Some(settings) = settings.filter(|s| !s.retention.is_unlimited()) {
                work.push((
                    path::root(&settings.path, &name, &base),
                    settings.retention,
                    keep,
                ));
            }
        }
        let _ = tokio::task::spawn_blocking(move || {
            for (root, limits, keep) in work {
                retention::apply(&root, &limits, unix_ms(), keep.as_deref());
            }
        })
        .await;
    }

    /// Every recording of `name` (finished or running), oldest first.
    pub fn recordings(&self, name: &str) -> Vec<Recording> {
        let Some(settings) = self.config.current().streams.get(name).and_then(|s| {
            let wanted = self.lock().get(name).map(|r| r.wanted.clone());
            match wanted {
                Some(Wanted::Api(settings)) => Some(settings),
                _ => s.record.clone(),
            }
        }) else {
            return Vec::new();
        };
        let root = path::root(&settings.path, name, &self.config.base_dir());
        index::scan(&root, retention::SCAN_DEPTH)
            .into_iter()
            .filter_map(|(folder, segments)| {
                let first = segments.first()?;
                if first.stream != name {
                    return None;
                }
                Some(Recording {
                    id: folder.file_name()?.to_string_lossy().into_owned(),
                    folder,
                    segments,
                })
            })
            .collect()
    }
}

/// One recording on disk.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The folder's name: how the API names the recording.
    pub id: String,
    pub folder: PathBuf,
    pub segments: Vec<index::SegmentEntry>,
}

impl Recording {
    pub fn start_unix_ms(&self) -> i64 {
        self.segments.first().map_or(0, |s| s.start_unix_ms)
    }

    pub fn end_unix_ms(&self) -> i64 {
        self.segments.last().map_or(0, |s| s.end_unix_ms())
    }

    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }
}

async fn follow(recorder: Arc<Recorder>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut swept = Instant::now();
    loop {
        tokio::select! {
            () = recorder.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        recorder.reconcile();
        if swept.elapsed() >= RETENTION_EVERY {
            swept = Instant::now();
            recorder.sweep().await;
        }
    }
}

async fn run(recorder: Arc<Recorder>, job: Job) {
    let name = job.stream.clone();
    let format = job.settings.format;
    let span = tracing::info_span!("recording", stream = %name);
    let (summary, result) = tracing::Instrument::instrument(task::run(job), span).await;
    recorder.counts.active.fetch_sub(1, Ordering::Relaxed);
    let reason = match &result {
        Ok(()) => "stream ended or recording stopped".to_owned(),
        Err(err) => {
            tracing::warn!(stream = %name, error = %err, "recording stopped; retrying in {} s", RETRY_AFTER.as_secs());
            format!("error: {err}")
        }
    };
    {
        let mut streams = recorder.lock();
        let rec = streams.entry(name.clone()).or_default();
        rec.active = None;
        match &result {
            Ok(()) => rec.error = None,
            Err(err) => {
                rec.error = Some(err.to_string());
                rec.failed_at = Some(Instant::now());
            }
        }
    }
    tracing::info!(stream = %name, bytes = summary.bytes, "recording ended");
    let folder = summary
        .folder
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    let media_ms = match (summary.first_media_ms, summary.last_media_ms) {
        (Some(first), Some(last)) => (last - first).max(0),
        _ => 0,
    };
    let fields = [
        name.clone(),
        folder,
        format.name().to_owned(),
        summary.bytes.to_string(),
        summary.writing_s.to_string(),
        (summary.started_unix_ms / 1000).to_string(),
        (summary.ended_unix_ms / 1000).to_string(),
        media_ms.to_string(),
        summary.first_media_ms.unwrap_or(0).to_string(),
        summary.last_media_ms.unwrap_or(0).to_string(),
        reason,
    ];
    let lines: Vec<&str> = fields.iter().map(String::as_str).collect();
    recorder
        .triggers
        .notify(Event::RecordingEnd, Some(&name), &payload(&lines));
}
