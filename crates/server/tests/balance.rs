//! `brume balance` in front of two Brume edges that pull from one origin: new
//! viewers are sent to the less-loaded edge (load made real with viewers on the
//! other), path and query are kept, ffmpeg decodes the stream through the
//! balancer's URL, MistServer's plain-text queries answer, an edge that is
//! killed gets no more viewers, edges register with the shared secret, and
//! embed code pointed at the balancer plays in Chromium from an edge.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api_client::Client;
use common::browser::Browser;
use common::*;
use serde_json::{json, Value};

/// Poll interval the balancers here run with.
const POLL_MS: u64 = 300;

/// A running `brume balance`, killed when dropped.
struct Balancer {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Balancer {
    fn start(edges: &[&Brume], env: &[(&str, &str)]) -> Balancer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_brume"));
        command
            .args(["--log-format", "json", "--log-level", "info", "balance"])
            .args(["--listen", "127.0.0.1:0", "--poll-ms", &POLL_MS.to_string()])
            .envs(env.iter().copied());
        for edge in edges {
            command.args(["--edge", &edge.http]);
        }
        let (child, addr, log) = spawn_logged(command, "balancer listening");
        Balancer { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn edges(&self) -> Vec<Value> {
        get(&self.url("/edges")).json()["edges"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until the balancer's view of `edge` satisfies `check`.
    fn wait_edge(&self, edge: &str, what: &str, check: impl Fn(&Value) -> bool) {
        wait_for(Duration::from_secs(20), what, || {
            self.edges()
                .iter()
                .any(|e| e["url"] == edge && check(e))
                .then_some(())
        });
    }

    /// Where the balancer sends a request for `path`.
    fn location(&self, path: &str) -> String {
        let response = get(&self.url(path));
        assert_eq!(
            response.status,
            307,
            "{path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        response.header("location").unwrap().to_owned()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("balancer log: {:?}", self.log.lock().unwrap());
        }
    }
}

/// An origin with a push stream `live` and ffmpeg publishing to it.
fn origin() -> (Brume, Publisher) {
    let origin = Brume::start(json!({"live": {"source": "push://"}}));
    let publisher = Publisher::start(&format!("rtmp://{}/live/live", origin.rtmp_addr()), 120);
    wait_for(Duration::from_secs(20), "the origin to go live", || {
        (get(&origin.url("/json_live.js")).json()["type"] == "live").then_some(())
    });
    (origin, publisher)
}

/// An edge pulling `live` from `origin` on demand, with its load document on.
fn edge(origin: &Brume) -> Brume {
    Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "load_json": true,
            "streams": {"live": {
                "source": format!("brume://{}/live", origin.addr()),
                "pull": {"start": "on_demand", "idle_stop_s": 5},
            }},
        }),
    )
}

fn plain(response: &Response) -> String {
    assert_eq!(response.status, 200);
    String::from_utf8(response.body.clone()).unwrap()
}

#[test]
fn new_viewers_go_to_the_less_loaded_edge_and_never_to_a_dead_one() {
    let (origin, _publisher) = origin();
    let busy = edge(&origin);
    let idle = edge(&origin);
    let balancer = Balancer::start(&[&busy, &idle], &[]);

    // Real load: three viewers watch on the first edge.
    let _viewers = [
        Player::start(&busy.url("/live.ts")),
        Player::start(&busy.url("/live.flv")),
        Player::start(&busy.url("/live.mp4")),
    ];
    balancer.wait_edge(&busy.http, "three viewers on the busy edge", |e| {
        e["viewers"].as_u64() >= Some(3) && e["streams"]["live"] == "online"
    });
    balancer.wait_edge(&idle.http, "the idle edge to be up", |e| {
        e["healthy"] == true
    });

    // Where `live` is online now is where another server can pull it from.
    assert_eq!(
        plain(&get(&balancer.url("/?source=live"))),
        format!("brume://{}/live", busy.addr())
    );
    assert_eq!(
        plain(&get(&balancer.url("/?source=nosuch&fallback=none"))),
        "none"
    );
    // MistServer's plain-text forms name the less-loaded edge (each answer
    // counts as a viewer there until the next poll: 0, 1, then 2 < 3).
    assert_eq!(plain(&get(&balancer.url("/live"))), idle.addr());
    assert_eq!(plain(&get(&balancer.url("/?stream=live"))), idle.addr());
    // A viewer's request is redirected there, path and query kept.
    let location = balancer.location("/hls/live/index.m3u8?token=abc");
    assert_eq!(
        location,
        format!("{}/hls/live/index.m3u8?token=abc", idle.http)
    );
    // A stream no edge has: 503, and MistServer's fallback text.
    assert_eq!(get(&balancer.url("/nosuch.mp4")).status, 503);
    assert_eq!(plain(&get(&balancer.url("/nosuch"))), "FULL");

    // Stream info through the balancer points the player at the edge.
    std::thread::sleep(Duration::from_millis(3 * POLL_MS));
    let info_at = balancer.location("/json_live.js");
    assert_eq!(info_at, format!("{}/json_live.js", idle.http));
    let info = wait_for(Duration::from_secs(20), "stream info from the edge", || {
        let info = get(&info_at).json();
        (info["type"] == "live").then_some(info)
    });
    let web_sources: Vec<&str> = info["source"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["url"].as_str())
        .filter(|url| !url.starts_with("rtmp:"))
        .collect();
    assert!(web_sources.len() >= 5, "{info}");
    assert!(
        web_sources.iter().all(|url| url.contains(&idle.addr())),
        "{info}"
    );

    // ffmpeg, given the balancer's URL, follows it and decodes the stream.
    std::thread::sleep(Duration::from_millis(3 * POLL_MS));
    let (frames, errors) = decode_video_frames(&balancer.url("/live.ts"), Some(3.0));
    assert!(errors.is_empty(), "decoding through the balancer: {errors}");
    assert!(frames >= 45, "only {frames} frames in 3 s");
    let load = get(&idle.url("/load.json")).json();
    assert_eq!(load["streams"]["live"]["status"], "online", "{load}");

    // The idle edge dies: within a few poll intervals nobody is sent there.
    let idle_url = idle.http.clone();
    drop(idle);
    let killed = Instant::now();
    balancer.wait_edge(&idle_url, "the dead edge to be marked down", |e| {
        e["healthy"] == false
    });
    let noticed = killed.elapsed();
    eprintln!("the balancer marked the killed edge down after {noticed:?}");
    assert!(
        noticed < Duration::from_millis(4 * POLL_MS + 1000),
        "the balancer took {noticed:?} to notice"
    );
    for _ in 0..5 {
        assert!(balancer.location("/live.mp4").starts_with(&busy.http));
    }
    let edges = balancer.edges();
    let dead = edges
        .iter()
        .find(|e| e["url"] == idle_url.as_str())
        .unwrap();
    assert!(
        dead["error"].as_str().unwrap().contains("cannot connect"),
        "{dead}"
    );
}

#[test]
fn edges_register_with_the_shared_secret() {
    let (origin, _publisher) = origin();
    let edge = edge(&origin);
    let plain_server = Brume::start(json!({"demo": {"source": "builtin:demo", "loop": true}}));
    let secret = "edge-registration-secret-4711";
    let balancer = Balancer::start(&[], &[("BRUME_BALANCE_SECRET", secret)]);
    assert_eq!(get(&balancer.url("/live.mp4")).status, 503);

    let api = Client::new(&balancer.addr);
    let body = json!({"url": edge.http}).to_string();
    assert_eq!(api.post("/edges", &body).status, 401);
    let wrong = api.with("Authorization", "Bearer not-the-secret");
    assert_eq!(wrong.post("/edges", &body).status, 401);
    let admin = api.with("Authorization", &format!("Bearer {secret}"));
    assert_eq!(admin.post("/edges", &body).status, 201);
    assert_eq!(admin.post("/edges", &body).status, 200);
    let bad = admin.post("/edges", &json!({"url": "ftp://x"}).to_string());
    assert_eq!(bad.status, 400);

    // Polled, then viewers are sent to it.
    balancer.wait_edge(&edge.http, "the registered edge to be up", |e| {
        e["healthy"] == true && e["registered"] == true
    });
    assert!(balancer.location("/live.mp4").starts_with(&edge.http));

    // A server without "load_json" is registered but never used, and says why.
    let other = json!({"url": plain_server.http}).to_string();
    assert_eq!(admin.post("/edges", &other).status, 201);
    balancer.wait_edge(&plain_server.http, "the 404 to be reported", |e| {
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("404") && m.contains("load_json"))
    });

    // Removed: nobody can serve the stream any more.
    assert_eq!(admin.send("DELETE", "/edges", Some(&body)).status, 200);
    assert_eq!(get(&balancer.url("/live.mp4")).status, 503);

    // Guessing: after five wrong secrets even the right one waits.
    for _ in 0..3 {
        assert_eq!(wrong.post("/edges", &body).status, 401);
    }
    let limited = admin.post("/edges", &body);
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    let log = balancer.log.lock().unwrap().join("\n");
    assert!(!log.contains(secret), "the secret was logged");
    assert!(log.contains("wrong secret"), "{log}");
}

#[test]
fn embed_code_pointed_at_the_balancer_plays_from_an_edge() {
    let (origin, _publisher) = origin();
    let edge = edge(&origin);
    let balancer = Balancer::start(&[&edge], &[]);
    balancer.wait_edge(&edge.http, "the edge to be up", |e| e["healthy"] == true);
    let browser = Browser::launch();
    let mut page = browser.open_page();
    // A page of another site with MistServer's embed code, its host the balancer.
    let host = balancer.url("");
    let html = format!(
        "<!DOCTYPE html><html><body><div id=\"player\" style=\"width:640px;height:360px\"></div>\
         <script src=\"{host}/player.js\"></script>\
         <script>mistPlay('live', {{host: '{host}', target: document.getElementById('player')}});</script>\
         </body></html>"
    );
    page.navigate(&site_serving(html));
    let playback = page.watch_video(2.0, Duration::from_secs(30));
    let shot = page.screenshot("balancer-embed");
    assert!(
        playback.played >= 2.0 && playback.error.is_none(),
        "the embed did not play through the balancer ({}): {playback:?}\nconsole:\n{}\nrequests:\n{:#?}",
        shot.display(),
        page.messages.join("\n"),
        page.requests
    );
    // The player asked the balancer, then took its media from the edge.
    assert!(
        page.requests.iter().any(|u| u.starts_with(&host)),
        "{:#?}",
        page.requests
    );
    assert!(
        page.requests
            .iter()
            .any(|u| u.contains(&edge.addr()) && !u.contains("json_")),
        "{:#?}",
        page.requests
    );
}

/// A one-page web site of its own (another origin than the balancer's and the
/// edges'): every request gets `html`. Returns its URL.
fn site_serving(html: String) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/embed.html", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut socket in listener.incoming().map_while(Result::ok) {
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                html.len()
            );
            let _ = socket.write_all(head.as_bytes());
            let _ = socket.write_all(html.as_bytes());
        }
    });
    url
}
