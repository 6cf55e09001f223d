//! The network side every WebRTC session shares, WHEP viewer or WHIP publisher:
//! one str0m [`Rtc`] fed with the datagrams the shared UDP socket routed to it
//! and with its timers, and drained of what it wants sent. Each session keeps
//! only its media logic: it asks [`Peer::poll`] for the next event that is not
//! the peer's own business.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use rand::distr::{Alphanumeric, SampleString};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::sdp::OfferError;
use super::{Datagram, Entry, Inner, WebRtc, MAX_SESSIONS, SESSION_QUEUE};

/// An offer accepted by a fresh ICE-lite [`Rtc`], before the session registers.
pub(super) struct Negotiated {
    pub rtc: Rtc,
    pub answer: SdpAnswer,
    pub ufrag: String,
    /// The random name of the session's WHIP/WHEP resource URL.
    pub resource: String,
    pub now: Instant,
}

/// A session's place in the shared socket's table.
pub(super) struct Registered {
    pub key: u64,
    pub queue: mpsc::Receiver<Datagram>,
    pub stop: CancellationToken,
}

impl WebRtc {
    /// Makes an ICE-lite, H.264 + Opus [`Rtc`] with fresh credentials and the
    /// host candidates for `client`, and lets it accept `offer`.
    /// `video_send_buffer` sizes the resend buffer of a sending session.
    pub(super) fn negotiate(
        &self,
        offer: &str,
        client: IpAddr,
        video_send_buffer: Option<usize>,
    ) -> Result<Negotiated, OfferError> {
        let parsed =
            SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::Malformed(e.to_string()))?;
        let mut rng = rand::rng();
        let creds = IceCreds {
            ufrag: Alphanumeric.sample_string(&mut rng, 16),
            pass: Alphanumeric.sample_string(&mut rng, 32),
        };
        let resource = Alphanumeric.sample_string(&mut rng, 24);
        let now = Instant::now();
        let mut config = RtcConfig::new()
            .set_ice_lite(true)
            .set_crypto_provider(self.inner.crypto.clone())
            .set_local_ice_credentials(creds.clone())
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false);
        if let Some(packets) = video_send_buffer {
            config = config.set_send_buffer_video(packets);
        }
        let mut rtc = config.build(now);
        for address in self.candidate_addresses(client) {
            match Candidate::host(address, "udp") {
                Ok(candidate) => {
                    rtc.add_local_candidate(candidate);
                }
                Err(err) => tracing::warn!(%address, %err, "unusable WebRTC candidate address"),
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| OfferError::Malformed(e.to_string()))?;
        Ok(Negotiated {
            rtc,
            answer,
            ufrag: creds.ufrag,
            resource,
            now,
        })
    }
}

impl Inner {
    /// Enters a session in the table so datagrams for `ufrag` reach it; `None`
    /// when [`MAX_SESSIONS`] are running.
    pub(super) fn register(
        &self,
        stream: &str,
        ufrag: String,
        resource: &str,
    ) -> Option<Registered> {
        let (packets, queue) = mpsc::channel(SESSION_QUEUE);
        let stop = CancellationToken::new();
        let mut table = self.table();
        if table.sessions.len() >= MAX_SESSIONS {
            return None;
        }
        let key = table.next_key;
        table.next_key += 1;
        table.demux.insert(ufrag.clone(), key);
        table.by_resource.insert(resource.to_owned(), key);
        table.sessions.insert(
            key,
            Entry {
                resource: resource.to_owned(),
                stream: stream.to_owned(),
                ufrag,
                packets,
                stop: stop.clone(),
            },
        );
        Some(Registered { key, queue, stop })
    }
}

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
