//! Shared pieces of the ffmpeg tests: a child process killed on drop, a
//! blocking std-IO driver that runs a [`ServerSession`] over a TCP
//! connection (recording what the client sent), and a replayer that feeds
//! recorded bytes to a fresh session in chosen splits.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brume_rtmp::{Event, HandshakeMode, MediaKind, ServerSession, SessionConfig};

/// A child process, killed (by its pid, through the handle) when dropped.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts ffmpeg with `args`; fails the test loudly if ffmpeg is missing.
pub fn spawn_ffmpeg(args: &[&str]) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed to run this test");
    ChildGuard(child)
}

/// Waits for ffmpeg to exit; returns its status success, stdout and stderr.
pub fn finish(mut child: ChildGuard, limit: Duration) -> (bool, String, String) {
    let deadline = Instant::now() + limit;
    loop {
        match child.0.try_wait().expect("wait for ffmpeg") {
            Some(status) => {
                let mut out = String::new();
                let mut err = String::new();
                if let Some(mut s) = child.0.stdout.take() {
                    let _ = s.read_to_string(&mut out);
                }
                if let Some(mut s) = child.0.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return (status.success(), out, err);
            }
            None if Instant::now() > deadline => panic!("ffmpeg did not finish in {limit:?}"),
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Accepts one connection, failing the test after `limit`.
pub fn accept(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking stream");
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no RTMP connection arrived: {e}"),
        }
    }
}

/// What a driven session produced.
#[derive(Debug, Default)]
pub struct Served {
    /// Every byte the client sent.
    pub recorded: Vec<u8>,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// The session error that ended it, if any.
    pub error: Option<String>,
    /// The handshake variant the client used.
    pub handshake: Option<HandshakeMode>,
}

/// Runs a session over `stream` until the client closes it (or `limit`
/// passes): read, receive, act on events with `on_event`, write.
pub fn serve(
    mut stream: TcpStream,
    limit: Duration,
    mut on_event: impl FnMut(&mut ServerSession, &Event),
) -> Served {
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let started = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), started);
    let mut served = Served::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        assert!(started.elapsed() < limit, "the session ran past {limit:?}");
        let now = Instant::now();
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                served.recorded.extend_from_slice(&buf[..n]);
                if let Err(e) = session.receive(&buf[..n], now) {
                    served.error = Some(e.to_string());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if session.next_deadline().is_some_and(|d| d <= now) {
                    if let Err(e) = session.handle_timeout(now) {
                        served.error = Some(e.to_string());
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading from the client failed: {e}"),
        }
        while let Some(event) = session.poll_event() {
            on_event(&mut session, &event);
            served.events.push(event);
        }
        while let Some(bytes) = session.poll_transmit() {
            if stream.write_all(&bytes).is_err() {
                break;
            }
        }
        if served.error.is_some() {
            break;
        }
    }
    served.handshake = session.handshake_mode();
    served
}

/// Accepts every publish and play request.
pub fn accept_all(session: &mut ServerSession, event: &Event) {
    match event {
        Event::PublishRequested { stream_id, .. } => session.accept_publish(*stream_id),
        Event::PlayRequested { stream_id, .. } => session.accept_play(*stream_id),
        _ => {}
    }
}

/// Feeds `recorded` to a fresh session in pieces whose sizes come from
/// `sizes` (cycled), accepting publishes; returns the events.
pub fn replay(recorded: &[u8], sizes: &[usize]) -> Vec<Event> {
    let now = Instant::now();
    let mut session = ServerSession::new(SessionConfig::default(), now);
    let mut events = Vec::new();
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= recorded.len() {
            break;
        }
        let end = (pos + size.max(1)).min(recorded.len());
        session
            .receive(&recorded[pos..end], now)
            .expect("the recording replays");
        pos = end;
        while let Some(event) = session.poll_event() {
            accept_all(&mut session, &event);
            events.push(event);
        }
        while session.poll_transmit().is_some() {}
    }
    while let Some(event) = session.poll_event() {
        events.push(event);
    }
    events
}

/// The media events, as (kind, timestamp, payload).
pub fn media(events: &[Event]) -> Vec<(MediaKind, u32, bytes::Bytes)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Media {
                kind,
                timestamp_ms,
                payload,
                ..
            } => Some((*kind, *timestamp_ms, payload.clone())),
            _ => None,
        })
        .collect()
}

/// Split sizes from a small deterministic generator (1..=5000 bytes).
pub fn random_sizes(count: usize) -> Vec<usize> {
    let mut seed = 0x2545_F491_u32;
    (0..count)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 5000) as usize + 1
        })
        .collect()
}

/// The committed recording of an ffmpeg publish.
pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/ffmpeg-publish.rtmp")
}
