//! The network side every WebRTC session shares, WHEP viewer or WHIP publisher:
//! one str0m [`Rtc`] fed with the datagrams the shared UDP socket routed to it
//! and with its timers, and drained of what it wants sent. Each session keeps
//! only its media logic: it asks [`Peer::poll`] for the next event that is not
//! the peer's own business.

use std::sync::Arc;
use std::time::Instant;

use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::{Datagram, Inner};

/// A session's peer connection and the socket it sends through.
pub(super) struct Peer {
    pub rtc: Rtc,
    inner: Arc<Inner>,
    /// When the peer was last heard from (ICE consent).
    pub last_heard: Instant,
}

/// What [`Peer::poll`] found. Returned by value and matched at once, never
/// stored, so the size of an `Event` costs nothing to keep unboxed.
#[allow(clippy::large_enum_variant)]
pub(super) enum Polled {
    /// Nothing more to do until this instant (or the next datagram).
    Wake(Instant),
    /// The peer disconnected or the connection closed.
    Gone,
    /// An event for the session's own logic (media, keyframe requests, …).
    Event(Event),
}

impl Peer {
    pub fn new(rtc: Rtc, inner: Arc<Inner>, now: Instant) -> Peer {
        Peer {
            rtc,
            inner,
            last_heard: now,
        }
    }

    /// Hands one datagram from the shared socket to the Rtc. A datagram str0m
    /// cannot even classify is dropped; one it refuses ends the session.
    pub fn receive(&mut self, datagram: &Datagram) -> Result<(), &'static str> {
        self.last_heard = datagram.at;
        let Ok(contents) = datagram.data.as_slice().try_into() else {
            return Ok(());
        };
        let input = Input::Receive(
            datagram.at,
            Receive {
                proto: Protocol::Udp,
                source: datagram.source,
                destination: self.inner.local,
                contents,
            },
        );
        self.rtc.handle_input(input).map_err(|err| {
            tracing::debug!(%err, "peer input refused");
            "peer input refused"
        })
    }

    /// Tells the Rtc its timer fired.
    pub fn timeout(&mut self) -> Result<(), &'static str> {
        self.rtc
            .handle_input(Input::Timeout(Instant::now()))
            .map_err(|_| "timer refused")
    }

    /// Sends what the Rtc has to send until it yields a session event, wants to
    /// be woken, or is gone.
    pub async fn poll(&mut self) -> Result<Polled, &'static str> {
        loop {
            if !self.rtc.is_alive() {
                return Ok(Polled::Gone);
            }
            match self.rtc.poll_output() {
                Err(err) => {
                    tracing::debug!(%err, "session failed");
                    return Err("session failed");
                }
                Ok(Output::Timeout(at)) => return Ok(Polled::Wake(at)),
                Ok(Output::Transmit(transmit)) => {
                    if let Err(err) = self
                        .inner
                        .socket
                        .send_to(&transmit.contents, transmit.destination)
                        .await
                    {
                        tracing::debug!(%err, "WebRTC send failed");
                    }
                }
                Ok(Output::Event(
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected)
                    | Event::Closed,
                )) => return Ok(Polled::Gone),
                Ok(Output::Event(event)) => return Ok(Polled::Event(event)),
            }
        }
    }
}
