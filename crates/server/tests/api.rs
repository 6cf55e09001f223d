//! The management API's routes against the real binary (setup mode: loopback, no
//! account): streams, protocol settings, server info, JSON errors, and the OpenAPI
//! document checked against the routes actually served.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::time::Duration;

use api_client::{wait_for, Client};
use common::Brume;
use serde_json::{json, Value};

fn start() -> (Brume, Client) {
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let client = Client::of(&brume);
    (brume, client)
}

fn stream_status(client: &Client, name: &str) -> Value {
    let response = client.get(&format!("/api/v1/streams/{name}"));
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

#[test]
fn streams_are_listed_created_replaced_and_deleted() {
    let (brume, api) = start();

    // The configured demo stream, with its tracks once it is online.
    let demo = wait_for(Duration::from_secs(20), "demo online", || {
        let list = api.get("/api/v1/streams").json();
        let demo = list["streams"][0].clone();
        (demo["status"] == "online").then_some(demo)
    });
    assert_eq!(demo["name"], "demo");
    assert_eq!(demo["kind"], "live");
    assert_eq!(demo["loop"], true);
    assert_eq!(demo["password"], "unset");
    assert!(demo["uptime_s"].as_f64().unwrap() >= 0.0);
    let tracks = demo["tracks"].as_array().unwrap();
    assert!(tracks
        .iter()
        .any(|t| t["type"] == "video" && t["codec"] == "H264" && t["width"].as_u64() > Some(0)));
    assert!(tracks
        .iter()
        .any(|t| t["type"] == "audio" && t["codec"] == "AAC" && t["rate"].as_u64() > Some(0)));

    // Create: 201 and the status; the stream plays at once.
    let created = api.put(
        "/api/v1/streams/second",
        r#"{"source": "builtin:demo", "loop": true, "dvr_window_ms": 20000}"#,
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let body = created.json();
    assert_eq!(body["name"], "second");
    assert_eq!(body["dvr_window_ms"], 20000);
    assert!(
        ["starting", "online"].contains(&body["status"].as_str().unwrap()),
        "{body}"
    );
    wait_for(Duration::from_secs(20), "second online", || {
        (stream_status(&api, "second")["status"] == "online").then_some(())
    });
    let mp4 = common::request(
        "GET",
        &brume.url("/second.mp4"),
        &[],
        Duration::from_millis(1500),
    );
    assert_eq!(mp4.status, 200);
    assert!(mp4.body.len() > 1000, "{} bytes", mp4.body.len());

    // Sorted by name.
    let names: Vec<String> = api.get("/api/v1/streams").json()["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["demo", "second"]);

    // Replace: 200; a push stream with a key shows "set", never the key.
    let replaced = api.put(
        "/api/v1/streams/second",
        r#"{"source": "push://", "password": "k3y-s3cret"}"#,
    );
    assert_eq!(replaced.status, 200);
    let body = replaced.json();
    assert_eq!(body["password"], "set");
    assert_eq!(body["source"], "push://");
    let everything = String::from_utf8(api.get("/api/v1/streams").body).unwrap();
    assert!(!everything.contains("k3y-s3cret"), "{everything}");
    wait_for(Duration::from_secs(20), "push stream offline", || {
        (stream_status(&api, "second")["status"] == "offline").then_some(())
    });
    // Absent password: kept; null: removed.
    let kept = api.put("/api/v1/streams/second", r#"{"source": "push://"}"#);
    assert_eq!(kept.json()["password"], "set");
    let cleared = api.put(
        "/api/v1/streams/second",
        r#"{"source": "push://", "password": null}"#,
    );
    assert_eq!(cleared.json()["password"], "unset");

    // Bad input: 400 with the field.
    let bad = |path: &str, body: &str, field: &str| {
        let response = api.put(path, body);
        assert_eq!(response.status, 400, "{path} {body}");
        let json = response.json();
        assert_eq!(json["field"], field, "{json}");
        assert!(!json["error"].as_str().unwrap().is_empty());
    };
    bad("/api/v1/streams/x", r#"{"sorce": "push://"}"#, "sorce");
    bad("/api/v1/streams/x", r#"{"source": "rtsp://cam"}"#, "source");
    bad("/api/v1/streams/x", r#"{"source": ""}"#, "source");
    bad(
        "/api/v1/streams/x",
        r#"{"source": "push://", "loop": true}"#,
        "loop",
    );
    bad("/api/v1/streams/x", r#"{"source": 5}"#, "source");
    bad(
        "/api/v1/streams/x",
        r#"{"source": "push://", "dvr_window_ms": 0}"#,
        "dvr_window_ms",
    );
    bad(
        "/api/v1/streams/.hidden",
        r#"{"source": "push://"}"#,
        "name",
    );
    bad("/api/v1/streams/a%3Cb", r#"{"source": "push://"}"#, "name");
    let malformed = api.put("/api/v1/streams/x", "{\"source\": ");
    assert_eq!(malformed.status, 400);
    assert!(malformed.json()["error"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert_eq!(api.get("/api/v1/streams/x").status, 404);

    // Delete: 204, then gone (404) and no longer served.
    assert_eq!(api.delete("/api/v1/streams/second").status, 204);
    let missing = api.get("/api/v1/streams/second");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains("second"));
    assert_eq!(api.delete("/api/v1/streams/second").status, 404);
    let config = api_client::read_config(&brume.config_path);
    assert!(config["streams"].get("second").is_none(), "{config}");
    assert!(config["streams"].get("demo").is_some(), "{config}");
}

#[test]
fn protocol_settings_are_read_and_patched() {
    let (brume, api) = start();
    let doc = api.get("/api/v1/config");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc["http"]["listen"], "127.0.0.1:0");
    assert_eq!(doc["http"]["public_address"], json!([]));
    assert_eq!(doc["https"], Value::Null);
    assert!(doc["rtmp"]["listen"].is_string());
    assert!(doc["api"]["listen"].is_string());
    assert!(doc.get("streams").is_none() && doc["api"].get("accounts").is_none());

    // A public address: saved, and stream info builds its URLs from it.
    let patched = api.patch(
        "/api/v1/config",
        r#"{"http": {"public_address": ["https://video.example.com/live/"]}}"#,
    );
    assert_eq!(
        patched.status,
        200,
        "{}",
        String::from_utf8_lossy(&patched.body)
    );
    assert_eq!(
        patched.json()["http"]["public_address"],
        json!(["https://video.example.com/live/"])
    );
    assert_eq!(patched.json()["http"]["listen"], "127.0.0.1:0");
    let info = common::get(&brume.url("/json_demo.js")).json();
    let urls: Vec<&str> = info["source"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert!(
        urls.iter()
            .any(|u| u.starts_with("https://video.example.com/live/")),
        "{urls:?}"
    );
    let saved = api_client::read_config(&brume.config_path);
    assert_eq!(
        saved["http"]["public_address"],
        json!(["https://video.example.com/live/"])
    );
    let server = api.get("/api/v1/server").json();
    assert_eq!(
        server["public_address"],
        json!(["https://video.example.com/live/"])
    );

    // null removes (merge patch).
    let cleared = api.patch("/api/v1/config", r#"{"http": {"public_address": null}}"#);
    assert_eq!(cleared.json()["http"]["public_address"], json!([]));

    // Bad patches: 400 with the key path, nothing changes.
    let before = std::fs::read_to_string(&brume.config_path).unwrap();
    for (body, field) in [
        (r#"{"http": {"lisen": "0.0.0.0:80"}}"#, "http.lisen"),
        (r#"{"htp": {}}"#, "htp"),
        (r#"{"http": {"listen": "nonsense"}}"#, "http.listen"),
        (
            r#"{"http": {"public_address": ["ftp://x/"]}}"#,
            "http.public_address[0]",
        ),
        (
            r#"{"trusted_proxies": ["10.0.0.0/99"]}"#,
            "trusted_proxies[0]",
        ),
        (r#"{"streams": {}}"#, "streams"),
        (r#"[1]"#, "(top level)"),
    ] {
        let response = api.patch("/api/v1/config", body);
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(response.json()["field"], field, "{body}");
    }
    assert_eq!(std::fs::read_to_string(&brume.config_path).unwrap(), before);

    // A listen address that cannot be bound: 409 naming the key; old listener kept.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let refused = api.patch(
        "/api/v1/config",
        &json!({"rtmp": {"listen": taken_addr}}).to_string(),
    );
    assert_eq!(
        refused.status,
        409,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let refused = refused.json();
    assert_eq!(refused["field"], "rtmp.listen");
    assert!(
        refused["error"].as_str().unwrap().contains(&taken_addr),
        "{refused}"
    );
    assert_eq!(std::fs::read_to_string(&brume.config_path).unwrap(), before);
    assert_ne!(
        api.get("/api/v1/config").json()["rtmp"]["listen"],
        taken_addr
    );
}

#[test]
fn server_info_reports_version_ports_and_config_path() {
    let (brume, api) = start();
    // The HTTP port is recorded just after its "listening" line is logged.
    let info = wait_for(Duration::from_secs(10), "the HTTP port in /server", || {
        let response = api.get("/api/v1/server");
        assert_eq!(response.status, 200);
        let info = response.json();
        info["ports"]["http"].is_string().then_some(info)
    });
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["uptime_s"].as_f64().unwrap() >= 0.0);
    assert!(info["started_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(info["ports"]["api"], api.addr.as_str());
    assert_eq!(info["ports"]["http"], brume.addr().as_str());
    assert_eq!(info["ports"]["rtmp"], brume.rtmp_addr().as_str());
    assert_eq!(info["ports"]["https"], Value::Null);
    assert_eq!(
        info["config_path"],
        brume.config_path.display().to_string().as_str()
    );
}

#[test]
fn errors_are_json_everywhere() {
    let (_brume, api) = start();
    let unknown = api.get("/api/v1/nothing-here");
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["error"]
        .as_str()
        .unwrap()
        .contains("/api/v1/nothing-here"));
    let wrong_method = api.delete("/api/v1/config");
    assert_eq!(wrong_method.status, 405);
    assert!(wrong_method.json()["error"]
        .as_str()
        .unwrap()
        .contains("DELETE"));
    let huge = format!(r#"{{"source": "{}"}}"#, "a".repeat(100 * 1024));
    let too_big = api.put("/api/v1/streams/big", &huge);
    assert_eq!(too_big.status, 413);
    assert!(too_big.json()["error"].as_str().unwrap().contains("64 KiB"));
    let bad_since = api.get("/api/v1/logs?since=x");
    assert_eq!(bad_since.status, 400);
    assert_eq!(bad_since.json()["field"], "since");
    let no_body = api.send("PUT", "/api/v1/streams/x", None);
    assert_eq!(no_body.status, 400);
    assert!(no_body.json()["error"].is_string());
}

/// Every documented route exists on the running server (not the unknown-route 404,
/// not 405), and the document lists exactly the routes the router registers (unit
/// test in api/openapi.rs) — so a route cannot be added or removed silently.
#[test]
fn the_openapi_document_matches_the_served_routes() {
    let (_brume, api) = start();
    let response = api.get("/api/v1/openapi.json");
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let doc = response.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"));
    let paths = doc["paths"].as_object().unwrap();
    let mut probed = 0;
    for (path, item) in paths {
        let concrete = path.replace("{name}", "openapi-probe");
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let body = match method.as_str() {
                "PUT" | "PATCH" | "POST" => Some("{}"),
                _ => None,
            };
            let answer = api.send(&method, &concrete, body);
            let text = String::from_utf8_lossy(&answer.body).into_owned();
            assert_ne!(
                answer.status, 405,
                "{method} {path} documented but not served"
            );
            assert!(
                !(answer.status == 404 && text.contains("no such API route")),
                "{method} {path} documented but not served: {text}"
            );
            probed += 1;
        }
    }
    assert!(probed >= 18, "only {probed} routes documented");
    // The documented set covers the contract's routes.
    for path in [
        "/api/v1/streams/{name}",
        "/api/v1/config",
        "/api/v1/clients",
        "/api/v1/totals",
        "/api/v1/logs",
        "/api/v1/server",
        "/metrics",
        "/api/v1/login",
        "/api/v1/logout",
        "/api/v1/session",
        "/api/v1/accounts/{name}",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
}
