//! The supervisor: the one owner of a running server.
//!
//! [`Supervisor::start`] builds everything a server is made of and keeps it: the
//! configuration store, the stream registry, the metrics, the recent-log buffer,
//! the management API's auth state (sessions, failure counts) and the listeners
//! ([`Listeners`]). Nothing below it points back up: the media listeners get the
//! [`ServerState`] handles they read, the RTMP port the registry and metrics, and
//! the management API an [`ApiState`] that reaches the server only through the
//! [`ServerControl`] trait, which the supervisor implements.
//!
//! Every configuration change goes through [`Supervisor::update_config`] (the
//! API, and edits made to the file by others, [`Supervisor::follow_config_file`]).
//! Two supervisors in one process share nothing.
//!
//! The API listener's state holds the supervisor (the API can rebind its own
//! port), so [`Supervisor::shutdown`] is what ends a server: it stops every
//! listener and stream and drops those handles.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::task::JoinHandle;

use crate::api::auth::{self, AuthState};
use crate::api::control::{ConfigEdit, ServerControl, StreamRuntime};
use crate::api::error::ApiError;
use crate::api::{Api, ApiState};
use crate::config::Config;
use crate::config_store::{ConfigStore, Refusal, UpdateError};
use crate::listeners::{Listeners, Prepared, Services};
use crate::logs::LogBuffer;
use crate::metrics::prometheus::StreamCounts;
use crate::metrics::Metrics;
use crate::state::{BoundPorts, ServerState};
use crate::stream::{Registry, StreamState};

/// How often the configuration file is checked for edits made outside the API.
const CONFIG_FILE_POLL: Duration = Duration::from_secs(2);

/// A running server and everything it owns.
#[derive(Debug)]
pub struct Supervisor {
    state: Arc<ServerState>,
    logs: Arc<LogBuffer>,
    /// The management API's sessions and failure counts: kept here so they
    /// survive the API listener being rebound to a new address.
    auth: Arc<AuthState>,
    listeners: Listeners,
    /// Every recording ([`crate::recording`]).
    recorder: Arc<crate::recording::Recorder>,
    /// Every push out ([`crate::push`]).
    pusher: Arc<crate::push::Pusher>,
    /// Serialises whole configuration changes (bind, save, swap, reconcile).
    changing: Mutex<()>,
    /// The task following the configuration file.
    follower: Mutex<Option<JoinHandle<()>>>,
    started_at: SystemTime,
    started: Instant,
}

impl Supervisor {
    /// Binds what `config` asks for (a bad certificate or a taken port refuses
    /// the start, naming the key), starts its streams and every listener, and
    /// follows the configuration file when there is one. Must run inside the
    /// tokio runtime. `logs` is the buffer the API's log view serves.
    pub fn start(
        config: Config,
        config_path: Option<PathBuf>,
        logs: Arc<LogBuffer>,
    ) -> Result<Arc<Supervisor>, Refusal> {
        let store = Arc::new(ConfigStore::new(config, config_path));
        let config = store.current();
        let prepared = Prepared::bind(None, &config, &store.base_dir())?;
        let metrics = Arc::new(Metrics::default());
        let registry = Registry::start(&config, store.path(), metrics.clone());
        let state = Arc::new(ServerState::new(store, registry, metrics));
        let recorder = crate::recording::Recorder::start(
            state.registry.clone(),
            state.triggers.clone(),
            state.config.clone(),
            &state.metrics,
        );
        let pusher = crate::push::Pusher::start(
            state.registry.clone(),
            state.triggers.clone(),
            state.config.clone(),
            state.metrics.pushes.clone(),
        );
        let supervisor = Arc::new(Supervisor {
            state,
            recorder,
            pusher,
            logs,
            auth: auth::new_state(),
            listeners: Listeners::default(),
            changing: Mutex::new(()),
            follower: Mutex::new(None),
            started_at: SystemTime::now(),
            started: Instant::now(),
        });
        let api: ApiState = Arc::new(Api {
            server: supervisor.clone(),
            auth: supervisor.auth.clone(),
        });
        let services = Services {
            media: supervisor.state.clone(),
            api,
        };
        supervisor.listeners.start(services, prepared);
        if supervisor.state.config.path().is_some() {
            let follower = tokio::spawn(follow_config_file(supervisor.clone()));
            *supervisor
                .follower
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(follower);
        }
        Ok(supervisor)
    }

    /// The handles the media listeners share.
    pub fn state(&self) -> &Arc<ServerState> {
        &self.state
    }

    /// Edits the configuration: the edit is validated, new listen addresses are
    /// bound (and a new certificate loaded) before anything is saved — a failure
    /// refuses the whole change with [`UpdateError::Refused`] naming the key, old
    /// listeners kept — the file is saved atomically, then listeners and streams
    /// follow the new document: by the time this returns, new listeners accept,
    /// old ones no longer do, and every added or changed stream is in the registry
    /// (at least `Starting`), removed ones gone with their viewers and publisher
    /// disconnected.
    ///
    /// Synchronous (binding is), callable from an async handler inside the runtime.
    pub fn update_config<E>(
        &self,
        edit: impl FnOnce(&mut Config) -> Result<(), E>,
    ) -> Result<Arc<Config>, UpdateError<E>> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let rebinds = self.listeners.is_started();
        let store = &self.state.config;
        let base = store.base_dir();
        let mut prepared: Option<Prepared> = None;
        let new = store.update(edit, |old, new| {
            if rebinds {
                prepared = Some(Prepared::bind(Some(old), new, &base)?);
            }
            Ok(())
        })?;
        if let Some(prepared) = prepared.filter(|p| !p.is_empty()) {
            self.listeners.apply(prepared);
        }
        self.state.registry.reconcile(&new);
        Ok(new)
    }

    /// Stops the server: the configuration file is no longer followed, every
    /// listener stops (the Unix socket file is removed) and every stream is
    /// stopped, disconnecting its viewers and publisher.
    pub fn shutdown(&self) {
        if let Some(follower) = self
            .follower
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            follower.abort();
        }
        self.listeners.stop_all();
        self.recorder.shutdown();
        self.pusher.shutdown();
        for name in self.state.registry.names() {
            self.state.registry.remove(&name);
        }
    }
}

impl ServerControl for Supervisor {
    fn config(&self) -> Arc<Config> {
        self.state.config.current()
    }

    fn config_path(&self) -> Option<PathBuf> {
        self.state.config.path().map(PathBuf::from)
    }

    fn apply_config(&self, edit: ConfigEdit<'_>) -> Result<Arc<Config>, UpdateError<ApiError>> {
        self.update_config(edit)
    }

    fn stream_runtime(&self, name: &str) -> StreamRuntime {
        let entry = self.state.registry.get(name).filter(|e| !e.is_stopped());
        StreamRuntime {
            state: entry
                .as_ref()
                .map_or(StreamState::Starting, |entry| entry.state()),
            online_since: entry.as_ref().and_then(|e| e.online_since()),
            stats: self.state.metrics.stream_stats(name),
        }
    }

    fn stream_counts(&self) -> StreamCounts {
        let registry = &self.state.registry;
        let mut counts = StreamCounts::default();
        for name in registry.names() {
            let Some(entry) = registry.get(&name) else {
                continue;
            };
            counts.streams += 1;
            match entry.state() {
                StreamState::Live(_) => {
                    counts.online += 1;
                    if entry.config.source.starts_with("push://") {
                        counts.publishers += 1;
                    }
                }
                StreamState::Vod(_) => counts.online += 1,
                _ => {}
            }
        }
        counts
    }

    fn ports(&self) -> BoundPorts {
        self.state.ports()
    }

    fn started_at(&self) -> SystemTime {
        self.started_at
    }

    fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    fn logs(&self) -> &LogBuffer {
        &self.logs
    }

    fn recorder(&self) -> &Arc<crate::recording::Recorder> {
        &self.recorder
    }

    fn pusher(&self) -> &Arc<crate::push::Pusher> {
        &self.pusher
    }
}

/// Applies edits that others make to the configuration file (an account added by
/// `brume passwd`, a hand edit) as if they came through the API: validated, bound,
/// streams reconciled. Without this, the next API change would save the running
/// configuration over them. A file that does not parse is reported once and the
/// running configuration kept.
async fn follow_config_file(supervisor: Arc<Supervisor>) {
    let mut tick = tokio::time::interval(CONFIG_FILE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let checked = {
            let supervisor = supervisor.clone();
            tokio::task::spawn_blocking(move || {
                let disk = supervisor.state.config.changed_on_disk()?;
                Some(disk.map(|disk| {
                    supervisor.update_config(|config| {
                        *config = disk;
                        Ok::<(), std::convert::Infallible>(())
                    })
                }))
            })
            .await
        };
        match checked {
            Ok(None) => {}
            Ok(Some(Ok(Ok(_)))) => {
                tracing::info!("configuration file changed on disk; applied")
            }
            Ok(Some(Ok(Err(err)))) => tracing::warn!(
                %err,
                "configuration file changed on disk but cannot be applied; keeping the running configuration"
            ),
            Ok(Some(Err(err))) => tracing::warn!(
                %err,
                "configuration file changed on disk but is invalid; keeping the running configuration"
            ),
            Err(err) => tracing::warn!(%err, "configuration file check failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn config() -> Config {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = Config::default();
        config.http.listen = any;
        config.rtmp.listen = any;
        config.api.listen = any;
        config.streams.clear();
        config
    }

    /// One HTTP/1.1 exchange; returns the status code and the whole answer.
    async fn exchange(address: SocketAddr, request: String) -> (u16, String) {
        let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let status = answer
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        (status, answer)
    }

    async fn api(
        server: &Supervisor,
        method: &str,
        path: &str,
        cookie: &str,
        body: &str,
    ) -> (u16, String) {
        let address = server.ports().api.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{cookie}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        exchange(address, request).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_servers_in_one_process_share_nothing() {
        let logs = || Arc::new(LogBuffer::default());
        let a = Supervisor::start(config(), None, logs()).unwrap();
        let b = Supervisor::start(config(), None, logs()).unwrap();
        assert_ne!(a.ports().api, b.ports().api);

        // A stream added to one server is not on the other.
        let (code, _) = api(
            &a,
            "PUT",
            "/api/v1/streams/only_a",
            "",
            r#"{"source":"push://"}"#,
        )
        .await;
        assert_eq!(code, 201);
        let (_, listed) = api(&b, "GET", "/api/v1/streams", "", "").await;
        assert!(!listed.contains("only_a"), "{listed}");
        let (_, listed) = api(&a, "GET", "/api/v1/streams", "", "").await;
        assert!(listed.contains("only_a"), "{listed}");

        // Requests to one media port count on that server only.
        let http = a.state().ports().http.unwrap();
        let (code, _) = exchange(
            http,
            "GET /nothing.mp4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
        )
        .await;
        assert_eq!(code, 404);
        assert_eq!(a.state().metrics.totals().requests, 1);
        assert_eq!(b.state().metrics.totals().requests, 0);

        // Same account on both (each with its own setup token); a session
        // opened on one is unknown to the other.
        for server in [&a, &b] {
            let token = server.auth.setup_token();
            let body =
                format!(r#"{{"password":"correct horse battery staple","setup_token":"{token}"}}"#);
            let (code, answer) = api(server, "PUT", "/api/v1/accounts/admin", "", &body).await;
            assert_eq!(code, 201, "{answer}");
        }
        let login = r#"{"username":"admin","password":"correct horse battery staple"}"#;
        let (code, answer) = api(&a, "POST", "/api/v1/login", "", login).await;
        assert_eq!(code, 200, "{answer}");
        let token = answer
            .lines()
            .find_map(|l| l.strip_prefix("set-cookie: brume_session="))
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        let cookie = format!("Cookie: brume_session={token}\r\n");
        assert_eq!(api(&a, "GET", "/api/v1/streams", &cookie, "").await.0, 200);
        assert_eq!(api(&b, "GET", "/api/v1/streams", &cookie, "").await.0, 401);

        // Shutting one down leaves the other serving.
        a.shutdown();
        // The aborted accept loop closes its socket as soon as the runtime drops it.
        let closed = async {
            while tokio::net::TcpStream::connect(http).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("the media port of a stopped server still accepts");
        assert_eq!(api(&b, "GET", "/api/v1/streams", &cookie, "").await.0, 401);
        b.shutdown();
    }
}
