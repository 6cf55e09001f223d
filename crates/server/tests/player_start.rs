//! The player page's start time (`/S.html?t=…`) in a real browser (headless
//! Chromium) against the real binary: playback of an on-demand file begins at
//! that time, over MP4-over-WebSocket (the default) and over progressive MP4.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::{make_clip, Brume};
use serde_json::json;

/// Where the page asks to start (s), and the clip's length (s).
const START: f64 = 12.0;
const CLIP_SECONDS: u32 = 30;

/// The video's position once it plays (a number), or null before.
const PLAYING_AT: &str = "(() => { const v = document.querySelector('video'); \
    return v && !v.paused && v.readyState >= 3 && v.currentTime > 0 ? v.currentTime : null; })()";

#[test]
fn the_player_page_starts_playback_at_t() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), CLIP_SECONDS, 30);
    let brume = Brume::start_in(dir, json!({"clip": {"source": "clip.mp4"}}));
    let browser = Browser::launch();
    for (query, how) in [
        ("?t=12", "MP4 over WebSocket"),
        ("?t=0h0m12s&forceType=html5/video/mp4", "progressive MP4"),
    ] {
        let mut page = browser.open_page();
        page.navigate(&brume.url(&format!("/clip.html{query}")));
        let began = page
            .wait_for(how, PLAYING_AT, Duration::from_secs(40))
            .as_f64()
            .unwrap();
        // From the keyframe at or before t (one a second), never from the start.
        assert!(
            (START - 1.5..START + 3.0).contains(&began),
            "{how}: playback began at {began} s, not at {START} s; console:\n{}",
            page.messages.join("\n")
        );
        let playback = page.watch_video(2.0, Duration::from_secs(20));
        assert!(
            playback.played >= 2.0 && playback.error.is_none(),
            "{how}: {playback:?}"
        );
        let now = playback.last["t"].as_f64().unwrap();
        assert!(
            now > START,
            "{how}: at {now} s after playing from {began} s"
        );
        assert!(
            page.player_errors().is_empty(),
            "{how}: {:?}",
            page.player_errors()
        );
    }
}
