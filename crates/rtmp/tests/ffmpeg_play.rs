//! ffmpeg plays from a [`ServerSession`]: the session accepts the play and
//! sends the media of the committed publish recording with `send_media`;
//! ffmpeg (which checks the digest handshake's signatures as a player)
//! decodes every frame. A refused play makes ffmpeg fail with the reason.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use brume_rtmp::{Event, HandshakeMode, MediaKind};
use common::*;

#[test]
fn ffmpeg_plays_media_sent_with_send_media() {
    let recorded = std::fs::read(fixture_path()).expect("the committed recording");
    let events = replay(&recorded, &[4096]);
    let metadata = events
        .iter()
        .find_map(|e| match e {
            Event::Metadata { value, .. } => Some(value.clone()),
            _ => None,
        })
        .expect("metadata in the recording");
    let media = media(&events);
    let video_frames = media
        .iter()
        .filter(|m| m.0 == MediaKind::Video && m.2[1] == 1)
        .count();

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let url = format!("rtmp://127.0.0.1:{port}/play/test");
    let ffmpeg = spawn_ffmpeg(&["-i", &url, "-f", "framecrc", "-"]);
    let stream = accept(&listener, Duration::from_secs(20));
    let mut requested = None;
    let served = serve(stream, Duration::from_secs(30), |session, event| {
        if let Event::PlayRequested {
            stream_id,
            app,
            name,
        } = event
        {
            requested = Some((app.clone(), name.clone()));
            session.accept_play(*stream_id);
            assert!(session.send_metadata(*stream_id, &metadata));
            for (kind, timestamp, payload) in &media {
                assert!(session.send_media(*stream_id, *kind, *timestamp, payload));
            }
            session.end_play(*stream_id);
        }
    });
    let (ok, framecrc, stderr) = finish(ffmpeg, Duration::from_secs(20));
    assert_eq!(served.error, None);
    assert!(ok, "ffmpeg failed: {stderr}");
    assert_eq!(requested, Some(("play".to_string(), "test".to_string())));
    assert!(
        matches!(served.handshake, Some(HandshakeMode::Digest(_))),
        "{:?}",
        served.handshake
    );
    // framecrc: one line per decoded frame, "stream index, dts, pts, ...".
    let count = |index: &str| {
        framecrc
            .lines()
            .filter(|l| l.split(',').next().map(str::trim) == Some(index))
            .count()
    };
    let (first, second) = (count("0"), count("1"));
    assert!(
        first.max(second) >= video_frames && first.min(second) >= 20,
        "decoded {first} and {second} frames of {video_frames} video frames\n{stderr}"
    );
}

#[test]
fn a_refused_play_fails_ffmpeg_with_the_reason() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let url = format!("rtmp://127.0.0.1:{port}/play/missing");
    let ffmpeg = spawn_ffmpeg(&["-i", &url, "-f", "null", "-"]);
    let stream = accept(&listener, Duration::from_secs(20));
    let served = serve(stream, Duration::from_secs(30), |session, event| {
        if let Event::PlayRequested { stream_id, .. } = event {
            session.reject_play(*stream_id, "No stream named missing.");
        }
    });
    let (ok, _, stderr) = finish(ffmpeg, Duration::from_secs(20));
    assert_eq!(served.error, None);
    assert!(!ok, "ffmpeg should fail");
    assert!(stderr.contains("No stream named missing."), "{stderr}");
}
