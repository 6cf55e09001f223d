//! Fuzz target: the RTMP chunk stream and server session. The input is read
//! two ways, neither of which may panic or allocate without bound:
//!
//! 1. As a chunk stream for `ChunkDecoder` (the first byte picks the peer's
//!    chunk size); every message it yields must survive a `ChunkEncoder`
//!    round trip unchanged.
//! 2. As everything a client sends after a valid simple handshake, fed to a
//!    `ServerSession` in pieces (sizes from the input), with every publish
//!    and play accepted and media sent back to players.
//!
//! Seeds (`corpus/rtmp_chunk/`): `seed-ffmpeg-publish` is the chunk stream of
//! `crates/rtmp/testdata/ffmpeg-publish.rtmp` (its first 3073 handshake bytes
//! cut off, a chunk size byte put first); `seed-ffmpeg-setup` its first 2 KiB;
//! `seed-extended-ts` a fmt 0 header with an extended timestamp and fmt 3
//! continuations.
#![no_main]

use std::time::Instant;

use brume_rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits};
use brume_rtmp::{Event, MediaKind, ServerSession, SessionConfig};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };

    // 1. The decoder alone, with an encoder round trip of what it yields.
    let chunk_size = [128u32, 1, 7, 4096, 65_536][usize::from(selector % 5)];
    let mut decoder = ChunkDecoder::new(ChunkLimits::default());
    decoder
        .set_chunk_size(chunk_size)
        .expect("a valid chunk size");
    let mut encoder = ChunkEncoder::new();
    encoder.set_chunk_size(chunk_size);
    let mut check = ChunkDecoder::new(ChunkLimits::default());
    check
        .set_chunk_size(chunk_size)
        .expect("a valid chunk size");
    let mut input = rest;
    while let Ok((used, Some(message))) = decoder.decode(input) {
        input = input.get(used..).unwrap_or_default();
        let mut wire = BytesMut::new();
        if encoder.write(
            message.csid,
            message.timestamp,
            message.type_id,
            message.stream_id,
            &message.payload,
            &mut wire,
        ) {
            let (used, again) = check.decode(&wire).expect("own chunks decode");
            assert_eq!(used, wire.len());
            assert_eq!(again.as_ref(), Some(&message));
        }
    }
    assert!(decoder.pending_bytes() <= ChunkLimits::default().max_pending_bytes);

    // 2. A whole session after a simple handshake.
    let now = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), now);
    let mut handshake = vec![3u8];
    handshake.resize(1 + 2 * 1536, 0);
    session.receive(&handshake, now).expect("a valid handshake");
    let step = usize::from(selector).max(1) * 13;
    for piece in rest.chunks(step) {
        if session.receive(piece, now).is_err() {
            break;
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::PublishRequested { stream_id, .. } => session.accept_publish(stream_id),
                Event::PlayRequested { stream_id, .. } => {
                    session.accept_play(stream_id);
                    session.send_media(stream_id, MediaKind::Video, 0, &[0x17, 0, 0, 0, 0]);
                }
                _ => {}
            }
        }
        while session.poll_transmit().is_some() {}
    }
    let _ = session.next_deadline();
});
