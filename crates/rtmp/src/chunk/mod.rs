//! The RTMP chunk stream (RTMP 1.0 specification, section 5.3): messages cut
//! into chunks, chunks of several messages interleaved on numbered chunk
//! streams. [`ChunkDecoder`] reassembles the peer's messages, [`ChunkEncoder`]
//! cuts ours.
//!
//! ```text
//! basic header   fmt (2 bits) | csid (6 bits)       csid 2..=63
//!                fmt | 0 | csid - 64 (u8)            csid 64..=319
//!                fmt | 1 | csid - 64 (u16 LE)        csid 64..=65599
//! message header fmt 0: timestamp (u24) | length (u24) | type (u8) | stream id (u32 LE)
//!                fmt 1: timestamp delta (u24) | length (u24) | type (u8)
//!                fmt 2: timestamp delta (u24)
//!                fmt 3: nothing; repeats the chunk stream's previous header
//! extended ts    u32, when the 24-bit field is 0xFFFFFF; fmt 3 chunks repeat it
//!                while the chunk stream's last header had one
//! payload        min(chunk size, bytes left in the message)
//! ```

pub mod decode;
pub mod encode;
#[cfg(test)]
mod tests;

use bytes::Bytes;

pub use decode::{ChunkDecoder, ChunkLimits};
pub use encode::ChunkEncoder;

/// Chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk stream id the three-byte basic header can carry.
pub const MAX_CSID: u32 = 65_599;
/// Largest message length the 24-bit length field can carry.
pub const MAX_MESSAGE_LEN_FIELD: u32 = 0x00FF_FFFF;
/// The timestamp field value that announces an extended timestamp.
pub(crate) const EXTENDED_TIMESTAMP: u32 = 0x00FF_FFFF;

/// Message type ids (RTMP 1.0 specification, sections 5.4, 6.1 and 7.1).
pub mod message_type {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;
}

/// One reassembled RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The chunk stream it arrived on.
    pub csid: u32,
    /// Milliseconds, as the sender wrote them (32 bits, wrapping).
    pub timestamp: u32,
    pub type_id: u8,
    /// The message stream id (0 for the connection itself).
    pub stream_id: u32,
    pub payload: Bytes,
}
