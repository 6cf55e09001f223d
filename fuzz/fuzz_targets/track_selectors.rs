//! Fuzz target: MistServer track selectors (`?video=` / `?audio=`, the MEWS
//! `tracks` command) never panic, and a selection they make only holds tracks of
//! the stream.
#![no_main]

use brume::stream::selection::{Selection, Selector};
use brume_media::{AudioInfo, Codec, Track, VideoInfo};
use libfuzzer_sys::fuzz_target;

fn track(id: u32, codec: Codec) -> Track {
    let video = codec == Codec::H264;
    Track {
        id,
        codec,
        timescale: 1000,
        init: Default::default(),
        codec_string: String::new(),
        video: video.then_some(VideoInfo {
            width: 16,
            height: 16,
        }),
        audio: (!video).then_some(AudioInfo {
            sample_rate: 48_000,
            channels: 2,
            sample_size: 16,
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (video, audio) = text.split_once('&').unwrap_or((text, ""));
    let tracks = [
        track(1, Codec::H264),
        track(2, Codec::Aac),
        track(3, Codec::Aac),
    ];
    let (Ok(video), Ok(audio)) = (
        Selector::parse("video", video),
        Selector::parse("audio", audio),
    ) else {
        return;
    };
    if let Ok(selection) =
        Selection::from_selectors(&tracks, Some(&video), Some(&audio), &[300, 200, 100])
    {
        assert!(!selection.is_empty());
        assert!(selection.ids().iter().all(|id| (1..=3).contains(id)));
    }
});
