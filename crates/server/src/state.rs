//! What the whole running server shares: configuration, streams, metrics, recent
//! logs and the addresses it is bound to.
//!
//! One [`ServerState`] is built at startup and handed (as an `Arc`) to every
//! listener: the media ports read the current configuration and the registry from
//! it, the management API edits the configuration through it
//! ([`ServerState::update_config`]), which rebinds listeners ([`Listeners`]) and
//! restarts streams ([`Registry::reconcile`]) so that a change takes effect at once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use crate::config::Config;
use crate::config_store::{ConfigStore, UpdateError};
use crate::listeners::{Listeners, Prepared};
use crate::logs::LogBuffer;
use crate::metrics::Metrics;
use crate::stream::Registry;

/// The addresses the listeners are bound to right now (`None`: not listening).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundPorts {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub rtmp: Option<SocketAddr>,
    pub api: Option<SocketAddr>,
}

/// The running server, shared by every listener and task.
#[derive(Debug)]
pub struct ServerState {
    pub config: Arc<ConfigStore>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub logs: Arc<LogBuffer>,
    /// Wall-clock start time (reported by the API).
    pub started_at: SystemTime,
    /// Monotonic start time (uptime).
    pub started: Instant,
    ports: RwLock<BoundPorts>,
    /// The running accept loops (started by [`crate::run`]).
    pub listeners: Listeners,
    /// Serialises whole configuration changes (bind, save, swap, reconcile).
    changing: Mutex<()>,
}

impl ServerState {
    pub fn new(
        config: Arc<ConfigStore>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
        logs: Arc<LogBuffer>,
    ) -> ServerState {
        ServerState {
            config,
            registry,
            metrics,
            logs,
            started_at: SystemTime::now(),
            started: Instant::now(),
            ports: RwLock::new(BoundPorts::default()),
            listeners: Listeners::default(),
            changing: Mutex::new(()),
        }
    }

    /// Where the listeners are bound now.
    pub fn ports(&self) -> BoundPorts {
        *self.ports.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a listener's (new) address.
    pub fn set_ports(&self, change: impl FnOnce(&mut BoundPorts)) {
        change(&mut self.ports.write().unwrap_or_else(|p| p.into_inner()));
    }

    /// Edits the configuration (the management API's only way to change it): the
    /// edit is validated, new listen addresses are bound (and a new certificate
    /// loaded) before anything is saved — a failure refuses the whole change with
    /// [`UpdateError::Refused`] naming the key, old listeners kept — the file is
    /// saved atomically, then listeners and streams follow the new document: by
    /// the time this returns, new listeners accept, old ones no longer do, and
    /// every added or changed stream is in the registry (at least `Starting`),
    /// removed ones gone with their viewers and publisher disconnected.
    ///
    /// Synchronous (binding is), callable from an async handler inside the runtime.
    pub fn update_config<E>(
        &self,
        edit: impl FnOnce(&mut Config) -> Result<(), E>,
    ) -> Result<Arc<Config>, UpdateError<E>> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let rebinds = self.listeners.is_started();
        let base = self.config.base_dir();
        let mut prepared: Option<Prepared> = None;
        let new = self.config.update(edit, |old, new| {
            if rebinds {
                prepared = Some(Prepared::bind(Some(old), new, &base)?);
            }
            Ok(())
        })?;
        if let Some(prepared) = prepared.filter(|p| !p.is_empty()) {
            self.listeners.apply(prepared);
        }
        self.registry.reconcile(&new);
        Ok(new)
    }

    /// The RTMP port, for RTMP URLs in stream info (0 when RTMP is off).
    pub fn rtmp_port(&self) -> u16 {
        self.ports().rtmp.map_or(0, |a| a.port())
    }
}

/// How often the configuration file is checked for edits made outside the API.
const CONFIG_FILE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Applies edits that others make to the configuration file (an account added by
/// `brume passwd`, a hand edit) as if they came through the API: validated, bound,
/// streams reconciled. Without this, the next API change would save the running
/// configuration over them. A file that does not parse is reported once and the
/// running configuration kept.
pub async fn follow_config_file(state: Arc<ServerState>) {
    if state.config.path().is_none() {
        return;
    }
    let mut tick = tokio::time::interval(CONFIG_FILE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let checked = {
            let state = state.clone();
            tokio::task::spawn_blocking(move || {
                let disk = state.config.changed_on_disk()?;
                Some(disk.map(|disk| {
                    state.update_config(|config| {
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
