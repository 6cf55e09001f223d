//! Fuzz target: the H.264 parsers (SPS, avcC record, Annex-B and length-prefixed
//! framing) never panic on any bytes, and what they accept survives a round trip.
#![no_main]

use brume_media::codec::h264::{
    annexb_nals, annexb_to_length_prefixed, contains_idr, length_prefixed_nals,
    length_prefixed_to_annexb, AvcConfig, SpsInfo, MAX_DIMENSION,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = SpsInfo::parse(data) {
        assert!((1..=MAX_DIMENSION).contains(&info.width));
        assert!((1..=MAX_DIMENSION).contains(&info.height));
    }

    if let Ok(config) = AvcConfig::parse(data) {
        let again = AvcConfig::parse(&config.to_bytes()).expect("reparse own record");
        assert_eq!(again, config);
        let _ = config.sps_info();
        let _ = config.high_profile_ext();
        let _ = config.codec_string();
        if let Ok(built) = AvcConfig::from_parameter_sets(&config.sps, &config.pps) {
            assert_eq!(AvcConfig::parse(&built.to_bytes()).expect("reparse"), built);
        }
    }

    // Annex-B -> length-prefixed -> Annex-B keeps every NAL unit.
    let nals: Vec<&[u8]> = annexb_nals(data).collect();
    assert!(nals.iter().all(|n| !n.is_empty()));
    let mut lp = Vec::new();
    annexb_to_length_prefixed(data, &mut lp);
    let back: Vec<&[u8]> = length_prefixed_nals(&lp, 4)
        .map(|n| n.expect("own framing"))
        .collect();
    assert_eq!(back, nals);
    let mut annexb = Vec::new();
    length_prefixed_to_annexb(&lp, 4, &mut annexb).expect("own framing");
    assert_eq!(annexb_nals(&annexb).collect::<Vec<_>>(), nals);

    // Arbitrary length-prefixed data with every length size, valid or not.
    if let Some((&selector, rest)) = data.split_first() {
        let size = selector % 6;
        let mut out = Vec::new();
        if length_prefixed_to_annexb(rest, size, &mut out).is_err() {
            assert!(out.is_empty());
        }
        let _ = contains_idr(rest, size);
        let items: Vec<_> = length_prefixed_nals(rest, size).collect();
        // At most one error, and only at the end.
        let errors = items.iter().filter(|i| i.is_err()).count();
        assert!(errors <= 1);
        if errors == 1 {
            assert!(items.last().is_some_and(|i| i.is_err()));
        }
    }
});
