//! The HTTPS media port and the HTTP port's Unix socket, as users meet them: a
//! browser-like TLS client, curl and ffmpeg fetch and play every output over HTTPS;
//! a garbage client hello costs only its own connection; a missing or broken
//! certificate or key stops Brume with an error naming the file; a local proxy gets
//! the HTTP port over a Unix socket, which disappears when Brume stops.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Writes a self-signed certificate for localhost/127.0.0.1 into `dir` as
/// `cert.pem` and `key.pem` (PKCS#8); returns the certificate's DER.
fn write_self_signed(dir: &Path) -> Vec<u8> {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    cert.cert.der().to_vec()
}

fn https_section() -> serde_json::Value {
    // Relative paths: they resolve against the config file's folder (the temp dir).
    json!({"https": {"listen": "127.0.0.1:0", "cert": "cert.pem", "key": "key.pem"}})
}

/// A TLS client that trusts only `cert_der`, offering `alpn`.
fn tls_client(
    addr: &str,
    cert_der: &[u8],
    alpn: &[&[u8]],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// GET `path` over HTTPS with `Connection: close`; returns the response and the
/// ALPN protocol the server chose.
fn https_get(addr: &str, cert_der: &[u8], path: &str) -> (Response, Option<Vec<u8>>) {
    let mut tls = tls_client(addr, cert_der, &[b"h2", b"http/1.1"]);
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer closing without close_notify after a complete response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => panic!("HTTPS read of {path}: {e}"),
    }
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    (parse_http_response(&raw, false), alpn)
}

/// Starts brume with the demo stream, HTTPS and `extra` config; returns it with the
/// certificate's DER.
fn start_https(extra: serde_json::Value) -> (Brume, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let cert = write_self_signed(dir.path());
    let mut config = https_section();
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    (Brume::start_with(dir, config), cert)
}

#[test]
fn stream_info_mp4_and_hls_are_served_over_https() {
    let (brume, cert) = start_https(json!({}));
    let addr = brume.https_addr();

    let (info, alpn) = https_get(&addr, &cert, "/json_demo.js");
    assert_eq!(info.status, 200);
    assert_eq!(info.header("content-type"), Some("application/json"));
    info.json();
    assert_eq!(
        alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "ALPN picks HTTP/1.1"
    );

    // curl, checking the certificate against the file, and with -k.
    let cert_path = brume.dir.path().join("cert.pem");
    let url = format!("https://{addr}/json_demo.js");
    for args in [
        vec![
            "-sS",
            "--fail",
            "--cacert",
            cert_path.to_str().unwrap(),
            &url,
        ],
        vec!["-sS", "--fail", "-k", &url],
    ] {
        let out = run_tool("curl", &args);
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(body.is_object(), "{body}");
    }

    // Give the live demo time to close a few HLS segments.
    std::thread::sleep(Duration::from_secs(4));
    let (frames, errors) = decode_video_frames(&format!("https://{addr}/demo.mp4"), Some(2.0));
    assert_eq!(errors, "", "progressive MP4 over HTTPS");
    assert!(frames >= 30, "only {frames} frames of demo.mp4 over HTTPS");

    let (master, _) = https_get(&addr, &cert, "/hls/demo/index.m3u8");
    assert_eq!(master.status, 200);
    assert!(String::from_utf8_lossy(&master.body).starts_with("#EXTM3U"));
    let (frames, errors) =
        decode_video_frames(&format!("https://{addr}/hls/demo/index.m3u8"), Some(2.0));
    assert_eq!(errors, "", "HLS over HTTPS");
    assert!(frames >= 30, "only {frames} frames of HLS over HTTPS");

    // The plain HTTP port keeps working beside it.
    assert_eq!(get(&brume.url("/json_demo.js")).status, 200);
}

/// Deterministic junk (xorshift), never a TLS record header.
fn junk(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out[0] = 0x47; // not 0x16 (handshake): the first record is garbage at once
    out
}

/// Reads until the server closes (EOF or reset); panics if it stays open `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            Instant::now() < deadline,
            "the server kept a garbage connection open"
        );
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return got, // reset: closed too
        }
    }
}

#[test]
fn garbage_on_the_tls_port_closes_only_that_connection() {
    let (brume, cert) = start_https(json!({}));
    let addr = brume.https_addr();

    // Silent clients hold handshakes open; they must not block anyone else.
    let silent: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();

    let mut garbage = TcpStream::connect(&addr).unwrap();
    garbage.write_all(&junk(4096)).unwrap();
    let answer = closed_by_server(&mut garbage, Duration::from_secs(5));
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "garbage got an HTTP answer"
    );

    // Plain HTTP spoken to the TLS port is refused the same way.
    let mut plain = TcpStream::connect(&addr).unwrap();
    plain
        .write_all(b"GET /json_demo.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = closed_by_server(&mut plain, Duration::from_secs(5));
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));

    let (info, _) = https_get(&addr, &cert, "/json_demo.js");
    assert_eq!(info.status, 200, "HTTPS still works after garbage");
    info.json();
    drop(silent);
}

fn brume_command(config_path: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brume"));
    command
        .arg("--config")
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs brume with `extra` config in `dir` and expects it to refuse to start;
/// returns its stderr.
fn refused_start(dir: &Path, extra: &serde_json::Value) -> String {
    let config_path = dir.join("brume.json");
    std::fs::write(&config_path, config_with(extra).to_string()).unwrap();
    let mut child = brume_command(&config_path).spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("brume started despite a bad TLS configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "exit status {status}; stderr: {stderr}");
    stderr
}

#[test]
fn missing_or_broken_certificate_and_key_stop_brume_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_self_signed(dir.path());
    let with = |cert: &str, key: &str| json!({"https": {"listen": "127.0.0.1:0", "cert": cert, "key": key}});

    let err = refused_start(dir.path(), &with("missing/cert.pem", "key.pem"));
    let expected = dir.path().join("missing/cert.pem");
    assert!(err.contains(expected.to_str().unwrap()), "{err}");
    assert!(err.contains("No such file"), "{err}");

    let err = refused_start(dir.path(), &with("cert.pem", "absent-key.pem"));
    assert!(err.contains("absent-key.pem"), "{err}");

    std::fs::write(dir.path().join("garbage.pem"), "not a key at all\n").unwrap();
    let err = refused_start(dir.path(), &with("cert.pem", "garbage.pem"));
    assert!(err.contains("garbage.pem"), "{err}");
    assert!(err.contains("no private key"), "{err}");
    assert!(
        !err.contains("not a key at all"),
        "key file content leaked: {err}"
    );

    let err = refused_start(dir.path(), &with("garbage.pem", "key.pem"));
    assert!(err.contains("garbage.pem"), "{err}");
    assert!(err.contains("no PEM `CERTIFICATE`"), "{err}");

    // A key that parses but belongs to another certificate.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(
        dir.path().join("other-key.pem"),
        other.signing_key.serialize_pem(),
    )
    .unwrap();
    let err = refused_start(dir.path(), &with("cert.pem", "other-key.pem"));
    assert!(err.contains("other-key.pem"), "{err}");
    assert!(err.contains("does not belong"), "{err}");

    // A PEM "PRIVATE KEY" block whose contents are not a key.
    std::fs::write(
        dir.path().join("junk-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = refused_start(dir.path(), &with("cert.pem", "junk-key.pem"));
    assert!(err.contains("junk-key.pem"), "{err}");
}

/// Makes a certificate and key with openssl in `dir`: `kind` is `rsa` (key converted
/// to PKCS#1 `RSA PRIVATE KEY`) or `ec` (SEC1 `EC PRIVATE KEY`), with an intermediate-
/// less chain of the certificate written twice to check chains load.
fn openssl_pair(dir: &Path, kind: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{kind}-cert.pem"));
    let pkcs8 = dir.join(format!("{kind}-pkcs8.pem"));
    let key = dir.join(format!("{kind}-key.pem"));
    common::self_signed_cert(
        dir,
        kind,
        &format!("{kind}-cert.pem"),
        &format!("{kind}-pkcs8.pem"),
        &[],
    );
    let convert = match kind {
        "rsa" => vec!["rsa", "-traditional"],
        _ => vec!["ec"],
    };
    let mut args = convert;
    args.extend([
        "-in",
        pkcs8.to_str().unwrap(),
        "-out",
        key.to_str().unwrap(),
    ]);
    let out = run_tool("openssl", &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&key).unwrap();
    let label = if kind == "rsa" {
        "RSA PRIVATE KEY"
    } else {
        "EC PRIVATE KEY"
    };
    assert!(text.contains(label), "openssl wrote {text}");
    (cert, key)
}

#[test]
fn pkcs1_rsa_and_sec1_ec_keys_serve_https() {
    for kind in ["rsa", "ec"] {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = openssl_pair(dir.path(), kind);
        let brume = Brume::start_with(
            dir,
            json!({"https": {"listen": "127.0.0.1:0", "cert": cert, "key": key}}),
        );
        let url = format!("https://{}/json_demo.js", brume.https_addr());
        let out = run_tool(
            "curl",
            &["-sS", "--fail", "--cacert", cert.to_str().unwrap(), &url],
        );
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(body.is_object(), "{body}");
    }
}

fn unix_get(socket: &Path, path: &str) -> Response {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_http_response(&raw, false)
}

#[test]
fn unix_socket_serves_the_http_port_and_is_removed_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write_self_signed(dir.path());
    let socket = dir.path().join("brume.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut config = https_section();
    config["http"] = json!({"unix_socket": "brume.sock"});
    let mut brume = Brume::start_with(dir, config);

    assert_eq!(
        brume.logged_field("HTTP unix socket listening", "path"),
        Some(socket.to_str().unwrap().to_owned())
    );
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let info = unix_get(&socket, "/json_demo.js");
    assert_eq!(info.status, 200);
    assert_eq!(info.header("content-type"), Some("application/json"));
    info.json();
    let page = unix_get(&socket, "/nonexistent/thing");
    assert_eq!(page.status, 404);

    // A viewer on each port while SIGTERM arrives: all stop within 2 s.
    let https = brume.https_addr();
    let viewer = std::thread::spawn(move || {
        let mut tls = tls_client(&https, &cert, &[b"http/1.1"]);
        tls.write_all(b"GET /demo.mp4 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        while let Ok(n) = tls.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    });
    let mut unix_viewer = UnixStream::connect(&socket).unwrap();
    unix_viewer
        .write_all(b"GET /demo.mp4 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));

    let pid = brume.child.id().to_string();
    let started = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    loop {
        if let Some(status) = brume.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "still running 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!socket.exists(), "the socket file outlived brume");
    assert!(viewer.join().unwrap() > 0, "the HTTPS viewer got no bytes");
}
