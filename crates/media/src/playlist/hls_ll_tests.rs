//! Unit tests of the Low-Latency HLS renderer ([`super::hls_ll`]).

use super::hls::{MediaPlaylist, MediaSegment, PlaylistType, SegmentUri};
use super::hls_ll::{low_latency_playlist, LowLatency, PartialSegment, RenditionReport};
use super::PlaylistError;

fn segment(number: u64) -> MediaSegment<'static> {
    MediaSegment::new(
        SegmentUri::Numbered {
            prefix: "1/",
            number,
            suffix: ".m4s",
        },
        2000,
    )
}

fn playlist<'a>(segments: &'a [MediaSegment<'a>], first: u64) -> MediaPlaylist<'a> {
    MediaPlaylist {
        min_version: 7,
        min_target_duration_secs: 2,
        media_sequence: first,
        discontinuity_sequence: 0,
        playlist_type: PlaylistType::Live,
        ended: false,
        independent_segments: true,
        map_uri: Some("1/init.mp4"),
        segments,
    }
}

fn part(sequence: u64, part: u32, independent: bool) -> PartialSegment {
    PartialSegment {
        sequence,
        part,
        duration_ms: 500,
        independent,
        gap: false,
    }
}

fn ll<'a>(parts: &'a [PartialSegment], reports: &'a [RenditionReport<'a>]) -> LowLatency<'a> {
    LowLatency {
        part_target_ms: 500,
        part_prefix: "1/",
        part_suffix: ".m4s",
        parts,
        preload_hint: Some((12, 2)),
        rendition_reports: reports,
        can_block_reload: true,
        skip: false,
    }
}

#[test]
fn parts_hint_and_reports() {
    let segments = [segment(10), segment(11)];
    let parts = [
        part(11, 0, true),
        part(11, 1, false),
        part(11, 2, false),
        part(11, 3, false),
        part(12, 0, true),
        PartialSegment {
            gap: true,
            ..part(12, 1, false)
        },
    ];
    let reports = [RenditionReport {
        uri: "2.m3u8",
        last_msn: 12,
        last_part: Some(1),
    }];
    let text = low_latency_playlist(&playlist(&segments, 10), &ll(&parts, &reports)).unwrap();
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n\
         #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.000,PART-HOLD-BACK=1.500\n\
         #EXT-X-PART-INF:PART-TARGET=0.500\n\
         #EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"1/init.mp4\"\n\
         #EXTINF:2.000,\n1/10.m4s\n\
         #EXT-X-PART:DURATION=0.500,URI=\"1/11.0.m4s\",INDEPENDENT=YES\n\
         #EXT-X-PART:DURATION=0.500,URI=\"1/11.1.m4s\"\n\
         #EXT-X-PART:DURATION=0.500,URI=\"1/11.2.m4s\"\n\
         #EXT-X-PART:DURATION=0.500,URI=\"1/11.3.m4s\"\n\
         #EXTINF:2.000,\n1/11.m4s\n\
         #EXT-X-PART:DURATION=0.500,URI=\"1/12.0.m4s\",INDEPENDENT=YES\n\
         #EXT-X-PART:DURATION=0.500,URI=\"1/12.1.m4s\",GAP=YES\n\
         #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"1/12.2.m4s\"\n\
         #EXT-X-RENDITION-REPORT:URI=\"2.m3u8\",LAST-MSN=12,LAST-PART=1\n"
    );
}

#[test]
fn delta_update_skips_what_ends_before_the_skip_boundary() {
    // 20 segments of 2 s; CAN-SKIP-UNTIL is 12 s.
    let segments: Vec<MediaSegment<'_>> = (100..120).map(segment).collect();
    let parts = [part(120, 0, true), part(120, 1, false)];
    let full = low_latency_playlist(&playlist(&segments, 100), &ll(&parts, &[])).unwrap();
    let delta = low_latency_playlist(
        &playlist(&segments, 100),
        &LowLatency {
            skip: true,
            ..ll(&parts, &[])
        },
    )
    .unwrap();
    assert!(!full.contains("EXT-X-SKIP"));
    assert!(delta.len() < full.len());
    assert!(delta.contains("#EXT-X-VERSION:9\n"), "{delta}");
    // 1 s of parts plus segments 114..=119 (12 s) stay: 114 ends 11 s before
    // the end, so 113 (ending 13 s before) is the last one skipped.
    assert!(
        delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=14\n"),
        "{delta}"
    );
    assert!(!delta.contains("1/113.m4s"));
    assert!(delta.contains("1/114.m4s"));
    assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:100\n"));
    // Nothing to skip in a short playlist.
    let short = low_latency_playlist(
        &playlist(&segments[..5], 100),
        &LowLatency {
            skip: true,
            ..ll(&parts, &[])
        },
    )
    .unwrap();
    assert!(!short.contains("EXT-X-SKIP"));
    assert!(short.contains("#EXT-X-VERSION:7\n"));
}

#[test]
fn bad_values_are_errors() {
    let segments = [segment(1)];
    let parts = [part(2, 1, false), part(2, 0, true)];
    assert_eq!(
        low_latency_playlist(&playlist(&segments, 1), &ll(&parts, &[])),
        Err(PlaylistError::PartOutOfOrder {
            sequence: 2,
            part: 0
        })
    );
    let zero = LowLatency {
        part_target_ms: 0,
        ..ll(&[], &[])
    };
    assert_eq!(
        low_latency_playlist(&playlist(&segments, 1), &zero),
        Err(PlaylistError::ZeroPartTarget)
    );
    let quoted = [RenditionReport {
        uri: "a\"b",
        last_msn: 1,
        last_part: None,
    }];
    assert!(matches!(
        low_latency_playlist(&playlist(&segments, 1), &ll(&[], &quoted)),
        Err(PlaylistError::BadChar { .. })
    ));
}
