//! A configuration file other users can read (it holds password hashes and
//! stream passwords) is named in a startup warning that suggests chmod 600; a
//! private one is not.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Starts brume on `config` until it reports its HTTP port; returns its log lines.
fn startup_log(config: &Path) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brume"))
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "--log-level", "info"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        let ready = line.contains("HTTP media port listening");
        lines.push(line);
        if ready {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("HTTP media port listening")),
        "brume did not start: {lines:?}"
    );
    lines
}

#[test]
fn a_config_file_others_can_read_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("brume.json");
    std::fs::write(
        &config,
        common::config_with(&serde_json::json!({})).to_string(),
    )
    .unwrap();
    let warning = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.contains("readable by other users"))
            .cloned()
    };

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let lines = startup_log(&config);
    let line = warning(&lines).unwrap_or_else(|| panic!("no warning in {lines:?}"));
    assert!(line.contains("chmod 600"), "{line}");
    assert!(line.contains(config.to_str().unwrap()), "{line}");
    assert!(line.contains("\"WARN\""), "{line}");

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lines = startup_log(&config);
    assert_eq!(warning(&lines), None, "a private file was warned about");
}
