//! `hls`: many HLS viewers of one live stream, as a player behaves: each reloads
//! its media playlist every half target duration on one keep-alive connection,
//! starts three segments from the live end, fetches every new segment in order,
//! and plays them at real time from a buffer. A viewer whose buffer runs dry
//! counts a stall (and how long it waited); a viewer with no stall after its
//! first segment was held at real time. Viewers are spread round-robin over the
//! given playlist URLs (an origin, or several cache edges).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{parse_head, ChunkedDecoder, Framing, Target, MAX_HEAD};

/// Largest playlist kept (segments are counted, not kept).
const MAX_PLAYLIST: usize = 256 * 1024;
/// Longest wait for one response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Segments from the live end a viewer starts at.
const START_BACK: u64 = 3;

/// What one viewer saw.
#[derive(Debug, Default, Clone)]
pub struct HlsReport {
    pub playlists: u64,
    pub segments: u64,
    pub bytes: u64,
    pub errors: u64,
    pub stalls: u64,
    pub stalled_s: f64,
    pub played: bool,
    pub first_error: Option<String>,
}

impl HlsReport {
    fn error(&mut self, what: String) {
        self.errors += 1;
        self.first_error.get_or_insert(what);
    }
}

/// One playlist's segments: (media sequence number, seconds, URI).
fn parse_playlist(text: &str) -> (f64, Vec<(u64, f64, String)>) {
    let mut target = 2.0;
    let mut sequence = 0u64;
    let mut duration = None;
    let mut segments = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            target = v.parse().unwrap_or(target);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            sequence = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            duration = v.split(',').next().and_then(|d| d.parse::<f64>().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            segments.push((sequence, duration.take().unwrap_or(target), line.to_owned()));
            sequence += 1;
        }
    }
    (target, segments)
}

/// The path of `uri` relative to the playlist at `base` (a path).
fn resolve(base: &str, uri: &str) -> String {
    if uri.starts_with('/') {
        return uri.to_owned();
    }
    if let Some(rest) = uri.strip_prefix("http://") {
        return rest
            .find('/')
            .map_or("/".to_owned(), |i| rest[i..].to_owned());
    }
    let dir = base.split('?').next().unwrap_or(base);
    let dir = &dir[..dir.rfind('/').map_or(0, |i| i + 1)];
    format!("{dir}{uri}")
}

/// One GET on `conn` (opened or reopened as needed); returns the status and the
/// body (kept only when `keep` is set) and its length.
async fn get(
    conn: &mut Option<TcpStream>,
    target: &Target,
    path: &str,
    keep: bool,
    buf: &mut [u8],
) -> Result<(u16, Vec<u8>, u64), String> {
    if conn.is_none() {
        let stream = TcpStream::connect(&target.authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        *conn = Some(stream);
    }
    let Some(stream) = conn.as_mut() else {
        return Err("no connection".into());
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: brume-loadgen\r\nAccept: */*\r\n\r\n",
        target.host_header
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut filled = 0;
    let (head, head_len) = loop {
        if filled == buf.len() {
            return Err("response head too long".into());
        }
        let n = stream
            .read(&mut buf[filled..])
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before the response head".into());
        }
        filled += n;
        if let Some(parsed) = parse_head(&buf[..filled]).map_err(|e| e.to_string())? {
            break parsed;
        }
    };
    let mut body = Vec::new();
    let mut received = 0u64;
    let mut chunked = ChunkedDecoder::new();
    let mut pending: Vec<u8> = buf[head_len..filled].to_vec();
    loop {
        let done = match head.framing {
            Framing::Length(n) => {
                received += pending.len() as u64;
                if keep && body.len() < MAX_PLAYLIST {
                    body.extend_from_slice(&pending);
                }
                received >= n
            }
            Framing::Close => {
                received += pending.len() as u64;
                if keep && body.len() < MAX_PLAYLIST {
                    body.extend_from_slice(&pending);
                }
                false
            }
            Framing::Chunked => {
                let mut pos = 0;
                while pos < pending.len() && !chunked.is_done() {
                    let (used, payload) =
                        chunked.next(&pending[pos..]).map_err(|e| e.to_string())?;
                    if let Some(range) = payload {
                        received += range.len() as u64;
                        if keep && body.len() < MAX_PLAYLIST {
                            body.extend_from_slice(&pending[pos..][range]);
                        }
                    }
                    pos += used;
                }
                chunked.is_done()
            }
        };
        if done {
            break;
        }
        let n = stream.read(buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            if head.framing == Framing::Close {
                *conn = None;
                return Ok((head.status, body, received));
            }
            return Err("closed in the body".into());
        }
        pending.clear();
        pending.extend_from_slice(&buf[..n]);
    }
    if head.close {
        *conn = None;
    }
    Ok((head.status, body, received))
}

/// One viewer until `deadline`.
pub async fn viewer(target: Target, deadline: Instant) -> HlsReport {
    let mut report = HlsReport::default();
    let mut conn = None;
    let mut buf = vec![0u8; MAX_HEAD.max(64 * 1024)];
    let mut next: Option<u64> = None;
    // Wall time the buffered media runs out (the play clock starts at the first
    // segment).
    let mut buffer_end: Option<Instant> = None;
    while Instant::now() < deadline {
        let fetched = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            get(&mut conn, &target, &target.path, true, &mut buf),
        )
        .await;
        let mut wait = Duration::from_secs(1);
        match fetched {
            Ok(Ok((200, body, _))) => {
                report.playlists += 1;
                let (target_s, segments) = parse_playlist(&String::from_utf8_lossy(&body));
                wait = Duration::from_secs_f64((target_s / 2.0).max(0.2));
                let last = segments.last().map_or(0, |s| s.0);
                let from = *next.get_or_insert(last.saturating_sub(START_BACK - 1));
                for (sequence, seconds, uri) in segments.iter().filter(|s| s.0 >= from) {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let path = resolve(&target.path, uri);
                    let got = tokio::time::timeout(
                        RESPONSE_TIMEOUT,
                        get(&mut conn, &target, &path, false, &mut buf),
                    )
                    .await;
                    match got {
                        Ok(Ok((200, _, len))) => {
                            report.segments += 1;
                            report.bytes += len;
                            let now = Instant::now();
                            let end = buffer_end.get_or_insert(now);
                            if *end < now {
                                report.stalls += 1;
                                report.stalled_s += now.duration_since(*end).as_secs_f64();
                                *end = now;
                            }
                            *end += Duration::from_secs_f64(*seconds);
                            report.played = true;
                            next = Some(sequence + 1);
                        }
                        Ok(Ok((status, _, _))) => {
                            report.error(format!("segment {path}: HTTP {status}"));
                            conn = None;
                            break;
                        }
                        Ok(Err(e)) => {
                            report.error(format!("segment {path}: {e}"));
                            conn = None;
                            break;
                        }
                        Err(_) => {
                            report.error(format!("segment {path}: timed out"));
                            conn = None;
                            break;
                        }
                    }
                }
            }
            Ok(Ok((status, _, _))) => report.error(format!("playlist: HTTP {status}")),
            Ok(Err(e)) => {
                report.error(format!("playlist: {e}"));
                conn = None;
            }
            Err(_) => {
                report.error("playlist: timed out".into());
                conn = None;
            }
        }
        let resume = (Instant::now() + wait).min(deadline);
        tokio::time::sleep_until(resume.into()).await;
    }
    // A buffer that ran dry before the end is a stall too.
    if let Some(end) = buffer_end {
        let now = Instant::now().min(deadline);
        if end + Duration::from_millis(500) < now {
            report.stalls += 1;
            report.stalled_s += now.duration_since(end).as_secs_f64();
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlists_and_relative_uris() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n\
                    #EXTINF:2.000,\n7.ts\n#EXTINF:1.5,\n8.ts\n";
        let (target, segments) = parse_playlist(text);
        assert_eq!(target, 2.0);
        assert_eq!(
            segments,
            vec![(7, 2.0, "7.ts".to_owned()), (8, 1.5, "8.ts".to_owned())]
        );
        assert_eq!(resolve("/hls/s/media.m3u8", "7.ts"), "/hls/s/7.ts");
        assert_eq!(resolve("/hls/s/media.m3u8?x=1", "/a.ts"), "/a.ts");
        assert_eq!(resolve("/m.m3u8", "http://h:1/p/a.ts"), "/p/a.ts");
    }
}
