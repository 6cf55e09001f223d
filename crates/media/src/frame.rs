//! The frame model: what every input produces and every output consumes.
//!
//! A stream is a set of [`Track`]s (codec, timescale, decoder configuration) and a
//! sequence of [`Frame`]s (one access unit each: a video picture or an audio
//! frame). Timestamps are integers in the track's own timescale, so no precision is
//! lost between a file's sample table and a muxer. Payloads are [`Bytes`], shared
//! between every consumer without copying.
//!
//! Payload formats are fixed per codec so muxers never guess:
//! * H.264 / H.265: length-prefixed NAL units (4-byte big-endian lengths, as in MP4);
//!   parameter sets live in [`Track::init`] (the avcC / hvcC record).
//! * AAC: raw access units (no ADTS header); [`Track::init`] is the
//!   AudioSpecificConfig.

use bytes::Bytes;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

/// The codecs Brume understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
    Aac,
}

impl Codec {
    /// The kind of track this codec belongs to.
    pub fn kind(self) -> TrackKind {
        match self {
            Codec::H264 | Codec::H265 => TrackKind::Video,
            Codec::Aac => TrackKind::Audio,
        }
    }

    /// MistServer's name for the codec (`"H264"`, `"HEVC"`, `"AAC"`).
    pub fn mist_name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::H265 => "HEVC",
            Codec::Aac => "AAC",
        }
    }
}

/// Picture geometry of a video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
}

/// Sampling parameters of an audio track.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioInfo {
    pub sample_rate: u32,
    pub channels: u16,
    /// Bits per sample as declared by the container (16 for AAC by convention).
    pub sample_size: u16,
}

/// One elementary stream of a media stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Track number, unique within its stream, starting at 1 (as in MP4 `tkhd`).
    pub id: u32,
    pub codec: Codec,
    /// Ticks per second of every timestamp of this track's frames.
    pub timescale: u32,
    /// Decoder configuration: avcC / hvcC record for video, AudioSpecificConfig for AAC.
    pub init: Bytes,
    /// Codec string for MIME types, e.g. `avc1.64001f` or `mp4a.40.2`.
    pub codec_string: String,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
}

impl Track {
    pub fn kind(&self) -> TrackKind {
        self.codec.kind()
    }

    /// Converts a timestamp in this track's timescale to milliseconds (floor).
    pub fn ticks_to_ms(&self, ticks: i64) -> i64 {
        scale_ticks(ticks, self.timescale, 1000)
    }

    /// Converts milliseconds to this track's timescale (floor).
    pub fn ms_to_ticks(&self, ms: i64) -> i64 {
        scale_ticks(ms, 1000, self.timescale)
    }
}

/// Rescales `value` from timescale `from` to timescale `to`, rounding toward
/// negative infinity, without overflow for any realistic timestamp.
pub fn scale_ticks(value: i64, from: u32, to: u32) -> i64 {
    if from == to || from == 0 {
        return value;
    }
    let scaled = (value as i128 * to as i128).div_euclid(from as i128);
    scaled.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// One access unit of one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The [`Track::id`] this frame belongs to.
    pub track: u32,
    /// Decode timestamp in the track's timescale.
    pub dts: i64,
    /// Presentation time minus decode time, in the track's timescale (B-frames).
    pub pts_offset: i32,
    /// A random access point: decoding can start here.
    pub keyframe: bool,
    /// The payload, in the codec's canonical format (see the module docs).
    pub data: Bytes,
}

impl Frame {
    /// Presentation timestamp in the track's timescale.
    pub fn pts(&self) -> i64 {
        self.dts + self.pts_offset as i64
    }
}

/// A frame placed in its stream: which track it belongs to and how long it lasts.
///
/// What segmenters hand to muxers: a frame's duration is only known once the next
/// frame of its track arrived (live) or from the file's sample table (on demand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedFrame {
    /// Position of the frame's track in the stream's track list (not the track id).
    pub track_index: usize,
    pub frame: Frame,
    /// How long the frame lasts, in ticks of its track's timescale.
    pub duration_ticks: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_ticks_rounds_down_and_handles_negative_values() {
        assert_eq!(scale_ticks(90_000, 90_000, 1000), 1000);
        assert_eq!(scale_ticks(1, 90_000, 1000), 0);
        assert_eq!(scale_ticks(-1, 90_000, 1000), -1);
        assert_eq!(scale_ticks(1024, 48_000, 1000), 21);
        assert_eq!(scale_ticks(i64::MAX, 1, 1_000_000), i64::MAX);
    }
}
