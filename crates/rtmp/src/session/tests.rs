//! Sans-IO tests of [`ServerSession`]: a scripted client (its own chunk
//! encoder and decoder) drives the session through publish and play, control
//! messages, deadlines and hostile input.

use std::time::{Duration, Instant};

use brume_media::flv::Amf0Value;
use bytes::BytesMut;

use super::*;
use crate::chunk::{ChunkLimits, Message};
use crate::command::{encode_values, Command};
use crate::event::{SessionConfig, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT};
use crate::handshake::HANDSHAKE_PACKET_LEN;

fn s(text: &str) -> Amf0Value {
    Amf0Value::String(text.into())
}

fn n(value: f64) -> Amf0Value {
    Amf0Value::Number(value)
}

/// The client side of a test: writes chunks, reads the server's messages.
struct Client {
    session: ServerSession,
    now: Instant,
    encoder: ChunkEncoder,
    decoder: ChunkDecoder,
    handshake_left: usize,
}

impl Client {
    fn new() -> Client {
        let now = Instant::now();
        Client {
            session: ServerSession::new(SessionConfig::default(), now),
            now,
            encoder: ChunkEncoder::new(),
            decoder: ChunkDecoder::new(ChunkLimits::default()),
            handshake_left: 1 + 2 * HANDSHAKE_PACKET_LEN,
        }
    }

    /// A client past the handshake and `connect`.
    fn connected() -> Client {
        let mut client = Client::new();
        client.handshake();
        client.command(
            0,
            &[
                s("connect"),
                n(1.0),
                crate::command::object(&[("app", s("live"))]),
            ],
        );
        let replies = client.messages();
        assert_eq!(replies.len(), 4);
        client
    }

    /// A client whose stream 1 is publishing.
    fn publishing() -> Client {
        let mut client = Client::connected();
        client.command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
        client.command(
            1,
            &[s("publish"), n(3.0), Amf0Value::Null, s("key"), s("live")],
        );
        client.session.accept_publish(1);
        client.messages();
        while client.session.poll_event().is_some() {}
        client
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        self.session.receive(bytes, self.now)
    }

    fn handshake(&mut self) {
        let mut c0c1 = vec![3u8];
        c0c1.extend((0..HANDSHAKE_PACKET_LEN).map(|i| i as u8));
        self.send(&c0c1).unwrap();
        self.send(&[0; HANDSHAKE_PACKET_LEN]).unwrap();
        assert!(self.session.handshake.is_done());
    }

    fn write(&mut self, csid: u32, type_id: u8, stream_id: u32, timestamp: u32, payload: &[u8]) {
        let mut out = BytesMut::new();
        assert!(self
            .encoder
            .write(csid, timestamp, type_id, stream_id, payload, &mut out));
        self.send(&out).unwrap();
    }

    fn command(&mut self, stream_id: u32, values: &[Amf0Value]) {
        self.write(
            3,
            message_type::COMMAND_AMF0,
            stream_id,
            0,
            &encode_values(values),
        );
    }

    /// Every message the server sent since the last call.
    fn messages(&mut self) -> Vec<Message> {
        let mut bytes = Vec::new();
        while let Some(b) = self.session.poll_transmit() {
            bytes.extend_from_slice(&b);
        }
        let skip = self.handshake_left.min(bytes.len());
        self.handshake_left -= skip;
        let mut rest = &bytes[skip..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (used, message) = self.decoder.decode(rest).unwrap();
            rest = &rest[used..];
            if let Some(m) = message {
                if m.type_id == message_type::SET_CHUNK_SIZE {
                    let size = u32::from_be_bytes(m.payload[..4].try_into().unwrap());
                    self.decoder.set_chunk_size(size).unwrap();
                }
                out.push(m);
            }
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.session.poll_event()).collect()
    }
}

fn command_of(message: &Message) -> Command {
    assert_eq!(message.type_id, message_type::COMMAND_AMF0);
    Command::parse(&message.payload, false).unwrap()
}

fn status_code(message: &Message) -> String {
    let cmd = command_of(message);
    assert_eq!(cmd.name, "onStatus");
    cmd.args[0]
        .get("code")
        .and_then(|v| v.as_str())
        .unwrap()
        .to_string()
}

#[test]
fn connect_gets_window_bandwidth_chunk_size_and_success() {
    let mut client = Client::new();
    client.handshake();
    assert_eq!(client.session.handshake_mode(), Some(HandshakeMode::Simple));
    let object = crate::command::object(&[
        ("app", s("live")),
        ("tcUrl", s("rtmp://127.0.0.1/live")),
        ("objectEncoding", n(0.0)),
    ]);
    client.command(0, &[s("connect"), n(1.0), object]);
    let replies = client.messages();
    let types: Vec<u8> = replies.iter().map(|m| m.type_id).collect();
    assert_eq!(types, [5, 6, 1, 20]);
    assert_eq!(&replies[0].payload[..], &2_500_000u32.to_be_bytes());
    assert_eq!(&replies[1].payload[..], &[0, 0x26, 0x25, 0xA0, 2]);
    assert_eq!(&replies[2].payload[..], &4096u32.to_be_bytes());
    let result = command_of(&replies[3]);
    assert_eq!((result.name.as_str(), result.transaction), ("_result", 1.0));
    assert_eq!(
        result.args[0].get("code").and_then(|v| v.as_str()),
        Some("NetConnection.Connect.Success")
    );
    assert_eq!(
        client.events(),
        [Event::Connected {
            app: "live".into(),
            tc_url: Some("rtmp://127.0.0.1/live".into())
        }]
    );
    assert_eq!(client.session.app(), Some("live"));
}

#[test]
fn an_ffmpeg_style_publish_produces_media_and_ends_cleanly() {
    let mut client = Client::connected();
    client.events();
    client.command(
        0,
        &[s("releaseStream"), n(2.0), Amf0Value::Null, s("key?x=1")],
    );
    client.command(0, &[s("FCPublish"), n(3.0), Amf0Value::Null, s("key?x=1")]);
    client.command(0, &[s("createStream"), n(4.0), Amf0Value::Null]);
    let replies = client.messages();
    let names: Vec<String> = replies.iter().map(|m| command_of(m).name).collect();
    assert_eq!(names, ["_result", "onFCPublish", "_result"]);
    assert_eq!(command_of(&replies[2]).args[0], n(1.0));

    client.command(
        1,
        &[
            s("publish"),
            n(5.0),
            Amf0Value::Null,
            s("key?x=1"),
            s("live"),
        ],
    );
    assert_eq!(
        client.events(),
        [Event::PublishRequested {
            stream_id: 1,
            app: "live".into(),
            name: "key?x=1".into()
        }]
    );
    // Media before the caller decides is held until it accepts.
    client.write(6, message_type::VIDEO, 1, 0, &[0x17, 0, 0, 0, 0]);
    assert!(client.events().is_empty());

    client.session.accept_publish(1);
    let replies = client.messages();
    assert_eq!(replies[0].type_id, message_type::USER_CONTROL);
    assert_eq!(status_code(&replies[1]), "NetStream.Publish.Start");
    assert_eq!(replies[1].stream_id, 1);

    assert_eq!(
        client.events(),
        [Event::Media {
            stream_id: 1,
            kind: MediaKind::Video,
            timestamp_ms: 0,
            payload: bytes::Bytes::from_static(&[0x17, 0, 0, 0, 0])
        }]
    );

    let metadata = Amf0Value::EcmaArray(vec![("width".into(), n(320.0))]);
    let payload = encode_values(&[s("@setDataFrame"), s("onMetaData"), metadata.clone()]);
    client.write(4, message_type::DATA_AMF0, 1, 0, &payload);
    client.write(6, message_type::VIDEO, 1, 0, &[0x17, 0, 0, 0, 0, 1, 2]);
    client.write(4, message_type::AUDIO, 1, 0, &[0xAF, 0, 0x12, 0x10]);
    client.write(6, message_type::VIDEO, 1, 40, &[0x27, 1, 0, 0, 0, 9]);
    let events = client.events();
    assert_eq!(
        events[0],
        Event::Metadata {
            stream_id: 1,
            value: metadata
        }
    );
    let media: Vec<(MediaKind, u32, usize)> = events[1..]
        .iter()
        .map(|e| match e {
            Event::Media {
                stream_id: 1,
                kind,
                timestamp_ms,
                payload,
            } => (*kind, *timestamp_ms, payload.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        media,
        [
            (MediaKind::Video, 0, 7),
            (MediaKind::Audio, 0, 4),
            (MediaKind::Video, 40, 6)
        ]
    );

    client.command(
        0,
        &[s("FCUnpublish"), n(6.0), Amf0Value::Null, s("key?x=1")],
    );
    client.command(0, &[s("deleteStream"), n(7.0), Amf0Value::Null, n(1.0)]);
    assert_eq!(
        client.events(),
        [
            Event::Unpublished { stream_id: 1 },
            Event::StreamDeleted { stream_id: 1 }
        ]
    );
    // Media after the end is dropped.
    client.write(6, message_type::VIDEO, 1, 80, &[0x27, 1, 0, 0, 0, 9]);
    assert!(client.events().is_empty());
}

#[test]
fn a_rejected_publish_gets_an_error_status() {
    for (code, expected) in [
        (RejectCode::BadName, "NetStream.Publish.BadName"),
        (RejectCode::Denied, "NetStream.Publish.Denied"),
    ] {
        let mut client = Client::connected();
        client.command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
        client.command(
            1,
            &[s("publish"), n(3.0), Amf0Value::Null, s("x"), s("live")],
        );
        client.write(6, message_type::VIDEO, 1, 0, &[0x17, 0, 0, 0, 0]);
        client.messages();
        client.session.reject_publish(1, code, "No such stream.");
        assert!(!client
            .events()
            .iter()
            .any(|e| matches!(e, Event::Media { .. })));
        let replies = client.messages();
        assert_eq!(replies.len(), 1);
        assert_eq!(status_code(&replies[0]), expected);
        let info = &command_of(&replies[0]).args[0];
        assert_eq!(info.get("level").and_then(|v| v.as_str()), Some("error"));
        assert_eq!(
            info.get("description").and_then(|v| v.as_str()),
            Some("No such stream.")
        );
        // Accepting afterwards does nothing.
        client.session.accept_publish(1);
        assert!(client.messages().is_empty());
    }
}

#[test]
fn play_gets_status_then_media_then_stop() {
    let mut client = Client::connected();
    client.events();
    client.command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
    client.command(
        1,
        &[s("play"), n(0.0), Amf0Value::Null, s("test"), n(-2000.0)],
    );
    assert_eq!(
        client.events()[0],
        Event::PlayRequested {
            stream_id: 1,
            app: "live".into(),
            name: "test".into()
        }
    );
    client.messages();
    // Not playing yet: nothing is sent.
    assert!(!client
        .session
        .send_media(1, MediaKind::Video, 0, &[0x17, 0]));
    client.session.accept_play(1);
    let replies = client.messages();
    assert_eq!(
        UserControl::parse(&replies[0].payload).unwrap(),
        UserControl::StreamBegin(1)
    );
    assert_eq!(status_code(&replies[1]), "NetStream.Play.Reset");
    assert_eq!(status_code(&replies[2]), "NetStream.Play.Start");
    assert_eq!(replies[3].type_id, message_type::DATA_AMF0);

    let video = vec![0x17; 10_000];
    let metadata = Amf0Value::EcmaArray(vec![("duration".into(), n(0.0))]);
    assert!(client.session.send_metadata(1, &metadata));
    assert!(client.session.send_media(1, MediaKind::Video, 0, &video));
    assert!(client
        .session
        .send_media(1, MediaKind::Audio, 10, &[0xAF, 1, 5]));
    assert!(client
        .session
        .send_media(1, MediaKind::Video, 0x0100_0000, &video));
    assert!(client.session.pending_transmit() > 20_000);
    let sent = client.messages();
    let summary: Vec<(u8, u32, u32, usize)> = sent
        .iter()
        .map(|m| (m.type_id, m.stream_id, m.timestamp, m.payload.len()))
        .collect();
    assert_eq!(
        summary,
        [
            (18, 1, 0, sent[0].payload.len()),
            (9, 1, 0, 10_000),
            (8, 1, 10, 3),
            (9, 1, 0x0100_0000, 10_000)
        ]
    );
    let values = crate::command::decode_values(&sent[0].payload, false, "x").unwrap();
    assert_eq!(values, [s("onMetaData"), metadata]);

    client.session.end_play(1);
    let replies = client.messages();
    assert_eq!(status_code(&replies[0]), "NetStream.Play.Stop");
    assert_eq!(
        UserControl::parse(&replies[1].payload).unwrap(),
        UserControl::StreamEof(1)
    );
    assert!(!client
        .session
        .send_media(1, MediaKind::Video, 0, &[0x17, 0]));
}

#[test]
fn a_rejected_play_gets_stream_not_found() {
    let mut client = Client::connected();
    client.command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
    client.command(1, &[s("play"), n(0.0), Amf0Value::Null, s("nope")]);
    client.messages();
    client.session.reject_play(1, "No such stream.");
    let replies = client.messages();
    assert_eq!(status_code(&replies[0]), "NetStream.Play.StreamNotFound");
}

#[test]
fn close_stream_stops_a_player_and_a_publisher() {
    let mut client = Client::publishing();
    client.command(1, &[s("closeStream"), n(0.0), Amf0Value::Null]);
    assert_eq!(client.events(), [Event::Unpublished { stream_id: 1 }]);

    let mut client = Client::connected();
    client.command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
    client.command(1, &[s("play"), n(0.0), Amf0Value::Null, s("x")]);
    client.session.accept_play(1);
    client.events();
    client.command(1, &[s("closeStream"), n(0.0), Amf0Value::Null]);
    assert_eq!(client.events(), [Event::PlayStopped { stream_id: 1 }]);
}

#[test]
fn ping_requests_get_ping_responses() {
    let mut client = Client::connected();
    let ping = UserControl::PingRequest(123_456).to_bytes();
    client.write(2, message_type::USER_CONTROL, 0, 0, &ping);
    let replies = client.messages();
    assert_eq!(
        UserControl::parse(&replies[0].payload).unwrap(),
        UserControl::PingResponse(123_456)
    );
}

#[test]
fn acknowledgements_follow_the_clients_window() {
    let mut client = Client::publishing();
    client.write(
        2,
        message_type::WINDOW_ACK_SIZE,
        0,
        0,
        &5000u32.to_be_bytes(),
    );
    // The handshake and setup already count; send enough to cross 5000.
    let received_before = client.session.received;
    for i in 0..10 {
        client.write(6, message_type::VIDEO, 1, i * 40, &[0x27; 600]);
    }
    let acks: Vec<u32> = client
        .messages()
        .iter()
        .filter(|m| m.type_id == message_type::ACKNOWLEDGEMENT)
        .map(|m| u32::from_be_bytes(m.payload[..4].try_into().unwrap()))
        .collect();
    assert!(!acks.is_empty());
    assert!(u64::from(acks[0]) > received_before);
    for pair in acks.windows(2) {
        assert!(pair[1] - pair[0] >= 5000, "{acks:?}");
    }
    assert!(client.session.received - u64::from(*acks.last().unwrap()) < 5000);
}

#[test]
fn set_peer_bandwidth_from_the_client_is_answered_with_its_window() {
    let mut client = Client::connected();
    client.write(
        2,
        message_type::SET_PEER_BANDWIDTH,
        0,
        0,
        &[0, 0, 0x10, 0, 2],
    );
    let replies = client.messages();
    assert_eq!(replies[0].type_id, message_type::WINDOW_ACK_SIZE);
    assert_eq!(&replies[0].payload[..], &4096u32.to_be_bytes());
}

#[test]
fn a_huge_chunk_size_fails_the_session_for_good() {
    let mut client = Client::connected();
    let mut out = BytesMut::new();
    client.encoder.write(
        2,
        0,
        message_type::SET_CHUNK_SIZE,
        0,
        &0x7FFF_FFFFu32.to_be_bytes(),
        &mut out,
    );
    assert!(matches!(
        client.send(&out),
        Err(RtmpError::BadChunkSize {
            size: 0x7FFF_FFFF,
            ..
        })
    ));
    assert!(matches!(client.send(&[0]), Err(RtmpError::Failed)));
    assert_eq!(client.session.next_deadline(), None);
}

#[test]
fn garbage_and_a_bad_version_fail_at_once() {
    for garbage in [&b"GET / HTTP/1.1\r\n"[..], &[6, 0, 0, 0], &[0xFF; 2000]] {
        let mut client = Client::new();
        assert!(matches!(
            client.send(garbage),
            Err(RtmpError::BadVersion { .. })
        ));
        assert!(client.session.poll_transmit().is_none());
    }
}

#[test]
fn a_truncated_handshake_times_out() {
    let mut client = Client::new();
    let start = client.now;
    assert_eq!(
        client.session.next_deadline(),
        Some(start + HANDSHAKE_TIMEOUT)
    );
    client.send(&[3; 100]).unwrap();
    client
        .session
        .handle_timeout(start + Duration::from_secs(9))
        .unwrap();
    assert!(matches!(
        client.session.handle_timeout(start + HANDSHAKE_TIMEOUT),
        Err(RtmpError::HandshakeTimeout { seconds: 10 })
    ));
    // Bytes arriving after the deadline fail too.
    let mut late = Client::new();
    assert!(matches!(
        late.session.receive(&[3], start + Duration::from_secs(11)),
        Err(RtmpError::HandshakeTimeout { .. })
    ));
}

#[test]
fn a_silent_client_times_out_but_a_player_does_not() {
    let mut client = Client::connected();
    let deadline = client.session.next_deadline().unwrap();
    assert_eq!(deadline, client.now + IDLE_TIMEOUT);
    assert!(matches!(
        client.session.handle_timeout(deadline),
        Err(RtmpError::Idle { seconds: 30 })
    ));

    let mut client = Client::connected();
    client.command(0, &[s("createStream"), n(2.0), Amf0Value::Null]);
    client.command(1, &[s("play"), n(0.0), Amf0Value::Null, s("x")]);
    assert_eq!(client.session.next_deadline(), None);
}

#[test]
fn commands_before_connect_fail() {
    let mut client = Client::new();
    client.handshake();
    let mut out = BytesMut::new();
    client.encoder.write(
        3,
        0,
        message_type::COMMAND_AMF0,
        0,
        &encode_values(&[s("createStream"), n(2.0), Amf0Value::Null]),
        &mut out,
    );
    assert!(matches!(
        client.send(&out),
        Err(RtmpError::NotConnected {
            command: "createStream"
        })
    ));
}

#[test]
fn amf3_command_messages_are_read_and_amf3_values_refused() {
    let mut client = Client::new();
    client.handshake();
    let mut payload = vec![0];
    payload.extend(encode_values(&[
        s("connect"),
        n(1.0),
        crate::command::object(&[("app", s("a"))]),
    ]));
    client.write(3, message_type::COMMAND_AMF3, 0, 0, &payload);
    assert_eq!(client.session.app(), Some("a"));

    let mut payload = vec![0];
    payload.extend(encode_values(&[s("createStream"), n(2.0)]));
    payload.extend_from_slice(&[0x11, 0x01]);
    let mut out = BytesMut::new();
    client
        .encoder
        .write(3, 0, message_type::COMMAND_AMF3, 0, &payload, &mut out);
    assert!(matches!(client.send(&out), Err(RtmpError::Amf { .. })));
}

#[test]
fn unknown_commands_get_an_error_only_when_they_expect_a_reply() {
    let mut client = Client::connected();
    client.command(0, &[s("someCall"), n(9.0), Amf0Value::Null]);
    client.command(0, &[s("someNotice"), n(0.0), Amf0Value::Null]);
    let replies = client.messages();
    assert_eq!(replies.len(), 1);
    let cmd = command_of(&replies[0]);
    assert_eq!((cmd.name.as_str(), cmd.transaction), ("_error", 9.0));
}

#[test]
fn aggregate_messages_become_media_with_shifted_timestamps() {
    let mut client = Client::publishing();
    let mut body = Vec::new();
    for (tag_type, ts, data) in [
        (9u8, 5000u32, &[0x17, 1, 0, 0, 0][..]),
        (8, 5020, &[0xAF, 1, 7]),
    ] {
        body.push(tag_type);
        body.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
        body.extend_from_slice(&ts.to_be_bytes()[1..]);
        body.push((ts >> 24) as u8);
        body.extend_from_slice(&[0, 0, 0]);
        body.extend_from_slice(data);
        body.extend_from_slice(&(11 + data.len() as u32).to_be_bytes());
    }
    client.write(6, message_type::AGGREGATE, 1, 100, &body);
    let stamps: Vec<(MediaKind, u32)> = client
        .events()
        .iter()
        .map(|e| match e {
            Event::Media {
                kind, timestamp_ms, ..
            } => (*kind, *timestamp_ms),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(stamps, [(MediaKind::Video, 100), (MediaKind::Audio, 120)]);

    // A truncated aggregate is an error.
    let mut out = BytesMut::new();
    client
        .encoder
        .write(6, 200, message_type::AGGREGATE, 1, &body[..15], &mut out);
    assert!(client.send(&out).is_err());
}

#[test]
fn too_many_message_streams_fail() {
    let mut client = Client::connected();
    for i in 0..crate::event::MAX_MESSAGE_STREAMS {
        client.command(0, &[s("createStream"), n(i as f64 + 2.0), Amf0Value::Null]);
    }
    let mut out = BytesMut::new();
    client.encoder.write(
        3,
        0,
        message_type::COMMAND_AMF0,
        0,
        &encode_values(&[s("createStream"), n(99.0), Amf0Value::Null]),
        &mut out,
    );
    assert!(matches!(
        client.send(&out),
        Err(RtmpError::TooLarge {
            what: "number of message streams",
            ..
        })
    ));
}

#[test]
fn random_bytes_after_the_handshake_never_panic() {
    let mut seed = 0x9E37_79B9_u32;
    for round in 0..500 {
        let mut client = Client::connected();
        let mut data = Vec::new();
        for _ in 0..(round % 300) {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            data.push((seed >> 24) as u8);
        }
        // Start with a plausible basic header now and then.
        if round % 2 == 0 && !data.is_empty() {
            data[0] = 0x03;
        }
        let _ = client.send(&data);
        while client.session.poll_event().is_some() {}
        while client.session.poll_transmit().is_some() {}
    }
}
