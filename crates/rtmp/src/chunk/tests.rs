//! Unit tests of the chunk stream: header types, extended timestamps,
//! interleaving, limits, and encoder/decoder round trips.

use bytes::BytesMut;

use super::decode::{MAX_CHUNK_STREAMS, MAX_MESSAGE_SIZE};
use super::*;
use crate::error::RtmpError;

/// Decodes all of `data` fed in pieces of `step` bytes.
fn decode_all(decoder: &mut ChunkDecoder, data: &[u8], step: usize) -> Vec<Message> {
    let mut out = Vec::new();
    for piece in data.chunks(step.max(1)) {
        let mut rest = piece;
        loop {
            let (used, message) = decoder.decode(rest).expect("decodes");
            rest = &rest[used..];
            match message {
                Some(m) => out.push(m),
                None => {
                    assert!(rest.is_empty());
                    break;
                }
            }
        }
    }
    out
}

fn decode_err(decoder: &mut ChunkDecoder, data: &[u8]) -> RtmpError {
    let mut rest = data;
    loop {
        match decoder.decode(rest) {
            Ok((used, Some(_))) => rest = &rest[used..],
            Ok((_, None)) => panic!("no error"),
            Err(e) => return e,
        }
    }
}

fn fmt0(csid: u8, ts: u32, len: u32, type_id: u8, stream: u32) -> Vec<u8> {
    let mut v = vec![csid];
    v.extend_from_slice(&ts.min(0xFF_FFFF).to_be_bytes()[1..]);
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.push(type_id);
    v.extend_from_slice(&stream.to_le_bytes());
    if ts >= 0xFF_FFFF {
        v.extend_from_slice(&ts.to_be_bytes());
    }
    v
}

#[test]
fn all_four_header_types_and_their_timestamps() {
    let mut data = fmt0(4, 1000, 3, 8, 1);
    data.extend_from_slice(b"abc");
    // fmt 1: delta 20, new length and type.
    data.extend_from_slice(&[0x44, 0, 0, 20, 0, 0, 2, 9]);
    data.extend_from_slice(b"de");
    // fmt 2: delta 30, same length and type.
    data.extend_from_slice(&[0x84, 0, 0, 30]);
    data.extend_from_slice(b"fg");
    // fmt 3 starting a message: the delta (30) repeats.
    data.push(0xC4);
    data.extend_from_slice(b"hi");
    let messages = decode_all(&mut ChunkDecoder::new(ChunkLimits::default()), &data, 4096);
    let summary: Vec<_> = messages
        .iter()
        .map(|m| (m.timestamp, m.type_id, m.stream_id, &m.payload[..]))
        .collect();
    assert_eq!(
        summary,
        [
            (1000, 8, 1, &b"abc"[..]),
            (1020, 9, 1, &b"de"[..]),
            (1050, 9, 1, &b"fg"[..]),
            (1080, 9, 1, &b"hi"[..]),
        ]
    );
}

#[test]
fn fmt3_after_fmt0_adds_the_absolute_timestamp_again() {
    let mut data = fmt0(3, 40, 1, 20, 0);
    data.push(b'x');
    data.push(0xC3);
    data.push(b'y');
    let messages = decode_all(&mut ChunkDecoder::new(ChunkLimits::default()), &data, 1);
    assert_eq!(messages[1].timestamp, 80);
}

#[test]
fn two_and_three_byte_basic_headers() {
    for csid in [64u32, 319, 320, 65_599] {
        let mut data = if csid <= 319 {
            vec![0, (csid - 64) as u8]
        } else {
            let v = (csid - 64) as u16;
            vec![1, v.to_le_bytes()[0], v.to_le_bytes()[1]]
        };
        data.extend_from_slice(&[0, 0, 5, 0, 0, 1, 8, 1, 0, 0, 0, b'z']);
        let messages = decode_all(&mut ChunkDecoder::new(ChunkLimits::default()), &data, 1);
        assert_eq!(messages.len(), 1, "csid {csid}");
        assert_eq!(messages[0].csid, csid);
        assert_eq!(messages[0].timestamp, 5);
    }
}

#[test]
fn extended_timestamps_repeat_in_fmt3_continuation_chunks() {
    let ts = 0x0123_4567;
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut data = fmt0(6, ts, 300, 9, 1);
    data.extend_from_slice(&payload[..128]);
    for part in [&payload[128..256], &payload[256..]] {
        data.push(0xC6);
        data.extend_from_slice(&ts.to_be_bytes());
        data.extend_from_slice(part);
    }
    // A fmt 2 with an extended delta, then a fmt 3 new message repeating it.
    data.extend_from_slice(&[0x86, 0xFF, 0xFF, 0xFF, 0x01, 0, 0, 0]);
    data.extend_from_slice(&payload[..128]);
    data.push(0xC6);
    data.extend_from_slice(&[0x01, 0, 0, 0]);
    data.extend_from_slice(&payload[128..256]);
    data.push(0xC6);
    data.extend_from_slice(&[0x01, 0, 0, 0]);
    data.extend_from_slice(&payload[256..]);
    // The message after that starts with a fmt 3 too.
    data.push(0xC6);
    data.extend_from_slice(&[0x01, 0, 0, 0]);
    data.extend_from_slice(&payload[..128]);
    data.push(0xC6);
    data.extend_from_slice(&[0x01, 0, 0, 0]);
    data.extend_from_slice(&payload[128..256]);
    data.push(0xC6);
    data.extend_from_slice(&[0x01, 0, 0, 0]);
    data.extend_from_slice(&payload[256..]);
    for step in [1, 7, 128, 4096] {
        let messages = decode_all(&mut ChunkDecoder::new(ChunkLimits::default()), &data, step);
        assert_eq!(messages.len(), 3);
        for m in &messages {
            assert_eq!(&m.payload[..], &payload[..]);
        }
        assert_eq!(messages[0].timestamp, ts);
        assert_eq!(messages[1].timestamp, ts + 0x0100_0000);
        assert_eq!(messages[2].timestamp, ts + 0x0200_0000);
    }
}

#[test]
fn fmt3_chunks_without_the_repeated_extended_timestamp_still_decode() {
    // Some senders leave the extended timestamp out of fmt 3 chunks.
    let ts = 0x0123_4567;
    let payload: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8 + 1).collect();
    for chunk_size in [2usize, 3, 128] {
        let mut data = fmt0(6, ts, 300, 9, 1);
        let mut chunks = payload.chunks(chunk_size);
        data.extend_from_slice(chunks.next().unwrap());
        for part in chunks {
            data.push(0xC6);
            data.extend_from_slice(part);
        }
        // A conforming message follows on another chunk stream.
        data.extend_from_slice(&fmt0(4, 5, 2, 8, 1));
        data.extend_from_slice(b"ok");
        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        decoder.set_chunk_size(chunk_size as u32).unwrap();
        let messages = decode_all(&mut decoder, &data, 5);
        assert_eq!(messages.len(), 2, "chunk size {chunk_size}");
        assert_eq!(&messages[0].payload[..], &payload[..]);
        assert_eq!(messages[0].timestamp, ts);
        assert_eq!(&messages[1].payload[..], b"ok");
    }
}

#[test]
fn interleaved_messages_on_two_chunk_streams() {
    let video = [0xAA; 200];
    let audio = [0xBB; 150];
    let mut data = fmt0(6, 0, 200, 9, 1);
    data.extend_from_slice(&video[..128]);
    data.extend_from_slice(&fmt0(4, 0, 150, 8, 1));
    data.extend_from_slice(&audio[..128]);
    data.push(0xC6);
    data.extend_from_slice(&video[128..]);
    data.push(0xC4);
    data.extend_from_slice(&audio[128..]);
    let messages = decode_all(&mut ChunkDecoder::new(ChunkLimits::default()), &data, 5);
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0].csid, &messages[0].payload[..]),
        (6, &video[..])
    );
    assert_eq!(
        (messages[1].csid, &messages[1].payload[..]),
        (4, &audio[..])
    );
}

#[test]
fn set_chunk_size_applies_to_the_next_chunk_and_abort_drops_a_message() {
    let mut decoder = ChunkDecoder::new(ChunkLimits::default());
    decoder.set_chunk_size(4096).unwrap();
    let mut data = fmt0(4, 0, 1000, 8, 1);
    data.extend_from_slice(&[1; 1000]);
    let messages = decode_all(&mut decoder, &data, 999);
    assert_eq!(messages[0].payload.len(), 1000);

    let mut half = fmt0(4, 0, 5000, 8, 1);
    half.extend_from_slice(&[2; 4096]);
    assert!(decode_all(&mut decoder, &half, 4096).is_empty());
    assert_eq!(decoder.pending_bytes(), 5000);
    decoder.abort(4);
    assert_eq!(decoder.pending_bytes(), 0);
    let mut next = fmt0(4, 0, 1, 8, 1);
    next.push(3);
    let messages = decode_all(&mut decoder, &next, 1);
    assert_eq!(&messages[0].payload[..], &[3]);
}

#[test]
fn zero_length_messages_complete_at_their_header() {
    let data = fmt0(3, 7, 0, 8, 1);
    let messages = decode_all(&mut ChunkDecoder::new(ChunkLimits::default()), &data, 1);
    assert_eq!(messages.len(), 1);
    assert!(messages[0].payload.is_empty());
}

#[test]
fn chunk_size_out_of_range_is_an_error() {
    let mut decoder = ChunkDecoder::new(ChunkLimits::default());
    for size in [0, 0x7FFF_FFFF, 0x8000_0000, (16 << 20) + 1] {
        assert!(matches!(
            decoder.set_chunk_size(size),
            Err(RtmpError::BadChunkSize { .. })
        ));
    }
    assert!(decoder.set_chunk_size(16 << 20).is_ok());
}

#[test]
fn a_message_over_the_size_limit_is_an_error() {
    // The largest length the field can hold, 16 MiB - 1, is over 8 MiB.
    let data = fmt0(4, 0, 0xFF_FFFF, 9, 1);
    let err = decode_err(&mut ChunkDecoder::new(ChunkLimits::default()), &data);
    assert!(
        matches!(err, RtmpError::TooLarge { what: "message length", value, limit }
            if value == 0xFF_FFFF && limit == u64::from(MAX_MESSAGE_SIZE)),
        "{err}"
    );
}

#[test]
fn too_many_chunk_streams_is_an_error() {
    let mut data = Vec::new();
    for csid in 0..100u32 {
        data.extend_from_slice(&[1, (csid & 0xFF) as u8, 0]);
        data.extend_from_slice(&[0, 0, 0, 0, 0, 1, 8, 1, 0, 0, 0, 0]);
    }
    let err = decode_err(&mut ChunkDecoder::new(ChunkLimits::default()), &data);
    assert!(
        matches!(err, RtmpError::TooLarge { what: "number of chunk streams", limit, .. }
            if limit == MAX_CHUNK_STREAMS as u64),
        "{err}"
    );
}

#[test]
fn pending_bytes_over_the_limit_is_an_error() {
    let mut data = Vec::new();
    for csid in 3..6u8 {
        data.extend_from_slice(&fmt0(csid, 0, 7 << 20, 9, 1));
        data.extend_from_slice(&[0; 128]);
    }
    let err = decode_err(&mut ChunkDecoder::new(ChunkLimits::default()), &data);
    assert!(
        matches!(
            err,
            RtmpError::TooLarge {
                what: "bytes of unfinished messages",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_continuation_header_on_a_new_chunk_stream_is_an_error() {
    for first in [0x45u8, 0x85, 0xC5] {
        let data = [first, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let err = decode_err(&mut ChunkDecoder::new(ChunkLimits::default()), &data);
        assert!(
            matches!(err, RtmpError::NoPreviousHeader { csid: 5 }),
            "{err}"
        );
    }
}

#[test]
fn encoder_output_round_trips_through_the_decoder() {
    let cases: &[(u32, u32, u8, u32, usize)] = &[
        // (csid, timestamp, type, stream, length)
        (2, 0, 1, 0, 4),
        (3, 0, 20, 0, 300),
        (6, 0, 9, 1, 5000),
        (6, 40, 9, 1, 5000),
        (6, 80, 9, 1, 5000),
        (6, 120, 9, 1, 5000),
        (6, 160, 9, 1, 17),
        (4, 23, 8, 1, 0),
        (4, 46, 8, 1, 6),
        (6, 100, 9, 1, 17),
        (6, 100, 9, 2, 17),
        (64, 0xFF_FFFE, 8, 1, 10),
        (64, 0xFF_FFFF, 8, 1, 10),
        (64, 0x1FF_FFFE, 8, 1, 10),
        (64, 0x2FF_FFFD, 8, 1, 10),
        (319, 0xFFFF_FFF0, 9, 1, 4097),
        (320, 0x0100_0000, 9, 1, 9000),
        (65_599, 5, 18, 3, 1),
    ];
    for chunk_size in [1u32, 128, 4096, 100_000] {
        let mut encoder = ChunkEncoder::new();
        encoder.set_chunk_size(chunk_size);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for (i, &(csid, ts, type_id, stream, len)) in cases.iter().enumerate() {
            let payload: Vec<u8> = (0..len).map(|j| (i * 13 + j) as u8).collect();
            assert!(encoder.write(csid, ts, type_id, stream, &payload, &mut wire));
            expected.push((csid, ts, type_id, stream, payload));
        }
        for step in [1, 3, 1000, 1 << 20] {
            let mut fresh = ChunkDecoder::new(ChunkLimits::default());
            fresh.set_chunk_size(chunk_size).unwrap();
            let got = decode_all(&mut fresh, &wire, step);
            let got: Vec<_> = got
                .into_iter()
                .map(|m| {
                    (
                        m.csid,
                        m.timestamp,
                        m.type_id,
                        m.stream_id,
                        m.payload.to_vec(),
                    )
                })
                .collect();
            assert_eq!(got, expected, "chunk size {chunk_size}, step {step}");
        }
    }
}

#[test]
fn the_encoder_refuses_what_the_wire_cannot_carry() {
    let mut encoder = ChunkEncoder::new();
    let mut out = BytesMut::new();
    assert!(!encoder.write(1, 0, 8, 1, b"x", &mut out));
    assert!(!encoder.write(65_600, 0, 8, 1, b"x", &mut out));
    assert!(!encoder.write(4, 0, 9, 1, &vec![0; 1 << 24], &mut out));
    assert!(out.is_empty());
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A deterministic pseudo-random walk over byte strings.
    let mut seed = 0x1234_5678_u32;
    for _ in 0..2000 {
        let mut data = Vec::new();
        let len = (seed % 200) as usize;
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            data.push((seed >> 24) as u8);
        }
        let mut decoder = ChunkDecoder::new(ChunkLimits::default());
        let mut rest = &data[..];
        while let Ok((used, Some(_))) = decoder.decode(rest) {
            rest = &rest[used..];
        }
    }
}
