//! What the media plane of one server shares: the configuration store, the stream
//! registry, the metrics, the RTMP password-failure counts, the protocol buffer
//! budget and the addresses the listeners are bound to.
//!
//! One [`ServerState`] is built by the supervisor ([`crate::supervisor`]) and
//! handed, as an `Arc`, to the media listeners (HTTP, HTTPS, Unix socket), which
//! read the current configuration and the registry from it. It holds no
//! listeners and changes nothing by itself: configuration changes go through
//! [`crate::supervisor::Supervisor::update_config`].

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use crate::buffer_budget::BufferBudget;
use crate::config_store::ConfigStore;
use crate::failures::FailureLimiter;
use crate::metrics::Metrics;
use crate::stream::Registry;

/// The addresses the listeners are bound to right now (`None`: not listening).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundPorts {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub rtmp: Option<SocketAddr>,
    pub webrtc: Option<SocketAddr>,
    pub api: Option<SocketAddr>,
}

/// The handles every media listener and request reads.
#[derive(Debug)]
pub struct ServerState {
    pub config: Arc<ConfigStore>,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    /// Wrong RTMP stream passwords per client: kept here, so rebinding the RTMP
    /// port does not forget them.
    pub publish_failures: Arc<FailureLimiter>,
    /// Memory all connections' protocol buffers hold together (the metrics'
    /// own, so /metrics shows it).
    pub buffer_budget: Arc<BufferBudget>,
    /// Trigger handlers ([`crate::triggers`]).
    pub triggers: Arc<crate::triggers::Triggers>,
    /// Viewer admission: access modes and USER_NEW ([`crate::access`]).
    pub access: Arc<crate::access::Admission>,
    ports: RwLock<BoundPorts>,
    /// The WebRTC service, while the configuration has a `webrtc` section.
    webrtc: RwLock<Option<Arc<crate::webrtc::WebRtc>>>,
}

impl ServerState {
    pub fn new(
        config: Arc<ConfigStore>,
        registry: Arc<Registry>,
        metrics: Arc<Metrics>,
    ) -> ServerState {
        let triggers = Arc::new(crate::triggers::Triggers::new(
            config.clone(),
            metrics.trigger_calls.clone(),
        ));
        ServerState {
            access: Arc::new(crate::access::Admission::new(
                config.clone(),
                triggers.clone(),
            )),
            triggers,
            config,
            registry,
            publish_failures: Arc::new(FailureLimiter::new(
                crate::rtmp::MAX_PUBLISH_FAILURES,
                crate::rtmp::PUBLISH_FAILURE_WINDOW,
            )),
            buffer_budget: metrics.protocol_buffers.clone(),
            metrics,
            ports: RwLock::new(BoundPorts::default()),
            webrtc: RwLock::new(None),
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

    /// The WebRTC service, if it runs.
    pub fn webrtc(&self) -> Option<Arc<crate::webrtc::WebRtc>> {
        self.webrtc
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the WebRTC service (`None`: WebRTC off); the old one stops.
    pub fn set_webrtc(&self, webrtc: Option<Arc<crate::webrtc::WebRtc>>) {
        *self.webrtc.write().unwrap_or_else(|p| p.into_inner()) = webrtc;
    }

    /// The RTMP port, for RTMP URLs in stream info (0 when RTMP is off).
    pub fn rtmp_port(&self) -> u16 {
        self.ports().rtmp.map_or(0, |a| a.port())
    }
}
