//! Log output: human-readable lines by default, JSON lines for machines, plus a
//! copy of every line in memory for the management API ([`crate::logs`]).
//!
//! Filtering follows `RUST_LOG` when set (e.g. `RUST_LOG=brume=debug`), else the
//! `--log-level` option. Logs go to stderr. The in-memory copy ([`RingLayer`])
//! keeps level, target, message and fields (with those of the enclosing spans),
//! each message cut to [`MAX_MESSAGE_BYTES`], and never stores a field named like
//! a secret (password, key, token, secret): it says `[redacted]` instead.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::logs::{LogBuffer, LogLine};

/// Longest message (and field value) kept in memory, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 2048;
/// Most fields kept per line.
const MAX_FIELDS: usize = 32;
/// What a secret field's value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the process's subscriber: stderr in `format`, and an in-memory copy
/// into the returned buffer (for the management API: pass it to [`crate::run`]).
pub fn init(format: LogFormat, level: &str) -> Arc<LogBuffer> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let buffer = Arc::new(LogBuffer::default());
    let ring = RingLayer::new(buffer.clone());
    let registry = tracing_subscriber::registry().with(filter).with(ring);
    let result = match format {
        LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if let Err(err) = result {
        eprintln!("brume: logging was already set up: {err}");
    }
    buffer
}

/// A tracing layer that copies each event into a [`LogBuffer`].
#[derive(Debug)]
pub struct RingLayer {
    buffer: Arc<LogBuffer>,
}

impl RingLayer {
    pub fn new(buffer: Arc<LogBuffer>) -> RingLayer {
        RingLayer { buffer }
    }
}

/// The fields of a span, kept in its extensions.
#[derive(Debug, Default)]
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for RingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut visitor = Collect::default();
        attrs.record(&mut visitor);
        span.extensions_mut().insert(SpanFields(visitor.fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut visitor = Collect::default();
        values.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            fields.0.extend(visitor.fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(span_fields) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        let mut visitor = Collect::default();
        event.record(&mut visitor);
        fields.extend(visitor.fields);
        let message = match fields.remove("message") {
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if fields.len() > MAX_FIELDS {
            fields = fields.into_iter().take(MAX_FIELDS).collect();
        }
        let metadata = event.metadata();
        self.buffer.push(LogLine {
            seq: 0,
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            level: level_name(*metadata.level()),
            target: metadata.target().to_owned(),
            message,
            fields,
        });
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARN",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// Whether a field's name says it holds a secret (`password`, `stream_key`,
/// `api.token`, `client_secret`…). `keyframe` and the like are not.
pub fn is_secret_field(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    const WORDS: [&str; 6] = [
        "password",
        "passwd",
        "key",
        "token",
        "secret",
        "authorization",
    ];
    name.contains("password")
        || name.contains("secret")
        || name.contains("token")
        || name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| WORDS.contains(&word))
}

/// Cuts `text` to at most [`MAX_MESSAGE_BYTES`] on a character boundary.
fn truncate(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Gathers field values as JSON, redacting secrets.
#[derive(Debug, Default)]
struct Collect {
    fields: Map<String, Value>,
}

impl Collect {
    fn put(&mut self, field: &Field, value: Value) {
        let value = if is_secret_field(field.name()) {
            Value::from(REDACTED)
        } else {
            value
        };
        self.fields.insert(field.name().to_owned(), value);
    }
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.put(field, Value::from(truncate(text)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let text = if value.len() > MAX_MESSAGE_BYTES {
            truncate(value.to_owned())
        } else {
            value.to_owned()
        };
        self.put(field, Value::from(text));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_messages_cut() {
        let buffer = Arc::new(LogBuffer::default());
        let subscriber = tracing_subscriber::registry().with(RingLayer::new(buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("conn", peer = "192.0.2.1:5000", token = "abc");
            let _entered = span.enter();
            let long = "x".repeat(5000);
            tracing::warn!(
                password = "hunter2",
                stream_key = "s3cr3t",
                keyframe = true,
                "publish {long}"
            );
        });
        let (lines, _) = buffer.since(None);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line.level, "WARN");
        assert!(line.message.starts_with("publish xxx"));
        assert!(line.message.len() <= MAX_MESSAGE_BYTES + 3);
        assert_eq!(line.fields["password"], REDACTED);
        assert_eq!(line.fields["stream_key"], REDACTED);
        assert_eq!(line.fields["token"], REDACTED);
        assert_eq!(line.fields["keyframe"], true);
        assert_eq!(line.fields["peer"], "192.0.2.1:5000");
        let text = serde_json::to_string(&lines).unwrap_or_default();
        assert!(!text.contains("hunter2") && !text.contains("s3cr3t") && !text.contains("abc"));
    }

    #[test]
    fn secret_names() {
        for name in [
            "password",
            "stream_key",
            "api.token",
            "client_secret",
            "Authorization",
            "key",
        ] {
            assert!(is_secret_field(name), "{name}");
        }
        for name in ["keyframe", "stream", "peer", "monkey"] {
            assert!(!is_secret_field(name), "{name}");
        }
    }
}
