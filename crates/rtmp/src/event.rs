//! What a [`ServerSession`](crate::ServerSession) reports to its caller
//! ([`Event`]), what kind of media a message carries ([`MediaKind`]), and the
//! session's settings and limits ([`SessionConfig`]).

use std::time::Duration;

use brume_media::flv::Amf0Value;
use bytes::Bytes;

use crate::chunk::ChunkLimits;

/// Our chunk size, announced with Set Chunk Size in reply to `connect`.
pub const OUR_CHUNK_SIZE: u32 = 4096;
/// The acknowledgement window we ask the client for, and the output window
/// we set for it (Set Peer Bandwidth), in bytes.
pub const DEFAULT_WINDOW: u32 = 2_500_000;
/// How long a client has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a session that is not playing may go without sending a byte.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most message streams (`createStream`) one connection may open.
pub const MAX_MESSAGE_STREAMS: usize = 16;
/// Most events queued and not yet taken with
/// [`poll_event`](crate::ServerSession::poll_event); reaching it means the
/// caller stopped polling, and the session fails rather than grow.
pub const MAX_QUEUED_EVENTS: usize = 65_536;

/// Settings of one server session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our chunk size for messages we send after `connect`.
    pub chunk_size: u32,
    /// Window Acknowledgement Size sent to the client.
    pub window_ack_size: u32,
    /// Set Peer Bandwidth sent to the client.
    pub peer_bandwidth: u32,
    /// Deadline for the handshake, from [`ServerSession::new`](crate::ServerSession::new).
    pub handshake_timeout: Duration,
    /// Longest silence from a client that plays nothing; `None` for no limit.
    pub idle_timeout: Option<Duration>,
    /// Caps on the incoming chunk stream.
    pub chunk_limits: ChunkLimits,
    /// Most message streams per connection.
    pub max_message_streams: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            chunk_size: OUR_CHUNK_SIZE,
            window_ack_size: DEFAULT_WINDOW,
            peer_bandwidth: DEFAULT_WINDOW,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            idle_timeout: Some(IDLE_TIMEOUT),
            chunk_limits: ChunkLimits::default(),
            max_message_streams: MAX_MESSAGE_STREAMS,
        }
    }
}

/// The kind of an audio, video or data message; its RTMP message type is the
/// FLV tag type of its body ([`MediaKind::tag_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    /// Script data (`onMetaData`, AMF0).
    Data,
}

impl MediaKind {
    /// The FLV tag type and RTMP message type: 8, 9 or 18.
    pub fn tag_type(self) -> u8 {
        match self {
            MediaKind::Audio => 8,
            MediaKind::Video => 9,
            MediaKind::Data => 18,
        }
    }
}

/// Why a publish is refused (the `onStatus` code the client gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// `NetStream.Publish.BadName`: no such stream, or it is already live.
    BadName,
    /// `NetStream.Publish.Denied`: not allowed (wrong password).
    Denied,
}

impl RejectCode {
    pub fn code(self) -> &'static str {
        match self {
            RejectCode::BadName => "NetStream.Publish.BadName",
            RejectCode::Denied => "NetStream.Publish.Denied",
        }
    }
}

/// Something the caller must act on or may want to know.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The client sent `connect` and was answered.
    Connected {
        /// The application (the first path segment of the RTMP URL; it may
        /// carry a `?query`, and by MistServer's convention it may be a
        /// password: do not log it).
        app: String,
        tc_url: Option<String>,
    },
    /// The client wants to publish on `stream_id`. Answer with
    /// [`accept_publish`](crate::ServerSession::accept_publish) or
    /// [`reject_publish`](crate::ServerSession::reject_publish); media is
    /// dropped until accepted.
    PublishRequested {
        stream_id: u32,
        app: String,
        /// The stream name or key, with any `?query` (do not log it).
        name: String,
    },
    /// The client wants to play `name` on `stream_id`. Answer with
    /// [`accept_play`](crate::ServerSession::accept_play) or
    /// [`reject_play`](crate::ServerSession::reject_play).
    PlayRequested {
        stream_id: u32,
        app: String,
        name: String,
    },
    /// An audio or video message on an accepted publishing stream: an FLV tag
    /// body, for `brume_media::flv::TagDemuxer::push_tag_bytes(kind.tag_type(), ...)`.
    Media {
        stream_id: u32,
        kind: MediaKind,
        /// Milliseconds as sent: 32 bits that wrap; the caller extends them.
        timestamp_ms: u32,
        payload: Bytes,
    },
    /// `@setDataFrame onMetaData` (or a bare `onMetaData`) on a publishing
    /// stream: the metadata value, usually an ECMA array.
    Metadata { stream_id: u32, value: Amf0Value },
    /// Publishing on `stream_id` ended (`FCUnpublish`, `closeStream` or
    /// `deleteStream`).
    Unpublished { stream_id: u32 },
    /// The player of `stream_id` stopped (`closeStream`); stop sending media.
    PlayStopped { stream_id: u32 },
    /// The client deleted `stream_id`; whatever it did is over.
    StreamDeleted { stream_id: u32 },
}
