//! Real-player checks of the playlist renderers (`brume_media::playlist`) with
//! ffmpeg and ffprobe. ffmpeg cuts a generated 6-second clip (test pattern and a
//! sine tone, a key frame every 2 s) into segments; the test measures each
//! segment with ffprobe, ignores whatever playlist ffmpeg wrote, renders its own
//! from the segment list, and has ffmpeg play that:
//!
//! * MPEG-TS segments in a VOD media playlist, and a master playlist pointing at
//!   it, decode without a single error and last the clip's 6 s;
//! * fMP4 video and audio segments in version-7 media playlists with `EXT-X-MAP`,
//!   joined by a master playlist with an audio group, decode cleanly with both
//!   streams for 6 s;
//! * the same fMP4 segments in a static MPD with segment timelines decode cleanly
//!   with both streams for 6 s, and static and dynamic MPDs are well-formed XML
//!   (checked by `xmllint --noout`, which must be installed, and by a small
//!   well-formedness check here).
//!
//! ffmpeg and ffprobe are required: when they are missing these tests fail loudly
//! rather than skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use brume_media::mp4::boxes::{require_child, FourCC};
use brume_media::mp4::stsd::{parse_stsd, Description, SampleEntry};
use brume_media::mpegts::TsFile;
use brume_media::playlist::dash::{
    render_mpd, AdaptationSet, AudioAttributes, ContentType, Mpd, Presentation, Representation,
    SegmentTemplate, TimelineEntry, UtcTiming, VideoAttributes,
};
use brume_media::playlist::hls::{
    master_playlist, media_playlist, AudioRendition, MasterPlaylist, MediaPlaylist, MediaSegment,
    PlaylistType, SegmentUri, Variant,
};
use brume_media::playlist::FrameRate;
use brume_media::Track;

/// Length of the generated clip, seconds.
const CLIP_SECS: f64 = 6.0;
/// How far the played duration may be from the clip's (the AAC encoder's last
/// frame runs past the end by up to one frame).
const DURATION_TOLERANCE_SECS: f64 = 0.1;

// --- tools and temp dirs ----------------------------------------------------

/// Runs `program` with `args`, failing the test with its stderr unless it exits 0.
fn run(program: &str, args: &[&str]) -> Output {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (is it installed and on PATH? these tests need it): {e}")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The words of a fixed option list, for [`run`].
fn words(options: &str) -> impl Iterator<Item = &str> {
    options.split_whitespace()
}

/// Has ffmpeg decode `input` completely and asserts it reported no error.
fn assert_plays_cleanly(input: &Path) {
    let args: Vec<&str> = words("-nostdin -v error -i")
        .chain([path_str(input)])
        .chain(words("-f null -"))
        .collect();
    let out = run("ffmpeg", &args);
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    assert!(
        text.trim().is_empty(),
        "ffmpeg reported errors playing {}:\n{text}",
        input.display()
    );
}

/// ffprobe's answer for `entries` (`-show_entries`), one value per line.
fn probe(input: &Path, entries: &str) -> Vec<String> {
    probe_with(input, "", entries)
}

/// [`probe`] with more `options`.
fn probe_with(input: &Path, options: &str, entries: &str) -> Vec<String> {
    let args: Vec<&str> = words("-v error -of csv=p=0 -show_entries")
        .chain([entries])
        .chain(words(options))
        .chain([path_str(input)])
        .collect();
    let out = run("ffprobe", &args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Video frames in the clip: 6 s at 25 fps.
const CLIP_VIDEO_FRAMES: u64 = 150;
/// Fewest AAC frames that cover the clip's 6 s at 48 kHz (1024 samples each).
const CLIP_MIN_AUDIO_FRAMES: u64 = 281;

/// Asserts that ffmpeg decodes `input` (a playlist or manifest, `text`) without
/// an error, that it lasts the clip's 6 s, and that every frame of the clip's
/// video and audio (as `video` and `audio` say it has them) is decoded.
fn assert_plays_whole_clip(input: &Path, text: &str, video: bool, audio: bool) {
    assert_plays_cleanly(input);
    let duration: f64 = probe(input, "format=duration")
        .first()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration for {}", input.display()));
    assert!(
        (duration - CLIP_SECS).abs() < DURATION_TOLERANCE_SECS,
        "lasts {duration} s, not {CLIP_SECS}:\n{text}"
    );
    // ffprobe lists a stream again under each program that holds it.
    let mut streams: Vec<(u32, String, u64)> = probe_with(
        input,
        "-count_frames",
        "stream=index,codec_type,nb_read_frames",
    )
    .iter()
    .filter_map(|line| {
        let mut fields = line.split(',');
        let index = fields.next()?.parse().ok()?;
        let kind = fields.next()?.to_owned();
        let frames = fields.next()?.parse().ok()?;
        Some((index, kind, frames))
    })
    .collect();
    streams.sort();
    streams.dedup();
    let count = |kind: &str| -> Vec<u64> {
        streams
            .iter()
            .filter(|s| s.1 == kind)
            .map(|s| s.2)
            .collect()
    };
    let expected_video: &[u64] = if video { &[CLIP_VIDEO_FRAMES] } else { &[] };
    assert_eq!(count("video"), expected_video, "{streams:?}\n{text}");
    let audio_frames = count("audio");
    if audio {
        assert!(
            matches!(audio_frames[..], [n] if n >= CLIP_MIN_AUDIO_FRAMES),
            "{streams:?}\n{text}"
        );
    } else {
        assert!(audio_frames.is_empty(), "{streams:?}\n{text}");
    }
}

/// A temp directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("brume-playlists-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write playlist");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// The options that generate the clip (video, audio or both) and encode it.
fn clip_inputs(video: bool, audio: bool) -> Vec<&'static str> {
    let mut args: Vec<&str> = words("-nostdin -v error").collect();
    if video {
        args.extend(words("-f lavfi -i testsrc2=size=320x240:rate=25"));
    }
    if audio {
        args.extend(words("-f lavfi -i sine=frequency=440:sample_rate=48000"));
    }
    args.extend(words("-t 6"));
    if video {
        args.extend(words(
            "-c:v libx264 -pix_fmt yuv420p -force_key_frames expr:gte(t,n_forced*2)",
        ));
    }
    if audio {
        args.extend(words("-c:a aac -b:a 64k"));
    }
    args
}

/// Files in `dir` named `prefix<n>suffix`, in number order.
fn numbered_files(dir: &Path, prefix: &str, suffix: &str) -> Vec<(u64, PathBuf)> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .expect("list segments")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let number = name
                .strip_prefix(prefix)?
                .strip_suffix(suffix)?
                .parse()
                .ok()?;
            Some((number, path))
        })
        .collect();
    found.sort();
    assert!(
        !found.is_empty(),
        "no {prefix}N{suffix} in {}",
        dir.display()
    );
    found
}

// --- MPEG-TS ----------------------------------------------------------------

#[test]
fn ts_vod_playlist_and_its_master_play_cleanly() {
    let dir = TempDir::new("ts");
    let mut args = clip_inputs(true, true);
    let pattern = dir.join("seg%d.ts");
    args.extend(words("-f segment -segment_time 2 -segment_format mpegts"));
    args.push(path_str(&pattern));
    run("ffmpeg", &args);

    // Each segment's span as ffprobe measures it. Segments overlap a little
    // (audio runs ahead of video, B-frames are presented late), so a segment
    // lasts until the next one starts, and the last until its end.
    let files = numbered_files(&dir.0, "seg", ".ts");
    let names: Vec<String> = files.iter().map(|(n, _)| format!("seg{n}.ts")).collect();
    let spans: Vec<(f64, f64)> = files
        .iter()
        .map(|(_, path)| {
            let values = probe(path, "format=start_time,duration");
            let line = values.first().expect("segment start and duration");
            let (start, duration) = line.split_once(',').expect("start,duration");
            let start: f64 = start.parse().expect("start");
            (start, start + duration.parse::<f64>().expect("duration"))
        })
        .collect();
    let durations_ms: Vec<u64> = spans
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            let until = spans.get(i + 1).map_or(end, |next| next.0);
            ((until - start) * 1000.0).round() as u64
        })
        .collect();
    assert!(files.len() >= 3, "{names:?}");
    let segments: Vec<MediaSegment<'_>> = names
        .iter()
        .zip(&durations_ms)
        .map(|(name, &ms)| MediaSegment::new(SegmentUri::Text(name), ms))
        .collect();
    let media = media_playlist(&MediaPlaylist {
        min_version: 3,
        min_target_duration_secs: 2,
        media_sequence: 0,
        discontinuity_sequence: 0,
        playlist_type: PlaylistType::Vod,
        ended: true,
        independent_segments: true,
        map_uri: None,
        segments: &segments,
    })
    .expect("render media playlist");
    let index = dir.write("index.m3u8", &media);
    assert_plays_whole_clip(&index, &media, true, true);

    // Codec strings and picture size as Brume's own demuxer reads them.
    let first = std::fs::read(&files[0].1).expect("read segment");
    let ts = TsFile::open(&first[..]).expect("index segment");
    let tracks: Vec<&Track> = ts.tracks().iter().map(|t| &t.track).collect();
    let codecs: Vec<&str> = tracks.iter().map(|t| t.codec_string.as_str()).collect();
    let codecs = codecs.join(",");
    let variants = [Variant {
        uri: "index.m3u8",
        bandwidth: 1_500_000,
        average_bandwidth: Some(1_000_000),
        codecs: &codecs,
        resolution: tracks
            .iter()
            .find_map(|t| t.video.map(|v| (v.width, v.height))),
        frame_rate: Some(FrameRate::whole(25)),
        audio_group: None,
    }];
    let master = master_playlist(&MasterPlaylist {
        min_version: 3,
        independent_segments: true,
        audio: &[],
        variants: &variants,
    })
    .expect("render master playlist");
    assert!(
        master.contains(",mp4a.40.2\",RESOLUTION=320x240,"),
        "{master}"
    );
    let master_path = dir.write("master.m3u8", &master);
    assert_plays_whole_clip(&master_path, &master, true, true);
}

// --- fMP4 segments ----------------------------------------------------------

/// One track cut into fMP4 segments by ffmpeg: `<name>-init.mp4` and
/// `<name>-<n>.m4s`, with each segment's span measured by ffprobe.
struct Fmp4Track {
    name: &'static str,
    /// The init segment's sample entry (codec string, geometry, sampling).
    entry: SampleEntry,
    /// Its media timescale.
    timescale: u32,
    /// Segment numbers, from 0.
    numbers: Vec<u64>,
    /// Each segment's span, in the track's timescale.
    timeline: Vec<TimelineEntry>,
    /// Peak bits per second over its segments.
    bandwidth: u64,
}

/// Has ffmpeg's HLS muxer cut the video (`video`) or the audio of the clip into
/// fMP4 segments named after `name`, then measures them.
fn fmp4_track(dir: &TempDir, name: &'static str, video: bool) -> Fmp4Track {
    let mut args = clip_inputs(video, !video);
    let init = format!("{name}-init.mp4");
    let segments = dir.join(&format!("{name}-%d.m4s"));
    let ignored = dir.join(&format!("ffmpeg-{name}.m3u8"));
    args.extend(words(
        "-f hls -hls_segment_type fmp4 -hls_time 2 -hls_playlist_type vod",
    ));
    args.extend(["-hls_fmp4_init_filename", &init]);
    args.extend([
        "-hls_segment_filename",
        path_str(&segments),
        path_str(&ignored),
    ]);
    run("ffmpeg", &args);

    let init_bytes = std::fs::read(dir.join(&init)).expect("read init segment");
    let (entry, timescale) = describe_init(&init_bytes);

    // Each segment's first presentation time (init + segment, as a player sees
    // it) and, for the end of the last, its frame duration.
    let files = numbered_files(&dir.0, &format!("{name}-"), ".m4s");
    let mut starts = Vec::new();
    let mut sizes = Vec::new();
    let mut last_end = 0;
    for (_, path) in &files {
        let joined = dir.join("joined.mp4");
        let mut bytes = init_bytes.clone();
        let segment = std::fs::read(path).expect("read segment");
        sizes.push(segment.len() as u64);
        bytes.extend(segment);
        std::fs::write(&joined, bytes).expect("write joined segment");
        let packets: Vec<(u64, Option<u64>)> = probe(&joined, "packet=pts,duration")
            .iter()
            .map(|line| {
                let (pts, duration) = line.split_once(',').expect("pts,duration");
                (pts.parse().expect("pts"), duration.parse().ok())
            })
            .collect();
        let start = packets.iter().map(|p| p.0).min().expect("packets");
        starts.push(start);
        // A frame's duration is the same throughout these constant-rate tracks;
        // ffprobe leaves some out, so take any it states.
        let frame = packets
            .iter()
            .find_map(|p| p.1)
            .unwrap_or(if video { 512 } else { 1024 });
        last_end = packets.iter().map(|p| p.0).max().unwrap_or(start) + frame;
    }
    let timeline: Vec<TimelineEntry> = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| TimelineEntry {
            start,
            duration: starts.get(i + 1).copied().unwrap_or(last_end) - start,
        })
        .collect();
    let bandwidth = (sizes.iter().zip(&timeline))
        .map(|(bytes, e)| bytes * 8 * u64::from(timescale) / e.duration.max(1))
        .max()
        .unwrap_or(0);
    Fmp4Track {
        name,
        entry,
        timescale,
        numbers: files.iter().map(|(n, _)| *n).collect(),
        timeline,
        bandwidth,
    }
}

/// The sample entry and media timescale of the one track of an init segment.
fn describe_init(init: &[u8]) -> (SampleEntry, u32) {
    let child = |data, parent, kind: &[u8; 4], path| {
        require_child(data, parent, FourCC(*kind), path).expect("init segment box")
    };
    let moov = child(init, "file", b"moov", "moov");
    let trak = child(moov, "moov", b"trak", "moov/trak");
    let mdia = child(trak, "trak", b"mdia", "trak/mdia");
    let mdhd = child(mdia, "mdia", b"mdhd", "mdia/mdhd");
    // Version 1 has 64-bit creation and modification times before the timescale.
    let at = if mdhd.first() == Some(&1) { 20 } else { 12 };
    let timescale = u32::from_be_bytes(mdhd[at..at + 4].try_into().expect("mdhd timescale"));
    let minf = child(mdia, "mdia", b"minf", "mdia/minf");
    let stbl = child(minf, "minf", b"stbl", "minf/stbl");
    let stsd = child(stbl, "stbl", b"stsd", "stbl/stsd");
    match parse_stsd(stsd).expect("parse stsd") {
        Description::Supported(entry) => (entry, timescale),
        Description::Unsupported(why) => panic!("unsupported sample entry: {why}"),
    }
}

#[test]
fn fmp4_playlists_with_an_audio_group_play_cleanly() {
    let dir = TempDir::new("fmp4");
    let video = fmp4_track(&dir, "v", true);
    let audio = fmp4_track(&dir, "a", false);

    for t in [&video, &audio] {
        let map = format!("{}-init.mp4", t.name);
        let prefix = format!("{}-", t.name);
        let ts = u64::from(t.timescale);
        let segments: Vec<MediaSegment<'_>> = (t.numbers.iter().zip(&t.timeline))
            .map(|(&number, e)| {
                let suffix = ".m4s";
                let uri = SegmentUri::Numbered {
                    prefix: &prefix,
                    number,
                    suffix,
                };
                MediaSegment::new(uri, (e.duration * 1000 + ts / 2) / ts)
            })
            .collect();
        let text = media_playlist(&MediaPlaylist {
            min_version: 7,
            min_target_duration_secs: 2,
            media_sequence: 0,
            discontinuity_sequence: 0,
            playlist_type: PlaylistType::Vod,
            ended: true,
            independent_segments: true,
            map_uri: Some(&map),
            segments: &segments,
        })
        .expect("render media playlist");
        assert!(text.contains("#EXT-X-VERSION:7\n"), "{text}");
        let path = dir.write(&format!("{}.m3u8", t.name), &text);
        let video = t.entry.video.is_some();
        assert_plays_whole_clip(&path, &text, video, !video);
    }

    let channels = audio.entry.audio.map(|a| a.channels);
    let renditions = [AudioRendition {
        group_id: "aac",
        name: "Tone",
        language: Some("en"),
        uri: Some("a.m3u8"),
        default: true,
        autoselect: true,
        channels,
    }];
    let codecs = format!("{},{}", video.entry.codec_string, audio.entry.codec_string);
    let variants = [Variant {
        uri: "v.m3u8",
        bandwidth: video.bandwidth + audio.bandwidth,
        average_bandwidth: None,
        codecs: &codecs,
        resolution: video.entry.video.map(|v| (v.width, v.height)),
        frame_rate: Some(FrameRate::whole(25)),
        audio_group: Some("aac"),
    }];
    let master = master_playlist(&MasterPlaylist {
        min_version: 7,
        independent_segments: true,
        audio: &renditions,
        variants: &variants,
    })
    .expect("render master playlist");
    assert!(master.contains("RESOLUTION=320x240"), "{master}");
    let path = dir.write("master.m3u8", &master);
    assert_plays_whole_clip(&path, &master, true, true);
}

// --- DASH -------------------------------------------------------------------

/// One adaptation set of one representation, `$RepresentationID$` being the
/// track's file name prefix.
fn adaptation_set<'a>(
    id: u32,
    t: &'a Fmp4Track,
    representations: &'a [Representation<'a>],
) -> AdaptationSet<'a> {
    let video = t.entry.video.is_some();
    AdaptationSet {
        id,
        content_type: if video {
            ContentType::Video
        } else {
            ContentType::Audio
        },
        mime_type: if video { "video/mp4" } else { "audio/mp4" },
        lang: None,
        segments: SegmentTemplate {
            timescale: t.timescale,
            initialization: "$RepresentationID$-init.mp4",
            media: "$RepresentationID$-$Number$.m4s",
            start_number: t.numbers.first().copied().unwrap_or(0),
            // Media time of the period's start: the first segment's (video
            // starts late by the B-frame reordering delay).
            presentation_time_offset: t.timeline.first().map_or(0, |e| e.start),
            timeline: &t.timeline,
        },
        representations,
    }
}

fn representation(t: &Fmp4Track) -> Representation<'_> {
    Representation {
        id: t.name,
        codecs: &t.entry.codec_string,
        bandwidth: t.bandwidth,
        video: t.entry.video.map(|v| VideoAttributes {
            width: v.width,
            height: v.height,
            frame_rate: Some(FrameRate::whole(25)),
        }),
        audio: t.entry.audio.map(|a| AudioAttributes {
            sample_rate: a.sample_rate,
            channels: a.channels,
        }),
    }
}

#[test]
fn static_mpd_from_the_segment_list_plays_cleanly() {
    let dir = TempDir::new("dash");
    let video = fmp4_track(&dir, "v", true);
    let audio = fmp4_track(&dir, "a", false);
    let video_reps = [representation(&video)];
    let audio_reps = [representation(&audio)];
    let sets = [
        adaptation_set(1, &video, &video_reps),
        adaptation_set(2, &audio, &audio_reps),
    ];
    let end_ms = |t: &Fmp4Track| {
        let last = t.timeline.last().expect("segments");
        let first = t.timeline.first().expect("segments");
        (last.start + last.duration - first.start) * 1000 / u64::from(t.timescale)
    };
    let mpd = render_mpd(&Mpd {
        presentation: Presentation::Static {
            duration_ms: end_ms(&video).max(end_ms(&audio)),
        },
        min_buffer_ms: 4000,
        adaptation_sets: &sets,
        utc_timing: None,
    })
    .expect("render MPD");
    // Three two-second video segments fold into one run.
    assert!(mpd.contains(" d=\"25600\" r=\"2\"/>"), "{mpd}");
    let path = dir.write("manifest.mpd", &mpd);
    assert_well_formed(&path, &mpd);
    assert_plays_whole_clip(&path, &mpd, true, true);

    // The live form of the same segments is well-formed too.
    let live = render_mpd(&Mpd {
        presentation: Presentation::Dynamic {
            availability_start_ms: 1_795_000_000_000,
            publish_ms: 1_795_000_006_000,
            min_update_period_ms: 2000,
            time_shift_buffer_ms: Some(30_000),
            suggested_delay_ms: Some(6000),
        },
        min_buffer_ms: 4000,
        adaptation_sets: &sets,
        utc_timing: Some(UtcTiming::HttpIso("/time?format=iso&z=1")),
    })
    .expect("render dynamic MPD");
    let path = dir.write("live.mpd", &live);
    assert_well_formed(&path, &live);
}

// --- XML well-formedness ----------------------------------------------------

/// Asserts `text` (saved at `path`) is well-formed XML: with [`check_xml`] and
/// with `xmllint --noout` (libxml2-utils; scripts/test installs it, and its absence
/// fails the test rather than skipping the check).
fn assert_well_formed(path: &Path, text: &str) {
    if let Err(error) = check_xml(text) {
        panic!("not well-formed XML: {error}\n{text}");
    }
    match Command::new("xmllint").arg("--noout").arg(path).output() {
        Ok(out) => assert!(
            out.status.success() && out.stderr.is_empty(),
            "xmllint: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run xmllint ({e}); it is required by this test: run scripts/test, \
             or apt-get install libxml2-utils"
        ),
    }
}

/// A small well-formedness check for the XML these renderers write: an XML
/// declaration, one root element, properly nested tags, attributes quoted,
/// unique per element and free of `<` and stray `&`, and only the predefined
/// entities.
fn check_xml(text: &str) -> Result<(), String> {
    let body = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .ok_or("no XML declaration")?;
    let mut open: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    loop {
        let Some(lt) = rest.find('<') else {
            if !rest.trim().is_empty() {
                return Err(format!("text after the root: {rest:?}"));
            }
            break;
        };
        let between = &rest[..lt];
        if open.is_empty() && !between.trim().is_empty() {
            return Err(format!("text outside the root: {between:?}"));
        }
        check_entities(between)?;
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let expected = open.pop().ok_or(format!("</{name}> closes nothing"))?;
            if name.trim() != expected {
                return Err(format!("</{name}> closes <{expected}>"));
            }
            continue;
        }
        if open.is_empty() {
            roots += 1;
            if roots > 1 {
                return Err("more than one root element".into());
            }
        }
        let (tag, empty) = match tag.strip_suffix('/') {
            Some(tag) => (tag, true),
            None => (tag, false),
        };
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let name = &tag[..name_end];
        check_name(name)?;
        check_attributes(&tag[name_end..])?;
        if !empty {
            open.push(name);
        }
    }
    match open.last() {
        Some(name) => Err(format!("<{name}> is never closed")),
        None if roots == 1 => Ok(()),
        None => Err("no root element".into()),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c)) {
        return Err(format!("bad name {name:?}"));
    }
    Ok(())
}

fn check_attributes(mut text: &str) -> Result<(), String> {
    let mut seen: Vec<&str> = Vec::new();
    loop {
        let trimmed = text.trim_start();
        if trimmed.is_empty() {
            return Ok(());
        }
        if trimmed.len() == text.len() {
            return Err(format!("attributes not separated by whitespace: {text:?}"));
        }
        let eq = trimmed
            .find("=\"")
            .ok_or(format!("bad attribute {trimmed:?}"))?;
        let name = &trimmed[..eq];
        check_name(name)?;
        if seen.contains(&name) {
            return Err(format!("attribute {name} twice"));
        }
        seen.push(name);
        let value_start = eq + 2;
        let close = trimmed[value_start..]
            .find('"')
            .ok_or(format!("unclosed value of {name}"))?;
        let value = &trimmed[value_start..value_start + close];
        if value.contains('<') {
            return Err(format!("'<' in the value of {name}"));
        }
        check_entities(value)?;
        text = &trimmed[value_start + close + 1..];
    }
}

fn check_entities(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        rest = &rest[amp + 1..];
        let semi = rest.find(';').ok_or("'&' without ';'")?;
        if !["amp", "lt", "gt", "quot", "apos"].contains(&&rest[..semi]) {
            return Err(format!("unknown entity &{};", &rest[..semi]));
        }
        rest = &rest[semi + 1..];
    }
    Ok(())
}

#[test]
fn the_well_formedness_check_catches_broken_xml() {
    let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    assert_eq!(check_xml(&format!("{decl}<a><b x=\"1\"/></a>\n")), Ok(()));
    for broken in [
        "<a><b></a></b>",
        "<a x=\"1\" x=\"2\"/>",
        "<a x=\"a&b\"/>",
        "<a x=\"<\"/>",
        "<a/><b/>",
        "<a>",
        "<a x=1/>",
        "<a x=\"1\"y=\"2\"/>",
    ] {
        assert!(check_xml(&format!("{decl}{broken}")).is_err(), "{broken}");
    }
}
