//! The transport packet layer: reading one 188-byte packet's header and
//! adaptation field ([`parse_packet`]), writing the PCR field, and cutting a byte
//! stream into packets with sync recovery ([`PacketSplitter`]).

use super::{PACKET_SIZE, SYNC_BYTE};

/// Payload bytes of a packet without an adaptation field.
pub(crate) const PACKET_PAYLOAD: usize = PACKET_SIZE - 4;

/// One transport packet, parsed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packet<'a> {
    pub pid: u16,
    pub payload_unit_start: bool,
    /// The transport_error_indicator: the packet is known to be damaged.
    pub transport_error: bool,
    pub continuity_counter: u8,
    /// adaptation_field_control says a payload follows (even an empty one).
    pub has_payload: bool,
    /// The adaptation field's discontinuity_indicator.
    pub discontinuity: bool,
    /// The adaptation field's random_access_indicator.
    pub random_access: bool,
    /// program_clock_reference_base (90 kHz), when present.
    pub pcr: Option<u64>,
    pub payload: &'a [u8],
}

/// Parses the header and adaptation field of `p`; the error names what is wrong.
pub(crate) fn parse_packet(p: &[u8; PACKET_SIZE]) -> Result<Packet<'_>, &'static str> {
    let [sync, b1, b2, b3, ..] = *p;
    if sync != SYNC_BYTE {
        return Err("packet without a sync byte");
    }
    let pid = (u16::from(b1 & 0x1F) << 8) | u16::from(b2);
    let control = (b3 >> 4) & 0x03;
    if control == 0 {
        return Err("packet with the reserved adaptation_field_control 0");
    }
    let has_adaptation = control & 0x02 != 0;
    let has_payload = control & 0x01 != 0;
    let mut packet = Packet {
        pid,
        payload_unit_start: b1 & 0x40 != 0,
        transport_error: b1 & 0x80 != 0,
        continuity_counter: b3 & 0x0F,
        has_payload,
        discontinuity: false,
        random_access: false,
        pcr: None,
        payload: &[],
    };
    let after_header = p.get(4..).unwrap_or(&[]);
    let rest = if has_adaptation {
        let (&len, field_and_rest) = after_header
            .split_first()
            .ok_or("packet without room for its adaptation field")?;
        let (field, rest) = field_and_rest
            .split_at_checked(usize::from(len))
            .ok_or("adaptation field longer than its packet")?;
        if let Some((&flags, fields)) = field.split_first() {
            packet.discontinuity = flags & 0x80 != 0;
            packet.random_access = flags & 0x40 != 0;
            if flags & 0x10 != 0 {
                let pcr = fields
                    .first_chunk::<6>()
                    .ok_or("adaptation field too short for its PCR")?;
                packet.pcr = Some(read_pcr_base(pcr));
            }
        }
        rest
    } else {
        after_header
    };
    if has_payload {
        packet.payload = rest;
    }
    Ok(packet)
}

/// The 33-bit base of a 6-byte program_clock_reference field.
fn read_pcr_base(b: &[u8; 6]) -> u64 {
    (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | (u64::from(b[4]) >> 7)
}

/// The 6-byte program_clock_reference field for a 90 kHz `base` (taken modulo
/// 2^33) with a zero 27 MHz extension.
pub(crate) fn pcr_field(base: u64) -> [u8; 6] {
    let base = base & ((1 << 33) - 1);
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7E, // six reserved bits, extension high bit 0
        0,
    ]
}

/// Cuts a byte stream, fed in pieces of any size, into 188-byte packets.
///
/// When a packet does not start with the sync byte, bytes are skipped up to the
/// next 0x47 that is followed by another one 188 bytes later (the check waits for
/// that byte to arrive). At most one packet and one byte are held between calls.
#[derive(Debug, Clone)]
pub(crate) struct PacketSplitter {
    /// Bytes held between calls; `held[0]` is a sync byte whenever `held_len > 0`.
    held: [u8; PACKET_SIZE + 1],
    held_len: usize,
    /// Stream offset of `held[0]`.
    held_start: u64,
    /// The packet handed out from `held`.
    packet: [u8; PACKET_SIZE],
    /// Stream offset of the next byte to be fed.
    position: u64,
    synced: bool,
}

impl PacketSplitter {
    /// A splitter whose stream starts at `position`; its first packet is checked
    /// like one after lost sync.
    pub fn new(position: u64) -> Self {
        PacketSplitter {
            held: [0; PACKET_SIZE + 1],
            held_len: 0,
            held_start: position,
            packet: [0; PACKET_SIZE],
            position,
            synced: false,
        }
    }

    /// A splitter for a stream known to start with a packet at `position`.
    pub fn new_synced(position: u64) -> Self {
        PacketSplitter {
            synced: true,
            ..Self::new(position)
        }
    }

    /// Consumes bytes of `data` up to the end of the next whole packet and returns
    /// how many it used and that packet with its stream offset. `None` means all of
    /// `data` was used (held for the next call or skipped as garbage).
    pub fn next<'a>(&'a mut self, data: &'a [u8]) -> (usize, Option<(u64, &'a [u8; PACKET_SIZE])>) {
        let mut used = 0usize;
        loop {
            let rest = data.get(used..).unwrap_or(&[]);
            if self.held_len > 0 {
                let want = if self.synced {
                    PACKET_SIZE
                } else {
                    PACKET_SIZE + 1
                };
                let n = want.saturating_sub(self.held_len).min(rest.len());
                if let (Some(dst), Some(src)) = (
                    self.held.get_mut(self.held_len..self.held_len + n),
                    rest.get(..n),
                ) {
                    dst.copy_from_slice(src);
                }
                self.held_len += n;
                self.position += n as u64;
                used += n;
                if self.held_len < want {
                    return (used, None);
                }
                if !self.synced && self.held.get(PACKET_SIZE) != Some(&SYNC_BYTE) {
                    self.drop_held_to_next_sync();
                    continue;
                }
                return (used, self.take_held_packet());
            }
            let Some(&first) = rest.first() else {
                return (used, None);
            };
            if first != SYNC_BYTE {
                if self.synced {
                    tracing::debug!(
                        offset = self.position,
                        "lost MPEG-TS sync, skipping to the next sync byte"
                    );
                    self.synced = false;
                }
                let skip = rest
                    .iter()
                    .position(|&b| b == SYNC_BYTE)
                    .unwrap_or(rest.len());
                used += skip;
                self.position += skip as u64;
                continue;
            }
            match rest.get(PACKET_SIZE) {
                Some(&next) if self.synced || next == SYNC_BYTE => {
                    self.synced = true;
                }
                Some(_) => {
                    // A stray 0x47 inside garbage: no packet follows it.
                    used += 1;
                    self.position += 1;
                    continue;
                }
                None if self.synced && rest.len() == PACKET_SIZE => {}
                None => {
                    // Too little to take (or, out of sync, to check): hold it.
                    if let Some(dst) = self.held.get_mut(..rest.len()) {
                        dst.copy_from_slice(rest);
                    }
                    self.held_len = rest.len();
                    self.held_start = self.position;
                    self.position += rest.len() as u64;
                    return (data.len(), None);
                }
            }
            let Some(packet) = rest.first_chunk::<PACKET_SIZE>() else {
                return (data.len(), None); // not reached: `rest` has a full packet
            };
            let offset = self.position;
            self.position += PACKET_SIZE as u64;
            return (used + PACKET_SIZE, Some((offset, packet)));
        }
    }

    /// Ends the stream. A whole packet still held waiting for its sync check is
    /// returned (there is nothing more to check it against); a partial one is
    /// dropped.
    pub fn finish(&mut self) -> Option<(u64, &[u8; PACKET_SIZE])> {
        if self.held_len >= PACKET_SIZE {
            return self.take_held_packet();
        }
        if self.held_len > 0 {
            tracing::debug!(
                bytes = self.held_len,
                "dropping a partial MPEG-TS packet at the end"
            );
            self.held_len = 0;
        }
        None
    }

    /// Hands out the packet at the front of `held`, keeping any byte after it.
    fn take_held_packet(&mut self) -> Option<(u64, &[u8; PACKET_SIZE])> {
        let (packet, after) = self.held.split_at(PACKET_SIZE);
        self.packet.copy_from_slice(packet);
        let extra = self.held_len.saturating_sub(PACKET_SIZE);
        if let (Some(&b), true) = (after.first(), extra > 0) {
            self.held[0] = b;
        }
        self.held_len = extra;
        let offset = self.held_start;
        self.held_start += PACKET_SIZE as u64;
        self.synced = true;
        Some((offset, &self.packet))
    }

    /// Drops the held sync byte that turned out false, and everything up to the
    /// next sync byte in what is held.
    fn drop_held_to_next_sync(&mut self) {
        let held = self.held.get(1..self.held_len).unwrap_or(&[]);
        let skip = held
            .iter()
            .position(|&b| b == SYNC_BYTE)
            .map_or(self.held_len, |p| p + 1);
        self.held.copy_within(skip..self.held_len, 0);
        self.held_len -= skip;
        self.held_start += skip as u64;
    }
}
