//! The web UI in a real browser (headless Chromium) against the real binary: first
//! account set up through the UI (refused without the setup token, created with the
//! URL from the log), logging out and in through the form (a wrong
//! password is refused in words), a stream added through the form (a bad name is
//! refused in words beside the field) and seen online, its preview really playing,
//! a public address set under Protocols changing the embed code to the guide's form
//! under that address, triggers edited as JSON (an unknown event refused in
//! words, a handler saved), and a lost server reported. Screenshots of desktop and
//! phone-sized screens go to `target/screenshots/ui-*.png`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::browser::{Browser, Page};
use common::Brume;

/// Longest a UI step (a request and a redraw, a 2 s poll) may take.
const STEP: Duration = Duration::from_secs(15);
/// Media seconds the preview must play.
const PLAY_SECONDS: f64 = 2.0;
const PUBLIC: &str = "https://media.example.com/brume/";
const USER: &str = "admin";
const PASSWORD: &str = "correct horse battery staple";

/// Brume with no stream and `accounts` (`api.accounts`: name -> hash), and the
/// address of its UI.
fn start(accounts: serde_json::Value) -> (Brume, String) {
    let dir = tempfile::tempdir().unwrap();
    let brume = Brume::start_with(
        dir,
        serde_json::json!({"streams": {}, "api": {"accounts": accounts}}),
    );
    let api = brume
        .logged_field("management API listening", "address")
        .unwrap_or_else(|| panic!("no API listening line in {:?}", brume.log_lines()));
    (brume, format!("http://{api}/"))
}

/// The hash `brume passwd` stores for `password` (in a config file of its own).
fn password_hash(password: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_brume"))
        .args(["passwd", "--user", USER, "--config"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "brume passwd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["api"]["accounts"][USER]
        .as_str()
        .unwrap_or_else(|| panic!("no hash for {USER} in {config}"))
        .to_owned()
}

/// Waits for a banner message of `kind` (`error`, `ok`) that says `words`; returns
/// its whole text.
fn banner(page: &mut Page, kind: &str, words: &str) -> String {
    let expression = format!(
        "[...document.querySelectorAll('#banner .message.{kind} .text')] \
         .map(e => e.textContent).find(t => t.includes({})) || null",
        common::browser::js_literal(words)
    );
    let found = page.wait_for(&format!("a banner saying {words:?}"), &expression, STEP);
    found.as_str().unwrap_or_default().to_owned()
}

fn dismiss_banners(page: &mut Page) {
    page.eval("document.querySelectorAll('#banner .close').forEach(b => b.click())");
}

/// The guide's embed code (as the proxy tests use it) for `stream` under `base`,
/// with the element id `id`.
fn guide_embed_code(base: &str, stream: &str, id: &str) -> String {
    let page = include_str!("fixtures/proxy/embed.html");
    let start = page.find("<div class=\"mistvideo\"").unwrap();
    let end = page.rfind("</div>").unwrap() + "</div>".len();
    page[start..end]
        .replace("//example.com/mistserver/", base)
        .replace("STREAMNAME", stream)
        .replace("nVyzrqZSm7PJ", id)
}

/// The element id in a piece of embed code.
fn embed_id(code: &str) -> String {
    let rest = code.split("id=\"").nth(1).expect("embed code has an id");
    rest.split('"').next().unwrap().to_owned()
}

/// Moves to a view of the UI, as following a link does (no page load).
fn go(page: &mut Page, hash: &str) {
    page.eval(&format!(
        "location.hash = {}",
        common::browser::js_literal(hash)
    ));
}

fn log_in(page: &mut Page, password: &str) {
    page.wait_for_selector("#login-form", STEP);
    page.type_into("#login-username", USER);
    page.type_into("#login-password", password);
    page.click("#login-submit");
}

/// No account yet: the UI asks for the first one, creates it and logs in; after
/// logging out, the login form refuses a wrong password in words.
#[test]
fn first_account_is_created_through_the_ui() {
    let (brume, ui) = start(serde_json::json!({}));
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.set_viewport(1280, 860, false);
    page.navigate(&ui);
    page.wait_for_selector("#login-repeat", STEP);
    let intro = page.text("#login-intro").unwrap();
    assert!(intro.contains("no account yet"), "setup intro: {intro}");
    // Without the setup token from the log the account is not created.
    page.type_into("#login-username", USER);
    page.type_into("#login-password", PASSWORD);
    page.type_into("#login-repeat", PASSWORD);
    page.type_into("#login-token", "0123456789abcdef");
    page.click("#login-submit");
    page.wait_for_selector("[data-field=setup_token] .field-error", STEP);
    let refused = page.text("[data-field=setup_token] .field-error").unwrap();
    assert!(refused.contains("setup token"), "refusal: {refused}");
    // The URL brume logs fills the token in and leaves the address bar clean.
    let (token, url) = brume.setup_token();
    assert!(url.starts_with(ui.trim_end_matches('/')), "{url} vs {ui}");
    page.navigate(&url);
    page.wait_for_selector("#login-repeat", STEP);
    assert_eq!(page.text("#login-token").as_deref(), Some(token.as_str()));
    assert_eq!(page.eval("location.search").as_str(), Some(""));
    page.screenshot("ui-setup-desktop");
    page.type_into("#login-username", USER);
    page.type_into("#login-password", PASSWORD);
    page.type_into("#login-repeat", "something else");
    page.click("#login-submit");
    page.wait_for_selector("[data-field=repeat] .field-error", STEP);
    page.type_into("#login-repeat", PASSWORD);
    page.click("#login-submit");
    page.wait_for_selector("#view-overview", STEP);
    assert_eq!(page.text("#username").as_deref(), Some(USER));

    page.click("#logout");
    page.wait_for_selector("#login-form", STEP);
    assert!(!page.is_visible("#login-repeat"), "setup is over");
    log_in(&mut page, "wrong password");
    page.wait_for_selector("[data-field=password] .field-error", STEP);
    let refused = page.text("[data-field=password] .field-error").unwrap();
    assert!(
        refused.contains("wrong username or password"),
        "refusal: {refused}"
    );
    page.screenshot("ui-login-refused-desktop");
    log_in(&mut page, PASSWORD);
    page.wait_for_selector("#view-overview", STEP);
}

/// An account made by `brume passwd`: log in, add a stream, watch its preview, set
/// a public address and take the embed code; on a phone too; then lose the server.
#[test]
fn manage_a_stream_from_login_to_embed_code() {
    let (brume, ui) = start(serde_json::json!({ USER: password_hash(PASSWORD) }));
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.set_viewport(1280, 860, false);
    page.navigate(&ui);
    log_in(&mut page, PASSWORD);
    page.wait_for_selector("#view-overview", STEP);
    assert_eq!(page.text("#username").as_deref(), Some(USER));
    page.wait_for(
        "the overview shows the totals",
        "document.querySelector('#t-streams').textContent === '0'",
        STEP,
    );

    // Add a stream through the form: a bad name first.
    page.click("#nav a[data-view=streams]");
    page.wait_for_selector("#streams-table tr.empty", STEP);
    page.click("#add-stream");
    page.wait_for_selector("#stream-form", STEP);
    page.type_into("#stream-name", "bad/name");
    page.type_into("#stream-source", "builtin:demo");
    page.click("#stream-loop");
    page.click("#stream-save");
    page.wait_for_selector("[data-field=name] .field-error", STEP);
    let name_error = page.text("[data-field=name] .field-error").unwrap();
    assert!(
        name_error.len() > 12 && name_error.contains("name"),
        "the bad name is explained in words: {name_error:?}"
    );
    page.screenshot("ui-stream-form-error-desktop");
    page.type_into("#stream-name", "cam1");
    page.click("#stream-save");
    page.wait_for_selector("#streams-table tr[data-stream=cam1]", STEP);
    page.wait_for(
        "cam1 is listed online",
        "(document.querySelector('tr[data-stream=cam1] .badge') || {}).dataset?.status === 'online'",
        STEP,
    );
    page.screenshot("ui-streams-desktop");

    // Its page: the preview really plays, from the HTTP port.
    page.click("tr[data-stream=cam1] td.name a");
    page.wait_for_selector("#preview video", STEP);
    let playback = page.watch_video(PLAY_SECONDS, Duration::from_secs(20));
    assert!(
        playback.played >= PLAY_SECONDS && playback.error.is_none(),
        "the preview did not play: {playback:?}\nconsole:\n{}",
        page.messages.join("\n")
    );
    // Under the UI's strict CSP, with the player script from the management port
    // itself: no script of the public media port runs in the management origin.
    let scripts =
        page.eval("Array.from(document.scripts).map(s => s.src).filter(s => s).join(' ')");
    let scripts = scripts.as_str().unwrap_or_default().to_owned();
    assert!(scripts.contains(&format!("{ui}ui/player.js")), "{scripts}");
    assert!(!scripts.contains(&brume.http), "{scripts}");
    assert!(
        !page
            .messages
            .iter()
            .any(|m| m.contains("Content Security Policy")),
        "CSP violations:\n{}",
        page.messages.join("\n")
    );
    let index = common::get(&ui);
    let csp = index.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let code = page.text("#embed-code").unwrap();
    let direct = format!("{}/", brume.http);
    assert_eq!(
        code,
        guide_embed_code(&direct, "cam1", &embed_id(&code)),
        "embed code from the HTTP port"
    );
    page.screenshot("ui-stream-desktop");

    // Protocols: a public address; the embed code follows it.
    page.click("#nav a[data-view=protocols]");
    page.wait_for_selector("#p-http-public .add", STEP);
    // An address that cannot be bound is refused, in words, beside the field.
    page.type_into("#p-http-listen", "192.0.2.1:80");
    page.click("#protocols-save");
    page.wait_for_selector("[data-field='http.listen'] .field-error", STEP);
    let refused = page
        .text("[data-field='http.listen'] .field-error")
        .unwrap();
    assert!(
        refused.contains("cannot listen for HTTP on 192.0.2.1:80"),
        "bind refusal: {refused}"
    );
    banner(&mut page, "error", "cannot listen for HTTP");
    page.screenshot("ui-protocols-refused-desktop");
    dismiss_banners(&mut page);
    page.click("#protocols-undo");
    page.wait_for(
        "the form shows the saved listen address again",
        "document.querySelector('#p-http-listen').value === '127.0.0.1:0'",
        STEP,
    );
    page.click("#p-http-public .add");
    page.type_into("#p-http-public input", PUBLIC);
    page.click("#protocols-save");
    banner(&mut page, "ok", "Protocols saved");
    page.screenshot("ui-protocols-desktop");
    dismiss_banners(&mut page);
    go(&mut page, "#/streams/cam1");
    page.wait_for_selector("#embed-code", STEP);
    let code = page.text("#embed-code").unwrap();
    assert_eq!(
        code,
        guide_embed_code(PUBLIC, "cam1", &embed_id(&code)),
        "embed code under the public address"
    );
    let urls = page
        .eval("[...document.querySelectorAll('#embed input.url')].map(i => i.value).join('\\n')");
    let urls = urls.as_str().unwrap();
    for url in [
        "https://media.example.com/brume/hls/cam1/index.m3u8",
        "https://media.example.com/brume/cmaf/cam1/index.mpd",
        "wss://media.example.com/brume/cam1.mp4",
        "https://media.example.com/brume/cam1.html",
    ] {
        assert!(urls.contains(url), "{url} missing from\n{urls}");
    }
    assert!(urls.contains("rtmp://media.example.com:"), "{urls}");

    // Edit: a DVR window; the form shows it when opened again.
    page.click("#view-stream a.button[href$='/edit']");
    page.wait_for_selector("#stream-dvr", STEP);
    assert_eq!(page.text("#stream-name").as_deref(), Some("cam1"));
    page.type_into("#stream-dvr", "30");
    page.click("#stream-save");
    banner(&mut page, "ok", "saved");
    go(&mut page, "#/streams/cam1/edit");
    page.wait_for(
        "the edit form shows the new DVR window",
        "(document.querySelector('#stream-dvr') || {}).value === '30'",
        STEP,
    );
    dismiss_banners(&mut page);

    // Logs: the server's recent lines.
    page.click("#nav a[data-view=logs]");
    page.wait_for(
        "the logs show the API starting",
        "[...document.querySelectorAll('#logs-box .log-line')] \
         .some(l => l.textContent.includes('management API listening'))",
        STEP,
    );
    page.screenshot("ui-logs-desktop");

    // A phone-sized screen: one column, still usable.
    page.set_viewport(390, 844, true);
    go(&mut page, "#/streams");
    page.wait_for_selector("tr[data-stream=cam1] .badge", STEP);
    let one_column = page.eval(
        "document.querySelector('#streams-table thead').getClientRects().length === 0 \
         && document.documentElement.scrollWidth <= window.innerWidth",
    );
    assert_eq!(
        one_column, true,
        "the streams list fits a phone's width as cards"
    );
    page.screenshot("ui-streams-phone");
    go(&mut page, "#/streams/cam1");
    page.wait_for_selector("#preview video", STEP);
    page.screenshot("ui-stream-phone");
    go(&mut page, "#/overview");
    page.wait_for_selector("#chart-viewers", STEP);
    page.screenshot("ui-overview-phone");

    // Delete, after a confirmation.
    go(&mut page, "#/streams");
    page.wait_for_selector("tr[data-stream=cam1] button.danger", STEP);
    let question = page.click_and_accept_dialog("tr[data-stream=cam1] button.danger");
    assert!(question.contains("cam1"), "confirmation: {question}");
    page.wait_for_selector("#streams-table tr.empty", STEP);

    // The server goes away: the UI says so in words.
    drop(brume);
    banner(&mut page, "error", "Cannot reach the Brume server");
    page.screenshot("ui-server-lost-phone");
}

/// The Triggers view: the section as JSON, an unknown event refused in words, a
/// handler saved to the file and shown again after a reload.
#[test]
fn triggers_are_edited_in_the_ui() {
    let (brume, ui) = start(serde_json::json!({ USER: password_hash(PASSWORD) }));
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.set_viewport(1280, 860, false);
    page.navigate(&ui);
    log_in(&mut page, PASSWORD);
    page.wait_for_selector("#view-overview", STEP);
    page.click("#nav a[data-view=triggers]");
    page.wait_for_selector("#triggers-json", STEP);
    let set = |page: &mut Page, json: &str| {
        page.eval(&format!(
            "document.querySelector('#triggers-json').value = {}",
            common::browser::js_literal(json)
        ));
        page.click("#triggers-save");
    };
    set(&mut page, r#"{"USER_NOPE": []}"#);
    let error = page.wait_for(
        "the unknown event is refused",
        "(e => e && !e.hidden && e.textContent)(document.querySelector('#triggers-error'))",
        STEP,
    );
    assert!(error.as_str().unwrap().contains("unknown event"), "{error}");
    set(
        &mut page,
        r#"{"STREAM_BUFFER": [{"handler": "http://127.0.0.1:9/hook", "streams": ["cam"]}]}"#,
    );
    banner(&mut page, "ok", "Triggers saved");
    page.screenshot("ui-triggers-desktop");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&brume.config_path).unwrap()).unwrap();
    assert_eq!(
        saved["triggers"]["STREAM_BUFFER"][0]["handler"],
        "http://127.0.0.1:9/hook"
    );
    page.navigate(&format!("{ui}#/triggers"));
    let shown = page.wait_for(
        "the saved handler is shown",
        "(e => e && e.value.includes('127.0.0.1:9/hook') && e.value)(document.querySelector('#triggers-json'))",
        STEP,
    );
    assert!(shown.as_str().unwrap().contains("\"cam\""), "{shown}");
}

/// A stream's page lists its recordings, and one plays in the page (as MP4 from
/// the API port, authorised by the session cookie).
#[test]
fn a_recording_is_listed_and_played_in_the_ui() {
    let rec = tempfile::tempdir().unwrap();
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        serde_json::json!({
            "streams": {"demo": {"source": "builtin:demo", "loop": true, "record": {
                "path": format!("{}/$stream/$datetime", rec.path().display()),
                "segment_s": 1,
            }}},
            "api": {"accounts": {USER: password_hash(PASSWORD)}},
        }),
    );
    let ui = brume.api_url("/");
    // Let a few segments be recorded first.
    let index = |dir: &std::path::Path| -> usize {
        std::fs::read_dir(dir.join("demo"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|r| {
                std::fs::read_to_string(r.path().join("index.jsonl"))
                    .map_or(0, |t| t.lines().count())
            })
            .sum()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while index(rec.path()) < 3 {
        assert!(std::time::Instant::now() < deadline, "nothing recorded");
        std::thread::sleep(Duration::from_millis(200));
    }
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.set_viewport(1280, 860, false);
    page.navigate(&ui);
    log_in(&mut page, PASSWORD);
    page.wait_for_selector("#view-overview", STEP);
    go(&mut page, "#/streams/demo");
    page.wait_for_selector("#recordings-table .play-recording", STEP);
    page.click("#recordings-table .play-recording");
    let played = page.wait_for(
        "the recording plays",
        "(v => v && !v.error && v.currentTime > 1.5 && v.currentTime)(document.querySelector('#recording-player'))",
        STEP,
    );
    assert!(played.as_f64().unwrap() > 1.5);
    page.screenshot("ui-recordings-desktop");
}
