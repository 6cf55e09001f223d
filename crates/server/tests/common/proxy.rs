//! Reverse proxies in front of Brume, for the integration tests: nginx, Apache and
//! lighttpd run as child processes from the configurations in
//! `tests/fixtures/proxy/` (the reverse-proxy guide's blocks, verbatim), each with its
//! own temp dir, self-signed certificate and ports, killed when dropped. Also the
//! clients that reach Brume through them (HTTP and HTTPS requests, WebSockets,
//! ffmpeg) and the checks every proxy test file shares.
//!
//! nginx listens on the default ports (80 and 443) of a loopback address of its own
//! (127.x.y.z): the guide's nginx block builds `X-Mst-Path` from `$host`, which never
//! carries a port, so it is only correct where the proxy uses the default ports, as
//! the guide assumes. Apache and lighttpd listen on free high ports of a loopback
//! address of their own too, so no other test can take those ports between the
//! moment they are picked and the moment the proxy binds them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tungstenite::WebSocket;

use super::{parse_response, Brume, Response};

pub mod checks;

/// Where the guide mounts Brume on the proxy.
pub const PREFIX: &str = "/mistserver/";
/// Longest a proxy may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest response body a test request keeps.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Which web server fronts Brume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Apache,
    Lighttpd,
}

/// Which ports a proxy listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// 80 and 443 on a loopback address of its own (needs root).
    Default,
    /// Free high ports on a loopback address of its own.
    Ephemeral,
}

impl ProxyKind {
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Nginx => "nginx",
            ProxyKind::Apache => "apache2",
            ProxyKind::Lighttpd => "lighttpd",
        }
    }

    /// The ports the guide's setup for this proxy is tested on.
    pub fn ports(self) -> Ports {
        match self {
            ProxyKind::Nginx => Ports::Default,
            ProxyKind::Apache | ProxyKind::Lighttpd => Ports::Ephemeral,
        }
    }

    /// Whether the test setup terminates TLS (the guide covers nginx and Apache).
    pub fn has_https(self) -> bool {
        self != ProxyKind::Lighttpd
    }
}

/// A proxy's address and ports, chosen before Brume starts (lighttpd's public
/// address must be in Brume's configuration).
#[derive(Debug)]
pub struct ProxyPlan {
    pub kind: ProxyKind,
    pub addr: String,
    pub http_port: u16,
    pub https_port: Option<u16>,
    dir: tempfile::TempDir,
}

impl ProxyPlan {
    pub fn new(kind: ProxyKind, ports: Ports) -> ProxyPlan {
        let (addr, http_port, https_port) = match ports {
            Ports::Default => {
                let addr = private_loopback_address();
                (addr, 80, Some(443))
            }
            Ports::Ephemeral => {
                // On an address of this test's own: a port free there a moment ago
                // is still free when the proxy binds it (on 127.0.0.1 another
                // test's listener or outgoing connection can take it meanwhile).
                let addr = super::private_loopback();
                // Both held at once, so they differ.
                let [http, https] = free_ports(&addr);
                (addr, http, kind.has_https().then_some(https))
            }
        };
        let dir = tempfile::tempdir().expect("proxy temp dir");
        ProxyPlan {
            kind,
            addr,
            http_port,
            https_port,
            dir,
        }
    }

    /// `scheme://addr[:port]` of the proxy, without the default port.
    pub fn origin(&self, scheme: &str) -> String {
        let port = match scheme {
            "http" | "ws" => self.http_port,
            _ => self.https_port.expect("this proxy has no HTTPS port"),
        };
        let default = matches!((scheme, port), ("http" | "ws", 80) | ("https" | "wss", 443));
        if default {
            format!("{scheme}://{}", self.addr)
        } else {
            format!("{scheme}://{}:{port}", self.addr)
        }
    }

    /// The public base of Brume's URLs through this proxy: `http://addr[:port]/mistserver/`.
    pub fn base(&self, scheme: &str) -> String {
        format!("{}{PREFIX}", self.origin(scheme))
    }

    /// Writes the configuration and starts the proxy in front of Brume's HTTP port.
    pub fn start(self, upstream_port: u16) -> Proxy {
        let dir = self.dir.path().to_owned();
        // Worker processes may run as `nobody`: let them read the web root.
        set_mode(&dir, 0o755);
        let www = dir.join("www");
        std::fs::create_dir_all(&www).expect("web root");
        set_mode(&www, 0o755);
        let cert = rcgen::generate_simple_self_signed(vec![self.addr.clone(), "localhost".into()])
            .expect("self-signed certificate");
        std::fs::write(dir.join("cert.pem"), cert.cert.pem()).expect("write cert");
        std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).expect("write key");
        let fixture = match self.kind {
            ProxyKind::Nginx => "nginx.conf",
            ProxyKind::Apache => "apache2.conf",
            ProxyKind::Lighttpd => "lighttpd.conf",
        };
        let https_port = self.https_port.unwrap_or(0).to_string();
        let config = fill_template(
            &read_fixture(fixture),
            &[
                ("DIR", dir.to_str().expect("UTF-8 temp path")),
                ("ADDR", &self.addr),
                ("HTTP_PORT", &self.http_port.to_string()),
                ("HTTPS_PORT", &https_port),
                ("UPSTREAM_PORT", &upstream_port.to_string()),
                ("MODULES", "/usr/lib/apache2/modules"),
            ],
        );
        let config_path = dir.join(fixture);
        std::fs::write(&config_path, config).expect("write proxy config");
        let mut command = match self.kind {
            ProxyKind::Nginx => {
                let mut c = Command::new(program("nginx"));
                c.arg("-p")
                    .arg(format!("{}/", dir.display()))
                    .arg("-c")
                    .arg(&config_path)
                    .args(["-g", "daemon off; error_log stderr;"]);
                c
            }
            ProxyKind::Apache => {
                let mut c = Command::new(program("apache2"));
                c.arg("-X").arg("-f").arg(&config_path).arg("-d").arg(&dir);
                c
            }
            ProxyKind::Lighttpd => {
                let mut c = Command::new(program("lighttpd"));
                c.arg("-D").arg("-f").arg(&config_path);
                c
            }
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} is required by this test and could not run ({e}); run scripts/test to install it",
                    self.kind.name()
                )
            });
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let proxy = Proxy {
            child,
            log,
            cert_der: cert.cert.der().to_vec(),
            plan: self,
        };
        proxy.wait_listening();
        proxy
    }
}

/// A running proxy, killed when dropped.
#[derive(Debug)]
pub struct Proxy {
    pub plan: ProxyPlan,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    cert_der: Vec<u8>,
}

impl Proxy {
    /// Starts `kind` on its usual ports in front of `brume`.
    pub fn start(kind: ProxyKind, brume: &Brume) -> Proxy {
        ProxyPlan::new(kind, kind.ports()).start(brume_port(brume))
    }

    pub fn kind(&self) -> ProxyKind {
        self.plan.kind
    }

    /// See [`ProxyPlan::base`].
    pub fn base(&self, scheme: &str) -> String {
        self.plan.base(scheme)
    }

    /// `path` (relative, `json_demo.js`) under the proxy's `/mistserver/`.
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{}{path}", self.plan.base(scheme))
    }

    /// `path` (absolute, `/embed.html`) in the proxy's own web root.
    pub fn site_url(&self, scheme: &str, path: &str) -> String {
        format!("{}{path}", self.plan.origin(scheme))
    }

    /// The proxy's own web root.
    pub fn site_dir(&self) -> PathBuf {
        self.plan.dir.path().join("www")
    }

    /// Puts a file in the proxy's own web root.
    pub fn write_page(&self, name: &str, contents: &str) {
        let path = self.plan.dir.path().join("www").join(name);
        std::fs::write(&path, contents).expect("write page");
        set_mode(&path, 0o644);
    }

    /// What the proxy logged (stderr and its error log), for failure messages.
    pub fn log(&self) -> String {
        let mut text = self.log.lock().unwrap().join("\n");
        if let Ok(errors) = std::fs::read_to_string(self.plan.dir.path().join("error.log")) {
            text.push('\n');
            text.push_str(&errors);
        }
        text
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut ports = vec![self.plan.http_port];
        ports.extend(self.plan.https_port);
        loop {
            let up = ports
                .iter()
                .all(|&port| TcpStream::connect((self.plan.addr.as_str(), port)).is_ok());
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start listening on {}:{ports:?}; log:\n{}",
                self.kind().name(),
                self.plan.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens a connection to `url` (http/https/ws/wss) on this proxy, trusting its
    /// certificate.
    pub fn connect(&self, url: &str) -> (Conn, Target) {
        let target = Target::parse(url);
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .unwrap_or_else(|e| panic!("connect to {url}: {e}\n{}", self.log()));
        let _ = tcp.set_nodelay(true);
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        if !target.tls {
            return (Conn::Plain(tcp), target);
        }
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            ))
            .expect("trust the proxy's certificate");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name =
            rustls::pki_types::ServerName::try_from(target.host.clone()).expect("server name");
        let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS client");
        (
            Conn::Tls(Box::new(rustls::StreamOwned::new(tls, tcp))),
            target,
        )
    }

    /// Sends one request through the proxy (HTTP or HTTPS) and reads the response
    /// until it ends or `read_for` elapses.
    pub fn request(&self, url: &str, headers: &[(&str, &str)], read_for: Duration) -> Response {
        let (mut conn, target) = self.connect(url);
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: brume-tests\r\n",
            target.path, target.authority
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())
            .unwrap_or_else(|e| panic!("send request to {url}: {e}"));
        let deadline = Instant::now() + read_for;
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while Instant::now() < deadline && raw.len() < MAX_BODY {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e) if is_timeout(&e) => {}
                // A TLS peer that closes without close_notify: the response is complete.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => panic!("read from {url}: {e}"),
            }
        }
        parse_response(&raw, false)
    }

    pub fn get(&self, url: &str) -> Response {
        self.request(url, &[], Duration::from_secs(20))
    }

    /// How long after sending a request for `url` the first body byte arrives.
    pub fn first_body_byte_after(&self, url: &str) -> Duration {
        let (mut conn, target) = self.connect(url);
        let head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            target.path, target.authority
        );
        let start = Instant::now();
        conn.write_all(head.as_bytes()).expect("send request");
        let deadline = start + Duration::from_secs(10);
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        while Instant::now() < deadline {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        // A chunk-size line alone is not media yet.
                        let body = &raw[end + 4..];
                        let chunked = String::from_utf8_lossy(&raw[..end])
                            .to_ascii_lowercase()
                            .contains("transfer-encoding: chunked");
                        let media_bytes = if chunked {
                            body.windows(2)
                                .position(|w| w == b"\r\n")
                                .map_or(0, |i| body.len() - i - 2)
                        } else {
                            body.len()
                        };
                        if media_bytes > 0 {
                            return start.elapsed();
                        }
                    }
                }
                Err(e) if is_timeout(&e) => {}
                Err(e) => panic!("read from {url}: {e}"),
            }
        }
        panic!(
            "no body byte of {url} within 10 s; got {:?}\n{}",
            String::from_utf8_lossy(&raw),
            self.log()
        );
    }

    /// Opens a WebSocket to `url` (ws/wss) through the proxy.
    pub fn websocket(&self, url: &str) -> WebSocket<Conn> {
        let (conn, _) = self.connect(url);
        conn.set_read_timeout(Some(Duration::from_secs(10)));
        match tungstenite::client(url, conn) {
            Ok((mut ws, _)) => {
                ws.get_mut()
                    .set_read_timeout(Some(Duration::from_millis(200)));
                ws
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                panic!(
                    "WebSocket {url} refused through {}: {} {body}",
                    self.kind().name(),
                    response.status()
                )
            }
            Err(e) => panic!("WebSocket {url} through {}: {e}", self.kind().name()),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client connection, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn set_read_timeout(&self, timeout: Option<Duration>) {
        let tcp = match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(tls) => tls.get_ref(),
        };
        tcp.set_read_timeout(timeout).expect("read timeout");
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.read(buf),
            Conn::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(tls) => tls.flush(),
        }
    }
}

/// The parts of a test URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// As it goes in `Host`: the port only when it is not the default.
    pub authority: String,
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Target {
        let (scheme, rest) = url.split_once("://").expect("absolute URL");
        let tls = matches!(scheme, "https" | "wss");
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().expect("port")),
            None => (authority, if tls { 443 } else { 80 }),
        };
        Target {
            tls,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path: path.to_owned(),
        }
    }
}

pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Brume's HTTP port.
pub fn brume_port(brume: &Brume) -> u16 {
    brume
        .addr()
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .expect("brume's port")
}

/// Brume with the looping demo stream, for `kind` (lighttpd sends no X-Mst-Path, so
/// Brume gets the proxy's public address, as the guide says). Returns both started.
pub fn demo_behind(kind: ProxyKind) -> (Brume, Proxy) {
    demo_behind_on(kind, kind.ports())
}

/// [`demo_behind`] with the proxy on `ports`.
pub fn demo_behind_on(kind: ProxyKind, ports: Ports) -> (Brume, Proxy) {
    let plan = ProxyPlan::new(kind, ports);
    let streams = json!({"demo": {"source": "builtin:demo", "loop": true}});
    let brume = if kind == ProxyKind::Lighttpd {
        Brume::start_with_http(streams, json!({"public_address": [plan.base("http")]}))
    } else {
        Brume::start(streams)
    };
    let proxy = plan.start(brume_port(&brume));
    (brume, proxy)
}

/// The test fixture `name` from `tests/fixtures/proxy/`.
pub fn read_fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proxy")
}

/// Replaces every `@NAME@` of `values`; fails on a placeholder left unfilled.
pub fn fill_template(template: &str, values: &[(&str, &str)]) -> String {
    let mut text = template.to_owned();
    for (name, value) in values {
        text = text.replace(&format!("@{name}@"), value);
    }
    let leftover = text
        .split('@')
        .skip(1)
        .step_by(2)
        .find(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    assert!(
        leftover.is_none(),
        "unfilled placeholder @{}@",
        leftover.unwrap_or_default()
    );
    text
}

/// `/usr/sbin/NAME` where it is (not always on a user's PATH), else NAME.
fn program(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from(name)
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Two distinct ports that were free a moment ago on `addr`: race-free only on a
/// loopback address of this test's own ([`super::private_loopback`]), where no
/// other test binds or connects from.
pub fn free_ports(addr: &str) -> [u16; 2] {
    let bind = || TcpListener::bind((addr, 0)).expect("free port");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("bound address").port();
    [port(&a), port(&b)]
}

/// A loopback address of this test's own whose ports 80 and 443 are free.
fn private_loopback_address() -> String {
    let mut last_error = String::new();
    for _ in 0..64 {
        let addr = super::private_loopback();
        let free =
            [80u16, 443]
                .iter()
                .all(|&port| match TcpListener::bind((addr.as_str(), port)) {
                    Ok(_) => true,
                    Err(e) => {
                        last_error = format!("{addr}:{port}: {e}");
                        false
                    }
                });
        if free {
            return addr;
        }
    }
    panic!(
        "nginx runs on the default ports 80/443 (the guide's X-Mst-Path has no port), \
         which needs root or CAP_NET_BIND_SERVICE; binding failed: {last_error}"
    );
}
