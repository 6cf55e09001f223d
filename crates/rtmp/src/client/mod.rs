//! The publishing side of RTMP as a sans-IO state machine ([`ClientSession`]):
//! what Brume uses to push a stream to another server.
//!
//! It sends C0 C1 (simple handshake), answers S0 S1 S2 with C2, then
//! `connect` (app and tcUrl), `createStream` and `publish` (the stream key,
//! `live`). Once the server answers `NetStream.Publish.Start`,
//! [`ClientSession::send_media`] sends FLV tag bodies as audio, video and data
//! messages. A refusal (`_error`, an error `onStatus`) becomes
//! [`ClientEvent::Refused`]; anything malformed is an [`RtmpError`] that ends
//! the session. Limits: the server's messages go through the same
//! [`ChunkDecoder`] limits as a server session's ([`ChunkLimits::default`]);
//! events queue up to [`MAX_CLIENT_EVENTS`].

use std::collections::VecDeque;

use brume_media::flv::Amf0Value;
use bytes::{BufMut, Bytes, BytesMut};

use crate::chunk::decode::ChunkDecoder;
use crate::chunk::encode::ChunkEncoder;
use crate::chunk::{message_type, ChunkLimits, Message};
use crate::command::{encode_values, object, Command};
use crate::control::read_u32;
use crate::error::RtmpError;
use crate::event::MediaKind;
use crate::handshake::{HANDSHAKE_PACKET_LEN, RTMP_VERSION};

/// Chunk size the client announces and sends with.
pub const CLIENT_CHUNK_SIZE: u32 = 4096;
/// Events kept until polled; past it the oldest are dropped.
pub const MAX_CLIENT_EVENTS: usize = 16;

const CSID_CONTROL: u32 = 2;
const CSID_COMMAND: u32 = 3;
const CSID_AUDIO: u32 = 4;
const CSID_VIDEO: u32 = 6;
const CSID_DATA: u32 = 5;
const CONNECT_TX: f64 = 1.0;
const CREATE_STREAM_TX: f64 = 2.0;
const PUBLISH_TX: f64 = 3.0;

/// What the publishing session tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The server accepted the publish: media may be sent now.
    Publishing,
    /// The server refused (its code or description).
    Refused(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshake,
    Connecting,
    CreatingStream,
    PublishRequested,
    Publishing,
    Refused,
}

/// One outgoing publish.
#[derive(Debug)]
pub struct ClientSession {
    state: State,
    handshake: BytesMut,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: BytesMut,
    app: String,
    tc_url: String,
    key: String,
    stream_id: u32,
    events: VecDeque<ClientEvent>,
}

impl ClientSession {
    /// A session that will publish `key` in `app` of the server at `tc_url`
    /// (`rtmp://host:port/app`); C0 C1 are ready to send.
    pub fn new(app: &str, tc_url: &str, key: &str) -> ClientSession {
        let mut out = BytesMut::with_capacity(1 + HANDSHAKE_PACKET_LEN);
        out.put_u8(RTMP_VERSION);
        out.put_u32(0);
        out.put_u32(0);
        // Filler: any bytes do for the simple handshake.
        out.extend((8..HANDSHAKE_PACKET_LEN).map(|i| (i * 31 % 251) as u8));
        ClientSession {
            state: State::Handshake,
            handshake: BytesMut::new(),
            decoder: ChunkDecoder::new(ChunkLimits::default()),
            encoder: ChunkEncoder::new(),
            out,
            app: app.to_owned(),
            tc_url: tc_url.to_owned(),
            key: key.to_owned(),
            stream_id: 0,
            events: VecDeque::new(),
        }
    }

    /// Bytes to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Whether media may be sent.
    pub fn is_publishing(&self) -> bool {
        self.state == State::Publishing
    }

    /// Reads bytes from the server.
    pub fn receive(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        let mut rest = bytes;
        if self.state == State::Handshake {
            let want = 1 + 2 * HANDSHAKE_PACKET_LEN;
            let take = (want - self.handshake.len()).min(rest.len());
            self.handshake.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.handshake.len() < want {
                return Ok(());
            }
            if self.handshake[0] != RTMP_VERSION {
                return Err(RtmpError::BadVersion {
                    version: self.handshake[0],
                });
            }
            // C2 echoes S1.
            let s1 = self.handshake.split_off(1).split_to(HANDSHAKE_PACKET_LEN);
            self.out.extend_from_slice(&s1);
            self.handshake = BytesMut::new();
            self.connect();
        }
        while !rest.is_empty() {
            let (used, message) = self.decoder.decode(rest)?;
            rest = rest.get(used..).unwrap_or_default();
            if let Some(message) = message {
                self.handle(message)?;
            }
            if used == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Sends one FLV tag body (audio, video or a data tag such as
    /// `onMetaData`); false while not publishing or when it cannot be framed.
    pub fn send_media(&mut self, kind: MediaKind, timestamp_ms: u32, payload: &[u8]) -> bool {
        if self.state != State::Publishing {
            return false;
        }
        let (csid, type_id) = match kind {
            MediaKind::Audio => (CSID_AUDIO, message_type::AUDIO),
            MediaKind::Video => (CSID_VIDEO, message_type::VIDEO),
            MediaKind::Data => (CSID_DATA, message_type::DATA_AMF0),
        };
        self.encoder.write(
            csid,
            timestamp_ms,
            type_id,
            self.stream_id,
            payload,
            &mut self.out,
        )
    }

    fn command(&mut self, stream_id: u32, values: &[Amf0Value]) {
        let payload = encode_values(values);
        self.encoder.write(
            CSID_COMMAND,
            0,
            message_type::COMMAND_AMF0,
            stream_id,
            &payload,
            &mut self.out,
        );
    }

    fn connect(&mut self) {
        self.encoder.write(
            CSID_CONTROL,
            0,
            message_type::SET_CHUNK_SIZE,
            0,
            &CLIENT_CHUNK_SIZE.to_be_bytes(),
            &mut self.out,
        );
        self.encoder.set_chunk_size(CLIENT_CHUNK_SIZE);
        let props = object(&[
            ("app", Amf0Value::String(self.app.clone())),
            ("type", Amf0Value::String("nonprivate".into())),
            (
                "flashVer",
                Amf0Value::String("FMLE/3.0 (compatible; Brume)".into()),
            ),
            ("tcUrl", Amf0Value::String(self.tc_url.clone())),
        ]);
        self.command(
            0,
            &[
                Amf0Value::String("connect".into()),
                Amf0Value::Number(CONNECT_TX),
                props,
            ],
        );
        self.state = State::Connecting;
    }

    fn event(&mut self, event: ClientEvent) {
        if self.events.len() >= MAX_CLIENT_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn refuse(&mut self, why: String) {
        if self.state != State::Refused {
            self.state = State::Refused;
            self.event(ClientEvent::Refused(why));
        }
    }

    fn handle(&mut self, message: Message) -> Result<(), RtmpError> {
        match message.type_id {
            message_type::SET_CHUNK_SIZE => {
                let size = read_u32(&message.payload, "chunk size")?;
                self.decoder.set_chunk_size(size)?;
            }
            message_type::COMMAND_AMF0 | message_type::COMMAND_AMF3 => {
                let command = Command::parse(
                    &message.payload,
                    message.type_id == message_type::COMMAND_AMF3,
                )?;
                self.handle_command(&command);
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_command(&mut self, command: &Command) {
        match (command.name.as_str(), self.state) {
            ("_result", State::Connecting) if command.transaction == CONNECT_TX => {
                self.command(
                    0,
                    &[
                        Amf0Value::String("createStream".into()),
                        Amf0Value::Number(CREATE_STREAM_TX),
                        Amf0Value::Null,
                    ],
                );
                self.state = State::CreatingStream;
            }
            ("_result", State::CreatingStream) if command.transaction == CREATE_STREAM_TX => {
                let id = command.number_arg(0).unwrap_or(1.0);
                self.stream_id = if (1.0..=1_000_000.0).contains(&id) {
                    id as u32
                } else {
                    1
                };
                let key = self.key.clone();
                self.command(
                    self.stream_id,
                    &[
                        Amf0Value::String("publish".into()),
                        Amf0Value::Number(PUBLISH_TX),
                        Amf0Value::Null,
                        Amf0Value::String(key),
                        Amf0Value::String("live".into()),
                    ],
                );
                self.state = State::PublishRequested;
            }
            ("_error", _) => {
                let why = status_text(command.args.first()).unwrap_or_else(|| "_error".into());
                self.refuse(why);
            }
            ("onStatus", _) => {
                let info = command.args.first();
                let code = info
                    .and_then(|i| i.get("code"))
                    .and_then(Amf0Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let error = info
                    .and_then(|i| i.get("level"))
                    .and_then(Amf0Value::as_str)
                    == Some("error");
                if code == "NetStream.Publish.Start" && self.state == State::PublishRequested {
                    self.state = State::Publishing;
                    self.event(ClientEvent::Publishing);
                } else if error {
                    self.refuse(status_text(info).unwrap_or(code));
                }
            }
            _ => {}
        }
    }
}

/// `code: description` of a status object.
fn status_text(info: Option<&Amf0Value>) -> Option<String> {
    let info = info?;
    let code = info.get("code").and_then(Amf0Value::as_str)?;
    let description = info
        .get("description")
        .and_then(Amf0Value::as_str)
        .unwrap_or_default();
    Some(format!("{code}: {description}"))
}

#[cfg(test)]
mod tests;
