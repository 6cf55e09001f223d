//! Fuzz target: the MP4 file demuxer. Indexing any input never panics or
//! allocates without bound, and every sample it indexes can then be read (or
//! yields an error) without panicking; the interleaved order and duration are
//! computed too.
#![no_main]

use brume_media::mp4::demux::Mp4File;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = Mp4File::open(data) else {
        return;
    };
    for track in file.tracks() {
        for index in 0..track.samples.len() {
            if let Ok(frame) = file.read_frame(data, track.track.id, index) {
                assert_eq!(frame.track, track.track.id);
            }
        }
        let _ = track.duration_ticks();
    }
    let order = file.interleaved();
    let total: usize = file.tracks().iter().map(|t| t.samples.len()).sum();
    assert_eq!(order.len(), total);
    let _ = file.duration_ms();
});
