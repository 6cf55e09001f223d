//! The transport stream demuxer: [`TsDemuxer`] takes a byte stream in pieces of
//! any size and yields [`TsEvent`]s, the tracks and frames of the first program.
//!
//! Layers, bottom up: packets (sync recovery in the splitter), the PAT (first
//! program's PMT PID), the PMT (elementary PIDs, in table order; supported stream
//! types get track ids 1, 2, …), per-PID PES reassembly with continuity checks (a
//! lost, duplicated-out-of-order or damaged packet drops the PES it belongs to),
//! and per-stream conversion into frames:
//!
//! * H.264 (stream type 0x1B): Annex-B access units become 4-byte length-prefixed
//!   NAL units without delimiters. The track is announced once an SPS and a PPS
//!   have been seen (its avcC is built from the first of each); frames before that
//!   are dropped. Timescale 90 kHz; keyframe = the access unit has an IDR slice.
//! * AAC in ADTS (stream type 0x0F): each PES is split into its ADTS frames, each
//!   its own [`Frame`] with `dts = PES PTS + n × 1024` samples. Timescale = the
//!   sample rate of the first ADTS header, which also gives the
//!   AudioSpecificConfig.
//!
//! Other stream types are skipped with a debug log. The core, [`Program`], is
//! shared with the file index, which also needs where each frame's PES lies.

use std::collections::VecDeque;

use bytes::Bytes;

use super::es::{h264_access_unit, h264_parameter_sets, AdtsFrames, AAC_FRAME_SAMPLES};
use super::packet::{parse_packet, Packet, PacketSplitter};
use super::pes::{parse_pes_header, CompletePes, PesAssembler, TIMESTAMP_MODULUS};
use super::psi::{parse_pat, parse_pmt, SectionAssembler};
use super::{
    MAX_ADTS_FRAMES_PER_PES, MAX_STREAMS, NULL_PID, PACKET_SIZE, PAT_PID, STREAM_TYPE_AAC_ADTS,
    STREAM_TYPE_H264, TS_TIMESCALE,
};
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::AvcConfig;
use crate::{AudioInfo, Codec, Frame, Track, VideoInfo};

/// [`TsDemuxer::push`] stops taking bytes once this many events wait to be
/// polled. One packet adds at most [`MAX_EVENTS_PER_PACKET`] more, and
/// [`TsDemuxer::finish`] at most that plus [`MAX_STREAMS`] ×
/// ([`MAX_ADTS_FRAMES_PER_PES`] + 1).
pub const EVENT_HIGH_WATER: usize = 1024;
/// Most events one packet can cause: it can end one PES and hold a whole small
/// one (each up to [`MAX_ADTS_FRAMES_PER_PES`] frames, plus a track).
pub const MAX_EVENTS_PER_PACKET: usize = 2 * (MAX_ADTS_FRAMES_PER_PES + 1);

/// What the demuxer found.
#[derive(Debug, Clone, PartialEq)]
pub enum TsEvent {
    /// A track whose configuration is now known; its frames follow.
    Track(Track),
    /// One access unit of a track announced before.
    Frame(Frame),
}

/// Where a frame came from in the stream: its PES's packets and its position
/// among the frames of that PES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    /// Stream offset of the packet that starts the PES.
    pub start: u64,
    /// Stream offset just past the PES's last packet.
    pub end: u64,
    /// Index of the frame among the PES's frames (ADTS frames; 0 for video).
    pub index: u32,
}

/// What [`Program`] produces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CoreEvent {
    Track { track: Track, pid: u16 },
    Frame { frame: Frame, origin: Origin },
}

/// The elementary stream state of one PID.
#[derive(Debug, Clone)]
enum EsState {
    H264 {
        track: Option<Track>,
        /// The parameter sets of the track's avcC, dropped from frames.
        known_sets: Vec<Bytes>,
    },
    Aac {
        track: Option<Track>,
        /// Where the next frame starts when a PES has no PTS (track timescale).
        next_dts: Option<i64>,
    },
}

#[derive(Debug, Clone)]
struct Stream {
    pid: u16,
    id: u32,
    last_cc: Option<u8>,
    pes: PesAssembler,
    es: EsState,
}

/// Continuity of one packet relative to the last one on its PID.
pub(crate) enum Continuity {
    Ok,
    /// The same packet again (allowed once by the standard): ignore it.
    Duplicate,
    /// Packets are missing.
    Lost,
}

pub(crate) fn check_continuity(last: &mut Option<u8>, packet: &Packet<'_>) -> Continuity {
    if !packet.has_payload {
        return Continuity::Ok;
    }
    let cc = packet.continuity_counter;
    let result = match *last {
        None => Continuity::Ok,
        Some(_) if packet.discontinuity => Continuity::Ok,
        Some(l) if l == cc => Continuity::Duplicate,
        Some(l) if (l + 1) & 0x0F == cc => Continuity::Ok,
        Some(_) => Continuity::Lost,
    };
    *last = Some(cc);
    result
}

/// Turns 33-bit timestamps into one continuous 64-bit timeline.
#[derive(Debug, Clone, Copy, Default)]
struct Clock {
    reference: Option<i64>,
}

impl Clock {
    /// The value congruent to `ts` modulo 2^33 nearest the last decode time.
    fn unwrap(&self, ts: u64) -> i64 {
        let ts = (ts & ((1 << 33) - 1)) as i64;
        match self.reference {
            None => ts,
            Some(r) => {
                // 2^64 is a multiple of 2^33, so wrapping keeps the residue right.
                let mut diff = ts.wrapping_sub(r).rem_euclid(TIMESTAMP_MODULUS);
                if diff >= TIMESTAMP_MODULUS / 2 {
                    diff -= TIMESTAMP_MODULUS;
                }
                r.saturating_add(diff)
            }
        }
    }

    fn advance(&mut self, dts: i64) {
        self.reference = Some(dts);
    }
}

/// The demuxer core: packets with their stream offsets in, [`CoreEvent`]s out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    pat: SectionAssembler,
    pat_cc: Option<u8>,
    /// (program_number, PMT PID) of the first program in the PAT.
    program: Option<(u16, u16)>,
    pmt: SectionAssembler,
    pmt_cc: Option<u8>,
    pmt_version: Option<u8>,
    streams: Vec<Stream>,
    /// PIDs of PMT entries already reported as unsupported.
    skipped: Vec<u16>,
    clock: Clock,
    sections: Vec<Vec<u8>>,
}

impl Program {
    /// Handles the packet at stream offset `offset`, appending events to `out`.
    pub fn push_packet(&mut self, raw: &[u8; PACKET_SIZE], offset: u64, out: &mut Vec<CoreEvent>) {
        let packet = match parse_packet(raw) {
            Ok(p) => p,
            Err(what) => {
                tracing::debug!(offset, what, "skipping a malformed MPEG-TS packet");
                return;
            }
        };
        if packet.pid == NULL_PID {
            return;
        }
        if packet.transport_error {
            tracing::debug!(
                offset,
                pid = packet.pid,
                "packet marked damaged (transport_error_indicator)"
            );
            if let Some(stream) = self.streams.iter_mut().find(|s| s.pid == packet.pid) {
                stream.pes.abort();
            }
            return;
        }
        if packet.pid == PAT_PID {
            self.push_pat(&packet);
        } else if self.program.is_some_and(|(_, pid)| pid == packet.pid) {
            self.push_pmt(&packet);
        } else {
            self.push_es(&packet, offset, out);
        }
    }

    /// Ends the stream: every PES still being collected is completed.
    pub fn finish(&mut self, out: &mut Vec<CoreEvent>) {
        let Program { streams, clock, .. } = self;
        for stream in streams.iter_mut() {
            let Stream {
                id, pid, pes, es, ..
            } = stream;
            pes.flush(&mut |pes| on_pes(*id, *pid, es, clock, pes, out));
        }
    }

    fn push_pat(&mut self, packet: &Packet<'_>) {
        match check_continuity(&mut self.pat_cc, packet) {
            Continuity::Duplicate => return,
            Continuity::Lost => self.pat.reset(),
            Continuity::Ok => {}
        }
        self.sections.clear();
        self.pat.push(
            packet.payload_unit_start,
            packet.payload,
            &mut self.sections,
        );
        for section in std::mem::take(&mut self.sections) {
            match parse_pat(&section) {
                Ok(Some((program, pid))) if self.program != Some((program, pid)) => {
                    if pid == PAT_PID
                        || pid == NULL_PID
                        || self.streams.iter().any(|s| s.pid == pid)
                    {
                        tracing::debug!(pid, "ignoring a PAT that puts the PMT on an unusable PID");
                        continue;
                    }
                    tracing::debug!(program, pid, "PAT: program map on PID {pid:#x}");
                    self.program = Some((program, pid));
                    self.pmt.reset();
                    self.pmt_cc = None;
                    self.pmt_version = None;
                }
                Ok(_) => {}
                Err(what) => tracing::debug!(what, "skipping a bad PAT section"),
            }
        }
    }

    fn push_pmt(&mut self, packet: &Packet<'_>) {
        match check_continuity(&mut self.pmt_cc, packet) {
            Continuity::Duplicate => return,
            Continuity::Lost => self.pmt.reset(),
            Continuity::Ok => {}
        }
        self.sections.clear();
        self.pmt.push(
            packet.payload_unit_start,
            packet.payload,
            &mut self.sections,
        );
        for section in std::mem::take(&mut self.sections) {
            match parse_pmt(&section, MAX_STREAMS) {
                Ok(Some(pmt)) => {
                    if self
                        .program
                        .is_some_and(|(number, _)| number != pmt.program)
                    {
                        continue;
                    }
                    if self.pmt_version == Some(pmt.version) {
                        continue;
                    }
                    self.pmt_version = Some(pmt.version);
                    for (stream_type, pid) in pmt.streams {
                        self.add_stream(stream_type, pid);
                    }
                }
                Ok(None) => {}
                Err(what) => tracing::debug!(what, "skipping a bad PMT section"),
            }
        }
    }

    /// Follows `pid` from now on, unless it is followed already, unsupported, or
    /// one stream too many.
    fn add_stream(&mut self, stream_type: u8, pid: u16) {
        if self.streams.iter().any(|s| s.pid == pid) || self.skipped.contains(&pid) {
            return;
        }
        let unusable =
            pid == PAT_PID || pid == NULL_PID || self.program.is_some_and(|(_, p)| p == pid);
        let es = match stream_type {
            _ if unusable => None,
            STREAM_TYPE_H264 => Some(EsState::H264 {
                track: None,
                known_sets: Vec::new(),
            }),
            STREAM_TYPE_AAC_ADTS => Some(EsState::Aac {
                track: None,
                next_dts: None,
            }),
            _ => None,
        };
        match es {
            Some(es) if self.streams.len() < MAX_STREAMS => {
                // Bounded by MAX_STREAMS, so the id fits.
                let id = self.streams.len() as u32 + 1;
                tracing::debug!(pid, stream_type, id, "following elementary stream");
                self.streams.push(Stream {
                    pid,
                    id,
                    last_cc: None,
                    pes: PesAssembler::default(),
                    es,
                });
            }
            _ => {
                tracing::debug!(
                    pid,
                    stream_type,
                    "skipping an elementary stream of an unsupported type"
                );
                if self.skipped.len() < MAX_STREAMS {
                    self.skipped.push(pid);
                }
            }
        }
    }

    fn push_es(&mut self, packet: &Packet<'_>, offset: u64, out: &mut Vec<CoreEvent>) {
        let Program { streams, clock, .. } = self;
        let Some(stream) = streams.iter_mut().find(|s| s.pid == packet.pid) else {
            return;
        };
        let Stream {
            id,
            pid,
            last_cc,
            pes,
            es,
        } = stream;
        match check_continuity(last_cc, packet) {
            Continuity::Duplicate => return,
            Continuity::Lost => {
                if pes.is_collecting() {
                    tracing::debug!(
                        pid = *pid,
                        offset,
                        "continuity error: dropping the PES in progress"
                    );
                }
                pes.abort();
            }
            Continuity::Ok => {}
        }
        if !packet.has_payload {
            return;
        }
        pes.push(
            packet.payload_unit_start,
            packet.payload,
            offset,
            &mut |pes| on_pes(*id, *pid, es, clock, pes, out),
        );
    }
}

/// Turns one complete PES of stream `id` into events.
fn on_pes(
    id: u32,
    pid: u16,
    es: &mut EsState,
    clock: &mut Clock,
    pes: CompletePes<'_>,
    out: &mut Vec<CoreEvent>,
) {
    let header = match parse_pes_header(pes.data) {
        Ok(h) => h,
        Err(what) => {
            tracing::debug!(pid, offset = pes.start, what, "dropping a PES packet");
            return;
        }
    };
    let payload = pes.data.get(header.payload_offset..).unwrap_or(&[]);
    let dts90 = header.dts.or(header.pts).map(|t| clock.unwrap(t));
    let pts90 = header.pts.map(|t| clock.unwrap(t));
    if let Some(dts) = dts90 {
        clock.advance(dts);
    }
    let origin = |index| Origin {
        start: pes.start,
        end: pes.end,
        index,
    };
    match es {
        EsState::H264 { track, known_sets } => {
            if track.is_none() {
                if let Some((new, sets)) = h264_track(id, payload) {
                    out.push(CoreEvent::Track {
                        track: new.clone(),
                        pid,
                    });
                    *track = Some(new);
                    *known_sets = sets;
                }
            }
            let Some(track) = track else {
                tracing::trace!(pid, "dropping H.264 before its SPS and PPS");
                return;
            };
            let (Some(dts), Some(pts)) = (dts90, pts90) else {
                tracing::debug!(pid, offset = pes.start, "dropping H.264 PES without a PTS");
                return;
            };
            let (data, keyframe) = h264_access_unit(payload, known_sets);
            if data.is_empty() {
                return;
            }
            let frame = Frame {
                track: track.id,
                dts,
                pts_offset: i32::try_from(pts.saturating_sub(dts)).unwrap_or(0),
                keyframe,
                data: Bytes::from(data),
            };
            out.push(CoreEvent::Frame {
                frame,
                origin: origin(0),
            });
        }
        EsState::Aac { track, next_dts } => {
            let mut frames = AdtsFrames::new(payload).take(MAX_ADTS_FRAMES_PER_PES);
            let Some(first) = frames.next() else {
                return;
            };
            if track.is_none() {
                let asc = AudioSpecificConfig::from_adts(&first.0);
                let new = Track {
                    id,
                    codec: Codec::Aac,
                    timescale: asc.sample_rate,
                    init: asc.to_bytes(),
                    codec_string: asc.codec_string(),
                    video: None,
                    audio: Some(AudioInfo {
                        sample_rate: asc.sample_rate,
                        channels: asc.channels(),
                        sample_size: 16,
                    }),
                };
                out.push(CoreEvent::Track {
                    track: new.clone(),
                    pid,
                });
                *track = Some(new);
            }
            let Some(track) = track else {
                return;
            };
            let rate = track.timescale;
            let Some(mut dts) = pts90.map(|p| rescale_round(p, rate)).or(*next_dts) else {
                tracing::debug!(pid, offset = pes.start, "dropping AAC PES without a PTS");
                return;
            };
            for (index, (adts, raw)) in (0u32..).zip(std::iter::once(first).chain(frames)) {
                out.push(CoreEvent::Frame {
                    frame: Frame {
                        track: track.id,
                        dts,
                        pts_offset: 0,
                        keyframe: true,
                        data: Bytes::copy_from_slice(raw),
                    },
                    origin: origin(index),
                });
                dts = dts.saturating_add(i64::from(
                    AAC_FRAME_SAMPLES * u32::from(adts.raw_data_blocks),
                ));
            }
            *next_dts = Some(dts);
        }
    }
}

/// The H.264 track described by the first SPS and PPS of `payload`, with those
/// parameter sets; `None` until both are there and the SPS parses.
fn h264_track(id: u32, payload: &[u8]) -> Option<(Track, Vec<Bytes>)> {
    let (Some(sps), Some(pps)) = h264_parameter_sets(payload) else {
        return None;
    };
    let sets = vec![Bytes::copy_from_slice(sps), Bytes::copy_from_slice(pps)];
    let config = match AvcConfig::from_parameter_sets(&sets[..1], &sets[1..]) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "unusable H.264 parameter sets, waiting for others");
            return None;
        }
    };
    let info = config.sps_info().ok()?;
    let track = Track {
        id,
        codec: Codec::H264,
        timescale: TS_TIMESCALE,
        init: config.to_bytes(),
        codec_string: config.codec_string(),
        video: Some(VideoInfo {
            width: info.width,
            height: info.height,
        }),
        audio: None,
    };
    Some((track, sets))
}

/// `ticks` of the 90 kHz clock in a `rate` Hz timescale, rounded to nearest.
pub(crate) fn rescale_round(ticks: i64, rate: u32) -> i64 {
    let num = i128::from(ticks) * i128::from(rate) + i128::from(TS_TIMESCALE / 2);
    let value = num.div_euclid(i128::from(TS_TIMESCALE));
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A streaming, sans-IO transport stream demuxer: bytes in, [`TsEvent`]s out.
///
/// ```
/// # use brume_media::mpegts::{TsDemuxer, TsEvent};
/// let mut demux = TsDemuxer::new();
/// let mut input: &[u8] = &[0x47; 10]; // whatever arrived
/// while !input.is_empty() {
///     let used = demux.push(input);
///     input = &input[used..];
///     while let Some(event) = demux.poll() {
///         match event {
///             TsEvent::Track(track) => { /* announce */ }
///             TsEvent::Frame(frame) => { /* forward */ }
///         }
///     }
/// }
/// demux.finish(); // end of input: the last PES of each stream
/// while let Some(_event) = demux.poll() {}
/// ```
#[derive(Debug, Clone)]
pub struct TsDemuxer {
    splitter: PacketSplitter,
    program: Program,
    events: VecDeque<TsEvent>,
    scratch: Vec<CoreEvent>,
    tracks: Vec<Track>,
}

impl Default for TsDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl TsDemuxer {
    pub fn new() -> Self {
        TsDemuxer {
            splitter: PacketSplitter::new(0),
            program: Program::default(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            tracks: Vec::new(),
        }
    }

    /// Takes bytes of the stream and returns how many it used: all of `data`,
    /// unless [`EVENT_HIGH_WATER`] events are waiting, in which case poll them and
    /// push the rest again.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while self.events.len() < EVENT_HIGH_WATER {
            let (n, packet) = self.splitter.next(data.get(used..).unwrap_or(&[]));
            used += n;
            let Some((offset, packet)) = packet else {
                break;
            };
            self.program.push_packet(packet, offset, &mut self.scratch);
            self.drain_scratch();
        }
        used
    }

    /// The next event, if any.
    pub fn poll(&mut self) -> Option<TsEvent> {
        self.events.pop_front()
    }

    /// Ends the input: the PES packets still open (video PES packets are only
    /// known to be complete when the next one starts) are turned into events.
    pub fn finish(&mut self) {
        if let Some((offset, packet)) = self.splitter.finish() {
            self.program.push_packet(packet, offset, &mut self.scratch);
        }
        self.program.finish(&mut self.scratch);
        self.drain_scratch();
    }

    /// The tracks announced so far, in announcement order.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    fn drain_scratch(&mut self) {
        for event in self.scratch.drain(..) {
            self.events.push_back(match event {
                CoreEvent::Track { track, .. } => {
                    self.tracks.push(track.clone());
                    TsEvent::Track(track)
                }
                CoreEvent::Frame { frame, .. } => TsEvent::Frame(frame),
            });
        }
    }
}
