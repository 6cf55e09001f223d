//! The `webrtc` section of the configuration: the UDP address every WebRTC
//! session shares and the addresses announced to browsers.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

/// The UDP port WebRTC uses unless configured otherwise.
pub const DEFAULT_PORT: u16 = 8189;

/// `"webrtc": {"listen": "0.0.0.0:8189", "public_ip": ["203.0.113.7"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebRtcConfig {
    /// The one UDP socket of every session (playback and ingest).
    pub listen: SocketAddr,
    /// Addresses browsers reach that socket under (one string or a list), when
    /// `listen`'s address is not it (NAT, a wildcard address). Announced with
    /// `listen`'s port.
    #[serde(
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub public_ip: Vec<IpAddr>,
}

impl Default for WebRtcConfig {
    fn default() -> Self {
        WebRtcConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            public_ip: Vec::new(),
        }
    }
}

impl WebRtcConfig {
    /// What is wrong with the section, as (key, message).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(ip) = self.public_ip.iter().find(|ip| ip.is_unspecified()) {
            return Err((
                "webrtc.public_ip",
                format!("{ip} names no host: give the address browsers reach"),
            ));
        }
        Ok(())
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(IpAddr),
        Many(Vec<IpAddr>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(ip) => vec![ip],
        OneOrMany::Many(ips) => ips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ip_is_one_address_or_a_list() {
        let one: WebRtcConfig =
            serde_json::from_str(r#"{"public_ip": "203.0.113.7"}"#).expect("one");
        assert_eq!(one.public_ip.len(), 1);
        assert_eq!(one.listen.port(), DEFAULT_PORT);
        let many: WebRtcConfig = serde_json::from_str(
            r#"{"listen": "127.0.0.1:0", "public_ip": ["203.0.113.7", "2001:db8::1"]}"#,
        )
        .expect("many");
        assert_eq!(many.public_ip.len(), 2);
        assert!(serde_json::from_str::<WebRtcConfig>(r#"{"public": 1}"#).is_err());
        let wildcard: WebRtcConfig =
            serde_json::from_str(r#"{"public_ip": "0.0.0.0"}"#).expect("parses");
        assert_eq!(wildcard.check().unwrap_err().0, "webrtc.public_ip");
    }
}
