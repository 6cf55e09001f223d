//! Fuzz target: what Brume does with a WebRTC publisher's media and its audio
//! conversions never panics — splitting an H.264 access unit (Annex B) and
//! making a track from its parameter sets, Opus packets into the AAC encoder,
//! and AAC frames (with a fuzzed AudioSpecificConfig) into the Opus encoder.
#![no_main]

use brume::audio::aac_opus::AacToOpus;
use brume::audio::opus_aac::OpusToAac;
use brume::webrtc::ingest::split_access_unit;
use brume_media::codec::h264::AvcConfig;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut sample = Vec::new();
    let unit = split_access_unit(data, &mut sample);
    assert!(sample.len() <= data.len() + data.len() / 2 + 4);
    if let (Some(sps), Some(pps)) = (unit.sps, unit.pps) {
        let sets = (Bytes::copy_from_slice(sps), Bytes::copy_from_slice(pps));
        if let Ok(config) = AvcConfig::from_parameter_sets(
            std::slice::from_ref(&sets.0),
            std::slice::from_ref(&sets.1),
        ) {
            let _ = config.sps_info();
            let _ = config.to_bytes();
        }
    }
    // Opus packets: the input cut into pieces at 0xff bytes.
    if let Ok(mut converter) = OpusToAac::new() {
        let mut out = Vec::new();
        for (n, packet) in data.split(|&b| b == 0xff).take(64).enumerate() {
            let _ = converter.push(n as i64 * 960, packet, &mut out);
        }
    }
    // The first two bytes as the AudioSpecificConfig, the rest as AAC frames.
    if data.len() >= 2 {
        if let Ok(mut converter) = AacToOpus::new(&data[..2]) {
            let mut out = Vec::new();
            for (n, frame) in data[2..].split(|&b| b == 0xff).take(64).enumerate() {
                let _ = converter.push(n as i64 * 1024, frame, &mut out);
            }
        }
    }
});
