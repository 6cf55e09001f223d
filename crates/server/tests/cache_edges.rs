//! HTTP cache edges in front of a Brume origin, run from the shipped
//! configurations (`deploy/nginx-edge.conf`, `deploy/varnish-edge.vcl`) with real
//! nginx and varnishd: ffmpeg publishes over RTMP to the origin, a crowd of HLS
//! viewers plays through the edges without an error, and the origin's own
//! counters (`brume_media_requests_total`) show it was asked for each segment at
//! most once per edge and for the media playlist about once a second per edge.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::edge::{Edge, EdgeKind};
use common::*;
use serde_json::json;

/// How long the viewers watch.
const WATCH: Duration = Duration::from_secs(16);

/// The origin's `brume_media_requests_total` for `kind`.
fn origin_requests(origin: &Brume, kind: &str) -> u64 {
    scrape_value(
        origin,
        &format!("brume_media_requests_total{{kind=\"{kind}\"}}"),
    )
}

fn scrape_value(brume: &Brume, series: &str) -> u64 {
    let api = brume
        .logged_field("management API listening", "address")
        .unwrap();
    let text = String::from_utf8(get(&format!("http://{api}/metrics")).body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {series} in the metrics:\n{text}"))
}

/// Publishes the test pattern to the origin and waits until its HLS playlist
/// lists at least three segments.
fn live_origin() -> (Brume, Publisher) {
    let origin = Brume::start(json!({"live": {"source": "push://"}}));
    let publisher = Publisher::start(&format!("rtmp://{}/live/live", origin.rtmp_addr()), 60);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let playlist = get(&origin.url("/hls/live/media.m3u8"));
        if playlist.status == 200 && segment_numbers(&playlist.body).len() >= 3 {
            return (origin, publisher);
        }
        assert!(
            Instant::now() < deadline,
            "the origin never listed three segments"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn segment_numbers(playlist: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(playlist)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim().strip_suffix(".ts")?.parse().ok())
        .collect()
}

/// What one HLS viewer saw.
#[derive(Debug, Default)]
struct Watched {
    playlists: u64,
    segments: Vec<u64>,
    errors: Vec<String>,
    /// The segments' bytes, kept by the viewer asked to.
    media: Vec<u8>,
}

/// An HLS viewer: polls the media playlist every second and fetches each new
/// segment in order, starting three segments from the live edge, until `until`.
fn watch(base: String, start_after: Duration, until: Instant, keep: bool) -> Watched {
    std::thread::sleep(start_after);
    let mut watched = Watched::default();
    let mut next: Option<u64> = None;
    while Instant::now() < until {
        let playlist = request(
            "GET",
            &format!("{base}/hls/live/media.m3u8"),
            &[],
            Duration::from_secs(10),
        );
        watched.playlists += 1;
        if playlist.status != 200 {
            watched
                .errors
                .push(format!("media.m3u8: status {}", playlist.status));
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        let listed = segment_numbers(&playlist.body);
        let from = *next.get_or_insert_with(|| listed[listed.len().saturating_sub(3)]);
        for &sequence in listed.iter().filter(|&&s| s >= from) {
            let segment = request(
                "GET",
                &format!("{base}/hls/live/{sequence}.ts"),
                &[],
                Duration::from_secs(10),
            );
            let body = &segment.body;
            if segment.status != 200
                || body.is_empty()
                || !body.len().is_multiple_of(188)
                || body[0] != 0x47
            {
                watched.errors.push(format!(
                    "{sequence}.ts: status {}, {} bytes",
                    segment.status,
                    body.len()
                ));
                continue;
            }
            if let Some(&last) = watched.segments.last() {
                if sequence != last + 1 {
                    watched
                        .errors
                        .push(format!("{sequence}.ts follows {last}.ts: a gap"));
                }
            }
            watched.segments.push(sequence);
            if keep {
                watched.media.extend_from_slice(body);
            }
            next = Some(sequence + 1);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    watched
}

/// Runs `viewers` HLS viewers spread over `edges` for [`WATCH`] and checks what
/// they and the origin saw.
fn crowd_through(origin: &Brume, edges: &[Edge], viewers: usize) {
    let segments_before = origin_requests(origin, "hls_segment");
    let playlists_before = origin_requests(origin, "hls_media");
    let until = Instant::now() + WATCH;
    let handles: Vec<_> = (0..viewers)
        .map(|i| {
            let base = format!("http://{}", edges[i % edges.len()].addr);
            // Spread over the first second, as real viewers' polls are.
            let offset = Duration::from_millis((i as u64 * 997 / viewers as u64) % 1000);
            std::thread::spawn(move || watch(base, offset, until, i == 0))
        })
        .collect();
    let watched: Vec<Watched> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let origin_segments = origin_requests(origin, "hls_segment") - segments_before;
    let origin_playlists = origin_requests(origin, "hls_media") - playlists_before;

    let logs = || {
        edges
            .iter()
            .map(|e| format!("{:?} edge log:\n{}", e.kind, e.log()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (i, w) in watched.iter().enumerate() {
        assert!(
            w.errors.is_empty(),
            "viewer {i}: {:?}\n{}",
            w.errors,
            logs()
        );
        // 16 s of 2 s segments, started three back from the live edge.
        assert!(
            w.segments.len() >= 6,
            "viewer {i} played only {:?}",
            w.segments
        );
    }
    let distinct: BTreeSet<u64> = watched.iter().flat_map(|w| w.segments.clone()).collect();
    let fetched: usize = watched.iter().map(|w| w.segments.len()).sum();
    let polled: u64 = watched.iter().map(|w| w.playlists).sum();
    eprintln!(
        "{viewers} viewers through {} {:?} edge(s): {fetched} segment and {polled} playlist \
         requests; the origin got {origin_segments} segment requests for {} distinct segments \
         and {origin_playlists} playlist requests",
        edges.len(),
        edges[0].kind,
        distinct.len()
    );
    assert!(
        origin_segments <= (edges.len() * distinct.len()) as u64,
        "the origin was asked {origin_segments} times for {} segments through {} edges",
        distinct.len(),
        edges.len()
    );
    // Each edge refreshes the playlist about once a second (plus the first fetch
    // and the odd overlap); without the edges it would be `polled`.
    let bound = edges.len() as u64 * (WATCH.as_secs() + 2) * 2;
    assert!(
        origin_playlists <= bound,
        "the origin was asked {origin_playlists} times for the playlist (bound {bound}); \
         viewers asked {polled} times"
    );
    // What the first viewer played decodes without an error.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &watched[0].media).unwrap();
    let errors = decode_errors(file.path().to_str().unwrap());
    assert!(errors.is_empty(), "decoding what a viewer got: {errors}");
}

#[test]
fn nginx_edges_shield_the_origin_from_two_hundred_hls_viewers() {
    let (origin, _publisher) = live_origin();
    let port = common::proxy::brume_port(&origin);
    let edges = [
        Edge::start(EdgeKind::Nginx, port),
        Edge::start(EdgeKind::Nginx, port),
    ];
    crowd_through(&origin, &edges, 200);

    // A segment the edge holds is a hit; Brume's ETag and Cache-Control come through.
    let edge = &edges[0];
    let listed = segment_numbers(&get(&edge.url("/hls/live/media.m3u8")).body);
    let url = edge.url(&format!("/hls/live/{}.ts", listed[0]));
    let first = get(&url);
    let again = get(&url);
    assert_eq!(
        edge.cache_status(&again),
        Some("HIT"),
        "{:?}",
        again.headers
    );
    assert!(again.header("cache-control").unwrap().contains("immutable"));
    assert_eq!(first.header("etag"), again.header("etag"));

    // LL-HLS blocking reloads are never answered from the cache.
    let blocking = get(&edge.url(&format!(
        "/hls/live/media.m3u8?_HLS_msn={}",
        listed[listed.len() - 1]
    )));
    assert_eq!(blocking.status, 200);
    assert_eq!(edge.cache_status(&blocking), Some("BYPASS"));
    stream_info_names_the_edge(edge);
}

#[test]
fn a_varnish_edge_shields_the_origin() {
    let (origin, _publisher) = live_origin();
    let edges = [Edge::start(
        EdgeKind::Varnish,
        common::proxy::brume_port(&origin),
    )];
    crowd_through(&origin, &edges, 60);
    let edge = &edges[0];
    let listed = segment_numbers(&get(&edge.url("/hls/live/media.m3u8")).body);
    let again = get(&edge.url(&format!("/hls/live/{}.ts", listed[0])));
    assert_eq!(
        edge.cache_status(&again),
        Some("HIT"),
        "{:?}",
        again.headers
    );
    stream_info_names_the_edge(edge);
}

/// Stream info fetched through the edge points viewers back at the edge, and its
/// WebSocket (live stream info) is tunnelled through the edge.
fn stream_info_names_the_edge(edge: &Edge) {
    let info = get(&edge.url("/json_live.js"));
    assert_eq!(info.status, 200);
    let text = String::from_utf8_lossy(&info.body);
    assert!(
        text.contains(&format!("http://{}/hls/live/index.m3u8", edge.addr)),
        "stream info through the edge: {text}"
    );
    let stream = TcpStream::connect(&edge.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut ws, _) = tungstenite::client(edge.url("/json_live.js").replace("http", "ws"), stream)
        .unwrap_or_else(|e| panic!("WebSocket through the {:?} edge: {e}", edge.kind));
    let message = ws.read().unwrap();
    let pushed: serde_json::Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(pushed["type"], "live", "{pushed}");
}

#[test]
fn concurrent_first_requests_for_a_document_share_one_render() {
    let dir = tempfile::tempdir().unwrap();
    make_clip(&dir.path().join("clip.mp4"), 6, 60);
    let origin = Brume::start_in(dir, json!({"clip": {"source": "clip.mp4"}}));
    let renders = |kind: &str| format!("brume_document_renders_total{{kind=\"{kind}\"}}");
    let documents = [
        ("/hls/clip/media.m3u8", renders("hls_media")),
        ("/hls/clip/index.m3u8", renders("hls_master")),
        ("/cmaf/clip/index.mpd", renders("mpd")),
        ("/cmaf/clip/1.m3u8", renders("cmaf_media")),
        ("/cmaf/clip/1/init.mp4", renders("cmaf_init")),
        ("/json_clip.js", renders("json_info")),
        // Segments: a render is a miss of the segment cache.
        (
            "/hls/clip/1.ts",
            "brume_segment_cache_misses_total".to_owned(),
        ),
        (
            "/cmaf/clip/2/1.m4s",
            "brume_segment_cache_misses_total".to_owned(),
        ),
    ];
    for (path, series) in documents {
        let before = scrape_value(&origin, &series);
        // 24 viewers ask at the same moment for a document nobody asked for yet.
        let barrier = Arc::new(std::sync::Barrier::new(24));
        let bodies: Vec<(Vec<u8>, String)> = (0..24)
            .map(|_| {
                let url = origin.url(path);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let response = get(&url);
                    assert_eq!(response.status, 200, "{url}");
                    let etag = response.header("etag").unwrap().to_owned();
                    (response.body, etag)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(
            scrape_value(&origin, &series) - before,
            1,
            "{path} rendered more than once"
        );
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{path}");
        // A client (or an edge) holding it gets a 304 with the same validator.
        let etag = &bodies[0].1;
        let again = request(
            "GET",
            &origin.url(path),
            &[("If-None-Match", etag)],
            Duration::from_secs(10),
        );
        assert_eq!(again.status, 304, "{path}");
        assert_eq!(again.header("etag"), Some(etag.as_str()), "{path}");
        assert!(again.body.is_empty(), "{path}");
    }
}
