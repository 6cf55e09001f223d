//! Browser DASH players against Brume's live MPD: dash.js and Shaka Player (npm
//! packages in `tests/fixtures/dash-players/`, installed by scripts/test) play the
//! looping demo stream's `/cmaf/demo/index.mpd` in headless Chromium for 20 s of
//! media. Each must play through without an error, without stalling once playing,
//! and without requesting a media segment it already had (a client that goes
//! backwards on a manifest refresh re-reads media: wasted bandwidth and glitches).
//!
//! A missing player package or Chromium fails the test loudly.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use common::browser::{js_literal, Browser};
use common::{get, Brume};
use serde_json::json;

/// Media time each player must play.
const PLAY_SECONDS: f64 = 20.0;

/// Where scripts/test installs the players.
fn players_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dash-players/node_modules")
}

/// The player's script, or a loud failure naming the install step.
fn player_script(relative: &str) -> PathBuf {
    let path = players_dir().join(relative);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test, or `npm install` in {}",
        path.display(),
        players_dir().parent().expect("fixtures dir").display()
    );
    path
}

/// Brume with the looping demo stream, once its live MPD lists three segments.
fn live_demo() -> Brume {
    let brume = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let mpd = brume.url("/cmaf/demo/index.mpd");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = String::from_utf8_lossy(&get(&mpd).body).into_owned();
        let listed: usize = body
            .lines()
            .filter(|l| l.contains("<S "))
            .map(|l| {
                1 + l
                    .split("r=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|r| r.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum();
        // Both adaptation sets list the same segments.
        if listed / 2 >= 3 {
            return brume;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the live MPD lists fewer than 3 segments after 30 s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Plays `mpd` with the page script `start` (given `video` and `MPD`), and checks
/// the playback as the module doc says.
fn plays_live_without_rereads(name: &str, script: PathBuf, start: &str) {
    let brume = live_demo();
    let mpd = brume.url("/cmaf/demo/index.mpd");
    let dir = tempfile::tempdir().expect("page dir");
    let page_path = dir.path().join("page.html");
    // Stalls are counted once playback has started: `waiting` after `playing`.
    let html = format!(
        "<!doctype html><html><body><video muted autoplay playsinline width=640></video>\n\
         <script src=\"file://{script}\"></script>\n\
         <script>\n\
         window.playerErrors = []; window.stalls = 0; window.started = false;\n\
         const video = document.querySelector('video');\n\
         video.addEventListener('playing', () => {{ window.started = true; }});\n\
         video.addEventListener('waiting', () => {{ if (window.started) window.stalls++; }});\n\
         const MPD = {mpd};\n\
         (async () => {{ {start} }})().catch(e => window.playerErrors.push(String(e && (e.message || e.code) || e)));\n\
         </script></body></html>",
        script = script.display(),
        mpd = js_literal(&mpd),
    );
    std::fs::write(&page_path, html).expect("write page");

    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&format!("file://{}", page_path.display()));
    let playback = page.watch_video(PLAY_SECONDS, Duration::from_secs(90));
    let errors = page.eval("window.playerErrors");
    let stalls = page.eval("window.stalls").as_u64().unwrap_or(0);
    let shot = page.screenshot(&format!("dash-{name}"));

    let mut fetched: HashMap<&str, usize> = HashMap::new();
    for url in page.requests.iter().filter(|u| u.ends_with(".m4s")) {
        *fetched.entry(url.as_str()).or_default() += 1;
    }
    let segments = fetched.len();
    eprintln!(
        "{name}: played {:.1} s, {segments} distinct segments",
        playback.played
    );
    let mut again: Vec<(&str, usize)> = fetched.into_iter().filter(|(_, n)| *n > 1).collect();
    again.sort();
    let context = || {
        format!(
            "{name}: played {:.1} s, state {}, errors {errors}, stalls {stalls}; screenshot {}\n\
             requests: {:?}\nconsole: {:#?}",
            playback.played,
            playback.last,
            shot.display(),
            page.requests,
            page.messages
        )
    };
    assert!(
        playback.played >= PLAY_SECONDS && playback.error.is_none(),
        "{name} must play {PLAY_SECONDS} s of the live stream: {}",
        context()
    );
    assert_eq!(errors, json!([]), "{name} reported errors: {}", context());
    assert_eq!(stalls, 0, "{name} stalled once playing: {}", context());
    // 20 s of 2 s segments, audio and video: the requests were seen.
    assert!(
        segments >= 16,
        "{name} fetched only {segments} distinct segments: {}",
        context()
    );
    assert!(
        again.is_empty(),
        "{name} requested segments it already had: {again:?}\n{}",
        context()
    );
}

#[test]
fn dash_js_plays_the_live_mpd_without_rereading_or_stalling() {
    let script = player_script("dashjs/dist/modern/umd/dash.all.min.js");
    plays_live_without_rereads(
        "dash.js",
        script,
        "const player = dashjs.MediaPlayer().create();\n\
         player.on(dashjs.MediaPlayer.events.ERROR, e => window.playerErrors.push(JSON.stringify(e.error || e)));\n\
         player.initialize(video, MPD, true);",
    );
}

#[test]
fn shaka_player_plays_the_live_mpd_without_rereading_or_stalling() {
    let script = player_script("shaka-player/dist/shaka-player.dash.js");
    plays_live_without_rereads(
        "shaka",
        script,
        "shaka.polyfill.installAll();\n\
         const player = new shaka.Player();\n\
         await player.attach(video);\n\
         player.addEventListener('error', e => window.playerErrors.push(String(e.detail && e.detail.code)));\n\
         await player.load(MPD);",
    );
}
