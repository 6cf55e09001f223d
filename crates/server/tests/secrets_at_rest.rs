//! Secrets against the real binary: the config file (stream passwords, password
//! hashes) is created private and keeps the operator's mode across API changes;
//! stream passwords guessed over RTMP are limited per client, refused in words and
//! counted in /metrics, while the right password from elsewhere keeps working.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use api_client::Client;
use common::{Brume, Publisher};
use serde_json::json;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_config_file_is_private_and_keeps_the_operators_mode() {
    // A file brume creates is readable by its owner only.
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("new.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_brume"))
        .args(["passwd", "--user", "admin", "--config"])
        .arg(&fresh)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(mode(&fresh), 0o600, "a new config file");

    // An operator's chmod survives changes made through the API.
    let brume = Brume::start_with(tempfile::tempdir().unwrap(), json!({}));
    let api = Client::of(&brume);
    for wanted in [0o600, 0o640] {
        std::fs::set_permissions(&brume.config_path, std::fs::Permissions::from_mode(wanted))
            .unwrap();
        let put = api.put(
            "/api/v1/streams/cam",
            r#"{"source": "push://", "password": "pk"}"#,
        );
        assert!(put.status == 201 || put.status == 200, "{}", put.status);
        assert!(std::fs::read_to_string(&brume.config_path)
            .unwrap()
            .contains("\"pk\""));
        assert_eq!(mode(&brume.config_path), wanted, "after an API change");
    }
}

#[test]
fn guessing_a_stream_password_is_limited_per_client() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"streams": {"cam": {"source": "push://", "password": "hunter2"}}}),
    );
    let rtmp = brume.rtmp_addr();
    for guess in 0..5 {
        let url = format!("rtmp://{rtmp}/guess{guess}/cam");
        let (failed, _) = Publisher::start(&url, 3).finish(Duration::from_secs(15));
        assert!(failed, "guess {guess} was accepted");
    }
    // The sixth try is refused before the password is looked at, in words.
    let url = format!("rtmp://{rtmp}/hunter2/cam");
    let (failed, _) = Publisher::start(&url, 3).finish(Duration::from_secs(15));
    assert!(failed, "the right password got through the limit");
    assert!(
        brume
            .log_lines()
            .iter()
            .any(|l| l.contains("publish refused: too many wrong passwords")),
        "the refusal is logged with its reason"
    );
    let metrics = String::from_utf8_lossy(&Client::of(&brume).get("/metrics").body).into_owned();
    assert!(
        metrics.contains("brume_refused_total{listener=\"rtmp\",reason=\"wrong_password\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("brume_refused_total{listener=\"rtmp\",reason=\"publish_rate_limited\"} 1"),
        "{metrics}"
    );
    // Nothing secret reached the log.
    let log = brume.log_lines().join("\n");
    assert!(!log.contains("hunter2") && !log.contains("guess"), "{log}");
}
