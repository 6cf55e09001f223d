//! `brume-loadgen ingest`: how soon an RTMP-published stream shows up in HLS.
//!
//! The command starts the publisher itself (ffmpeg, given after `--`) so that every
//! time is taken on one clock. The publisher does not connect to the server
//! directly but to a byte-counting TCP relay on 127.0.0.1 (the `{rtmp}` argument is
//! replaced by the relay's URL); the relay forwards both directions unchanged and
//! notes two instants:
//!
//! * **connect**: the publisher's TCP connection was accepted (and the server's
//!   connected);
//! * **media**: the publisher had sent `--media-bytes` bytes in total. The RTMP
//!   handshake, `connect`, `publish`, metadata and the codec headers take a few
//!   KiB; the first video frame, a keyframe of tens of KiB, pushes the count past
//!   the threshold, so this is the moment the first keyframe went out.
//!
//! Meanwhile it polls the HLS playlist (a master playlist is followed to its first
//! variant) and notes the instant each segment URI is first listed, with its
//! `#EXTINF` duration.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};

use crate::http::Target;

/// What the command needs to run one publish-and-watch.
pub struct IngestConfig {
    /// The HLS playlist (master or media) to poll.
    pub url: String,
    /// The server's RTMP `host:port`.
    pub upstream: String,
    /// Application and stream, e.g. `live/bench`.
    pub rtmp_path: String,
    /// Publisher command line; `{rtmp}` is replaced by the relay's URL.
    pub publisher: Vec<String>,
    /// Poll period until the first segment is listed.
    pub first_poll: Duration,
    /// Poll period afterwards.
    pub poll: Duration,
    /// Give up (kill the publisher) after this long.
    pub limit: Duration,
    /// Bytes from the publisher that mark the first keyframe as sent.
    pub media_bytes: u64,
    /// Length of the published media, when known: the segment that ends with the
    /// stream (closed by the unpublish, not by a keyframe) and the samples taken
    /// after the media ran out are left out of the steady-state figures.
    pub media_seconds: Option<f64>,
}

#[derive(Default)]
struct Marks {
    connect: OnceLock<Instant>,
    media: OnceLock<Instant>,
    published_bytes: std::sync::atomic::AtomicU64,
}

struct Segment {
    uri: String,
    duration: f64,
    seen: Instant,
}

/// Starts the relay; returns its port. One connection is relayed.
fn start_relay(upstream: String, marks: Arc<Marks>, media_bytes: u64) -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the relay")?;
    let port = listener.local_addr()?.port();
    let upstream_addr = upstream
        .to_socket_addrs()
        .with_context(|| format!("resolving {upstream}"))?
        .next()
        .ok_or_else(|| anyhow!("{upstream} has no address"))?;
    thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let Ok(server) = TcpStream::connect_timeout(&upstream_addr, Duration::from_secs(2)) else {
            return;
        };
        let _ = marks.connect.set(Instant::now());
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        let (mut server_r, mut client_w) = (server, client);
        // Server to publisher: plain copy.
        thread::spawn(move || {
            let _ = std::io::copy(&mut server_r, &mut client_w);
            let _ = client_w.shutdown(Shutdown::Write);
        });
        // Publisher to server: copy and count.
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match client_r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if server_w.write_all(&buf[..n]).is_err() {
                break;
            }
            total += n as u64;
            marks
                .published_bytes
                .store(total, std::sync::atomic::Ordering::Relaxed);
            if total >= media_bytes {
                let _ = marks.media.set(Instant::now());
            }
        }
        let _ = server_w.shutdown(Shutdown::Write);
    });
    Ok(port)
}

/// One HTTP/1.0 GET with `Connection: close`; returns the status and the body.
fn get(target: &Target, timeout: Duration) -> anyhow::Result<(u16, Vec<u8>)> {
    let addr = target
        .authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow!("{} has no address", target.authority))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
        target.path, target.host_header
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::with_capacity(4096);
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("no end of response head"))?;
    let head = std::str::from_utf8(&response[..head_end])?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line"))?;
    Ok((status, response[head_end + 4..].to_vec()))
}

/// Resolves `uri` against the URL `base` (absolute, host-absolute or relative).
fn join(base: &str, uri: &str) -> String {
    if uri.starts_with("http://") {
        return uri.to_owned();
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    if let Some(path) = uri.strip_prefix('/') {
        let host_end = base[after_scheme..]
            .find('/')
            .map_or(base.len(), |i| after_scheme + i);
        return format!("{}/{path}", &base[..host_end]);
    }
    let base = base.split(['?', '#']).next().unwrap_or(base);
    let dir_end = base.rfind('/').map_or(base.len(), |i| i + 1);
    format!("{}{uri}", &base[..dir_end])
}

/// `(uri, duration)` of every segment of a media playlist, in order.
pub fn parse_media(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut duration = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest.split(',').next().and_then(|d| d.trim().parse().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push((line.to_owned(), duration.take().unwrap_or(f64::NAN)));
        }
    }
    out
}

/// The first variant of a master playlist, if `text` is one.
fn first_variant(text: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("#EXT-X-STREAM-INF") {
            return lines
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned);
        }
    }
    None
}

fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

fn secs_between(later: Option<Instant>, earlier: Option<Instant>) -> Option<f64> {
    match (later, earlier) {
        (Some(l), Some(e)) => Some(l.saturating_duration_since(e).as_secs_f64()),
        _ => None,
    }
}

fn spawn_publisher(config: &IngestConfig, relay_port: u16) -> anyhow::Result<Child> {
    let url = format!("rtmp://127.0.0.1:{relay_port}/{}", config.rtmp_path);
    let mut args = config.publisher.iter().map(|a| a.replace("{rtmp}", &url));
    let program = args
        .next()
        .ok_or_else(|| anyhow!("no publisher command after --"))?;
    Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {program}"))
}

/// Publishes, watches the playlist, and returns the JSON report.
pub fn run(config: &IngestConfig) -> anyhow::Result<Value> {
    if !config.publisher.iter().any(|a| a.contains("{rtmp}")) {
        bail!("the publisher command must contain {{rtmp}} where the RTMP URL goes");
    }
    let marks = Arc::new(Marks::default());
    let relay_port = start_relay(
        config.upstream.clone(),
        Arc::clone(&marks),
        config.media_bytes,
    )?;
    let spawned = Instant::now();
    let mut child = spawn_publisher(config, relay_port)?;
    let give_up = spawned + config.limit;

    let mut url = config.url.clone();
    let mut target = Target::parse(&url).map_err(|e| anyhow!(e))?;
    let mut segments: Vec<Segment> = Vec::new();
    // (sample time, index in `segments` of the newest listed segment)
    let mut samples: Vec<(Instant, usize)> = Vec::new();
    let (mut polls, mut http_errors) = (0u64, 0u64);
    let mut last_error = None;
    let mut exited = None;
    let mut exit_status = None;
    let mut next = spawned;
    loop {
        let now = Instant::now();
        if now >= give_up {
            break;
        }
        if let Some(status) = child.try_wait()? {
            exited = Some(now);
            exit_status = Some(status);
            break;
        }
        if next > now {
            thread::sleep(next - now);
        }
        next += if segments.is_empty() {
            config.first_poll
        } else {
            config.poll
        };
        polls += 1;
        let (status, body) = match get(&target, Duration::from_secs(1)) {
            Ok(r) => r,
            Err(e) => {
                http_errors += 1;
                last_error = Some(format!("{e:#}"));
                continue;
            }
        };
        let at = Instant::now();
        if status != 200 {
            continue;
        }
        let text = String::from_utf8_lossy(&body);
        if let Some(variant) = first_variant(&text) {
            url = join(&url, &variant);
            target = Target::parse(&url).map_err(|e| anyhow!(e))?;
            next = Instant::now();
            continue;
        }
        let listed = parse_media(&text);
        for (uri, duration) in &listed {
            if !segments.iter().any(|s| &s.uri == uri) {
                segments.push(Segment {
                    uri: uri.clone(),
                    duration: *duration,
                    seen: at,
                });
            }
        }
        if let Some((newest, _)) = listed.last() {
            if let Some(i) = segments.iter().position(|s| &s.uri == newest) {
                samples.push((at, i));
            }
        }
    }
    if exited.is_none() {
        let _ = child.kill();
        exit_status = child.wait().ok();
    }

    let connect = marks.connect.get().copied();
    let media = marks.media.get().copied();
    // The reference instant: the first keyframe going out, else the connection.
    let origin = media.or(connect);
    // Media end of each segment, counted from the first one's start: with `-re`
    // the keyframe that completes segment k leaves the publisher this long after
    // the first keyframe did.
    let mut ends = Vec::with_capacity(segments.len());
    let mut cum = 0.0;
    for s in &segments {
        cum += s.duration;
        ends.push(cum);
    }
    // A segment ending within 0.25 s of the media's end was closed by the
    // unpublish (or the stream's end), not by a keyframe.
    let is_final = |end: f64| config.media_seconds.is_some_and(|m| end > m - 0.25);
    let rows: Vec<Value> = segments
        .iter()
        .zip(&ends)
        .map(|(s, end)| {
            let appear = secs_between(Some(s.seen), origin);
            json!({
                "final": is_final(*end),
                "uri": s.uri,
                "duration_s": s.duration,
                "media_end_s": end,
                "appear_s": appear,
                "lag_s": appear.map(|a| a - end),
            })
        })
        .collect();
    let lags: Vec<f64> = rows
        .iter()
        .skip(1)
        .filter(|r| r["final"] != Value::Bool(true))
        .filter_map(|r| r["lag_s"].as_f64())
        .collect();
    let steady = |at: &Instant, i: &usize| {
        !is_final(ends[*i])
            && config
                .media_seconds
                .is_none_or(|m| secs_between(Some(*at), origin).is_some_and(|t| t <= m))
    };
    let samples: Vec<(Instant, usize)> =
        samples.into_iter().filter(|(a, i)| steady(a, i)).collect();
    let ages: Vec<f64> = samples
        .iter()
        .filter_map(|(at, i)| secs_between(Some(*at), origin).map(|t| t - ends[*i]))
        .collect();
    let seen_ages: Vec<f64> = samples
        .iter()
        .map(|(at, i)| {
            at.saturating_duration_since(segments[*i].seen)
                .as_secs_f64()
        })
        .collect();
    let durations: Vec<f64> = segments.iter().map(|s| s.duration).collect();
    let first_seen = segments.first().map(|s| s.seen);
    Ok(json!({
        "url": config.url,
        "media_url": url,
        "connect_s": secs_between(connect, Some(spawned)),
        "media_s": secs_between(media, Some(spawned)),
        "media_threshold_bytes": config.media_bytes,
        "published_bytes": marks.published_bytes.load(std::sync::atomic::Ordering::Relaxed),
        "first_segment_from_spawn_s": secs_between(first_seen, Some(spawned)),
        "first_segment_from_connect_s": secs_between(first_seen, connect),
        "first_segment_from_media_s": secs_between(first_seen, media),
        "first_segment_lag_s": rows.first().and_then(|r| r["lag_s"].as_f64()),
        "segments": segments.len(),
        "final_segments": ends.iter().filter(|e| is_final(**e)).count(),
        "segment_duration_median_s": median(&durations),
        "lag_median_s": median(&lags),
        "lag_p95_s": quantile(&lags, 0.95),
        "lag_max_s": quantile(&lags, 1.0),
        "edge_age_median_s": median(&ages),
        "edge_age_p95_s": quantile(&ages, 0.95),
        "newest_age_median_s": median(&seen_ages),
        "samples": samples.len(),
        "polls": polls,
        "http_errors": http_errors,
        "last_http_error": last_error,
        "publisher_ran_s": secs_between(exited, Some(spawned)),
        "publisher_exit": exit_status.and_then(|s| s.code()),
        "rows": rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_media_playlist() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n0.ts\n#EXTINF:1.967,\n1.ts\n";
        let got = parse_media(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].0, "1.ts");
        assert!((got[1].1 - 1.967).abs() < 1e-9);
    }

    #[test]
    fn follows_master_and_joins() {
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nmedia.m3u8\n";
        assert_eq!(first_variant(master).as_deref(), Some("media.m3u8"));
        assert_eq!(first_variant("#EXTM3U\n#EXTINF:2,\n0.ts\n"), None);
        let base = "http://127.0.0.1:80/hls/bench/index.m3u8";
        assert_eq!(
            join(base, "media.m3u8"),
            "http://127.0.0.1:80/hls/bench/media.m3u8"
        );
        assert_eq!(join(base, "/x/y.m3u8"), "http://127.0.0.1:80/x/y.m3u8");
    }

    #[test]
    fn quantiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(quantile(&[0.0, 10.0], 0.95), Some(9.5));
        assert_eq!(median(&[]), None);
    }
}
