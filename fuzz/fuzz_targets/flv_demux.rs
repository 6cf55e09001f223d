//! Fuzz target: FLV. The input is read three ways, none of which may panic or
//! allocate without bound: as an FLV file (index it, read every indexed frame,
//! interleave), as a stream of tag bodies for the sans-IO `TagDemuxer` (each
//! record: type selector byte, 32-bit timestamp, 16-bit length, body), and as
//! AMF0 data, whose decoded values must re-encode stably.
//!
//! Seeds (`corpus/flv_demux/`): `seed-av-bframes.flv` is
//! `ffmpeg -f lavfi -i testsrc2=size=64x48:rate=10 -f lavfi -i sine=sample_rate=8000
//! -t 0.5 -c:v libx264 -bf 2 -g 5 -pix_fmt yuv420p -c:a aac -ac 1 -b:a 16k -f flv`;
//! `seed-audio-only.flv` the same audio alone for 0.3 s; `seed-truncated.flv` its
//! first two thirds; `seed-nal-length-2.flv` the same tags with 2-byte NAL
//! lengths; `seed-tag-records` its tags as demuxer records; `seed-amf0-metadata`
//! its `onMetaData` value.
#![no_main]

use brume_media::flv::{amf0, FlvFile, TagDemuxer, TagEvent, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // 1. The file reader.
    if let Ok(file) = FlvFile::open(data) {
        for track in file.tracks() {
            for (index, sample) in track.samples.iter().enumerate() {
                if let Ok(frame) = file.read_frame(data, track.track.id, index) {
                    assert_eq!(frame.track, track.track.id);
                    assert_eq!(frame.data.len(), sample.size as usize);
                }
            }
        }
        let total: usize = file.tracks().iter().map(|t| t.samples.len()).sum();
        assert_eq!(file.interleaved().len(), total);
        let _ = file.duration_ms();
    }

    // 2. The tag body demuxer, on records cut from the input.
    let mut demux = TagDemuxer::new();
    let mut rest = data;
    while let [selector, t0, t1, t2, t3, l0, l1, tail @ ..] = rest {
        let tag_type = match selector % 4 {
            0 => 8,
            1 => 9,
            2 => 18,
            _ => *selector,
        };
        let timestamp = u32::from_be_bytes([*t0, *t1, *t2, *t3]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1])).min(tail.len());
        let (body, after) = tail.split_at(len);
        rest = after;
        match demux.push_tag(tag_type, timestamp, body) {
            Ok(Some(TagEvent::Frame(frame))) => {
                if frame.track == VIDEO_TRACK_ID {
                    assert!(demux.video_track().is_some());
                } else {
                    assert_eq!(frame.track, AUDIO_TRACK_ID);
                    assert!(demux.audio_track().is_some());
                }
            }
            Ok(Some(TagEvent::Track(track))) => {
                assert!(track.id == VIDEO_TRACK_ID || track.id == AUDIO_TRACK_ID);
            }
            Ok(_) | Err(_) => {}
        }
    }

    // 3. AMF0: what decodes re-encodes to bytes that decode to the same bytes.
    if let Ok((value, used)) = amf0::decode(data) {
        assert!(used <= data.len());
        let mut once = Vec::new();
        amf0::encode(&value, &mut once);
        let (again, again_used) = amf0::decode(&once).expect("own encoding decodes");
        assert_eq!(again_used, once.len());
        let mut twice = Vec::new();
        amf0::encode(&again, &mut twice);
        assert_eq!(once, twice);
    }
    let _ = amf0::decode_all(data);
});
