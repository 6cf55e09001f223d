//! The `limits` section of the configuration: connection caps per listener.
//!
//! ```json
//! "limits": {"rtmp": {"max_connections": 1000, "max_per_ip": 50}}
//! ```
//!
//! `max_per_ip` counts an IPv4 address, or an IPv6 /64, as one client. A
//! connection over a cap is closed as soon as it is accepted and counted in
//! `brume_refused_total{listener, reason="max_connections"|"max_per_ip"}`. Read
//! when the listener starts (a changed `rtmp.listen` applies new values).

use serde::{Deserialize, Serialize};

/// Connection caps, per listener.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub rtmp: ConnectionLimits,
}

impl LimitsConfig {
    pub fn is_default(&self) -> bool {
        *self == LimitsConfig::default()
    }
}

/// Caps of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once from one client (IPv4 address or IPv6 /64).
    pub max_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1000,
            max_per_ip: 50,
        }
    }
}
