//! Packetized elementary stream (PES) packets: writing and reading the PES header
//! with its 33-bit PTS/DTS, and reassembling one PID's PES packets from transport
//! packet payloads ([`PesAssembler`]).

use super::{MAX_PES_SIZE, PACKET_SIZE};

/// The longest PES header the muxer writes: start code, stream_id, length, two
/// flag bytes, header_data_length, PTS and DTS.
pub(crate) const PES_HEADER_MAX: usize = 19;
/// stream_id of the first video stream; the n-th uses `0xE0 + n`.
pub(crate) const STREAM_ID_VIDEO: u8 = 0xE0;
/// stream_id of the first audio stream; the n-th uses `0xC0 + n`.
pub(crate) const STREAM_ID_AUDIO: u8 = 0xC0;
/// Every PTS, DTS and PCR base is taken modulo this.
pub(crate) const TIMESTAMP_MODULUS: i64 = 1 << 33;
/// A reassembly buffer that grew past this is released after use, so one huge
/// frame does not pin its memory for the life of the stream.
const KEEP_CAPACITY: usize = 4 << 20;

/// A timestamp taken modulo 2^33: the value a PTS/DTS/PCR field holds.
pub(crate) fn wrap_33(ticks: i64) -> u64 {
    ticks.rem_euclid(TIMESTAMP_MODULUS) as u64
}

/// Writes the 5-byte PTS or DTS field with its 4-bit `prefix` and marker bits.
fn write_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    [
        (prefix << 4) | ((((ts >> 30) & 0x07) as u8) << 1) | 1,
        (ts >> 22) as u8,
        ((((ts >> 15) & 0x7F) as u8) << 1) | 1,
        (ts >> 7) as u8,
        (((ts & 0x7F) as u8) << 1) | 1,
    ]
}

/// Reads a 5-byte PTS or DTS field (marker bits are not checked).
fn read_timestamp(b: &[u8; 5]) -> u64 {
    (u64::from((b[0] >> 1) & 0x07) << 30)
        | (u64::from(b[1]) << 22)
        | (u64::from(b[2] >> 1) << 15)
        | (u64::from(b[3]) << 7)
        | u64::from(b[4] >> 1)
}

/// Writes a PES header into `buf` and returns its length. `pts` and `dts` are
/// 33-bit values; `dts` is written only when given. With `payload_len`, the
/// header's PES_packet_length covers that many bytes after the header (0, for
/// unbounded, when it does not fit 16 bits); without, it is 0.
pub(crate) fn write_pes_header(
    buf: &mut [u8; PES_HEADER_MAX],
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload_len: Option<usize>,
) -> usize {
    let fields_len = if dts.is_some() { 10 } else { 5 };
    let after_length = 3 + fields_len;
    let packet_length = payload_len
        .and_then(|n| n.checked_add(after_length))
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(0);
    let [l_hi, l_lo] = packet_length.to_be_bytes();
    let flags = if dts.is_some() { 0xC0 } else { 0x80 };
    // '10', not scrambled, data_alignment_indicator: every PES starts an access unit.
    buf[..9].copy_from_slice(&[
        0,
        0,
        1,
        stream_id,
        l_hi,
        l_lo,
        0x84,
        flags,
        fields_len as u8,
    ]);
    match dts {
        Some(dts) => {
            buf[9..14].copy_from_slice(&write_timestamp(0b0011, pts));
            buf[14..19].copy_from_slice(&write_timestamp(0b0001, dts));
        }
        None => buf[9..14].copy_from_slice(&write_timestamp(0b0010, pts)),
    }
    9 + fields_len
}

/// What the header of a complete PES packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PesHeader {
    pub stream_id: u8,
    /// 33-bit presentation timestamp.
    pub pts: Option<u64>,
    /// 33-bit decode timestamp (only when it differs from the PTS).
    pub dts: Option<u64>,
    /// Where the elementary stream payload starts.
    pub payload_offset: usize,
}

/// Stream ids whose PES packets have no optional header (program stream map,
/// padding, private stream 2, ECM, EMM, DSMCC, H.222.1 type E, directory).
fn has_optional_header(stream_id: u8) -> bool {
    !matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    )
}

/// Parses the header of a complete PES packet.
pub(crate) fn parse_pes_header(data: &[u8]) -> Result<PesHeader, &'static str> {
    let Some(&[0, 0, 1, stream_id, _, _]) = data.first_chunk::<6>() else {
        return Err("PES packet without a start code");
    };
    if !has_optional_header(stream_id) {
        return Ok(PesHeader {
            stream_id,
            pts: None,
            dts: None,
            payload_offset: 6,
        });
    }
    let Some(&[_, _, _, _, _, _, marker, flags, header_len]) = data.first_chunk::<9>() else {
        return Err("PES header cut short");
    };
    if marker & 0xC0 != 0x80 {
        return Err("PES header without its '10' marker bits");
    }
    let payload_offset = 9 + usize::from(header_len);
    let fields = data
        .get(9..payload_offset)
        .ok_or("PES header_data_length runs past the packet")?;
    let (pts, dts) = match flags >> 6 {
        0b10 => {
            let pts = fields
                .first_chunk::<5>()
                .ok_or("PES header too short for its PTS")?;
            (Some(read_timestamp(pts)), None)
        }
        0b11 => {
            let both = fields
                .first_chunk::<10>()
                .ok_or("PES header too short for its PTS and DTS")?;
            let (pts, dts) = both.split_at(5);
            let pts: &[u8; 5] = pts.try_into().map_err(|_| "PES PTS")?;
            let dts: &[u8; 5] = dts.try_into().map_err(|_| "PES DTS")?;
            (Some(read_timestamp(pts)), Some(read_timestamp(dts)))
        }
        _ => (None, None),
    };
    Ok(PesHeader {
        stream_id,
        pts,
        dts,
        payload_offset,
    })
}

/// A reassembled PES packet and the byte range of its transport packets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompletePes<'a> {
    pub data: &'a [u8],
    /// Stream offset of the packet that started it.
    pub start: u64,
    /// Stream offset just past the last packet that carried part of it.
    pub end: u64,
}

/// Reassembles the PES packets of one PID.
#[derive(Debug, Clone, Default)]
pub(crate) struct PesAssembler {
    buf: Vec<u8>,
    collecting: bool,
    start: u64,
    end: u64,
    /// Total bytes of a bounded PES (6 + PES_packet_length).
    expected: Option<usize>,
}

impl PesAssembler {
    /// Feeds the payload of the packet at stream offset `offset`. Calls `on_pes`
    /// for a PES ended by this packet's start or completed by its length.
    pub fn push(
        &mut self,
        payload_unit_start: bool,
        payload: &[u8],
        offset: u64,
        on_pes: &mut impl FnMut(CompletePes<'_>),
    ) {
        if payload_unit_start {
            self.flush(on_pes);
            self.collecting = true;
            self.start = offset;
            self.expected = None;
        } else if !self.collecting {
            tracing::trace!(offset, "PES continuation without a start, dropped");
            return;
        }
        if self.buf.len().saturating_add(payload.len()) > MAX_PES_SIZE {
            tracing::debug!(
                limit = MAX_PES_SIZE,
                "dropping a PES packet over the size limit"
            );
            self.abort();
            return;
        }
        self.buf.extend_from_slice(payload);
        self.end = offset.saturating_add(PACKET_SIZE as u64);
        if self.expected.is_none() {
            match self.buf.first_chunk::<6>() {
                Some(&[0, 0, 1, _, hi, lo]) => {
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    if len != 0 {
                        self.expected = Some(6 + len);
                    }
                }
                Some(_) => {
                    tracing::debug!(
                        offset = self.start,
                        "PES packet without a start code, dropped"
                    );
                    self.abort();
                    return;
                }
                None => {}
            }
        }
        if let Some(total) = self.expected {
            if self.buf.len() >= total {
                self.buf.truncate(total);
                self.emit(on_pes);
            }
        }
    }

    /// Ends the PES being collected (end of input, or a new one starting).
    pub fn flush(&mut self, on_pes: &mut impl FnMut(CompletePes<'_>)) {
        if !self.collecting {
            return;
        }
        match self.expected {
            Some(total) if self.buf.len() < total => {
                tracing::debug!(
                    offset = self.start,
                    have = self.buf.len(),
                    want = total,
                    "dropping a PES packet shorter than its PES_packet_length"
                );
                self.abort();
            }
            _ => self.emit(on_pes),
        }
    }

    /// Drops the PES being collected (a lost or damaged packet).
    pub fn abort(&mut self) {
        self.collecting = false;
        self.release();
    }

    /// Whether a PES is being collected.
    pub fn is_collecting(&self) -> bool {
        self.collecting
    }

    fn emit(&mut self, on_pes: &mut impl FnMut(CompletePes<'_>)) {
        self.collecting = false;
        on_pes(CompletePes {
            data: &self.buf,
            start: self.start,
            end: self.end,
        });
        self.release();
    }

    fn release(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }
}
