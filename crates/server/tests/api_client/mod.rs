//! A small management-API client for the API tests: JSON requests with bodies and
//! auth headers over plain TCP, and a launcher that (re)starts `brume` on an
//! existing config file (for restart tests; `common::Brume` writes a fresh one).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{parse_http_response, Brume, Response};

/// Talks to one management API address.
#[derive(Debug, Clone)]
pub struct Client {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Extra headers sent with every request (auth, cookie).
    pub headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(addr: &str) -> Client {
        Client {
            addr: addr.to_owned(),
            headers: Vec::new(),
        }
    }

    /// A client for `brume`'s API port.
    pub fn of(brume: &Brume) -> Client {
        Client::new(&api_addr(brume))
    }

    /// The same client with HTTP Basic credentials.
    pub fn basic(&self, user: &str, password: &str) -> Client {
        self.with(
            "Authorization",
            &format!("Basic {}", base64(format!("{user}:{password}").as_bytes())),
        )
    }

    /// The same client with one more header.
    pub fn with(&self, name: &str, value: &str) -> Client {
        let mut client = self.clone();
        client.headers.push((name.to_owned(), value.to_owned()));
        client
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }

    pub fn put(&self, path: &str, body: &str) -> Response {
        self.send("PUT", path, Some(body))
    }

    pub fn patch(&self, path: &str, body: &str) -> Response {
        self.send("PATCH", path, Some(body))
    }

    pub fn post(&self, path: &str, body: &str) -> Response {
        self.send("POST", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Response {
        self.send("DELETE", path, None)
    }

    /// One request on its own connection; reads the whole answer.
    pub fn send(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.try_send(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} to the API at {}: {e}", self.addr))
    }

    /// Like [`Client::send`], with I/O errors returned (a server that was killed).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<Response> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        // A `Host` (or `Origin`…) set with `with` replaces the default / earlier one.
        let mut headers: Vec<(&str, &str)> = vec![("Host", self.addr.as_str())];
        for (name, value) in &self.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name) || name == "Cookie");
            headers.push((name, value));
        }
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or("").as_bytes());
        stream.write_all(&request)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
            return Err(std::io::Error::other(
                "the connection closed without an answer",
            ));
        }
        Ok(parse_http_response(&raw, method == "HEAD"))
    }
}

/// The API address `brume` logged.
pub fn api_addr(brume: &Brume) -> String {
    brume
        .logged_field("management API listening", "address")
        .unwrap_or_else(|| panic!("no API listening line in {:?}", brume.log_lines()))
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Polls `check` every 50 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `brume` process started on an existing config file; killed when dropped.
pub struct Running {
    pub child: Child,
    pub api: String,
    pub http: String,
    pub config_path: PathBuf,
}

impl Running {
    /// Starts `brume --config path` (the file is used as it is) and waits until it
    /// reports its HTTP port.
    pub fn start(config_path: &Path) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_brume"))
            .arg("--config")
            .arg(config_path)
            .args(["--log-format", "json", "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start brume");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut api = None;
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let fields = &value["fields"];
                let address = fields["address"].as_str().map(str::to_owned);
                match fields["message"].as_str() {
                    Some("management API listening") => api = address,
                    Some("HTTP media port listening") => {
                        let _ = tx.send(Ok((api.clone(), address)));
                    }
                    _ => {}
                }
                if seen.len() < 50 {
                    seen.push(line);
                }
            }
            let _ = tx.send(Err(seen));
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok((Some(api), Some(http)))) => Running {
                child,
                api,
                http,
                config_path: config_path.to_path_buf(),
            },
            other => {
                let _ = child.kill();
                panic!(
                    "brume did not start on {}: {other:?}",
                    config_path.display()
                )
            }
        }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.api)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The config file as JSON.
pub fn read_config(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("config file is not JSON ({e}): {text}"))
}
