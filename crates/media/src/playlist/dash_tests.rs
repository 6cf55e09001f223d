//! Unit tests of the DASH MPD renderer ([`super::dash`]).

use super::dash::{
    render_mpd, timeline_runs, AdaptationSet, AudioAttributes, ContentType, Mpd, Presentation,
    Representation, SegmentTemplate, TimelineEntry, TimelineRun, UtcTiming, VideoAttributes,
};
use super::{FrameRate, PlaylistError, MAX_SEGMENTS};

const fn entry(start: u64, duration: u64) -> TimelineEntry {
    TimelineEntry { start, duration }
}

const VIDEO_TIMELINE: [TimelineEntry; 4] = [
    entry(0, 180_000),
    entry(180_000, 180_000),
    entry(360_000, 180_000),
    entry(540_000, 90_000),
];
const AUDIO_TIMELINE: [TimelineEntry; 3] = [
    entry(0, 96_256),
    entry(96_256, 96_256),
    entry(192_512, 95_232),
];

const VIDEO_REPS: [Representation<'static>; 1] = [Representation {
    id: "v1",
    codecs: "avc1.64001f",
    bandwidth: 2_000_000,
    video: Some(VideoAttributes {
        width: 1280,
        height: 720,
        frame_rate: Some(FrameRate {
            num: 30_000,
            den: 1001,
        }),
    }),
    audio: None,
}];
const AUDIO_REPS: [Representation<'static>; 1] = [Representation {
    id: "a1",
    codecs: "mp4a.40.2",
    bandwidth: 128_000,
    video: None,
    audio: Some(AudioAttributes {
        sample_rate: 48_000,
        channels: 2,
    }),
}];

fn video_set() -> AdaptationSet<'static> {
    AdaptationSet {
        id: 1,
        content_type: ContentType::Video,
        mime_type: "video/mp4",
        lang: None,
        segments: SegmentTemplate {
            timescale: 90_000,
            initialization: "$RepresentationID$/init.mp4",
            media: "$RepresentationID$/$Number%05d$.m4s",
            start_number: 1,
            presentation_time_offset: 0,
            timeline: &VIDEO_TIMELINE,
        },
        representations: &VIDEO_REPS,
    }
}

fn audio_set() -> AdaptationSet<'static> {
    AdaptationSet {
        id: 2,
        content_type: ContentType::Audio,
        mime_type: "audio/mp4",
        lang: Some("en"),
        segments: SegmentTemplate {
            timescale: 48_000,
            initialization: "$RepresentationID$/init.mp4",
            media: "$RepresentationID$/$Number$.m4s",
            start_number: 1,
            presentation_time_offset: 0,
            timeline: &AUDIO_TIMELINE,
        },
        representations: &AUDIO_REPS,
    }
}

fn static_mpd<'a>(sets: &'a [AdaptationSet<'a>]) -> Mpd<'a> {
    Mpd {
        presentation: Presentation::Static { duration_ms: 7_000 },
        min_buffer_ms: 4_000,
        adaptation_sets: sets,
        utc_timing: None,
    }
}

#[test]
fn static_mpd_with_video_and_audio() {
    let sets = [video_set(), audio_set()];
    let text = render_mpd(&static_mpd(&sets));
    assert_eq!(
        text.as_deref(),
        Ok(r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" mediaPresentationDuration="PT7S" minBufferTime="PT4S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="1" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%05d$.m4s" startNumber="1">
        <SegmentTimeline>
          <S t="0" d="180000" r="2"/>
          <S d="90000"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v1" codecs="avc1.64001f" bandwidth="2000000" width="1280" height="720" frameRate="30000/1001"/>
    </AdaptationSet>
    <AdaptationSet id="2" contentType="audio" mimeType="audio/mp4" lang="en" segmentAlignment="true" startWithSAP="1">
      <SegmentTemplate timescale="48000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number$.m4s" startNumber="1">
        <SegmentTimeline>
          <S t="0" d="96256" r="1"/>
          <S d="95232"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="a1" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"#)
    );
}

#[test]
fn dynamic_mpd_with_time_addressing_a_gap_and_utc_timing() {
    let timeline = [
        entry(9_000, 2_000),
        entry(11_000, 2_000),
        entry(15_000, 2_000),
    ];
    let reps = [Representation {
        video: Some(VideoAttributes {
            width: 640,
            height: 360,
            frame_rate: Some(FrameRate::whole(25)),
        }),
        ..VIDEO_REPS[0]
    }];
    let sets = [AdaptationSet {
        segments: SegmentTemplate {
            timescale: 1000,
            media: "chunk-$RepresentationID$-$Time$.m4s?token=a&b=<c>",
            start_number: 5,
            presentation_time_offset: 9_000,
            timeline: &timeline,
            ..video_set().segments
        },
        representations: &reps,
        ..video_set()
    }];
    let text = render_mpd(&Mpd {
        presentation: Presentation::Dynamic {
            availability_start_ms: 951_782_400_000,
            publish_ms: 951_782_417_250,
            min_update_period_ms: 1_000,
            time_shift_buffer_ms: Some(3_723_456),
            suggested_delay_ms: Some(6_000),
        },
        min_buffer_ms: 4_000,
        adaptation_sets: &sets,
        utc_timing: Some(UtcTiming::Direct {
            now_ms: 951_782_417_250,
        }),
    });
    assert_eq!(
        text.as_deref(),
        Ok(r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="2000-02-29T00:00:00.000Z" publishTime="2000-02-29T00:00:17.250Z" minimumUpdatePeriod="PT1S" timeShiftBufferDepth="PT1H2M3.456S" suggestedPresentationDelay="PT6S" minBufferTime="PT4S">
  <Period id="0" start="PT0S">
    <AdaptationSet id="1" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <SegmentTemplate timescale="1000" presentationTimeOffset="9000" initialization="$RepresentationID$/init.mp4" media="chunk-$RepresentationID$-$Time$.m4s?token=a&amp;b=&lt;c&gt;" startNumber="5">
        <SegmentTimeline>
          <S t="9000" d="2000" r="1"/>
          <S t="15000" d="2000"/>
        </SegmentTimeline>
      </SegmentTemplate>
      <Representation id="v1" codecs="avc1.64001f" bandwidth="2000000" width="640" height="360" frameRate="25"/>
    </AdaptationSet>
  </Period>
  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:direct:2014" value="2000-02-29T00:00:17.250Z"/>
</MPD>
"#)
    );
}

#[test]
fn utc_timing_urls_are_escaped() {
    let sets = [audio_set()];
    let text = render_mpd(&Mpd {
        utc_timing: Some(UtcTiming::HttpIso("https://t.example/now?a=1&b=2")),
        ..static_mpd(&sets)
    })
    .expect("render");
    assert!(text.contains(
        "<UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:http-iso:2014\" value=\"https://t.example/now?a=1&amp;b=2\"/>"
    ), "{text}");
    let text = render_mpd(&Mpd {
        utc_timing: Some(UtcTiming::HttpXsDate("/time")),
        ..static_mpd(&sets)
    })
    .expect("render");
    assert!(
        text.contains("urn:mpeg:dash:utc:http-xsdate:2014\" value=\"/time\""),
        "{text}"
    );
}

/// Expands `<S>` lines back into segments, as a client does.
fn expand_s_lines(text: &str) -> Vec<TimelineEntry> {
    let attribute = |line: &str, name: &str| -> Option<u64> {
        let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
        let rest = line.get(start..)?;
        rest.get(..rest.find('"')?)?.parse().ok()
    };
    let mut entries = Vec::new();
    let mut next = 0;
    for line in text.lines().map(str::trim).filter(|l| l.starts_with("<S ")) {
        let start = attribute(line, "t").unwrap_or(next);
        let duration = attribute(line, "d").expect("every S has d");
        let repeat = attribute(line, "r").unwrap_or(0);
        for i in 0..=repeat {
            entries.push(entry(start + i * duration, duration));
        }
        next = start + (repeat + 1) * duration;
    }
    entries
}

#[test]
fn timeline_compression_round_trips() {
    let mut seed = 11_u64;
    let mut random = |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    for _ in 0..300 {
        let count = 1 + random(60);
        let mut start = random(1_000_000);
        let mut timeline = Vec::new();
        for _ in 0..count {
            // Mostly the nominal duration, sometimes another, sometimes a gap.
            let duration = if random(4) == 0 {
                1 + random(5000)
            } else {
                2000
            };
            timeline.push(entry(start, duration));
            start += duration + if random(10) == 0 { 1 + random(3000) } else { 0 };
        }
        let mut set = video_set();
        set.segments.timeline = &timeline;
        let sets = [set];
        let text = render_mpd(&static_mpd(&sets)).expect("render");
        assert_eq!(expand_s_lines(&text), timeline, "{text}");
        // Runs are maximal: no two neighbours could have been merged.
        let runs: Vec<TimelineRun> = timeline_runs(&timeline).collect();
        for pair in runs.windows(2) {
            let end = pair[0].start + (pair[0].repeat + 1) * pair[0].duration;
            assert!(pair[1].start != end || pair[1].duration != pair[0].duration);
        }
        let listed: u64 = runs.iter().map(|r| r.repeat + 1).sum();
        assert_eq!(listed, timeline.len() as u64);
    }
}

fn render_with_timeline(timeline: &[TimelineEntry]) -> Result<String, PlaylistError> {
    let mut set = video_set();
    set.segments.timeline = timeline;
    render_mpd(&static_mpd(&[set]))
}

#[test]
fn bad_timelines_are_refused() {
    assert_eq!(
        render_with_timeline(&[entry(0, 10), entry(5, 10)]),
        Err(PlaylistError::TimelineOverlap { set: 1, index: 1 })
    );
    assert_eq!(
        render_with_timeline(&[entry(0, 10), entry(10, 0)]),
        Err(PlaylistError::ZeroSegmentDuration { set: 1, index: 1 })
    );
    assert_eq!(
        render_with_timeline(&[entry(u64::MAX, 1)]),
        Err(PlaylistError::TimelineOverflow { set: 1, index: 0 })
    );
    let many = vec![entry(0, 1); MAX_SEGMENTS + 1];
    assert!(matches!(
        render_with_timeline(&many),
        Err(PlaylistError::TooMany { .. })
    ));
    // An empty timeline is a manifest with no segment yet, not an error.
    assert!(render_with_timeline(&[]).is_ok());
}

fn render_with_templates(init: &str, media: &str) -> Result<String, PlaylistError> {
    let mut set = video_set();
    set.segments.initialization = init;
    set.segments.media = media;
    render_mpd(&static_mpd(&[set]))
}

#[test]
fn templates_are_checked() {
    let ok = |init, media| render_with_templates(init, media).map(|_| ());
    let reason = |init, media| match render_with_templates(init, media) {
        Err(PlaylistError::BadTemplate { reason, .. }) => reason,
        other => panic!("{init} {media}: {other:?}"),
    };
    assert_eq!(ok("init.mp4", "$Time$.m4s"), Ok(()));
    assert_eq!(ok("i-$Bandwidth$.mp4", "$$5-$Number%010d$.m4s"), Ok(()));
    assert_eq!(
        reason("init.mp4", "$Number$-$Time$.m4s"),
        "it uses both $Number$ and $Time$"
    );
    assert_eq!(
        reason("init.mp4", "$RepresentationID$.m4s"),
        "it needs $Number$ or $Time$ to tell segments apart"
    );
    assert_eq!(
        reason("$Number$.mp4", "$Number$.m4s"),
        "an initialization segment has no $Number$, $Time$ or $SubNumber$"
    );
    assert_eq!(reason("init.mp4", "$Number.m4s"), "a '$' is not closed");
    assert_eq!(
        reason("init.mp4", "$Segment$-$Number$.m4s"),
        "it names an identifier DASH does not define"
    );
    assert_eq!(
        reason("init.mp4", "$Number%5d$.m4s"),
        "a format tag is not of the form %0<width>d"
    );
    assert_eq!(
        reason("init.mp4", "$Number%0d$.m4s"),
        "a format tag is not of the form %0<width>d"
    );
    assert_eq!(
        reason("$RepresentationID%02d$.mp4", "$Number$.m4s"),
        "$RepresentationID$ takes no format tag"
    );
    assert!(matches!(
        render_with_templates("init.mp4", "a b/$Number$.m4s"),
        Err(PlaylistError::BadChar { found: ' ', .. })
    ));
}

#[test]
fn bad_sets_and_representations_are_refused() {
    assert_eq!(
        render_mpd(&static_mpd(&[])),
        Err(PlaylistError::NoAdaptationSets)
    );
    let mut empty = video_set();
    empty.representations = &[];
    assert_eq!(
        render_mpd(&static_mpd(&[empty])),
        Err(PlaylistError::NoRepresentations { set: 1 })
    );
    let mut twin = audio_set();
    twin.id = 1;
    assert_eq!(
        render_mpd(&static_mpd(&[video_set(), twin])),
        Err(PlaylistError::DuplicateAdaptationSet { set: 1 })
    );
    let same_id = [Representation {
        id: "v1",
        ..AUDIO_REPS[0]
    }];
    let mut clash = audio_set();
    clash.representations = &same_id;
    assert_eq!(
        render_mpd(&static_mpd(&[video_set(), clash])),
        Err(PlaylistError::DuplicateRepresentation { id: "v1".into() })
    );
    let mut zero = video_set();
    zero.segments.timescale = 0;
    assert_eq!(
        render_mpd(&static_mpd(&[zero])),
        Err(PlaylistError::ZeroTimescale { set: 1 })
    );
    let control = [Representation {
        codecs: "avc1\u{1}",
        ..VIDEO_REPS[0]
    }];
    let mut bad = video_set();
    bad.representations = &control;
    assert!(matches!(
        render_mpd(&static_mpd(&[bad])),
        Err(PlaylistError::BadChar { found: '\u{1}', .. })
    ));
    let spaced = [Representation {
        id: "v 1",
        ..VIDEO_REPS[0]
    }];
    let mut bad = video_set();
    bad.representations = &spaced;
    assert!(matches!(
        render_mpd(&static_mpd(&[bad])),
        Err(PlaylistError::BadChar { found: ' ', .. })
    ));
    let sets = [video_set()];
    let late = Mpd {
        presentation: Presentation::Dynamic {
            availability_start_ms: 0,
            publish_ms: i64::MAX,
            min_update_period_ms: 1000,
            time_shift_buffer_ms: None,
            suggested_delay_ms: None,
        },
        ..static_mpd(&sets)
    };
    assert_eq!(
        render_mpd(&late),
        Err(PlaylistError::DateOutOfRange { unix_ms: i64::MAX })
    );
}

#[test]
fn escaping_covers_every_special_character() {
    let mut set = video_set();
    set.mime_type = "video/mp4; x=\"a&b\" <'c'>";
    let sets = [set];
    let text = render_mpd(&static_mpd(&sets)).expect("render");
    assert!(
        text.contains("mimeType=\"video/mp4; x=&quot;a&amp;b&quot; &lt;&apos;c&apos;&gt;\""),
        "{text}"
    );
}
