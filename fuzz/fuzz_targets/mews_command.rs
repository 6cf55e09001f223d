//! Fuzz target: MEWS (MP4 over WebSocket) client commands never panic the parser.
#![no_main]

use brume::http::ws::parse_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_command(text);
    }
});
