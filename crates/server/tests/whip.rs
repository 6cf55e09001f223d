//! WHIP ingest: headless Chromium publishes its fake camera and microphone
//! (H.264 + Opus) to a push stream with a bearer token; ffmpeg decodes the
//! stream's video and audio (made AAC in-process) from progressive MP4 and from
//! HLS with CMAF segments, and a second Chromium page plays it over WHEP, directly
//! and through the guide's nginx configuration. Bad offers, a second publisher
//! and wrong tokens get clear errors, and wrong tokens are rate limited.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use common::browser::Browser;
use common::proxy::{Proxy, ProxyKind};
use common::webrtc::{chromium_offer, plays_through_whep, post_sdp, publish_whip, wait_live};
use common::{probe_codecs, run_tool, Brume};
use serde_json::json;

const TOKEN: &str = "s3cret-token";

fn start() -> Brume {
    Brume::start_with(
        tempfile::tempdir().expect("temp dir"),
        json!({
            "webrtc": {"listen": "127.0.0.1:0"},
            "streams": {"cam": {"source": "push://", "password": TOKEN}},
        }),
    )
}

/// Decodes 3 s of `url` with ffmpeg: (video frames, audio frames, error lines).
fn decode_both(url: &str) -> (usize, usize, String) {
    let out = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-i",
            url,
            "-t",
            "3",
            "-map",
            "0:v:0",
            "-map",
            "0:a:0",
            "-f",
            "framecrc",
            "-",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |index: &str| {
        text.lines()
            .filter(|l| l.split(',').next().map(str::trim) == Some(index))
            .count()
    };
    (
        count("0"),
        count("1"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn chromium_publishes_with_whip_and_every_output_plays_it() {
    let brume = start();
    let browser = Browser::launch();
    let mut publisher = browser.open_page();
    publisher.navigate(&brume.url("/"));
    let whip = publish_whip(&mut publisher, &brume.url("/whip/cam"), TOKEN);
    assert_eq!(whip["status"], 201, "{whip}");
    assert!(
        whip["location"]
            .as_str()
            .is_some_and(|l| l.starts_with("cam/")),
        "{whip}"
    );
    wait_live(&brume, "cam");
    let second = post_sdp(
        &brume,
        "/whip/cam",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "v=0\r\n",
    );
    assert_eq!(second.status, 409, "a second publisher while one is live");

    // Progressive MP4 and HLS (CMAF): H.264 video and AAC audio that decode.
    for url in [brume.url("/cam.mp4"), brume.url("/cmaf/cam/index.m3u8")] {
        let codecs = probe_codecs(&url);
        assert_eq!(codecs, vec!["aac", "h264"], "{url}");
        let (video, audio, errors) = decode_both(&url);
        assert!(video >= 30, "{url}: {video} video frames decoded; {errors}");
        assert!(audio >= 30, "{url}: {audio} audio frames decoded; {errors}");
    }

    // WebRTC viewers, directly and through nginx.
    plays_through_whep(&brume.url("/"), &brume.url("/whep/cam"));
    let proxy = Proxy::start(ProxyKind::Nginx, &brume);
    plays_through_whep(&proxy.url("http", "/"), &proxy.url("http", "/webrtc/cam"));

    // Browsers send keyframes only when asked: Brume asks whenever the latest is
    // older than 2 s, so the video playlist's segments stay short.
    let text =
        |path: &str| String::from_utf8_lossy(&common::get(&brume.url(path)).body).into_owned();
    let master = text("/cmaf/cam/index.m3u8");
    let video = master
        .lines()
        .find(|l| !l.starts_with('#') && l.contains(".m3u8"))
        .unwrap_or_else(|| panic!("no media playlist in {master}"));
    let media = text(&format!("/cmaf/cam/{video}"));
    let durations: Vec<f64> = media
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|d| d.split(',').next()?.parse().ok())
        .collect();
    assert!(durations.len() >= 3, "{media}");
    assert!(
        durations.iter().all(|&d| d <= 4.5),
        "segments of at most ~2-3 s: {durations:?}"
    );

    // The publisher's DELETE ends the push.
    let location = whip["location"].as_str().unwrap_or_default();
    let ended = publisher.eval(&format!(
        "(async () => (await fetch('/whip/' + {}, {{ method: 'DELETE' }})).status)()",
        common::browser::js_literal(location)
    ));
    assert_eq!(ended, 200, "DELETE of the WHIP session");
}

#[test]
fn bad_whip_offers_and_wrong_tokens_get_clear_errors() {
    let brume = Brume::start_with(
        tempfile::tempdir().expect("temp dir"),
        json!({
            "webrtc": {"listen": "127.0.0.1:0"},
            "streams": {
                "cam": {"source": "push://", "password": TOKEN},
                "demo": {"source": "builtin:demo", "loop": true},
            },
        }),
    );
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&brume.url("/"));
    let vp8_only = chromium_offer(&mut page, "video/VP8", true);
    let h264 = chromium_offer(&mut page, "video/H264", true);
    let bearer = format!("Bearer {TOKEN}");
    let authorized = [("Authorization", bearer.as_str())];
    let body = |r: &common::Response| String::from_utf8_lossy(&r.body).into_owned();

    let unknown = post_sdp(&brume, "/whip/nosuch", &authorized, &h264);
    assert_eq!(unknown.status, 404, "{}", body(&unknown));
    let garbage = post_sdp(&brume, "/whip/cam", &authorized, "hello");
    assert_eq!(garbage.status, 400);
    assert!(
        body(&garbage).contains("malformed SDP"),
        "{}",
        body(&garbage)
    );
    let vp8 = post_sdp(&brume, "/whip/cam", &authorized, &vp8_only);
    assert_eq!(vp8.status, 406, "{}", body(&vp8));
    assert!(
        body(&vp8).contains("VP8") && body(&vp8).contains("H.264"),
        "says what was offered and what is needed: {}",
        body(&vp8)
    );
    let not_push = post_sdp(&brume, "/whip/demo", &[], &h264);
    assert_eq!(not_push.status, 409, "{}", body(&not_push));
    assert!(body(&not_push).contains("not configured for pushes"));

    // Wrong or missing tokens: 401 until the address is limited, then 429
    // (with Retry-After) even for the right token.
    let missing = post_sdp(&brume, "/whip/cam", &[], &h264);
    assert_eq!(missing.status, 401, "{}", body(&missing));
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    for attempt in 2..=5 {
        let wrong = post_sdp(
            &brume,
            "/whip/cam",
            &[("Authorization", "Bearer not-the-token")],
            &h264,
        );
        assert_eq!(wrong.status, 401, "wrong token {attempt}: {}", body(&wrong));
        assert!(!body(&wrong).contains(TOKEN));
    }
    let limited = post_sdp(&brume, "/whip/cam", &authorized, &h264);
    assert_eq!(limited.status, 429, "{}", body(&limited));
    assert!(limited
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| (1..=60).contains(&s)));
    assert!(
        !brume.log_lines().iter().any(|l| l.contains(TOKEN)),
        "the token is never logged"
    );
}
