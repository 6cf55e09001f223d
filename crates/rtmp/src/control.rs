//! Protocol control messages (RTMP 1.0 specification, section 5.4: Set Chunk
//! Size, Abort, Acknowledgement, Window Acknowledgement Size, Set Peer
//! Bandwidth) and User Control messages (section 6.2: Stream Begin, Stream
//! EOF, Set Buffer Length, Ping Request/Response): their payloads, read and
//! written.

use crate::error::RtmpError;

/// User Control event types.
pub mod event_type {
    pub const STREAM_BEGIN: u16 = 0;
    pub const STREAM_EOF: u16 = 1;
    pub const STREAM_DRY: u16 = 2;
    pub const SET_BUFFER_LENGTH: u16 = 3;
    pub const STREAM_IS_RECORDED: u16 = 4;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;
}

/// Set Peer Bandwidth limit type "dynamic" (hard or soft, as the previous one).
pub const LIMIT_TYPE_DYNAMIC: u8 = 2;

/// A User Control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserControl {
    StreamBegin(u32),
    StreamEof(u32),
    StreamDry(u32),
    SetBufferLength {
        stream_id: u32,
        millis: u32,
    },
    StreamIsRecorded(u32),
    PingRequest(u32),
    PingResponse(u32),
    /// An event type this server does not act on (e.g. SWF verification).
    Other(u16),
}

impl UserControl {
    /// Reads a User Control message payload.
    pub fn parse(payload: &[u8]) -> Result<UserControl, RtmpError> {
        let event = payload
            .get(..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| RtmpError::invalid("a user control message shorter than 2 bytes"))?;
        let arg = |at: usize| {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| {
                    RtmpError::invalid(format!("user control event {event} is truncated"))
                })
        };
        Ok(match event {
            event_type::STREAM_BEGIN => UserControl::StreamBegin(arg(2)?),
            event_type::STREAM_EOF => UserControl::StreamEof(arg(2)?),
            event_type::STREAM_DRY => UserControl::StreamDry(arg(2)?),
            event_type::SET_BUFFER_LENGTH => UserControl::SetBufferLength {
                stream_id: arg(2)?,
                millis: arg(6)?,
            },
            event_type::STREAM_IS_RECORDED => UserControl::StreamIsRecorded(arg(2)?),
            event_type::PING_REQUEST => UserControl::PingRequest(arg(2)?),
            event_type::PING_RESPONSE => UserControl::PingResponse(arg(2)?),
            other => UserControl::Other(other),
        })
    }

    /// The payload of this message (`Other` events have no body).
    pub fn to_bytes(self) -> Vec<u8> {
        let (event, args): (u16, &[u32]) = match self {
            UserControl::StreamBegin(id) => (event_type::STREAM_BEGIN, &[id]),
            UserControl::StreamEof(id) => (event_type::STREAM_EOF, &[id]),
            UserControl::StreamDry(id) => (event_type::STREAM_DRY, &[id]),
            UserControl::SetBufferLength { stream_id, millis } => {
                (event_type::SET_BUFFER_LENGTH, &[stream_id, millis])
            }
            UserControl::StreamIsRecorded(id) => (event_type::STREAM_IS_RECORDED, &[id]),
            UserControl::PingRequest(t) => (event_type::PING_REQUEST, &[t]),
            UserControl::PingResponse(t) => (event_type::PING_RESPONSE, &[t]),
            UserControl::Other(event) => (event, &[]),
        };
        let mut out = event.to_be_bytes().to_vec();
        for arg in args {
            out.extend_from_slice(&arg.to_be_bytes());
        }
        out
    }
}

/// The 32-bit big-endian number a control message starts with.
pub fn read_u32(payload: &[u8], what: &'static str) -> Result<u32, RtmpError> {
    payload
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| RtmpError::invalid(format!("a {what} message shorter than 4 bytes")))
}

/// The payload of Set Peer Bandwidth.
pub fn set_peer_bandwidth(window: u32, limit_type: u8) -> [u8; 5] {
    let w = window.to_be_bytes();
    [w[0], w[1], w[2], w[3], limit_type]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_control_messages_round_trip() {
        for message in [
            UserControl::StreamBegin(1),
            UserControl::StreamEof(2),
            UserControl::StreamDry(3),
            UserControl::SetBufferLength {
                stream_id: 1,
                millis: 3000,
            },
            UserControl::StreamIsRecorded(4),
            UserControl::PingRequest(0xDEAD_BEEF),
            UserControl::PingResponse(7),
            UserControl::Other(0x1A),
        ] {
            assert_eq!(UserControl::parse(&message.to_bytes()).unwrap(), message);
        }
        assert_eq!(
            UserControl::PingResponse(0x0102_0304).to_bytes(),
            [0, 7, 1, 2, 3, 4]
        );
    }

    #[test]
    fn truncated_control_messages_are_errors() {
        for payload in [&[][..], &[0], &[0, 6, 1, 2, 3], &[0, 3, 0, 0, 0, 1, 0]] {
            assert!(UserControl::parse(payload).is_err(), "{payload:?}");
        }
        assert!(read_u32(&[0, 0, 1], "set chunk size").is_err());
        assert_eq!(read_u32(&[0, 0, 16, 0, 9], "x").unwrap(), 4096);
    }
}
