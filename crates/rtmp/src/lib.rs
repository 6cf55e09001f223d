//! brume-rtmp: RTMP as sans-IO state machines (server, and a publishing client). Bytes and
//! `now` go in; bytes to send, [`Event`]s and deadlines come out. No sockets,
//! no clock, no async runtime: the server crate drives it.
//!
//! * [`session`]: [`ServerSession`], one connection (start here).
//! * [`client`]: [`ClientSession`], publishing to another server (push out).
//! * [`handshake`]: C0/C1/C2 and S0/S1/S2, simple and digest variants.
//! * [`chunk`]: the chunk stream decoder and encoder, with its limits.
//! * [`control`]: protocol control and User Control messages.
//! * [`command`]: AMF0 commands and the replies to them (AMF0 itself is
//!   `brume_media::flv::amf0`).
//! * [`crypto`]: SHA-256 and HMAC-SHA-256 for the digest handshake.
//!
//! Media arrives as FLV tag bodies ([`Event::Media`]) for
//! `brume_media::flv::TagDemuxer`, and goes out to players the same way
//! ([`ServerSession::send_media`]).
//!
//! Limits (each one, exceeded, fails that session only):
//! [`chunk::decode::MAX_CHUNK_SIZE`], [`chunk::decode::MAX_MESSAGE_SIZE`],
//! [`chunk::decode::MAX_CHUNK_STREAMS`], [`chunk::decode::MAX_PENDING_BYTES`],
//! [`event::HANDSHAKE_TIMEOUT`], [`event::IDLE_TIMEOUT`],
//! [`event::MAX_MESSAGE_STREAMS`], [`event::MAX_QUEUED_EVENTS`],
//! [`session::MAX_HELD_BYTES`].

pub mod chunk;
pub mod client;
pub mod command;
pub mod control;
pub mod crypto;
pub mod error;
pub mod event;
pub mod handshake;
pub mod session;

pub use brume_media::flv::Amf0Value;
pub use chunk::ChunkLimits;
pub use client::{ClientEvent, ClientSession};
pub use error::RtmpError;
pub use event::{Event, MediaKind, RejectCode, SessionConfig};
pub use handshake::HandshakeMode;
pub use session::ServerSession;
