//! Which session an incoming UDP datagram belongs to.
//!
//! Every session shares one socket. A datagram from an address a session already
//! uses goes to that session. Otherwise only a STUN binding request can open the
//! way: its USERNAME attribute is `<our ufrag>:<their ufrag>` (RFC 8445 §7.2.2),
//! and our ufrag names the session; its source address is then remembered for it.
//! Anything else from an unknown address is dropped. [`stun_username_ufrag`] is the
//! one parser here (fuzzed: `fuzz/fuzz_targets/webrtc_demux.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;

/// STUN's magic cookie (RFC 5389 §6).
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
/// The USERNAME attribute type.
const ATTR_USERNAME: u16 = 0x0006;
/// Longest USERNAME value (RFC 5389 §15.3: under 513 bytes).
const MAX_USERNAME: usize = 512;
/// Most remote addresses one session may be reached from (ICE checks from
/// several interfaces); further ones are refused.
pub const MAX_ADDRESSES_PER_SESSION: usize = 8;

/// Whether the first byte says STUN (RFC 7983: 0 to 3).
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|&b| b < 4)
}

/// Our ufrag from a STUN message's USERNAME attribute (the part before `:`), or
/// `None` when the datagram is not a well-formed STUN message carrying one.
pub fn stun_username_ufrag(datagram: &[u8]) -> Option<&str> {
    if datagram.len() < 20 || !is_stun(datagram) || datagram[4..8] != MAGIC_COOKIE {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
    let body = datagram.get(20..20 + length)?;
    let mut rest = body;
    while rest.len() >= 4 {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let value = rest.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            if len > MAX_USERNAME {
                return None;
            }
            let username = std::str::from_utf8(value).ok()?;
            let (ours, _theirs) = username.split_once(':')?;
            return (!ours.is_empty()).then_some(ours);
        }
        let padded = len.div_ceil(4) * 4;
        rest = rest.get(4 + padded..)?;
    }
    None
}

/// The routing table: ufrag and remote addresses to a session key.
#[derive(Debug, Default)]
pub struct Demux<K> {
    by_ufrag: HashMap<String, K>,
    by_address: HashMap<SocketAddr, K>,
    addresses: HashMap<K, Vec<SocketAddr>>,
}

impl<K: Copy + Eq + std::hash::Hash> Demux<K> {
    pub fn insert(&mut self, ufrag: String, key: K) {
        self.by_ufrag.insert(ufrag, key);
        self.addresses.entry(key).or_default();
    }

    /// Forgets the session and every address it was reached from.
    pub fn remove(&mut self, ufrag: &str, key: K) {
        self.by_ufrag.remove(ufrag);
        for address in self.addresses.remove(&key).unwrap_or_default() {
            self.by_address.remove(&address);
        }
    }

    /// The session `datagram` from `source` belongs to, if any.
    pub fn route(&mut self, source: SocketAddr, datagram: &[u8]) -> Option<K> {
        if let Some(&key) = self.by_address.get(&source) {
            return Some(key);
        }
        let ufrag = stun_username_ufrag(datagram)?;
        let key = *self.by_ufrag.get(ufrag)?;
        let known = self.addresses.entry(key).or_default();
        if known.len() >= MAX_ADDRESSES_PER_SESSION {
            return None;
        }
        known.push(source);
        self.by_address.insert(source, key);
        Some(key)
    }

    /// Sessions routed to.
    pub fn len(&self) -> usize {
        self.by_ufrag.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ufrag.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&0x8022u16.to_be_bytes()); // SOFTWARE, before USERNAME
        attrs.extend_from_slice(&3u16.to_be_bytes());
        attrs.extend_from_slice(b"abc\0");
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut message = vec![0x00, 0x01];
        message.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        message.extend_from_slice(&MAGIC_COOKIE);
        message.extend_from_slice(&[7; 12]);
        message.extend_from_slice(&attrs);
        message
    }

    #[test]
    fn a_binding_request_names_its_session_and_its_address_follows() {
        let mut demux = Demux::default();
        demux.insert("ours1".to_owned(), 1u64);
        demux.insert("ours2".to_owned(), 2u64);
        let from: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert_eq!(demux.route(from, &[0x80, 0, 0, 0]), None, "RTP before ICE");
        assert_eq!(demux.route(from, &binding_request("ours2:theirs")), Some(2));
        assert_eq!(demux.route(from, &[0x80, 0, 0, 0]), Some(2));
        demux.remove("ours2", 2);
        assert_eq!(demux.route(from, &[0x80, 0, 0, 0]), None);
        assert_eq!(demux.len(), 1);
    }

    #[test]
    fn malformed_stun_names_nobody() {
        let good = binding_request("ours:theirs");
        assert_eq!(stun_username_ufrag(&good), Some("ours"));
        for cut in 0..good.len() {
            let _ = stun_username_ufrag(&good[..cut]);
        }
        let mut long = good.clone();
        long[3] = 0xff;
        assert_eq!(stun_username_ufrag(&long), None);
        assert_eq!(stun_username_ufrag(&binding_request(":theirs")), None);
        assert_eq!(stun_username_ufrag(&binding_request("nocolon")), None);
        assert_eq!(stun_username_ufrag(&[0x16; 40]), None, "DTLS");
    }
}
