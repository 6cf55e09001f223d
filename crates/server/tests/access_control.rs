//! Viewer access control with real players: signed URLs (`?tkn=`) open a
//! `token` stream over HLS, MP4 and MEWS, and Brume carries the token into the
//! media playlists and stream info it hands out; a missing, expired, altered
//! or other stream's token is refused; segments stay token-free and are still
//! cached by nginx's proxy_cache; address allow/deny lists refuse by CIDR; the
//! player page with a signed URL plays in Chromium behind the guide's nginx; the
//! API sets triggers and mints tokens.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::edge::{Edge, EdgeKind};
use common::{decode_video_frames, request, Brume};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

const KEY: &str = "a-test-key-of-32-bytes-or-so-123";

/// A token as the README tells a site's backend to make one: EXPIRY, a dot, and
/// the hex HMAC-SHA256 of `STREAM\nEXPIRY` under the key.
fn token(stream: &str, expires: u64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).unwrap();
    mac.update(format!("{stream}\n{expires}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{expires}.{hex}")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token_server() -> Brume {
    Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "tokens": {"key": KEY},
            "streams": {
                "demo": {"source": "builtin:demo", "loop": true, "access": "token"},
                "open": {"source": "builtin:demo", "loop": true},
            }
        }),
    )
}

fn status_of(brume: &Brume, path: &str) -> (u16, String) {
    let r = request("GET", &brume.url(path), &[], Duration::from_secs(3));
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// Waits for two segments in `path`'s playlist; returns the playlist.
fn wait_for_segments(brume: &Brume, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = status_of(brume, path);
        if status == 200 && text.lines().filter(|l| l.ends_with(".ts")).count() >= 2 {
            return text;
        }
        assert!(Instant::now() < deadline, "{path}: {status} {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ws_status(brume: &Brume, path: &str) -> u16 {
    let url = format!("ws://{}{}", brume.addr(), path);
    match tungstenite::connect(url.as_str()) {
        Ok((mut ws, response)) => {
            let _ = ws.close(None);
            response.status().as_u16()
        }
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("WebSocket failed: {other}"),
    }
}

#[test]
fn a_signed_url_plays_and_missing_expired_or_altered_ones_are_refused() {
    let brume = token_server();
    let good = token("demo", now() + 600);
    let media = wait_for_segments(&brume, &format!("/hls/demo/media.m3u8?tkn={good}"));

    // HLS through the master playlist: its media playlist URIs carry the token.
    let (status, master) = status_of(&brume, &format!("/hls/demo/index.m3u8?tkn={good}"));
    assert_eq!(status, 200);
    assert!(
        master.contains(&format!("media.m3u8?tkn={good}")),
        "{master}"
    );
    let (frames, errors) = decode_video_frames(
        &brume.url(&format!("/hls/demo/index.m3u8?tkn={good}")),
        Some(3.0),
    );
    assert!(
        frames > 30,
        "the signed HLS URL decoded {frames} frames: {errors}"
    );
    // Progressive MP4 and MEWS.
    let (frames, errors) =
        decode_video_frames(&brume.url(&format!("/demo.mp4?tkn={good}")), Some(1.5));
    assert!(
        frames > 10,
        "the signed MP4 URL decoded {frames} frames: {errors}"
    );
    assert_eq!(ws_status(&brume, &format!("/demo.mp4?tkn={good}")), 101);
    assert_eq!(ws_status(&brume, "/demo.mp4"), 403);

    // Stream info hands out source URLs with the token; the page passes it on.
    let info = request(
        "GET",
        &brume.url(&format!("/json_demo.js?tkn={good}")),
        &[],
        Duration::from_secs(3),
    )
    .json();
    let sources = info["source"].as_array().unwrap();
    assert!(!sources.is_empty());
    for source in sources {
        let url = source["url"].as_str().unwrap();
        assert!(url.ends_with(&format!("tkn={good}")), "{url}");
    }
    let (_, page) = status_of(&brume, &format!("/demo.html?tkn={good}"));
    assert!(
        page.contains(&format!("urlappend: '?tkn={good}'")),
        "{page}"
    );

    // Refused: no token, expired, altered, another stream's.
    let expired = token("demo", now() - 1);
    let mut altered = good.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    let other = token("open", now() + 600);
    for (query, reason) in [
        (String::new(), "needs a signed URL"),
        (format!("?tkn={expired}"), "expired"),
        (format!("?tkn={altered}"), "not valid"),
        (format!("?tkn={other}"), "not valid"),
        ("?tkn=garbage".to_owned(), "malformed"),
    ] {
        for path in [
            "/hls/demo/index.m3u8",
            "/hls/demo/media.m3u8",
            "/demo.mp4",
            "/cmaf/demo/index.mpd",
        ] {
            let (status, body) = status_of(&brume, &format!("{path}{query}"));
            assert_eq!(status, 403, "{path}{query}: {body}");
            assert!(body.contains(reason), "{path}{query}: {body}");
        }
    }
    // Segments stay the same for every viewer: no token in their URLs.
    let segment = media.lines().find(|l| l.ends_with(".ts")).unwrap();
    assert!(!segment.contains("tkn"), "{segment}");
    let (status, _) = status_of(&brume, &format!("/hls/demo/{segment}"));
    assert_eq!(status, 200);
    // A public stream needs nothing.
    let (status, _) = status_of(&brume, "/hls/open/index.m3u8");
    assert_eq!(status, 200);
}

#[test]
fn address_lists_refuse_by_cidr() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {
            "deny": {"source": "builtin:demo", "loop": true, "ip_deny": ["10.9.0.0/16"]},
            "allow": {"source": "builtin:demo", "loop": true, "ip_allow": ["192.168.7.0/24", "::1/128"]},
        }}),
    );
    let from = |path: &str, ip: &str| {
        let r = request(
            "GET",
            &brume.url(path),
            &[("X-Forwarded-For", ip)],
            Duration::from_secs(3),
        );
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    };
    let (status, body) = from("/hls/deny/index.m3u8", "10.9.3.4");
    assert_eq!(status, 403);
    assert!(body.contains("address"), "{body}");
    assert_eq!(from("/hls/deny/index.m3u8", "10.8.3.4").0, 200);
    assert_eq!(from("/hls/allow/index.m3u8", "192.168.7.20").0, 200);
    assert_eq!(from("/allow.mp4", "192.168.8.20").0, 403);
}

#[test]
fn nginx_proxy_cache_still_caches_the_segments_of_a_token_stream() {
    let brume = token_server();
    let edge = Edge::start(EdgeKind::Nginx, common::proxy::brume_port(&brume));
    let through = |path: &str| request("GET", &edge.url(path), &[], Duration::from_secs(3));
    let good = token("demo", now() + 600);
    // Wait at the origin, then fetch the media playlist through the edge.
    wait_for_segments(&brume, &format!("/hls/demo/media.m3u8?tkn={good}"));
    let playlist = through(&format!("/hls/demo/media.m3u8?tkn={good}"));
    assert_eq!(playlist.status, 200, "{}", edge.log());
    let text = String::from_utf8_lossy(&playlist.body).into_owned();
    let segment = text
        .lines()
        .rev()
        .find(|l| l.ends_with(".ts"))
        .unwrap()
        .to_owned();
    // The playlist without a token is refused through the edge too, every time
    // (a refusal is never stored for the next viewer).
    for _ in 0..2 {
        assert_eq!(through("/hls/demo/media.m3u8").status, 403);
    }
    // The segment: fetched once from the origin, then served from the cache to
    // every viewer, whatever their token.
    let first = through(&format!("/hls/demo/{segment}"));
    assert_eq!(first.status, 200);
    let again = through(&format!("/hls/demo/{segment}"));
    assert_eq!(again.status, 200);
    assert_eq!(
        edge.cache_status(&again),
        Some("HIT"),
        "{:?}",
        again.headers
    );
    assert_eq!(again.body, first.body);
}

#[test]
fn triggers_and_tokens_through_the_api() {
    let brume = token_server();
    let api = api_client::Client::of(&brume);
    // A token minted by the API opens the stream.
    let minted = api.post("/api/v1/streams/demo/token", r#"{"ttl_s": 120}"#);
    assert_eq!(minted.status, 200, "{:?}", minted);
    let minted = minted.json();
    let expires = minted["expires"].as_u64().unwrap();
    assert!((now() + 100..=now() + 121).contains(&expires), "{minted}");
    assert_eq!(minted["token"], token("demo", expires));
    let query = minted["query"].as_str().unwrap();
    assert_eq!(
        status_of(&brume, &format!("/hls/demo/index.m3u8?{query}")).0,
        200
    );
    assert_eq!(api.post("/api/v1/streams/nope/token", "{}").status, 404);
    assert_eq!(
        api.post("/api/v1/streams/demo/token", r#"{"ttl_s": 0}"#)
            .status,
        400
    );

    // Triggers set through the API apply at once and are saved to the file.
    let backend = common::hook_backend::Backend::start(|_, _| Some("false".to_owned()));
    let put = api.put(
        "/api/v1/triggers",
        &json!({"USER_NEW": [{"handler": backend.url, "sync": true, "streams": ["open"]}]})
            .to_string(),
    );
    assert_eq!(put.status, 200, "{:?}", put);
    let (status, body) = status_of(&brume, "/hls/open/index.m3u8");
    assert_eq!(status, 403, "{body}");
    let listed = api.get("/api/v1/triggers").json();
    assert_eq!(
        listed["triggers"]["USER_NEW"][0]["handler"],
        backend.url.as_str()
    );
    assert!(listed["events"].as_array().unwrap().len() >= 12);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&brume.config_path).unwrap()).unwrap();
    assert_eq!(saved["triggers"]["USER_NEW"][0]["sync"], true);
    // A bad handler is refused with the field named; nothing changes.
    let bad = api.put(
        "/api/v1/triggers",
        r#"{"USER_NEW": [{"handler": "hook.sh"}]}"#,
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "USER_NEW[0].handler");
    let bad = api.put("/api/v1/triggers", r#"{"NOPE": []}"#);
    assert_eq!(bad.status, 400);
    // Removing them opens the stream again.
    assert_eq!(api.put("/api/v1/triggers", "{}").status, 200);
    assert_eq!(status_of(&brume, "/hls/open/index.m3u8").0, 200);
}

/// The player page with a signed URL plays in Chromium behind the guide's nginx:
/// player.js needs no change, every document it asks for carries the token, and
/// no segment URL does; without the token the player gets nothing to play.
#[test]
fn a_signed_player_page_plays_in_chromium_behind_nginx() {
    use common::browser::Browser;
    use common::proxy::{Proxy, ProxyKind};
    let browser = Browser::launch();
    let brume = token_server();
    let proxy = Proxy::start(ProxyKind::Nginx, &brume);
    let good = token("demo", now() + 600);
    wait_for_segments(&brume, &format!("/hls/demo/media.m3u8?tkn={good}"));

    let mut page = browser.open_page();
    page.navigate(&proxy.url("http", &format!("demo.html?tkn={good}")));
    let playback = page.watch_video(2.0, Duration::from_secs(30));
    let shot = page.screenshot("nginx-signed-page");
    assert!(
        playback.played >= 2.0 && playback.error.is_none() && page.player_errors().is_empty(),
        "the signed page did not play ({}): {playback:?}\nrequests: {:#?}\nconsole: {:#?}",
        shot.display(),
        page.requests,
        page.messages
    );
    let asked: Vec<&String> = page
        .requests
        .iter()
        .filter(|u| u.contains("/mistserver/"))
        .collect();
    for url in &asked {
        let document = url.contains("json_demo.js")
            || url.contains(".m3u8")
            || url.contains(".mpd")
            || url.ends_with("demo.mp4")
            || url.contains("demo.mp4?")
            || url.contains("/whep/");
        let segment = url.ends_with(".ts") || url.ends_with(".m4s");
        if document {
            assert!(
                url.contains(&format!("tkn={good}")),
                "{url} lacks the token"
            );
        }
        if segment {
            assert!(
                !url.contains("tkn="),
                "a segment URL carries the token: {url}"
            );
        }
    }
    assert!(
        asked.iter().any(|u| u.contains("json_demo.js")),
        "{asked:#?}"
    );

    // The same page without a token: the player finds nothing it may play.
    let mut page = browser.open_page();
    page.navigate(&proxy.url("http", "demo.html"));
    let playback = page.watch_video(1.0, Duration::from_secs(8));
    assert!(
        playback.played < 0.5,
        "the page without a token played: {playback:?}"
    );
}
