//! Fuzz target: the management API's `PATCH /api/v1/config` path — a JSON body
//! parsed as the API parses it, merged (RFC 7396) into the protocol settings,
//! read back as the settings document and applied — never panics, and any
//! configuration it yields that validates survives a save/parse round trip.
#![no_main]

use std::path::Path;

use brume::api::config_routes::{merge_patch, ConfigDoc};
use brume::api::error::{from_value, parse_json};
use brume::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(patch) = parse_json::<serde_json::Value>(data) else {
        return;
    };
    let mut config = Config::default();
    let Ok(mut doc) = serde_json::to_value(ConfigDoc::of(&config)) else {
        return;
    };
    merge_patch(&mut doc, &patch);
    let Ok(doc) = from_value::<ConfigDoc>(doc) else {
        return;
    };
    doc.apply(&mut config);
    let path = Path::new("/fuzz/brume.json");
    if config.validate(path).is_ok() {
        let text = serde_json::to_string(&config).expect("serialize");
        let back = Config::from_json(&text, path).expect("reparse");
        assert_eq!(back, config);
    }
});
