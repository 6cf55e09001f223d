//! Stream info as a player sees it (`/json_S.js`, `/info_S.js`): every output listed
//! under the right public base for a direct request, behind a proxy that sends
//! `X-Mst-Path` or forwarding headers, and with configured public addresses; sorted
//! the way MistServer sorts; URLs that really answer.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Every source type a stream of H.264 + AAC gets, once per base.
const TYPES: [&str; 8] = [
    "ws/video/mp4",
    "html5/application/vnd.apple.mpegurl",
    "html5/application/vnd.apple.mpegurl;version=7",
    "dash/video/mp4",
    "html5/video/mp4",
    "flash/10",
    "flash/7",
    "html5/video/mp2t",
];

fn streams() -> Value {
    json!({
        "demo": {"source": "builtin:demo", "loop": true},
        "my cam": {"source": "builtin:demo", "loop": true},
        "cam": {"source": "push://"},
    })
}

/// Fetches `path` with `headers` until the stream is ready (at most 15 s).
fn ready_info(brume: &Brume, path: &str, headers: &[(&str, &str)]) -> Response {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let response = request("GET", &brume.url(path), headers, Duration::from_secs(10));
        assert_eq!(response.status, 200);
        let ready = serde_json::from_slice::<Value>(&response.body)
            .map(|doc| doc.get("error").is_none())
            .unwrap_or(true);
        if ready || Instant::now() > deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sources(doc: &Value) -> Vec<Value> {
    doc["source"].as_array().expect("a source list").clone()
}

fn urls(doc: &Value) -> Vec<String> {
    sources(doc)
        .iter()
        .map(|s| s["url"].as_str().unwrap().to_owned())
        .collect()
}

/// simul_tracks then priority, both descending.
fn assert_sorted(doc: &Value) {
    let keys: Vec<(i64, i64)> = sources(doc)
        .iter()
        .map(|s| {
            (
                s["simul_tracks"].as_i64().unwrap(),
                s["priority"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, sorted, "sources are not sorted: {doc}");
}

fn assert_every_type_once_per_base(doc: &Value, bases: usize) {
    for kind in TYPES {
        let count = sources(doc).iter().filter(|s| s["type"] == kind).count();
        assert_eq!(count, bases, "{kind} listed {count} times in {doc}");
    }
}

#[test]
fn a_direct_request_lists_every_output_under_its_host_and_each_url_answers() {
    let brume = Brume::start(streams());
    let response = ready_info(&brume, "/json_demo.js", &[]);
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=0, s-maxage=1")
    );
    let doc = response.json();
    assert_eq!(doc["type"], "live");
    assert_eq!(doc["meta"]["live"], 1);
    // How much of the stream is buffered right now (it grows from 0 at start).
    assert!(doc["meta"]["buffer_window"].as_i64().unwrap() >= 0);
    // What MistServer sends: `ssl` true, or its MEWS player refuses `ws/` sources.
    assert_eq!(doc["capa"], json!({"selver": 2, "ssl": true}));
    // The wall-clock time of media time 0 (once the first frame came): media
    // time + unixoffset is about now.
    let deadline = Instant::now() + Duration::from_secs(15);
    let doc = loop {
        let doc = get(&brume.url("/json_demo.js")).json();
        if doc.get("unixoffset").is_some() || Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let offset = doc["unixoffset"].as_i64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let lastms = doc["meta"]["tracks"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["lastms"].as_i64().unwrap())
        .max()
        .unwrap();
    let lag = now_ms - (offset + lastms);
    assert!(
        (-1_000..30_000).contains(&lag),
        "media time {lastms} + {offset} is {lag} ms from now"
    );
    for track in doc["meta"]["tracks"].as_object().unwrap().values() {
        for key in [
            "codec",
            "codecstring",
            "init",
            "firstms",
            "lastms",
            "bps",
            "maxbps",
            "idx",
            "trackid",
        ] {
            assert!(track.get(key).is_some(), "track lacks {key}: {track}");
        }
    }
    assert_every_type_once_per_base(&doc, 1);
    assert_sorted(&doc);
    assert_eq!(sources(&doc)[0]["type"], "ws/video/mp4");

    let http = brume.http.clone();
    let ws = http.replace("http://", "ws://");
    let host = brume.addr().split(':').next().unwrap().to_owned();
    let rtmp_port = rtmp_port(&brume);
    for source in sources(&doc) {
        let url = source["url"].as_str().unwrap();
        let relurl = source["relurl"].as_str().unwrap();
        match source["type"].as_str().unwrap() {
            "ws/video/mp4" => assert_eq!(url, format!("{ws}/{relurl}")),
            "flash/10" => assert_eq!(url, format!("rtmp://{host}:{rtmp_port}/play/demo")),
            _ => {
                assert_eq!(url, format!("{http}/{relurl}"));
                // A player following the URL gets the media.
                let got = request("GET", url, &[], Duration::from_millis(1500));
                assert_eq!(got.status, 200, "{url}");
                assert!(!got.body.is_empty(), "{url} gave no bytes");
            }
        }
    }
}

#[test]
fn x_mst_path_moves_every_url_under_the_proxy() {
    let brume = Brume::start(streams());
    let response = ready_info(
        &brume,
        "/json_demo.js",
        &[("X-Mst-Path", "https://example.com/mistserver/")],
    );
    assert!(response
        .header("vary")
        .is_some_and(|v| v.contains("X-Mst-Path")));
    let doc = response.json();
    assert_eq!(doc["capa"]["ssl"], true);
    assert_every_type_once_per_base(&doc, 1);
    for source in sources(&doc) {
        let url = source["url"].as_str().unwrap();
        let relurl = source["relurl"].as_str().unwrap();
        let expected = match source["type"].as_str().unwrap() {
            "ws/video/mp4" => format!("wss://example.com/mistserver/{relurl}"),
            "flash/10" => format!("rtmp://example.com:{}/play/demo", rtmp_port(&brume)),
            _ => format!("https://example.com/mistserver/{relurl}"),
        };
        assert_eq!(url, expected);
    }

    // nginx's form, without the trailing slash, over plain HTTP.
    let doc = ready_info(
        &brume,
        "/json_demo.js",
        &[("X-Mst-Path", "http://example.com/mistserver")],
    )
    .json();
    assert!(urls(&doc).contains(&"ws://example.com/mistserver/demo.mp4".to_owned()));
    assert!(urls(&doc).contains(&"http://example.com/mistserver/hls/demo/index.m3u8".to_owned()));
}

#[test]
fn a_malformed_x_mst_path_is_ignored() {
    let brume = Brume::start(streams());
    for bad in [
        "example.com/mistserver",
        "ftp://example.com/",
        "http://x/\"></script><script>alert(1)</script>",
    ] {
        let response = ready_info(&brume, "/json_demo.js", &[("X-Mst-Path", bad)]);
        let text = String::from_utf8_lossy(&response.body).into_owned();
        assert!(!text.contains("<script>alert"), "{text}");
        for url in urls(&response.json()) {
            assert!(
                url.contains(&brume.addr())
                    || url.starts_with(&format!("rtmp://127.0.0.1:{}/", rtmp_port(&brume))),
                "{bad}: {url}"
            );
        }
    }
}

#[test]
fn forwarding_headers_from_a_trusted_proxy_are_used() {
    // The test client is on loopback, trusted by default.
    let brume = Brume::start(streams());
    let doc = ready_info(
        &brume,
        "/json_demo.js",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "edge.example"),
            ("X-Forwarded-Prefix", "/live"),
        ],
    )
    .json();
    assert!(urls(&doc).contains(&"wss://edge.example/live/demo.mp4".to_owned()));
    assert!(urls(&doc).contains(&"https://edge.example/live/cmaf/demo/index.mpd".to_owned()));
    let doc = ready_info(
        &brume,
        "/json_demo.js",
        &[("Forwarded", "for=192.0.2.1;proto=https;host=rfc.example")],
    )
    .json();
    assert!(urls(&doc).contains(&"https://rfc.example/demo.mp4".to_owned()));
}

#[test]
fn configured_public_addresses_are_all_listed_and_sorted() {
    let brume = Brume::start_with_http(
        streams(),
        json!({"public_address": ["http://a.example/m/", "https://b.example/m/"]}),
    );
    let doc = ready_info(&brume, "/json_demo.js", &[]).json();
    assert_every_type_once_per_base(&doc, 2);
    assert_sorted(&doc);
    let all = urls(&doc);
    assert_eq!(all[0], "ws://a.example/m/demo.mp4");
    assert_eq!(all[1], "wss://b.example/m/demo.mp4");
    for url in &all {
        assert!(
            url.starts_with("ws://a.example/m/")
                || url.starts_with("wss://b.example/m/")
                || url.starts_with("http://a.example/m/")
                || url.starts_with("https://b.example/m/")
                || *url == format!("rtmp://a.example:{}/play/demo", rtmp_port(&brume))
                || *url == format!("rtmp://b.example:{}/play/demo", rtmp_port(&brume)),
            "{url}"
        );
    }
    // X-Mst-Path still wins over the configuration.
    let doc = ready_info(
        &brume,
        "/json_demo.js",
        &[("X-Mst-Path", "https://p.example/")],
    )
    .json();
    assert_every_type_once_per_base(&doc, 1);
    assert!(urls(&doc).iter().all(|u| u.contains("p.example")));
}

#[test]
fn info_js_is_a_mistvideo_assignment() {
    let brume = Brume::start(streams());
    ready_info(&brume, "/json_demo.js", &[]);
    let response = request(
        "GET",
        &brume.url("/info_demo.js"),
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/javascript")
    );
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=0, s-maxage=1")
    );
    let text = String::from_utf8(response.body).unwrap();
    let prefix = "if (!mistvideo){var mistvideo = {};} mistvideo['demo'] = ";
    assert!(text.starts_with(prefix), "{text}");
    let json_text = text[prefix.len()..].trim_end().strip_suffix(';').unwrap();
    let doc: Value = serde_json::from_str(json_text).unwrap();
    assert_eq!(doc["type"], "live");
    assert_every_type_once_per_base(&doc, 1);

    let offline = get(&brume.url("/info_cam.js"));
    let text = String::from_utf8(offline.body).unwrap();
    assert_eq!(
        text.trim_end(),
        "if (!mistvideo){var mistvideo = {};} mistvideo['cam'] = {\"error\":\"Stream is offline\"};"
    );
}

#[test]
fn stream_names_are_url_encoded_in_every_url() {
    let brume = Brume::start(streams());
    let doc = ready_info(&brume, "/json_my%20cam.js", &[]).json();
    assert_every_type_once_per_base(&doc, 1);
    for source in sources(&doc) {
        let url = source["url"].as_str().unwrap();
        assert!(url.contains("my%20cam"), "{url}");
        assert!(!url.contains(' '), "{url}");
    }
    let mp4 = sources(&doc)
        .into_iter()
        .find(|s| s["type"] == "html5/video/mp4")
        .unwrap();
    assert_eq!(mp4["relurl"], "my%20cam.mp4");
    let got = request(
        "GET",
        mp4["url"].as_str().unwrap(),
        &[],
        Duration::from_millis(1500),
    );
    assert_eq!(got.status, 200);
    let text = String::from_utf8(get(&brume.url("/info_my%20cam.js")).body).unwrap();
    assert!(text.contains("mistvideo['my cam']"), "{text}");
}

#[test]
fn offline_and_unknown_streams_say_so() {
    let brume = Brume::start(streams());
    assert_eq!(
        get(&brume.url("/json_cam.js")).json(),
        json!({"error": "Stream is offline"})
    );
    assert_eq!(
        get(&brume.url("/json_nosuch.js")).json(),
        json!({"error": "Stream is offline"})
    );
}

/// The port brume's RTMP listener is bound to (RTMP URLs carry it: not 1935 here).
fn rtmp_port(brume: &Brume) -> String {
    brume.rtmp_addr().rsplit(':').next().unwrap().to_owned()
}
