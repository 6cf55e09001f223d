//! Push out: Brume restreams over RTMP to a second Brume (a push rule and one
//! made through the API); ffmpeg decodes what arrives there; the target is
//! killed and restarted on the same port and the push resumes by itself.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::time::Duration;

use api_client::{wait_for, Client};
use common::hook_backend::Backend;
use common::Brume;
use serde_json::json;

/// The receiving Brume: push streams `in` and `in2` on a fixed RTMP address.
fn target(rtmp: &str) -> Brume {
    Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "rtmp": {"listen": rtmp},
            "streams": {"in": {"source": "push://"}, "in2": {"source": "push://"}},
        }),
    )
}

/// Frames ffmpeg decodes from `url` in about a second of media.
fn decodes(url: &str) -> bool {
    let (frames, _) = common::decode_video_frames(url, Some(1.0));
    frames > 10
}

#[test]
fn a_push_reaches_another_brume_and_resumes_after_it_restarts() {
    let rtmp = common::unused_address();
    let backend = Backend::start(|_, _| Some("true".to_owned()));
    let receiver = target(&rtmp);
    let origin = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "push_rules": [{"streams": "de*", "target": format!("rtmp://{rtmp}/live/in")}],
            "triggers": {"PUSH_OUT_START": [{"handler": backend.url}], "PUSH_END": [{"handler": backend.url}]},
        }),
    );
    let start = backend.wait_for("PUSH_OUT_START", Duration::from_secs(20), |_| true);
    assert_eq!(start, format!("demo\nrtmp://{rtmp}/live/in"));
    wait_for(
        Duration::from_secs(20),
        "the push plays on the target",
        || decodes(&receiver.url("/in.ts")).then_some(()),
    );
    let codecs = common::probe_codecs(&receiver.url("/in.mp4"));
    assert!(codecs.contains(&"h264".to_owned()), "{codecs:?}");

    // One more through the API, with status and bytes.
    let api = Client::of(&origin);
    let bad = api.post(
        "/api/v1/pushes",
        &json!({"stream": "demo", "target": "http://x/y"}).to_string(),
    );
    assert_eq!(bad.status, 400);
    let created = api.post(
        "/api/v1/pushes",
        &json!({"stream": "demo", "target": format!("rtmp://{rtmp}/live/in2")}).to_string(),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].as_u64().unwrap();
    wait_for(Duration::from_secs(20), "the API push plays", || {
        decodes(&receiver.url("/in2.ts")).then_some(())
    });
    let list = api.get("/api/v1/pushes").json();
    let pushes = list["pushes"].as_array().unwrap();
    assert_eq!(pushes.len(), 2, "{list}");
    assert!(
        pushes
            .iter()
            .all(|p| p["active"] == true && p["bytes"].as_u64().unwrap() > 10_000),
        "{list}"
    );
    let metrics = String::from_utf8(common::get(&origin.api_url("/metrics")).body).unwrap();
    assert!(metrics.contains("brume_pushes_active 2"), "{metrics}");
    assert_eq!(api.delete(&format!("/api/v1/pushes/{id}")).status, 204);

    // The target goes away and comes back on the same port: the push resumes.
    drop(receiver);
    backend.wait_for("PUSH_END", Duration::from_secs(20), |p| {
        p.contains("/live/in\n")
    });
    let status = wait_for(Duration::from_secs(10), "the push waits to retry", || {
        let list = api.get("/api/v1/pushes").json();
        let status = list["pushes"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        status.starts_with("retrying").then_some(status)
    });
    assert!(
        !status.contains("/live/in"),
        "the key is not shown in the status: {status}"
    );
    let receiver = target(&rtmp);
    wait_for(Duration::from_secs(40), "the push resumes", || {
        decodes(&receiver.url("/in.ts")).then_some(())
    });
    let list = api.get("/api/v1/pushes").json();
    assert_eq!(
        list["pushes"].as_array().unwrap().len(),
        1,
        "the deleted push is gone: {list}"
    );
}
