//! Fuzz target: public-base parsing from header values (X-Mst-Path, configured
//! addresses) never panics, and whatever it accepts produces URLs that carry no
//! characters able to break out of HTML or JavaScript.
#![no_main]

use brume::http::public_base::PublicBase;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(base) = PublicBase::parse(text, None) {
        let url = base.url("demo.mp4");
        assert!(!url.contains(['"', '\'', '<', '>', '\\', ' ']), "{url}");
        assert!(!url.chars().any(char::is_control), "{url}");
    }
});
