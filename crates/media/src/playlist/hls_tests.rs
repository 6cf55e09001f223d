//! Unit tests of the HLS renderers ([`super::hls`]).

use super::hls::{
    master_playlist, media_playlist, AudioRendition, MasterPlaylist, MediaPlaylist, MediaSegment,
    PlaylistType, SegmentUri, Variant,
};
use super::{FrameRate, PlaylistError, MAX_SEGMENTS, MAX_TEXT_LEN};

fn numbered(number: u64, duration_ms: u64) -> MediaSegment<'static> {
    MediaSegment::new(
        SegmentUri::Numbered {
            prefix: "v/",
            number,
            suffix: ".ts",
        },
        duration_ms,
    )
}

fn playlist<'a>(segments: &'a [MediaSegment<'a>]) -> MediaPlaylist<'a> {
    MediaPlaylist {
        min_version: 3,
        min_target_duration_secs: 0,
        media_sequence: 0,
        discontinuity_sequence: 0,
        playlist_type: PlaylistType::Live,
        ended: false,
        independent_segments: false,
        map_uri: None,
        segments,
    }
}

#[test]
fn live_sliding_window() {
    let segments = [
        numbered(120, 2000),
        numbered(121, 2000),
        numbered(122, 1968),
    ];
    let text = media_playlist(&MediaPlaylist {
        media_sequence: 120,
        min_target_duration_secs: 2,
        independent_segments: true,
        ..playlist(&segments)
    });
    assert_eq!(
        text.as_deref(),
        Ok(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:120\n\
            #EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXTINF:2.000,\nv/120.ts\n#EXTINF:2.000,\nv/121.ts\n#EXTINF:1.968,\nv/122.ts\n"
        )
    );
}

#[test]
fn vod_has_its_type_and_endlist_and_target_rounded_up() {
    let segments = [
        MediaSegment::new(SegmentUri::Text("a.ts"), 2500),
        MediaSegment::new(SegmentUri::Text("b.ts"), 2001),
        MediaSegment::new(SegmentUri::Text("c.ts"), 400),
    ];
    let text = media_playlist(&MediaPlaylist {
        playlist_type: PlaylistType::Vod,
        // VOD implies the end even when `ended` is not set.
        ended: false,
        ..playlist(&segments)
    });
    assert_eq!(
        text.as_deref(),
        Ok(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n\
            #EXT-X-PLAYLIST-TYPE:VOD\n\
            #EXTINF:2.500,\na.ts\n#EXTINF:2.001,\nb.ts\n#EXTINF:0.400,\nc.ts\n#EXT-X-ENDLIST\n"
        )
    );
}

#[test]
fn event_playlists_end_only_when_told() {
    let segments = [numbered(0, 1000)];
    let open = media_playlist(&MediaPlaylist {
        playlist_type: PlaylistType::Event,
        ..playlist(&segments)
    })
    .expect("render");
    assert!(open.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"), "{open}");
    assert!(!open.contains("ENDLIST"), "{open}");
    let ended = media_playlist(&MediaPlaylist {
        playlist_type: PlaylistType::Event,
        ended: true,
        ..playlist(&segments)
    })
    .expect("render");
    assert!(ended.ends_with("#EXT-X-ENDLIST\n"), "{ended}");
}

#[test]
fn discontinuities_and_program_date_times() {
    let segments = [
        MediaSegment {
            program_date_time_ms: Some(951_782_400_000),
            ..numbered(7, 2000)
        },
        MediaSegment {
            discontinuity: true,
            program_date_time_ms: Some(951_782_460_500),
            ..numbered(8, 1500)
        },
    ];
    let text = media_playlist(&MediaPlaylist {
        media_sequence: 7,
        discontinuity_sequence: 3,
        ..playlist(&segments)
    });
    assert_eq!(
        text.as_deref(),
        Ok(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
            #EXT-X-DISCONTINUITY-SEQUENCE:3\n\
            #EXT-X-PROGRAM-DATE-TIME:2000-02-29T00:00:00.000Z\n#EXTINF:2.000,\nv/7.ts\n\
            #EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2000-02-29T00:01:00.500Z\n\
            #EXTINF:1.500,\nv/8.ts\n"
        )
    );
}

#[test]
fn fmp4_with_map_needs_version_6_and_takes_7() {
    let segments = [
        MediaSegment::new(SegmentUri::Text("1/5.m4s"), 2000),
        MediaSegment {
            discontinuity: true,
            map_uri: Some("1/init-2.mp4"),
            ..MediaSegment::new(SegmentUri::Text("1/6.m4s"), 2000)
        },
    ];
    let base = MediaPlaylist {
        media_sequence: 5,
        playlist_type: PlaylistType::Vod,
        independent_segments: true,
        map_uri: Some("1/init.mp4"),
        ..playlist(&segments)
    };
    let text = media_playlist(&MediaPlaylist {
        min_version: 7,
        ..base
    });
    assert_eq!(
        text.as_deref(),
        Ok(
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n\
            #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"1/init.mp4\"\n\
            #EXTINF:2.000,\n1/5.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"1/init-2.mp4\"\n\
            #EXTINF:2.000,\n1/6.m4s\n#EXT-X-ENDLIST\n"
        )
    );
    // Asked for less, the map still needs version 6.
    let text = media_playlist(&MediaPlaylist {
        min_version: 1,
        ..base
    })
    .expect("render");
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n"), "{text}");
}

#[test]
fn empty_live_playlist_is_still_valid() {
    let text = media_playlist(&playlist(&[])).expect("render");
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
}

/// A small deterministic generator, so the property tests need no crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

#[test]
fn target_duration_covers_every_extinf_rounded_or_not() {
    let mut rng = Lcg(7);
    for _ in 0..500 {
        let count = 1 + rng.next(20) as usize;
        let segments: Vec<MediaSegment<'_>> = (0..count as u64)
            .map(|n| numbered(n, rng.next(12_000)))
            .collect();
        let floor = rng.next(4) as u32;
        let text = media_playlist(&MediaPlaylist {
            min_target_duration_secs: floor,
            ..playlist(&segments)
        })
        .expect("render");
        let target: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
            .and_then(|v| v.parse().ok())
            .expect("target duration");
        let extinfs: Vec<f64> = text
            .lines()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .map(|v| v.trim_end_matches(',').parse().expect("EXTINF"))
            .collect();
        assert_eq!(extinfs.len(), count);
        for extinf in extinfs {
            assert!(
                extinf.round() as u64 <= target,
                "{extinf} > {target}\n{text}"
            );
            assert!(extinf <= target as f64, "{extinf} > {target}\n{text}");
        }
        // And it is no larger than it must be.
        let longest = segments.iter().map(|s| s.duration_ms).max().unwrap_or(0);
        let expected = longest.div_ceil(1000).max(u64::from(floor)).max(1);
        assert_eq!(target, expected, "{text}");
    }
}

#[test]
fn bad_media_playlist_input_is_refused() {
    let render = |uri: SegmentUri<'static>, map: Option<&'static str>| {
        let segments = [MediaSegment::new(uri, 1000)];
        media_playlist(&MediaPlaylist {
            map_uri: map,
            ..playlist(&segments)
        })
    };
    let text = |s| SegmentUri::Text(s);
    assert!(matches!(
        render(text("a\nb.ts"), None),
        Err(PlaylistError::BadChar { found: '\n', .. })
    ));
    assert!(matches!(
        render(text("a b.ts"), None),
        Err(PlaylistError::BadChar { found: ' ', .. })
    ));
    assert!(matches!(
        render(text("#EXT-X-ENDLIST"), None),
        Err(PlaylistError::UriLooksLikeTag { .. })
    ));
    assert!(matches!(
        render(text(""), None),
        Err(PlaylistError::Empty { .. })
    ));
    assert!(matches!(
        render(
            SegmentUri::Numbered {
                prefix: "#",
                number: 1,
                suffix: ""
            },
            None
        ),
        Err(PlaylistError::UriLooksLikeTag { .. })
    ));
    assert!(matches!(
        render(text("a.m4s"), Some("init\".mp4")),
        Err(PlaylistError::BadChar { found: '"', .. })
    ));
    let long = "a".repeat(MAX_TEXT_LEN + 1);
    let segments = [MediaSegment::new(SegmentUri::Text(&long), 1000)];
    assert!(matches!(
        media_playlist(&playlist(&segments)),
        Err(PlaylistError::TooLong { .. })
    ));
    let segments = [MediaSegment {
        program_date_time_ms: Some(i64::MAX),
        ..numbered(0, 1000)
    }];
    assert!(matches!(
        media_playlist(&playlist(&segments)),
        Err(PlaylistError::DateOutOfRange { .. })
    ));
    let many = vec![numbered(0, 1000); MAX_SEGMENTS + 1];
    assert!(matches!(
        media_playlist(&playlist(&many)),
        Err(PlaylistError::TooMany { .. })
    ));
}

const AUDIO: [AudioRendition<'static>; 2] = [
    AudioRendition {
        group_id: "aac",
        name: "English",
        language: Some("en"),
        uri: Some("audio/en.m3u8"),
        default: true,
        autoselect: false,
        channels: Some(2),
    },
    AudioRendition {
        group_id: "aac",
        name: "Deutsch",
        language: Some("de"),
        uri: Some("audio/de.m3u8"),
        default: false,
        autoselect: true,
        channels: None,
    },
];

fn variant(uri: &str) -> Variant<'_> {
    Variant {
        uri,
        bandwidth: 2_200_000,
        average_bandwidth: None,
        codecs: "",
        resolution: None,
        frame_rate: None,
        audio_group: None,
    }
}

#[test]
fn master_with_an_audio_group() {
    let variants = [
        Variant {
            average_bandwidth: Some(1_800_000),
            codecs: "avc1.64001f,mp4a.40.2",
            resolution: Some((1280, 720)),
            frame_rate: Some(FrameRate {
                num: 30_000,
                den: 1001,
            }),
            audio_group: Some("aac"),
            ..variant("720p.m3u8")
        },
        Variant {
            bandwidth: 600_000,
            codecs: "avc1.42c01e,mp4a.40.2",
            resolution: Some((640, 360)),
            frame_rate: Some(FrameRate::whole(25)),
            audio_group: Some("aac"),
            ..variant("360p.m3u8")
        },
    ];
    let text = master_playlist(&MasterPlaylist {
        min_version: 7,
        independent_segments: true,
        audio: &AUDIO,
        variants: &variants,
    });
    assert_eq!(
        text.as_deref(),
        Ok("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"English\",LANGUAGE=\"en\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio/en.m3u8\"\n\
            #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"Deutsch\",LANGUAGE=\"de\",DEFAULT=NO,AUTOSELECT=YES,URI=\"audio/de.m3u8\"\n\
            #EXT-X-STREAM-INF:BANDWIDTH=2200000,AVERAGE-BANDWIDTH=1800000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO=\"aac\"\n\
            720p.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=600000,CODECS=\"avc1.42c01e,mp4a.40.2\",RESOLUTION=640x360,FRAME-RATE=25.000,AUDIO=\"aac\"\n\
            360p.m3u8\n")
    );
}

#[test]
fn plain_master_states_no_version() {
    let variants = [variant("media.m3u8")];
    let text = master_playlist(&MasterPlaylist {
        min_version: 0,
        independent_segments: false,
        audio: &[],
        variants: &variants,
    });
    assert_eq!(
        text.as_deref(),
        Ok("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2200000\nmedia.m3u8\n")
    );
}

#[test]
fn bad_master_input_is_refused() {
    let master = |audio, variants| {
        master_playlist(&MasterPlaylist {
            min_version: 0,
            independent_segments: false,
            audio,
            variants,
        })
    };
    let one = [variant("a.m3u8")];
    assert_eq!(master(&[], &[]), Err(PlaylistError::NoVariants));
    let grouped = [Variant {
        audio_group: Some("aac"),
        ..variant("a.m3u8")
    }];
    assert_eq!(
        master(&[], &grouped),
        Err(PlaylistError::UnknownAudioGroup {
            group: "aac".into()
        })
    );
    let twins = [AUDIO[0], AUDIO[0]];
    assert_eq!(
        master(&twins, &one),
        Err(PlaylistError::DuplicateRenditionName {
            group: "aac".into(),
            name: "English".into()
        })
    );
    let two_defaults = [
        AUDIO[0],
        AudioRendition {
            default: true,
            ..AUDIO[1]
        },
    ];
    assert_eq!(
        master(&two_defaults, &one),
        Err(PlaylistError::SeveralDefaults {
            group: "aac".into()
        })
    );
    // Defaults in different groups are fine.
    let other_group = [
        AUDIO[0],
        AudioRendition {
            group_id: "ac3",
            default: true,
            ..AUDIO[1]
        },
    ];
    assert!(master(&other_group, &one).is_ok());
    let quoted = [Variant {
        codecs: "avc1\",x",
        ..variant("a.m3u8")
    }];
    assert!(matches!(
        master(&[], &quoted),
        Err(PlaylistError::BadChar { found: '"', .. })
    ));
    let bad_name = [AudioRendition {
        name: "a\rb",
        ..AUDIO[0]
    }];
    assert!(matches!(
        master(&bad_name, &one),
        Err(PlaylistError::BadChar { found: '\r', .. })
    ));
    let zero_rate = [Variant {
        frame_rate: Some(FrameRate { num: 25, den: 0 }),
        ..variant("a.m3u8")
    }];
    assert!(matches!(
        master(&[], &zero_rate),
        Err(PlaylistError::BadFrameRate { .. })
    ));
    let tag_uri = [variant("#EXT-X-ENDLIST")];
    assert!(matches!(
        master(&[], &tag_uri),
        Err(PlaylistError::UriLooksLikeTag { .. })
    ));
}
