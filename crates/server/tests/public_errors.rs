//! What the public media port says about a broken stream, against the real binary:
//! a stream whose source is a text file (here shaped like `/etc/passwd`) or a
//! missing file is reported on every public answer (json_S.js, info_S.js, the
//! player page, media and playlist error bodies, the stream-info WebSocket) with a
//! fixed sentence that carries neither the file's bytes nor its path; the full
//! reason is in the log and in the authenticated API's stream status.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::time::Duration;

use common::Brume;
use futures_util::StreamExt;
use serde_json::json;

const SECRET_LINE: &str = "root:x:0:0:root:/root:/bin/bash\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_sources_leak_no_bytes_or_paths_to_viewers() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("accounts-db");
    std::fs::write(&text, SECRET_LINE.repeat(20)).unwrap();
    let missing = dir.path().join("gone.mp4");
    let text_path = text.display().to_string();
    let missing_path = missing.display().to_string();
    let brume = Brume::start_with(
        dir,
        json!({"streams": {
            "text": {"source": text_path},
            "missing": {"source": missing_path},
        }}),
    );
    let forbidden = [
        "root:x",
        text_path.as_str(),
        missing_path.as_str(),
        "accounts-db",
        "gone.mp4",
        "/tmp",
        "No such file",
    ];
    let clean = |what: &str, body: &str| {
        for bad in forbidden {
            assert!(!body.contains(bad), "{what} says {bad:?}: {body}");
        }
    };
    for (stream, sentence) in [
        ("text", "the source is not a media file"),
        ("missing", "the source file cannot be opened"),
    ] {
        // Wait for the source to be tried.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let info = loop {
            let info = common::get(&brume.url(&format!("/json_{stream}.js"))).json();
            if info["error"] != "Stream is initializing" {
                break info;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{stream} never failed"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(info, json!({"error": sentence}), "{stream}");
        for path in [
            format!("/info_{stream}.js"),
            format!("/{stream}.html"),
            format!("/embed_{stream}.js"),
            format!("/{stream}.mp4"),
            format!("/{stream}.ts"),
            format!("/hls/{stream}/index.m3u8"),
            format!("/cmaf/{stream}/index.mpd"),
        ] {
            let answer = common::get(&brume.url(&path));
            let body = String::from_utf8_lossy(&answer.body).into_owned();
            clean(&path, &body);
            if answer.status >= 400 {
                assert!(body.contains(sentence), "{path}: {}: {body}", answer.status);
            }
        }
        // The stream-info WebSocket pushes the same document.
        let url = format!("ws://{}/json_{stream}.js", brume.addr());
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = first.into_text().unwrap().to_string();
        clean("the stream-info WebSocket", &text);
        assert!(text.contains(sentence), "{text}");
        // MEWS on the broken stream is refused with the same sentence.
        let refused = common::request(
            "GET",
            &brume.url(&format!("/{stream}.mp4")),
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ],
            Duration::from_secs(5),
        );
        let body = String::from_utf8_lossy(&refused.body).into_owned();
        clean("MEWS", &body);
    }

    // The operator sees everything: the API's status and the log.
    let api = api_client::Client::of(&brume);
    let status = api.get("/api/v1/streams/text").json();
    assert_eq!(status["status"], "error");
    let reason = status["error"].as_str().unwrap();
    assert!(reason.contains(&text_path), "{reason}");
    assert!(reason.contains("root:x"), "{reason}");
    let missing = api.get("/api/v1/streams/missing").json();
    assert!(
        missing["error"].as_str().unwrap().contains(&missing_path),
        "{missing}"
    );
    let logged = brume.log_lines().join("\n");
    assert!(logged.contains(&text_path), "the log names the file");
}
