//! [`ChunkDecoder`]: reassembles the peer's chunks into [`Message`]s, within
//! [`ChunkLimits`].
//!
//! Chunk headers (at most 18 bytes) are collected until complete; payload
//! bytes are copied straight into the message they belong to as they arrive,
//! so nothing but the messages in progress is buffered, whatever the chunk
//! size. Memory is bounded by the sum of the lengths of the messages in
//! progress, which [`ChunkLimits::max_pending_bytes`] caps before any of it is
//! allocated.

use std::collections::HashMap;

use bytes::BytesMut;

use super::{Message, DEFAULT_CHUNK_SIZE, EXTENDED_TIMESTAMP};
use crate::error::RtmpError;

/// Largest chunk size a peer may ask for (the specification allows up to
/// 2^31 - 1; no real encoder goes past a few hundred KiB).
pub const MAX_CHUNK_SIZE: u32 = 16 << 20;
/// Largest message accepted, in bytes (a 4K keyframe is a few MiB).
pub const MAX_MESSAGE_SIZE: u32 = 8 << 20;
/// Most chunk streams one peer may use (encoders use five or six).
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Most bytes of messages in progress at once, over all chunk streams.
pub const MAX_PENDING_BYTES: usize = 16 << 20;

/// Bytes of the longest chunk header: 3-byte basic header, 11-byte message
/// header, 4-byte extended timestamp.
const MAX_HEADER_LEN: usize = 18;
/// Most bytes reserved up front for a message; larger ones grow as they arrive.
const INITIAL_MESSAGE_CAPACITY: usize = 64 << 10;

/// The caps a [`ChunkDecoder`] enforces; exceeding one is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest chunk size the peer may set.
    pub max_chunk_size: u32,
    /// Largest message length accepted.
    pub max_message_size: u32,
    /// Most distinct chunk stream ids.
    pub max_chunk_streams: usize,
    /// Most bytes of unfinished messages, summed over chunk streams.
    pub max_pending_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_chunk_size: MAX_CHUNK_SIZE,
            max_message_size: MAX_MESSAGE_SIZE,
            max_chunk_streams: MAX_CHUNK_STREAMS,
            max_pending_bytes: MAX_PENDING_BYTES,
        }
    }
}

/// What a chunk stream remembers from its previous chunk headers.
#[derive(Debug, Default)]
struct StreamState {
    /// Timestamp of the latest message.
    timestamp: u32,
    /// The latest timestamp field: absolute after fmt 0, a delta after fmt 1
    /// and 2 (extended value included). A fmt 3 chunk that starts a message
    /// adds it again.
    ts_field: u32,
    /// The latest header carried an extended timestamp.
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
    /// The message being reassembled, if any.
    partial: Option<BytesMut>,
}

/// A parsed chunk header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fmt: u8,
    csid: u32,
    /// Timestamp or delta field (extended value applied); fmt 0..=2.
    ts_field: u32,
    extended: bool,
    /// The four bytes read as an extended timestamp after a fmt 3 header.
    fmt3_extended: Option<[u8; 4]>,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

/// Reassembles RTMP messages from the peer's chunk stream.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: ChunkLimits,
    chunk_size: u32,
    streams: HashMap<u32, StreamState>,
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    /// The chunk whose payload is arriving: its chunk stream and the bytes
    /// left in it.
    in_chunk: Option<(u32, usize)>,
    /// Declared lengths of the messages in progress, summed.
    pending: usize,
}

impl ChunkDecoder {
    pub fn new(limits: ChunkLimits) -> ChunkDecoder {
        ChunkDecoder {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            in_chunk: None,
            pending: 0,
        }
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Applies the peer's Set Chunk Size; it governs the chunks after the one
    /// that carried it.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), RtmpError> {
        if size == 0 || size > self.limits.max_chunk_size {
            return Err(RtmpError::BadChunkSize {
                size,
                limit: self.limits.max_chunk_size,
            });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops the message in progress on `csid` (the peer's Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(state) = self.streams.get_mut(&csid) {
            if state.partial.take().is_some() {
                self.pending = self.pending.saturating_sub(state.length as usize);
                if matches!(self.in_chunk, Some((c, _)) if c == csid) {
                    self.in_chunk = None;
                }
            }
        }
    }

    /// Bytes of unfinished messages held.
    pub fn pending_bytes(&self) -> usize {
        self.pending
    }

    /// Reads from `data` until one message completes or `data` runs out.
    /// Returns the bytes consumed and the message, if one completed; without
    /// a message, all of `data` was consumed.
    pub fn decode(&mut self, data: &[u8]) -> Result<(usize, Option<Message>), RtmpError> {
        let mut used = 0;
        loop {
            let rest = data.get(used..).unwrap_or_default();
            if let Some((csid, left)) = self.in_chunk {
                let take = left.min(rest.len());
                let state = self
                    .streams
                    .get_mut(&csid)
                    .ok_or(RtmpError::NoPreviousHeader { csid })?;
                if let Some(partial) = state.partial.as_mut() {
                    partial.extend_from_slice(rest.get(..take).unwrap_or_default());
                }
                used += take;
                let left = left - take;
                if left > 0 {
                    self.in_chunk = Some((csid, left));
                    return Ok((used, None));
                }
                self.in_chunk = None;
                if let Some(message) = self.finish_if_complete(csid) {
                    return Ok((used, Some(message)));
                }
                continue;
            }
            // Collect header bytes until the header is complete.
            let needed = self.header_needed();
            if self.header_len < needed {
                if rest.is_empty() {
                    return Ok((used, None));
                }
                let take = (needed - self.header_len).min(rest.len());
                if let (Some(dst), Some(src)) = (
                    self.header.get_mut(self.header_len..self.header_len + take),
                    rest.get(..take),
                ) {
                    dst.copy_from_slice(src);
                }
                self.header_len += take;
                used += take;
                continue;
            }
            let header = self.parse_header();
            self.header_len = 0;
            if let Some(message) = self.start_chunk(header)? {
                return Ok((used, Some(message)));
            }
        }
    }

    /// How many header bytes the chunk being read needs, as far as the bytes
    /// collected so far tell (grows as they arrive; final once reached).
    fn header_needed(&self) -> usize {
        let Some(&first) = self.header.first().filter(|_| self.header_len > 0) else {
            return 1;
        };
        let basic = match first & 0x3F {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        if self.header_len < basic {
            return basic;
        }
        let fmt = first >> 6;
        let message = match fmt {
            0 => 11,
            1 => 7,
            2 => 3,
            _ => 0,
        };
        let base = basic + message;
        if self.header_len < base {
            return base;
        }
        let extended = if fmt == 3 {
            let csid = self.csid(basic);
            self.streams.get(&csid).is_some_and(|s| s.extended)
        } else {
            read_u24(self.header.get(basic..basic + 3)) == EXTENDED_TIMESTAMP
        };
        if extended {
            base + 4
        } else {
            base
        }
    }

    /// The chunk stream id of the collected basic header of `basic` bytes.
    fn csid(&self, basic: usize) -> u32 {
        let h = &self.header;
        match basic {
            2 => 64 + u32::from(h[1]),
            3 => 64 + u32::from(h[1]) + 256 * u32::from(h[2]),
            _ => u32::from(h[0] & 0x3F),
        }
    }

    fn parse_header(&self) -> Header {
        let h = &self.header;
        let fmt = h[0] >> 6;
        let basic = match h[0] & 0x3F {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let csid = self.csid(basic);
        let mut header = Header {
            fmt,
            csid,
            ts_field: 0,
            extended: false,
            fmt3_extended: None,
            length: 0,
            type_id: 0,
            stream_id: 0,
        };
        let mut pos = basic;
        if fmt <= 2 {
            header.ts_field = read_u24(h.get(pos..pos + 3));
            pos += 3;
        }
        if fmt <= 1 {
            header.length = read_u24(h.get(pos..pos + 3));
            header.type_id = h[pos + 3];
            pos += 4;
        }
        if fmt == 0 {
            let id = h.get(pos..pos + 4).unwrap_or(&[0; 4]);
            header.stream_id = u32::from_le_bytes([id[0], id[1], id[2], id[3]]);
            pos += 4;
        }
        if self.header_len > pos {
            let ext = h.get(pos..pos + 4).unwrap_or(&[0; 4]);
            header.extended = true;
            if fmt <= 2 {
                header.ts_field = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            } else {
                header.fmt3_extended = Some([ext[0], ext[1], ext[2], ext[3]]);
            }
        }
        header
    }

    /// Applies a chunk header: starts or continues a message and sets up the
    /// payload read. Returns a message that is already complete (length 0).
    fn start_chunk(&mut self, header: Header) -> Result<Option<Message>, RtmpError> {
        let limits = self.limits;
        if !self.streams.contains_key(&header.csid) {
            if header.fmt != 0 {
                return Err(RtmpError::NoPreviousHeader { csid: header.csid });
            }
            if self.streams.len() >= limits.max_chunk_streams {
                return Err(RtmpError::too_large(
                    "number of chunk streams",
                    self.streams.len() as u64 + 1,
                    limits.max_chunk_streams as u64,
                ));
            }
            self.streams.insert(header.csid, StreamState::default());
        }
        let Some(state) = self.streams.get_mut(&header.csid) else {
            return Err(RtmpError::NoPreviousHeader { csid: header.csid });
        };
        let continuing = header.fmt == 3 && state.partial.is_some();
        if !continuing {
            if let Some(dropped) = state.partial.take() {
                tracing::debug!(
                    csid = header.csid,
                    received = dropped.len(),
                    "rtmp: a new message header interrupted an unfinished message; dropped it"
                );
                self.pending = self.pending.saturating_sub(state.length as usize);
            }
            match header.fmt {
                0 => {
                    state.timestamp = header.ts_field;
                    state.ts_field = header.ts_field;
                    state.length = header.length;
                    state.type_id = header.type_id;
                    state.stream_id = header.stream_id;
                    state.extended = header.extended;
                }
                1 | 2 => {
                    state.timestamp = state.timestamp.wrapping_add(header.ts_field);
                    state.ts_field = header.ts_field;
                    state.extended = header.extended;
                    if header.fmt == 1 {
                        state.length = header.length;
                        state.type_id = header.type_id;
                    }
                }
                _ => state.timestamp = state.timestamp.wrapping_add(state.ts_field),
            }
            if state.length > limits.max_message_size {
                return Err(RtmpError::too_large(
                    "message length",
                    u64::from(state.length),
                    u64::from(limits.max_message_size),
                ));
            }
            let length = state.length as usize;
            let pending = self.pending.saturating_add(length);
            if pending > limits.max_pending_bytes {
                return Err(RtmpError::too_large(
                    "bytes of unfinished messages",
                    pending as u64,
                    limits.max_pending_bytes as u64,
                ));
            }
            self.pending = pending;
            state.partial = Some(BytesMut::with_capacity(
                length.min(INITIAL_MESSAGE_CAPACITY),
            ));
        }
        let received = state.partial.as_ref().map_or(0, |p| p.len());
        let left = (state.length as usize).saturating_sub(received);
        let mut chunk = left.min(self.chunk_size as usize);
        // The specification repeats the extended timestamp in fmt 3 chunks,
        // and ffmpeg, OBS and Flash do; a sender that does not has put payload
        // there instead, recognisable as not being the timestamp (delta or
        // absolute). Such bytes go back where they belong.
        if let Some(bytes) = header.fmt3_extended {
            let value = u32::from_be_bytes(bytes);
            if value != state.ts_field && value != state.timestamp {
                let to_payload = chunk.min(bytes.len());
                let (payload, next_header) = bytes.split_at(to_payload);
                if let Some(partial) = state.partial.as_mut() {
                    partial.extend_from_slice(payload);
                }
                chunk -= to_payload;
                // What is left past this chunk starts the next chunk header.
                if let Some(dst) = self.header.get_mut(..next_header.len()) {
                    dst.copy_from_slice(next_header);
                    self.header_len = next_header.len();
                }
            }
        }
        if chunk == 0 {
            return Ok(self.finish_if_complete(header.csid));
        }
        self.in_chunk = Some((header.csid, chunk));
        Ok(None)
    }

    /// The message on `csid`, if all its bytes have arrived.
    fn finish_if_complete(&mut self, csid: u32) -> Option<Message> {
        let state = self.streams.get_mut(&csid)?;
        let received = state.partial.as_ref()?.len();
        if received < state.length as usize {
            return None;
        }
        let payload = state.partial.take()?.freeze();
        self.pending = self.pending.saturating_sub(state.length as usize);
        Some(Message {
            csid,
            timestamp: state.timestamp,
            type_id: state.type_id,
            stream_id: state.stream_id,
            payload,
        })
    }
}

/// A big-endian 24-bit number (0 if the slice is missing).
fn read_u24(bytes: Option<&[u8]>) -> u32 {
    match bytes {
        Some(&[a, b, c]) => u32::from_be_bytes([0, a, b, c]),
        _ => 0,
    }
}
