//! The player page (`/S.html`), `/player.js` and `/embed_S.js` as a browser
//! receives them: the relative player script, the `mistPlay` call with the public
//! base and page options, working fallback links, and no way for a header or query
//! value to inject markup.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const XSS_BASE: &str = "http://x/\"></script><script>alert(1)</script>";

fn brume() -> Brume {
    Brume::start(json!({
        "demo": {"source": "builtin:demo", "loop": true},
        "my cam": {"source": "builtin:demo", "loop": true},
    }))
}

fn fetch(brume: &Brume, path: &str, headers: &[(&str, &str)]) -> (Response, String) {
    let response = request("GET", &brume.url(path), headers, Duration::from_secs(10));
    assert_eq!(response.status, 200, "{path}");
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=0, s-maxage=1"),
        "{path}"
    );
    let text = String::from_utf8(response.body.clone()).unwrap();
    (response, text)
}

/// What `web/player.js` holds (the binary embeds it).
fn player_source() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/player.js")).unwrap()
}

#[test]
fn the_page_loads_player_js_relatively_and_plays_the_stream() {
    let brume = brume();
    let (response, page) = fetch(&brume, "/demo.html", &[]);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("<script src=\"player.js\"></script>"),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "mistPlay('demo', {{host: '{}', target: document.getElementById('mistvideo'), fillSpace: true}});",
            brume.http
        )),
        "{page}"
    );
    // The <noscript> fallback links resolve next to the page and play.
    assert!(page.contains("<noscript>"));
    for link in ["hls/demo/index.m3u8", "demo.mp4"] {
        assert!(page.contains(&format!("href=\"{link}\"")), "{page}");
        let got = request(
            "GET",
            &brume.url(&format!("/{link}")),
            &[],
            Duration::from_millis(1500),
        );
        assert_eq!(got.status, 200, "{link}");
    }
}

#[test]
fn page_options_come_from_the_query() {
    let brume = brume();
    let (_, page) = fetch(
        &brume,
        "/demo.html?muted&forceType=html5%2Fvideo%2Fmp4&autoplay=0&forcePlayer=mews&t=1h2m3s",
        &[],
    );
    for option in [
        "autoplay: false",
        "muted: true",
        "forceType: 'html5/video/mp4'",
        "forcePlayer: 'mews'",
        "startTime: 3723",
    ] {
        assert!(page.contains(option), "{option} missing: {page}");
    }
}

#[test]
fn behind_a_proxy_the_page_and_player_use_x_mst_path() {
    let brume = brume();
    let proxied = [("X-Mst-Path", "https://example.com/mistserver/")];
    let (response, page) = fetch(&brume, "/demo.html", &proxied);
    assert!(response
        .header("vary")
        .is_some_and(|v| v.contains("X-Mst-Path")));
    assert!(
        page.contains("host: 'https://example.com/mistserver'"),
        "{page}"
    );
    assert!(page.contains("<script src=\"player.js\"></script>"));

    let (_, player) = fetch(&brume, "/player.js", &proxied);
    assert_eq!(
        player.lines().next().unwrap(),
        "if (typeof mistoptions == 'undefined'){mistoptions = {};} if (!('host' in mistoptions)){mistoptions.host = 'https://example.com/mistserver';}"
    );
}

#[test]
fn player_js_sets_the_default_host_then_defines_the_player() {
    let brume = brume();
    let (response, player) = fetch(&brume, "/player.js", &[]);
    assert_eq!(
        response.header("content-type"),
        Some("application/javascript")
    );
    assert_eq!(
        player.lines().next().unwrap(),
        format!(
            "if (typeof mistoptions == 'undefined'){{mistoptions = {{}};}} if (!('host' in mistoptions)){{mistoptions.host = '{}';}}",
            brume.http
        )
    );
    assert!(player.contains(&player_source()));
}

#[test]
fn the_embed_script_writes_a_div_and_calls_mist_play() {
    let brume = brume();
    let (response, embed) = fetch(&brume, "/embed_demo.js", &[]);
    assert_eq!(
        response.header("content-type"),
        Some("application/javascript")
    );
    assert!(embed.starts_with("if (typeof mistoptions == 'undefined')"));
    assert!(embed.contains(&player_source()));
    assert!(embed.contains("<div class=\"mistvideo\"></div>"), "{embed}");
    assert!(embed.contains("document.currentScript"));
    assert!(
        embed.contains(&format!(
            "mistPlay('demo', {{host: '{}', target: target}});",
            brume.http
        )),
        "{embed}"
    );
}

#[test]
fn names_needing_encoding_are_encoded_in_links_and_escaped_in_script() {
    let brume = brume();
    let (_, page) = fetch(&brume, "/my%20cam.html", &[]);
    assert!(page.contains("mistPlay('my cam', "), "{page}");
    assert!(page.contains("href=\"my%20cam.mp4\""), "{page}");
    assert!(page.contains("href=\"hls/my%20cam/index.m3u8\""), "{page}");
    assert!(page.contains("<title>my cam</title>"));
    let (_, embed) = fetch(&brume, "/embed_my%20cam.js", &[]);
    assert!(embed.contains("mistPlay('my cam', "));
}

#[test]
fn hostile_headers_and_queries_never_become_markup() {
    let brume = brume();
    let hostile = [("X-Mst-Path", XSS_BASE)];
    for path in [
        "/demo.html",
        "/player.js",
        "/embed_demo.js",
        "/json_demo.js",
        "/info_demo.js",
    ] {
        let (_, body) = fetch(&brume, path, &hostile);
        assert!(!body.contains("<script>alert"), "{path}: {body}");
        assert!(!body.contains("alert(1)"), "{path} kept the header: {body}");
    }
    // The malformed base was ignored: the page falls back to the Host header.
    let (_, page) = fetch(&brume, "/demo.html", &hostile);
    assert!(page.contains(&format!("host: '{}'", brume.http)), "{page}");

    let (_, page) = fetch(
        &brume,
        "/demo.html?forceType=%22%3E%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&forcePlayer=%27%29%3Balert(2)%3B%2F%2F",
        &[],
    );
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("');alert(2)"), "{page}");
    assert!(
        page.contains("forceType: '\\u0022\\u003e\\u003c/script\\u003e"),
        "{page}"
    );

    // A forwarded host from a trusted proxy is validated the same way.
    let (_, page) = fetch(
        &brume,
        "/demo.html",
        &[("X-Forwarded-Host", "evil\"><script>alert(3)</script>")],
    );
    assert!(!page.contains("<script>alert"), "{page}");
}

#[test]
fn head_answers_the_page_headers_only() {
    let brume = brume();
    let head = request(
        "HEAD",
        &brume.url("/demo.html"),
        &[],
        Duration::from_millis(800),
    );
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(head.body.is_empty());
}
