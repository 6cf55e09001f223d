//! Low-Latency HLS on the CMAF output with real clients: ffmpeg publishes over
//! RTMP; the media playlists list parts (independent ones at keyframes) and a
//! preload hint; parts concatenated after the init segment decode; a blocking
//! reload returns as soon as the part it asked for exists, a request too far
//! ahead is refused; a delta update is smaller and skips; ffmpeg still plays
//! the same playlists as plain HLS; hls.js in low-latency mode plays them
//! through the guide's nginx configuration and reports its latency.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::proxy::{brume_port, ProxyKind, ProxyPlan};
use common::*;
use serde_json::json;

fn push_server() -> Brume {
    Brume::start(json!({"cam": {"source": "push://"}}))
}

fn text(url: &str) -> String {
    let response = get(url);
    assert_eq!(response.status, 200, "{url}");
    String::from_utf8(response.body).unwrap()
}

/// The value of attribute `name` in an attribute list line.
fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[at..];
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next()
    } else {
        rest.split(',').next()
    }
}

/// (sequence, part) of a part URI `T/N.P.m4s`.
fn part_of(uri: &str) -> (u64, u32) {
    let stem = uri
        .rsplit('/')
        .next()
        .unwrap()
        .strip_suffix(".m4s")
        .unwrap();
    let (n, p) = stem.split_once('.').unwrap();
    (n.parse().unwrap(), p.parse().unwrap())
}

/// The preload hint's part, as (sequence, part).
fn hint(playlist: &str) -> (u64, u32) {
    let line = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))
        .unwrap_or_else(|| panic!("no preload hint in\n{playlist}"));
    assert_eq!(attribute(line, "TYPE"), Some("PART"));
    part_of(attribute(line, "URI").unwrap())
}

fn parts(playlist: &str) -> Vec<&str> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .collect()
}

/// Waits until the video playlist has at least `segments` segments.
fn wait_segments(brume: &Brume, segments: usize, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let response = get(&brume.url("/cmaf/cam/1.m3u8"));
        if response.status == 200 {
            let playlist = String::from_utf8(response.body).unwrap();
            if playlist.matches("#EXTINF").count() >= segments {
                return playlist;
            }
        }
        assert!(Instant::now() < deadline, "no {segments} segments in time");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Init segment plus every listed part of `track` from the first independent
/// one, as one file.
fn parts_file(brume: &Brume, dir: &std::path::Path, track: u32) -> (std::path::PathBuf, usize) {
    let playlist = text(&brume.url(&format!("/cmaf/cam/{track}.m3u8")));
    let mut bytes = get(&brume.url(&format!("/cmaf/cam/{track}/init.mp4"))).body;
    let listed = parts(&playlist);
    let first = listed
        .iter()
        .position(|l| l.contains("INDEPENDENT=YES"))
        .unwrap_or_else(|| panic!("no independent part in\n{playlist}"));
    let mut count = 0;
    for line in &listed[first..] {
        let uri = attribute(line, "URI").unwrap();
        let part = get(&brume.url(&format!("/cmaf/cam/{uri}")));
        assert_eq!(part.status, 200, "{uri}");
        let cache = part.header("cache-control").unwrap();
        assert!(cache.contains("immutable"), "{uri}: {cache}");
        assert!(part.header("set-cookie").is_none());
        bytes.extend_from_slice(&part.body);
        count += 1;
    }
    let path = dir.join(format!("parts{track}.mp4"));
    std::fs::write(&path, bytes).unwrap();
    (path, count)
}

#[test]
fn ll_hls_playlists_parts_blocking_reload_and_delta_updates() {
    let brume = push_server();
    let _publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 60);
    let playlist = wait_segments(&brume, 2, Duration::from_secs(20));

    // (a) Parts, independent ones at keyframes (every 2 s: the first part of
    // each segment), a preload hint, rendition reports, server control.
    assert!(
        playlist.contains("#EXT-X-PART-INF:PART-TARGET=0.500\n"),
        "{playlist}"
    );
    let control = playlist
        .lines()
        .find(|l| l.starts_with("#EXT-X-SERVER-CONTROL:"))
        .unwrap();
    assert_eq!(attribute(control, "CAN-BLOCK-RELOAD"), Some("YES"));
    let hold_back: f64 = attribute(control, "PART-HOLD-BACK")
        .unwrap()
        .parse()
        .unwrap();
    assert!(hold_back >= 1.5, "{control}");
    let listed = parts(&playlist);
    assert!(listed.len() >= 4, "{playlist}");
    for line in &listed {
        let duration: f64 = attribute(line, "DURATION").unwrap().parse().unwrap();
        assert!(duration > 0.0 && duration <= 0.5, "{line}");
        let (_, part) = part_of(attribute(line, "URI").unwrap());
        // A 2 s GOP at 30 fps: keyframes start segments, so part 0.
        assert_eq!(line.contains("INDEPENDENT=YES"), part == 0, "{line}");
    }
    hint(&playlist);
    assert!(
        playlist.contains("#EXT-X-RENDITION-REPORT:URI=\"2.m3u8\""),
        "{playlist}"
    );
    let audio = text(&brume.url("/cmaf/cam/2.m3u8"));
    assert!(
        parts(&audio).iter().all(|l| l.contains("INDEPENDENT=YES")),
        "{audio}"
    );
    assert!(audio.contains("#EXT-X-RENDITION-REPORT:URI=\"1.m3u8\""));

    // Parts after the init segment decode, video and audio.
    let dir = tempfile::tempdir().unwrap();
    for track in [1, 2] {
        let (path, count) = parts_file(&brume, dir.path(), track);
        let path = path.to_str().unwrap();
        let packets = probe_packets(path);
        assert!(
            packets.len() >= count,
            "{count} parts, {} packets",
            packets.len()
        );
        assert_eq!(decode_errors(path), "", "track {track}");
    }

    // (b) A blocking reload for the part in progress returns when it is ready:
    // a poller records when it first appears in a plain playlist.
    for _ in 0..3 {
        let (msn, part) = hint(&text(&brume.url("/cmaf/cam/1.m3u8")));
        // Listed as a part, not only hinted.
        let uri = format!("URI=\"1/{msn}.{part}.m4s\"");
        let listed = move |playlist: &str| {
            playlist
                .lines()
                .any(|l| l.starts_with("#EXT-X-PART:") && l.contains(&uri))
        };
        let check = listed.clone();
        let poll_url = brume.url("/cmaf/cam/1.m3u8");
        let poller = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if check(&text(&poll_url)) {
                    return Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            None
        });
        let asked = Instant::now();
        let blocked = get(&brume.url(&format!("/cmaf/cam/1.m3u8?_HLS_msn={msn}&_HLS_part={part}")));
        let returned = Instant::now();
        let seen = poller.join().unwrap().expect("the part appeared");
        assert_eq!(blocked.status, 200);
        let body = String::from_utf8(blocked.body).unwrap();
        assert!(
            body.contains(&format!("URI=\"1/{msn}.{part}.m4s\"")),
            "{body}"
        );
        let lag_ms = returned.saturating_duration_since(seen).as_millis();
        println!(
            "blocking reload for {msn}.{part}: waited {} ms, returned {lag_ms} ms after a 5 ms poller first saw the part",
            returned.duration_since(asked).as_millis()
        );
        assert!(
            lag_ms <= 100,
            "returned {lag_ms} ms after the part was ready"
        );
    }
    // The preload hint's part is answered once complete.
    let playlist = text(&brume.url("/cmaf/cam/1.m3u8"));
    let (msn, part) = hint(&playlist);
    let asked = Instant::now();
    let hinted = get(&brume.url(&format!("/cmaf/cam/1/{msn}.{part}.m4s")));
    assert_eq!(hinted.status, 200);
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert!(text(&brume.url("/cmaf/cam/1.m3u8")).contains(&format!("1/{msn}.{part}.m4s")));
    // Too far ahead: 400 at once.
    for query in [
        format!("_HLS_msn={}", msn + 3),
        format!("_HLS_msn={msn}&_HLS_part={}", part + 20),
        "_HLS_part=1".to_owned(),
    ] {
        let asked = Instant::now();
        let refused = get(&brume.url(&format!("/cmaf/cam/1.m3u8?{query}")));
        assert_eq!(refused.status, 400, "{query}");
        assert!(asked.elapsed() < Duration::from_secs(1), "{query}");
    }

    // (c) A delta update, once the playlist reaches past CAN-SKIP-UNTIL (12 s).
    wait_segments(&brume, 9, Duration::from_secs(40));
    let delta = text(&brume.url("/cmaf/cam/1.m3u8?_HLS_skip=YES"));
    let full = text(&brume.url("/cmaf/cam/1.m3u8"));
    assert!(delta.len() < full.len(), "delta\n{delta}\nfull\n{full}");
    let skip = delta
        .lines()
        .find(|l| l.starts_with("#EXT-X-SKIP:"))
        .unwrap_or_else(|| panic!("no EXT-X-SKIP in\n{delta}"));
    let skipped: usize = attribute(skip, "SKIPPED-SEGMENTS")
        .unwrap()
        .parse()
        .unwrap();
    assert!(skipped >= 1);
    assert!(delta.contains("#EXT-X-VERSION:9\n"));
    println!(
        "delta update: {} bytes, full playlist {} bytes, {skipped} segments skipped",
        delta.len(),
        full.len()
    );

    // (e) ffmpeg, a plain HLS client, plays the same playlists.
    let (frames, errors) = decode_video_frames(&brume.url("/cmaf/cam/index.m3u8"), Some(3.0));
    assert!(frames >= 60, "{frames} frames; {errors}");
}

#[test]
fn hls_js_plays_ll_hls_through_the_guides_nginx() {
    let plan = ProxyPlan::new(ProxyKind::Nginx, ProxyKind::Nginx.ports());
    let brume = push_server();
    let proxy = plan.start(brume_port(&brume));
    let _publisher = Publisher::start(&format!("rtmp://{}/live/cam", brume.rtmp_addr()), 60);
    wait_segments(&brume, 2, Duration::from_secs(20));
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&proxy.url("http", ""));
    page.eval(
        "new Promise((resolve, reject) => { \
           const s = document.createElement('script'); \
           s.src = '/mistserver/hlsjs.js'; s.onload = resolve; \
           s.onerror = () => reject('no hlsjs.js'); document.head.appendChild(s); })",
    );
    page.eval(
        "(() => { document.body.innerHTML = ''; \
           const v = document.createElement('video'); v.muted = true; v.autoplay = true; \
           document.body.appendChild(v); \
           const hls = new Hls({lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5}); window.hls = hls; window.hlsErrors = []; \
           hls.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) window.hlsErrors.push(d.details); }); \
           hls.loadSource('/mistserver/cmaf/cam/index.m3u8'); hls.attachMedia(v); \
           v.play().catch(() => {}); return true; })()",
    );
    let playback = page.watch_video(6.0, Duration::from_secs(40));
    let errors = page.eval("window.hlsErrors");
    assert!(
        playback.played >= 6.0 && playback.error.is_none(),
        "hls.js did not play LL-HLS through nginx: {playback:?}; fatal errors {errors}; console:\n{}",
        page.messages.join("\n")
    );
    assert_eq!(errors, json!([]));
    // Let it settle at its target (it plays up to 1.5x to catch up).
    page.pump(Duration::from_secs(4));
    let latency = page.eval("window.hls.latency").as_f64().unwrap();
    let target = page
        .eval("window.hls.targetLatency")
        .as_f64()
        .unwrap_or(f64::NAN);
    println!("hls.js LL-HLS through nginx: latency {latency:.3} s (target {target:.3} s)");
    // It used the parts and blocking reloads, through the proxy.
    let part_requests = page
        .requests
        .iter()
        .filter(|u| {
            u.contains("/mistserver/cmaf/cam/")
                && u.rsplit('/')
                    .next()
                    .is_some_and(|file| file.ends_with(".m4s") && file.matches('.').count() == 2)
        })
        .count();
    assert!(part_requests >= 4, "{:?}", page.requests);
    assert!(
        page.requests.iter().any(|u| u.contains("_HLS_msn=")),
        "{:?}",
        page.requests
    );
    // Low latency: well under the 3 segments (6 s) a plain HLS player holds back.
    assert!(latency > 0.0 && latency < 4.0, "latency {latency} s");
}
