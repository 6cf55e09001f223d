//! Unit tests of the FLV tag demuxer and the muxer: events for every kind of
//! tag body, hostile bodies, and mux → demux round trips. Also the fixtures
//! (codec configurations, tracks, frames, a test-only tag walker) that
//! `file_tests.rs` shares.

use bytes::Bytes;

use super::tag::{FileHeader, TagHeader, TAG_HEADER_SIZE};
use super::*;
use crate::codec::h264::AvcConfig;
use crate::{AudioInfo, Codec, Frame, Track, VideoInfo};

/// The SPS and PPS of `assets/demo.mp4` (x264, High 3.0, 640x360, 30 fps).
pub(super) const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
];
pub(super) const PPS: &[u8] = &[0x68, 0xeb, 0xec, 0xb2, 0x2c];
/// AudioSpecificConfig of 48 kHz stereo AAC-LC.
pub(super) const ASC: &[u8] = &[0x11, 0x90];
/// A length-prefixed IDR slice and a non-IDR slice (content is irrelevant here).
pub(super) const IDR: &[u8] = &[0, 0, 0, 3, 0x65, 0x88, 0x84];
pub(super) const SLICE: &[u8] = &[0, 0, 0, 2, 0x41, 0x9a, 0, 0, 0, 1, 0x01];

pub(super) fn avcc(length_size: u8) -> Vec<u8> {
    let sps = [Bytes::from_static(SPS)];
    let pps = [Bytes::from_static(PPS)];
    let mut config = AvcConfig::from_parameter_sets(&sps, &pps).unwrap();
    config.nal_length_size = length_size;
    config.to_bytes().to_vec()
}

pub(super) fn video_track() -> Track {
    Track {
        id: 1,
        codec: Codec::H264,
        timescale: 90_000,
        init: Bytes::from(avcc(4)),
        codec_string: "avc1.64001e".into(),
        video: Some(VideoInfo {
            width: 640,
            height: 360,
        }),
        audio: None,
    }
}

pub(super) fn audio_track() -> Track {
    Track {
        id: 2,
        codec: Codec::Aac,
        timescale: 48_000,
        init: Bytes::from_static(ASC),
        codec_string: "mp4a.40.2".into(),
        video: None,
        audio: Some(AudioInfo {
            sample_rate: 48_000,
            channels: 2,
            sample_size: 16,
        }),
    }
}

pub(super) fn frame(track: u32, dts: i64, pts_offset: i32, keyframe: bool, data: &[u8]) -> Frame {
    Frame {
        track,
        dts,
        pts_offset,
        keyframe,
        data: Bytes::copy_from_slice(data),
    }
}

pub(super) fn body(head: &[u8], rest: &[u8]) -> Vec<u8> {
    [head, rest].concat()
}

/// Every tag after the file header: header and body; checks each
/// PreviousTagSize on the way.
pub(super) fn tags(data: &[u8]) -> Vec<(TagHeader, &[u8])> {
    let header = FileHeader::parse(data).unwrap();
    let mut pos = header.data_offset as usize;
    assert_eq!(&data[pos..pos + 4], &[0, 0, 0, 0]);
    pos += 4;
    let mut out = Vec::new();
    while pos < data.len() {
        let tag = TagHeader::parse(&data[pos..]).unwrap();
        let start = pos + TAG_HEADER_SIZE;
        let end = start + tag.data_size as usize;
        let prev = u32::from_be_bytes(data[end..end + 4].try_into().unwrap());
        assert_eq!(prev, tag.tag_size());
        out.push((tag, &data[start..end]));
        pos = end + 4;
    }
    out
}

/// A muxed stream: head, then every frame tag.
pub(super) fn stream(tracks: &[Track], frames: &[Frame]) -> Vec<u8> {
    let mut out = flv_header(tracks).unwrap().to_vec();
    for f in frames {
        let track = tracks.iter().find(|t| t.id == f.track).unwrap();
        write_frame_tag(track, f, &mut out).unwrap();
    }
    out
}

/// Video at 30 fps in 90 kHz with a B-frame pattern, audio frames at 48 kHz.
pub(super) fn sample_frames() -> Vec<Frame> {
    vec![
        frame(1, 0, 6000, true, IDR),
        frame(2, 0, 0, true, &[0x21, 0x10, 0x04]),
        frame(1, 3000, 9000, false, SLICE),
        frame(2, 1024, 0, true, &[0x21, 0x10, 0x05, 0x06]),
        frame(1, 6000, 0, false, SLICE),
        frame(2, 2048, 0, true, &[0x21]),
        frame(1, 9000, -3000, false, SLICE),
    ]
}

// --- TimestampExtender ------------------------------------------------------

#[test]
fn timestamps_extend_across_the_32_bit_wrap_and_allow_small_back_steps() {
    let mut clock = TimestampExtender::new();
    assert_eq!(clock.extend(0xFFFF_FF00), 0xFFFF_FF00);
    assert_eq!(clock.extend(0xFFFF_FFF0), 0xFFFF_FFF0);
    assert_eq!(clock.extend(0x10), 0x1_0000_0010);
    // Audio slightly behind video, from before the wrap.
    assert_eq!(clock.extend(0xFFFF_FFF8), 0xFFFF_FFF8);
    assert_eq!(clock.extend(0x40), 0x1_0000_0040);
    assert_eq!(clock.extend(0x30), 0x1_0000_0030);

    let mut clock = TimestampExtender::new();
    assert_eq!(clock.extend(1000), 1000);
    assert_eq!(clock.extend(990), 990);
}

// --- TagDemuxer -------------------------------------------------------------

#[test]
fn avc_sequence_header_and_nalus_become_a_track_and_frames() {
    let mut demux = TagDemuxer::new();
    let event = demux
        .push_tag(9, 0, &body(&[0x17, 0, 0, 0, 0], &avcc(4)))
        .unwrap();
    let Some(TagEvent::Track(track)) = event else {
        panic!("expected a track, got {event:?}")
    };
    assert_eq!(track.id, VIDEO_TRACK_ID);
    assert_eq!(track.codec, Codec::H264);
    assert_eq!(track.timescale, 1000);
    assert_eq!(track.codec_string, "avc1.64001e");
    assert_eq!(
        track.video,
        Some(VideoInfo {
            width: 640,
            height: 360
        })
    );
    assert_eq!(&track.init[..], &avcc(4)[..]);
    assert_eq!(demux.video_track(), Some(&track));

    // Keyframe, composition time +67 ms.
    let event = demux
        .push_tag(9, 40, &body(&[0x17, 1, 0, 0, 67], IDR))
        .unwrap();
    assert_eq!(event, Some(TagEvent::Frame(frame(1, 40, 67, true, IDR))));
    // Inter frame, composition time -33 ms (0xFFFFDF as signed 24 bits).
    let event = demux
        .push_tag(9, 73, &body(&[0x27, 1, 0xFF, 0xFF, 0xDF], SLICE))
        .unwrap();
    assert_eq!(
        event,
        Some(TagEvent::Frame(frame(1, 73, -33, false, SLICE)))
    );
    // Disposable inter frame (type 3).
    let event = demux
        .push_tag(9, 90, &body(&[0x37, 1, 0, 0, 0], SLICE))
        .unwrap();
    assert_eq!(event, Some(TagEvent::Frame(frame(1, 90, 0, false, SLICE))));

    // End of sequence, command frames, empty frames: nothing.
    assert_eq!(demux.push_tag(9, 100, &[0x17, 2, 0, 0, 0]).unwrap(), None);
    assert_eq!(demux.push_tag(9, 100, &[0x57, 0]).unwrap(), None);
    assert_eq!(demux.push_tag(9, 100, &[0x27, 1, 0, 0, 0]).unwrap(), None);
}

#[test]
fn repeated_sequence_headers_are_silent_and_changed_ones_are_new_tracks() {
    let mut demux = TagDemuxer::new();
    let header = body(&[0x17, 0, 0, 0, 0], &avcc(4));
    assert!(demux.push_tag(9, 0, &header).unwrap().is_some());
    assert_eq!(demux.push_tag(9, 500, &header).unwrap(), None);

    // A new PPS: same track id, new init.
    let sps = [Bytes::from_static(SPS)];
    let pps = [Bytes::from_static(&[0x68, 0xee, 0x3c, 0x80])];
    let changed = AvcConfig::from_parameter_sets(&sps, &pps)
        .unwrap()
        .to_bytes();
    let event = demux
        .push_tag(9, 1000, &body(&[0x17, 0, 0, 0, 0], &changed))
        .unwrap();
    let Some(TagEvent::Track(track)) = event else {
        panic!("expected a track, got {event:?}")
    };
    assert_eq!(track.id, VIDEO_TRACK_ID);
    assert_eq!(track.init, changed);

    // The same for audio: 44.1 kHz mono replaces 48 kHz stereo.
    let event = demux.push_tag(8, 0, &[0xAF, 0, 0x11, 0x90]).unwrap();
    assert!(matches!(event, Some(TagEvent::Track(_))));
    assert_eq!(demux.push_tag(8, 0, &[0xAF, 0, 0x11, 0x90]).unwrap(), None);
    let event = demux.push_tag(8, 0, &[0xAF, 0, 0x12, 0x08]).unwrap();
    let Some(TagEvent::Track(track)) = event else {
        panic!("expected a track, got {event:?}")
    };
    assert_eq!(track.id, AUDIO_TRACK_ID);
    assert_eq!(
        track.audio,
        Some(AudioInfo {
            sample_rate: 44_100,
            channels: 1,
            sample_size: 16
        })
    );
}

#[test]
fn aac_sequence_header_and_raw_frames_become_a_track_and_frames() {
    let mut demux = TagDemuxer::new();
    let event = demux.push_tag(8, 0, &body(&[0xAF, 0], ASC)).unwrap();
    let Some(TagEvent::Track(track)) = event else {
        panic!("expected a track, got {event:?}")
    };
    assert_eq!(track.id, AUDIO_TRACK_ID);
    assert_eq!(track.codec, Codec::Aac);
    assert_eq!(track.timescale, 1000);
    assert_eq!(track.codec_string, "mp4a.40.2");
    assert_eq!(&track.init[..], ASC);
    assert_eq!(
        track.audio,
        Some(AudioInfo {
            sample_rate: 48_000,
            channels: 2,
            sample_size: 16
        })
    );
    // Rate/size/type flags other than 0xAF's are accepted (the ASC rules).
    let event = demux.push_tag(8, 21, &[0xA2, 1, 7, 8, 9]).unwrap();
    assert_eq!(
        event,
        Some(TagEvent::Frame(frame(2, 21, 0, true, &[7, 8, 9])))
    );
    assert_eq!(demux.push_tag(8, 42, &[0xAF, 1]).unwrap(), None);
}

#[test]
fn frames_before_their_sequence_header_are_errors_the_caller_can_skip() {
    let mut demux = TagDemuxer::new();
    assert!(matches!(
        demux.push_tag(9, 0, &body(&[0x17, 1, 0, 0, 0], IDR)),
        Err(FlvError::MissingSequenceHeader { kind: "video" })
    ));
    assert!(matches!(
        demux.push_tag(8, 0, &[0xAF, 1, 1, 2]),
        Err(FlvError::MissingSequenceHeader { kind: "audio" })
    ));
    // The demuxer goes on afterwards.
    assert!(demux
        .push_tag(8, 0, &body(&[0xAF, 0], ASC))
        .unwrap()
        .is_some());
    assert!(demux.push_tag(8, 0, &[0xAF, 1, 1, 2]).unwrap().is_some());
}

#[test]
fn other_codecs_and_enhanced_rtmp_are_unsupported_not_panics() {
    let mut demux = TagDemuxer::new();
    let cases: [(u8, &[u8], &str); 9] = [
        (8, &[0x2F, 0xFF, 0xFB], "MP3"),
        (8, &[0xB6, 0x00], "Speex"),
        (8, &[0x3E, 0x00], "PCM"),
        (8, &[0x9D, b'O', b'p', b'u', b's'], "Opus"),
        (8, &[0x90], "cut short"),
        (9, &[0x22, 0, 0], "H.263"),
        (9, &[0x14, 0, 0], "VP6"),
        (9, &[0x90, b'h', b'v', b'c', b'1', 0, 0, 0], "hvc1"),
        (9, &[0x1C, 0, 0, 0, 0], "HEVC"),
    ];
    for (kind, data, name) in cases {
        match demux.push_tag(kind, 0, data) {
            Err(FlvError::Unsupported { what }) => assert!(what.contains(name), "{what}"),
            other => panic!("{data:?}: expected Unsupported, got {other:?}"),
        }
    }
    assert!(matches!(
        demux.push_tag(15, 0, &[0]),
        Err(FlvError::Unsupported { .. })
    ));
}

#[test]
fn malformed_tag_bodies_are_errors() {
    let mut demux = TagDemuxer::new();
    demux
        .push_tag(9, 0, &body(&[0x17, 0, 0, 0, 0], &avcc(4)))
        .unwrap();
    let cases: [(u8, &[u8]); 9] = [
        (9, &[]),
        (9, &[0x17, 1, 0, 0]),
        (9, &[0x17, 7, 0, 0, 0]),
        (9, &[0x17, 0, 0, 0, 0, 1, 0x64]),
        // A NAL length running past the end.
        (9, &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65]),
        (8, &[]),
        (8, &[0xAF]),
        (8, &[0xAF, 5, 0]),
        (8, &[0xAF, 0, 0x00]),
    ];
    for (kind, data) in cases {
        assert!(demux.push_tag(kind, 0, data).is_err(), "{data:?}");
    }
    let huge = vec![0x17; 1 << 24];
    assert!(matches!(
        demux.push_tag(9, 0, &huge),
        Err(FlvError::TooLarge { .. })
    ));
}

#[test]
fn short_nal_lengths_are_rewritten_to_four_bytes() {
    let mut demux = TagDemuxer::new();
    let event = demux
        .push_tag(9, 0, &body(&[0x17, 0, 0, 0, 0], &avcc(2)))
        .unwrap();
    let Some(TagEvent::Track(track)) = event else {
        panic!("expected a track")
    };
    // The track's avcC declares the 4-byte lengths its frames have.
    assert_eq!(track.init[4] & 0x03, 3);
    assert_eq!(AvcConfig::parse(&track.init).unwrap().nal_length_size, 4);
    let stored = [0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 1, 0x06];
    let event = demux
        .push_tag(9, 0, &body(&[0x17, 1, 0, 0, 0], &stored))
        .unwrap();
    let expected = [0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 1, 0x06];
    assert_eq!(
        event,
        Some(TagEvent::Frame(frame(1, 0, 0, true, &expected)))
    );
}

#[test]
fn push_tag_bytes_shares_the_payload() {
    let mut demux = TagDemuxer::new();
    demux
        .push_tag(9, 0, &body(&[0x17, 0, 0, 0, 0], &avcc(4)))
        .unwrap();
    let tag = Bytes::from(body(&[0x17, 1, 0, 0, 0], IDR));
    let Some(TagEvent::Frame(f)) = demux.push_tag_bytes(9, 0, tag.clone()).unwrap() else {
        panic!("expected a frame")
    };
    assert_eq!(f.data.as_ptr(), tag[5..].as_ptr());
}

#[test]
fn frame_timestamps_extend_across_the_wrap() {
    let mut demux = TagDemuxer::new();
    demux.push_tag(8, 0, &body(&[0xAF, 0], ASC)).unwrap();
    let mut dts = Vec::new();
    for raw in [0xFFFF_FFE0u32, 0xFFFF_FFF5, 0x0A, 0x1F] {
        match demux.push_tag(8, raw, &[0xAF, 1, 1]).unwrap() {
            Some(TagEvent::Frame(f)) => dts.push(f.dts),
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    assert_eq!(
        dts,
        [0xFFFF_FFE0, 0xFFFF_FFF5, 0x1_0000_000A, 0x1_0000_001F]
    );
}

#[test]
fn script_data_yields_on_metadata_only() {
    let meta = Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(640.0))]);
    let mut plain = Vec::new();
    amf0::encode(&Amf0Value::String("onMetaData".into()), &mut plain);
    amf0::encode(&meta, &mut plain);
    let mut wrapped = Vec::new();
    amf0::encode(&Amf0Value::String("@setDataFrame".into()), &mut wrapped);
    wrapped.extend_from_slice(&plain);
    let mut cue = Vec::new();
    amf0::encode(&Amf0Value::String("onCuePoint".into()), &mut cue);
    amf0::encode(&Amf0Value::Object(vec![]), &mut cue);

    let mut demux = TagDemuxer::new();
    for data in [&plain, &wrapped] {
        assert_eq!(
            demux.push_tag(18, 0, data).unwrap(),
            Some(TagEvent::Metadata(meta.clone()))
        );
    }
    assert_eq!(demux.push_tag(18, 0, &cue).unwrap(), None);
    assert!(matches!(
        demux.push_tag(18, 0, &[0x11]),
        Err(FlvError::Amf3)
    ));
    assert!(demux.push_tag(18, 0, &plain[..plain.len() - 1]).is_err());
}

// --- muxer --------------------------------------------------------------------

#[test]
fn the_stream_head_has_flags_metadata_and_both_sequence_headers() {
    let tracks = [video_track(), audio_track()];
    let head = flv_header_with_duration(&tracks, Some(10_000)).unwrap();
    assert_eq!(
        FileHeader::parse(&head).unwrap(),
        FileHeader::new(true, true)
    );
    let tags = tags(&head);
    assert_eq!(
        tags.iter().map(|(t, _)| t.tag_type).collect::<Vec<_>>(),
        [18, 9, 8]
    );
    assert!(tags
        .iter()
        .all(|(t, _)| t.timestamp == 0 && t.stream_id == 0));

    let mut demux = TagDemuxer::new();
    let Some(TagEvent::Metadata(meta)) = demux.push_tag(18, 0, tags[0].1).unwrap() else {
        panic!("expected metadata")
    };
    let num = |key: &str| meta.get(key).and_then(Amf0Value::as_number);
    assert_eq!(num("duration"), Some(10.0));
    assert_eq!(num("width"), Some(640.0));
    assert_eq!(num("height"), Some(360.0));
    assert_eq!(num("framerate"), Some(30.0));
    assert_eq!(num("videocodecid"), Some(7.0));
    assert_eq!(num("audiocodecid"), Some(10.0));
    assert_eq!(num("audiosamplerate"), Some(48_000.0));
    assert_eq!(num("audiosamplesize"), Some(16.0));
    assert_eq!(meta.get("stereo"), Some(&Amf0Value::Boolean(true)));

    assert_eq!(&tags[1].1[..5], &[0x17, 0, 0, 0, 0]);
    assert_eq!(&tags[2].1[..2], &[0xAF, 0]);
    let Some(TagEvent::Track(video)) = demux.push_tag(9, 0, tags[1].1).unwrap() else {
        panic!("expected a track")
    };
    assert_eq!(video.init, video_track().init);
    let Some(TagEvent::Track(audio)) = demux.push_tag(8, 0, tags[2].1).unwrap() else {
        panic!("expected a track")
    };
    assert_eq!(audio.init, audio_track().init);

    // Audio only: no video flag, no video tags; live duration 0.
    let head = flv_header(&[audio_track()]).unwrap();
    assert_eq!(
        FileHeader::parse(&head).unwrap(),
        FileHeader::new(true, false)
    );
    let tags = self::tags(&head);
    assert_eq!(tags.len(), 2);
    let Some(TagEvent::Metadata(meta)) = demux.push_tag(18, 0, tags[0].1).unwrap() else {
        panic!("expected metadata")
    };
    assert_eq!(meta.get("duration"), Some(&Amf0Value::Number(0.0)));
    assert_eq!(meta.get("width"), None);
}

#[test]
fn the_sequence_header_declares_four_byte_lengths_whatever_the_track_init_says() {
    let mut track = video_track();
    track.init = Bytes::from(avcc(2));
    let head = flv_header(&[track]).unwrap();
    let tags = tags(&head);
    assert_eq!(tags[1].1[5 + 4] & 0x03, 3);
}

#[test]
fn frame_tags_round_trip_through_the_tag_demuxer() {
    let tracks = [video_track(), audio_track()];
    let frames = sample_frames();
    let data = stream(&tracks, &frames);
    let mut demux = TagDemuxer::new();
    let mut got = Vec::new();
    for (tag, body) in tags(&data) {
        if let Some(TagEvent::Frame(f)) = demux.push_tag(tag.tag_type, tag.timestamp, body).unwrap()
        {
            got.push(f);
        }
    }
    let expected: Vec<Frame> = frames
        .iter()
        .map(|f| {
            let track = if f.track == 1 { &tracks[0] } else { &tracks[1] };
            let dts = track.ticks_to_ms(f.dts);
            let pts = track.ticks_to_ms(f.pts());
            Frame {
                dts,
                pts_offset: (pts - dts) as i32,
                ..f.clone()
            }
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(got[0].pts_offset, 66);
    assert_eq!(got[6].pts_offset, -34);
}

#[test]
fn timestamps_past_24_bits_use_the_extended_byte_and_wrap_at_32() {
    let track = audio_track();
    let mut out = Vec::new();
    let ms = 0x0123_4567i64;
    write_frame_tag(&track, &frame(2, ms * 48, 0, true, &[1]), &mut out).unwrap();
    assert_eq!(&out[4..8], &[0x23, 0x45, 0x67, 0x01]);
    let mut out = Vec::new();
    let ms = (1i64 << 32) + 5;
    write_frame_tag(&track, &frame(2, ms * 48, 0, true, &[1]), &mut out).unwrap();
    assert_eq!(TagHeader::parse(&out).unwrap().timestamp, 5);
}

#[test]
fn unwritable_input_is_an_error_and_leaves_the_output_alone() {
    let video = video_track();
    let mut out = vec![1, 2, 3];
    let far = 9_000_000 * 90; // 9 000 s composition offset
    assert!(write_frame_tag(&video, &frame(1, 0, far, true, IDR), &mut out).is_err());
    assert!(write_frame_tag(&video, &frame(2, 0, 0, true, IDR), &mut out).is_err());
    let huge = vec![0u8; 1 << 24];
    assert!(matches!(
        write_frame_tag(&video, &frame(1, 0, 0, true, &huge), &mut out),
        Err(FlvError::TooLarge { .. })
    ));
    let mut hevc = video_track();
    hevc.codec = Codec::H265;
    assert!(matches!(
        write_frame_tag(&hevc, &frame(1, 0, 0, true, IDR), &mut out),
        Err(FlvError::Unsupported { .. })
    ));
    assert_eq!(out, [1, 2, 3]);

    assert!(matches!(
        flv_header(&[hevc]),
        Err(FlvError::Unsupported { .. })
    ));
    assert!(flv_header(&[]).is_err());
    assert!(flv_header(&[video_track(), video_track()]).is_err());
    let mut broken = video_track();
    broken.init = Bytes::from_static(&[1, 2]);
    assert!(matches!(flv_header(&[broken]), Err(FlvError::Codec { .. })));
}
