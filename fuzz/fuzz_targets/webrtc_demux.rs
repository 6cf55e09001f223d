//! Fuzz target: what Brume itself parses of WebRTC input never panics — the STUN
//! USERNAME lookup that routes datagrams on the shared UDP socket, and the
//! lenient scans of an SDP offer (size/text check, offered codecs, video mids).
#![no_main]

use brume::webrtc::demux::{stun_username_ufrag, Demux};
use brume::webrtc::sdp::{offer_text, offered_codecs, video_mids};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(ufrag) = stun_username_ufrag(data) {
        assert!(!ufrag.is_empty() && !ufrag.contains(':'));
    }
    let mut demux = Demux::default();
    demux.insert("ufrag".to_owned(), 1u64);
    let source = std::net::SocketAddr::from(([192, 0, 2, 1], 5000));
    if let Some(key) = demux.route(source, data) {
        assert_eq!(key, 1);
    }
    if let Ok(offer) = offer_text(data) {
        let codecs = offered_codecs(offer);
        assert!(!codecs.is_empty());
        for mid in video_mids(offer) {
            assert!(!mid.is_empty());
        }
    }
});
