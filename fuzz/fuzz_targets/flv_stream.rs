//! Fuzz target: the streaming FLV reader (`flv::TagReader`), as a pulled HTTP
//! stream feeds it. The input is cut into pieces of sizes taken from its first
//! byte; tags must come out whole, the buffer must stay within one tag, and the
//! tags go on through `TagDemuxer` as a pull does. Nothing may panic.
//!
//! Seeds: `corpus/flv_stream/` holds the `flv_demux` FLV seeds, each behind a
//! piece-size byte of 0x40 (64-byte pieces).
#![no_main]

use brume_media::flv::stream::MAX_STREAM_TAG_BYTES;
use brume_media::flv::tag::TAG_HEADER_SIZE;
use brume_media::flv::{TagDemuxer, TagReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let mut reader = TagReader::new();
    let mut demux = TagDemuxer::new();
    for chunk in data.chunks(piece) {
        reader.push(chunk);
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    assert!(tag.body.len() <= MAX_STREAM_TAG_BYTES);
                    let _ = demux.push_tag_bytes(tag.tag_type, tag.timestamp, tag.body);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(reader.buffered() <= MAX_STREAM_TAG_BYTES + TAG_HEADER_SIZE + piece + 16);
    }
});
