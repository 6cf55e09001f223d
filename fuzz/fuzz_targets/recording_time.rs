//! Fuzz target: a `?start=`/`?end=` value of the recording playback routes
//! (ISO-8601 or unix seconds) never panics, and what parses lies within years
//! 1970–9999.
#![no_main]

use brume::recording::playback::parse_time;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ms) = parse_time(text) {
            assert!((0..=253_402_387_200_000).contains(&ms), "{text} -> {ms}");
        }
    }
});
