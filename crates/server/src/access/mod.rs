//! Viewer admission: the one place that decides whether a viewer may watch a
//! stream, asked where a viewer session starts (HLS/CMAF/DASH playlists,
//! progressive MP4/TS/FLV, MEWS WebSockets, RTMP play, WHEP offers) — never for
//! segments, which stay cacheable by any CDN.
//!
//! In order: the stream's `ip_deny` and `ip_allow` lists, its `access` mode
//! (`token`: a signed URL, [`token`]; `trigger`: a blocking `USER_NEW` handler
//! must exist), then the `USER_NEW` trigger if one is configured.
//!
//! With a `USER_NEW` trigger, the site's backend decides, once per viewer
//! session. A session is (stream, connector, client address, User-Agent), hashed
//! with a per-process random key into the hexadecimal session id the payload
//! carries: a player's many playlist requests are one session, so the backend is
//! asked once, and its answer holds while the session lasts. A session ends
//! [`SESSION_IDLE`] after its last admission check and once no connection holds
//! it ([`Admitted`]: a progressive body, an RTMP player); `USER_END` and
//! `CONN_CLOSE` are fired then, as `CONN_OPEN` is when it starts.

pub mod carry;
pub mod config;
pub mod http;
pub mod token;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::metrics::Protocol;
use crate::triggers::{payload, Event, Triggers};

/// A session without an admission check for this long is over.
pub const SESSION_IDLE: Duration = Duration::from_secs(30);
/// Most sessions remembered at once; past it (a flood of addresses) viewers are
/// still asked about, one request at a time, without a session.
pub const MAX_SESSIONS: usize = 100_000;
/// How often ended sessions are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Who asks to watch what.
#[derive(Debug, Clone, Copy)]
pub struct ViewerRequest<'a> {
    pub stream: &'a str,
    pub ip: IpAddr,
    pub connector: Protocol,
    /// The request's path and query (RTMP: the play URL).
    pub url: &'a str,
    pub user_agent: &'a str,
    /// The signed-URL token the request carried (`tkn`).
    pub token: Option<&'a str>,
}

/// Why a viewer was refused (said to the viewer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("access denied: the site's USER_NEW check refused this viewer")]
    Trigger,
    #[error("access denied: this stream is only for viewers the site admits, and no USER_NEW trigger is configured")]
    NoTrigger,
    #[error("access denied: your address may not watch this stream")]
    Address,
    #[error("access denied: {0}")]
    Token(#[from] token::TokenError),
}

#[derive(Debug)]
struct Session {
    /// Its key in the table.
    key: u64,
    number: u64,
    id: String,
    stream: String,
    connector: Protocol,
    ip: IpAddr,
    started: Instant,
    /// Milliseconds after `started` of the last check.
    last_seen_ms: AtomicU64,
    /// Connections holding the session open ([`Admitted`]).
    open: AtomicUsize,
    /// Bytes sent through the connections that held it.
    sent: AtomicU64,
    /// The first request's URL (for CONN_OPEN/CONN_CLOSE).
    url: String,
    allowed: OnceCell<bool>,
}

impl Session {
    fn touch(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.started).as_millis() as u64;
        self.last_seen_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn idle(&self, now: Instant) -> bool {
        if self.open.load(Ordering::Relaxed) > 0 {
            return false;
        }
        let last = self.started + Duration::from_millis(self.last_seen_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last) >= SESSION_IDLE
    }
}

/// An admitted viewer; while kept (for a connection's life), its session stays
/// open.
#[derive(Debug, Default)]
pub struct Admitted {
    session: Option<(Arc<Session>, Weak<Admission>)>,
}

impl Admitted {
    /// Counts bytes sent to this viewer (for USER_END).
    pub fn sent(&self, bytes: u64) {
        if let Some((session, _)) = &self.session {
            session.sent.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some((session, admission)) = self.session.take() else {
            return;
        };
        let now = Instant::now();
        session.touch(now);
        let last = session.open.fetch_sub(1, Ordering::Relaxed) == 1;
        // A viewer whose connection held the session is done when it
        // disconnects; the others (polling players, and MEWS and WebRTC, whose
        // sockets outlive the request) end when idle.
        let held = matches!(
            session.connector,
            Protocol::Mp4 | Protocol::Ts | Protocol::Flv | Protocol::Rtmp
        );
        if last && held {
            if let Some(admission) = admission.upgrade() {
                admission.close(&session, now);
            }
        }
    }
}

/// The admission service (one per server).
#[derive(Debug)]
pub struct Admission {
    config: Arc<crate::config_store::ConfigStore>,
    triggers: Arc<Triggers>,
    sessions: Mutex<HashMap<u64, Arc<Session>>>,
    hasher: std::collections::hash_map::RandomState,
    next: AtomicU64,
    sweeping: AtomicBool,
}

impl Admission {
    pub fn new(
        config: Arc<crate::config_store::ConfigStore>,
        triggers: Arc<Triggers>,
    ) -> Admission {
        Admission {
            config,
            triggers,
            sessions: Mutex::new(HashMap::new()),
            hasher: Default::default(),
            next: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
        }
    }

    /// Decides whether `viewer` may watch.
    pub async fn admit(self: &Arc<Self>, viewer: &ViewerRequest<'_>) -> Result<Admitted, Refused> {
        if let Err(refused) = self.check_settings(viewer) {
            tracing::info!(
                stream = viewer.stream,
                connector = viewer.connector.as_str(),
                %refused,
                "viewer refused"
            );
            return Err(refused);
        }
        let asks = self.triggers.listens(Event::UserNew, Some(viewer.stream));
        let tracked = [Event::UserEnd, Event::ConnOpen, Event::ConnClose]
            .iter()
            .any(|e| self.triggers.listens(*e, Some(viewer.stream)));
        if !asks && !tracked {
            return Ok(Admitted::default());
        }
        let now = Instant::now();
        let session = self.session(viewer, now);
        let allowed = session
            .allowed
            .get_or_init(|| async {
                if !asks {
                    return true;
                }
                let number = session.number.to_string();
                let lines = [
                    viewer.stream,
                    &viewer.ip.to_string(),
                    &number,
                    viewer.connector.as_str(),
                    viewer.url,
                    &session.id,
                ];
                let answer = self
                    .triggers
                    .ask(Event::UserNew, Some(viewer.stream), &payload(&lines))
                    .await;
                answer.is_none_or(|a| a.is_positive())
            })
            .await;
        if *allowed {
            session.open.fetch_add(1, Ordering::Relaxed);
            Ok(Admitted {
                session: Some((session, Arc::downgrade(self))),
            })
        } else {
            tracing::info!(
                stream = viewer.stream,
                connector = viewer.connector.as_str(),
                "viewer refused by USER_NEW"
            );
            Err(Refused::Trigger)
        }
    }

    /// The stream's own rules: address lists and access mode.
    fn check_settings(&self, viewer: &ViewerRequest<'_>) -> Result<(), Refused> {
        let config = self.config.current();
        let Some(stream) = config.streams.get(viewer.stream) else {
            return Ok(());
        };
        let listed = |list: &[String]| {
            list.iter()
                .filter_map(|c| crate::net::Cidr::parse(c).ok())
                .any(|c| c.contains(viewer.ip))
        };
        if listed(&stream.ip_deny) || (!stream.ip_allow.is_empty() && !listed(&stream.ip_allow)) {
            return Err(Refused::Address);
        }
        match stream.access {
            config::AccessMode::Public => Ok(()),
            config::AccessMode::Token => {
                let key = config.tokens.key.as_deref().unwrap_or_default();
                let token = viewer.token.ok_or(token::TokenError::Missing)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                token::verify(key.as_bytes(), viewer.stream, token, now)?;
                Ok(())
            }
            config::AccessMode::Trigger => {
                if self.triggers.asks(Event::UserNew, Some(viewer.stream)) {
                    Ok(())
                } else {
                    Err(Refused::NoTrigger)
                }
            }
        }
    }

    /// The viewer's session, made if new (and tracked unless too many are).
    fn session(self: &Arc<Self>, viewer: &ViewerRequest<'_>, now: Instant) -> Arc<Session> {
        let key = self.hasher.hash_one((
            viewer.stream,
            viewer.connector,
            viewer.ip,
            viewer.user_agent,
        ));
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = sessions.get(&key) {
            if !session.idle(now) {
                session.touch(now);
                return session.clone();
            }
        }
        let session = Arc::new(Session {
            key,
            number: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            id: format!("{key:016x}"),
            stream: viewer.stream.to_owned(),
            connector: viewer.connector,
            ip: viewer.ip,
            started: now,
            last_seen_ms: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            url: viewer.url.to_owned(),
            allowed: OnceCell::new(),
        });
        if sessions.len() < MAX_SESSIONS {
            let old = sessions.insert(key, session.clone());
            drop(sessions);
            if let Some(old) = old {
                self.ended(&old, now);
            }
            self.connection(Event::ConnOpen, &session);
            self.start_sweeping();
        }
        session
    }

    fn start_sweeping(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Relaxed);
            return;
        };
        let weak: Weak<Admission> = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                let Some(admission) = weak.upgrade() else {
                    return;
                };
                admission.sweep(Instant::now());
            }
        });
    }

    /// Ends `session` now if no connection holds it any more.
    fn close(&self, session: &Arc<Session>, now: Instant) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let held = sessions
            .get(&session.key)
            .is_some_and(|s| Arc::ptr_eq(s, session));
        if !held || session.open.load(Ordering::Relaxed) > 0 {
            return;
        }
        sessions.remove(&session.key);
        drop(sessions);
        self.ended(session, now);
    }

    /// Ends the sessions that went idle.
    fn sweep(&self, now: Instant) {
        let mut ended = Vec::new();
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, s| {
                let idle = s.idle(now);
                if idle {
                    ended.push(s.clone());
                }
                !idle
            });
        for session in ended {
            self.ended(&session, now);
        }
    }

    /// CONN_OPEN / CONN_CLOSE: stream, address, connector, request URL.
    fn connection(&self, event: Event, session: &Session) {
        if !self.triggers.listens(event, Some(&session.stream)) {
            return;
        }
        let lines = [
            session.stream.as_str(),
            &session.ip.to_string(),
            session.connector.as_str(),
            &session.url,
        ];
        self.triggers
            .notify(event, Some(&session.stream), &payload(&lines));
    }

    fn ended(&self, session: &Session, now: Instant) {
        self.connection(Event::ConnClose, session);
        if !self.triggers.listens(Event::UserEnd, Some(&session.stream)) {
            return;
        }
        let last =
            session.started + Duration::from_millis(session.last_seen_ms.load(Ordering::Relaxed));
        let seconds = last
            .min(now)
            .saturating_duration_since(session.started)
            .as_secs();
        let lines = [
            session.id.as_str(),
            &session.stream,
            session.connector.as_str(),
            &session.ip.to_string(),
            &seconds.to_string(),
            "0",
            &session.sent.load(Ordering::Relaxed).to_string(),
            "",
        ];
        self.triggers
            .notify(Event::UserEnd, Some(&session.stream), &payload(&lines));
    }
}
