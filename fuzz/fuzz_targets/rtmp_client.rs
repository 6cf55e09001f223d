//! Fuzz target: whatever an RTMP push target answers, the publishing
//! [`ClientSession`] never panics (a valid handshake is put first so the
//! bytes reach the chunk decoder and command handling), and push target URLs
//! parse without panicking.
#![no_main]

use brume::push::target::RtmpTarget;
use brume_rtmp::ClientSession;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(target) = RtmpTarget::parse(text) {
            assert!(target.redacted().ends_with("/***") && target.port != 0);
        }
    }
    let mut client = ClientSession::new("live", "rtmp://h/live", "key");
    let mut hello = vec![3u8];
    hello.extend(std::iter::repeat(0u8).take(2 * 1536));
    client.receive(&hello).expect("a valid handshake");
    for piece in data.chunks(97) {
        if client.receive(piece).is_err() {
            break;
        }
        while client.poll_transmit().is_some() {}
        while client.poll_event().is_some() {}
    }
});
