//! Program specific information: the CRC-32/MPEG-2 of table sections, writing
//! the program association (PAT) and program map (PMT) tables as single packets,
//! reassembling sections that span packets ([`SectionAssembler`]), and parsing
//! PAT and PMT sections.

use super::{PACKET_SIZE, PAT_PID, PROGRAM_NUMBER, SYNC_BYTE};

/// table_id of a program association section.
pub(crate) const TABLE_PAT: u8 = 0x00;
/// table_id of a program map section.
pub(crate) const TABLE_PMT: u8 = 0x02;
/// Largest section_length of a PAT or PMT section (ISO/IEC 13818-1 2.4.4.3).
pub(crate) const MAX_SECTION_LENGTH: usize = 1021;
/// Bytes before section_length's count starts: table_id and the length field.
const SECTION_HEADER: usize = 3;
/// Bytes of the CRC at the end of a section.
const CRC_LEN: usize = 4;

/// CRC-32/MPEG-2 lookup table: polynomial 0x04C11DB7, most significant bit first.
const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// CRC-32/MPEG-2 (initial value all ones, no reflection, no final xor). Over a
/// whole section, its own CRC included, the result is 0.
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xFFFF_FFFF, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[usize::from(((crc >> 24) as u8) ^ b)]
    })
}

/// Appends one packet on `pid` holding the section written by `body` after its
/// table_id and section_length (which are filled in), its CRC, and 0xFF stuffing.
/// With `discontinuity`, an adaptation field sets the discontinuity_indicator.
/// `body` must write at most 177 bytes.
fn write_section_packet(
    out: &mut Vec<u8>,
    pid: u16,
    (cc, discontinuity): (u8, bool),
    table_id: u8,
    body: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    let control = if discontinuity { 0x30 } else { 0x10 };
    out.extend_from_slice(&[
        SYNC_BYTE,
        0x40 | ((pid >> 8) as u8 & 0x1F), // payload_unit_start_indicator
        pid as u8,
        control | (cc & 0x0F),
    ]);
    if discontinuity {
        out.extend_from_slice(&[1, 0x80]); // adaptation field: discontinuity_indicator
    }
    out.push(0x00); // pointer_field
    let section_start = out.len();
    out.extend_from_slice(&[table_id, 0, 0]);
    body(out);
    let section_length = out.len() - section_start - SECTION_HEADER + CRC_LEN;
    if let Some(len) = out.get_mut(section_start + 1..section_start + 3) {
        // section_syntax_indicator 1, '0', reserved '11', 12-bit length.
        len.copy_from_slice(&[
            0xB0 | ((section_length >> 8) as u8 & 0x0F),
            section_length as u8,
        ]);
    }
    let crc = crc32_mpeg2(out.get(section_start..).unwrap_or(&[]));
    out.extend_from_slice(&crc.to_be_bytes());
    out.resize(start + PACKET_SIZE, 0xFF);
}

/// Appends the PAT: one program, [`PROGRAM_NUMBER`], whose PMT is on `pmt_pid`.
/// `cc` is the continuity counter and whether to flag a discontinuity.
pub(crate) fn write_pat(out: &mut Vec<u8>, cc: (u8, bool), pmt_pid: u16) {
    write_section_packet(out, PAT_PID, cc, TABLE_PAT, |out| {
        out.extend_from_slice(&[
            0x00, 0x01, // transport_stream_id 1
            0xC1, // reserved, version 0, current_next_indicator 1
            0x00, // section_number
            0x00, // last_section_number
        ]);
        out.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
        out.extend_from_slice(&(0xE000 | pmt_pid).to_be_bytes());
    });
}

/// Appends the PMT of [`PROGRAM_NUMBER`] on `pmt_pid`: `streams` as
/// (stream_type, PID) in order, no descriptors. At most 32 streams fit.
pub(crate) fn write_pmt(
    out: &mut Vec<u8>,
    cc: (u8, bool),
    pmt_pid: u16,
    pcr_pid: u16,
    streams: &[(u8, u16)],
) {
    write_section_packet(out, pmt_pid, cc, TABLE_PMT, |out| {
        out.extend_from_slice(&PROGRAM_NUMBER.to_be_bytes());
        out.extend_from_slice(&[0xC1, 0x00, 0x00]); // version 0, current; section 0 of 0
        out.extend_from_slice(&(0xE000 | pcr_pid).to_be_bytes());
        out.extend_from_slice(&[0xF0, 0x00]); // program_info_length 0
        for &(stream_type, pid) in streams {
            out.push(stream_type);
            out.extend_from_slice(&(0xE000 | pid).to_be_bytes());
            out.extend_from_slice(&[0xF0, 0x00]); // ES_info_length 0
        }
    });
}

/// Reassembles the sections of one PSI PID from packet payloads.
#[derive(Debug, Clone, Default)]
pub(crate) struct SectionAssembler {
    buf: Vec<u8>,
    collecting: bool,
}

impl SectionAssembler {
    /// Feeds one packet's payload; every section completed by it is appended to
    /// `sections`. The buffer never grows past one maximal section plus a packet.
    pub fn push(&mut self, payload_unit_start: bool, payload: &[u8], sections: &mut Vec<Vec<u8>>) {
        if !payload_unit_start {
            self.feed(payload, sections);
            return;
        }
        let Some((&pointer, rest)) = payload.split_first() else {
            self.reset();
            return;
        };
        match rest.split_at_checked(usize::from(pointer)) {
            Some((tail, head)) => {
                self.feed(tail, sections);
                self.buf.clear();
                self.collecting = true;
                self.feed(head, sections);
            }
            None => {
                tracing::debug!(pointer, "PSI pointer_field points past the packet");
                self.reset();
            }
        }
    }

    /// Forgets any partial section (after a continuity error).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.collecting = false;
    }

    fn feed(&mut self, bytes: &[u8], sections: &mut Vec<Vec<u8>>) {
        if !self.collecting {
            return;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            match self.buf.first() {
                None => return,
                Some(0xFF) => {
                    // Stuffing: no further section in this payload.
                    self.reset();
                    return;
                }
                Some(_) => {}
            }
            let Some(&[_, hi, lo]) = self.buf.first_chunk::<SECTION_HEADER>() else {
                return;
            };
            let section_length = (usize::from(hi & 0x0F) << 8) | usize::from(lo);
            if section_length > MAX_SECTION_LENGTH {
                tracing::debug!(
                    section_length,
                    "PSI section longer than a PAT or PMT may be"
                );
                self.reset();
                return;
            }
            let total = SECTION_HEADER + section_length;
            if self.buf.len() < total {
                return;
            }
            sections.push(self.buf.get(..total).unwrap_or(&[]).to_vec());
            self.buf.drain(..total);
        }
    }
}

/// The long-form header of a PSI section, checked.
struct Section<'a> {
    /// table_id_extension: transport_stream_id or program_number.
    id: u16,
    version: u8,
    /// The bytes between the header and the CRC.
    body: &'a [u8],
}

/// Checks table_id, syntax, current_next_indicator and the CRC of `section`.
/// `Ok(None)` for a valid section that is not yet in force.
fn parse_section(section: &[u8], table_id: u8) -> Result<Option<Section<'_>>, &'static str> {
    let Some(&[id, flags, _, ext_hi, ext_lo, version, _section_number, _last]) =
        section.first_chunk::<8>()
    else {
        return Err("PSI section shorter than its header");
    };
    if id != table_id {
        return Err("PSI section with an unexpected table_id");
    }
    if flags & 0x80 == 0 {
        return Err("PSI section without the long syntax");
    }
    if section.len() < 8 + CRC_LEN {
        return Err("PSI section too short for its CRC");
    }
    if crc32_mpeg2(section) != 0 {
        return Err("PSI section with a wrong CRC");
    }
    if version & 0x01 == 0 {
        return Ok(None);
    }
    Ok(Some(Section {
        id: u16::from_be_bytes([ext_hi, ext_lo]),
        version: (version >> 1) & 0x1F,
        body: section.get(8..section.len() - CRC_LEN).unwrap_or(&[]),
    }))
}

/// The first program of a PAT section: (program_number, PMT PID). `Ok(None)` when
/// the section lists no program (only a network PID) or is not current.
pub(crate) fn parse_pat(section: &[u8]) -> Result<Option<(u16, u16)>, &'static str> {
    let Some(section) = parse_section(section, TABLE_PAT)? else {
        return Ok(None);
    };
    Ok(section.body.chunks_exact(4).find_map(|entry| {
        let &[p_hi, p_lo, pid_hi, pid_lo] = entry else {
            return None;
        };
        let program = u16::from_be_bytes([p_hi, p_lo]);
        let pid = u16::from_be_bytes([pid_hi, pid_lo]) & 0x1FFF;
        (program != 0).then_some((program, pid))
    }))
}

/// What a PMT section says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pmt {
    pub program: u16,
    pub version: u8,
    pub pcr_pid: u16,
    /// (stream_type, elementary PID) in table order, at most `max_streams`.
    pub streams: Vec<(u8, u16)>,
}

/// Parses a PMT section; entries past `max_streams` are dropped with a log.
/// `Ok(None)` for a section not yet in force.
pub(crate) fn parse_pmt(section: &[u8], max_streams: usize) -> Result<Option<Pmt>, &'static str> {
    let Some(section) = parse_section(section, TABLE_PMT)? else {
        return Ok(None);
    };
    let Some((&[pcr_hi, pcr_lo, info_hi, info_lo], rest)) = section.body.split_first_chunk::<4>()
    else {
        return Err("PMT section too short");
    };
    let info_len = (usize::from(info_hi & 0x0F) << 8) | usize::from(info_lo);
    let mut entries = rest
        .get(info_len..)
        .ok_or("PMT program_info_length runs past the section")?;
    let mut streams = Vec::new();
    while let Some((&[stream_type, pid_hi, pid_lo, es_hi, es_lo], tail)) =
        entries.split_first_chunk::<5>()
    {
        let es_info_len = (usize::from(es_hi & 0x0F) << 8) | usize::from(es_lo);
        entries = tail
            .get(es_info_len..)
            .ok_or("PMT ES_info_length runs past the section")?;
        if streams.len() >= max_streams {
            tracing::debug!(max_streams, "ignoring PMT entries past the stream limit");
            break;
        }
        streams.push((
            stream_type,
            (u16::from(pid_hi & 0x1F) << 8) | u16::from(pid_lo),
        ));
    }
    Ok(Some(Pmt {
        program: section.id,
        version: section.version,
        pcr_pid: (u16::from(pcr_hi & 0x1F) << 8) | u16::from(pcr_lo),
        streams,
    }))
}
