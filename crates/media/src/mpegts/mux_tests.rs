//! Unit tests of the TS muxer (packet structure, continuity counters, PSI tables
//! and their CRC, PES timestamps, PCR and random access flags, payload framing),
//! and the test stream helpers shared with the demuxer tests.

use bytes::Bytes;

use super::packet::{parse_packet, Packet};
use super::pes::{parse_pes_header, write_pes_header, PES_HEADER_MAX};
use super::psi::{crc32_mpeg2, parse_pat, parse_pmt};
use super::*;
use crate::codec::aac::{AdtsHeader, AudioSpecificConfig};
use crate::codec::h264::AvcConfig;
use crate::{AudioInfo, Codec, Frame, Track, VideoInfo};

/// The SPS and PPS of `assets/demo.mp4` (x264, High 3.0, 640x360).
pub(super) const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
];
pub(super) const PPS: &[u8] = &[0x68, 0xeb, 0xec, 0xb2, 0x2c];

pub(super) fn video_track(id: u32) -> Track {
    let config =
        AvcConfig::from_parameter_sets(&[Bytes::from_static(SPS)], &[Bytes::from_static(PPS)])
            .expect("demo parameter sets");
    Track {
        id,
        codec: Codec::H264,
        timescale: 90_000,
        init: config.to_bytes(),
        codec_string: config.codec_string(),
        video: Some(VideoInfo {
            width: 640,
            height: 360,
        }),
        audio: None,
    }
}

pub(super) fn audio_asc() -> AudioSpecificConfig {
    AudioSpecificConfig {
        object_type: 2,
        sampling_index: 3,
        sample_rate: 48_000,
        channel_config: 2,
    }
}

pub(super) fn audio_track(id: u32) -> Track {
    let asc = audio_asc();
    Track {
        id,
        codec: Codec::Aac,
        timescale: 48_000,
        init: asc.to_bytes(),
        codec_string: asc.codec_string(),
        video: None,
        audio: Some(AudioInfo {
            sample_rate: 48_000,
            channels: 2,
            sample_size: 16,
        }),
    }
}

/// A NAL unit with header byte `header` and `len - 1` body bytes, none zero (so
/// no start code can appear inside).
pub(super) fn nal(header: u8, len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![header];
    v.extend((1..len).map(|i| 1 + ((i * 7 + usize::from(seed)) % 250) as u8));
    v
}

/// 4-byte length-prefixed NAL units.
pub(super) fn length_prefixed(nals: &[Vec<u8>]) -> Bytes {
    let mut out = Vec::new();
    for n in nals {
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n);
    }
    Bytes::from(out)
}

/// Video frame `i` of track `track`: 30 fps, keyframe every 30th, sizes from a
/// few bytes to several packets, a composition offset on odd frames.
pub(super) fn video_frame(track: u32, i: usize) -> Frame {
    let keyframe = i.is_multiple_of(30);
    let header = if keyframe { 0x65 } else { 0x41 };
    let size = if keyframe {
        3000 + i
    } else {
        20 + (i * 97) % 900
    };
    Frame {
        track,
        dts: i as i64 * 3000,
        pts_offset: if i % 2 == 1 { 6000 } else { 0 },
        keyframe,
        data: length_prefixed(&[nal(0x06, 12, i as u8), nal(header, size, i as u8)]),
    }
}

/// Audio frame `i` of track `track`: 1024 samples at 48 kHz.
pub(super) fn audio_frame(track: u32, i: usize) -> Frame {
    let data: Vec<u8> = (0..150 + (i * 31) % 300)
        .map(|k| (k * 13 + i) as u8)
        .collect();
    Frame {
        track,
        dts: i as i64 * 1024,
        pts_offset: 0,
        keyframe: true,
        data: Bytes::from(data),
    }
}

/// `video` video frames (track 1) and the audio frames (track 2) of the same
/// time span, interleaved by decode time.
pub(super) fn av_stream(video: usize) -> (Vec<Track>, Vec<Frame>) {
    let tracks = vec![video_track(1), audio_track(2)];
    let audio = video * 3000 * 48 / 90 / 1024;
    let mut timed: Vec<(i64, Frame)> = (0..video)
        .map(|i| (i as i64 * 3000 * 48_000, video_frame(1, i)))
        .chain((0..audio).map(|i| (i as i64 * 1024 * 90_000, audio_frame(2, i))))
        .collect();
    timed.sort_by_key(|(t, f)| (*t, f.track));
    (tracks, timed.into_iter().map(|(_, f)| f).collect())
}

/// Every packet of `ts`, parsed; fails on a bad size or sync byte.
pub(super) fn packets(ts: &[u8]) -> Vec<Packet<'_>> {
    assert_eq!(ts.len() % PACKET_SIZE, 0, "output is whole packets");
    ts.chunks_exact(PACKET_SIZE)
        .map(|p| parse_packet(p.try_into().unwrap()).expect("valid packet"))
        .collect()
}

/// The PES packets on `pid`, reassembled (each from its PUSI packet on).
fn pes_of(ts: &[u8], pid: u16) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for p in packets(ts).into_iter().filter(|p| p.pid == pid) {
        if p.payload_unit_start {
            out.push(Vec::new());
        }
        out.last_mut()
            .expect("PES starts with PUSI")
            .extend_from_slice(p.payload);
    }
    out
}

#[test]
fn output_is_whole_packets_with_sync_bytes() {
    let (tracks, frames) = av_stream(40);
    let ts = mux_segment(&tracks, &frames).unwrap();
    assert!(ts.len() > 100 * PACKET_SIZE);
    assert_eq!(ts.len() % PACKET_SIZE, 0);
    assert!(ts.chunks_exact(PACKET_SIZE).all(|p| p[0] == SYNC_BYTE));
    // PAT then PMT first.
    let all = packets(&ts);
    assert_eq!((all[0].pid, all[1].pid), (PAT_PID, PMT_PID));
}

#[test]
fn continuity_counters_count_per_pid() {
    let (tracks, frames) = av_stream(40);
    let mut muxer = TsMuxer::new(&tracks).unwrap();
    let mut ts = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if i % 10 == 0 {
            muxer.write_tables(&mut ts);
        }
        muxer.write_frame(f, &mut ts).unwrap();
    }
    let mut last: std::collections::HashMap<u16, u8> = Default::default();
    let mut seen = 0;
    for p in packets(&ts) {
        if let Some(prev) = last.insert(p.pid, p.continuity_counter) {
            assert_eq!(p.continuity_counter, (prev + 1) & 0x0F, "pid {:#x}", p.pid);
            assert!(!p.discontinuity, "pid {:#x}", p.pid);
            seen += 1;
        } else {
            assert_eq!(p.continuity_counter, 0, "first packet of pid {:#x}", p.pid);
            assert!(
                p.discontinuity,
                "first packet of pid {:#x} is flagged",
                p.pid
            );
        }
    }
    assert!(seen > 100);
    let pids: std::collections::BTreeSet<u16> = last.keys().copied().collect();
    assert_eq!(pids, [PAT_PID, 0x100, 0x101, PMT_PID].into_iter().collect());

    muxer.reset_continuity();
    let mut again = Vec::new();
    muxer.write_tables(&mut again);
    assert!(packets(&again)
        .iter()
        .all(|p| p.continuity_counter == 0 && p.discontinuity));
}

#[test]
fn crc32_mpeg2_matches_the_standard_check_value() {
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    assert_eq!(crc32_mpeg2(b""), 0xFFFF_FFFF);
}

#[test]
fn pat_and_pmt_describe_the_program_with_valid_crcs() {
    let tracks = [audio_track(7), video_track(3), audio_track(9)];
    let mut muxer = TsMuxer::new(&tracks).unwrap();
    let mut ts = Vec::new();
    muxer.write_tables(&mut ts);
    let all = packets(&ts);
    assert_eq!(all.len(), 2);
    for p in &all {
        assert!(p.payload_unit_start);
        assert_eq!(p.payload[0], 0, "pointer_field");
        let len = 3 + (usize::from(p.payload[2] & 0x0F) << 8 | usize::from(p.payload[3]));
        let section = &p.payload[1..1 + len];
        assert_eq!(crc32_mpeg2(section), 0, "CRC of pid {:#x}", p.pid);
        assert!(p.payload[1 + len..].iter().all(|&b| b == 0xFF), "stuffing");
    }
    let pat = &all[0].payload[1..];
    assert_eq!(
        parse_pat(&pat[..3 + usize::from(pat[2])]).unwrap(),
        Some((1, PMT_PID))
    );
    let pmt = &all[1].payload[1..];
    let pmt = parse_pmt(&pmt[..3 + usize::from(pmt[2])], MAX_STREAMS)
        .unwrap()
        .unwrap();
    assert_eq!(pmt.program, PROGRAM_NUMBER);
    assert_eq!(pmt.pcr_pid, 0x100);
    // The video track first on 0x100, the others in order.
    assert_eq!(
        pmt.streams,
        vec![(0x1B, 0x100), (0x0F, 0x101), (0x0F, 0x102)]
    );
    assert_eq!(
        (muxer.pid_of(3), muxer.pid_of(7), muxer.pid_of(9)),
        (Some(0x100), Some(0x101), Some(0x102))
    );

    // Without video the PCR goes with the first audio track.
    let audio_only = TsMuxer::new(&[audio_track(1)]).unwrap();
    assert_eq!(audio_only.pid_of(1), Some(0x101));
    assert_eq!(audio_only.pcr_pid(), 0x101);
}

#[test]
fn pes_timestamps_are_encoded_with_markers_and_read_back() {
    let mut buf = [0u8; PES_HEADER_MAX];
    let n = write_pes_header(&mut buf, 0xE0, 0, None, None);
    assert_eq!(
        &buf[..n],
        &[0, 0, 1, 0xE0, 0, 0, 0x84, 0x80, 5, 0x21, 0x00, 0x01, 0x00, 0x01]
    );

    let max = (1u64 << 33) - 1;
    let n = write_pes_header(&mut buf, 0xC0, max, Some(0x1_2345_6789), Some(100));
    assert_eq!(n, 19);
    assert_eq!(&buf[9..14], &[0x3F, 0xFF, 0xFF, 0xFF, 0xFF]);
    assert_eq!(u16::from_be_bytes([buf[4], buf[5]]), 100 + 13);
    let h = parse_pes_header(&buf).unwrap();
    assert_eq!(
        (h.stream_id, h.pts, h.dts, h.payload_offset),
        (0xC0, Some(max), Some(0x1_2345_6789), 19)
    );

    // Too long for 16 bits: unbounded.
    let n = write_pes_header(&mut buf, 0xC0, 1, None, Some(70_000));
    assert_eq!((n, buf[4], buf[5]), (14, 0, 0));
}

#[test]
fn frame_timestamps_convert_to_90khz_and_wrap_at_33_bits() {
    let audio = audio_track(2);
    let mut muxer = TsMuxer::new(std::slice::from_ref(&audio)).unwrap();
    let mut ts = Vec::new();
    let mut frame = audio_frame(2, 0);
    frame.dts = 48_000 * 10; // 10 s
    muxer.write_frame(&frame, &mut ts).unwrap();
    frame.dts = -1024; // wraps to just under 2^33
    muxer.write_frame(&frame, &mut ts).unwrap();
    let pes = pes_of(&ts, 0x101);
    let first = parse_pes_header(&pes[0]).unwrap();
    assert_eq!((first.pts, first.dts), (Some(900_000), None));
    let second = parse_pes_header(&pes[1]).unwrap();
    assert_eq!(second.pts, Some((1 << 33) - 1920));
}

#[test]
fn video_pes_has_pts_and_dts_only_when_they_differ() {
    let tracks = [video_track(1)];
    let mut muxer = TsMuxer::new(&tracks).unwrap();
    let mut ts = Vec::new();
    muxer.write_frame(&video_frame(1, 0), &mut ts).unwrap();
    muxer.write_frame(&video_frame(1, 1), &mut ts).unwrap();
    let pes = pes_of(&ts, 0x100);
    let h0 = parse_pes_header(&pes[0]).unwrap();
    assert_eq!((h0.pts, h0.dts), (Some(0), None));
    let h1 = parse_pes_header(&pes[1]).unwrap();
    assert_eq!((h1.pts, h1.dts), (Some(9000), Some(3000)));
    assert_eq!(&pes[0][4..6], &[0, 0], "video PES are unbounded");
}

#[test]
fn pcr_and_random_access_flags_follow_keyframes_and_the_interval() {
    let (tracks, frames) = av_stream(65);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let mut pcrs = Vec::new();
    let mut video_index = 0;
    for p in packets(&ts) {
        if p.pid == 0x101 {
            assert!(p.pcr.is_none(), "no PCR on the audio PID");
            continue;
        }
        if p.pid != 0x100 || !p.payload_unit_start {
            assert!(
                p.pcr.is_none() && !p.random_access,
                "flags only on PES starts"
            );
            continue;
        }
        let frame = frames
            .iter()
            .filter(|f| f.track == 1)
            .nth(video_index)
            .unwrap();
        video_index += 1;
        assert_eq!(p.random_access, frame.keyframe);
        if frame.keyframe {
            assert!(p.pcr.is_some(), "PCR on keyframe {}", frame.dts);
        }
        if let Some(pcr) = p.pcr {
            assert!(pcr as i64 <= frame.dts, "PCR {pcr} after DTS {}", frame.dts);
            assert_eq!(pcr as i64, (frame.dts - PCR_LEAD_90K).max(0));
            pcrs.push(frame.dts);
        }
    }
    assert_eq!(video_index, 65);
    // 30 fps: a PCR every other frame (66.7 ms), always within 100 ms.
    assert!(pcrs.windows(2).all(|w| w[1] - w[0] <= 9000), "{pcrs:?}");
    assert!(pcrs.len() >= 30);
}

#[test]
fn h264_pes_starts_with_a_delimiter_and_parameter_sets_on_keyframes() {
    let tracks = [video_track(1)];
    let mut muxer = TsMuxer::new(&tracks).unwrap();
    let mut ts = Vec::new();
    let key = video_frame(1, 0);
    let delta = video_frame(1, 1);
    // A delimiter already in the frame is not written twice.
    let mut with_aud = delta.clone();
    with_aud.data = length_prefixed(&[vec![0x09, 0x10], nal(0x41, 50, 3)]);
    for f in [&key, &delta, &with_aud] {
        muxer.write_frame(f, &mut ts).unwrap();
    }
    let pes = pes_of(&ts, 0x100);
    let es = |i: usize| {
        let h = parse_pes_header(&pes[i]).unwrap();
        pes[i][h.payload_offset..].to_vec()
    };
    let mut expected = vec![0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1];
    expected.extend_from_slice(SPS);
    expected.extend_from_slice(&[0, 0, 0, 1]);
    expected.extend_from_slice(PPS);
    let mut rest = key.data.to_vec();
    for start in [0, 4 + 12] {
        rest[start..start + 4].copy_from_slice(&[0, 0, 0, 1]);
    }
    expected.extend_from_slice(&rest);
    assert_eq!(es(0), expected);

    let body = es(1);
    assert_eq!(&body[..6], &[0, 0, 0, 1, 0x09, 0xF0]);
    assert_eq!(
        body.len(),
        6 + delta.data.len(),
        "no parameter sets on a delta frame"
    );
    let body = es(2);
    assert_eq!(
        body.len(),
        6 + 4 + 50,
        "the frame's own delimiter was left out"
    );
}

#[test]
fn aac_pes_is_an_adts_frame_with_a_bounded_length() {
    let mut muxer = TsMuxer::new(&[audio_track(2)]).unwrap();
    let mut ts = Vec::new();
    let frame = audio_frame(2, 3);
    muxer.write_frame(&frame, &mut ts).unwrap();
    let pes = pes_of(&ts, 0x101);
    assert_eq!(pes.len(), 1);
    let h = parse_pes_header(&pes[0]).unwrap();
    let es = &pes[0][h.payload_offset..];
    let adts = AdtsHeader::parse(es).unwrap().unwrap();
    assert_eq!(adts.frame_length, 7 + frame.data.len());
    assert_eq!(AudioSpecificConfig::from_adts(&adts), audio_asc());
    assert_eq!(&es[7..], &frame.data[..]);
    let declared = usize::from(u16::from_be_bytes([pes[0][4], pes[0][5]]));
    assert_eq!(
        declared + 6,
        pes[0].len(),
        "PES_packet_length covers the PES exactly"
    );
}

#[test]
fn last_packet_is_filled_with_adaptation_field_stuffing() {
    let mut muxer = TsMuxer::new(&[audio_track(2)]).unwrap();
    for size in [
        0usize, 1, 150, 160, 161, 162, 163, 170, 176, 177, 183, 184, 345, 1000,
    ] {
        let mut frame = audio_frame(2, 0);
        frame.data = Bytes::from(vec![0xAB; size]);
        let mut ts = Vec::new();
        muxer.write_frame(&frame, &mut ts).unwrap();
        let pes = pes_of(&ts, 0x101);
        assert_eq!(pes.len(), 1);
        // 14-byte header, 7-byte ADTS header, the frame: nothing else.
        assert_eq!(pes[0].len(), 14 + 7 + size, "size {size}");
        assert!(ts.len() <= muxer.max_frame_size(&frame), "size {size}");
        // The first packet also holds the PCR (the audio PID is the PCR PID here).
        assert_eq!(packets(&ts)[0].pcr, Some(0));
        assert_eq!(
            ts.len() / PACKET_SIZE,
            (14 + 7 + size + 8).div_ceil(184),
            "size {size}"
        );
    }
}

#[test]
fn max_frame_size_bounds_every_frame() {
    let (tracks, _) = av_stream(0);
    let mut muxer = TsMuxer::new(&tracks).unwrap();
    for (i, size) in (0..3000).step_by(7).enumerate() {
        for keyframe in [false, true] {
            let frame = Frame {
                track: 1,
                dts: i as i64 * 3000,
                pts_offset: 3000,
                keyframe,
                data: length_prefixed(&[nal(0x41, size + 1, 0)]),
            };
            let mut ts = Vec::new();
            muxer.write_frame(&frame, &mut ts).unwrap();
            assert!(ts.len() <= muxer.max_frame_size(&frame), "size {size}");
        }
    }
    let (tracks, frames) = av_stream(70);
    let muxer = TsMuxer::new(&tracks).unwrap();
    let estimate: usize = 2 * PACKET_SIZE
        + frames
            .iter()
            .map(|f| muxer.max_frame_size(f))
            .sum::<usize>();
    let ts = mux_segment(&tracks, &frames).unwrap();
    assert!(ts.len() <= estimate);
    assert!(estimate - ts.len() < estimate / 10, "the estimate is close");
}

#[test]
fn bad_tracks_and_frames_are_refused_without_output() {
    assert!(matches!(TsMuxer::new(&[]), Err(TsError::NoTracks)));
    assert!(matches!(
        TsMuxer::new(&[video_track(1), audio_track(1)]),
        Err(TsError::DuplicateTrack { track: 1 })
    ));
    let many: Vec<Track> = (1..=17).map(audio_track).collect();
    assert!(matches!(
        TsMuxer::new(&many),
        Err(TsError::TooManyTracks { count: 17, .. })
    ));
    let mut broken = video_track(1);
    broken.init = Bytes::from_static(&[1, 2]);
    assert!(matches!(
        TsMuxer::new(&[broken]),
        Err(TsError::Codec { track: 1, .. })
    ));
    let mut he = audio_track(2);
    he.init = AudioSpecificConfig {
        object_type: 5,
        ..audio_asc()
    }
    .to_bytes();
    assert!(matches!(
        TsMuxer::new(&[he]),
        Err(TsError::Codec { track: 2, .. })
    ));
    let mut zero = audio_track(2);
    zero.timescale = 0;
    assert!(matches!(
        TsMuxer::new(&[zero]),
        Err(TsError::ZeroTimescale { track: 2 })
    ));

    let mut muxer = TsMuxer::new(&[video_track(1), audio_track(2)]).unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        muxer.write_frame(&audio_frame(9, 0), &mut out),
        Err(TsError::UnknownTrack { track: 9 })
    ));
    let mut bad = video_frame(1, 1);
    bad.data = Bytes::from_static(&[0, 0, 0, 9, 0x41]);
    assert!(matches!(
        muxer.write_frame(&bad, &mut out),
        Err(TsError::BadFrame { track: 1, .. })
    ));
    let mut huge = audio_frame(2, 0);
    huge.data = Bytes::from(vec![0; 9000]);
    assert!(matches!(
        muxer.write_frame(&huge, &mut out),
        Err(TsError::BadFrame { track: 2, .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn hevc_tracks_get_their_parameter_sets_and_delimiter() {
    // A minimal hvcC: 22 fixed bytes, then VPS, SPS and PPS arrays.
    let mut hvcc = vec![1u8; 21];
    hvcc.push(0x0F); // lengthSizeMinusOne = 3
    hvcc.push(3);
    for (kind, body) in [
        (32u8, [0x40u8, 0x01, 0xAA]),
        (33, [0x42, 0x01, 0xBB]),
        (34, [0x44, 0x01, 0xCC]),
    ] {
        hvcc.extend_from_slice(&[0x80 | kind, 0, 1, 0, 3]);
        hvcc.extend_from_slice(&body);
    }
    let track = Track {
        codec: Codec::H265,
        init: Bytes::from(hvcc),
        codec_string: "hvc1.1.6.L93.B0".into(),
        ..video_track(1)
    };
    let mut muxer = TsMuxer::new(&[track]).unwrap();
    let mut ts = Vec::new();
    muxer.write_tables(&mut ts);
    let frame = Frame {
        track: 1,
        dts: 0,
        pts_offset: 0,
        keyframe: true,
        data: length_prefixed(&[vec![0x46, 0x01, 0x50], vec![0x26, 0x01, 0x77]]),
    };
    muxer.write_frame(&frame, &mut ts).unwrap();
    let pmt = &packets(&ts)[1];
    assert_eq!(pmt.payload[1 + 12], STREAM_TYPE_HEVC);
    let pes = pes_of(&ts, 0x100);
    let h = parse_pes_header(&pes[0]).unwrap();
    assert_eq!(
        &pes[0][h.payload_offset..],
        &[
            0, 0, 0, 1, 0x46, 0x01, 0x50, // delimiter
            0, 0, 0, 1, 0x40, 0x01, 0xAA, // VPS
            0, 0, 0, 1, 0x42, 0x01, 0xBB, // SPS
            0, 0, 0, 1, 0x44, 0x01, 0xCC, // PPS
            0, 0, 0, 1, 0x26, 0x01, 0x77, // the IDR slice (the frame's delimiter dropped)
        ]
    );
}
