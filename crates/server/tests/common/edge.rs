//! Cache edges (nginx, varnishd) run from the shipped configurations in
//! `deploy/` in front of a Brume origin, for tests that check what they cache.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{unused_address, Response};

/// Longest an edge may take to start listening.
pub const EDGE_START: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Nginx,
    Varnish,
}

/// A cache edge (nginx or varnishd) run from the file in `deploy/`, killed when
/// dropped.
pub struct Edge {
    pub kind: EdgeKind,
    pub child: Child,
    /// `ip:port` viewers use.
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

pub fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `text` with `from` (which must occur exactly once: the shipped file is what
/// is tested, so a value a user is told to change must be there) replaced.
pub fn change(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the deploy file should hold {from:?} once"
    );
    text.replacen(from, to, 1)
}

pub fn sbin(name: &str) -> PathBuf {
    let path = Path::new("/usr/sbin").join(name);
    if path.exists() {
        path
    } else {
        PathBuf::from(name)
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Edge {
    pub fn start(kind: EdgeKind, origin_port: u16) -> Edge {
        let dir = tempfile::tempdir().unwrap();
        // nginx's workers run as `nobody`: they write the cache here.
        set_mode(dir.path(), 0o777);
        let addr = unused_address();
        let (host, port) = addr.rsplit_once(':').unwrap();
        let d = dir.path().to_str().unwrap();
        let mut command = match kind {
            EdgeKind::Nginx => {
                let mut site = deploy_file("nginx-edge.conf");
                site = change(
                    &site,
                    "server 127.0.0.1:8080;",
                    &format!("server 127.0.0.1:{origin_port};"),
                );
                site = change(&site, "listen 8081;", &format!("listen {addr};"));
                site = change(&site, "/var/cache/nginx/brume-edge", &format!("{d}/cache"));
                std::fs::write(dir.path().join("brume-edge.conf"), site).unwrap();
                // The http-level file included as a user's nginx.conf would.
                let main = format!(
                    "worker_processes 1;\npid {d}/nginx.pid;\n\
                     events {{ worker_connections 2048; }}\n\
                     http {{\n  access_log off;\n\
                     client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy_temp;\n\
                     fastcgi_temp_path {d}/fastcgi_temp;\n  uwsgi_temp_path {d}/uwsgi_temp;\n\
                     scgi_temp_path {d}/scgi_temp;\n  include {d}/brume-edge.conf;\n}}\n"
                );
                let main_path = dir.path().join("nginx.conf");
                std::fs::write(&main_path, main).unwrap();
                let mut c = Command::new(sbin("nginx"));
                c.arg("-p")
                    .arg(format!("{d}/"))
                    .arg("-c")
                    .arg(&main_path)
                    .args(["-g", "daemon off; error_log stderr;"]);
                c
            }
            EdgeKind::Varnish => {
                let mut vcl = deploy_file("varnish-edge.vcl");
                vcl = change(
                    &vcl,
                    ".port = \"8080\";",
                    &format!(".port = \"{origin_port}\";"),
                );
                let vcl_path = dir.path().join("brume-edge.vcl");
                std::fs::write(&vcl_path, vcl).unwrap();
                let mut c = Command::new(sbin("varnishd"));
                c.arg("-F")
                    .arg("-n")
                    .arg(dir.path().join("varnish"))
                    .arg("-a")
                    .arg(format!("{host}:{port}"))
                    .arg("-f")
                    .arg(&vcl_path)
                    .args(["-s", "malloc,128m", "-j", "none"]);
                c
            }
        };
        let name = match kind {
            EdgeKind::Nginx => "nginx",
            EdgeKind::Varnish => "varnishd",
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{name} is required by this test and could not run ({e}); run scripts/test to install it")
            });
        let log = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let edge = Edge {
            kind,
            child,
            addr,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + EDGE_START;
        while TcpStream::connect(&edge.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {}; log:\n{}",
                edge.addr,
                edge.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        edge
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The header saying what the edge's cache did.
    pub fn cache_status<'a>(&self, response: &'a Response) -> Option<&'a str> {
        match self.kind {
            EdgeKind::Nginx => response.header("x-cache-status"),
            EdgeKind::Varnish => response.header("x-cache"),
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
