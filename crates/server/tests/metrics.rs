//! Observability as an operator sees it: viewer sessions in `/api/v1/clients`,
//! Prometheus metrics on `/metrics`, totals, and recent log lines in
//! `/api/v1/logs` — against the real binary, with ffmpeg and plain HTTP clients
//! as viewers.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn start() -> Brume {
    let dir = tempfile::tempdir().unwrap();
    Brume::start_with(dir, json!({}))
}

fn api(brume: &Brume, path: &str) -> String {
    let addr = brume
        .logged_field("management API listening", "address")
        .unwrap_or_else(|| panic!("no API line in {:?}", brume.log_lines()));
    format!("http://{addr}{path}")
}

fn api_json(brume: &Brume, path: &str) -> Value {
    let response = get(&api(brume, path));
    assert_eq!(response.status, 200, "{path}: {:?}", response);
    response.json()
}

fn clients(brume: &Brume) -> Vec<Value> {
    api_json(brume, "/api/v1/clients")["clients"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Polls `check` until it gives a value or `limit` passes.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Prometheus exposition, checked line by line: every non-comment line is
/// `name{labels} value` (or `name value`). Returns (series, value) pairs.
fn scrape(brume: &Brume) -> Vec<(String, f64)> {
    let response = get(&api(brume, "/metrics"));
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    let text = String::from_utf8(response.body).unwrap();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            let mut words = line.split(' ');
            assert_eq!(words.next(), Some("#"));
            assert!(matches!(words.next(), Some("HELP" | "TYPE")), "{line}");
            continue;
        }
        samples.push(parse_sample(line).unwrap_or_else(|| panic!("bad exposition line: {line:?}")));
    }
    samples
}

fn parse_sample(line: &str) -> Option<(String, f64)> {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c == '_' || c == ':' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
            })
    };
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    match series.split_once('{') {
        None => is_name(series).then(|| (series.to_owned(), value)),
        Some((name, labels)) => {
            if !is_name(name) {
                return None;
            }
            let mut rest = labels.strip_suffix('}')?;
            while !rest.is_empty() {
                let (label, after) = rest.split_once("=\"")?;
                if !is_name(label) {
                    return None;
                }
                // The value runs to the first unescaped quote.
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next()? {
                        (_, '\\') => {
                            chars.next()?;
                        }
                        (i, '"') => break i,
                        _ => {}
                    }
                };
                rest = &after[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
            Some((series.to_owned(), value))
        }
    }
}

fn metric(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

#[test]
fn an_mp4_viewer_is_listed_while_it_plays_and_counted_in_metrics() {
    let brume = start();
    let player = Player::start(&brume.url("/demo.mp4"));
    let session = wait_for(Duration::from_secs(20), "an MP4 session with bytes", || {
        clients(&brume).into_iter().find(|c| {
            c["stream"] == "demo" && c["protocol"] == "MP4" && c["bytes"].as_u64() > Some(0)
        })
    });
    assert_eq!(session["ip"], "127.0.0.1");
    assert!(session["id"].is_string());
    assert!(session["duration_s"].as_f64().is_some());
    assert!(session["started_at_ms"].as_u64() > Some(1_600_000_000_000));

    let samples = scrape(&brume);
    let sent = metric(
        &samples,
        r#"brume_bytes_sent_total{stream="demo",protocol="MP4"}"#,
    );
    assert!(sent > Some(0.0), "bytes sent: {sent:?}");
    assert_eq!(
        metric(&samples, r#"brume_viewers{stream="demo",protocol="MP4"}"#),
        Some(1.0)
    );
    assert!(metric(&samples, "process_resident_memory_bytes") > Some(1e6));
    assert!(metric(&samples, "process_open_fds") > Some(3.0));
    assert!(metric(&samples, "brume_tasks_alive") > Some(1.0));

    // The bytes keep growing while it plays, and the bitrate shows in the totals.
    let first = session["bytes"].as_u64().unwrap();
    let totals = wait_for(
        Duration::from_secs(20),
        "bytes to grow and a bitrate",
        || {
            let totals = api_json(&brume, "/api/v1/totals");
            let grown = clients(&brume)
                .iter()
                .any(|c| c["id"] == session["id"] && c["bytes"].as_u64() > Some(first));
            (grown && totals["bandwidth_out_bps"].as_u64() > Some(0)).then_some(totals)
        },
    );
    assert_eq!(totals["viewers"], 1);
    assert!(totals["connections"].as_u64() >= Some(1), "{totals}");
    assert!(totals["bytes_out"].as_u64() > Some(first));
    assert!(totals["requests"].as_u64() >= Some(1));
    assert_eq!(totals["streams"], 1);
    assert_eq!(totals["streams_online"], 1);
    assert_eq!(totals["publishers"], 0);

    // The viewer leaves: its session ends.
    drop(player);
    wait_for(Duration::from_secs(20), "the MP4 session to end", || {
        clients(&brume).is_empty().then_some(())
    });
    let samples = scrape(&brume);
    assert_eq!(
        metric(&samples, r#"brume_viewers{stream="demo",protocol="MP4"}"#),
        Some(0.0)
    );
}

/// The first segment URL of the demo's HLS media playlist.
fn first_hls_segment(brume: &Brume, headers: &[(&str, &str)]) -> String {
    let playlist = wait_for(
        Duration::from_secs(20),
        "an HLS playlist with segments",
        || {
            let response = request(
                "GET",
                &brume.url("/hls/demo/media.m3u8"),
                headers,
                Duration::from_secs(10),
            );
            let text = String::from_utf8_lossy(&response.body).into_owned();
            (response.status == 200 && text.contains(".ts")).then_some(text)
        },
    );
    let segment = playlist.lines().find(|l| l.ends_with(".ts")).unwrap();
    brume.url(&format!("/hls/demo/{segment}"))
}

#[test]
fn an_hls_viewer_shows_as_hls_and_a_repeated_segment_hits_the_cache() {
    let brume = start();
    let segment = first_hls_segment(&brume, &[]);
    let first = get(&segment);
    assert_eq!(first.status, 200);
    let hits_before = metric(&scrape(&brume), "brume_segment_cache_hits_total").unwrap();
    let second = get(&segment);
    assert_eq!(second.status, 200);
    assert_eq!(first.body, second.body);
    let samples = scrape(&brume);
    let hits_after = metric(&samples, "brume_segment_cache_hits_total").unwrap();
    assert!(
        hits_after > hits_before,
        "cache hits {hits_before} -> {hits_after}"
    );
    assert!(metric(&samples, "brume_segment_cache_misses_total") >= Some(1.0));

    let listed = clients(&brume);
    let hls: Vec<&Value> = listed.iter().filter(|c| c["protocol"] == "HLS").collect();
    assert_eq!(hls.len(), 1, "one HLS session for one client: {listed:?}");
    assert_eq!(hls[0]["stream"], "demo");
    assert_eq!(hls[0]["ip"], "127.0.0.1");
    assert!(hls[0]["bytes"].as_u64() >= Some(2 * first.body.len() as u64));
    assert_eq!(
        metric(&samples, r#"brume_viewers{stream="demo",protocol="HLS"}"#),
        Some(1.0)
    );
}

#[test]
fn a_client_behind_a_trusted_proxy_is_listed_with_its_forwarded_address() {
    let brume = start();
    let forwarded = [("X-Forwarded-For", "203.0.113.9, 10.0.0.1")];
    let segment = first_hls_segment(&brume, &forwarded);
    assert_eq!(
        request("GET", &segment, &forwarded, Duration::from_secs(10)).status,
        200
    );
    // A DASH player elsewhere, directly connected.
    assert_eq!(get(&brume.url("/cmaf/demo/index.mpd")).status, 200);
    let listed = clients(&brume);
    let proxied = listed
        .iter()
        .find(|c| c["ip"] == "203.0.113.9")
        .unwrap_or_else(|| panic!("no client with the forwarded address: {listed:?}"));
    assert_eq!(proxied["protocol"], "HLS");
    assert!(listed
        .iter()
        .any(|c| c["protocol"] == "DASH" && c["ip"] == "127.0.0.1"));
}

#[test]
fn responses_are_counted_by_status_and_the_exposition_parses() {
    let brume = start();
    let before = metric(
        &scrape(&brume),
        r#"brume_http_responses_total{status="404"}"#,
    )
    .unwrap_or(0.0);
    assert_eq!(get(&brume.url("/nosuch.mp4")).status, 404);
    assert_eq!(get(&brume.url("/whatever.txt")).status, 404);
    let samples = scrape(&brume);
    assert_eq!(
        metric(&samples, r#"brume_http_responses_total{status="404"}"#),
        Some(before + 2.0)
    );
    for family in [
        "brume_publishers",
        "brume_connections",
        "brume_segment_cache_hits_total",
        "brume_segment_cache_misses_total",
    ] {
        assert!(metric(&samples, family).is_some(), "{family} missing");
    }
    assert!(parse_sample(r#"x{a="b\"c",d="e"} 1"#).is_some());
    assert!(parse_sample(r#"x{a="b} 1"#).is_none());
}

#[test]
fn recent_logs_show_the_startup_lines_and_since_returns_only_newer_ones() {
    let brume = start();
    let all = api_json(&brume, "/api/v1/logs");
    let lines = all["lines"].as_array().unwrap();
    let ready = lines
        .iter()
        .find(|l| l["message"] == "HTTP media port listening")
        .unwrap_or_else(|| panic!("no startup line in {all}"));
    assert_eq!(ready["level"], "INFO");
    assert!(ready["fields"]["address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(ready["time_ms"].as_u64() > Some(1_600_000_000_000));
    assert_eq!(all["next"], lines.last().unwrap()["seq"]);

    let first_seq = lines[0]["seq"].as_u64().unwrap();
    let after = api_json(&brume, &format!("/api/v1/logs?since={first_seq}"));
    let after_lines = after["lines"].as_array().unwrap();
    assert!(after_lines.len() >= lines.len() - 1);
    assert_eq!(after_lines[0], lines[1]);
    assert!(after_lines
        .iter()
        .all(|l| l["seq"].as_u64() > Some(first_seq)));

    let next = all["next"].as_u64().unwrap();
    let newer = api_json(&brume, &format!("/api/v1/logs?since={next}"));
    assert!(newer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["seq"].as_u64() > Some(next)));

    let bad = get(&api(&brume, "/api/v1/logs?since=yesterday"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "since");
}

#[test]
fn a_mews_viewer_is_one_session_for_the_life_of_its_socket() {
    use tungstenite::stream::MaybeTlsStream;
    use tungstenite::Message;

    let brume = start();
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/demo.mp4", brume.addr())).unwrap();
    if let MaybeTlsStream::Plain(socket) = ws.get_ref() {
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }
    ws.send(Message::text(
        json!({"type": "play", "seek_time": "live"}).to_string(),
    ))
    .unwrap();
    let mut binary = 0;
    while binary < 2 {
        if let Message::Binary(_) = ws.read().unwrap() {
            binary += 1;
        }
    }
    let session = wait_for(Duration::from_secs(20), "a MEWS session with bytes", || {
        clients(&brume)
            .into_iter()
            .find(|c| c["protocol"] == "MEWS" && c["bytes"].as_u64() > Some(0))
    });
    assert_eq!(session["stream"], "demo");
    assert_eq!(session["ip"], "127.0.0.1");
    assert_eq!(clients(&brume).len(), 1);

    // The player goes away: the session ends with the socket.
    drop(ws);
    wait_for(Duration::from_secs(30), "the MEWS session to end", || {
        clients(&brume).is_empty().then_some(())
    });
}

#[test]
fn an_rtmp_publisher_shows_in_the_publisher_count_and_bytes_in() {
    let dir = tempfile::tempdir().unwrap();
    let brume = Brume::start_with(dir, json!({"streams": {"cam": {"source": "push://"}}}));
    let rtmp = brume.rtmp_addr();
    let _publisher = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 20);
    let samples = wait_for(Duration::from_secs(20), "a live publisher", || {
        let samples = scrape(&brume);
        (metric(&samples, "brume_publishers") == Some(1.0)).then_some(samples)
    });
    assert!(metric(&samples, r#"brume_bytes_received_total{stream="cam"}"#) > Some(0.0));
    let totals = wait_for(Duration::from_secs(20), "an input bitrate", || {
        let totals = api_json(&brume, "/api/v1/totals");
        (totals["bandwidth_in_bps"].as_u64() > Some(0)).then_some(totals)
    });
    assert_eq!(totals["publishers"], 1);
    assert_eq!(totals["streams_online"], 1);
    assert!(totals["bytes_in"].as_u64() > Some(0));
}

#[test]
fn an_rtmp_player_is_listed_as_an_rtmp_client_until_it_leaves() {
    let brume = start();
    let player = Player::start(&format!("rtmp://{}/play/demo", brume.rtmp_addr()));
    let session = wait_for(
        Duration::from_secs(20),
        "an RTMP session with bytes",
        || {
            clients(&brume).into_iter().find(|c| {
                c["stream"] == "demo" && c["protocol"] == "RTMP" && c["bytes"].as_u64() > Some(0)
            })
        },
    );
    assert_eq!(session["ip"], "127.0.0.1");
    let samples = scrape(&brume);
    assert_eq!(
        metric(&samples, r#"brume_viewers{stream="demo",protocol="RTMP"}"#),
        Some(1.0)
    );
    drop(player);
    wait_for(Duration::from_secs(20), "the RTMP session to end", || {
        clients(&brume).is_empty().then_some(())
    });
}
