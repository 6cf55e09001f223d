//! The protocol buffer budget against the real binary: RTMP clients that each
//! announce a huge message and send most of it are admitted only while their
//! messages fit `limits.protocol_buffer_bytes`; the ones past it are closed and
//! counted, the server's resident memory stays within the budget, and an ffmpeg
//! publisher and a viewer of another stream are not affected.
#![allow(clippy::unwrap_used)]

mod api_client;
mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{decode_video_frames, get, Brume, Publisher};
use serde_json::json;

const MIB: u64 = 1024 * 1024;
/// The budget under test.
const BUDGET: u64 = 64 * MIB;
/// What each client announces (just under brume-rtmp's 8 MiB message cap)...
const ANNOUNCED: usize = 8_000_000;
/// ...and sends of it.
const SENT: usize = 7_000_000;
const CLIENTS: usize = 16;
const CHUNK: usize = 65_536;

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// Connects, completes the handshake, raises the chunk size and starts a video
/// message of [`ANNOUNCED`] bytes, sending [`SENT`] of them. Returns the socket;
/// writes failing part-way (the server closed it) are not an error here.
fn start_huge_message(rtmp: &str) -> TcpStream {
    let mut conn = TcpStream::connect(rtmp).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c0c1 = vec![3u8];
    c0c1.extend(std::iter::repeat_n(0u8, 1536));
    conn.write_all(&c0c1).unwrap();
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    conn.read_exact(&mut s0s1s2).unwrap();
    let c2 = s0s1s2[1..1537].to_vec();
    conn.write_all(&c2).unwrap();
    // Set Chunk Size (type 1) on chunk stream 2.
    let mut out = vec![0x02, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];
    out.extend((CHUNK as u32).to_be_bytes());
    // A video message (type 9) on chunk stream 6, message stream 1.
    let length = (ANNOUNCED as u32).to_be_bytes();
    out.extend([
        0x06, 0, 0, 0, length[1], length[2], length[3], 9, 1, 0, 0, 0,
    ]);
    let _ = conn.write_all(&out);
    let chunk = vec![0x17u8; CHUNK];
    let mut sent = 0;
    while sent < SENT {
        let n = CHUNK.min(SENT - sent);
        if sent > 0 && conn.write_all(&[0xC6]).is_err() {
            break;
        }
        if conn.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n;
    }
    conn
}

/// Whether the server closed `conn` (reads until end of stream, an error, or
/// two quiet seconds).
fn closed_by_server(conn: &mut TcpStream) -> bool {
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn wait_live(brume: &Brume, name: &str, limit: Duration) {
    let start = Instant::now();
    while get(&brume.url(&format!("/json_{name}.js"))).json()["type"] != "live" {
        assert!(start.elapsed() < limit, "{name} not live after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn huge_partial_messages_are_held_to_the_budget_and_others_keep_working() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({
            "limits": {"protocol_buffer_bytes": BUDGET},
            "streams": {"cam": {"source": "push://"}},
        }),
    );
    let rtmp = brume.rtmp_addr();
    let pid = brume.child.id();
    let before = rss(pid);

    let mut conns: Vec<TcpStream> = (0..CLIENTS).map(|_| start_huge_message(&rtmp)).collect();
    let closed: Vec<bool> = std::thread::scope(|scope| {
        let checks: Vec<_> = conns
            .iter_mut()
            .map(|conn| scope.spawn(|| closed_by_server(conn)))
            .collect();
        checks.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let fit = (BUDGET / ANNOUNCED as u64) as usize;
    assert_eq!(
        closed.iter().filter(|c| !**c).count(),
        fit,
        "open connections: {closed:?}"
    );
    assert!(
        closed[fit..].iter().all(|c| *c),
        "the clients past the budget were closed: {closed:?}"
    );
    let during = rss(pid);
    eprintln!(
        "RSS before {} MiB, with {fit} clients holding {SENT} bytes each and {} closed: {} MiB",
        before / MIB,
        CLIENTS - fit,
        during / MIB
    );
    assert!(
        during.saturating_sub(before) < BUDGET + 16 * MIB,
        "RSS grew from {before} to {during} bytes with a {BUDGET}-byte budget"
    );
    assert!(
        brume
            .log_lines()
            .iter()
            .any(|l| l.contains("closed to protect memory")
                && l.contains("limits.protocol_buffer_bytes")),
        "no log line names the budget"
    );

    // With the budget nearly spent, a real publisher and a viewer still work.
    let _publisher = Publisher::start(&format!("rtmp://{rtmp}/live/cam"), 20);
    wait_live(&brume, "cam", Duration::from_secs(8));
    let (frames, errors) = decode_video_frames(&brume.url("/cam.mp4"), Some(3.0));
    assert!(errors.is_empty(), "the viewer failed: {errors}");
    assert!(frames >= 60, "only {frames} frames in 3 s");

    let api = api_client::Client::of(&brume);
    let metrics = String::from_utf8_lossy(&api.get("/metrics").body).into_owned();
    let refused = format!(
        "brume_refused_total{{listener=\"rtmp\",reason=\"memory_budget\"}} {}",
        CLIENTS - fit
    );
    assert!(metrics.contains(&refused), "{metrics}");
    // The held messages show in the gauge (the publisher's add a little).
    let held: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("brume_protocol_buffer_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no brume_protocol_buffer_bytes in {metrics}"));
    let expected = (fit * ANNOUNCED) as u64;
    assert!(
        (expected..=BUDGET).contains(&held),
        "{held} bytes reserved, {expected} expected"
    );

    // Closing the holders gives their share back: a new huge message fits.
    drop(conns);
    std::thread::sleep(Duration::from_millis(500));
    let mut again = start_huge_message(&rtmp);
    assert!(
        !closed_by_server(&mut again),
        "the budget was not given back"
    );
}
