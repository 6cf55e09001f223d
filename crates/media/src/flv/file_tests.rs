//! Unit tests of the FLV file reader: the index built from muxed and
//! hand-made files, frame reads, NAL length conversion, and damaged, hostile
//! or foreign files.

use super::tag::FileHeader;
use super::tests::{
    audio_track, avcc, body, frame, sample_frames, stream, video_track, IDR, SLICE,
};
use super::*;
use crate::codec::h264::AvcConfig;
use crate::Frame;

#[test]
fn a_muxed_stream_indexes_and_reads_back_frame_for_frame() {
    let tracks = [video_track(), audio_track()];
    let frames = sample_frames();
    let data = stream(&tracks, &frames);
    let file = FlvFile::open(&data[..]).unwrap();
    assert_eq!(file.tracks().len(), 2);
    assert_eq!(
        file.metadata().and_then(|m| m.get("width")),
        Some(&Amf0Value::Number(640.0))
    );
    let video = file.track(1).unwrap();
    let audio = file.track(2).unwrap();
    assert_eq!(video.track.codec_string, "avc1.64001e");
    assert_eq!(video.track.timescale, 1000);
    assert_eq!(audio.track.audio.map(|a| a.sample_rate), Some(48_000));

    let dts = |t: &crate::index::IndexedTrack| t.samples.iter().map(|s| s.dts).collect::<Vec<_>>();
    assert_eq!(dts(video), [0, 33, 66, 100]);
    assert_eq!(dts(audio), [0, 21, 42]);
    let durations =
        |t: &crate::index::IndexedTrack| t.samples.iter().map(|s| s.duration).collect::<Vec<_>>();
    assert_eq!(durations(video), [33, 33, 34, 34]);
    assert_eq!(durations(audio), [21, 21, 21]);
    assert_eq!(
        video.samples.iter().map(|s| s.keyframe).collect::<Vec<_>>(),
        [true, false, false, false]
    );
    assert_eq!(file.duration_ms(), 134);

    for (i, s) in video.samples.iter().enumerate() {
        // The sample is exactly the payload after the 5-byte AVC header.
        assert_eq!(data[s.offset as usize - 5] & 0x0F, 7);
        let f = file.read_frame(&data[..], 1, i).unwrap();
        assert_eq!(f.data.len(), s.size as usize);
        assert_eq!(
            (f.dts, f.pts_offset, f.keyframe),
            (s.dts, s.pts_offset, s.keyframe)
        );
    }
    let originals: Vec<&Frame> = frames.iter().filter(|f| f.track == 1).collect();
    for (i, original) in originals.iter().enumerate() {
        assert_eq!(
            file.read_frame(&data[..], 1, i).unwrap().data,
            original.data
        );
    }
    let originals: Vec<&Frame> = frames.iter().filter(|f| f.track == 2).collect();
    for (i, original) in originals.iter().enumerate() {
        assert_eq!(
            file.read_frame(&data[..], 2, i).unwrap().data,
            original.data
        );
    }
    assert_eq!(file.interleaved().len(), frames.len());
    assert!(matches!(
        file.read_frame(&data[..], 3, 0),
        Err(FlvError::NoSuchTrack { track: 3 })
    ));
    assert!(matches!(
        file.read_frame(&data[..], 1, 4),
        Err(FlvError::SampleOutOfRange { track: 1, index: 4 })
    ));
}

#[test]
fn every_truncation_gives_a_prefix_of_the_index_or_an_error() {
    let data = stream(&[video_track(), audio_track()], &sample_frames());
    let full = FlvFile::open(&data[..]).unwrap();
    let mut last_count = 0;
    for cut in 0..data.len() {
        let Ok(file) = FlvFile::open(&data[..cut]) else {
            continue;
        };
        let count: usize = file.tracks().iter().map(|t| t.samples.len()).sum();
        assert!(count >= last_count, "cut {cut}");
        last_count = count;
        for t in file.tracks() {
            let whole = full.track(t.track.id).unwrap();
            for (i, s) in t.samples.iter().enumerate() {
                assert_eq!(
                    (s.offset, s.size, s.dts),
                    (
                        whole.samples[i].offset,
                        whole.samples[i].size,
                        whole.samples[i].dts
                    )
                );
                assert!(file.read_frame(&data[..cut], t.track.id, i).is_ok());
            }
        }
    }
    assert_eq!(last_count, 7);
}

#[test]
fn single_frame_tracks_get_a_frame_long_duration() {
    let tracks = [video_track(), audio_track()];
    let frames = [frame(1, 0, 0, true, IDR), frame(2, 0, 0, true, &[1])];
    let data = stream(&tracks, &frames);
    let file = FlvFile::open(&data[..]).unwrap();
    assert_eq!(file.track(1).unwrap().samples[0].duration, 33);
    assert_eq!(file.track(2).unwrap().samples[0].duration, 21);
}

/// An FLV file of hand-made tags: (type, timestamp, body).
fn handmade(tags: &[(u8, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    FileHeader::new(true, true).write(&mut out);
    out.extend_from_slice(&[0; 4]);
    for (kind, ts, body) in tags {
        mux::write_tag(*kind, *ts, body, &mut out).unwrap();
    }
    out
}

#[test]
fn files_with_two_byte_nal_lengths_are_converted_on_read() {
    let good = [0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 2, 0x06, 0x05];
    let data = handmade(&[
        (9, 0, body(&[0x17, 0, 0, 0, 0], &avcc(2))),
        (9, 0, body(&[0x17, 1, 0, 0, 0], &good)),
        // Lengths that do not add up: skipped.
        (9, 33, body(&[0x27, 1, 0, 0, 0], &[0, 9, 0x41])),
        (9, 66, body(&[0x27, 1, 0, 0, 0], &[0, 1, 0x41])),
    ]);
    let file = FlvFile::open(&data[..]).unwrap();
    let video = file.track(1).unwrap();
    assert_eq!(
        AvcConfig::parse(&video.track.init).unwrap().nal_length_size,
        4
    );
    assert_eq!(
        video
            .samples
            .iter()
            .map(|s| (s.dts, s.size))
            .collect::<Vec<_>>(),
        [(0, 4 + 3 + 4 + 2), (66, 5)]
    );
    let f = file.read_frame(&data[..], 1, 0).unwrap();
    assert_eq!(
        &f.data[..],
        &[0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 2, 0x06, 0x05]
    );
    let f = file.read_frame(&data[..], 1, 1).unwrap();
    assert_eq!(&f.data[..], &[0, 0, 0, 1, 0x41]);
}

#[test]
fn a_source_that_changed_since_indexing_is_an_error() {
    let data = stream(&[video_track()], &[frame(1, 0, 0, true, IDR)]);
    let file = FlvFile::open(&data[..]).unwrap();
    let offset = file.track(1).unwrap().samples[0].offset as usize;
    let mut changed = data.clone();
    changed[offset + 3] = 0x20; // the NAL length now runs past the frame
    assert!(file.read_frame(&changed[..], 1, 0).is_err());
    assert!(file.read_frame(&data[..offset], 1, 0).is_err());
}

#[test]
fn skipped_and_damaged_tags_are_left_out_of_the_index() {
    let avc = body(&[0x17, 0, 0, 0, 0], &avcc(4));
    let data = handmade(&[
        (9, 0, body(&[0x17, 1, 0, 0, 0], IDR)), // before the sequence header
        (8, 0, vec![0x2F, 0xFF, 0xFB, 0x90]),   // MP3
        (9, 0, avc.clone()),
        (9, 0, vec![0x17]), // cut header
        (9, 0, body(&[0x17, 1, 0, 0, 0], IDR)),
        (9, 10, avc),                             // identical repeat
        (9, 20, vec![0x17, 0, 0, 0, 0, 1, 2, 3]), // broken later header
        (9, 40, body(&[0x27, 1, 0, 0, 0], SLICE)),
        (18, 50, vec![0x11]), // AMF3 script data
        (31, 60, vec![0; 4]), // unknown type: stop
        (9, 80, body(&[0x27, 1, 0, 0, 0], SLICE)),
    ]);
    let file = FlvFile::open(&data[..]).unwrap();
    assert_eq!(file.tracks().len(), 1);
    let dts: Vec<i64> = file
        .track(1)
        .unwrap()
        .samples
        .iter()
        .map(|s| s.dts)
        .collect();
    assert_eq!(dts, [0, 40]);
    assert!(file.metadata().is_none());
}

#[test]
fn files_that_cannot_be_indexed_are_clear_errors() {
    let mp4 = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2";
    match FlvFile::open(&mp4[..]) {
        Err(FlvError::NotFlv { found }) => assert!(found.contains("MP4"), "{found}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        FlvFile::open(&b"FLV"[..]),
        Err(FlvError::NotFlv { .. })
    ));
    let header_only = handmade(&[]);
    assert!(matches!(
        FlvFile::open(&header_only[..]),
        Err(FlvError::NoSupportedTracks)
    ));
    let only_mp3 = handmade(&[(8, 0, vec![0x2F, 0xFF, 0xFB, 0x90])]);
    assert!(matches!(
        FlvFile::open(&only_mp3[..]),
        Err(FlvError::NoSupportedTracks)
    ));
    let headers_only = handmade(&[(9, 0, body(&[0x17, 0, 0, 0, 0], &avcc(4)))]);
    assert!(matches!(
        FlvFile::open(&headers_only[..]),
        Err(FlvError::NoSupportedTracks)
    ));
    let broken = handmade(&[(8, 0, vec![0xAF, 0, 0x00])]);
    assert!(matches!(
        FlvFile::open(&broken[..]),
        Err(FlvError::Codec { .. })
    ));
    let mut bad_offset = handmade(&[]);
    bad_offset[8] = 3;
    assert!(matches!(
        FlvFile::open(&bad_offset[..]),
        Err(FlvError::Invalid { .. })
    ));
}
