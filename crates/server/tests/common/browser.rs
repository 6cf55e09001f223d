//! Headless Chromium for the integration tests, driven over the Chrome DevTools
//! Protocol: a browser process per test (own profile dir, killed when dropped), pages
//! opened as targets, navigation, script evaluation, screenshots saved under
//! `target/screenshots/`, console and log messages and requested URLs collected, a
//! check that a page's `<video>` really plays, and what a UI test needs: mouse clicks,
//! typing, waiting for an element or a condition, phone-sized viewports.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Longest a DevTools call may take to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest Chromium may take to start listening for DevTools.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    /// `ws://127.0.0.1:PORT/devtools/browser/ID`
    endpoint: String,
    log: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--mute-audio",
                // getUserMedia gets a test pattern and a beep, without a prompt.
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                // The proxies' certificates are self-signed, made by the test.
                "--ignore-certificate-errors",
                "--window-size=1280,720",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            // Chromium's shared-memory files go with the profile.
            .env("TMPDIR", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromium is required by this test and could not run ({e}); run scripts/test to install it")
            });
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        let _ = tx.send(url.trim().to_owned());
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let Ok(endpoint) = rx.recv_timeout(LAUNCH_TIMEOUT) else {
            let _ = child.kill();
            panic!(
                "chromium did not open DevTools; stderr: {:?}",
                log.lock().unwrap()
            );
        };
        Browser {
            child,
            endpoint,
            log,
            _profile: profile,
        }
    }

    /// Opens a blank tab and attaches to it.
    pub fn open_page(&self) -> Page {
        let mut browser = Page::connect(&self.endpoint);
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let id = target["targetId"].as_str().expect("target id");
        let authority = self
            .endpoint
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("DevTools address");
        let mut page = Page::connect(&format!("ws://{authority}/devtools/page/{id}"));
        page.call("Page.enable", json!({}));
        page.call("Runtime.enable", json!({}));
        page.call("Log.enable", json!({}));
        page.call("Network.enable", json!({}));
        page
    }

    /// Chromium's own stderr (crashes, GPU and media errors).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely so the renderer and helper processes go too, then make sure.
        if let Ok(stream) = connect_endpoint(&self.endpoint) {
            let mut browser = Page::from_socket(stream);
            browser.send("Browser.close", json!({}));
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect_endpoint(url: &str) -> Result<WebSocket<TcpStream>, String> {
    let authority = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default();
    let tcp = TcpStream::connect(authority).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let (ws, _) = tungstenite::client(url, tcp).map_err(|e| e.to_string())?;
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// One DevTools connection (a page, or the browser itself).
#[derive(Debug)]
pub struct Page {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Console calls, uncaught exceptions and log entries, as `level: text`.
    pub messages: Vec<String>,
    /// URLs the page requested (HTTP requests and WebSockets), in order.
    pub requests: Vec<String>,
}

/// How a `<video>` on the page fared.
#[derive(Debug, Default, Clone)]
pub struct Playback {
    /// Seconds of media time played (sum of small forward steps; seeks excluded).
    pub played: f64,
    pub found_video: bool,
    /// `video.error` as `code message`, if it ever had one.
    pub error: Option<String>,
    /// The last state seen.
    pub last: Value,
}

impl Page {
    fn connect(url: &str) -> Page {
        let ws = connect_endpoint(url).unwrap_or_else(|e| panic!("DevTools {url}: {e}"));
        Page::from_socket(ws)
    }

    fn from_socket(ws: WebSocket<TcpStream>) -> Page {
        Page {
            ws,
            next_id: 1,
            messages: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(message.to_string()))
            .unwrap_or_else(|e| panic!("DevTools send {method}: {e}"));
        id
    }

    /// Calls a DevTools method and returns its result; panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "DevTools {method} did not answer"
            );
            let Some(message) = self.next_message() else {
                continue;
            };
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    panic!("DevTools {method} failed: {error}");
                }
                return message["result"].clone();
            }
            self.note_event(&message);
        }
    }

    /// Collects events for `duration`.
    pub fn pump(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if let Some(message) = self.next_message() {
                self.note_event(&message);
            }
        }
    }

    fn next_message(&mut self) -> Option<Value> {
        match self.ws.read() {
            Ok(Message::Text(text)) => serde_json::from_str(text.as_str()).ok(),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("DevTools connection: {e}"),
        }
    }

    fn note_event(&mut self, message: &Value) {
        let params = &message["params"];
        let line = match message["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                let text = params["args"]
                    .as_array()
                    .map(|args| {
                        args.iter()
                            .map(|a| match &a["value"] {
                                Value::String(s) => s.clone(),
                                Value::Null => a["description"].as_str().unwrap_or("").to_owned(),
                                other => other.to_string(),
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                format!("{}: {text}", params["type"].as_str().unwrap_or("log"))
            }
            Some("Runtime.exceptionThrown") => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or("");
                format!("exception: {text}")
            }
            Some("Log.entryAdded") => {
                let entry = &params["entry"];
                format!(
                    "{}: {} {}",
                    entry["level"].as_str().unwrap_or("log"),
                    entry["text"].as_str().unwrap_or(""),
                    entry["url"].as_str().unwrap_or("")
                )
            }
            Some("Network.requestWillBeSent") => {
                if let Some(url) = params["request"]["url"].as_str() {
                    self.requests.push(url.to_owned());
                }
                return;
            }
            Some("Network.webSocketCreated") => {
                if let Some(url) = params["url"].as_str() {
                    self.requests.push(url.to_owned());
                }
                return;
            }
            _ => return,
        };
        self.messages.push(line);
    }

    /// Navigates and waits for the load event (or 15 s).
    pub fn navigate(&mut self, url: &str) {
        let result = self.call("Page.navigate", json!({"url": url}));
        if let Some(error) = result["errorText"].as_str() {
            panic!("navigating to {url} failed: {error}");
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(message) = self.next_message() {
                if message["method"] == "Page.loadEventFired" {
                    return;
                }
                self.note_event(&message);
            }
        }
    }

    /// Evaluates `expression` (awaiting a promise) and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(details) = result.get("exceptionDetails") {
            panic!("script `{expression}` threw: {details}");
        }
        result["result"]["value"].clone()
    }

    /// Saves a PNG of the page as `target/screenshots/NAME.png` and returns its path.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        let result = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let data = base64_decode(result["data"].as_str().unwrap_or_default());
        assert!(data.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, data).expect("write screenshot");
        path
    }

    /// Watches the page's first `<video>` until it has played `seconds` of media,
    /// has failed, or `timeout` passed.
    pub fn watch_video(&mut self, seconds: f64, timeout: Duration) -> Playback {
        const STATE: &str = "(() => { const v = document.querySelector('video'); \
            if (!v) return null; \
            return {t: v.currentTime, paused: v.paused, ready: v.readyState, \
                    src: v.currentSrc, \
                    error: v.error ? (v.error.code + ' ' + v.error.message) : null}; })()";
        let mut playback = Playback::default();
        let mut last_time: Option<f64> = None;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && playback.played < seconds {
            let state = self.eval(STATE);
            if !state.is_null() {
                playback.found_video = true;
                let t = state["t"].as_f64().unwrap_or(0.0);
                if let Some(previous) = last_time {
                    let step = t - previous;
                    if step > 0.0 && step < 2.0 {
                        playback.played += step;
                    }
                }
                last_time = Some(t);
                if let Some(error) = state["error"].as_str() {
                    playback.error = Some(error.to_owned());
                }
                playback.last = state;
                if playback.error.is_some() {
                    break;
                }
            }
            self.pump(Duration::from_millis(250));
        }
        playback
    }

    /// Polls `expression` until it is truthy (not `null`, `false`, `0`, `""`), and
    /// returns that value; panics after `timeout` saying `what` did not happen, with
    /// the page's console and the last value seen.
    pub fn wait_for(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?} (last value {value}); console:\n{}",
                self.messages.join("\n")
            );
            self.pump(Duration::from_millis(100));
        }
    }

    /// Waits until an element matching `selector` exists and is shown (has a box).
    pub fn wait_for_selector(&mut self, selector: &str, timeout: Duration) {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); \
             return !!e && e.getClientRects().length > 0; }})()",
            js_literal(selector)
        );
        self.wait_for(&format!("`{selector}` shown"), &expression, timeout);
    }

    /// Whether an element matching `selector` exists and is shown.
    pub fn is_visible(&mut self, selector: &str) -> bool {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); \
             return !!e && e.getClientRects().length > 0; }})()",
            js_literal(selector)
        );
        self.eval(&expression).as_bool().unwrap_or(false)
    }

    /// The text of the first element matching `selector` (`value` for form fields),
    /// `None` if there is none.
    pub fn text(&mut self, selector: &str) -> Option<String> {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             return ('value' in e && typeof e.value === 'string' && e.tagName !== 'BUTTON') \
               ? e.value : e.innerText; }})()",
            js_literal(selector)
        );
        self.eval(&expression).as_str().map(str::to_owned)
    }

    /// Clicks the middle of the first element matching `selector` with the mouse, as
    /// a user would (scrolled into view first). Waits up to 5 s while something
    /// else covers that point (a toast); panics if the element is not shown or stays
    /// covered.
    pub fn click(&mut self, selector: &str) {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return {{why: 'no such element'}}; \
             e.scrollIntoView({{block: 'center', inline: 'center'}}); \
             const r = e.getBoundingClientRect(); \
             if (!r.width || !r.height) return {{why: 'not shown'}}; \
             const x = r.left + r.width / 2, y = r.top + r.height / 2; \
             const top = document.elementFromPoint(x, y); \
             if (top && top !== e && !e.contains(top)) \
               return {{why: 'covered by <' + top.tagName.toLowerCase() + ' class=\"' + top.className + '\">'}}; \
             return {{x, y}}; }})()",
            js_literal(selector)
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let (x, y) = loop {
            let point = self.eval(&expression);
            if let (Some(x), Some(y)) = (point["x"].as_f64(), point["y"].as_f64()) {
                break (x, y);
            }
            assert!(
                Instant::now() < deadline,
                "cannot click `{selector}`: {}; console:\n{}",
                point["why"],
                self.messages.join("\n")
            );
            self.pump(Duration::from_millis(100));
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks like [`Page::click`] and accepts the confirmation dialog (`confirm()`)
    /// the click opens; returns the dialog's message. Panics if none opens.
    pub fn click_and_accept_dialog(&mut self, selector: &str) -> String {
        let point = self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center', inline: 'center'}}); \
             const r = e.getBoundingClientRect(); \
             return (r.width && r.height) ? {{x: r.left + r.width / 2, y: r.top + r.height / 2}} : null; }})()",
            js_literal(selector)
        ));
        let (Some(x), Some(y)) = (point["x"].as_f64(), point["y"].as_f64()) else {
            panic!("cannot click `{selector}`: no such element shown");
        };
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mousePressed", "x": x, "y": y, "button": "left", "clickCount": 1}),
        );
        // The release runs the click handler, which waits in confirm() until the
        // dialog is answered: answer it, then wait for the release to complete.
        let release = self.send(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseReleased", "x": x, "y": y, "button": "left", "clickCount": 1}),
        );
        let deadline = Instant::now() + CALL_TIMEOUT;
        let mut dialog = None;
        loop {
            assert!(
                Instant::now() < deadline,
                "clicking `{selector}` did not finish (dialog: {dialog:?})"
            );
            let Some(message) = self.next_message() else {
                continue;
            };
            if message["method"] == "Page.javascriptDialogOpening" {
                dialog = Some(
                    message["params"]["message"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                );
                self.send("Page.handleJavaScriptDialog", json!({"accept": true}));
            } else if message["id"].as_u64() == Some(release) {
                break;
            } else {
                self.note_event(&message);
            }
        }
        dialog.unwrap_or_else(|| panic!("clicking `{selector}` opened no dialog"))
    }

    /// Replaces the contents of the field matching `selector` with `text`, typed
    /// as input events (focus, select all, insert).
    pub fn type_into(&mut self, selector: &str, text: &str) {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return false; \
             e.focus(); if (e.select) e.select(); return document.activeElement === e; }})()",
            js_literal(selector)
        );
        assert!(
            self.eval(&expression).as_bool().unwrap_or(false),
            "cannot type into `{selector}`: no such field, or it cannot take focus"
        );
        self.call("Input.insertText", json!({"text": text}));
        let value = self.text(selector).unwrap_or_default();
        assert_eq!(
            value, text,
            "typing into `{selector}` left a different value"
        );
    }

    /// Emulates a screen of `width`×`height` CSS pixels; `mobile` also gives a
    /// phone's viewport meta handling and touch.
    pub fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 2 } else { 1 },
                   "mobile": mobile}),
        );
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": mobile}),
        );
    }

    /// Console errors the Brume player logged (`[brume]` in the text).
    pub fn player_errors(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|m| m.starts_with("error:") && m.contains("[brume]"))
            .cloned()
            .collect()
    }
}

/// `text` as a JavaScript string literal (JSON is a subset).
pub fn js_literal(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// The cargo target dir (where the test binary lives: `target/debug/deps/…`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(PathBuf::from)
        .or_else(|| exe.ancestors().nth(3).map(PathBuf::from))
        .expect("target dir")
}

/// Standard base64 (padding optional).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
