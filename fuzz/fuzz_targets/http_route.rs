//! Fuzz target: request-path routing never panics, and a routed stream name never
//! contains a path separator or a NUL.
#![no_main]

use brume::http::router::{route, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Route::Mp4(name) | Route::JsonInfo(name)) = route(path) {
        assert!(!name.contains('/') && !name.contains('\0') && !name.is_empty());
    }
});
