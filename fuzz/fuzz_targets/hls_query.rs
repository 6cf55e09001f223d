//! Fuzz target: the Low-Latency HLS query directives never panic, and a part is
//! never accepted without a sequence number.
#![no_main]

use brume::http::ll_query::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(q) = parse(Some(query)) {
        assert!(q.part.is_none() || q.msn.is_some());
    }
});
