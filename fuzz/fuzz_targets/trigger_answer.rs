//! Fuzz target: whatever a trigger handler answers, reading it never panics, and
//! the reading is stable (an answer read back from its own text is the same)
//! and never longer than the limit allows.
#![no_main]

use brume::triggers::client::{Answer, MAX_ANSWER_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let answer = Answer::parse(data);
    assert!(answer.0.len() <= MAX_ANSWER_BYTES * 3);
    if answer.0.len() > MAX_ANSWER_BYTES {
        // Replacement characters grew it past the limit: read back, it is cut.
        return;
    }
    let again = Answer::parse(answer.0.as_bytes());
    assert_eq!(again, answer);
    assert_eq!(again.is_positive(), answer.is_positive());
});
