//! Sans-IO tests of [`ClientSession`] against Brume's own [`ServerSession`]:
//! handshake, connect, createStream, publish, media arriving as events, a
//! refusal, and hostile server bytes.

use std::time::Instant;

use super::*;
use crate::event::{Event, SessionConfig};
use crate::session::ServerSession;

/// Moves bytes both ways until neither side has any; returns the server's events.
fn pump(client: &mut ClientSession, server: &mut ServerSession, now: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..64 {
        let mut moved = false;
        while let Some(bytes) = client.poll_transmit() {
            server.receive(&bytes, now).unwrap();
            moved = true;
        }
        while let Some(event) = server.poll_event() {
            if let Event::PublishRequested {
                stream_id, name, ..
            } = &event
            {
                if name == "key" {
                    server.accept_publish(*stream_id);
                } else {
                    server.reject_publish(*stream_id, crate::RejectCode::BadName, "no such stream");
                }
            }
            events.push(event);
        }
        while let Some(bytes) = server.poll_transmit() {
            client.receive(&bytes).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
    events
}

#[test]
fn publishes_to_a_server_session_and_sends_media() {
    let now = Instant::now();
    let mut server = ServerSession::new(SessionConfig::default(), now);
    let mut client = ClientSession::new("live", "rtmp://127.0.0.1/live", "key");
    let events = pump(&mut client, &mut server, now);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Connected { app, .. } if app == "live")),
        "{events:?}"
    );
    assert_eq!(client.poll_event(), Some(ClientEvent::Publishing));
    assert!(client.is_publishing());
    let big = vec![0x17u8; 10_000];
    assert!(client.send_media(MediaKind::Video, 40, &big));
    assert!(client.send_media(MediaKind::Audio, 41, &[0xaf, 1, 2, 3]));
    let events = pump(&mut client, &mut server, now);
    let media: Vec<(MediaKind, u32, usize)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Media {
                kind,
                timestamp_ms,
                payload,
                ..
            } => Some((*kind, *timestamp_ms, payload.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        media,
        [(MediaKind::Video, 40, 10_000), (MediaKind::Audio, 41, 4)]
    );
}

#[test]
fn a_refused_publish_is_reported() {
    let now = Instant::now();
    let mut server = ServerSession::new(SessionConfig::default(), now);
    let mut client = ClientSession::new("live", "rtmp://127.0.0.1/live", "wrong");
    pump(&mut client, &mut server, now);
    match client.poll_event() {
        Some(ClientEvent::Refused(why)) => assert!(why.contains("BadName"), "{why}"),
        other => panic!("not refused: {other:?}"),
    }
    assert!(!client.send_media(MediaKind::Video, 0, &[1]));
}

#[test]
fn hostile_server_bytes_fail_cleanly() {
    let mut client = ClientSession::new("live", "rtmp://h/live", "key");
    let mut bad = vec![9u8];
    bad.extend(vec![0u8; 2 * HANDSHAKE_PACKET_LEN]);
    assert!(matches!(
        client.receive(&bad),
        Err(RtmpError::BadVersion { version: 9 })
    ));
    let mut client = ClientSession::new("live", "rtmp://h/live", "key");
    let mut hello = vec![RTMP_VERSION];
    hello.extend(vec![0u8; 2 * HANDSHAKE_PACKET_LEN]);
    client.receive(&hello).unwrap();
    // Set Chunk Size 0: refused as an error of this session.
    let zero = [0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        client.receive(&zero),
        Err(RtmpError::BadChunkSize { size: 0, .. })
    ));
}
