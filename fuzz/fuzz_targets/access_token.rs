//! Fuzz target: any `tkn` value a viewer sends is checked without a panic, a
//! token only opens what it was signed for, and carrying a token into a master
//! playlist never panics on any playlist text.
#![no_main]

use brume::access::{carry, token};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"fuzz-key-0123456789";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (stream, rest) = text.split_once('\n').unwrap_or(("cam", text));
    if token::verify(KEY, stream, rest, 1_000).is_ok() {
        // Only a real signature opens a stream: re-signing gives the same token.
        let (expires, _) = rest.split_once('.').expect("a dot");
        let expires: u64 = expires.parse().expect("digits");
        assert!(expires > 1_000);
        assert_eq!(token::sign(KEY, stream, expires), rest.to_ascii_lowercase());
    }
    let _ = token::from_query(Some(text));
    if let Some(t) = carry::carried_token(Some(text)) {
        let _ = carry::playlist(rest, t);
    }
    let signed = token::sign(KEY, stream, 5_000);
    assert_eq!(token::verify(KEY, stream, &signed, 1_000), Ok(()));
});
