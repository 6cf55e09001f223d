//! Triggers: telling the site's backend what happens, and asking it what to do,
//! in MistServer's shape (event names, newline-separated payloads, answers).
//!
//! The configuration's `triggers` section ([`config`]) maps an event to handlers:
//! URLs (POST) or executables ([`client`]). A blocking (`sync`) handler is asked
//! and its answer acted on ([`Triggers::ask`]); the others are told and not
//! waited for ([`Triggers::notify`]). Whatever a handler does, it never holds up
//! anything but the request that asked it:
//!
//! * each call is bounded by the handler's `timeout_ms`; a blocking one that
//!   fails or times out answers the handler's `default` (or a refusal);
//! * at most [`MAX_CONCURRENT_CALLS`] calls run per handler at once; a blocking
//!   call waiting for a free slot still answers within its timeout;
//! * at most [`MAX_QUEUED_EVENTS`] fire-and-forget events wait or run per
//!   handler; past it new ones are dropped and counted
//!   (`brume_trigger_calls_total{result="dropped"}`);
//! * blocking answers are kept `cache_s` seconds per (event, payload), at most
//!   [`MAX_CACHED_ANSWERS`] per handler.
//!
//! Payloads can hold secrets (PUSH_REWRITE carries the stream key): they are
//! never logged, nor are handler URLs beyond their host.

pub mod client;
pub mod config;
pub mod stream_watch;
pub mod tls;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::config_store::ConfigStore;
use client::Answer;
use config::{HandlerConfig, Target};

/// Calls running at once per handler.
pub const MAX_CONCURRENT_CALLS: usize = 8;
/// Fire-and-forget events waiting or running per handler; more are dropped.
pub const MAX_QUEUED_EVENTS: usize = 256;
/// Cached blocking answers per handler.
pub const MAX_CACHED_ANSWERS: usize = 4096;

/// The events Brume fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// An RTMP publish: push URL, client address, stream key → stream name.
    PushRewrite,
    /// Before a push is accepted: stream, address, connector, URL → allow?
    StreamPush,
    /// A live buffer changed state: stream, FULL/EMPTY/DRY/RECOVER.
    StreamBuffer,
    /// A live stream ended.
    StreamEnd,
    /// A viewer session starts: stream, address, id, connector, URL, session → allow?
    UserNew,
    /// A viewer session ended.
    UserEnd,
    /// A viewer connection opened: stream, address, connector, URL.
    ConnOpen,
    /// A viewer connection closed.
    ConnClose,
    /// A viewer asks for a stream: stream, address, connector, URL → stream name.
    PlayRewrite,
    /// A recording finished (fired by the recording feature).
    RecordingEnd,
    /// A push out is about to start (fired by the push-out feature).
    PushOutStart,
    /// A push out ended (fired by the push-out feature).
    PushEnd,
}

/// What a blocking handler's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerKind {
    /// Positive (`1`, `yes`, `true`, `cont`…) allows, anything else refuses.
    Allow,
    /// A name replaces the one given; empty refuses.
    Rewrite,
    /// The answer is ignored.
    Ignored,
}

const EVENTS: [(Event, &str, AnswerKind); 12] = [
    (Event::PushRewrite, "PUSH_REWRITE", AnswerKind::Rewrite),
    (Event::StreamPush, "STREAM_PUSH", AnswerKind::Allow),
    (Event::StreamBuffer, "STREAM_BUFFER", AnswerKind::Ignored),
    (Event::StreamEnd, "STREAM_END", AnswerKind::Ignored),
    (Event::UserNew, "USER_NEW", AnswerKind::Allow),
    (Event::UserEnd, "USER_END", AnswerKind::Ignored),
    (Event::ConnOpen, "CONN_OPEN", AnswerKind::Ignored),
    (Event::ConnClose, "CONN_CLOSE", AnswerKind::Ignored),
    (Event::PlayRewrite, "PLAY_REWRITE", AnswerKind::Rewrite),
    (Event::RecordingEnd, "RECORDING_END", AnswerKind::Ignored),
    (Event::PushOutStart, "PUSH_OUT_START", AnswerKind::Rewrite),
    (Event::PushEnd, "PUSH_END", AnswerKind::Ignored),
];

impl Event {
    /// The name in the configuration and the `X-Trigger` header.
    pub fn name(self) -> &'static str {
        EVENTS.iter().find(|e| e.0 == self).map_or("", |e| e.1)
    }

    /// How a blocking answer is read.
    pub fn answer_kind(self) -> AnswerKind {
        EVENTS
            .iter()
            .find(|e| e.0 == self)
            .map_or(AnswerKind::Ignored, |e| e.2)
    }

    pub fn from_name(name: &str) -> Option<Event> {
        EVENTS.iter().find(|e| e.1 == name).map(|e| e.0)
    }

    /// Every event name.
    pub fn names() -> Vec<&'static str> {
        EVENTS.iter().map(|e| e.1).collect()
    }
}

/// Calls per (event, result), shown as `brume_trigger_calls_total`.
#[derive(Debug, Default)]
pub struct CallCounts {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl CallCounts {
    fn count(&self, event: Event, result: &'static str) {
        *self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((event.name(), result))
            .or_default() += 1;
    }

    /// Every `(event, result, count)`, in a stable order.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(&(e, r), &n)| (e, r, n))
            .collect()
    }
}

/// (event, payload) → answer and until when it holds.
type AnswerCache = HashMap<(Event, Arc<str>), (Answer, Instant)>;

/// One handler's limits and answer cache (shared by the events it handles).
#[derive(Debug)]
struct HandlerState {
    running: Semaphore,
    queued: Arc<Semaphore>,
    cache: Mutex<AnswerCache>,
}

impl HandlerState {
    fn new() -> HandlerState {
        HandlerState {
            running: Semaphore::new(MAX_CONCURRENT_CALLS),
            queued: Arc::new(Semaphore::new(MAX_QUEUED_EVENTS)),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, event: Event, payload: &str, now: Instant) -> Option<Answer> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.get(&(event, Arc::from(payload))) {
            Some((answer, until)) if *until > now => Some(answer.clone()),
            _ => None,
        }
    }

    fn remember(&self, event: Event, payload: &str, answer: &Answer, until: Instant, now: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_ANSWERS {
            cache.retain(|_, (_, t)| *t > now);
            if cache.len() >= MAX_CACHED_ANSWERS {
                return;
            }
        }
        cache.insert((event, Arc::from(payload)), (answer.clone(), until));
    }
}

/// The trigger service: reads the handlers from the configuration in force at
/// each event, so changes apply at once.
#[derive(Debug)]
pub struct Triggers {
    config: Arc<ConfigStore>,
    counts: Arc<CallCounts>,
    handlers: Mutex<HashMap<String, Arc<HandlerState>>>,
}

/// A handler as logs show it: the URL's scheme and host, or the executable's path.
fn describe(target: &Target) -> String {
    match target {
        Target::Url(uri) => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str())
        ),
        Target::Executable(path) => path.display().to_string(),
    }
}

impl Triggers {
    pub fn new(config: Arc<ConfigStore>, counts: Arc<CallCounts>) -> Triggers {
        Triggers {
            config,
            counts,
            handlers: Mutex::new(HashMap::new()),
        }
    }

    /// The handlers of `event` that want `stream`.
    fn handlers(&self, event: Event, stream: Option<&str>) -> Vec<HandlerConfig> {
        let config = self.config.current();
        config
            .triggers
            .get(event.name())
            .map(|list| list.iter().filter(|h| h.wants(stream)).cloned().collect())
            .unwrap_or_default()
    }

    /// Whether any handler listens to `event` for `stream` (payloads need not be
    /// built otherwise).
    pub fn listens(&self, event: Event, stream: Option<&str>) -> bool {
        let config = self.config.current();
        config
            .triggers
            .get(event.name())
            .is_some_and(|list| list.iter().any(|h| h.wants(stream)))
    }

    /// Whether a blocking handler will answer `event` for `stream`.
    pub fn asks(&self, event: Event, stream: Option<&str>) -> bool {
        let config = self.config.current();
        config
            .triggers
            .get(event.name())
            .is_some_and(|list| list.iter().any(|h| h.sync && h.wants(stream)))
    }

    fn state(&self, handler: &str) -> Arc<HandlerState> {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(handler.to_owned())
            .or_insert_with(|| Arc::new(HandlerState::new()))
            .clone()
    }

    /// Tells every handler of `event` (blocking ones too), waiting for none.
    pub fn notify(&self, event: Event, stream: Option<&str>, payload: &str) {
        let handlers = self.handlers(event, stream);
        if handlers.is_empty() {
            return;
        }
        let payload: Arc<str> = Arc::from(payload);
        for handler in handlers {
            self.spawn_call(event, handler, payload.clone());
        }
    }

    fn spawn_call(&self, event: Event, handler: HandlerConfig, payload: Arc<str>) {
        let Ok(target) = handler.target() else {
            return;
        };
        let state = self.state(&handler.handler);
        let Ok(queued) = state.queued.clone().try_acquire_owned() else {
            tracing::warn!(
                event = event.name(),
                handler = %describe(&target),
                "trigger dropped: the handler has {MAX_QUEUED_EVENTS} events waiting"
            );
            self.counts.count(event, "dropped");
            return;
        };
        let counts = self.counts.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _queued = queued;
            let Ok(_running) = state.running.acquire().await else {
                return;
            };
            let limit = Duration::from_millis(handler.timeout_ms);
            let result = tokio::time::timeout(limit, client::call(&target, event.name(), &payload));
            match result.await {
                Ok(Ok(_)) => counts.count(event, "ok"),
                Ok(Err(err)) => {
                    tracing::warn!(event = event.name(), handler = %describe(&target), %err, "trigger failed");
                    counts.count(event, "failed");
                }
                Err(_) => {
                    tracing::warn!(event = event.name(), handler = %describe(&target), "trigger timed out");
                    counts.count(event, "timeout");
                }
            }
        });
    }

    /// Fires `event`: non-blocking handlers are told, blocking ones asked in
    /// order. `None` when no blocking handler wants it (go on as if it did not
    /// exist). For [`AnswerKind::Allow`] events the first refusal wins; for
    /// [`AnswerKind::Rewrite`] the first answer.
    pub async fn ask(&self, event: Event, stream: Option<&str>, payload: &str) -> Option<Answer> {
        let handlers = self.handlers(event, stream);
        if handlers.is_empty() {
            return None;
        }
        let shared: Arc<str> = Arc::from(payload);
        let mut answer = None;
        for handler in handlers {
            if !handler.sync {
                self.spawn_call(event, handler, shared.clone());
                continue;
            }
            let decided = match (event.answer_kind(), &answer) {
                (AnswerKind::Allow, Some(a)) => !Answer::is_positive(a),
                (AnswerKind::Rewrite, Some(_)) => true,
                _ => false,
            };
            if decided {
                continue;
            }
            answer = Some(self.call_blocking(event, &handler, payload).await);
        }
        answer
    }

    async fn call_blocking(&self, event: Event, handler: &HandlerConfig, payload: &str) -> Answer {
        let fallback = || Answer::parse(handler.default.as_deref().unwrap_or("").as_bytes());
        let Ok(target) = handler.target() else {
            return fallback();
        };
        let state = self.state(&handler.handler);
        let now = Instant::now();
        if handler.cache_s > 0 {
            if let Some(answer) = state.cached(event, payload, now) {
                self.counts.count(event, "cached");
                return answer;
            }
        }
        let limit = Duration::from_millis(handler.timeout_ms);
        let call = async {
            let _running = state.running.acquire().await;
            client::call(&target, event.name(), payload).await
        };
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(answer)) => {
                self.counts.count(event, "ok");
                if handler.cache_s > 0 {
                    let until = now + Duration::from_secs(handler.cache_s);
                    state.remember(event, payload, &answer, until, now);
                }
                answer
            }
            Ok(Err(err)) => {
                tracing::warn!(event = event.name(), handler = %describe(&target), %err, "trigger failed; using its default answer");
                self.counts.count(event, "failed");
                fallback()
            }
            Err(_) => {
                tracing::warn!(event = event.name(), handler = %describe(&target), timeout_ms = handler.timeout_ms, "trigger timed out; using its default answer");
                self.counts.count(event, "timeout");
                fallback()
            }
        }
    }
}

/// Joins payload lines with `\n` (MistServer's format); a line's own newlines
/// become spaces so a value can never add a line.
pub fn payload(lines: &[&str]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.extend(
            line.chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip() {
        for name in Event::names() {
            assert_eq!(Event::from_name(name).map(Event::name), Some(name));
        }
        assert_eq!(Event::from_name("user_new"), None);
        assert_eq!(Event::UserNew.answer_kind(), AnswerKind::Allow);
        assert_eq!(Event::PushRewrite.answer_kind(), AnswerKind::Rewrite);
    }

    #[test]
    fn payload_lines_cannot_be_smuggled() {
        assert_eq!(payload(&["cam", "1.2.3.4"]), "cam\n1.2.3.4");
        assert_eq!(payload(&["a\nb", "c\r"]), "a b\nc ");
    }
}
