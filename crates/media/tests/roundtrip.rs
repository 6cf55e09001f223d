//! Demux → fragmented-MP4 mux round trip on the bundled ffmpeg-made clip: every
//! sample's bytes, decode time, composition offset and keyframe flag survive.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

use brume_media::mp4::demux::Mp4File;
use brume_media::mp4::fmp4::{self, FragmentSample, TrackRun};
use brume_media::Frame;

const CLIP: &[u8] = include_bytes!("../../../assets/demo.mp4");

/// (track id, dts, composition offset, keyframe, bytes) as read back from fMP4.
type Recovered = (u32, i64, i32, bool, Vec<u8>);

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn children(data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = be32(data, pos) as usize;
        assert!(size >= 8 && pos + size <= data.len(), "bad box size");
        out.push((
            data[pos + 4..pos + 8].try_into().unwrap(),
            &data[pos + 8..pos + size],
        ));
        pos += size;
    }
    out
}

/// Reads back one moof+mdat pair (test-only, handles what our muxer writes).
fn read_fragment(moof_start: &[u8], moof: &[u8]) -> Vec<Recovered> {
    let mut out = Vec::new();
    for (kind, traf) in children(moof) {
        if &kind != b"traf" {
            continue;
        }
        let mut track = 0;
        let mut base = 0i64;
        for (kind, body) in children(traf) {
            match &kind {
                b"tfhd" => track = be32(body, 4),
                b"tfdt" => {
                    base = if body[0] == 1 {
                        i64::from_be_bytes(body[4..12].try_into().unwrap())
                    } else {
                        be32(body, 4) as i64
                    }
                }
                b"trun" => {
                    let flags = be32(body, 0) & 0xff_ffff;
                    let count = be32(body, 4) as usize;
                    let mut pos = 8;
                    assert!(flags & 1 != 0, "data offset present");
                    let mut data_at = be32(body, pos) as i32 as usize;
                    pos += 4;
                    if flags & 4 != 0 {
                        pos += 4;
                    }
                    let mut dts = base;
                    for _ in 0..count {
                        let mut duration = 0;
                        let mut size = 0;
                        let mut sample_flags = 0;
                        let mut cts = 0;
                        if flags & 0x100 != 0 {
                            duration = be32(body, pos);
                            pos += 4;
                        }
                        if flags & 0x200 != 0 {
                            size = be32(body, pos) as usize;
                            pos += 4;
                        }
                        if flags & 0x400 != 0 {
                            sample_flags = be32(body, pos);
                            pos += 4;
                        }
                        if flags & 0x800 != 0 {
                            cts = be32(body, pos) as i32;
                            pos += 4;
                        }
                        let keyframe = sample_flags & 0x0001_0000 == 0;
                        let bytes = moof_start[data_at..data_at + size].to_vec();
                        out.push((track, dts, cts, keyframe, bytes));
                        data_at += size;
                        dts += duration as i64;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

#[test]
fn every_sample_survives_demux_then_mux() {
    let file = Mp4File::open(CLIP).unwrap();
    let tracks: Vec<_> = file.tracks().iter().map(|t| t.track.clone()).collect();
    let init = fmp4::init_segment(&tracks).unwrap();
    assert_eq!(&init[4..8], b"ftyp");

    // Shift so every dts is >= 0, as the server does.
    let shift: Vec<i64> = file
        .tracks()
        .iter()
        .map(|t| (-t.samples.first().unwrap().dts).max(0))
        .collect();
    let mut expected: Vec<Recovered> = Vec::new();
    let mut recovered: Vec<Recovered> = Vec::new();
    // One fragment per 30 interleaved samples: crosses tracks and keyframes.
    let order = file.interleaved();
    for (sequence, chunk) in (1u32..).zip(order.chunks(30)) {
        let mut per_track: Vec<Vec<(Frame, u32)>> = vec![Vec::new(); tracks.len()];
        for &(id, index) in chunk {
            let slot = tracks.iter().position(|t| t.id == id).unwrap();
            let sample = file.track(id).unwrap().samples[index];
            let mut frame = file.read_frame(CLIP, id, index).unwrap();
            frame.dts += shift[slot];
            expected.push((
                id,
                frame.dts,
                frame.pts_offset,
                frame.keyframe,
                frame.data.to_vec(),
            ));
            per_track[slot].push((frame, sample.duration));
        }
        let samples: Vec<Vec<FragmentSample<'_>>> = per_track
            .iter()
            .map(|v| {
                v.iter()
                    .map(|(frame, duration)| FragmentSample {
                        frame,
                        duration: *duration,
                    })
                    .collect()
            })
            .collect();
        let runs: Vec<TrackRun<'_>> = tracks
            .iter()
            .zip(&samples)
            .filter(|(_, s)| !s.is_empty())
            .map(|(track, samples)| TrackRun { track, samples })
            .collect();
        let bytes = fmp4::fragment(sequence, &runs).unwrap();
        let boxes = children(&bytes);
        assert_eq!(&boxes[0].0, b"moof");
        assert_eq!(&boxes[1].0, b"mdat");
        recovered.extend(read_fragment(&bytes, boxes[0].1));
    }
    // The muxer groups by track inside a fragment; compare per track.
    for track in &tracks {
        let want: Vec<_> = expected.iter().filter(|r| r.0 == track.id).collect();
        let got: Vec<_> = recovered.iter().filter(|r| r.0 == track.id).collect();
        assert_eq!(want.len(), got.len(), "track {} sample count", track.id);
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            assert_eq!(w, g, "track {} sample {i} differs", track.id);
        }
    }
    assert_eq!(expected.len(), 300 + 470);
}
