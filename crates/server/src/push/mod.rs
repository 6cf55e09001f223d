//! Push out: restreaming live streams to RTMP targets.
//!
//! A push is started through the API (`POST /api/v1/pushes {stream, target}`)
//! or by a `push_rules` entry (every live stream whose name matches). The
//! [`Pusher`] looks every [`TICK`]: a push whose stream is live and that is not
//! running starts ([`session`]); one that failed waits a backoff (1 s, doubling
//! up to [`MAX_BACKOFF`]) and starts again, so a target that restarts gets the
//! stream back by itself. A push stops when deleted (API) or when its rule no
//! longer matches. PUSH_OUT_START fires as a push starts publishing, PUSH_END
//! when it stops. Targets hold stream keys: logs show them redacted.

pub mod session;
pub mod target;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::config_store::ConfigStore;
use crate::stream::{Registry, StreamState};
use crate::triggers::{payload, Event, Triggers};
use target::{RtmpTarget, TargetError};

/// How often the pusher looks at the streams.
pub const TICK: Duration = Duration::from_millis(250);
/// Longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A push that ran this long starts its backoff over.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// Most pushes at once.
pub const MAX_PUSHES: usize = 256;

/// `brume_push_bytes_total{stream,push}` and `brume_pushes_active`.
#[derive(Debug, Default)]
pub struct PushCounts {
    bytes: Mutex<BTreeMap<(String, u64), Arc<AtomicU64>>>,
    active: AtomicU64,
}

impl PushCounts {
    /// Bytes sent per (stream, push id).
    pub fn bytes(&self) -> Vec<(String, u64, u64)> {
        let all = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|((s, id), b)| (s.clone(), *id, b.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }
}

/// Why a push cannot be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("no stream named {0:?}")]
    NoStream(String),
    #[error("at most {MAX_PUSHES} pushes")]
    TooMany,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Origin {
    Api,
    /// Rule index and stream.
    Rule(usize, String),
}

#[derive(Debug)]
struct Push {
    stream: String,
    target: RtmpTarget,
    url: String,
    origin: Origin,
    running: Option<CancellationToken>,
    /// The live stream instance being pushed.
    instance: u64,
    deleted: bool,
    failures: u32,
    retry_at: Option<Instant>,
    status: String,
    bytes: Arc<AtomicU64>,
    started: Option<Instant>,
}

/// Every push of one server.
#[derive(Debug)]
pub struct Pusher {
    pushes: Mutex<HashMap<u64, Push>>,
    next_id: AtomicU64,
    registry: Arc<Registry>,
    triggers: Arc<Triggers>,
    config: Arc<ConfigStore>,
    counts: Arc<PushCounts>,
    stop: CancellationToken,
}

impl Pusher {
    pub fn start(
        registry: Arc<Registry>,
        triggers: Arc<Triggers>,
        config: Arc<ConfigStore>,
        counts: Arc<PushCounts>,
    ) -> Arc<Pusher> {
        let pusher = Arc::new(Pusher {
            pushes: Mutex::default(),
            next_id: AtomicU64::new(1),
            registry,
            triggers,
            config,
            counts,
            stop: CancellationToken::new(),
        });
        tokio::spawn(follow(pusher.clone()));
        pusher
    }

    pub fn shutdown(&self) {
        self.stop.cancel();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Push>> {
        self.pushes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, stream: &str, url: &str, origin: Origin) -> Result<u64, CreateError> {
        let target = RtmpTarget::parse(url)?;
        let mut pushes = self.lock();
        if pushes.len() >= MAX_PUSHES {
            return Err(CreateError::TooMany);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let bytes = Arc::new(AtomicU64::new(0));
        self.counts
            .bytes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((stream.to_owned(), id), bytes.clone());
        pushes.insert(
            id,
            Push {
                stream: stream.to_owned(),
                target,
                url: url.to_owned(),
                origin,
                running: None,
                instance: 0,
                deleted: false,
                failures: 0,
                retry_at: None,
                status: "waiting for the stream".to_owned(),
                bytes,
                started: None,
            },
        );
        Ok(id)
    }

    /// `POST /api/v1/pushes`: pushes `stream` to `url` from now on (while live).
    pub fn create(&self, stream: &str, url: &str) -> Result<u64, CreateError> {
        if self.registry.get(stream).is_none() {
            return Err(CreateError::NoStream(stream.to_owned()));
        }
        let id = self.add(stream, url, Origin::Api)?;
        tracing::info!(stream, push = id, target = %RtmpTarget::parse(url)?.redacted(), "push created");
        Ok(id)
    }

    /// `DELETE /api/v1/pushes/{id}`: false when there is no such push.
    pub fn delete(&self, id: u64) -> bool {
        let mut pushes = self.lock();
        let Some(push) = pushes.get_mut(&id) else {
            return false;
        };
        push.deleted = true;
        match &push.running {
            Some(stop) => stop.cancel(),
            None => {
                pushes.remove(&id);
            }
        }
        true
    }

    /// Every push, by id.
    pub fn list(&self) -> Vec<Value> {
        let pushes = self.lock();
        let mut ids: Vec<&u64> = pushes.keys().collect();
        ids.sort();
        ids.into_iter()
            .filter_map(|id| {
                let p = pushes.get(id)?;
                Some(json!({
                    "id": id,
                    "stream": p.stream,
                    "target": p.url,
                    "rule": matches!(p.origin, Origin::Rule(..)),
                    "active": p.running.is_some() && p.started.is_some(),
                    "status": p.status,
                    "bytes": p.bytes.load(Ordering::Relaxed),
                    "failures": p.failures,
                }))
            })
            .collect()
    }

    fn reconcile(self: &Arc<Self>) {
        let config = self.config.current();
        // Pushes from rules: one per (rule, live stream).
        let mut wanted = Vec::new();
        for (i, rule) in config.push_rules.iter().enumerate() {
            for name in self.registry.names() {
                if target::matches(&rule.streams, &name) {
                    wanted.push((
                        Origin::Rule(i, name.clone()),
                        name.clone(),
                        rule.target.replace("$stream", &name),
                    ));
                }
            }
        }
        {
            let mut pushes = self.lock();
            let mut gone = Vec::new();
            for (id, push) in pushes.iter_mut() {
                if let Origin::Rule(..) = push.origin {
                    let keep = wanted
                        .iter()
                        .any(|(o, _, url)| *o == push.origin && *url == push.url);
                    if !keep {
                        push.deleted = true;
                        match &push.running {
                            Some(stop) => stop.cancel(),
                            None => gone.push(*id),
                        }
                    }
                }
            }
            for id in gone {
                pushes.remove(&id);
            }
            let known: Vec<Origin> = pushes
                .values()
                .filter(|p| !p.deleted)
                .map(|p| p.origin.clone())
                .collect();
            drop(pushes);
            for (origin, name, url) in wanted {
                if !known.contains(&origin) {
                    if let Err(err) = self.add(&name, &url, origin) {
                        tracing::warn!(stream = %name, error = %err, "push rule cannot apply");
                    }
                }
            }
        }
        let now = Instant::now();
        let mut pushes = self.lock();
        for (id, push) in pushes.iter_mut() {
            let live = match self.registry.get(&push.stream).map(|e| e.state()) {
                Some(StreamState::Live(live)) if !live.is_closed() => Some(live),
                _ => None,
            };
            if let Some(stop) = &push.running {
                // The stream went offline (or restarted): this push is over.
                if live.as_ref().is_none_or(|l| l.instance != push.instance) {
                    stop.cancel();
                }
                continue;
            }
            if push.deleted || push.retry_at.is_some_and(|at| now < at) {
                continue;
            }
            let Some(live) = live else {
                continue;
            };
            push.instance = live.instance;
            let stop = self.stop.child_token();
            push.running = Some(stop.clone());
            push.status = "connecting".to_owned();
            tokio::spawn(run(
                self.clone(),
                *id,
                live,
                push.stream.clone(),
                push.target.clone(),
                push.url.clone(),
                stop,
                push.bytes.clone(),
            ));
        }
    }

    fn set_status(&self, id: u64, status: &str, started: bool) {
        if let Some(push) = self.lock().get_mut(&id) {
            push.status = status.to_owned();
            if started {
                push.started = Some(Instant::now());
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    pusher: Arc<Pusher>,
    id: u64,
    live: Arc<crate::stream::live::LiveStream>,
    stream: String,
    target: RtmpTarget,
    url: String,
    stop: CancellationToken,
    bytes: Arc<AtomicU64>,
) {
    let span =
        tracing::info_span!("push", push = id, stream = %stream, target = %target.redacted());
    let result = tracing::Instrument::instrument(
        session::push(live, &stream, &target, &stop, &bytes, || {
            pusher.counts.active.fetch_add(1, Ordering::Relaxed);
            pusher.set_status(id, "pushing", true);
            tracing::info!(push = id, stream = %stream, target = %target.redacted(), "push publishing");
            pusher.triggers.notify(
                Event::PushOutStart,
                Some(&stream),
                &payload(&[&stream, &url]),
            );
        }),
        span,
    )
    .await;
    let mut pushes = pusher.lock();
    let Some(push) = pushes.get_mut(&id) else {
        return;
    };
    let was_publishing = push.started.take();
    if let Some(since) = was_publishing {
        pusher.counts.active.fetch_sub(1, Ordering::Relaxed);
        if since.elapsed() >= HEALTHY_AFTER {
            push.failures = 0;
        }
    }
    push.running = None;
    let reason = match &result {
        Ok(()) => {
            push.status = "waiting for the stream".to_owned();
            push.retry_at = None;
            "stream ended or push stopped".to_owned()
        }
        Err(err) => {
            push.failures = push.failures.saturating_add(1);
            let wait =
                Duration::from_secs(1 << push.failures.min(5).saturating_sub(1)).min(MAX_BACKOFF);
            push.retry_at = Some(Instant::now() + wait);
            push.status = format!("retrying in {} s: {err}", wait.as_secs());
            tracing::warn!(push = id, stream = %stream, target = %target.redacted(), error = %err, "push failed; retrying in {} s", wait.as_secs());
            format!("error: {err}")
        }
    };
    if push.deleted {
        pushes.remove(&id);
        pusher
            .counts
            .bytes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(stream.clone(), id));
    }
    drop(pushes);
    if was_publishing.is_some() {
        pusher.triggers.notify(
            Event::PushEnd,
            Some(&stream),
            &payload(&[&id.to_string(), &stream, &url, &reason]),
        );
    }
}

async fn follow(pusher: Arc<Pusher>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = pusher.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        pusher.reconcile();
    }
}
