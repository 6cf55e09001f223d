//! Hostile WebRTC input: a thousand WHEP offers whose browser never connects
//! expire and give their memory back, and garbage datagrams on the UDP port
//! disturb nobody — a real browser still plays afterwards.

// Test code: a panic is a test failure with its message.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::browser::{js_literal, Browser};
use common::Brume;
use serde_json::json;

fn post_offer(brume: &Brume, sdp: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(brume.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = format!(
        "POST /whep/demo HTTP/1.1\r\nHost: {}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        brume.addr(),
        sdp.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(sdp.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    common::parse_http_response(&raw, false).status
}

fn rss_kib(brume: &Brume) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", brume.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn ended_sessions(brume: &Brume) -> usize {
    brume
        .log_lines()
        .iter()
        .filter(|l| l.contains("WHEP session ended"))
        .count()
}

const FRAMES_DECODED: &str = "(async () => { if (!window.pc) return 0; \
    const stats = await window.pc.getStats(); let n = 0; \
    stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') n = s.framesDecoded || 0; }); \
    return n > 30 ? n : 0; })()";

#[test]
fn unconnected_offers_expire_and_garbage_datagrams_disturb_nobody() {
    let brume = Brume::start_with(
        tempfile::tempdir().unwrap(),
        json!({"webrtc": {"listen": "127.0.0.1:0"}}),
    );
    let browser = Browser::launch();
    let mut page = browser.open_page();
    page.navigate(&brume.url("/"));
    // A real browser's offer, replayed by a client that never does ICE.
    let offer = page.eval(
        "(async () => { const pc = new RTCPeerConnection(); \
         pc.addTransceiver('video', {direction: 'recvonly'}); \
         pc.addTransceiver('audio', {direction: 'recvonly'}); \
         const o = await pc.createOffer(); pc.close(); return o.sdp; })()",
    );
    let offer = offer.as_str().unwrap().to_owned();
    assert_eq!(post_offer(&brume, &offer), 201);
    std::thread::sleep(Duration::from_secs(1));
    let baseline = rss_kib(&brume);
    // Two rounds of a thousand: every session expires (15 s without ICE), and
    // the second round reuses what the first freed instead of growing memory.
    let mut peaks = Vec::new();
    for round in 1..=2 {
        let started = Instant::now();
        for i in 0..1000 {
            assert_eq!(post_offer(&brume, &offer), 201, "round {round}, offer {i}");
        }
        let peak = rss_kib(&brume);
        let expected = 1 + 1000 * round;
        let deadline = Instant::now() + Duration::from_secs(45);
        while ended_sessions(&brume) < expected {
            assert!(
                Instant::now() < deadline,
                "only {} of {expected} sessions ended",
                ended_sessions(&brume)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let after = rss_kib(&brume);
        eprintln!(
            "round {round}: 1000 offers in {:?}; RSS {baseline} KiB before, {peak} KiB at the peak, \
             {after} KiB once they expired",
            started.elapsed()
        );
        peaks.push(peak);
    }
    assert!(
        peaks[1] < peaks[0] + peaks[0] / 4,
        "memory grew round after round: peaks {peaks:?} KiB (baseline {baseline})"
    );

    // Garbage on the media port: STUN-looking, DTLS-looking, RTP-looking, random.
    let udp = brume
        .logged_field("WebRTC UDP port listening", "address")
        .unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seed: u32 = 12345;
    for i in 0..20_000u32 {
        let len = 1 + (seed as usize % 1200);
        let mut datagram = Vec::with_capacity(len);
        for _ in 0..len {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            datagram.push((seed >> 16) as u8);
        }
        datagram[0] = [0x00, 0x01, 0x16, 0x80, 0xff][i as usize % 5];
        let _ = socket.send_to(&datagram, &udp);
    }

    // A real viewer still plays.
    page.eval(&format!(
        "(async () => {{ const pc = new RTCPeerConnection(); window.pc = pc; \
         pc.addTransceiver('video', {{direction: 'recvonly'}}); \
         await pc.setLocalDescription(await pc.createOffer()); \
         const r = await fetch({}, {{method: 'POST', headers: {{'Content-Type': 'application/sdp'}}, body: pc.localDescription.sdp}}); \
         await pc.setRemoteDescription({{type: 'answer', sdp: await r.text()}}); }})(); true",
        js_literal(&brume.url("/whep/demo"))
    ));
    page.wait_for(
        "a viewer playing after the garbage",
        FRAMES_DECODED,
        Duration::from_secs(30),
    );
}
