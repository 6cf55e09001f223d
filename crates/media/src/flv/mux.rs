//! Writing FLV: the stream head ([`flv_header`]: file header, `onMetaData`,
//! sequence headers) and one tag per frame ([`write_frame_tag`]), from Brume
//! tracks and frames. Every tag is followed by its `PreviousTagSize`, so the
//! head and the frame tags concatenate into a valid file or HTTP-FLV stream.
//!
//! The tag bodies alone ([`sequence_header_body`], [`frame_body`],
//! [`metadata_body`]) are what RTMP sends as audio, video and data messages.
//!
//! FLV carries at most one H.264 video track and one AAC audio track.
//! Timestamps are milliseconds, written as 32 bits (the extended byte on top)
//! that wrap modulo 2^32, so callers give frames decode times of zero or more.
//! AAC tags use the flags the specification fixes for AAC (44 kHz, 16-bit,
//! stereo, byte `0xAF`): decoders take the real values from the
//! AudioSpecificConfig.

use bytes::Bytes;

use super::amf0::{self, Amf0Value};
use super::demux::{CODEC_ID_AVC, SOUND_FORMAT_AAC};
use super::tag::{
    FileHeader, TagHeader, MAX_TAG_DATA_SIZE, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_SIZE,
    TAG_TYPE_AUDIO, TAG_TYPE_SCRIPT, TAG_TYPE_VIDEO,
};
use super::FlvError;
use crate::codec::aac::AudioSpecificConfig;
use crate::codec::h264::AvcConfig;
use crate::{Codec, Frame, Track};

/// First byte of every AAC audio tag: AAC, 44 kHz, 16-bit, stereo.
const AAC_FLAGS: u8 = (SOUND_FORMAT_AAC << 4) | 0x0F;
/// First byte of an AVC keyframe tag (frame type 1) and of other frames (2).
const AVC_KEYFRAME: u8 = 0x10 | CODEC_ID_AVC;
const AVC_INTER_FRAME: u8 = 0x20 | CODEC_ID_AVC;
/// The range of the signed 24-bit composition time, in milliseconds.
const MIN_COMPOSITION_TIME: i64 = -(1 << 23);
const MAX_COMPOSITION_TIME: i64 = (1 << 23) - 1;
/// Written as `encoder` in `onMetaData`.
const ENCODER: &str = "Brume";

/// The head of an FLV stream for `tracks` (one H.264 and/or one AAC track) with
/// a duration of 0, as for live streams. See [`flv_header_with_duration`].
pub fn flv_header(tracks: &[Track]) -> Result<Bytes, FlvError> {
    flv_header_with_duration(tracks, None)
}

/// The head of an FLV stream: file header with the audio/video flags,
/// `PreviousTagSize0`, the `onMetaData` script tag (duration in seconds, 0 when
/// `duration_ms` is `None`), then the AVC and AAC sequence header tags, all at
/// timestamp 0.
pub fn flv_header_with_duration(
    tracks: &[Track],
    duration_ms: Option<u64>,
) -> Result<Bytes, FlvError> {
    let (video, audio) = pick_tracks(tracks)?;
    let mut out = Vec::with_capacity(1024);
    FileHeader::new(audio.is_some(), video.is_some()).write(&mut out);
    out.extend_from_slice(&[0; PREVIOUS_TAG_SIZE_LEN]);
    write_tag_with(&mut out, TAG_TYPE_SCRIPT, 0, |body| {
        metadata_body(tracks, duration_ms, body)
    })?;
    for track in video.into_iter().chain(audio) {
        write_sequence_header_tag(track, 0, &mut out)?;
    }
    Ok(Bytes::from(out))
}

/// Appends the tag of `frame` (of `track`) and its `PreviousTagSize` to `out`:
/// timestamp = decode time in ms; AVC frames as NALU packets with the
/// composition time in ms, AAC frames as raw packets. On error `out` is left as
/// it was.
pub fn write_frame_tag(track: &Track, frame: &Frame, out: &mut Vec<u8>) -> Result<(), FlvError> {
    let timestamp = flv_timestamp(track.ticks_to_ms(frame.dts));
    write_tag_with(out, tag_type(track)?, timestamp, |body| {
        frame_body(track, frame, body).map(|_| ())
    })
}

/// Appends a sequence header tag of `track` at `timestamp_ms`, as written by
/// [`flv_header`] and needed again when a track's configuration changes.
pub fn write_sequence_header_tag(
    track: &Track,
    timestamp_ms: u32,
    out: &mut Vec<u8>,
) -> Result<(), FlvError> {
    write_tag_with(out, tag_type(track)?, timestamp_ms, |body| {
        sequence_header_body(track, body).map(|_| ())
    })
}

/// Appends a tag of `tag_type` with `body` and its `PreviousTagSize` to `out`.
pub fn write_tag(
    tag_type: u8,
    timestamp_ms: u32,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), FlvError> {
    write_tag_with(out, tag_type, timestamp_ms, |o| {
        o.extend_from_slice(body);
        Ok(())
    })
}

/// Appends the sequence header body of `track` (AVC: `AVCPacketType` 0 and the
/// avcC, rewritten to declare 4-byte NAL lengths like the frames; AAC:
/// `AACPacketType` 0 and the AudioSpecificConfig); returns the tag type.
pub fn sequence_header_body(track: &Track, out: &mut Vec<u8>) -> Result<u8, FlvError> {
    match track.codec {
        Codec::H264 => {
            AvcConfig::parse(&track.init).map_err(|source| FlvError::Codec {
                what: "track's avcC record",
                source,
            })?;
            out.extend_from_slice(&[AVC_KEYFRAME, 0, 0, 0, 0]);
            let start = out.len();
            out.extend_from_slice(&track.init);
            if let Some(lengths) = out.get_mut(start + 4) {
                *lengths |= 0x03;
            }
            Ok(TAG_TYPE_VIDEO)
        }
        Codec::Aac => {
            AudioSpecificConfig::parse(&track.init).map_err(|source| FlvError::Codec {
                what: "track's AudioSpecificConfig",
                source,
            })?;
            out.extend_from_slice(&[AAC_FLAGS, 0]);
            out.extend_from_slice(&track.init);
            Ok(TAG_TYPE_AUDIO)
        }
        Codec::H265 => Err(unsupported_codec(track)),
    }
}

/// Appends the tag body of `frame` (of `track`); returns the tag type. The
/// payload is written as is: 4-byte length-prefixed NAL units for H.264 (as
/// the sequence header declares), a raw frame for AAC.
pub fn frame_body(track: &Track, frame: &Frame, out: &mut Vec<u8>) -> Result<u8, FlvError> {
    if frame.track != track.id {
        return Err(FlvError::Invalid {
            what: format!(
                "a frame of track {} was given with track {}",
                frame.track, track.id
            ),
        });
    }
    match track.codec {
        Codec::H264 => {
            let dts_ms = track.ticks_to_ms(frame.dts);
            let pts_ms = track.ticks_to_ms(frame.dts.saturating_add(i64::from(frame.pts_offset)));
            let cts = pts_ms.saturating_sub(dts_ms);
            if !(MIN_COMPOSITION_TIME..=MAX_COMPOSITION_TIME).contains(&cts) {
                return Err(FlvError::Invalid {
                    what: format!(
                        "a composition time offset of {cts} ms does not fit FLV's signed 24 bits"
                    ),
                });
            }
            // In range, so the low 24 bits are the two's complement value.
            let [_, c0, c1, c2] = (cts as i32).to_be_bytes();
            let flags = if frame.keyframe {
                AVC_KEYFRAME
            } else {
                AVC_INTER_FRAME
            };
            out.extend_from_slice(&[flags, 1, c0, c1, c2]);
            out.extend_from_slice(&frame.data);
            Ok(TAG_TYPE_VIDEO)
        }
        Codec::Aac => {
            out.extend_from_slice(&[AAC_FLAGS, 1]);
            out.extend_from_slice(&frame.data);
            Ok(TAG_TYPE_AUDIO)
        }
        Codec::H265 => Err(unsupported_codec(track)),
    }
}

/// Appends the `onMetaData` script data body for `tracks`: duration (seconds;
/// 0 without `duration_ms`), width, height and frame rate (when the SPS has
/// timing info) of the video, sample rate, sample size and stereo flag of the
/// audio, the FLV codec ids, and the encoder name.
pub fn metadata_body(
    tracks: &[Track],
    duration_ms: Option<u64>,
    out: &mut Vec<u8>,
) -> Result<(), FlvError> {
    let (video, audio) = pick_tracks(tracks)?;
    let number = |n: f64| Amf0Value::Number(n);
    let mut props = vec![(
        "duration".to_string(),
        number(duration_ms.unwrap_or(0) as f64 / 1000.0),
    )];
    if let Some(track) = video {
        if let Some(info) = track.video {
            props.push(("width".into(), number(f64::from(info.width))));
            props.push(("height".into(), number(f64::from(info.height))));
        }
        let rate = AvcConfig::parse(&track.init)
            .ok()
            .and_then(|c| c.sps_info().ok())
            .and_then(|sps| sps.frame_rate)
            .filter(|&(_, den)| den != 0);
        if let Some((num, den)) = rate {
            props.push(("framerate".into(), number(f64::from(num) / f64::from(den))));
        }
        props.push(("videocodecid".into(), number(f64::from(CODEC_ID_AVC))));
    }
    if let Some(track) = audio {
        props.push(("audiocodecid".into(), number(f64::from(SOUND_FORMAT_AAC))));
        if let Some(info) = track.audio {
            props.push((
                "audiosamplerate".into(),
                number(f64::from(info.sample_rate)),
            ));
            props.push(("audiosamplesize".into(), number(16.0)));
            props.push(("stereo".into(), Amf0Value::Boolean(info.channels >= 2)));
        }
    }
    props.push(("encoder".into(), Amf0Value::String(ENCODER.into())));
    amf0::encode(&Amf0Value::String("onMetaData".into()), out);
    amf0::encode(&Amf0Value::EcmaArray(props), out);
    Ok(())
}

/// The 32-bit FLV timestamp of `ms`: wraps modulo 2^32.
fn flv_timestamp(ms: i64) -> u32 {
    // rem_euclid keeps the value in 0..2^32.
    ms.rem_euclid(1 << 32) as u32
}

fn tag_type(track: &Track) -> Result<u8, FlvError> {
    match track.codec {
        Codec::H264 => Ok(TAG_TYPE_VIDEO),
        Codec::Aac => Ok(TAG_TYPE_AUDIO),
        Codec::H265 => Err(unsupported_codec(track)),
    }
}

fn unsupported_codec(track: &Track) -> FlvError {
    FlvError::Unsupported {
        what: format!(
            "writing {} (track {}) to FLV",
            track.codec.mist_name(),
            track.id
        ),
    }
}

/// The video and the audio track of `tracks`: at most one of each, at least one.
fn pick_tracks(tracks: &[Track]) -> Result<(Option<&Track>, Option<&Track>), FlvError> {
    let mut video = None;
    let mut audio = None;
    for track in tracks {
        let slot = match track.codec {
            Codec::H264 => &mut video,
            Codec::Aac => &mut audio,
            Codec::H265 => return Err(unsupported_codec(track)),
        };
        if slot.replace(track).is_some() {
            return Err(FlvError::Invalid {
                what: format!(
                    "FLV carries one video and one audio track, and {} is a second {} track",
                    track.id,
                    track.codec.mist_name()
                ),
            });
        }
    }
    if video.is_none() && audio.is_none() {
        return Err(FlvError::Invalid {
            what: "an FLV stream needs a video or an audio track".into(),
        });
    }
    Ok((video, audio))
}

/// Writes a tag header, the body `fill` appends, the real data size, and the
/// `PreviousTagSize`. On error `out` is truncated back to where it was.
fn write_tag_with(
    out: &mut Vec<u8>,
    tag_type: u8,
    timestamp: u32,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), FlvError>,
) -> Result<(), FlvError> {
    let start = out.len();
    let result = write_tag_inner(out, start, tag_type, timestamp, fill);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn write_tag_inner(
    out: &mut Vec<u8>,
    start: usize,
    tag_type: u8,
    timestamp: u32,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), FlvError>,
) -> Result<(), FlvError> {
    let mut header = TagHeader {
        tag_type,
        filter: false,
        data_size: 0,
        timestamp,
        stream_id: 0,
    };
    header.write(out)?;
    fill(out)?;
    let body_len = out.len().saturating_sub(start + TAG_HEADER_SIZE);
    header.data_size = u32::try_from(body_len)
        .ok()
        .filter(|&n| n <= MAX_TAG_DATA_SIZE)
        .ok_or(FlvError::TooLarge {
            what: "tag body size",
            value: body_len as u64,
            limit: u64::from(MAX_TAG_DATA_SIZE),
        })?;
    let mut patched = Vec::with_capacity(TAG_HEADER_SIZE);
    header.write(&mut patched)?;
    if let Some(slot) = out.get_mut(start..start + TAG_HEADER_SIZE) {
        slot.copy_from_slice(&patched);
    }
    out.extend_from_slice(&header.tag_size().to_be_bytes());
    Ok(())
}
