//! What a [`ServerSession`] does with each message from the client: protocol
//! control, User Control, NetConnection and NetStream commands, data
//! (`@setDataFrame`), audio, video and aggregate messages.

use brume_media::flv::Amf0Value;
use bytes::Bytes;

use super::{ServerSession, StreamState, MAX_HELD_BYTES};
use crate::chunk::{message_type, Message};
use crate::command::{self, Command};
use crate::control::{self, UserControl, LIMIT_TYPE_DYNAMIC};
use crate::error::RtmpError;
use crate::event::{Event, MediaKind};

/// Bytes of an FLV tag header inside an aggregate message.
const TAG_HEADER_LEN: usize = 11;
/// Bytes of the previous-tag-size field after each tag of an aggregate.
const PREVIOUS_TAG_SIZE_LEN: usize = 4;

impl ServerSession {
    pub(super) fn handle_message(&mut self, message: Message) -> Result<(), RtmpError> {
        match message.type_id {
            message_type::SET_CHUNK_SIZE => {
                let size = control::read_u32(&message.payload, "set chunk size")?;
                self.decoder.set_chunk_size(size)?;
            }
            message_type::ABORT => {
                let csid = control::read_u32(&message.payload, "abort")?;
                self.decoder.abort(csid);
            }
            message_type::ACKNOWLEDGEMENT => {
                let sequence = control::read_u32(&message.payload, "acknowledgement")?;
                tracing::trace!(sequence, "rtmp: acknowledgement from the client");
            }
            message_type::USER_CONTROL => self.handle_user_control(&message.payload)?,
            message_type::WINDOW_ACK_SIZE => {
                let window = control::read_u32(&message.payload, "window acknowledgement size")?;
                self.peer_window = (window > 0).then_some(window);
            }
            message_type::SET_PEER_BANDWIDTH => {
                let window = control::read_u32(&message.payload, "set peer bandwidth")?;
                // The receiver answers with its window when it changes.
                if window > 0 && window != self.our_window {
                    self.our_window = window;
                    self.send_control(message_type::WINDOW_ACK_SIZE, &window.to_be_bytes());
                }
            }
            message_type::AUDIO => self.handle_media(&message, MediaKind::Audio)?,
            message_type::VIDEO => self.handle_media(&message, MediaKind::Video)?,
            message_type::DATA_AMF0 | message_type::DATA_AMF3 => self.handle_data(
                message.stream_id,
                &message.payload,
                message.type_id == message_type::DATA_AMF3,
            )?,
            message_type::COMMAND_AMF0 | message_type::COMMAND_AMF3 => {
                let amf3 = message.type_id == message_type::COMMAND_AMF3;
                let command = Command::parse(&message.payload, amf3)?;
                self.handle_command(message.stream_id, command)?;
            }
            message_type::AGGREGATE => self.handle_aggregate(&message)?,
            other => {
                tracing::debug!(
                    type_id = other,
                    len = message.payload.len(),
                    "rtmp: ignoring a message of a type this server does not use"
                );
            }
        }
        Ok(())
    }

    fn handle_user_control(&mut self, payload: &[u8]) -> Result<(), RtmpError> {
        match UserControl::parse(payload)? {
            UserControl::PingRequest(timestamp) => {
                self.send_user_control(UserControl::PingResponse(timestamp));
            }
            UserControl::SetBufferLength { stream_id, millis } => {
                tracing::trace!(stream_id, millis, "rtmp: client buffer length");
            }
            other => tracing::trace!(?other, "rtmp: user control event ignored"),
        }
        Ok(())
    }

    fn handle_media(&mut self, message: &Message, kind: MediaKind) -> Result<(), RtmpError> {
        self.media(
            message.stream_id,
            kind,
            message.timestamp,
            message.payload.clone(),
        )
    }

    fn media(
        &mut self,
        stream_id: u32,
        kind: MediaKind,
        timestamp_ms: u32,
        payload: Bytes,
    ) -> Result<(), RtmpError> {
        if payload.is_empty() {
            return Ok(());
        }
        let size = payload.len();
        self.deliver(
            stream_id,
            Event::Media {
                stream_id,
                kind,
                timestamp_ms,
                payload,
            },
            size,
        )
    }

    /// Queues a media or metadata event of a publishing stream, holds it for
    /// a publish not yet decided, or drops it.
    fn deliver(&mut self, stream_id: u32, event: Event, size: usize) -> Result<(), RtmpError> {
        match self.streams.get_mut(&stream_id) {
            Some(StreamState::Publishing { .. }) => self.push_event(event),
            Some(StreamState::PublishRequested {
                held, held_bytes, ..
            }) => {
                let total = held_bytes.saturating_add(size);
                if total > MAX_HELD_BYTES {
                    tracing::debug!(
                        stream_id,
                        "rtmp: too much media before the publish was accepted; dropped"
                    );
                } else {
                    *held_bytes = total;
                    held.push(event);
                }
                Ok(())
            }
            _ => {
                tracing::debug!(stream_id, "rtmp: media on a stream that is not publishing");
                Ok(())
            }
        }
    }

    /// Data messages: `@setDataFrame onMetaData` becomes [`Event::Metadata`].
    /// Unreadable or other data is ignored: metadata is optional and a
    /// publisher is not cut off for it.
    fn handle_data(&mut self, stream_id: u32, payload: &[u8], amf3: bool) -> Result<(), RtmpError> {
        let values = match command::decode_values(payload, amf3, "data message") {
            Ok(values) => values,
            Err(err) => {
                tracing::debug!(%err, "rtmp: ignoring an unreadable data message");
                return Ok(());
            }
        };
        let mut values = values.into_iter();
        let mut handler = values.next();
        if handler.as_ref().and_then(|v| v.as_str()) == Some("@setDataFrame") {
            handler = values.next();
        }
        if handler.as_ref().and_then(|v| v.as_str()) != Some("onMetaData") {
            tracing::debug!("rtmp: ignoring a data message other than onMetaData");
            return Ok(());
        }
        let value = values.next().unwrap_or(Amf0Value::Null);
        self.deliver(
            stream_id,
            Event::Metadata { stream_id, value },
            payload.len(),
        )
    }

    /// An aggregate message: FLV tags back to back, each followed by its
    /// size; their timestamps are relative to the first tag's, which the
    /// message timestamp replaces.
    fn handle_aggregate(&mut self, message: &Message) -> Result<(), RtmpError> {
        let body = &message.payload;
        let mut pos = 0;
        let mut first_ts: Option<u32> = None;
        while pos < body.len() {
            let header = body
                .get(pos..pos + TAG_HEADER_LEN)
                .ok_or_else(|| RtmpError::invalid("an aggregate message cut in a tag header"))?;
            let tag_type = header[0] & 0x1F;
            let size = u32::from_be_bytes([0, header[1], header[2], header[3]]) as usize;
            let ts = u32::from_be_bytes([header[7], header[4], header[5], header[6]]);
            let start = pos + TAG_HEADER_LEN;
            let data = body
                .get(start..start.saturating_add(size))
                .ok_or_else(|| RtmpError::invalid("an aggregate message cut in a tag body"))?;
            let data = body.slice_ref(data);
            let base = *first_ts.get_or_insert(ts);
            let timestamp = message.timestamp.wrapping_add(ts.wrapping_sub(base));
            match tag_type {
                8 => self.media(message.stream_id, MediaKind::Audio, timestamp, data)?,
                9 => self.media(message.stream_id, MediaKind::Video, timestamp, data)?,
                18 => self.handle_data(message.stream_id, &data, false)?,
                other => tracing::debug!(tag_type = other, "rtmp: aggregate tag ignored"),
            }
            pos = start + size + PREVIOUS_TAG_SIZE_LEN;
        }
        Ok(())
    }

    fn handle_command(&mut self, stream_id: u32, cmd: Command) -> Result<(), RtmpError> {
        match cmd.name.as_str() {
            "connect" => self.on_connect(&cmd),
            "createStream" => {
                self.require_connected("createStream")?;
                let id = self.create_stream()?;
                let reply = command::result(
                    cmd.transaction,
                    Amf0Value::Null,
                    Amf0Value::Number(id.into()),
                );
                self.send_command(&reply);
                Ok(())
            }
            "releaseStream" => {
                self.require_connected("releaseStream")?;
                if cmd.transaction != 0.0 {
                    let reply =
                        command::result(cmd.transaction, Amf0Value::Null, Amf0Value::Undefined);
                    self.send_command(&reply);
                }
                Ok(())
            }
            "FCPublish" => {
                self.require_connected("FCPublish")?;
                let reply =
                    command::named_status("onFCPublish", "NetStream.Publish.Start", "FCPublish");
                self.send_command(&reply);
                Ok(())
            }
            "publish" => self.on_publish(stream_id, &cmd),
            "play" => self.on_play(stream_id, &cmd),
            "FCUnpublish" => {
                self.require_connected("FCUnpublish")?;
                let reply = command::named_status(
                    "onFCUnpublish",
                    "NetStream.Unpublish.Success",
                    "FCUnpublish",
                );
                self.send_command(&reply);
                let name = cmd.string_arg(0).unwrap_or_default().to_string();
                let publishing: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(_, s)| matches!(s, StreamState::Publishing { name: n } if *n == name))
                    .map(|(id, _)| *id)
                    .collect();
                for id in publishing {
                    self.stop_stream(id)?;
                }
                Ok(())
            }
            "closeStream" => self.stop_stream(stream_id),
            "deleteStream" => {
                let id = cmd
                    .number_arg(0)
                    .filter(|n| *n >= 0.0 && *n <= f64::from(u32::MAX))
                    .map_or(stream_id, |n| n as u32);
                if self.streams.contains_key(&id) {
                    self.stop_stream(id)?;
                    self.streams.remove(&id);
                    self.push_event(Event::StreamDeleted { stream_id: id })?;
                }
                Ok(())
            }
            "getStreamLength" => {
                if cmd.transaction != 0.0 {
                    let reply =
                        command::result(cmd.transaction, Amf0Value::Null, Amf0Value::Number(0.0));
                    self.send_command(&reply);
                }
                Ok(())
            }
            // Replies to calls we never make, and player hints we do not need.
            "_result" | "_error" | "_checkbw" | "receiveAudio" | "receiveVideo" | "pause"
            | "seek" | "onBWDone" => {
                tracing::debug!(command = %cmd.name, "rtmp: command ignored");
                Ok(())
            }
            _ => {
                tracing::debug!(command = %cmd.name, "rtmp: unknown command");
                if cmd.transaction != 0.0 {
                    let reply = command::call_failed(cmd.transaction, "Unknown command.");
                    self.send_command(&reply);
                }
                Ok(())
            }
        }
    }

    fn require_connected(&self, command: &'static str) -> Result<(), RtmpError> {
        if self.app.is_none() {
            return Err(RtmpError::NotConnected { command });
        }
        Ok(())
    }

    fn on_connect(&mut self, cmd: &Command) -> Result<(), RtmpError> {
        if self.app.is_some() {
            return Err(RtmpError::invalid("a second connect on one connection"));
        }
        let app = cmd
            .object
            .get("app")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let tc_url = cmd
            .object
            .get("tcUrl")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let window = self.our_window;
        self.send_control(message_type::WINDOW_ACK_SIZE, &window.to_be_bytes());
        let bandwidth = control::set_peer_bandwidth(self.config.peer_bandwidth, LIMIT_TYPE_DYNAMIC);
        self.send_control(message_type::SET_PEER_BANDWIDTH, &bandwidth);
        let chunk_size = self.config.chunk_size.clamp(1, 0x7FFF_FFFF);
        self.send_control(message_type::SET_CHUNK_SIZE, &chunk_size.to_be_bytes());
        self.encoder.set_chunk_size(chunk_size);
        self.send_command(&command::connect_result(cmd.transaction));
        self.app = Some(app.clone());
        self.push_event(Event::Connected { app, tc_url })
    }

    fn create_stream(&mut self) -> Result<u32, RtmpError> {
        if self.streams.len() >= self.config.max_message_streams {
            return Err(RtmpError::too_large(
                "number of message streams",
                self.streams.len() as u64 + 1,
                self.config.max_message_streams as u64,
            ));
        }
        while self.next_stream_id == 0 || self.streams.contains_key(&self.next_stream_id) {
            self.next_stream_id = self.next_stream_id.wrapping_add(1);
        }
        let id = self.next_stream_id;
        self.next_stream_id = self.next_stream_id.wrapping_add(1);
        self.streams.insert(id, StreamState::Idle);
        Ok(id)
    }

    /// The stream a `publish` or `play` addresses: one created with
    /// `createStream`; a client that skipped it gets one on the fly.
    fn stream_for(&mut self, stream_id: u32, command: &'static str) -> Result<(), RtmpError> {
        self.require_connected(command)?;
        if stream_id == 0 {
            return Err(RtmpError::invalid(format!(
                "{command} on message stream 0 (the connection)"
            )));
        }
        if !self.streams.contains_key(&stream_id) {
            if self.streams.len() >= self.config.max_message_streams {
                return Err(RtmpError::too_large(
                    "number of message streams",
                    self.streams.len() as u64 + 1,
                    self.config.max_message_streams as u64,
                ));
            }
            self.streams.insert(stream_id, StreamState::Idle);
        }
        match self.streams.get(&stream_id) {
            Some(StreamState::Idle) => Ok(()),
            _ => Err(RtmpError::invalid(format!(
                "{command} on a stream that is already publishing or playing"
            ))),
        }
    }

    fn on_publish(&mut self, stream_id: u32, cmd: &Command) -> Result<(), RtmpError> {
        self.stream_for(stream_id, "publish")?;
        let name = cmd.string_arg(0).unwrap_or_default().to_string();
        self.streams.insert(
            stream_id,
            StreamState::PublishRequested {
                name: name.clone(),
                held: Vec::new(),
                held_bytes: 0,
            },
        );
        let app = self.app.clone().unwrap_or_default();
        self.push_event(Event::PublishRequested {
            stream_id,
            app,
            name,
        })
    }

    fn on_play(&mut self, stream_id: u32, cmd: &Command) -> Result<(), RtmpError> {
        self.stream_for(stream_id, "play")?;
        let name = cmd.string_arg(0).unwrap_or_default().to_string();
        self.streams.insert(stream_id, StreamState::PlayRequested);
        let app = self.app.clone().unwrap_or_default();
        self.push_event(Event::PlayRequested {
            stream_id,
            app,
            name,
        })
    }

    /// Ends what `stream_id` does (publishing or playing), with the event
    /// that says so.
    fn stop_stream(&mut self, stream_id: u32) -> Result<(), RtmpError> {
        let Some(state) = self.streams.get_mut(&stream_id) else {
            return Ok(());
        };
        let previous = std::mem::replace(state, StreamState::Idle);
        match previous {
            StreamState::Publishing { .. } => self.push_event(Event::Unpublished { stream_id }),
            StreamState::Playing => self.push_event(Event::PlayStopped { stream_id }),
            _ => Ok(()),
        }
    }
}
