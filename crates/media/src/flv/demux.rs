//! Reading FLV tag bodies: [`TagDemuxer`], a sans-IO parser that turns one tag
//! body at a time (an FLV file tag, or an RTMP message of type 8, 9 or 18) into
//! [`TagEvent`]s, and the codec-header helpers that [`FlvFile`] shares with it.
//!
//! Tag bodies (Adobe FLV specification v10.1, annex E.4.2 and E.4.3):
//!
//! ```text
//! video: frame type (4) | codec id (4) = 7 | AVCPacketType (u8) | composition time (s24)
//!        | avcC record (type 0) or length-prefixed NAL units (type 1)
//! audio: sound format (4) = 10 | rate (2) | size (1) | type (1) | AACPacketType (u8)
//!        | AudioSpecificConfig (type 0) or one raw AAC frame (type 1)
//! script: AMF0 name ("onMetaData", possibly after "@setDataFrame") | AMF0 value
//! ```
//!
//! Events follow Brume's frame model: the video track is [`VIDEO_TRACK_ID`], the
//! audio track [`AUDIO_TRACK_ID`], both in milliseconds (timescale 1000); frames
//! carry H.264 with 4-byte NAL lengths whatever the sequence header declared
//! (and the track's avcC is rewritten to declare 4), AAC as raw frames.

use bytes::Bytes;

use super::amf0::{self, Amf0Value};
use super::tag::{MAX_TAG_DATA_SIZE, TAG_TYPE_AUDIO, TAG_TYPE_SCRIPT, TAG_TYPE_VIDEO};
use super::{FlvError, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::{length_prefixed_nals, AvcConfig};
use crate::{AudioInfo, Codec, Frame, Track, VideoInfo};

pub use super::file::FlvFile;

/// Largest script data body decoded, in bytes (a long `onMetaData` with a
/// keyframe index is a few hundred KiB).
pub const MAX_SCRIPT_DATA_SIZE: usize = 1 << 20;

/// Bytes of the AVC video tag header: flags, AVCPacketType, composition time.
pub(crate) const AVC_HEADER_LEN: usize = 5;
/// Bytes of the AAC audio tag header: flags, AACPacketType.
pub(crate) const AAC_HEADER_LEN: usize = 2;
/// FLV video codec id of AVC (H.264).
pub(crate) const CODEC_ID_AVC: u8 = 7;
/// FLV sound format of AAC.
pub(crate) const SOUND_FORMAT_AAC: u8 = 10;
/// Frame type of a keyframe.
const FRAME_TYPE_KEY: u8 = 1;
/// Frame type of a video info/command frame (no picture).
const FRAME_TYPE_COMMAND: u8 = 5;
/// Sound format that announces an Enhanced RTMP audio header.
const SOUND_FORMAT_EX_HEADER: u8 = 9;
/// Flag of an Enhanced RTMP video header.
const VIDEO_EX_HEADER: u8 = 0x80;

/// What one tag body produced.
#[derive(Debug, Clone, PartialEq)]
pub enum TagEvent {
    /// A new or changed track (a sequence header); a change keeps the track id.
    Track(Track),
    Frame(Frame),
    /// The `onMetaData` value, usually an ECMA array.
    Metadata(Amf0Value),
}

/// Extends 32-bit FLV/RTMP millisecond timestamps, which wrap after 49.7 days,
/// into an `i64` timeline.
///
/// Each timestamp is read as the value closest to the previous one (serial
/// number arithmetic), so the timeline keeps growing across a wrap and the small
/// back-steps of interleaved audio and video stay small back-steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimestampExtender {
    /// The last raw timestamp and its extended value.
    last: Option<(u32, i64)>,
}

impl TimestampExtender {
    pub fn new() -> TimestampExtender {
        TimestampExtender::default()
    }

    /// The extended value of `raw`; the first timestamp is taken as is.
    pub fn extend(&mut self, raw: u32) -> i64 {
        let extended = match self.last {
            None => i64::from(raw),
            // The wrapping difference read as signed: at most ±2^31 ms.
            Some((last_raw, last)) => {
                last.saturating_add(i64::from(raw.wrapping_sub(last_raw) as i32))
            }
        };
        self.last = Some((raw, extended));
        extended
    }
}

/// The sans-IO FLV tag body parser: feed it tag bodies in stream order, get
/// tracks, frames and metadata back.
///
/// Errors concern one tag only; the demuxer stays usable and a live input may
/// skip the tag (in particular [`FlvError::Unsupported`] for other codecs and
/// [`FlvError::MissingSequenceHeader`] for frames before their configuration).
#[derive(Debug, Clone, Default)]
pub struct TagDemuxer {
    /// The video track and the NAL length size its frames arrive with.
    video: Option<(Track, u8)>,
    audio: Option<Track>,
    clock: TimestampExtender,
}

impl TagDemuxer {
    pub fn new() -> TagDemuxer {
        TagDemuxer::default()
    }

    /// The current video track, once its sequence header arrived.
    pub fn video_track(&self) -> Option<&Track> {
        self.video.as_ref().map(|(track, _)| track)
    }

    /// The current audio track, once its sequence header arrived.
    pub fn audio_track(&self) -> Option<&Track> {
        self.audio.as_ref()
    }

    /// Parses one tag body of type `tag_type` (8 audio, 9 video, 18 script)
    /// with its raw 32-bit timestamp. `Ok(None)` for tags that carry nothing to
    /// act on: a repeated identical sequence header, an AVC end of sequence, a
    /// video command frame, an empty frame, script data other than `onMetaData`.
    /// Frame payloads are copied out of `body`.
    pub fn push_tag(
        &mut self,
        tag_type: u8,
        timestamp_ms: u32,
        body: &[u8],
    ) -> Result<Option<TagEvent>, FlvError> {
        self.push(tag_type, timestamp_ms, body, None)
    }

    /// [`TagDemuxer::push_tag`] for a body already in [`Bytes`]: frame payloads
    /// share it instead of being copied (when no NAL length rewrite is needed).
    pub fn push_tag_bytes(
        &mut self,
        tag_type: u8,
        timestamp_ms: u32,
        body: Bytes,
    ) -> Result<Option<TagEvent>, FlvError> {
        self.push(tag_type, timestamp_ms, &body, Some(&body))
    }

    fn push(
        &mut self,
        tag_type: u8,
        timestamp_ms: u32,
        body: &[u8],
        shared: Option<&Bytes>,
    ) -> Result<Option<TagEvent>, FlvError> {
        if body.len() > MAX_TAG_DATA_SIZE as usize {
            return Err(FlvError::TooLarge {
                what: "tag body size",
                value: body.len() as u64,
                limit: u64::from(MAX_TAG_DATA_SIZE),
            });
        }
        let payload = |from: usize| match shared {
            Some(bytes) => bytes.slice(from.min(bytes.len())..),
            None => Bytes::copy_from_slice(body.get(from..).unwrap_or_default()),
        };
        match tag_type {
            TAG_TYPE_VIDEO => self.video(timestamp_ms, body, payload),
            TAG_TYPE_AUDIO => self.audio(timestamp_ms, body, payload),
            TAG_TYPE_SCRIPT => Ok(script_metadata(body)?.map(TagEvent::Metadata)),
            other => Err(FlvError::Unsupported {
                what: format!("FLV tag type {other}"),
            }),
        }
    }

    fn video(
        &mut self,
        timestamp_ms: u32,
        body: &[u8],
        payload: impl Fn(usize) -> Bytes,
    ) -> Result<Option<TagEvent>, FlvError> {
        let (keyframe, composition_time) = match video_tag(body)? {
            VideoTag::Command | VideoTag::Avc(AvcPacket::EndOfSequence, ..) => return Ok(None),
            VideoTag::Avc(AvcPacket::SequenceHeader, ..) => {
                let (track, length_size) =
                    avc_track(body.get(AVC_HEADER_LEN..).unwrap_or_default())?;
                if self
                    .video
                    .as_ref()
                    .is_some_and(|(t, n)| *t == track && *n == length_size)
                {
                    return Ok(None);
                }
                self.video = Some((track.clone(), length_size));
                return Ok(Some(TagEvent::Track(track)));
            }
            VideoTag::Avc(AvcPacket::Nalu, keyframe, composition_time) => {
                (keyframe, composition_time)
            }
        };
        let length_size = self
            .video
            .as_ref()
            .map(|(_, n)| *n)
            .ok_or(FlvError::MissingSequenceHeader { kind: "video" })?;
        if body.len() <= AVC_HEADER_LEN {
            return Ok(None);
        }
        let data = four_byte_lengths(payload(AVC_HEADER_LEN), length_size)?;
        Ok(Some(TagEvent::Frame(Frame {
            track: VIDEO_TRACK_ID,
            dts: self.clock.extend(timestamp_ms),
            pts_offset: composition_time,
            keyframe,
            data,
        })))
    }

    fn audio(
        &mut self,
        timestamp_ms: u32,
        body: &[u8],
        payload: impl Fn(usize) -> Bytes,
    ) -> Result<Option<TagEvent>, FlvError> {
        match audio_tag(body)? {
            AudioTag::AacSequenceHeader => {
                let track = aac_track(body.get(AAC_HEADER_LEN..).unwrap_or_default())?;
                if self.audio.as_ref() == Some(&track) {
                    return Ok(None);
                }
                self.audio = Some(track.clone());
                Ok(Some(TagEvent::Track(track)))
            }
            AudioTag::AacRaw => {
                if self.audio.is_none() {
                    return Err(FlvError::MissingSequenceHeader { kind: "audio" });
                }
                if body.len() <= AAC_HEADER_LEN {
                    return Ok(None);
                }
                Ok(Some(TagEvent::Frame(Frame {
                    track: AUDIO_TRACK_ID,
                    dts: self.clock.extend(timestamp_ms),
                    pts_offset: 0,
                    keyframe: true,
                    data: payload(AAC_HEADER_LEN),
                })))
            }
        }
    }
}

/// The kind of an AVC video tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AvcPacket {
    SequenceHeader,
    Nalu,
    EndOfSequence,
}

/// What the first bytes of a video tag body say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VideoTag {
    /// A video info/command frame: no picture, nothing to decode.
    Command,
    /// An AVC tag: packet type, keyframe flag, composition time (ms).
    Avc(AvcPacket, bool, i32),
}

/// Reads the video tag header at the start of `body` (its first
/// [`AVC_HEADER_LEN`] bytes are enough).
pub(crate) fn video_tag(body: &[u8]) -> Result<VideoTag, FlvError> {
    let &first = body.first().ok_or(FlvError::Truncated {
        what: "video tag header",
    })?;
    if first & VIDEO_EX_HEADER != 0 {
        return Err(FlvError::Unsupported {
            what: format!("Enhanced RTMP/FLV video ({})", fourcc_name(body.get(1..5))),
        });
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0F;
    if codec_id != CODEC_ID_AVC {
        let name = match codec_id {
            1 => "JPEG",
            2 => "Sorenson H.263",
            3 => "Screen video",
            4 => "On2 VP6",
            5 => "On2 VP6 with alpha",
            6 => "Screen video version 2",
            12 => "HEVC with the non-standard FLV codec id 12",
            13 => "AV1 with the non-standard FLV codec id 13",
            _ => "",
        };
        return Err(FlvError::Unsupported {
            what: if name.is_empty() {
                format!("FLV video codec id {codec_id}")
            } else {
                format!("{name} video")
            },
        });
    }
    if frame_type == FRAME_TYPE_COMMAND {
        return Ok(VideoTag::Command);
    }
    let [_, packet_type, c0, c1, c2]: [u8; AVC_HEADER_LEN] = body
        .get(..AVC_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(FlvError::Truncated {
            what: "AVC video tag header",
        })?;
    let packet = match packet_type {
        0 => AvcPacket::SequenceHeader,
        1 => AvcPacket::Nalu,
        2 => AvcPacket::EndOfSequence,
        other => {
            return Err(FlvError::Invalid {
                what: format!("AVC packet type {other} (expected 0, 1 or 2)"),
            })
        }
    };
    // A signed 24-bit value: shift it to the top, then back with sign extension.
    let composition_time = i32::from_be_bytes([c0, c1, c2, 0]) >> 8;
    Ok(VideoTag::Avc(
        packet,
        frame_type == FRAME_TYPE_KEY,
        composition_time,
    ))
}

/// The kind of an AAC audio tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AudioTag {
    AacSequenceHeader,
    AacRaw,
}

/// Reads the audio tag header at the start of `body` (its first
/// [`AAC_HEADER_LEN`] bytes are enough, 5 to name an Enhanced RTMP codec).
pub(crate) fn audio_tag(body: &[u8]) -> Result<AudioTag, FlvError> {
    let &first = body.first().ok_or(FlvError::Truncated {
        what: "audio tag header",
    })?;
    let format = first >> 4;
    if format != SOUND_FORMAT_AAC {
        let name = match format {
            0 => "Linear PCM (platform endian)".to_string(),
            1 => "ADPCM".to_string(),
            2 => "MP3".to_string(),
            3 => "Linear PCM (little endian)".to_string(),
            4..=6 => "Nellymoser".to_string(),
            7 => "G.711 A-law".to_string(),
            8 => "G.711 mu-law".to_string(),
            SOUND_FORMAT_EX_HEADER => {
                format!("Enhanced RTMP/FLV audio ({})", fourcc_name(body.get(1..5)))
            }
            11 => "Speex".to_string(),
            14 => "MP3 8 kHz".to_string(),
            15 => "Device-specific sound".to_string(),
            other => format!("FLV sound format {other}"),
        };
        return Err(FlvError::Unsupported {
            what: format!("{name} audio"),
        });
    }
    match body.get(1) {
        None => Err(FlvError::Truncated {
            what: "AAC audio tag header",
        }),
        Some(0) => Ok(AudioTag::AacSequenceHeader),
        Some(1) => Ok(AudioTag::AacRaw),
        Some(other) => Err(FlvError::Invalid {
            what: format!("AAC packet type {other} (expected 0 or 1)"),
        }),
    }
}

/// `FourCC 'xxxx'` for error messages, escaped; "no FourCC" when cut short.
fn fourcc_name(bytes: Option<&[u8]>) -> String {
    match bytes {
        Some(b) => format!("FourCC '{}'", crate::mp4::boxes::escaped(b)),
        None => "FourCC cut short".to_string(),
    }
}

/// The video track an AVC sequence header (an avcC record) describes, and the
/// NAL length size its frames use. The track's init is the record declaring
/// 4-byte lengths, since frames are always converted to those.
pub(crate) fn avc_track(record: &[u8]) -> Result<(Track, u8), FlvError> {
    let codec = |source| FlvError::Codec {
        what: "AVC sequence header",
        source,
    };
    let config = AvcConfig::parse(record).map_err(codec)?;
    let info = config.sps_info().map_err(codec)?;
    let mut init = record.to_vec();
    if let Some(lengths) = init.get_mut(4) {
        *lengths |= 0x03;
    }
    let track = Track {
        id: VIDEO_TRACK_ID,
        codec: Codec::H264,
        timescale: 1000,
        init: Bytes::from(init),
        codec_string: config.codec_string(),
        video: Some(VideoInfo {
            width: info.width,
            height: info.height,
        }),
        audio: None,
    };
    Ok((track, config.nal_length_size))
}

/// The audio track an AAC sequence header (an AudioSpecificConfig) describes.
pub(crate) fn aac_track(asc: &[u8]) -> Result<Track, FlvError> {
    let config = AudioSpecificConfig::parse(asc).map_err(|source| FlvError::Codec {
        what: "AAC sequence header",
        source,
    })?;
    Ok(Track {
        id: AUDIO_TRACK_ID,
        codec: Codec::Aac,
        timescale: 1000,
        init: Bytes::copy_from_slice(asc),
        codec_string: config.codec_string(),
        video: None,
        audio: Some(AudioInfo {
            sample_rate: config.sample_rate,
            channels: config.channels(),
            sample_size: 16,
        }),
    })
}

/// The `onMetaData` value of a script data body (also when wrapped in RTMP's
/// `@setDataFrame`); `None` for other script data.
pub(crate) fn script_metadata(body: &[u8]) -> Result<Option<Amf0Value>, FlvError> {
    if body.len() > MAX_SCRIPT_DATA_SIZE {
        return Err(FlvError::TooLarge {
            what: "script data size",
            value: body.len() as u64,
            limit: MAX_SCRIPT_DATA_SIZE as u64,
        });
    }
    let (mut name, mut used) = amf0::decode(body)?;
    if name.as_str() == Some("@setDataFrame") {
        (name, used) = next_value(body, used)?;
    }
    if name.as_str() != Some("onMetaData") {
        return Ok(None);
    }
    Ok(Some(next_value(body, used)?.0))
}

/// The value after the first `at` bytes of `body`, and where it ends.
fn next_value(body: &[u8], at: usize) -> Result<(Amf0Value, usize), FlvError> {
    let rest = body.get(at..).unwrap_or_default();
    let (value, used) = amf0::decode(rest)?;
    Ok((value, at.saturating_add(used)))
}

/// `payload` (length-prefixed NAL units of `length_size` bytes) with 4-byte
/// lengths: checked and returned as is when already so, rewritten otherwise
/// (dropping zero-length entries). Framing errors are errors.
pub(crate) fn four_byte_lengths(payload: Bytes, length_size: u8) -> Result<Bytes, FlvError> {
    let bad = |source| FlvError::Codec {
        what: "H.264 frame",
        source,
    };
    let mut units = 0usize;
    for nal in length_prefixed_nals(&payload, length_size) {
        nal.map_err(bad)?;
        units += 1;
    }
    if length_size == 4 {
        return Ok(payload);
    }
    let mut out = Vec::with_capacity(payload.len().saturating_add(units.saturating_mul(4)));
    for nal in length_prefixed_nals(&payload, length_size) {
        let nal = nal.map_err(bad)?;
        let len = u32::try_from(nal.len()).map_err(|_| FlvError::TooLarge {
            what: "NAL unit size",
            value: nal.len() as u64,
            limit: u64::from(u32::MAX),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(Bytes::from(out))
}
