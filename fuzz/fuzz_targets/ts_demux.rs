//! Fuzz target: MPEG-TS input, both ways Brume reads it. The file index
//! (`TsFile::open`) never panics or allocates without bound, and every frame it
//! indexes reads back from the same bytes, with the size and time the index
//! recorded. The streaming demuxer, fed the same bytes in uneven pieces,
//! never panics, keeps its event queue bounded, and only yields frames of tracks
//! it announced.
//!
//! Seeds (`fuzz/corpus/ts_demux/`) were made with ffmpeg 5.1: H.264 + AAC
//! (`testsrc2` 64x48 10 fps, `sine` 22.05 kHz, 0.5 s, `-bf 1 -g 3`), AAC only,
//! HEVC only (skipped stream type), H.264 + MP2 (skipped stream type); that
//! H.264 + AAC file re-muxed by Brume's `mux_segment`, and the Brume file cut in
//! the middle of a packet and with junk bytes and a lost packet inserted.
#![no_main]

use brume_media::mpegts::{
    TsDemuxer, TsEvent, TsFile, EVENT_HIGH_WATER, MAX_ADTS_FRAMES_PER_PES, MAX_EVENTS_PER_PACKET,
    MAX_STREAMS,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = TsFile::open(data) {
        for track in file.tracks() {
            for (index, sample) in track.samples.iter().enumerate() {
                // Same bytes as indexed: every indexed frame must read back.
                let frame = file
                    .read_frame(data, track.track.id, index)
                    .unwrap_or_else(|e| {
                        panic!(
                            "indexed frame {index} of track {} unreadable: {e}",
                            track.track.id
                        )
                    });
                assert_eq!(frame.track, track.track.id);
                assert_eq!(frame.data.len(), sample.size as usize);
                assert_eq!(frame.dts, sample.dts);
            }
        }
    }

    let piece = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut demux = TsDemuxer::new();
    let mut announced = Vec::new();
    let mut check = |demux: &mut TsDemuxer, bound: usize| {
        let mut queued = 0usize;
        while let Some(event) = demux.poll() {
            queued += 1;
            match event {
                TsEvent::Track(track) => announced.push(track.id),
                TsEvent::Frame(frame) => assert!(announced.contains(&frame.track)),
            }
        }
        assert!(queued <= bound, "{queued} events queued");
    };
    for chunk in data.chunks(piece) {
        let mut rest = chunk;
        while !rest.is_empty() {
            let used = demux.push(rest);
            rest = rest.get(used..).unwrap_or(&[]);
            check(&mut demux, EVENT_HIGH_WATER + MAX_EVENTS_PER_PACKET);
        }
    }
    demux.finish();
    check(
        &mut demux,
        MAX_EVENTS_PER_PACKET + MAX_STREAMS * (MAX_ADTS_FRAMES_PER_PES + 1),
    );
});
