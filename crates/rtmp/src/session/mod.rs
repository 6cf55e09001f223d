//! [`ServerSession`]: one RTMP connection, server side, as a sans-IO state
//! machine. Bytes from the socket and the time go in ([`ServerSession::receive`],
//! [`ServerSession::handle_timeout`]); bytes for the socket, [`Event`]s and the
//! next deadline come out. The caller's decisions (accept or refuse a publish
//! or play) and media for players go in through methods.
//!
//! A caller's loop: read from the socket, `receive`, take every event and act
//! on it, write every `poll_transmit`; when `next_deadline` passes, call
//! `handle_timeout`. Any error ends the session: write what `poll_transmit`
//! still holds (it may carry an error status for the client), then close.
//!
//! The message handling itself (control messages, commands, data, media)
//! lives in the `dispatch` submodule.

mod dispatch;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use brume_media::flv::Amf0Value;
use bytes::{Bytes, BytesMut};

use crate::chunk::{message_type, ChunkDecoder, ChunkEncoder};
use crate::command;
use crate::control::UserControl;
use crate::error::RtmpError;
use crate::event::{Event, MediaKind, RejectCode, SessionConfig, MAX_QUEUED_EVENTS};
use crate::handshake::{Handshake, HandshakeMode};

/// Most payload bytes of media held for a publish the caller has not yet
/// accepted; more is dropped.
pub const MAX_HELD_BYTES: usize = 4 << 20;

/// Chunk stream of protocol control and User Control messages.
const CSID_CONTROL: u32 = 2;
/// Chunk stream of NetConnection command replies.
const CSID_COMMAND: u32 = 3;
/// Chunk stream of audio we send.
const CSID_AUDIO: u32 = 4;
/// Chunk stream of NetStream status messages and data we send.
const CSID_STATUS: u32 = 5;
/// Chunk stream of video we send.
const CSID_VIDEO: u32 = 6;

/// What a message stream is doing.
#[derive(Debug, Clone, PartialEq)]
enum StreamState {
    /// Created, nothing asked yet (or what was asked has ended).
    Idle,
    /// `publish` arrived; the caller has not decided. Media that arrives
    /// meanwhile (in the same read, or from a client that does not wait for
    /// `NetStream.Publish.Start`) is held, up to [`MAX_HELD_BYTES`].
    PublishRequested {
        name: String,
        held: Vec<Event>,
        held_bytes: usize,
    },
    Publishing {
        name: String,
    },
    PlayRequested,
    Playing,
}

/// One RTMP connection, server side.
#[derive(Debug)]
pub struct ServerSession {
    config: SessionConfig,
    handshake: Handshake,
    /// `None` when the configured timeout does not fit in an `Instant`.
    handshake_deadline: Option<Instant>,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: BytesMut,
    events: VecDeque<Event>,
    failed: bool,
    /// The `app` of `connect`, once connected.
    app: Option<String>,
    streams: BTreeMap<u32, StreamState>,
    next_stream_id: u32,
    /// Bytes received so far (the acknowledgement sequence number is this
    /// modulo 2^32).
    received: u64,
    /// `received` when we last acknowledged.
    acked: u64,
    /// The acknowledgement window the client asked for.
    peer_window: Option<u32>,
    /// The window we last announced with Window Acknowledgement Size.
    our_window: u32,
    last_receive: Instant,
}

impl ServerSession {
    /// A session for a connection accepted at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> ServerSession {
        ServerSession {
            handshake_deadline: now.checked_add(config.handshake_timeout),
            decoder: ChunkDecoder::new(config.chunk_limits),
            our_window: config.window_ack_size,
            config,
            handshake: Handshake::new(),
            encoder: ChunkEncoder::new(),
            out: BytesMut::new(),
            events: VecDeque::new(),
            failed: false,
            app: None,
            streams: BTreeMap::new(),
            next_stream_id: 1,
            received: 0,
            acked: 0,
            peer_window: None,
            last_receive: now,
        }
    }

    /// Takes in bytes read from the socket; all of them are consumed
    /// (partial chunks are kept, within the chunk limits). Events and replies
    /// produced before an error stay queued. After an error every call fails
    /// with [`RtmpError::Failed`].
    pub fn receive(&mut self, bytes: &[u8], now: Instant) -> Result<(), RtmpError> {
        if self.failed {
            return Err(RtmpError::Failed);
        }
        let result = self.receive_inner(bytes, now);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn receive_inner(&mut self, bytes: &[u8], now: Instant) -> Result<(), RtmpError> {
        self.check_deadlines(now)?;
        self.last_receive = now;
        self.received = self.received.saturating_add(bytes.len() as u64);
        let mut rest = bytes;
        if !self.handshake.is_done() {
            let used = self.handshake.receive(rest, &mut self.out)?;
            rest = rest.get(used..).unwrap_or_default();
        }
        while !rest.is_empty() {
            let (used, message) = self.decoder.decode(rest)?;
            rest = rest.get(used..).unwrap_or_default();
            if let Some(message) = message {
                self.handle_message(message)?;
            }
        }
        self.maybe_acknowledge();
        Ok(())
    }

    /// Sends an Acknowledgement when the client's window has been received.
    fn maybe_acknowledge(&mut self) {
        // Without a window from the client, use the bandwidth we set for it.
        let window = self.peer_window.unwrap_or(self.config.peer_bandwidth);
        if window > 0 && self.received - self.acked >= u64::from(window) {
            self.acked = self.received;
            let sequence = (self.received & 0xFFFF_FFFF) as u32;
            self.send_control(message_type::ACKNOWLEDGEMENT, &sequence.to_be_bytes());
        }
    }

    /// Bytes to write to the socket, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// Bytes waiting in [`poll_transmit`](Self::poll_transmit): a player that
    /// lets this grow is too slow for its stream.
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// Bytes reserved for messages the peer has started but not finished (their
    /// announced lengths): what the caller may count against a memory budget.
    pub fn buffered_bytes(&self) -> usize {
        self.decoder.pending_bytes()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        if !self.handshake.is_done() {
            return self.handshake_deadline;
        }
        self.idle_deadline()
    }

    fn idle_deadline(&self) -> Option<Instant> {
        let playing = self
            .streams
            .values()
            .any(|s| matches!(s, StreamState::Playing | StreamState::PlayRequested));
        if playing {
            return None;
        }
        self.config
            .idle_timeout
            .and_then(|t| self.last_receive.checked_add(t))
    }

    /// Checks the deadlines at `now`: an unfinished handshake or a silent
    /// client ends the session.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RtmpError> {
        if self.failed {
            return Err(RtmpError::Failed);
        }
        let result = self.check_deadlines(now);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn check_deadlines(&self, now: Instant) -> Result<(), RtmpError> {
        if !self.handshake.is_done() {
            if self.handshake_deadline.is_some_and(|d| now >= d) {
                return Err(RtmpError::HandshakeTimeout {
                    seconds: self.config.handshake_timeout.as_secs(),
                });
            }
        } else if let Some(deadline) = self.idle_deadline() {
            if now >= deadline {
                return Err(RtmpError::Idle {
                    seconds: self.config.idle_timeout.map_or(0, |t| t.as_secs()),
                });
            }
        }
        Ok(())
    }

    /// The handshake variant the client used, once known.
    pub fn handshake_mode(&self) -> Option<HandshakeMode> {
        self.handshake.mode()
    }

    /// The application name of `connect`, once connected.
    pub fn app(&self) -> Option<&str> {
        self.app.as_deref()
    }

    /// Accepts the publish requested on `stream_id`: the client gets
    /// `NetStream.Publish.Start` and its media becomes [`Event::Media`].
    /// Does nothing unless a publish is waiting there.
    pub fn accept_publish(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let StreamState::PublishRequested { name, held, .. } = state else {
            tracing::debug!(stream_id, "rtmp: accept_publish without a pending publish");
            return;
        };
        let held = std::mem::take(held);
        *state = StreamState::Publishing {
            name: std::mem::take(name),
        };
        self.send_user_control(UserControl::StreamBegin(stream_id));
        let status = command::on_status("status", "NetStream.Publish.Start", "Publishing.");
        self.send_on_stream(stream_id, message_type::COMMAND_AMF0, &status);
        // Bounded by MAX_HELD_BYTES, so outside the event queue limit.
        self.events.extend(held);
    }

    /// Refuses the publish requested on `stream_id` with an error status
    /// (media held for it is dropped); the caller then closes the connection
    /// once the bytes are written.
    pub fn reject_publish(&mut self, stream_id: u32, code: RejectCode, description: &str) {
        let Some(state) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if !matches!(state, StreamState::PublishRequested { .. }) {
            tracing::debug!(stream_id, "rtmp: reject_publish without a pending publish");
            return;
        }
        *state = StreamState::Idle;
        let status = command::on_status("error", code.code(), description);
        self.send_on_stream(stream_id, message_type::COMMAND_AMF0, &status);
    }

    /// Accepts the play requested on `stream_id`: Stream Begin,
    /// `NetStream.Play.Reset`, `NetStream.Play.Start` and `|RtmpSampleAccess`
    /// go out; then [`send_media`](Self::send_media) feeds the player.
    pub fn accept_play(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if *state != StreamState::PlayRequested {
            tracing::debug!(stream_id, "rtmp: accept_play without a pending play");
            return;
        }
        *state = StreamState::Playing;
        self.send_user_control(UserControl::StreamBegin(stream_id));
        for (code, description) in [
            ("NetStream.Play.Reset", "Playing and resetting."),
            ("NetStream.Play.Start", "Started playing."),
        ] {
            let status = command::on_status("status", code, description);
            self.send_on_stream(stream_id, message_type::COMMAND_AMF0, &status);
        }
        self.send_on_stream(
            stream_id,
            message_type::DATA_AMF0,
            &command::sample_access(),
        );
    }

    /// Refuses the play requested on `stream_id` with
    /// `NetStream.Play.StreamNotFound`.
    pub fn reject_play(&mut self, stream_id: u32, description: &str) {
        let Some(state) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if *state != StreamState::PlayRequested {
            tracing::debug!(stream_id, "rtmp: reject_play without a pending play");
            return;
        }
        *state = StreamState::Idle;
        let status = command::on_status("error", "NetStream.Play.StreamNotFound", description);
        self.send_on_stream(stream_id, message_type::COMMAND_AMF0, &status);
    }

    /// Ends playback on `stream_id` (the stream went offline or ended):
    /// Stream EOF and `NetStream.Play.Stop` go out.
    pub fn end_play(&mut self, stream_id: u32) {
        let Some(state) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if *state != StreamState::Playing {
            return;
        }
        *state = StreamState::Idle;
        let status = command::on_status("status", "NetStream.Play.Stop", "Stopped playing.");
        self.send_on_stream(stream_id, message_type::COMMAND_AMF0, &status);
        self.send_user_control(UserControl::StreamEof(stream_id));
    }

    /// Sends an FLV tag body (audio, video, or script data such as
    /// `onMetaData`) to the player of `stream_id`. Returns false, sending
    /// nothing, when `stream_id` is not playing or the payload is over
    /// 16 MiB - 1 bytes.
    pub fn send_media(
        &mut self,
        stream_id: u32,
        kind: MediaKind,
        timestamp_ms: u32,
        payload: &[u8],
    ) -> bool {
        if self.streams.get(&stream_id) != Some(&StreamState::Playing) {
            return false;
        }
        let csid = match kind {
            MediaKind::Audio => CSID_AUDIO,
            MediaKind::Video => CSID_VIDEO,
            MediaKind::Data => CSID_STATUS,
        };
        self.encoder.write(
            csid,
            timestamp_ms,
            kind.tag_type(),
            stream_id,
            payload,
            &mut self.out,
        )
    }

    /// Sends `onMetaData` with `value` to the player of `stream_id`.
    pub fn send_metadata(&mut self, stream_id: u32, value: &Amf0Value) -> bool {
        self.send_media(stream_id, MediaKind::Data, 0, &command::on_metadata(value))
    }

    // --- output helpers ---------------------------------------------------

    fn send_control(&mut self, type_id: u8, payload: &[u8]) {
        self.encoder
            .write(CSID_CONTROL, 0, type_id, 0, payload, &mut self.out);
    }

    fn send_user_control(&mut self, event: UserControl) {
        self.send_control(message_type::USER_CONTROL, &event.to_bytes());
    }

    fn send_command(&mut self, payload: &[u8]) {
        self.encoder.write(
            CSID_COMMAND,
            0,
            message_type::COMMAND_AMF0,
            0,
            payload,
            &mut self.out,
        );
    }

    fn send_on_stream(&mut self, stream_id: u32, type_id: u8, payload: &[u8]) {
        self.encoder
            .write(CSID_STATUS, 0, type_id, stream_id, payload, &mut self.out);
    }

    fn push_event(&mut self, event: Event) -> Result<(), RtmpError> {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            return Err(RtmpError::too_large(
                "number of queued events",
                self.events.len() as u64 + 1,
                MAX_QUEUED_EVENTS as u64,
            ));
        }
        self.events.push_back(event);
        Ok(())
    }
}
