//! [`RtmpError`]: why an RTMP session cannot go on. Every error ends that one
//! connection; the caller closes the socket after sending what
//! [`ServerSession::poll_transmit`](crate::ServerSession::poll_transmit) still holds.

use brume_media::flv::FlvError;

/// Why an RTMP session failed.
#[derive(Debug, thiserror::Error)]
pub enum RtmpError {
    #[error("the client asked for RTMP version {version}; only version 3 is supported")]
    BadVersion { version: u8 },
    #[error("the handshake did not complete within {seconds} seconds")]
    HandshakeTimeout { seconds: u64 },
    #[error("the publisher sent nothing for {seconds} seconds")]
    Idle { seconds: u64 },
    #[error("the {what} is {value}, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("the peer asked for a chunk size of {size}; it must be between 1 and {limit}")]
    BadChunkSize { size: u32, limit: u32 },
    #[error("chunk stream {csid} continues a message header that was never sent in full")]
    NoPreviousHeader { csid: u32 },
    #[error("invalid RTMP data: {what}")]
    Invalid { what: String },
    #[error("an AMF0 value in a {what} is unreadable: {source}")]
    Amf {
        what: &'static str,
        source: FlvError,
    },
    #[error("the {command} command arrived before connect")]
    NotConnected { command: &'static str },
    #[error("the session already failed and takes no more input")]
    Failed,
}

impl RtmpError {
    pub(crate) fn invalid(what: impl Into<String>) -> RtmpError {
        RtmpError::Invalid { what: what.into() }
    }

    pub(crate) fn too_large(what: &'static str, value: u64, limit: u64) -> RtmpError {
        RtmpError::TooLarge { what, value, limit }
    }
}
