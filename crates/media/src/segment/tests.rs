//! Unit tests of the cutting rule, one per rule.

use super::*;

fn video(ms: i64, keyframe: bool) -> FrameInfo {
    FrameInfo {
        ms,
        is_video: true,
        keyframe,
        bytes: 1000,
    }
}

fn audio(ms: i64) -> FrameInfo {
    FrameInfo {
        ms,
        is_video: false,
        keyframe: true,
        bytes: 100,
    }
}

/// Feeds frames; returns (ms, cut) of every frame that started a segment.
fn cuts(segmenter: &mut Segmenter, frames: impl IntoIterator<Item = FrameInfo>) -> Vec<(i64, Cut)> {
    frames
        .into_iter()
        .filter_map(|f| segmenter.push(f).map(|c| (f.ms, c)))
        .collect()
}

/// 25 fps video, a keyframe every `gop` frames, frames `range`.
fn gops(range: std::ops::Range<i64>, gop: i64) -> impl Iterator<Item = FrameInfo> {
    range.map(move |i| video(i * 40, i % gop == 0))
}

#[test]
fn keyframes_cut_once_the_segment_reached_the_target() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    // 1 s GOPs are merged into 2 s segments.
    let got = cuts(&mut s, gops(0..250, 25));
    assert_eq!(got[0], (0, Cut::First));
    assert!(got[1..].iter().all(|&(_, c)| c == Cut::Keyframe));
    let starts: Vec<i64> = got.iter().map(|&(ms, _)| ms).collect();
    assert_eq!(starts, vec![0, 2000, 4000, 6000, 8000]);
    assert!(!s.is_keyframeless());
}

#[test]
fn a_video_stream_starts_at_its_first_keyframe() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let got = cuts(&mut s, (0..30).map(|i| video(i * 40, i == 10)));
    assert_eq!(got, vec![(400, Cut::First)]);
}

#[test]
fn audio_only_streams_cut_every_two_seconds() {
    let mut s = Segmenter::new(SegmentLimits::default(), false);
    let got = cuts(&mut s, (0..300).map(|i| audio(i * 21)));
    assert_eq!(got[0].1, Cut::First);
    for pair in got.windows(2) {
        assert_eq!(pair[1].1, Cut::AudioOnly);
        let length = pair[1].0 - pair[0].0;
        assert!((2000..2021).contains(&length), "{length}");
    }
}

#[test]
fn without_keyframes_cuts_are_forced_after_the_maximum_then_every_two_seconds() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    // One keyframe, then 60 s of inter frames (intra refresh or keyint=infinite).
    let got = cuts(&mut s, (0..1500).map(|i| video(i * 40, i == 0)));
    assert_eq!(got[0], (0, Cut::First));
    assert_eq!(got[1], (FORCED_CUT_AFTER_MS, Cut::Forced));
    assert!(s.is_keyframeless());
    for pair in got[1..].windows(2) {
        assert_eq!(pair[1].1, Cut::Forced);
        assert_eq!(pair[1].0 - pair[0].0, FORCED_CUT_EVERY_MS);
    }
    // A keyframe ends forced cutting: it cuts (the segment is long enough) and
    // the next segments are whole GOPs again.
    let more = cuts(&mut s, gops(1500..1800, 50));
    assert_eq!(more[0], (1500 * 40, Cut::Keyframe));
    assert!(!s.is_keyframeless());
    assert!(more.iter().all(|&(_, c)| c == Cut::Keyframe), "{more:?}");
}

#[test]
fn long_gops_under_the_maximum_are_never_forced() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    // x264's default keyint 250 at 25 fps: 10 s GOPs.
    let got = cuts(&mut s, gops(0..2500, 250));
    assert!(got
        .iter()
        .all(|&(_, c)| c == Cut::First || c == Cut::Keyframe));
    assert_eq!(got.len(), 10);
}

#[test]
fn video_that_stops_lets_audio_frames_be_cut_by_force() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let mut frames = vec![video(0, true)];
    frames.extend((1..2000).map(|i| audio(i * 21)));
    let got = cuts(&mut s, frames);
    assert_eq!(got[0], (0, Cut::First));
    assert!(got.len() > 5, "{got:?}");
    assert!(got[1..].iter().all(|&(_, c)| c == Cut::Forced));
    assert!(got[1].0 >= FORCED_CUT_AFTER_MS);
}

#[test]
fn declared_video_that_never_comes_still_opens_segments() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let got = cuts(&mut s, (0..2000).map(|i| audio(i * 21)));
    assert!(!got.is_empty());
    assert_eq!(got[0].1, Cut::Forced);
}

#[test]
fn giant_frames_cut_by_bytes() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let frames = (0..100).map(|i| FrameInfo {
        bytes: 4 * 1024 * 1024,
        ..video(i * 40, i == 0)
    });
    let got = cuts(&mut s, frames);
    // 16 MiB = four frames a segment.
    assert_eq!(got.len(), 25);
    assert!(got[1..].iter().all(|&(_, c)| c == Cut::Bytes));
}

#[test]
fn a_forward_jump_cuts_at_the_next_keyframe_and_keeps_lengths_sane() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let hours = 5 * 3600 * 1000;
    let mut frames: Vec<FrameInfo> = gops(0..60, 25).collect();
    // Jump by hours mid-GOP; the next keyframe comes 0.4 s later.
    frames.extend((60..200).map(|i| video(hours + i * 40, i % 25 == 10)));
    let got = cuts(&mut s, frames);
    assert_eq!(s.jumps(), 1);
    let jump_cut = got.iter().find(|&&(ms, _)| ms > hours).copied();
    assert_eq!(jump_cut, Some((hours + 60 * 40, Cut::Discontinuity)));
    // After it, whole GOPs again, at the target length.
    let after: Vec<_> = got
        .iter()
        .filter(|&&(ms, _)| ms > hours + 60 * 40)
        .collect();
    assert!(after.iter().all(|&&(_, c)| c == Cut::Keyframe), "{after:?}");
}

#[test]
fn a_backward_jump_does_not_stop_cutting() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let mut frames: Vec<FrameInfo> = (0..100)
        .map(|i| video(9_000_000 + i * 40, i % 25 == 0))
        .collect();
    frames.extend(gops(0..300, 25));
    let got = cuts(&mut s, frames);
    let after: Vec<_> = got.iter().filter(|&&(ms, _)| ms < 9_000_000).collect();
    assert_eq!(after[0].1, Cut::Discontinuity);
    assert!(after.len() >= 5, "{after:?}");
}

#[test]
fn a_jump_without_keyframes_is_still_cut_by_force() {
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let mut frames = vec![video(0, true)];
    frames.extend((1..100).map(|i| video(i * 40, false)));
    frames.extend((0..1000).map(|i| video(-50_000_000 + i * 40, false)));
    let got = cuts(&mut s, frames);
    assert!(got.len() >= 3, "{got:?}");
    assert!(got[1..].iter().all(|&(_, c)| c == Cut::Forced));
}

#[test]
fn an_opened_segmenter_keeps_the_first_segment_from_its_start() {
    let mut s = Segmenter::new(SegmentLimits::default(), true).opened_at(0);
    let got = cuts(&mut s, gops(0..100, 25));
    assert_eq!(got.first(), Some(&(2000, Cut::Keyframe)));
}

#[test]
fn byte_cuts_do_not_delay_forced_cuts() {
    // 12 Mbit/s without keyframes: the byte cap cuts first, yet from 12 s on the
    // cuts come every 2 s.
    let mut s = Segmenter::new(SegmentLimits::default(), true);
    let frames = (0..1500).map(|i| FrameInfo {
        bytes: 60_000,
        ..video(i * 40, i == 0)
    });
    let got = cuts(&mut s, frames);
    assert!(got.iter().any(|&(_, c)| c == Cut::Bytes));
    let late: Vec<_> = got.iter().filter(|&&(ms, _)| ms > 14_000).collect();
    assert!(late.iter().all(|&&(_, c)| c == Cut::Forced), "{late:?}");
    for pair in late.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, FORCED_CUT_EVERY_MS);
    }
    assert!(s.is_keyframeless());
}
