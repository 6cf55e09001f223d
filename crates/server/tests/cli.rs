//! The `brume` command as a user meets it: --help, a missing config file created
//! with defaults, a malformed one refused with the key path, and a clean, quick
//! shutdown on SIGTERM.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn brume() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brume"))
}

#[test]
fn help_explains_every_option() {
    let out = brume().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for option in ["--config", "--log-format", "--log-level", "--version"] {
        assert!(
            text.contains(option),
            "--help does not mention {option}:\n{text}"
        );
    }
}

#[test]
fn malformed_config_is_refused_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"streams": {"demo": {"source": "builtin:demo", "lop": true}}}"#,
    )
    .unwrap();
    let out = brume()
        .arg("--config")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.json"), "{err}");
    assert!(err.contains("streams.demo"), "{err}");
    assert!(err.contains("lop"), "{err}");

    std::fs::write(&path, r#"{"http": {"listen": 8080}}"#).unwrap();
    let out = brume().arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.listen"));

    std::fs::write(&path, r#"{"http": {"write_timeout_ms": 0}}"#).unwrap();
    let out = brume().arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http.write_timeout_ms") && err.contains("out of range"),
        "{err}"
    );
}

#[test]
fn missing_config_file_is_created_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.json");
    // Whether or not port 8080 is free here, the file is written before binding.
    let mut child = brume()
        .arg("--config")
        .arg(&path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written["http"]["listen"], "0.0.0.0:8080");
    // Every tunable is in the file, with its default, for the user to see.
    assert_eq!(written["http"]["write_timeout_ms"], 30_000);
    assert_eq!(written["http"]["head_timeout_ms"], 20_000);
    assert_eq!(written["http"]["idle_timeout_ms"], 60_000);
    assert_eq!(
        written["streams"]["demo"],
        json!({"source": "builtin:demo", "loop": true})
    );
}

#[test]
fn sigterm_stops_the_server_within_two_seconds_even_with_a_viewer() {
    let mut server = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let url = server.url("/demo.mp4");
    let viewer = std::thread::spawn(move || request("GET", &url, &[], Duration::from_secs(4)));
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id().to_string();
    let started = Instant::now();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still running 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = viewer.join().unwrap();
    assert_eq!(got.status, 200);
}
