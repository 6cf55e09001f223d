//! Fuzz target: the configuration parser never panics, and whatever it accepts
//! survives a save/parse round trip unchanged.
#![no_main]

use std::path::Path;

use brume::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_json(text, Path::new("/fuzz/brume.json")) {
        let again = serde_json::to_string(&config).expect("serialize");
        let back = Config::from_json(&again, Path::new("/fuzz/brume.json")).expect("reparse");
        assert_eq!(back, config);
    }
});
