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
