//! Counting open connections of one listener against its caps
//! ([`crate::config_limits::ConnectionLimits`]): [`ConnectionCounter::admit`]
//! gives a [`Slot`] held for the connection's life, or says which cap is full.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::config_limits::ConnectionLimits;
use crate::failures::client_key;

/// Which cap refused a connection (its `reason` label in `brume_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CapFull {
    #[error("the listener has its maximum of connections open")]
    Listener,
    #[error("this client has its maximum of connections open")]
    PerIp,
}

impl CapFull {
    pub fn reason(self) -> &'static str {
        match self {
            CapFull::Listener => "max_connections",
            CapFull::PerIp => "max_per_ip",
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Open connections of one listener.
#[derive(Debug)]
pub struct ConnectionCounter {
    limits: ConnectionLimits,
    open: Mutex<Open>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot {
    counter: Arc<ConnectionCounter>,
    key: IpAddr,
}

impl ConnectionCounter {
    pub fn new(limits: ConnectionLimits) -> Arc<ConnectionCounter> {
        Arc::new(ConnectionCounter {
            limits,
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for a connection from `ip`, or the cap that is full.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, CapFull> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.total >= self.limits.max_connections {
            return Err(CapFull::Listener);
        }
        let mine = open.per_client.entry(key).or_default();
        if *mine >= self.limits.max_per_ip {
            return Err(CapFull::PerIp);
        }
        *mine += 1;
        open.total += 1;
        Ok(Slot {
            counter: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.per_client.get_mut(&self.key) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                open.per_client.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_enforced_and_freed() {
        let counter = ConnectionCounter::new(ConnectionLimits {
            max_connections: 3,
            max_per_ip: 2,
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = counter.admit(a).unwrap();
        let _second = counter.admit(a).unwrap();
        assert_eq!(counter.admit(a).unwrap_err(), CapFull::PerIp);
        let _third = counter.admit(b).unwrap();
        assert_eq!(counter.admit(b).unwrap_err(), CapFull::Listener);
        drop(first);
        assert!(counter.admit(a).is_ok());
    }
}
