//! [`ChunkEncoder`]: cuts outgoing messages into chunks at our chunk size,
//! compressing headers against the previous message on the same chunk stream.
//!
//! Header choice: fmt 0 for a chunk stream's first message, a change of
//! message stream, or a timestamp that goes backwards; fmt 1 when the length or
//! type changed; fmt 3 when the delta repeats the previous delta (only after a
//! fmt 1 or 2 header, so no reader has to guess what a fmt 3 after a fmt 0
//! means); fmt 2 otherwise. Every message is written whole, its chunks back to
//! back.

use std::collections::HashMap;

use bytes::{BufMut, BytesMut};

use super::{DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP, MAX_CSID, MAX_MESSAGE_LEN_FIELD};

/// What the encoder remembers of a chunk stream's previous message.
#[derive(Debug, Clone, Copy)]
struct Previous {
    timestamp: u32,
    ts_field: u32,
    /// The previous header was fmt 1 or 2 (its field is a delta).
    delta: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Writes messages as chunks.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    streams: HashMap<u32, Previous>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        ChunkEncoder::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> ChunkEncoder {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
        }
    }

    /// Our chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes our chunk size for the messages written after this call (the
    /// Set Chunk Size message announcing it must be written before).
    /// Out-of-range sizes are clamped to 1..=2^31 - 1.
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, 0x7FFF_FFFF);
    }

    /// Appends `payload` as one message on chunk stream `csid`. Returns false,
    /// writing nothing, when the message cannot be expressed: a payload over
    /// 16 MiB - 1 bytes or a chunk stream id outside 2..=65599.
    pub fn write(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: u8,
        stream_id: u32,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> bool {
        let Ok(length) = u32::try_from(payload.len()) else {
            return false;
        };
        if length > MAX_MESSAGE_LEN_FIELD || !(2..=MAX_CSID).contains(&csid) {
            return false;
        }
        let prev = self.streams.get(&csid).copied();
        let (fmt, ts_field, delta) = match prev {
            Some(p) if p.stream_id == stream_id && timestamp >= p.timestamp => {
                let delta = timestamp - p.timestamp;
                if p.length != length || p.type_id != type_id {
                    (1, delta, true)
                } else if p.delta && delta == p.ts_field {
                    (3, delta, true)
                } else {
                    (2, delta, true)
                }
            }
            _ => (0, timestamp, false),
        };
        let extended = ts_field >= EXTENDED_TIMESTAMP;
        out.reserve(payload.len() + 18 + payload.len() / self.chunk_size.max(1) as usize * 8);
        put_basic_header(out, fmt, csid);
        let field = ts_field.min(EXTENDED_TIMESTAMP);
        if fmt <= 2 {
            put_u24(out, field);
        }
        if fmt <= 1 {
            put_u24(out, length);
            out.put_u8(type_id);
        }
        if fmt == 0 {
            out.put_u32_le(stream_id);
        }
        if extended {
            out.put_u32(ts_field);
        }
        let mut chunks = payload.chunks(self.chunk_size.max(1) as usize);
        if let Some(first) = chunks.next() {
            out.extend_from_slice(first);
        }
        for chunk in chunks {
            put_basic_header(out, 3, csid);
            if extended {
                out.put_u32(ts_field);
            }
            out.extend_from_slice(chunk);
        }
        self.streams.insert(
            csid,
            Previous {
                timestamp,
                ts_field,
                delta,
                length,
                type_id,
                stream_id,
            },
        );
        true
    }
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    // `csid` is within 2..=MAX_CSID (checked by the caller).
    match csid {
        0..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => {
            out.put_u8(fmt);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            out.put_u8(fmt | 1);
            out.put_u16_le((csid - 64) as u16);
        }
    }
}

fn put_u24(out: &mut BytesMut, value: u32) {
    let bytes = value.to_be_bytes();
    out.extend_from_slice(&bytes[1..]);
}
