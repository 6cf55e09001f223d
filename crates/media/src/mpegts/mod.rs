//! MPEG-2 transport stream (ISO/IEC 13818-1): the muxer behind HLS `.ts`
//! segments and progressive `.ts` output, a streaming demuxer for TS input, and a
//! file index for on-demand `.ts` files.
//!
//! * [`TsMuxer`] / [`mux_segment`]: one program (number 1, PMT on PID `0x1000`),
//!   the first video track on PID `0x100` and every other track on `0x101`, `0x102`…
//!   in order. One PES per frame; H.264/H.265 as Annex-B with an access unit
//!   delimiter and the parameter sets before every keyframe; AAC with an ADTS
//!   header per frame. Output goes into a caller's `Vec`, sized up front.
//! * [`TsDemuxer`]: a sans-IO byte-stream parser (sync recovery, PAT → PMT →
//!   elementary PIDs, PES reassembly, continuity checks) that yields [`Track`]s and
//!   [`Frame`]s in the frame model's canonical payload formats.
//! * [`TsFile`]: indexes a `.ts` file in one bounded pass and re-reads any frame
//!   from just the packets of its PES.
//!
//! Timestamps: TS carries 33-bit 90 kHz PTS/DTS. The muxer converts each track's
//! timescale to 90 kHz and writes the value modulo 2^33 (it wraps after about 26.5
//! hours; a negative time wraps to just under 2^33). The demuxer unwraps them
//! again into a continuous 64-bit timeline that starts at the first timestamp
//! seen (no rebasing to zero).
//!
//! Module layout: `packet` (headers, byte-stream splitter), `psi` (PAT/PMT),
//! `pes` (PES headers, reassembly), `es` (elementary stream payloads), then `mux`,
//! `demux` and `file`, one concern per file.

use crate::codec::CodecError;

mod demux;
mod es;
mod file;
mod mux;
mod packet;
mod pes;
mod psi;

pub use demux::{TsDemuxer, TsEvent, EVENT_HIGH_WATER, MAX_EVENTS_PER_PACKET};
pub use file::TsFile;
pub use mux::{mux_segment, TsMuxer, PCR_INTERVAL_90K, PCR_LEAD_90K};

/// Bytes in one transport stream packet.
pub const PACKET_SIZE: usize = 188;
/// The first byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// PID the muxer puts its program map table on.
pub const PMT_PID: u16 = 0x1000;
/// The program number the muxer writes.
pub const PROGRAM_NUMBER: u16 = 1;
/// PID of the first video track written by the muxer; other tracks follow it.
pub const FIRST_TRACK_PID: u16 = 0x0100;
/// The null packet PID (stuffing packets).
pub const NULL_PID: u16 = 0x1FFF;
/// PMT stream type of H.264 video.
pub const STREAM_TYPE_H264: u8 = 0x1B;
/// PMT stream type of H.265 video.
pub const STREAM_TYPE_HEVC: u8 = 0x24;
/// PMT stream type of AAC audio in ADTS framing.
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
/// The clock of PTS, DTS and PCR base values.
pub const TS_TIMESCALE: u32 = 90_000;

/// Largest PES packet reassembled, in bytes: a very large 4K intra picture is a
/// few MiB. Larger ones are dropped.
pub const MAX_PES_SIZE: usize = 32 << 20;
/// Most elementary streams followed in one program (later PMT entries are
/// ignored).
pub const MAX_STREAMS: usize = 32;
/// Most tracks one muxer takes (all of them fit one PMT packet).
pub const MAX_MUX_TRACKS: usize = 16;
/// Most ADTS frames taken from one PES (about 21 s of 48 kHz AAC).
pub const MAX_ADTS_FRAMES_PER_PES: usize = 1024;
/// Most frames indexed over all tracks of one file (as for MP4 files).
pub const MAX_TOTAL_SAMPLES: usize = 12_000_000;
/// Widest byte range of a file that one PES's packets may spread over (its own
/// packets and those of other PIDs between them); [`TsFile::read_frame`] reads
/// at most this much. Frames spread wider are left out of the index.
pub const MAX_PES_SPAN: u64 = 2 * MAX_PES_SIZE as u64;
/// Bytes read at a time while indexing a file.
pub const SCAN_CHUNK_SIZE: usize = 1 << 20;

/// Why a transport stream could not be written, indexed or read.
#[derive(Debug, thiserror::Error)]
pub enum TsError {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an MPEG-TS file: found {found}")]
    NotTs { found: String },
    #[error("no tracks to mux")]
    NoTracks,
    #[error("{count} tracks are more than the {max} one transport stream muxer takes")]
    TooManyTracks { count: usize, max: usize },
    #[error("two tracks have the id {track}")]
    DuplicateTrack { track: u32 },
    #[error("track {track} has a timescale of 0")]
    ZeroTimescale { track: u32 },
    #[error("a frame of track {track} was given, but the muxer has no such track")]
    UnknownTrack { track: u32 },
    #[error("track {track}: the {what} is unusable: {source}")]
    Codec {
        track: u32,
        what: &'static str,
        source: CodecError,
    },
    #[error("track {track}: the frame payload is malformed: {source}")]
    BadFrame { track: u32, source: CodecError },
    #[error("the {what} is {value}, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("the file has no H.264 or AAC stream that could be read")]
    NoSupportedTracks,
    #[error("the file has no track {track}")]
    NoSuchTrack { track: u32 },
    #[error("track {track} has no frame {index}")]
    SampleOutOfRange { track: u32, index: usize },
    #[error(
        "frame {index} of track {track} is not where the index says; \
         was the file changed after it was opened?"
    )]
    FrameMoved { track: u32, index: usize },
}

#[cfg(test)]
mod demux_tests;
#[cfg(test)]
mod mux_tests;
