//! Fuzz target: what the balancer reads from others never panics: a viewer's
//! path and query (the stream it names never holds a `/` or a NUL), an edge
//! address given to `POST /edges`, and an edge's load document.
#![no_main]

use brume::balance::edges::EdgeAddr;
use brume::balance::load::LoadDoc;
use brume::balance::server::{bare_stream, query_var, stream_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<LoadDoc>(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    for name in [stream_of(path), bare_stream(path)].into_iter().flatten() {
        assert!(!name.contains('/') && !name.contains('\0') && !name.is_empty());
    }
    let _ = query_var(query, "source");
    if let Ok(edge) = EdgeAddr::parse(text) {
        assert!(edge.base.starts_with("http://"));
    }
});
