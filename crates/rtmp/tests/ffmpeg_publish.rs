//! ffmpeg publishes to a [`ServerSession`] driven over a real TCP connection;
//! the session yields the AVC and AAC sequence headers and every frame, and
//! the bytes ffmpeg sent replay into a fresh session, in any split, to the
//! same events. The committed recording (`testdata/ffmpeg-publish.rtmp`)
//! replays the same way without ffmpeg, and its media feeds
//! `brume_media::flv::TagDemuxer` into H.264 and AAC tracks and frames.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use brume_media::flv::{TagDemuxer, TagEvent};
use brume_media::Codec;
use brume_rtmp::{Event, HandshakeMode, MediaKind, ServerSession, SessionConfig};
use common::*;

/// Checks what a publish of the test pattern must produce: metadata, both
/// sequence headers before any frame of their kind, at least `min_video`
/// video frames, non-decreasing timestamps per kind.
fn check_publish(events: &[Event], min_video: usize) {
    assert!(
        matches!(events.first(), Some(Event::Connected { app, .. }) if app == "live"),
        "{:?}",
        events.first()
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PublishRequested { name, app, .. } if name == "test" && app == "live"
    )));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Metadata { value, .. }
        if value.get("width").and_then(|v| v.as_number()) .is_some())));
    let media = media(events);
    let video: Vec<_> = media.iter().filter(|m| m.0 == MediaKind::Video).collect();
    let audio: Vec<_> = media.iter().filter(|m| m.0 == MediaKind::Audio).collect();
    // AVC sequence header: keyframe, codec 7, AVCPacketType 0.
    assert_eq!(
        &video[0].2[..2],
        &[0x17, 0x00],
        "first video is the AVC sequence header"
    );
    // AAC sequence header: sound format 10, AACPacketType 0.
    assert_eq!(audio[0].2[0] >> 4, 10);
    assert_eq!(audio[0].2[1], 0, "first audio is the AAC sequence header");
    let frames = video.iter().filter(|m| m.2[1] == 1).count();
    assert!(frames >= min_video, "only {frames} video frames");
    assert!(audio.iter().filter(|m| m.2[1] == 1).count() >= min_video);
    for list in [&video, &audio] {
        for pair in list.windows(2) {
            assert!(
                pair[0].1 <= pair[1].1,
                "timestamps go back: {} {}",
                pair[0].1,
                pair[1].1
            );
        }
    }
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Unpublished { .. } | Event::StreamDeleted { .. })));
}

/// Replays `recorded` in several splits; each gives `expected`'s events.
fn check_replays(recorded: &[u8], expected: &[Event]) {
    // Not the whole recording at once: the caller accepts the publish
    // between reads, and one read holding the publish and the end of the
    // stream would see the stream deleted before it was accepted.
    let splits: [(&str, Vec<usize>); 4] = [
        ("1 byte", vec![1]),
        ("7 bytes", vec![7]),
        ("4096 bytes", vec![4096]),
        ("random", random_sizes(1000)),
    ];
    for (name, sizes) in splits {
        let events = replay(recorded, &sizes);
        assert_eq!(events.len(), expected.len(), "split {name}");
        assert!(events == expected, "split {name} gives other events");
    }
}

#[test]
fn ffmpeg_publish_delivers_sequence_headers_and_frames_and_replays() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let url = format!("rtmp://127.0.0.1:{port}/live/test");
    let ffmpeg = spawn_ffmpeg(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "3",
        "-c:v",
        "libx264",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-f",
        "flv",
        &url,
    ]);
    let stream = accept(&listener, Duration::from_secs(20));
    let served = serve(stream, Duration::from_secs(30), accept_all);
    let (ok, _, stderr) = finish(ffmpeg, Duration::from_secs(10));
    assert_eq!(served.error, None);
    assert!(ok, "ffmpeg failed: {stderr}");
    check_publish(&served.events, 50);
    check_replays(&served.recorded, &served.events);
}

#[test]
fn the_committed_recording_replays_in_any_split() {
    let recorded = std::fs::read(fixture_path()).expect("the committed recording");
    // ffmpeg signs its C1: the digest handshake is recognised.
    let mut session = ServerSession::new(SessionConfig::default(), Instant::now());
    session
        .receive(&recorded[..1537], Instant::now())
        .expect("C0 C1");
    assert!(
        matches!(session.handshake_mode(), Some(HandshakeMode::Digest(_))),
        "{:?}",
        session.handshake_mode()
    );
    let events = replay(&recorded, &[4096]);
    check_publish(&events, 20);
    check_replays(&recorded, &events);
}

#[test]
fn recorded_media_demuxes_into_h264_and_aac_frames() {
    let recorded = std::fs::read(fixture_path()).expect("the committed recording");
    let events = replay(&recorded, &[4096]);
    let mut demuxer = TagDemuxer::new();
    let mut tracks = Vec::new();
    let mut frames = Vec::new();
    for (kind, timestamp, payload) in media(&events) {
        match demuxer.push_tag_bytes(kind.tag_type(), timestamp, payload) {
            Ok(Some(TagEvent::Track(track))) => tracks.push(track),
            Ok(Some(TagEvent::Frame(frame))) => frames.push(frame),
            Ok(_) => {}
            Err(e) => panic!("tag refused: {e}"),
        }
    }
    let codecs: Vec<Codec> = tracks.iter().map(|t| t.codec).collect();
    assert!(
        codecs.contains(&Codec::H264) && codecs.contains(&Codec::Aac),
        "{codecs:?}"
    );
    let video = demuxer.video_track().expect("video track");
    assert!(frames.iter().any(|f| f.track == video.id && f.keyframe));
    assert!(frames.iter().filter(|f| f.track == video.id).count() >= 20);
}

/// Records a short publish exactly as the committed `testdata/ffmpeg-publish.rtmp`
/// was made and checks it; with `BRUME_UPDATE_FIXTURES=1` it also writes it over
/// the committed file (see `testdata/README.md`).
#[test]
fn the_fixture_recording_procedure_still_works() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let url = format!("rtmp://127.0.0.1:{port}/live/test");
    let ffmpeg = spawn_ffmpeg(&[
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=22050",
        "-t",
        "1.2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-b:v",
        "150k",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-ac",
        "1",
        "-b:a",
        "32k",
        "-f",
        "flv",
        &url,
    ]);
    let stream = accept(&listener, Duration::from_secs(20));
    let served = serve(stream, Duration::from_secs(30), accept_all);
    let (ok, _, stderr) = finish(ffmpeg, Duration::from_secs(10));
    assert!(ok, "ffmpeg failed: {stderr}");
    assert_eq!(served.error, None);
    check_publish(&served.events, 20);
    if std::env::var_os("BRUME_UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture_path(), &served.recorded).expect("write the recording");
    }
}
