//! Unit tests of the progressive MP4 layout: sample tables, edit lists, chunk
//! offsets (`stco` / `co64` at the exact boundary), the `mdat` header, range
//! lookups and input checks. Layouts are read back with a small box walker and
//! with the crate's own MP4 demuxer over a source of header bytes then zeros.

use std::io;

use super::*;
use crate::index::Sample;
use crate::mp4::boxes::{Boxes, FourCC};
use crate::mp4::demux::Mp4File;
use crate::{ReadAt, Track};

const CLIP: &[u8] = include_bytes!("../../../../../assets/demo.mp4");

// --- helpers -----------------------------------------------------------

/// The clip's video and audio track descriptions (real avcC and
/// AudioSpecificConfig), timescales 15360 and 48000.
fn clip_tracks() -> (Track, Track) {
    let file = Mp4File::open(CLIP).unwrap();
    let video = file
        .tracks()
        .iter()
        .find(|t| t.track.video.is_some())
        .unwrap();
    let audio = file
        .tracks()
        .iter()
        .find(|t| t.track.audio.is_some())
        .unwrap();
    (video.track.clone(), audio.track.clone())
}

fn sample(dts: i64, pts_offset: i32, duration: u32, size: u32, keyframe: bool) -> Sample {
    Sample {
        offset: 0,
        size,
        dts,
        pts_offset,
        duration,
        keyframe,
    }
}

/// `n` keyframe samples of `size` bytes, `step` ticks apart from `start`.
fn regular(n: usize, start: i64, step: u32, size: u32) -> Vec<Sample> {
    (0..n)
        .map(|i| sample(start + i as i64 * i64::from(step), 0, step, size, true))
        .collect()
}

fn indexed(track: &Track, samples: Vec<Sample>) -> IndexedTrack {
    IndexedTrack {
        track: track.clone(),
        samples,
    }
}

/// The body of the first box of type `kind` among the boxes of `data`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    Boxes::new(data, "test")
        .map_while(Result::ok)
        .find(|(k, _)| *k == FourCC(*kind))
        .map(|(_, body)| body)
}

/// The bodies of every `trak` of the header's `moov`.
fn traks(header: &[u8]) -> Vec<&[u8]> {
    let moov = child(header, b"moov").unwrap();
    Boxes::new(moov, "moov")
        .map_while(Result::ok)
        .filter(|(k, _)| k.0 == *b"trak")
        .map(|(_, body)| body)
        .collect()
}

/// The body of box `path` inside a `trak` body.
fn in_trak<'a>(trak: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    path.iter().try_fold(trak, |body, kind| child(body, kind))
}

fn stbl<'a>(trak: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    in_trak(trak, &[b"mdia", b"minf", b"stbl", kind])
}

fn u32_at(body: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(body[at..at + 4].try_into().unwrap())
}

fn u64_at(body: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(body[at..at + 8].try_into().unwrap())
}

/// The entries of a FullBox table of `width`-byte u32 fields per entry.
fn table(body: &[u8], fields: usize) -> Vec<Vec<u32>> {
    let count = u32_at(body, 4) as usize;
    (0..count)
        .map(|i| {
            (0..fields)
                .map(|f| u32_at(body, 8 + (i * fields + f) * 4))
                .collect()
        })
        .collect()
}

/// The header, then zeros up to `len`: a file with the layout and no media.
struct HeaderThenZeros<'a>(&'a ProgressiveMp4);

impl ReadAt for HeaderThenZeros<'_> {
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset + buf.len() as u64 > self.0.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self
                .0
                .header()
                .get(offset as usize + i)
                .copied()
                .unwrap_or(0);
        }
        Ok(())
    }
}

// --- sample tables -------------------------------------------------------

#[test]
fn regular_all_keyframe_track_gets_minimal_tables() {
    let (video, _) = clip_tracks();
    let mp4 = ProgressiveMp4::new(&[indexed(&video, regular(10, 0, 512, 100))]).unwrap();
    let header = mp4.header();
    let trak = traks(header)[0];
    assert_eq!(table(stbl(trak, b"stts").unwrap(), 2), [vec![10, 512]]);
    assert!(stbl(trak, b"ctts").is_none(), "all offsets 0: no ctts");
    assert!(stbl(trak, b"stss").is_none(), "all keyframes: no stss");
    assert!(
        in_trak(trak, &[b"edts"]).is_none(),
        "starts at 0: no edit list"
    );
    assert_eq!(table(stbl(trak, b"stsc").unwrap(), 3), [vec![1, 10, 1]]);
    let stsz = stbl(trak, b"stsz").unwrap();
    assert_eq!((u32_at(stsz, 4), u32_at(stsz, 8)), (0, 10));
    assert_eq!(u32_at(stsz, 12), 100);
    let stco = stbl(trak, b"stco").unwrap();
    assert_eq!(table(stco, 1), [vec![header.len() as u32]]);
    assert_eq!(mp4.len(), header.len() as u64 + 1000);
    // 10 x 512 ticks at 15360 Hz = 333.3 ms, rounded up.
    assert_eq!(mp4.duration_ms(), 334);
    let mdhd = in_trak(trak, &[b"mdia", b"mdhd"]).unwrap();
    assert_eq!((u32_at(mdhd, 12), u32_at(mdhd, 16)), (15_360, 5120));
    let tkhd = in_trak(trak, &[b"tkhd"]).unwrap();
    assert_eq!(u32_at(tkhd, 20), 334, "tkhd duration");
    assert_eq!((u32_at(tkhd, 76), u32_at(tkhd, 80)), (640 << 16, 360 << 16));
    assert_eq!(mp4.content_type(), "video/mp4");
}

#[test]
fn ctts_is_unsigned_for_positive_offsets_and_signed_for_negative_ones() {
    let (video, _) = clip_tracks();
    let positive: Vec<Sample> = [(0, 1024), (512, 2048), (1024, 0), (1536, 0)]
        .iter()
        .map(|&(dts, off)| sample(dts, off, 512, 10, dts == 0))
        .collect();
    let mp4 = ProgressiveMp4::new(&[indexed(&video, positive)]).unwrap();
    let ctts = stbl(traks(mp4.header())[0], b"ctts").unwrap();
    assert_eq!(ctts[0], 0, "version 0");
    assert_eq!(table(ctts, 2), [vec![1, 1024], vec![1, 2048], vec![2, 0]]);

    let negative: Vec<Sample> = [(0, 0), (512, 1024), (1024, -512), (1536, -512)]
        .iter()
        .map(|&(dts, off)| sample(dts, off, 512, 10, dts == 0))
        .collect();
    let mp4 = ProgressiveMp4::new(&[indexed(&video, negative)]).unwrap();
    let ctts = stbl(traks(mp4.header())[0], b"ctts").unwrap();
    assert_eq!(ctts[0], 1, "version 1");
    let entries = table(ctts, 2);
    assert_eq!(entries[2], [2, (-512i32) as u32]);
}

#[test]
fn stss_lists_keyframes_and_audio_is_always_sync() {
    let (video, audio) = clip_tracks();
    let mut samples = regular(6, 0, 512, 10);
    for (i, s) in samples.iter_mut().enumerate() {
        s.keyframe = i % 3 == 0;
    }
    let mut audio_samples = regular(4, 0, 1024, 10);
    audio_samples[1].keyframe = false;
    let mp4 =
        ProgressiveMp4::new(&[indexed(&video, samples), indexed(&audio, audio_samples)]).unwrap();
    let traks = traks(mp4.header());
    assert_eq!(
        table(stbl(traks[0], b"stss").unwrap(), 1),
        [vec![1], vec![4]]
    );
    assert!(stbl(traks[1], b"stss").is_none());
}

#[test]
fn chunks_follow_decode_order_across_tracks() {
    let (video, audio) = clip_tracks();
    // Video at 0, 1/30, 2/30 s (512 ticks at 15360 Hz); audio at 0 and
    // 1024/48000 s (21.3 ms): order v0 a0 a1 v1 v2.
    let v = regular(3, 0, 512, 100);
    let a = regular(2, 0, 1024, 7);
    let mp4 = ProgressiveMp4::new(&[indexed(&video, v), indexed(&audio, a)]).unwrap();
    let h = mp4.header().len() as u32;
    let traks = traks(mp4.header());
    assert_eq!(
        table(stbl(traks[0], b"stco").unwrap(), 1),
        [vec![h], vec![h + 114]]
    );
    assert_eq!(
        table(stbl(traks[0], b"stsc").unwrap(), 3),
        [vec![1, 1, 1], vec![2, 2, 1]]
    );
    assert_eq!(table(stbl(traks[1], b"stco").unwrap(), 1), [vec![h + 100]]);
    assert_eq!(table(stbl(traks[1], b"stsc").unwrap(), 3), [vec![1, 2, 1]]);
    let order: Vec<(u32, usize)> = mp4
        .pieces(0..mp4.len())
        .filter_map(|p| match p {
            Piece::Sample {
                track_id, index, ..
            } => Some((track_id, index)),
            Piece::Header(_) => None,
        })
        .collect();
    let (vid, aid) = (video.id, audio.id);
    assert_eq!(order, [(vid, 0), (aid, 0), (aid, 1), (vid, 1), (vid, 2)]);
}

// --- timing and edit lists -------------------------------------------------

/// (segment_duration, media_time) of every `elst` entry of a trak.
fn edits(trak: &[u8]) -> Option<Vec<(u64, i64)>> {
    let elst = in_trak(trak, &[b"edts", b"elst"])?;
    let v1 = elst[0] == 1;
    let count = u32_at(elst, 4) as usize;
    let size = if v1 { 20 } else { 12 };
    Some(
        (0..count)
            .map(|i| {
                let at = 8 + i * size;
                if v1 {
                    (u64_at(elst, at), u64_at(elst, at + 8) as i64)
                } else {
                    (
                        u64::from(u32_at(elst, at)),
                        i64::from(u32_at(elst, at + 4) as i32),
                    )
                }
            })
            .collect(),
    )
}

/// The demuxer's view of the layout: per track, (dts, pts) of every sample.
fn read_back(mp4: &ProgressiveMp4) -> Vec<Vec<(i64, i64)>> {
    let file = Mp4File::open(&HeaderThenZeros(mp4)).unwrap();
    file.tracks()
        .iter()
        .map(|t| t.samples.iter().map(|s| (s.dts, s.pts())).collect())
        .collect()
}

fn times(samples: &[Sample]) -> Vec<(i64, i64)> {
    samples.iter().map(|s| (s.dts, s.pts())).collect()
}

#[test]
fn negative_decode_times_become_an_edit_that_starts_at_zero() {
    let (video, audio) = clip_tracks();
    // An MP4 source with B-frames: decoding starts 2 frames before 0.
    let v: Vec<Sample> = [(-1024, 1024), (-512, 2048), (0, 512), (512, 512)]
        .iter()
        .map(|&(dts, off)| sample(dts, off, 512, 10, dts == -1024))
        .collect();
    // AAC with one priming frame before 0.
    let a = regular(5, -1024, 1024, 5);
    let tracks = [indexed(&video, v.clone()), indexed(&audio, a.clone())];
    let mp4 = ProgressiveMp4::new(&tracks).unwrap();
    let traks = traks(mp4.header());
    // Video: composition 1024 (pts 0) shown at 0, for 4 frames = 2048 ticks.
    assert_eq!(edits(traks[0]), Some(vec![(134, 1024)]));
    // Audio: 4 frames after the priming one, 85.3 ms.
    assert_eq!(edits(traks[1]), Some(vec![(86, 1024)]));
    assert_eq!(mp4.duration_ms(), 134);
    // The demuxer, honouring the edit lists, gets the source times back.
    assert_eq!(read_back(&mp4), [times(&v), times(&a)]);
}

#[test]
fn a_track_starting_later_gets_an_empty_edit() {
    let (video, audio) = clip_tracks();
    // Video starts 0.5 s (7680 ticks) after the audio.
    let v = regular(3, 7680, 512, 10);
    let a = regular(30, 0, 1024, 5);
    let mp4 =
        ProgressiveMp4::new(&[indexed(&video, v.clone()), indexed(&audio, a.clone())]).unwrap();
    let traks = traks(mp4.header());
    assert_eq!(edits(traks[0]), Some(vec![(500, -1), (100, 0)]));
    assert_eq!(edits(traks[1]), None);
    assert_eq!(read_back(&mp4), [times(&v), times(&a)]);
    let tkhd = in_trak(traks[0], &[b"tkhd"]).unwrap();
    assert_eq!(u32_at(tkhd, 20), 600, "video ends at 0.6 s");
}

#[test]
fn tracks_that_all_start_late_are_moved_to_zero() {
    let (video, audio) = clip_tracks();
    // An MPEG-TS-like start: everything begins near 10 s; video first.
    let v = regular(30, 153_600, 512, 10);
    let a = regular(40, 480_000 + 4800, 1024, 5); // 10.1 s
    let mp4 = ProgressiveMp4::new(&[indexed(&video, v.clone()), indexed(&audio, a)]).unwrap();
    let traks = traks(mp4.header());
    assert_eq!(edits(traks[0]), None, "the earliest track plays from 0");
    assert_eq!(edits(traks[1]), Some(vec![(100, -1), (854, 0)]));
    let back = read_back(&mp4);
    assert_eq!(back[0][0], (0, 0));
    assert_eq!(back[1][0], (4800, 4800), "audio keeps its 100 ms lag");
}

#[test]
fn an_flv_like_track_with_negative_offsets_has_no_edit() {
    let (mut video, mut audio) = clip_tracks();
    video.timescale = 1000;
    audio.timescale = 1000;
    let v: Vec<Sample> = [(0, 0), (40, 80), (80, -40), (120, -40), (160, 0)]
        .iter()
        .map(|&(dts, off)| sample(dts, off, 40, 10, dts == 0))
        .collect();
    let a: Vec<Sample> = [0, 23, 46, 70, 93]
        .iter()
        .map(|&dts| sample(dts, 0, 23, 6, true))
        .collect();
    let mp4 = ProgressiveMp4::new(&[indexed(&video, v.clone()), indexed(&audio, a)]).unwrap();
    let traks = traks(mp4.header());
    assert_eq!(edits(traks[0]), None);
    assert_eq!(edits(traks[1]), None);
    let pts: Vec<i64> = read_back(&mp4)[0].iter().map(|t| t.1).collect();
    assert_eq!(pts, [0, 120, 40, 80, 160]);
    assert_eq!(mp4.duration_ms(), 200);
}

// --- chunk offsets and the mdat header --------------------------------------

/// Video samples at 0 and 2/30 s with sizes `first` and 1, audio at 1/30 s
/// with size `middle`: the last chunk starts `first + middle` into the payload.
fn three_chunks(first: u32, middle: u32) -> ProgressiveMp4 {
    let (mut video, mut audio) = clip_tracks();
    video.timescale = 30;
    audio.timescale = 30;
    let v = vec![sample(0, 0, 2, first, true), sample(2, 0, 1, 1, true)];
    let a = vec![sample(1, 0, 1, middle, true)];
    ProgressiveMp4::new(&[indexed(&video, v), indexed(&audio, a)]).unwrap()
}

#[test]
fn co64_is_used_exactly_when_a_chunk_offset_needs_64_bits() {
    const MAX: u64 = u32::MAX as u64;
    // Sizes do not change the header's length (the payload stays under 4 GiB,
    // so the mdat header stays 8 bytes): measure it on a small layout.
    let small = three_chunks(1, 1);
    let header = small.header().len() as u64;
    let payload_before_last = MAX - header; // last chunk exactly at 2^32 - 1
    let first = 3_000_000_000u32;
    let middle = (payload_before_last - u64::from(first)) as u32;
    let fits = three_chunks(first, middle);
    assert_eq!(fits.header().len() as u64, header);
    let video = traks(fits.header())[0];
    let stco = stbl(video, b"stco").expect("stco still fits");
    assert_eq!(u32_at(stco, 12), u32::MAX, "last chunk at 2^32 - 1");

    let over = three_chunks(first, middle + 1);
    let traks = traks(over.header());
    assert!(stbl(traks[0], b"stco").is_none());
    let co64 = stbl(traks[0], b"co64").expect("co64 once an offset needs it");
    // Three chunk offsets, now 8 bytes each.
    assert_eq!(over.header().len() as u64, header + 12);
    let h = over.header().len() as u64;
    assert_eq!(
        (u64_at(co64, 8), u64_at(co64, 16)),
        (h, h + MAX + 1 - header)
    );
    assert_eq!(
        u64_at(stbl(traks[1], b"co64").unwrap(), 8),
        h + u64::from(first)
    );
}

#[test]
fn mdat_takes_a_64_bit_size_only_when_needed() {
    let (video, _) = clip_tracks();
    let build = |payload: u64| {
        let half = (payload / 2) as u32;
        let rest = (payload - u64::from(half)) as u32;
        let v = vec![
            sample(0, 0, 512, half, true),
            sample(512, 0, 512, rest, true),
        ];
        ProgressiveMp4::new(&[indexed(&video, v)]).unwrap()
    };
    let limit = u64::from(u32::MAX) - 8;
    let small = build(limit);
    let h = small.header();
    assert_eq!(
        &h[h.len() - 8..],
        [&u32::MAX.to_be_bytes()[..], b"mdat"].concat()
    );
    let large = build(limit + 1);
    let h = large.header();
    assert_eq!(&h[h.len() - 16..h.len() - 8], b"\0\0\0\x01mdat");
    assert_eq!(u64_at(h, h.len() - 8), limit + 1 + 16);
    assert_eq!(large.len(), h.len() as u64 + limit + 1);
}

// --- ranges ------------------------------------------------------------

#[test]
fn pieces_cover_ranges_exactly_and_skip_empty_samples() {
    let (video, _) = clip_tracks();
    let sizes = [5u32, 0, 0, 3, 0, 4, 0];
    let v: Vec<Sample> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| sample(i as i64 * 512, 0, 512, size, true))
        .collect();
    let mp4 = ProgressiveMp4::new(&[indexed(&video, v)]).unwrap();
    let h = mp4.header().len() as u64;
    let hu = h as usize;
    assert_eq!(mp4.len(), h + 12);
    let id = video.id;
    let s = |index: usize, within: std::ops::Range<u32>| Piece::Sample {
        track_id: id,
        index,
        within,
    };
    let pieces = |r: std::ops::Range<u64>| mp4.pieces(r).collect::<Vec<_>>();
    assert_eq!(pieces(0..0), []);
    assert_eq!(pieces(h..h), []);
    let (ten, four) = (10, 4);
    assert_eq!(pieces(ten..four), [], "a reversed range is empty");
    assert_eq!(pieces(0..3), [Piece::Header(0..3)]);
    assert_eq!(pieces(0..h), [Piece::Header(0..hu)]);
    assert_eq!(
        pieces(h - 2..h + 7),
        [Piece::Header(hu - 2..hu), s(0, 0..5), s(3, 0..2)]
    );
    assert_eq!(pieces(h + 5..h + 6), [s(3, 0..1)]);
    assert_eq!(pieces(h + 4..h + 9), [s(0, 4..5), s(3, 0..3), s(5, 0..1)]);
    assert_eq!(pieces(h + 11..h + 12), [s(5, 3..4)], "the last byte");
    assert_eq!(pieces(h + 11..u64::MAX), [s(5, 3..4)], "clipped to the end");
    assert_eq!(pieces(h + 12..h + 20), []);
    assert_eq!(pieces(u64::MAX..u64::MAX), []);
    let all = pieces(0..mp4.len());
    assert_eq!(
        all,
        [Piece::Header(0..hu), s(0, 0..5), s(3, 0..3), s(5, 0..4)]
    );
}

#[test]
fn etag_is_stable_and_follows_the_layout() {
    let (video, _) = clip_tracks();
    let a = ProgressiveMp4::new(&[indexed(&video, regular(5, 0, 512, 10))]).unwrap();
    let b = ProgressiveMp4::new(&[indexed(&video, regular(5, 0, 512, 10))]).unwrap();
    let c = ProgressiveMp4::new(&[indexed(&video, regular(5, 0, 500, 10))]).unwrap();
    assert_eq!(a.etag(), b.etag());
    assert_ne!(a.etag(), c.etag(), "timing changes the validator");
    assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
    assert_ne!(layout_hash(b"abc"), layout_hash(b"abd"));
    assert_ne!(layout_hash(b""), layout_hash(b"\0"));
}

// --- refused input ---------------------------------------------------------

#[test]
fn unusable_input_is_refused_with_an_error() {
    let (video, audio) = clip_tracks();
    let ok = || regular(3, 0, 512, 10);
    let err = |tracks: &[IndexedTrack]| ProgressiveMp4::new(tracks).unwrap_err();

    assert!(matches!(err(&[]), ProgressiveError::NoTracks));
    assert!(matches!(
        err(&[indexed(&video, vec![])]),
        ProgressiveError::NoTracks
    ));

    let mut zero = video.clone();
    zero.id = 0;
    assert!(matches!(
        err(&[indexed(&zero, ok())]),
        ProgressiveError::InvalidTrack { .. }
    ));

    let mut twin = audio.clone();
    twin.id = video.id;
    assert!(matches!(
        err(&[indexed(&video, ok()), indexed(&twin, ok())]),
        ProgressiveError::DuplicateTrack(_)
    ));

    let mut no_clock = video.clone();
    no_clock.timescale = 0;
    assert!(matches!(
        err(&[indexed(&no_clock, ok())]),
        ProgressiveError::InvalidTrack { .. }
    ));

    let mut no_config = video.clone();
    no_config.init = Bytes::new();
    assert!(matches!(
        err(&[indexed(&no_config, ok())]),
        ProgressiveError::InvalidTrack { .. }
    ));

    let mut no_size = video.clone();
    no_size.video = None;
    assert!(matches!(
        err(&[indexed(&no_size, ok())]),
        ProgressiveError::InvalidTrack { .. }
    ));

    let mut backwards = ok();
    backwards[2].dts = 0;
    assert!(matches!(
        err(&[indexed(&video, backwards)]),
        ProgressiveError::DecodeOrder { index: 2, .. }
    ));

    let mut gap = ok();
    gap[2].dts = i64::from(u32::MAX) + 2000;
    assert!(matches!(
        err(&[indexed(&video, gap)]),
        ProgressiveError::TimeGap { index: 2, .. }
    ));

    let mut extreme = ok();
    extreme[0].dts = i64::MIN;
    assert!(matches!(
        err(&[indexed(&video, extreme)]),
        ProgressiveError::TimeGap { .. }
    ));

    let many: Vec<IndexedTrack> = (1..=MAX_TRACKS as u32 + 1)
        .map(|id| {
            let mut t = audio.clone();
            t.id = id;
            indexed(&t, ok())
        })
        .collect();
    assert!(matches!(err(&many), ProgressiveError::TooLarge { .. }));

    let message = err(&[indexed(&video, vec![]), indexed(&audio, vec![])]).to_string();
    assert_eq!(message, "there is no track with samples to write");
}

#[test]
fn extreme_times_and_offsets_do_not_panic() {
    let (video, audio) = clip_tracks();
    let v = vec![
        sample(i64::MAX - 10, i32::MIN, u32::MAX, 1, true),
        sample(i64::MAX - 5, i32::MAX, u32::MAX, 1, false),
    ];
    let a = vec![sample(-(1 << 40), i32::MIN, u32::MAX, 1, true)];
    let mp4 = ProgressiveMp4::new(&[indexed(&video, v), indexed(&audio, a)]).unwrap();
    assert_eq!(mp4.pieces(0..mp4.len()).count(), 4, "header and 3 samples");
    let _ = (mp4.duration_ms(), mp4.etag(), format!("{mp4:?}"));
}

#[test]
fn ranges_starting_anywhere_match_a_walk_from_the_start() {
    // Enough samples for several lookup blocks, with empty samples among them.
    let (video, audio) = clip_tracks();
    let v: Vec<Sample> = (0..700)
        .map(|i| sample(i * 512, 0, 512, (i % 7) as u32 * 3, i % 25 == 0))
        .collect();
    let a: Vec<Sample> = (0..500)
        .map(|i| sample(i * 1024, 0, 1024, (i % 5) as u32, true))
        .collect();
    let mp4 = ProgressiveMp4::new(&[indexed(&video, v), indexed(&audio, a)]).unwrap();
    assert_eq!(mp4.sample_count(), 1200);
    let h = mp4.header().len() as u64;
    // Every payload byte, as (track, sample index, byte within the sample).
    let mut bytes = Vec::new();
    for piece in mp4.pieces(0..mp4.len()) {
        if let Piece::Sample {
            track_id,
            index,
            within,
        } = piece
        {
            bytes.extend(within.map(|b| (track_id, index, b)));
        }
    }
    assert_eq!(h + bytes.len() as u64, mp4.len());
    for start in (0..bytes.len()).step_by(3) {
        let end = (start + 17).min(bytes.len());
        let got: Vec<(u32, usize, u32)> = mp4
            .pieces(h + start as u64..h + end as u64)
            .flat_map(|piece| match piece {
                Piece::Sample {
                    track_id,
                    index,
                    within,
                } => within.map(|b| (track_id, index, b)).collect::<Vec<_>>(),
                Piece::Header(_) => panic!("a header piece in the payload"),
            })
            .collect();
        assert_eq!(got, bytes[start..end], "bytes {start}..{end}");
    }
}
