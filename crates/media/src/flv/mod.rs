//! FLV: the container of Flash video files and, tag body for tag body, of RTMP
//! audio, video and data messages.
//!
//! * [`amf0`]: the AMF0 value codec of script data (`onMetaData`) and RTMP commands.
//! * [`tag`]: file header and tag header framing.
//! * [`mux`]: writing an FLV stream ([`flv_header`], [`write_frame_tag`]) from
//!   Brume [`Track`](crate::Track)s and [`Frame`](crate::Frame)s.
//! * [`demux`]: [`TagDemuxer`], a sans-IO "tag body in, event out" parser shared
//!   by files and RTMP ingest.
//! * [`file`]: [`FlvFile`], the indexed file reader (also `demux::FlvFile`).
//! * [`stream`]: [`TagReader`], whole tags out of an FLV byte stream that arrives
//!   in pieces (a pulled HTTP stream).
//!
//! Brume reads and writes H.264 (AVC) video and AAC audio, the codecs of the
//! legacy FLV specification that browsers can play; other codecs and Enhanced
//! RTMP/FLV (FourCC video and audio headers) are refused with
//! [`FlvError::Unsupported`].

pub mod amf0;
pub mod demux;
pub mod file;
#[cfg(test)]
mod file_tests;
pub mod mux;
pub mod stream;
pub mod tag;
#[cfg(test)]
mod tests;

pub use amf0::Amf0Value;
pub use demux::{TagDemuxer, TagEvent, TimestampExtender};
pub use file::FlvFile;
pub use mux::{flv_header, flv_header_with_duration, write_frame_tag, write_sequence_header_tag};
pub use stream::{StreamTag, TagReader};

use crate::codec::CodecError;

/// Track id of the video track of every FLV stream Brume reads.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track of every FLV stream Brume reads.
pub const AUDIO_TRACK_ID: u32 = 2;

/// Why FLV data cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FlvError {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an FLV file: found {found}")]
    NotFlv { found: String },
    #[error("the data ends in the middle of the {what}")]
    Truncated { what: &'static str },
    #[error("invalid FLV data: {what}")]
    Invalid { what: String },
    #[error("the {what} is {value}, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("the {what} is unusable: {source}")]
    Codec {
        what: &'static str,
        source: CodecError,
    },
    /// Valid FLV that Brume does not handle (another codec, Enhanced RTMP, an
    /// AMF0 legacy type). A live ingest may drop such tags and go on.
    #[error("{what} is not supported")]
    Unsupported { what: String },
    #[error("the data switches to AMF3 (marker 0x11), which is not supported; only AMF0 is")]
    Amf3,
    #[error("AMF0 values nest deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("a {kind} frame arrived before the sequence header that describes its codec")]
    MissingSequenceHeader { kind: &'static str },
    #[error("the file has no H.264 or AAC frames")]
    NoSupportedTracks,
    #[error("the file has no track {track}")]
    NoSuchTrack { track: u32 },
    #[error("track {track} has no sample {index}")]
    SampleOutOfRange { track: u32, index: usize },
}
