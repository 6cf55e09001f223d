//! The management port over TLS (`api.tls`), against the real binary and curl:
//! with a self-signed certificate made by openssl, curl --cacert reaches the API,
//! the setup URL in the log is https, the first account is created and a login's
//! session cookie carries `Secure`; plain HTTP gets no answer on that port.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::process::Command;

use common::Brume;
use serde_json::json;

/// Runs curl with `args`; returns (exit code, stdout with headers).
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("curl is required by this test and could not run ({e})"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_api_serves_https_and_its_session_cookie_is_secure() {
    let dir = tempfile::tempdir().unwrap();
    common::self_signed_cert(dir.path(), "ec", "api-cert.pem", "api-key.pem", &[]);
    let ca = dir.path().join("api-cert.pem");
    let ca = ca.to_str().unwrap().to_owned();
    let brume = Brume::start_with(
        dir,
        json!({"api": {"tls": {"cert": "api-cert.pem", "key": "api-key.pem"}}}),
    );
    let api = api_client::api_addr(&brume);
    assert_eq!(
        brume
            .logged_field("management API listening", "scheme")
            .as_deref(),
        Some("https")
    );
    let (token, url) = brume.setup_token();
    assert!(url.starts_with("https://"), "{url}");

    let base = format!("https://{api}");
    let (code, session) = curl(&["--cacert", &ca, &format!("{base}/api/v1/session")]);
    assert_eq!(code, 0, "{session}");
    assert!(session.starts_with("HTTP/1.1 200"), "{session}");
    assert!(session.contains("\"setup_mode\":true"), "{session}");

    let create = json!({"password": "correct horse", "setup_token": token}).to_string();
    let (code, created) = curl(&[
        "--cacert",
        &ca,
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data",
        &create,
        &format!("{base}/api/v1/accounts/admin"),
    ]);
    assert_eq!(code, 0, "{created}");
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");

    let login = json!({"username": "admin", "password": "correct horse"}).to_string();
    let (code, answer) = curl(&[
        "--cacert",
        &ca,
        "-H",
        "Content-Type: application/json",
        "--data",
        &login,
        &format!("{base}/api/v1/login"),
    ]);
    assert_eq!(code, 0, "{answer}");
    let cookie = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie in {answer}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // Without the CA curl refuses the certificate; plain HTTP gets no answer.
    let (code, _) = curl(&[&format!("{base}/api/v1/session")]);
    assert_eq!(code, 60, "curl accepted an unknown certificate");
    let (code, plain) = curl(&[&format!("http://{api}/api/v1/session")]);
    assert_ne!(code, 0, "plain HTTP was answered: {plain}");
}
