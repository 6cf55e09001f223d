//! Shared helpers for the integration tests: start a real `brume` process on
//! ephemeral ports in a temp dir, talk HTTP to it, run ffmpeg/ffprobe.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `brume` process, killed when dropped.
pub struct Brume {
    pub child: Child,
    pub http: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Brume {
    /// Starts brume with `streams` (a JSON object) on ephemeral loopback ports.
    pub fn start(streams: serde_json::Value) -> Brume {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, streams)
    }

    /// Starts brume in `dir` (relative sources resolve there) with `streams`.
    pub fn start_in(dir: tempfile::TempDir, streams: serde_json::Value) -> Brume {
        Self::start_with(dir, serde_json::json!({ "streams": streams }))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.http, path)
    }

    pub fn addr(&self) -> String {
        self.http.trim_start_matches("http://").to_owned()
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Brume {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address (127.a.b.c) of this test's own, for a child process that must
/// be told its port before it starts (a proxy, a port Brume moves to): distinct per
/// call in this process (a counter) and per concurrent test process (the process
/// id). Nothing else binds on it, and connections to loopback go out from
/// 127.0.0.1, so a port found free there stays free until the child binds it;
/// on 127.0.0.1 itself another test can take it meanwhile.
pub fn private_loopback() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let pid = std::process::id();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "127.{}.{}.{}",
        1 + pid % 250,
        (pid / 250) % 256,
        2 + n % 250
    )
}

/// `127.a.b.c:PORT`: a port free a moment ago on a [`private_loopback`] address,
/// for a listener a child process will open (see there why it stays free).
pub fn unused_address() -> String {
    let addr = private_loopback();
    let listener = std::net::TcpListener::bind((addr.as_str(), 0))
        .unwrap_or_else(|e| panic!("bind {addr}:0: {e}"));
    listener.local_addr().expect("bound address").to_string()
}

fn listening_address(line: &str, message: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != message {
        return None;
    }
    Some(fields.get("address")?.as_str()?.to_owned())
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one request and reads the response; a body is read until it ends or
/// `read_for` elapses (for never-ending live responses).
pub fn request(
    method: &str,
    url: &str,
    extra_headers: &[(&str, &str)],
    read_for: Duration,
) -> Response {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let deadline = Instant::now() + read_for;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if Instant::now() >= deadline {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read error: {e}"),
        }
    }
    parse_response(&raw, method == "HEAD")
}

pub fn get(url: &str) -> Response {
    request("GET", url, &[], Duration::from_secs(20))
}

fn parse_response(raw: &[u8], head_only: bool) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response head in {} bytes", raw.len()));
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let payload = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if head_only {
        payload.to_vec()
    } else if chunked {
        dechunk(payload)
    } else {
        payload.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// Decodes as many complete chunks as `data` holds.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&data[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        if data.len() < start + size {
            out.extend_from_slice(&data[start..]);
            return out;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = data.get(start + size + 2..).unwrap_or(&[]);
    }
}

/// Cuts an MP4 byte stream after its last complete top-level box.
pub fn whole_boxes(data: &[u8]) -> &[u8] {
    let mut pos = 0usize;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        if size < 8 || pos + size > data.len() {
            break;
        }
        pos += size;
    }
    &data[..pos]
}

/// Runs a program, failing loudly if it is not installed.
pub fn run_tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} is required by this test and could not run ({e}); run scripts/test to install it"))
}

/// Makes a self-signed certificate for `localhost`, 127.0.0.1 and `extra_ips` with
/// openssl, written as `cert` and `key` (PKCS#8 PEM) in `dir`. `key_type` is `ec`
/// (P-256) or `rsa` (2048 bits). Panics with openssl's message when it fails.
pub fn self_signed_cert(dir: &Path, key_type: &str, cert: &str, key: &str, extra_ips: &[&str]) {
    let mut san = String::from("subjectAltName=DNS:localhost,IP:127.0.0.1");
    for ip in extra_ips {
        san.push_str(",IP:");
        san.push_str(ip);
    }
    let cert = dir.join(cert);
    let key = dir.join(key);
    let mut args = vec![
        "req",
        "-x509",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
    ];
    match key_type {
        "rsa" => args.extend(["-newkey", "rsa:2048"]),
        "ec" => args.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
        other => panic!("self_signed_cert: unknown key type {other}"),
    }
    args.extend([
        "-addext",
        &san,
        "-keyout",
        key.to_str().expect("utf-8 temp path"),
        "-out",
        cert.to_str().expect("utf-8 temp path"),
    ]);
    let out = run_tool("openssl", &args);
    assert!(
        out.status.success(),
        "openssl could not make a certificate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ffmpeg decode check: returns the error lines ffmpeg printed (empty = clean).
pub fn decode_errors(input: &str) -> String {
    let out = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-v",
            "error",
            "-i",
            input,
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "ffmpeg failed on {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One packet as ffprobe reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub stream: String,
    pub dts: f64,
    pub pts: f64,
    pub size: u64,
}

/// Every packet of `input` (codec type per packet: "video"/"audio").
pub fn probe_packets(input: &str) -> Vec<Packet> {
    let out = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,dts_time,pts_time,size",
            "-of",
            "csv=p=0",
            input,
        ],
    );
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Packet {
                stream: f[0].to_owned(),
                pts: f[1].parse().unwrap_or(f64::NAN),
                dts: f[2].parse().unwrap_or(f64::NAN),
                size: f[3].parse().unwrap_or(0),
            })
        })
        .collect()
}

/// Codec names of the streams in `input`, in order.
pub fn probe_codecs(input: &str) -> Vec<String> {
    let out = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            input,
        ],
    );
    // Sorted, each once: HLS lists the streams again per program.
    let mut codecs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    codecs.sort();
    codecs.dedup();
    codecs
}

/// Container duration in seconds.
pub fn probe_duration(input: &str) -> f64 {
    let out = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            input,
        ],
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("duration")
}

/// Makes a test clip with ffmpeg: `seconds` long, H.264 (GOP `gop` frames at 30 fps) + AAC.
pub fn make_clip(path: &Path, seconds: u32, gop: u32) {
    make_clip_as(path, seconds, gop, "mp4");
}

/// Decodes up to `seconds` of `url`'s first video stream with ffmpeg; returns the
/// number of decoded video frames and ffmpeg's error lines.
pub fn decode_video_frames(url: &str, seconds: Option<f64>) -> (usize, String) {
    decode_video_frames_with(url, seconds, &[])
}

/// Like [`decode_video_frames`], with extra input options (e.g. `-headers`).
pub fn decode_video_frames_with(
    url: &str,
    seconds: Option<f64>,
    input_args: &[&str],
) -> (usize, String) {
    let mut args: Vec<String> = vec!["-hide_banner".into(), "-v".into(), "error".into()];
    args.extend(["-rw_timeout".into(), "10000000".into()]);
    args.extend(input_args.iter().map(|a| (*a).to_owned()));
    args.extend(["-i".into(), url.into()]);
    if let Some(s) = seconds {
        args.extend(["-t".into(), format!("{s}")]);
    }
    args.extend([
        "-map".into(),
        "0:v:0".into(),
        "-f".into(),
        "framecrc".into(),
        "-".into(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_tool("ffmpeg", &refs);
    let frames = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && errors.is_empty() {
        errors = format!("ffmpeg exited with {}", out.status);
    }
    (frames, errors)
}

/// Makes a test clip in another container: `format` is an ffmpeg muxer name
/// (`mp4`, `flv`, `mpegts`).
pub fn make_clip_as(path: &Path, seconds: u32, gop: u32, format: &str) {
    let out = run_tool(
        "ffmpeg",
        &[
            "-hide_banner",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=44100",
            "-t",
            &seconds.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            &gop.to_string(),
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            format,
            path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "ffmpeg could not make the clip: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Brume {
    /// Like [`Brume::start`], with extra keys for the `http` section (on top of an
    /// ephemeral loopback `listen`), e.g. `{"public_address": [...]}`.
    pub fn start_with_http(streams: serde_json::Value, http: serde_json::Value) -> Brume {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_with(dir, serde_json::json!({ "streams": streams, "http": http }))
    }
}

pub mod browser;
pub mod edge;
pub mod hook_backend;
pub mod proxy;
pub mod webrtc;

/// The configuration [`Brume::start_with`] runs: ephemeral loopback ports for
/// `http`, `rtmp` and `api` and the looping demo stream, with each section of
/// `extra` merged in (an object's keys are added to or replace the default's keys;
/// anything else replaces the section).
pub fn config_with(extra: &serde_json::Value) -> serde_json::Value {
    let mut config = serde_json::json!({
        "http": {"listen": "127.0.0.1:0"},
        "rtmp": {"listen": "127.0.0.1:0"},
        "api": {"listen": "127.0.0.1:0"},
        "streams": {"demo": {"source": "builtin:demo", "loop": true}},
    });
    let sections = config.as_object_mut().expect("object");
    for (key, value) in extra.as_object().expect("extra config is an object") {
        match (sections.get_mut(key), value) {
            (Some(serde_json::Value::Object(base)), serde_json::Value::Object(more))
                if key != "streams" =>
            {
                base.extend(more.clone());
            }
            _ => {
                sections.insert(key.clone(), value.clone());
            }
        }
    }
    config
}

impl Brume {
    /// Starts brume in `dir` with [`config_with`]`(extra)` — e.g. an `https` section
    /// or `{"http": {"unix_socket": ...}}`. Relative paths in `extra` resolve against
    /// `dir`, where the config file is written.
    pub fn start_with(dir: tempfile::TempDir, extra: serde_json::Value) -> Brume {
        Self::start_with_env(dir, extra, &[])
    }

    /// Like [`Brume::start_with`], with extra environment variables for the process.
    pub fn start_with_env(
        dir: tempfile::TempDir,
        extra: serde_json::Value,
        env: &[(&str, &str)],
    ) -> Brume {
        let config_path = dir.path().join("brume.json");
        std::fs::write(&config_path, config_with(&extra).to_string()).expect("write config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_brume"));
        command
            .arg("--config")
            .arg(&config_path)
            .args(["--log-format", "json", "--log-level", "info"])
            .envs(env.iter().copied());
        let (child, addr, log) = spawn_logged(command, "HTTP media port listening");
        Brume {
            child,
            http: format!("http://{addr}"),
            dir,
            config_path,
            log,
        }
    }

    /// The value of `field` in the first log line whose message is `message`.
    pub fn logged_field(&self, message: &str, field: &str) -> Option<String> {
        self.log_lines().iter().find_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let fields = value.get("fields")?;
            if fields.get("message")?.as_str()? != message {
                return None;
            }
            Some(fields.get(field)?.as_str()?.to_owned())
        })
    }

    /// A URL on the management API port, from its log line.
    pub fn api_url(&self, path: &str) -> String {
        let addr = self
            .logged_field("management API listening", "address")
            .unwrap_or_else(|| panic!("no API line in {:?}", self.log_lines()));
        format!("http://{addr}{path}")
    }

    /// The HTTPS port's address (`127.0.0.1:PORT`), from its log line.
    pub fn https_addr(&self) -> String {
        self.logged_field("HTTPS media port listening", "address")
            .unwrap_or_else(|| panic!("no HTTPS listening line in {:?}", self.log_lines()))
    }
}

/// Starts `command` (a `brume` with `--log-format json`), collects its log lines
/// and waits for the line whose message is `ready`; returns the process, that
/// line's `address` field and the log.
pub fn spawn_logged(
    mut command: Command,
    ready: &'static str,
) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start brume");
    let stderr = child.stderr.take().expect("stderr");
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Pushed before the ready line is reported: brume logs its other
                // listeners first, so they are in the log once this returns.
                let addr = listening_address(&line, ready);
                log.lock().unwrap().push(line);
                if let Some(addr) = addr {
                    let _ = tx.send(addr);
                }
            }
        });
    }
    let Ok(addr) = rx.recv_timeout(Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "brume did not log {ready:?}; log: {:?}",
            log.lock().unwrap()
        );
    };
    (child, addr, log)
}

/// ffmpeg reading a URL (HTTP, RTMP) as a player would for up to 20 s,
/// discarding the frames; killed when dropped.
pub struct Player(Child);

impl Player {
    pub fn start(url: &str) -> Player {
        let child = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-v",
                "error",
                "-i",
                url,
                "-t",
                "20",
                "-f",
                "null",
                "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("ffmpeg is required by this test and could not run ({e})"));
        Player(child)
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Calls `check` every 200 ms until it gives a value; fails after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Parses a raw HTTP/1.1 response (as read from any transport: TLS, Unix socket).
pub fn parse_http_response(raw: &[u8], head_only: bool) -> Response {
    parse_response(raw, head_only)
}

impl Brume {
    /// The RTMP port's address (`127.0.0.1:PORT`), from its log line.
    pub fn rtmp_addr(&self) -> String {
        self.logged_field("RTMP port listening", "address")
            .unwrap_or_else(|| panic!("no RTMP listening line in {:?}", self.log_lines()))
    }
}

/// An ffmpeg process publishing a generated test pattern (H.264 with a 2 s GOP +
/// AAC) at real time to an RTMP URL; killed when dropped.
pub struct Publisher {
    pub child: std::process::Child,
}

impl Publisher {
    pub fn start(url: &str, seconds: u32) -> Publisher {
        let child = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-v",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=30",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=44100",
                "-t",
                &seconds.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-g",
                "60",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-f",
                "flv",
                url,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("ffmpeg is required by this test and could not run ({e})"));
        Publisher { child }
    }

    /// Waits for ffmpeg to exit (up to `limit`); returns whether it failed and its stderr.
    pub fn finish(mut self, limit: Duration) -> (bool, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                return (!status.success(), err);
            }
            if Instant::now() > deadline {
                return (false, "still running".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a response's status line from a raw connection and returns its code (0
/// when none arrives within `limit` or it does not parse).
pub fn read_status(socket: &mut std::net::TcpStream, limit: Duration) -> u16 {
    use std::io::Read;
    let _ = socket.set_read_timeout(Some(limit));
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match socket.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The message of the log line that carries the setup token in setup mode.
pub const SETUP_MESSAGE: &str =
    "setup mode: no account exists yet; open token_url (or send setup_token) to create the first one";

impl Brume {
    /// The setup token and URL brume logged (setup mode), waiting for the line
    /// (the API logs it as it starts serving). `(token, url)`.
    pub fn setup_token(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let token = self.logged_field(SETUP_MESSAGE, "setup_token");
            let url = self.logged_field(SETUP_MESSAGE, "token_url");
            if let (Some(token), Some(url)) = (token, url) {
                return (token, url);
            }
            assert!(
                Instant::now() < deadline,
                "no setup token in the log: {:?}",
                self.log_lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
