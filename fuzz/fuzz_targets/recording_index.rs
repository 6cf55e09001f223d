//! Fuzz target: reading a recording index (`index.jsonl`, from disk, possibly
//! torn or tampered with) never panics, never names a file outside the
//! recording folder, and reads back the same from its own re-encoding.
#![no_main]

use brume::recording::index::{parse, SegmentEntry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let entries = parse(data);
    let mut again = Vec::new();
    for entry in &entries {
        assert!(!entry.file.contains('/') && !entry.file.contains(".."));
        again.extend(serde_json::to_vec(entry).unwrap());
        again.push(b'\n');
    }
    let reread: Vec<SegmentEntry> = parse(&again);
    assert_eq!(reread, entries);
});
