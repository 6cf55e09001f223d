//! Changes made through the management API are saved: they survive a restart, a
//! kill -9 in the middle of a burst of changes leaves a valid file holding exactly
//! a prefix of them, and a config file that cannot be written (full or read-only
//! file system) makes the API answer 507 Insufficient Storage (full) or 500
//! (read-only) in words while the old file stays intact
//! and the server keeps serving.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api_client::{wait_for, Client, Running};
use common::Brume;
use serde_json::{json, Value};

#[test]
fn api_changes_survive_a_restart() {
    let mut brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = Client::of(&brume);
    assert_eq!(
        api.put(
            "/api/v1/streams/cam",
            r#"{"source": "push://", "password": "pk"}"#
        )
        .status,
        201
    );
    assert_eq!(api.delete("/api/v1/streams/demo").status, 204);
    let patched = api.patch(
        "/api/v1/config",
        r#"{"http": {"public_address": ["https://cdn.example.org/v/"]}, "trusted_proxies": ["10.0.0.0/8"]}"#,
    );
    assert_eq!(patched.status, 200);
    assert_eq!(
        api.put(
            "/api/v1/accounts/admin",
            &serde_json::json!({"password": "pw", "setup_token": brume.setup_token().0})
                .to_string()
        )
        .status,
        201
    );

    // Stop it hard and start it again on the same file.
    brume.child.kill().unwrap();
    brume.child.wait().unwrap();
    let again = Running::start(&brume.config_path);
    let api = again.client();
    assert_eq!(
        api.get("/api/v1/streams").status,
        401,
        "the account is kept"
    );
    let admin = api.basic("admin", "pw");
    let streams = admin.get("/api/v1/streams").json();
    let streams = streams["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert_eq!(streams[0]["name"], "cam");
    assert_eq!(streams[0]["source"], "push://");
    assert_eq!(streams[0]["password"], "set");
    let config = admin.get("/api/v1/config").json();
    assert_eq!(
        config["http"]["public_address"],
        json!(["https://cdn.example.org/v/"])
    );
    assert_eq!(config["trusted_proxies"], json!(["10.0.0.0/8"]));
    // The demo stream, deleted through the API, stays deleted.
    let demo = common::request(
        "GET",
        &format!("http://{}/demo.mp4", again.http),
        &[],
        Duration::from_millis(500),
    );
    assert_eq!(demo.status, 404);
}

/// Change `i` of the burst: a new push stream `s{i}`, or every fourth change a new
/// public address naming `i`.
fn change(api: &Client, i: usize) -> std::io::Result<u16> {
    let response = if i % 4 == 3 {
        let body = json!({"http": {"public_address": [format!("https://v{i}.example.com/")]}});
        api.try_send("PATCH", "/api/v1/config", Some(&body.to_string()))?
    } else {
        api.try_send(
            "PUT",
            &format!("/api/v1/streams/s{i}"),
            Some(r#"{"source": "push://"}"#),
        )?
    };
    Ok(response.status)
}

#[test]
fn kill_9_during_a_burst_of_changes_leaves_a_prefix() {
    const CHANGES: usize = 200;
    let mut brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = Client::of(&brume);
    let acked = Arc::new(AtomicUsize::new(0));
    let burst = {
        let acked = acked.clone();
        let api = api.clone();
        std::thread::spawn(move || {
            for i in 0..CHANGES {
                match change(&api, i) {
                    Ok(status) => {
                        assert!(status == 200 || status == 201, "change {i}: {status}");
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => return,
                }
            }
        })
    };
    // Kill at a moment that differs from run to run, while changes are flowing.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let kill_after = 10 + nanos % 150;
    wait_for(
        Duration::from_secs(60),
        "changes to be acknowledged",
        || (acked.load(Ordering::SeqCst) >= kill_after).then_some(()),
    );
    brume.child.kill().unwrap();
    brume.child.wait().unwrap();
    let acknowledged = acked.load(Ordering::SeqCst);
    burst.join().unwrap();
    assert!(acknowledged < CHANGES, "the kill came after the burst");

    // The file parses as a valid configuration...
    let text = std::fs::read_to_string(&brume.config_path).unwrap();
    brume::config::Config::from_json(&text, &brume.config_path)
        .unwrap_or_else(|e| panic!("config after kill -9 is invalid: {e}\n{text}"));
    let config: Value = serde_json::from_str(&text).unwrap();
    // ...holding changes 0..=last and none after.
    let streams = config["streams"].as_object().unwrap();
    let address = config["http"]["public_address"][0].as_str().unwrap_or("");
    let patched = address
        .strip_prefix("https://v")
        .and_then(|r| r.strip_suffix(".example.com/"))
        .map(|n| n.parse::<usize>().unwrap());
    let last = (0..CHANGES)
        .filter(|i| streams.contains_key(&format!("s{i}")))
        .chain(patched)
        .max()
        .unwrap();
    for i in 0..CHANGES {
        if i % 4 != 3 {
            assert_eq!(
                streams.contains_key(&format!("s{i}")),
                i <= last,
                "stream s{i} (last change applied: {last})"
            );
        }
    }
    let expected_patch = (0..=last).rev().find(|i| i % 4 == 3);
    assert_eq!(
        patched, expected_patch,
        "public address after change {last}"
    );
    // Every acknowledged change is there; at most the one in flight beyond.
    assert!(
        last + 1 == acknowledged || last == acknowledged,
        "{acknowledged} acknowledged, file holds 0..={last}"
    );

    // And the server starts from it.
    let again = Running::start(&brume.config_path);
    let listed = again.client().get("/api/v1/streams").json();
    let count = listed["streams"].as_array().unwrap().len();
    assert_eq!(count, streams.len());
}

/// A tmpfs mounted on a folder, unmounted (lazily) and removed when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap_or_else(|e| panic!("mount could not run ({e}); this test runs as root"));
        assert!(
            status.success(),
            "mount -t tmpfs failed: this test runs as root"
        );
        Tmpfs(dir.to_path_buf())
    }

    fn remount_read_only(&self) {
        let status = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount,ro failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server still plays the demo stream.
fn demo_plays(brume: &Brume) {
    let response = common::request(
        "GET",
        &brume.url("/demo.mp4"),
        &[],
        Duration::from_millis(1500),
    );
    assert_eq!(response.status, 200);
    assert!(response.body.len() > 1000, "{} bytes", response.body.len());
}

#[test]
fn an_unwritable_config_file_answers_507_or_500_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let mount = Tmpfs::mount(dir.path(), "64k");
    let brume = Brume::start_with(dir, json!({}));
    let api = Client::of(&brume);
    wait_for(Duration::from_secs(20), "demo online", || {
        let list = api.get("/api/v1/streams").json();
        (list["streams"][0]["status"] == "online").then_some(())
    });
    let before = std::fs::read_to_string(&brume.config_path).unwrap();

    // Full: fill the file system.
    let filler = mount.0.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
    }
    let full = api.put("/api/v1/streams/cam", r#"{"source": "push://"}"#);
    assert_eq!(full.status, 507, "{}", String::from_utf8_lossy(&full.body));
    let error = full.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("No space left on device"), "{error}");
    assert!(error.contains("brume.json"), "{error}");
    let patch = api.patch(
        "/api/v1/config",
        r#"{"http": {"public_address": ["https://x.example/"]}}"#,
    );
    assert_eq!(patch.status, 507, "Insufficient Storage");
    assert_eq!(std::fs::read_to_string(&brume.config_path).unwrap(), before);
    assert_eq!(
        api.get("/api/v1/streams/cam").status,
        404,
        "nothing changed"
    );
    assert_eq!(
        api.get("/api/v1/config").json()["http"]["public_address"],
        json!([])
    );
    demo_plays(&brume);

    // Read-only: room again, but no writes at all.
    std::fs::remove_file(&filler).unwrap();
    mount.remount_read_only();
    let read_only = api.put("/api/v1/streams/cam", r#"{"source": "push://"}"#);
    assert_eq!(read_only.status, 500);
    let error = read_only.json()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("Read-only file system"), "{error}");
    let delete = api.delete("/api/v1/streams/demo");
    assert_eq!(delete.status, 500);
    assert_eq!(std::fs::read_to_string(&brume.config_path).unwrap(), before);
    assert_eq!(api.get("/api/v1/streams/demo").status, 200);
    demo_plays(&brume);
    drop(brume);
    drop(mount);
}
