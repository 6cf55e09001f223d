//! Unit tests of the TS demuxer and file index: mux → demux round trips (bytes and
//! timestamps), byte-by-byte feeding, sync recovery after garbage, truncation,
//! continuity errors, several ADTS frames per PES, 33-bit wrap, refusing non-TS
//! input, and re-reading frames from a file.

use bytes::Bytes;

use super::demux::rescale_round;
use super::mux_tests::{
    audio_frame, audio_track, av_stream, length_prefixed, nal, video_frame, video_track,
};
use super::packet::PacketSplitter;
use super::pes::{write_pes_header, PES_HEADER_MAX};
use super::psi::{write_pat, write_pmt};
use super::*;
use crate::codec::aac::AdtsHeader;
use crate::{Frame, Track};

/// Feeds all of `data` (in pieces of `piece` bytes), then finishes.
fn demux(data: &[u8], piece: usize) -> (Vec<Track>, Vec<Frame>) {
    let mut d = TsDemuxer::new();
    let (mut tracks, mut frames) = (Vec::new(), Vec::new());
    let mut drain = |d: &mut TsDemuxer| {
        while let Some(event) = d.poll() {
            match event {
                TsEvent::Track(t) => tracks.push(t),
                TsEvent::Frame(f) => frames.push(f),
            }
        }
    };
    for chunk in data.chunks(piece.max(1)) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let used = d.push(rest);
            rest = &rest[used..];
            drain(&mut d);
        }
    }
    d.finish();
    drain(&mut d);
    assert_eq!(d.tracks(), &tracks[..]);
    (tracks, frames)
}

/// Index of the second packet of the PES of video frame `n` (PID 0x100).
fn second_packet_of_video_pes(ts: &[u8], n: usize) -> usize {
    let mut starts = 0;
    let mut found = false;
    for (i, p) in ts.chunks(PACKET_SIZE).enumerate() {
        let pid = u16::from(p[1] & 0x1F) << 8 | u16::from(p[2]);
        if pid != 0x100 {
            continue;
        }
        if found {
            assert_eq!(p[1] & 0x40, 0, "a continuation packet");
            return i;
        }
        if p[1] & 0x40 != 0 {
            starts += 1;
            found = starts == n + 1;
        }
    }
    panic!("no frame {n}");
}

fn frames_of(frames: &[Frame], track: u32) -> Vec<&Frame> {
    frames.iter().filter(|f| f.track == track).collect()
}

#[test]
fn mux_then_demux_keeps_tracks_bytes_and_timestamps() {
    let (tracks, frames) = av_stream(75);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let (mut found, got) = demux(&ts, ts.len());
    assert_eq!(found.len(), 2);
    found.sort_by_key(|t| t.id);
    let video = &found[0];
    assert_eq!((video.id, video.timescale), (1, 90_000));
    assert_eq!(
        video.init, tracks[0].init,
        "avcC rebuilt from the in-band SPS/PPS"
    );
    assert_eq!(video.codec_string, tracks[0].codec_string);
    assert_eq!(video.video, tracks[0].video);
    let audio = &found[1];
    assert_eq!(audio.id, 2);
    assert_eq!((audio.timescale, &audio.init), (48_000, &tracks[1].init));
    assert_eq!(audio.audio, tracks[1].audio);
    // Every frame back, in order, byte for byte, with its timing.
    for id in [1, 2] {
        let want = frames_of(&frames, id);
        let have = frames_of(&got, id);
        assert_eq!(have.len(), want.len(), "track {id}");
        for (w, h) in want.iter().zip(&have) {
            assert_eq!(h, w, "track {id} frame at {}", w.dts);
        }
    }
}

#[test]
fn byte_by_byte_feeding_gives_the_same_result() {
    let (tracks, frames) = av_stream(35);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let whole = demux(&ts, ts.len());
    for piece in [1, 7, 187, 188, 189, 1000] {
        assert_eq!(demux(&ts, piece), whole, "pieces of {piece}");
    }
}

#[test]
fn push_stops_at_the_high_water_mark() {
    let tracks = [audio_track(1)];
    let frames: Vec<Frame> = (0..EVENT_HIGH_WATER + 300)
        .map(|i| audio_frame(1, i))
        .collect();
    let ts = mux_segment(&tracks, &frames).unwrap();
    let mut d = TsDemuxer::new();
    let used = d.push(&ts);
    assert!(used < ts.len());
    let mut queued = 0;
    while d.poll().is_some() {
        queued += 1;
    }
    assert!((EVENT_HIGH_WATER..EVENT_HIGH_WATER + 3).contains(&queued));
    assert_eq!(d.push(&ts[used..]), ts.len() - used);
    d.finish();
    let mut rest = 0;
    while d.poll().is_some() {
        rest += 1;
    }
    assert_eq!(queued + rest, frames.len() + 1);
}

#[test]
fn garbage_before_and_between_packets_is_skipped() {
    let (tracks, frames) = av_stream(35);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let clean = demux(&ts, ts.len());
    // Junk (with stray sync bytes) at the start and between two packets.
    let mut dirty = vec![0x47, 1, 2, 0x47, 0x47, 9];
    let cut = 40 * PACKET_SIZE;
    dirty.extend_from_slice(&ts[..cut]);
    dirty.extend_from_slice(&[0x00, 0x47, 0x11, 0x47, 0x22]);
    dirty.extend_from_slice(&ts[cut..]);
    for piece in [dirty.len(), 100, 1] {
        let (tracks, frames) = demux(&dirty, piece);
        assert_eq!(tracks, clean.0, "pieces of {piece}");
        assert_eq!(frames.len(), clean.1.len(), "pieces of {piece}");
        assert!(frames == clean.1, "pieces of {piece}: frames differ");
    }
    // Junk that looks like a packet header (on the video PID) where the next
    // packet belongs passes for a packet: it breaks the video PES in progress
    // and hides the real packet it covers. Those frames go, nothing else.
    let mut fake = ts[..cut].to_vec();
    fake.extend_from_slice(&[0x47, 0x01, 0x00, 0x10]);
    fake.extend_from_slice(&ts[cut..]);
    let (_, frames) = demux(&fake, 100);
    assert!((clean.1.len() - 2..clean.1.len()).contains(&frames.len()));
    assert!(frames.iter().all(|f| clean.1.contains(f)));
}

#[test]
fn a_lost_packet_drops_only_its_frame() {
    let (tracks, frames) = av_stream(35);
    let ts = mux_segment(&tracks, &frames).unwrap();
    // The second packet of the second keyframe's PES (frame 30); the first
    // keyframe must stay whole, it brings the SPS and PPS.
    let victim = second_packet_of_video_pes(&ts, 30);
    let mut damaged = ts[..victim * PACKET_SIZE].to_vec();
    damaged.extend_from_slice(&ts[(victim + 1) * PACKET_SIZE..]);
    let (found, got) = demux(&damaged, damaged.len());
    assert_eq!(found.len(), 2);
    let video = frames_of(&got, 1);
    let all_video = frames_of(&frames, 1);
    assert_eq!(video.len(), 34, "the broken keyframe is dropped");
    assert_eq!(&video[..30], &all_video[..30]);
    assert_eq!(&video[30..], &all_video[31..]);
    assert_eq!(frames_of(&got, 2), frames_of(&frames, 2));

    // A damaged packet (transport_error_indicator) does the same.
    let mut flagged = ts.to_vec();
    flagged[victim * PACKET_SIZE + 1] |= 0x80;
    assert_eq!(frames_of(&demux(&flagged, flagged.len()).1, 1).len(), 34);

    // A repeated packet is ignored.
    let mut doubled = ts[..(victim + 1) * PACKET_SIZE].to_vec();
    doubled.extend_from_slice(&ts[victim * PACKET_SIZE..]);
    assert_eq!(demux(&doubled, doubled.len()), demux(&ts, ts.len()));
}

#[test]
fn truncated_input_keeps_what_came_before() {
    let (tracks, frames) = av_stream(35);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let (_, all) = demux(&ts, ts.len());
    for cut in [
        0,
        1,
        187,
        188,
        2 * PACKET_SIZE + 5,
        ts.len() / 2,
        ts.len() - 1,
    ] {
        let (_, got) = demux(&ts[..cut], 64);
        assert!(got.len() <= all.len());
        // Everything but possibly the last frame of each track is intact.
        for id in [1, 2] {
            let have = frames_of(&got, id);
            let want = frames_of(&all, id);
            if have.len() > 1 {
                assert_eq!(&have[..have.len() - 1], &want[..have.len() - 1]);
            }
        }
    }
}

#[test]
fn frames_before_the_parameter_sets_are_dropped() {
    let tracks = [video_track(1)];
    let mut muxer = TsMuxer::new(&tracks).unwrap();
    let mut ts = Vec::new();
    muxer.write_tables(&mut ts);
    for i in 25..65 {
        muxer.write_frame(&video_frame(1, i), &mut ts).unwrap();
    }
    let (found, got) = demux(&ts, ts.len());
    assert_eq!(found.len(), 1);
    assert_eq!(got.len(), 35, "frames 25..30 come before the first SPS/PPS");
    assert!(got[0].keyframe);
    assert_eq!(got[0].dts, 30 * 3000);
}

#[test]
fn in_band_parameter_sets_that_differ_from_the_config_stay() {
    let tracks = [video_track(1)];
    let mut frame = video_frame(1, 0);
    let other_pps = vec![0x68, 0xAB, 0xCD];
    let nals = vec![other_pps, nal(0x65, 500, 1)];
    frame.data = length_prefixed(&nals);
    let ts = mux_segment(&tracks, &[frame]).unwrap();
    let (_, got) = demux(&ts, ts.len());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data, length_prefixed(&nals));
}

/// Packets for one PES on `pid` (stuffing in the last), continuity from `cc`.
fn packetize(pid: u16, cc: &mut u8, pes: &[u8], out: &mut Vec<u8>) {
    for (i, chunk) in pes.chunks(184).enumerate() {
        let start = if i == 0 { 0x40 } else { 0 };
        let stuffing = 184 - chunk.len();
        let control = if stuffing > 0 { 0x30 } else { 0x10 };
        out.extend_from_slice(&[0x47, start | (pid >> 8) as u8, pid as u8, control | *cc]);
        *cc = (*cc + 1) & 0x0F;
        if stuffing > 0 {
            out.push(stuffing as u8 - 1);
            if stuffing > 1 {
                out.push(0);
                out.resize(out.len() + stuffing - 2, 0xFF);
            }
        }
        out.extend_from_slice(chunk);
    }
}

/// A PES with `count` ADTS frames (of growing sizes) and the given PTS.
fn adts_pes(pts: Option<u64>, count: usize, seed: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut es = Vec::new();
    let mut raws = Vec::new();
    for n in 0..count {
        let raw: Vec<u8> = (0..100 + n * 40).map(|k| (k + n + seed) as u8).collect();
        AdtsHeader::write(&super::mux_tests::audio_asc(), raw.len(), &mut es).unwrap();
        es.extend_from_slice(&raw);
        raws.push(raw);
    }
    let mut header = [0u8; PES_HEADER_MAX];
    let mut pes = Vec::new();
    match pts {
        Some(pts) => {
            let n = write_pes_header(&mut header, 0xC0, pts, None, Some(es.len()));
            pes.extend_from_slice(&header[..n]);
        }
        None => {
            let len = (3 + es.len()) as u16;
            pes.extend_from_slice(&[0, 0, 1, 0xC0, (len >> 8) as u8, len as u8, 0x80, 0x00, 0x00]);
        }
    }
    pes.extend_from_slice(&es);
    (pes, raws)
}

/// PAT and a PMT listing `streams`.
fn tables(streams: &[(u8, u16)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_pat(&mut out, (0, false), PMT_PID);
    write_pmt(
        &mut out,
        (0, false),
        PMT_PID,
        streams.first().map_or(0x100, |s| s.1),
        streams,
    );
    out
}

#[test]
fn several_adts_frames_in_one_pes_become_several_frames() {
    let mut ts = tables(&[(0x0F, 0x101)]);
    let mut cc = 0;
    let (pes1, raws1) = adts_pes(Some(126_000), 3, 0);
    let (pes2, raws2) = adts_pes(None, 2, 5); // no PTS: continues from the last
    let (pes3, raws3) = adts_pes(Some(126_000 + 5 * 1920), 4, 9);
    for pes in [&pes1, &pes2, &pes3] {
        packetize(0x101, &mut cc, pes, &mut ts);
    }
    let (found, got) = demux(&ts, ts.len());
    assert_eq!(found[0].timescale, 48_000);
    let raws: Vec<&Vec<u8>> = raws1.iter().chain(&raws2).chain(&raws3).collect();
    assert_eq!(got.len(), raws.len());
    for (i, (frame, raw)) in got.iter().zip(&raws).enumerate() {
        assert_eq!(&frame.data[..], &raw[..]);
        assert_eq!(frame.dts, 67_200 + 1024 * i as i64, "frame {i}");
        assert!(frame.keyframe);
    }

    // The file index finds the same frames and re-reads each from its PES.
    let file = TsFile::open(&ts).unwrap();
    let track = file.track(1).unwrap();
    assert_eq!(track.samples.len(), raws.len());
    for (i, sample) in track.samples.iter().enumerate() {
        let frame = file.read_frame(&ts, 1, i).unwrap();
        assert_eq!(frame, got[i]);
        assert_eq!(sample.size as usize, raws[i].len());
        assert_eq!(sample.duration, 1024);
        assert_eq!(sample.offset % PACKET_SIZE as u64, 0);
    }
    assert_eq!(track.samples[1].offset, track.samples[0].offset, "same PES");
}

#[test]
fn timestamps_unwrap_across_the_33_bit_boundary() {
    let mut ts = tables(&[(0x0F, 0x101)]);
    let mut cc = 0;
    let start = (1u64 << 33) - 2 * 1920;
    for n in 0..4u64 {
        let pts = (start + n * 1920) & ((1 << 33) - 1);
        packetize(
            0x101,
            &mut cc,
            &adts_pes(Some(pts), 1, n as usize).0,
            &mut ts,
        );
    }
    let (_, got) = demux(&ts, ts.len());
    let dts: Vec<i64> = got.iter().map(|f| f.dts).collect();
    let first = rescale_round(start as i64, 48_000);
    assert_eq!(dts, vec![first, first + 1024, first + 2048, first + 3072]);
}

#[test]
fn unsupported_streams_are_skipped() {
    let (tracks, frames) = av_stream(10);
    let ts = mux_segment(&tracks, &frames).unwrap();
    // Same packets, but the PMT says the audio PID carries MP3 (stream type 3).
    let mut patched = tables(&[(0x1B, 0x100), (0x03, 0x101)]);
    patched.extend_from_slice(&ts[2 * PACKET_SIZE..]);
    let (found, got) = demux(&patched, patched.len());
    assert_eq!(found.len(), 1);
    assert!(got.iter().all(|f| f.track == 1));

    let only_mp3 = {
        let mut t = tables(&[(0x03, 0x101)]);
        t.extend_from_slice(&ts[2 * PACKET_SIZE..]);
        t
    };
    assert!(matches!(
        TsFile::open(&only_mp3),
        Err(TsError::NoSupportedTracks)
    ));
}

#[test]
fn ts_file_indexes_and_rereads_every_frame() {
    let (tracks, frames) = av_stream(75);
    let ts: Bytes = mux_segment(&tracks, &frames).unwrap();
    let file = TsFile::open(&ts).unwrap();
    assert_eq!(file.file_size(), ts.len() as u64);
    assert_eq!(file.tracks().len(), 2);
    for (indexed, track) in file.tracks().iter().zip(&tracks) {
        assert_eq!(indexed.track.id, track.id);
        assert_eq!(indexed.track.init, track.init);
        let want = frames_of(&frames, track.id);
        assert_eq!(indexed.samples.len(), want.len());
        for (i, (sample, frame)) in indexed.samples.iter().zip(&want).enumerate() {
            assert_eq!(sample.dts, frame.dts);
            assert_eq!(sample.pts_offset, frame.pts_offset);
            assert_eq!(sample.keyframe, frame.keyframe);
            assert_eq!(sample.size as usize, frame.data.len());
            let packet = &ts[sample.offset as usize..][..PACKET_SIZE];
            assert_eq!(packet[1] & 0x40, 0x40, "offset is the PES's first packet");
            let read = file.read_frame(&ts, track.id, i).unwrap();
            assert_eq!(&read, *frame);
        }
        let step = if track.id == 1 { 3000 } else { 1024 };
        assert!(indexed.samples.iter().all(|s| s.duration == step));
    }
    assert!(matches!(
        file.read_frame(&ts, 5, 0),
        Err(TsError::NoSuchTrack { track: 5 })
    ));
    assert!(matches!(
        file.read_frame(&ts, 1, 75),
        Err(TsError::SampleOutOfRange { .. })
    ));
    // A different file in the same place: the frame is not found again.
    let mut changed = ts.to_vec();
    let offset = file.track(1).unwrap().samples[3].offset as usize;
    changed[offset + 1] &= !0x40;
    assert!(matches!(
        file.read_frame(&changed, 1, 3),
        Err(TsError::FrameMoved { .. })
    ));
    assert!(file.read_frame(&ts[..1000], 1, 3).is_err());
}

#[test]
fn ts_file_reads_in_chunks_across_packet_boundaries() {
    // Long enough to span several scan chunks; chunk edges fall inside packets.
    let tracks = [video_track(1)];
    let frames: Vec<Frame> = (0..600)
        .map(|i| {
            let mut f = video_frame(1, i);
            f.data = length_prefixed(&[nal(if i % 30 == 0 { 0x65 } else { 0x41 }, 9000, i as u8)]);
            f
        })
        .collect();
    let ts = mux_segment(&tracks, &frames).unwrap();
    assert!(ts.len() > 3 * SCAN_CHUNK_SIZE);
    let file = TsFile::open(&ts).unwrap();
    let samples = &file.track(1).unwrap().samples;
    assert_eq!(samples.len(), 600);
    for i in [0, 111, 112, 300, 599] {
        assert_eq!(file.read_frame(&ts, 1, i).unwrap(), frames[i]);
    }
    assert_eq!(
        samples[599].duration, 3000,
        "the last lasts as long as the one before"
    );
}

#[test]
fn files_that_are_not_ts_are_refused_with_a_description() {
    let describe = |data: &[u8]| match TsFile::open(data) {
        Err(TsError::NotTs { found }) => found,
        other => panic!("expected NotTs, got {other:?}"),
    };
    assert!(describe(&[0x47; 100]).contains("100 bytes"));
    let mut mp4 = vec![0, 0, 0, 0x20, b'f', b't', b'y', b'p'];
    mp4.resize(2000, 0);
    assert!(describe(&mp4).contains("MP4"), "{}", describe(&mp4));
    let mut flv = b"FLV\x01\x05".to_vec();
    flv.resize(2000, 0);
    assert!(describe(&flv).contains("FLV"));
    let (tracks, frames) = av_stream(5);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let mut m2ts = Vec::new();
    for p in ts.chunks(PACKET_SIZE) {
        m2ts.extend_from_slice(&[0, 0, 0, 0]);
        m2ts.extend_from_slice(p);
    }
    assert!(describe(&m2ts).contains("M2TS"), "{}", describe(&m2ts));
    let junk: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
    assert!(describe(&junk).contains("no 0x47"));

    // A few bytes of junk before real packets are fine.
    let mut shifted = vec![1, 2, 3];
    shifted.extend_from_slice(&ts);
    assert_eq!(TsFile::open(&shifted).unwrap().tracks().len(), 2);
    // Only tables: TS, but nothing to play.
    assert!(matches!(
        TsFile::open(&ts[..2 * PACKET_SIZE]),
        Err(TsError::NoSupportedTracks)
    ));
}

#[test]
fn splitter_reports_stream_offsets() {
    let (tracks, frames) = av_stream(3);
    let ts = mux_segment(&tracks, &frames).unwrap();
    let mut data = vec![0u8; 10];
    data.extend_from_slice(&ts);
    let mut splitter = PacketSplitter::new(1000);
    let mut offsets = Vec::new();
    for chunk in data.chunks(50) {
        let mut used = 0;
        loop {
            let (n, packet) = splitter.next(&chunk[used..]);
            used += n;
            match packet {
                Some((offset, p)) => {
                    assert_eq!(p[0], 0x47);
                    offsets.push(offset);
                }
                None => break,
            }
        }
        assert_eq!(used, chunk.len());
    }
    let expected: Vec<u64> = (0..ts.len() / PACKET_SIZE)
        .map(|k| 1010 + (k * PACKET_SIZE) as u64)
        .collect();
    assert_eq!(offsets, expected);
}
