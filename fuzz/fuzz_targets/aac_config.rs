//! Fuzz target: the AAC parsers (AudioSpecificConfig, ADTS headers) never panic on
//! any bytes, and what they accept survives a write/parse round trip.
#![no_main]

use brume_media::codec::aac::{adts_frame, AdtsHeader, AudioSpecificConfig, ADTS_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(asc) = AudioSpecificConfig::parse(data) {
        let again = AudioSpecificConfig::parse(&asc.to_bytes()).expect("reparse own config");
        assert_eq!(again, asc);
        let _ = asc.channels();
        let _ = asc.codec_string();
    }

    if let Ok(Some(header)) = AdtsHeader::parse(data) {
        assert!(header.frame_length >= header.header_len);
        let asc = AudioSpecificConfig::from_adts(&header);
        let mut out = Vec::new();
        AdtsHeader::write(&asc, header.frame_length - ADTS_HEADER_LEN, &mut out)
            .expect("an ADTS header can be rewritten");
        let again = AdtsHeader::parse(&out)
            .expect("reparse own header")
            .expect("whole header");
        assert_eq!(AudioSpecificConfig::from_adts(&again), asc);
        assert_eq!(again.frame_length, header.frame_length);
    }

    // Walk ADTS frames until the data runs out or goes bad.
    let mut rest = data;
    while let Ok(Some((header, payload))) = adts_frame(rest) {
        assert_eq!(payload.len() + header.header_len, header.frame_length);
        match rest.get(header.frame_length..) {
            Some(tail) => rest = tail,
            None => panic!("frame longer than the data"),
        }
    }
});
