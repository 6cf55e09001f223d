//! The transport stream muxer: [`TsMuxer`] turns tracks and frames into 188-byte
//! packets appended to a caller's buffer, and [`mux_segment`] renders a whole HLS
//! segment into one buffer sized up front.
//!
//! Layout: one program ([`PROGRAM_NUMBER`]) with its PMT on [`PMT_PID`]; the first
//! video track on PID `0x100`, every other track on `0x101`, `0x102`… in the order
//! given; the PCR on the first video PID (the first other track's PID without
//! video). Each frame becomes one PES packet:
//!
//! * H.264 / H.265: an access unit delimiter, then (on keyframes) the parameter
//!   sets of the track's avcC / hvcC, then the frame's NAL units with their 4-byte
//!   lengths replaced by start codes (delimiters already in the frame are left
//!   out). PES_packet_length is 0 (unbounded), as usual for video.
//! * AAC: an ADTS header, then the raw access unit.
//!
//! The first packet of a PES carries an adaptation field with the
//! random_access_indicator on keyframes and, on the PCR PID, a PCR on every
//! keyframe and whenever [`PCR_INTERVAL_90K`] has passed since the last one; the
//! last packet is filled up with adaptation field stuffing. Continuity counters
//! start at 0, and the first packet on each PID sets the discontinuity_indicator,
//! so independently muxed segments play back to back without continuity errors. Nothing is allocated
//! per packet: payload bytes are copied straight from the frame into the output.

use bytes::Bytes;

use super::packet::{pcr_field, PACKET_PAYLOAD};
use super::pes::{wrap_33, write_pes_header, PES_HEADER_MAX, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use super::psi::{write_pat, write_pmt};
use super::{
    TsError, FIRST_TRACK_PID, MAX_MUX_TRACKS, PACKET_SIZE, PMT_PID, STREAM_TYPE_AAC_ADTS,
    STREAM_TYPE_H264, STREAM_TYPE_HEVC, SYNC_BYTE, TS_TIMESCALE,
};
use crate::codec::aac::{AdtsHeader, AudioSpecificConfig, ADTS_HEADER_LEN};
use crate::codec::h264::{length_prefixed_nals, nal_type, AvcConfig, NAL_AUD};
use crate::codec::CodecError;
use crate::{scale_ticks, Codec, Frame, Track, TrackKind};

/// How far the PCR runs behind the DTS of the frame carrying it (100 ms, in
/// 90 kHz ticks): room for audio that arrives a little after the video of the
/// same time. The PCR never goes below 0, so it is at most the DTS.
pub const PCR_LEAD_90K: i64 = 9_000;
/// A PCR-PID frame gets a PCR when this long (40 ms) has passed since the last
/// one: with frames at most 60 ms apart, PCRs are at most 100 ms apart.
pub const PCR_INTERVAL_90K: i64 = 3_600;

/// Annex-B start code written before every NAL unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 access unit delimiter, primary_pic_type 7 (any slice type).
const AUD_H264: [u8; 6] = [0, 0, 0, 1, 0x09, 0xF0];
/// H.265 access unit delimiter (NAL type 35), pic_type 2 (any slice type).
const AUD_HEVC: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];
/// H.265 NAL unit types of VPS, SPS and PPS, and of the delimiter.
const HEVC_PARAMETER_SETS: [u8; 3] = [32, 33, 34];
const HEVC_NAL_AUD: u8 = 35;
/// Bytes of an adaptation field with flags and a PCR (length byte included).
const ADAPTATION_WITH_PCR: usize = 8;
/// Length of the fixed part of an `hvcC` record, before its NAL unit arrays.
const HVCC_FIXED_LEN: usize = 22;

/// The continuity counter of one PID. A fresh counter flags its first packet
/// with the discontinuity_indicator: a reader that joins streams from separate
/// muxers (HLS segments, each muxed on its own) then sees no continuity error.
#[derive(Debug, Clone, Copy)]
struct Counter {
    next: u8,
    fresh: bool,
}

impl Counter {
    const FRESH: Counter = Counter {
        next: 0,
        fresh: true,
    };

    /// The counter value for the next packet, and whether to flag it.
    fn take(&mut self) -> (u8, bool) {
        let taken = (self.next, self.fresh);
        self.next = (self.next + 1) & 0x0F;
        self.fresh = false;
        taken
    }
}

/// How one track's frames become PES payloads.
#[derive(Debug, Clone)]
enum Payload {
    Video {
        hevc: bool,
        /// The track's parameter sets as Annex-B, written before each keyframe.
        parameter_sets: Vec<u8>,
    },
    Aac(AudioSpecificConfig),
}

#[derive(Debug, Clone)]
struct MuxTrack {
    id: u32,
    timescale: u32,
    pid: u16,
    stream_type: u8,
    stream_id: u8,
    cc: Counter,
    payload: Payload,
}

/// A transport stream muxer for one program: per-PID continuity counters, PAT and
/// PMT, PES packetization. Sans-IO: every call appends whole packets to `out`.
///
/// A stream starts with [`TsMuxer::write_tables`]; progressive streams should
/// repeat the tables now and then (e.g. before keyframes) so a reader can join.
#[derive(Debug, Clone)]
pub struct TsMuxer {
    tracks: Vec<MuxTrack>,
    pcr_pid: u16,
    pat_cc: Counter,
    pmt_cc: Counter,
    /// DTS (90 kHz, before wrapping) of the last frame that carried a PCR.
    last_pcr_dts: Option<i64>,
    /// Reused buffer for ADTS headers.
    adts: Vec<u8>,
}

impl TsMuxer {
    /// A muxer for `tracks` (at most [`MAX_MUX_TRACKS`], unique ids). Checks each
    /// track's decoder configuration: avcC / hvcC records must parse, and AAC
    /// configurations must be expressible as ADTS.
    pub fn new(tracks: &[Track]) -> Result<TsMuxer, TsError> {
        if tracks.is_empty() {
            return Err(TsError::NoTracks);
        }
        if tracks.len() > MAX_MUX_TRACKS {
            return Err(TsError::TooManyTracks {
                count: tracks.len(),
                max: MAX_MUX_TRACKS,
            });
        }
        for (i, t) in tracks.iter().enumerate() {
            if tracks.iter().skip(i + 1).any(|u| u.id == t.id) {
                return Err(TsError::DuplicateTrack { track: t.id });
            }
            if t.timescale == 0 {
                return Err(TsError::ZeroTimescale { track: t.id });
            }
        }
        let first_video = tracks.iter().position(|t| t.kind() == TrackKind::Video);
        let others = tracks
            .iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != first_video)
            .map(|(_, t)| t);
        let mut muxed = Vec::with_capacity(tracks.len());
        let (mut videos, mut audios) = (0u8, 0u8);
        let mut add = |track: &Track, pid: u16| -> Result<(), TsError> {
            let (stream_id, counter) = match track.kind() {
                TrackKind::Video => (STREAM_ID_VIDEO, &mut videos),
                TrackKind::Audio => (STREAM_ID_AUDIO, &mut audios),
            };
            // At most MAX_MUX_TRACKS of each kind, so this stays in its range.
            let stream_id = stream_id + *counter;
            *counter += 1;
            let (stream_type, payload) = payload_for(track)?;
            muxed.push(MuxTrack {
                id: track.id,
                timescale: track.timescale,
                pid,
                stream_type,
                stream_id,
                cc: Counter::FRESH,
                payload,
            });
            Ok(())
        };
        if let Some(video) = first_video.and_then(|i| tracks.get(i)) {
            add(video, FIRST_TRACK_PID)?;
        }
        for (n, track) in others.enumerate() {
            // n < MAX_MUX_TRACKS, so the PID stays far below 0x1FFF.
            add(track, FIRST_TRACK_PID + 1 + n as u16)?;
        }
        let pcr_pid = muxed.first().map_or(FIRST_TRACK_PID, |t| t.pid);
        Ok(TsMuxer {
            tracks: muxed,
            pcr_pid,
            pat_cc: Counter::FRESH,
            pmt_cc: Counter::FRESH,
            last_pcr_dts: None,
            adts: Vec::with_capacity(ADTS_HEADER_LEN),
        })
    }

    /// The PID that carries track `track_id`'s frames.
    pub fn pid_of(&self, track_id: u32) -> Option<u16> {
        self.tracks.iter().find(|t| t.id == track_id).map(|t| t.pid)
    }

    /// The PID whose adaptation fields carry the PCR.
    pub fn pcr_pid(&self) -> u16 {
        self.pcr_pid
    }

    /// Appends the PAT and the PMT (two packets).
    pub fn write_tables(&mut self, out: &mut Vec<u8>) {
        write_pat(out, self.pat_cc.take(), PMT_PID);
        let mut streams = [(0u8, 0u16); MAX_MUX_TRACKS];
        for (slot, t) in streams.iter_mut().zip(&self.tracks) {
            *slot = (t.stream_type, t.pid);
        }
        let count = self.tracks.len().min(MAX_MUX_TRACKS);
        let streams = streams.get(..count).unwrap_or(&[]);
        write_pmt(out, self.pmt_cc.take(), PMT_PID, self.pcr_pid, streams);
    }

    /// Starts every continuity counter again at 0 (the next packet on each PID
    /// flagged with the discontinuity_indicator) and forgets the last PCR, as
    /// for a fresh muxer.
    pub fn reset_continuity(&mut self) {
        self.pat_cc = Counter::FRESH;
        self.pmt_cc = Counter::FRESH;
        self.last_pcr_dts = None;
        for t in &mut self.tracks {
            t.cc = Counter::FRESH;
        }
    }

    /// An upper bound of the bytes [`TsMuxer::write_frame`] appends for `frame`
    /// (0 for a track the muxer does not have).
    pub fn max_frame_size(&self, frame: &Frame) -> usize {
        let Some(track) = self.tracks.iter().find(|t| t.id == frame.track) else {
            return 0;
        };
        let extra = match &track.payload {
            Payload::Video { parameter_sets, .. } => {
                AUD_HEVC.len()
                    + if frame.keyframe {
                        parameter_sets.len()
                    } else {
                        0
                    }
            }
            Payload::Aac(_) => ADTS_HEADER_LEN,
        };
        // The first packet loses at most ADAPTATION_WITH_PCR bytes of payload;
        // stuffing only fills the last packet, never adds one.
        let content =
            (PES_HEADER_MAX + ADAPTATION_WITH_PCR + extra).saturating_add(frame.data.len());
        content.div_ceil(PACKET_PAYLOAD).saturating_mul(PACKET_SIZE)
    }

    /// Appends `frame` as one PES packet on its track's PID. The 90 kHz PTS and
    /// DTS are converted from the track's timescale (rounding down) and written
    /// modulo 2^33; the DTS only when it differs from the PTS. On error nothing is
    /// appended.
    pub fn write_frame(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<(), TsError> {
        let TsMuxer {
            tracks,
            pcr_pid,
            last_pcr_dts,
            adts,
            ..
        } = self;
        let track = tracks
            .iter_mut()
            .find(|t| t.id == frame.track)
            .ok_or(TsError::UnknownTrack { track: frame.track })?;
        let dts = scale_ticks(frame.dts, track.timescale, TS_TIMESCALE);
        let pts = scale_ticks(frame.pts(), track.timescale, TS_TIMESCALE);
        let pcr_due = match *last_pcr_dts {
            None => true,
            Some(last) => dts < last || dts.saturating_sub(last) >= PCR_INTERVAL_90K,
        };
        let wants_pcr = track.pid == *pcr_pid && (frame.keyframe || pcr_due);
        let opts = PacketOptions {
            pid: track.pid,
            pcr: wants_pcr.then(|| pcr_for(dts)),
            random_access: frame.keyframe,
        };
        let mut header = [0u8; PES_HEADER_MAX];
        let pes_dts = (dts != pts).then(|| wrap_33(dts));
        match &track.payload {
            Payload::Video {
                hevc,
                parameter_sets,
            } => {
                let hevc = *hevc;
                let aud: &[u8] = if hevc { &AUD_HEVC } else { &AUD_H264 };
                let sets: &[u8] = if frame.keyframe { parameter_sets } else { &[] };
                let mut es_len = aud.len() + sets.len();
                for nal in length_prefixed_nals(&frame.data, 4) {
                    let nal = nal.map_err(|source| TsError::BadFrame {
                        track: frame.track,
                        source,
                    })?;
                    if !is_delimiter(nal, hevc) {
                        es_len = es_len.saturating_add(START_CODE.len() + nal.len());
                    }
                }
                let header_len =
                    write_pes_header(&mut header, track.stream_id, wrap_33(pts), pes_dts, None);
                let nals = length_prefixed_nals(&frame.data, 4)
                    .filter_map(Result::ok)
                    .filter(|nal| !is_delimiter(nal, hevc))
                    .flat_map(|nal| [&START_CODE[..], nal]);
                let pieces = [header.get(..header_len).unwrap_or(&[]), aud, sets]
                    .into_iter()
                    .chain(nals);
                write_pes_packets(
                    out,
                    &mut track.cc,
                    opts,
                    header_len.saturating_add(es_len),
                    pieces,
                );
            }
            Payload::Aac(asc) => {
                adts.clear();
                AdtsHeader::write(asc, frame.data.len(), adts).map_err(|source| {
                    TsError::BadFrame {
                        track: frame.track,
                        source,
                    }
                })?;
                let es_len = adts.len() + frame.data.len();
                let header_len = write_pes_header(
                    &mut header,
                    track.stream_id,
                    wrap_33(pts),
                    pes_dts,
                    Some(es_len),
                );
                let pieces = [
                    header.get(..header_len).unwrap_or(&[]),
                    &adts[..],
                    &frame.data[..],
                ];
                write_pes_packets(
                    out,
                    &mut track.cc,
                    opts,
                    header_len.saturating_add(es_len),
                    pieces.into_iter(),
                );
            }
        }
        if opts.pcr.is_some() {
            *last_pcr_dts = Some(dts);
        }
        Ok(())
    }
}

/// The PCR base (33 bits) for a frame decoded at `dts` (90 kHz).
fn pcr_for(dts: i64) -> u64 {
    let pcr = if dts >= 0 {
        dts.saturating_sub(PCR_LEAD_90K).max(0)
    } else {
        dts.saturating_sub(PCR_LEAD_90K)
    };
    wrap_33(pcr)
}

/// Whether `nal` is an access unit delimiter.
fn is_delimiter(nal: &[u8], hevc: bool) -> bool {
    if hevc {
        nal.first().is_some_and(|b| (b >> 1) & 0x3F == HEVC_NAL_AUD)
    } else {
        nal_type(nal) == Some(NAL_AUD)
    }
}

/// The stream type and payload description of `track`.
fn payload_for(track: &Track) -> Result<(u8, Payload), TsError> {
    let codec_error = |what| {
        move |source| TsError::Codec {
            track: track.id,
            what,
            source,
        }
    };
    match track.codec {
        Codec::H264 => {
            let avcc = AvcConfig::parse(&track.init).map_err(codec_error("avcC record"))?;
            let mut parameter_sets = Vec::new();
            for set in avcc.sps.iter().chain(&avcc.pps) {
                parameter_sets.extend_from_slice(&START_CODE);
                parameter_sets.extend_from_slice(set);
            }
            Ok((
                STREAM_TYPE_H264,
                Payload::Video {
                    hevc: false,
                    parameter_sets,
                },
            ))
        }
        Codec::H265 => {
            let parameter_sets =
                hevc_parameter_sets(&track.init).map_err(codec_error("hvcC record"))?;
            Ok((
                STREAM_TYPE_HEVC,
                Payload::Video {
                    hevc: true,
                    parameter_sets,
                },
            ))
        }
        Codec::Aac => {
            let asc = AudioSpecificConfig::parse(&track.init)
                .map_err(codec_error("AudioSpecificConfig"))?;
            // Refuse now, not on the first frame, what ADTS cannot describe.
            AdtsHeader::write(&asc, 0, &mut Vec::with_capacity(ADTS_HEADER_LEN))
                .map_err(codec_error("AudioSpecificConfig"))?;
            Ok((STREAM_TYPE_AAC_ADTS, Payload::Aac(asc)))
        }
    }
}

/// The VPS, SPS and PPS NAL units of an `hvcC` record (ISO/IEC 14496-15 8.3.3),
/// each after a start code, in record order.
fn hevc_parameter_sets(hvcc: &[u8]) -> Result<Vec<u8>, CodecError> {
    let truncated = CodecError::Truncated {
        what: "hvcC record",
    };
    let arrays = hvcc.get(HVCC_FIXED_LEN..).ok_or(truncated.clone())?;
    let (&count, mut rest) = arrays.split_first().ok_or(truncated.clone())?;
    let mut out = Vec::new();
    for _ in 0..count {
        let (&[kind, n_hi, n_lo], tail) = rest.split_first_chunk::<3>().ok_or(truncated.clone())?;
        rest = tail;
        for _ in 0..u16::from_be_bytes([n_hi, n_lo]) {
            let (&[l_hi, l_lo], tail) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
            let (nal, tail) = tail
                .split_at_checked(usize::from(u16::from_be_bytes([l_hi, l_lo])))
                .ok_or(truncated.clone())?;
            rest = tail;
            if HEVC_PARAMETER_SETS.contains(&(kind & 0x3F)) && !nal.is_empty() {
                out.extend_from_slice(&START_CODE);
                out.extend_from_slice(nal);
            }
        }
    }
    Ok(out)
}

/// What the first packet of a PES says besides its payload.
#[derive(Debug, Clone, Copy)]
struct PacketOptions {
    pid: u16,
    /// PCR base to put in the first packet's adaptation field.
    pcr: Option<u64>,
    random_access: bool,
}

/// Appends the packets of one PES of `total` bytes, taken in order from `pieces`
/// (whose lengths must add up to `total`).
fn write_pes_packets<'a>(
    out: &mut Vec<u8>,
    cc: &mut Counter,
    opts: PacketOptions,
    total: usize,
    mut pieces: impl Iterator<Item = &'a [u8]>,
) {
    let mut current: &[u8] = &[];
    let mut left = total;
    let mut first = true;
    while left > 0 {
        let (pcr, random_access) = if first {
            (opts.pcr, opts.random_access)
        } else {
            (None, false)
        };
        let (counter, discontinuity) = cc.take();
        let pcr_len = if pcr.is_some() { 6 } else { 0 };
        // Length byte and flags byte, when there is something to flag.
        let fields = if pcr.is_some() || random_access || discontinuity {
            2 + pcr_len
        } else {
            0
        };
        let room = PACKET_PAYLOAD - fields;
        let take = left.min(room);
        let stuffing = room - take;
        let adaptation = fields + stuffing;
        let pusi = if first { 0x40 } else { 0 };
        let control = if adaptation > 0 { 0x30 } else { 0x10 };
        out.extend_from_slice(&[
            SYNC_BYTE,
            pusi | ((opts.pid >> 8) as u8 & 0x1F),
            opts.pid as u8,
            control | counter,
        ]);
        if adaptation > 0 {
            // adaptation_field_length counts the bytes after itself (≤ 183).
            out.push((adaptation - 1) as u8);
            if adaptation > 1 {
                let flags = (if discontinuity { 0x80 } else { 0 })
                    | (if random_access { 0x40 } else { 0 })
                    | (if pcr.is_some() { 0x10 } else { 0 });
                out.push(flags);
                if let Some(pcr) = pcr {
                    out.extend_from_slice(&pcr_field(pcr));
                }
                out.resize(out.len() + adaptation - 2 - pcr_len, 0xFF);
            }
        }
        let mut need = take;
        while need > 0 {
            if current.is_empty() {
                match pieces.next() {
                    Some(piece) => current = piece,
                    None => {
                        debug_assert!(false, "PES pieces shorter than their total");
                        out.resize(out.len() + need, 0xFF);
                        break;
                    }
                }
                continue;
            }
            let n = need.min(current.len());
            let (head, tail) = current.split_at(n);
            out.extend_from_slice(head);
            current = tail;
            need -= n;
        }
        left -= take;
        first = false;
    }
}

/// Muxes a whole segment: PAT and PMT, then every frame in the order given, with
/// a fresh muxer (continuity counters from 0), into one buffer allocated once.
pub fn mux_segment(tracks: &[Track], frames: &[Frame]) -> Result<Bytes, TsError> {
    let mut muxer = TsMuxer::new(tracks)?;
    let capacity = frames.iter().fold(2 * PACKET_SIZE, |sum, f| {
        sum.saturating_add(muxer.max_frame_size(f))
    });
    let mut out = Vec::with_capacity(capacity);
    muxer.write_tables(&mut out);
    for frame in frames {
        muxer.write_frame(frame, &mut out)?;
    }
    Ok(Bytes::from(out))
}
