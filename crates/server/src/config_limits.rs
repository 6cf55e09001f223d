//! The `limits` section of the configuration: connection caps per listener and
//! the memory budget of protocol buffers.
//!
//! ```json
//! "limits": {
//!   "http":  {"max_connections": 16384, "max_per_ip": 256},
//!   "https": {"max_connections": 16384, "max_per_ip": 256},
//!   "api":   {"max_connections": 256,   "max_per_ip": 64},
//!   "unix_socket": {"max_connections": 16384},
//!   "rtmp":  {"max_connections": 1000,  "max_per_ip": 50},
//!   "protocol_buffer_bytes": 268435456
//! }
//! ```
//!
//! Each key may be left out (its default applies). `max_per_ip` counts an IPv4
//! address, or an IPv6 /64, as one client; on the HTTP ports (media and API) a
//! peer in `trusted_proxies` is not held to it (a proxy carries many clients).
//! A connection over a cap is refused as soon as it is accepted and counted in
//! `brume_refused_total{listener, reason="max_connections"|"max_per_ip"}`.
//! Limits are read for every new connection, so a change applies at once to
//! connections accepted after it.

use serde::{Deserialize, Serialize};

/// Default `limits.http` / `limits.https` / `limits.unix_socket` `max_connections`.
pub const DEFAULT_MEDIA_CONNECTIONS: usize = 16_384;
/// Default `max_per_ip` of the media ports.
pub const DEFAULT_MEDIA_PER_IP: usize = 256;
/// Default `limits.api.max_connections`.
pub const DEFAULT_API_CONNECTIONS: usize = 256;
/// Default `limits.api.max_per_ip`.
pub const DEFAULT_API_PER_IP: usize = 64;
/// Default `limits.rtmp.max_connections`.
pub const DEFAULT_RTMP_CONNECTIONS: usize = 1000;
/// Default `limits.rtmp.max_per_ip`.
pub const DEFAULT_RTMP_PER_IP: usize = 50;
/// Default `limits.protocol_buffer_bytes`: 256 MiB.
pub const DEFAULT_PROTOCOL_BUFFER_BYTES: u64 = 256 * 1024 * 1024;
/// Smallest accepted `limits.protocol_buffer_bytes`.
pub const MIN_PROTOCOL_BUFFER_BYTES: u64 = 1024 * 1024;

/// Connection caps and buffer budget, as written in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    #[serde(skip_serializing_if = "ListenerLimits::is_unset")]
    pub http: ListenerLimits,
    #[serde(skip_serializing_if = "ListenerLimits::is_unset")]
    pub https: ListenerLimits,
    #[serde(skip_serializing_if = "ListenerLimits::is_unset")]
    pub api: ListenerLimits,
    #[serde(skip_serializing_if = "SocketLimits::is_unset")]
    pub unix_socket: SocketLimits,
    #[serde(skip_serializing_if = "ListenerLimits::is_unset")]
    pub rtmp: ListenerLimits,
    /// Bytes all connections together may hold in partly received protocol
    /// messages (RTMP reassembly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_buffer_bytes: Option<u64>,
}

impl LimitsConfig {
    pub fn is_default(&self) -> bool {
        *self == LimitsConfig::default()
    }

    /// Refuses a zero cap (it would refuse every connection, the management
    /// port's included) and a budget too small for one ordinary message:
    /// `(key path, why)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        let listeners = [
            ("http", self.http),
            ("https", self.https),
            ("api", self.api),
            ("rtmp", self.rtmp),
        ];
        let caps = listeners
            .iter()
            .flat_map(|(name, limits)| {
                [
                    (
                        format!("limits.{name}.max_connections"),
                        limits.max_connections,
                    ),
                    (format!("limits.{name}.max_per_ip"), limits.max_per_ip),
                ]
            })
            .chain([(
                "limits.unix_socket.max_connections".to_owned(),
                self.unix_socket.max_connections,
            )]);
        for (key, value) in caps {
            if value == Some(0) {
                return Err((key, "must be at least 1".to_owned()));
            }
        }
        if self
            .protocol_buffer_bytes
            .is_some_and(|b| b < MIN_PROTOCOL_BUFFER_BYTES)
        {
            return Err((
                "limits.protocol_buffer_bytes".to_owned(),
                format!("must be at least {MIN_PROTOCOL_BUFFER_BYTES} (1 MiB)"),
            ));
        }
        Ok(())
    }

    /// The HTTP media port's caps.
    pub fn http(&self) -> Caps {
        self.http
            .resolve(DEFAULT_MEDIA_CONNECTIONS, DEFAULT_MEDIA_PER_IP)
    }

    /// The HTTPS media port's caps.
    pub fn https(&self) -> Caps {
        self.https
            .resolve(DEFAULT_MEDIA_CONNECTIONS, DEFAULT_MEDIA_PER_IP)
    }

    /// The management port's caps.
    pub fn api(&self) -> Caps {
        self.api
            .resolve(DEFAULT_API_CONNECTIONS, DEFAULT_API_PER_IP)
    }

    /// The Unix socket's cap (its peers have no address: no per-client cap).
    pub fn unix_socket(&self) -> Caps {
        Caps {
            max_connections: self
                .unix_socket
                .max_connections
                .unwrap_or(DEFAULT_MEDIA_CONNECTIONS),
            max_per_ip: usize::MAX,
        }
    }

    /// The RTMP port's caps.
    pub fn rtmp(&self) -> Caps {
        self.rtmp
            .resolve(DEFAULT_RTMP_CONNECTIONS, DEFAULT_RTMP_PER_IP)
    }

    /// The protocol buffer budget in force.
    pub fn protocol_buffer_bytes(&self) -> u64 {
        self.protocol_buffer_bytes
            .unwrap_or(DEFAULT_PROTOCOL_BUFFER_BYTES)
    }
}

/// Caps of one TCP listener as written (a missing key takes its default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerLimits {
    /// Connections open at once on the listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Connections open at once from one client (IPv4 address or IPv6 /64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_per_ip: Option<usize>,
}

impl ListenerLimits {
    fn is_unset(&self) -> bool {
        *self == ListenerLimits::default()
    }

    fn resolve(&self, connections: usize, per_ip: usize) -> Caps {
        Caps {
            max_connections: self.max_connections.unwrap_or(connections),
            max_per_ip: self.max_per_ip.unwrap_or(per_ip),
        }
    }
}

/// The Unix socket's cap as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocketLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
}

impl SocketLimits {
    fn is_unset(&self) -> bool {
        *self == SocketLimits::default()
    }
}

/// The caps in force on one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once from one client.
    pub max_per_ip: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_each_listeners_default() {
        let limits: LimitsConfig = serde_json::from_str(
            r#"{"http": {"max_per_ip": 2}, "unix_socket": {"max_connections": 7}}"#,
        )
        .unwrap();
        assert_eq!(
            limits.http(),
            Caps {
                max_connections: DEFAULT_MEDIA_CONNECTIONS,
                max_per_ip: 2
            }
        );
        assert_eq!(limits.unix_socket().max_connections, 7);
        assert_eq!(limits.rtmp().max_per_ip, DEFAULT_RTMP_PER_IP);
        assert_eq!(limits.api().max_connections, DEFAULT_API_CONNECTIONS);
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(
            json,
            r#"{"http":{"max_per_ip":2},"unix_socket":{"max_connections":7}}"#
        );
        let bad = serde_json::from_str::<LimitsConfig>(r#"{"unix_socket": {"max_per_ip": 1}}"#);
        assert!(bad.is_err(), "the Unix socket has no per-client cap");
        assert_eq!(limits.check(), Ok(()));
    }

    #[test]
    fn zero_caps_and_tiny_budgets_are_refused_with_their_key() {
        let zero: LimitsConfig =
            serde_json::from_str(r#"{"api": {"max_connections": 0}}"#).unwrap();
        assert_eq!(zero.check().unwrap_err().0, "limits.api.max_connections");
        let tiny: LimitsConfig =
            serde_json::from_str(r#"{"protocol_buffer_bytes": 1000}"#).unwrap();
        assert_eq!(tiny.check().unwrap_err().0, "limits.protocol_buffer_bytes");
    }
}
