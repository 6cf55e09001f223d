//! Unit tests of the H.264 configuration parsers: synthetic SPSs of every shape,
//! hostile and truncated input, and round trips of the avcC record.

use super::*;
use crate::codec::bits::BitWriter;

/// The SPS and PPS of `assets/demo.mp4` (x264, High 3.0, 640x360, 30 fps).
const DEMO_SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00,
    0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96,
];
const DEMO_PPS: &[u8] = &[0x68, 0xeb, 0xec, 0xb2, 0x2c];
/// The `avcC` payload of `assets/demo.mp4`.
const DEMO_AVCC: &[u8] = &[
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0,
    0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16,
    0x2d, 0x96, 0x01, 0x00, 0x05, 0x68, 0xeb, 0xec, 0xb2, 0x2c, 0xfd, 0xf8, 0xf8, 0x00,
];

/// Inserts emulation prevention bytes, the inverse of
/// [`remove_emulation_prevention`].
fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// (aspect_ratio_idc, explicit SAR, timing (num_units_in_tick, time_scale)).
type VuiSpec = (Option<u8>, (u16, u16), Option<(u32, u32)>);

/// Knobs of a synthetic SPS.
#[derive(Clone)]
struct Spec {
    profile: u8,
    chroma: u32,
    separate_planes: bool,
    bit_depth_minus8: u32,
    /// Scaling lists to send: (list index, delta_scale values).
    scaling: Option<Vec<(usize, Vec<i32>)>>,
    poc_type: u32,
    width_mbs: u32,
    height_map_units: u32,
    frame_mbs_only: bool,
    crop: Option<[u32; 4]>,
    vui: Option<VuiSpec>,
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            profile: 66,
            chroma: 1,
            separate_planes: false,
            bit_depth_minus8: 0,
            scaling: None,
            poc_type: 0,
            width_mbs: 120,
            height_map_units: 68,
            frame_mbs_only: true,
            crop: None,
            vui: None,
        }
    }
}

/// Writes an SPS NAL unit (header, escaped RBSP, trailing bits).
fn build_sps(s: &Spec) -> Vec<u8> {
    let mut w = BitWriter::new();
    w.write_bits(u64::from(s.profile), 8);
    w.write_bits(0, 8);
    w.write_bits(40, 8);
    w.write_ue(0);
    if has_chroma_info(s.profile) {
        w.write_ue(s.chroma);
        if s.chroma == 3 {
            w.write_bit(s.separate_planes);
        }
        w.write_ue(s.bit_depth_minus8);
        w.write_ue(s.bit_depth_minus8);
        w.write_bit(false);
        match &s.scaling {
            None => w.write_bit(false),
            Some(lists) => {
                w.write_bit(true);
                let n = if s.chroma == 3 { 12 } else { 8 };
                for i in 0..n {
                    match lists.iter().find(|(idx, _)| *idx == i) {
                        Some((_, deltas)) => {
                            w.write_bit(true);
                            for d in deltas {
                                w.write_se(*d);
                            }
                        }
                        None => w.write_bit(false),
                    }
                }
            }
        }
    }
    w.write_ue(4); // log2_max_frame_num_minus4
    w.write_ue(s.poc_type);
    match s.poc_type {
        0 => w.write_ue(2),
        1 => {
            w.write_bit(false);
            w.write_se(-3);
            w.write_se(5);
            w.write_ue(3);
            for v in [1, -2, 100_000] {
                w.write_se(v);
            }
        }
        _ => {}
    }
    w.write_ue(4); // max_num_ref_frames
    w.write_bit(false);
    w.write_ue(s.width_mbs - 1);
    w.write_ue(s.height_map_units - 1);
    w.write_bit(s.frame_mbs_only);
    if !s.frame_mbs_only {
        w.write_bit(true);
    }
    w.write_bit(true); // direct_8x8_inference_flag
    match s.crop {
        None => w.write_bit(false),
        Some(c) => {
            w.write_bit(true);
            for v in c {
                w.write_ue(v);
            }
        }
    }
    match s.vui {
        None => w.write_bit(false),
        Some((aspect, sar, timing)) => {
            w.write_bit(true);
            match aspect {
                None => w.write_bit(false),
                Some(idc) => {
                    w.write_bit(true);
                    w.write_bits(u64::from(idc), 8);
                    if idc == 255 {
                        w.write_bits(u64::from(sar.0), 16);
                        w.write_bits(u64::from(sar.1), 16);
                    }
                }
            }
            w.write_bit(true); // overscan_info_present_flag
            w.write_bit(false);
            w.write_bit(true); // video_signal_type_present_flag
            w.write_bits(5, 3);
            w.write_bit(false);
            w.write_bit(true); // colour_description_present_flag
            w.write_bits(0x01_01_01, 24);
            w.write_bit(true); // chroma_loc_info_present_flag
            w.write_ue(1);
            w.write_ue(1);
            match timing {
                None => w.write_bit(false),
                Some((units, scale)) => {
                    w.write_bit(true);
                    w.write_bits(u64::from(units), 32);
                    w.write_bits(u64::from(scale), 32);
                    w.write_bit(true);
                }
            }
            // The rest of the VUI is absent.
            w.write_bits(0, 5);
        }
    }
    w.write_bit(true); // rbsp_stop_one_bit
    let mut nal = vec![0x67];
    nal.extend(escape(&w.into_bytes()));
    nal
}

#[test]
fn parses_the_demo_sps() {
    let info = SpsInfo::parse(DEMO_SPS).unwrap();
    assert_eq!(
        info,
        SpsInfo {
            profile_idc: 100,
            constraint_flags: 0,
            level_idc: 30,
            width: 640,
            height: 360,
            frame_rate: Some((30, 1)),
            chroma_format_idc: 1,
            bit_depth_luma: 8,
            bit_depth_chroma: 8,
            frame_mbs_only: true,
            sample_aspect_ratio: Some((1, 1)),
        }
    );
}

#[test]
fn baseline_1080p_with_cropping_and_poc_type_1() {
    let nal = build_sps(&Spec {
        poc_type: 1,
        crop: Some([0, 0, 0, 4]),
        ..Spec::default()
    });
    let info = SpsInfo::parse(&nal).unwrap();
    assert_eq!((info.width, info.height), (1920, 1080));
    assert_eq!(info.profile_idc, 66);
    assert_eq!(info.level_idc, 40);
    assert_eq!(info.frame_rate, None);
    assert_eq!((info.chroma_format_idc, info.bit_depth_luma), (1, 8));
}

#[test]
fn poc_type_2_and_odd_crop_on_every_side() {
    let nal = build_sps(&Spec {
        poc_type: 2,
        width_mbs: 11,
        height_map_units: 9,
        crop: Some([1, 2, 3, 1]),
        ..Spec::default()
    });
    let info = SpsInfo::parse(&nal).unwrap();
    // 4:2:0 crops in units of 2 both ways.
    assert_eq!((info.width, info.height), (176 - 6, 144 - 8));
}

#[test]
fn interlaced_crop_units_double_vertically() {
    let nal = build_sps(&Spec {
        profile: 100,
        frame_mbs_only: false,
        height_map_units: 34,
        crop: Some([0, 0, 0, 2]),
        ..Spec::default()
    });
    let info = SpsInfo::parse(&nal).unwrap();
    assert!(!info.frame_mbs_only);
    assert_eq!((info.width, info.height), (1920, 1080));
}

#[test]
fn chroma_formats_change_crop_units() {
    let cases = [
        // (chroma, separate planes, interlaced, expected width, height)
        (0, false, false, 1920 - 3, 1088 - 8),
        (2, false, false, 1920 - 6, 1088 - 8),
        (2, false, true, 1920 - 6, 1088 - 16),
        (3, false, false, 1920 - 3, 1088 - 8),
        (3, true, false, 1920 - 3, 1088 - 8),
    ];
    for (chroma, separate, interlaced, width, height) in cases {
        let nal = build_sps(&Spec {
            profile: 244,
            chroma,
            separate_planes: separate,
            bit_depth_minus8: 2,
            frame_mbs_only: !interlaced,
            height_map_units: if interlaced { 34 } else { 68 },
            crop: Some([1, 2, 3, 5]),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        assert_eq!(
            (info.width, info.height),
            (width, height),
            "chroma {chroma} separate {separate} interlaced {interlaced}"
        );
        assert_eq!(u32::from(info.chroma_format_idc), chroma);
        assert_eq!((info.bit_depth_luma, info.bit_depth_chroma), (10, 10));
    }
}

#[test]
fn skips_scaling_lists() {
    // List 0: 16 explicit deltas. List 2: ends early (delta to 0). List 6
    // (8x8): 64 deltas. For 4:4:4 there are 12 lists; list 11 is 8x8 too.
    let mut long = vec![1; 64];
    long[10] = -120;
    long[11] = 119;
    let scaling = vec![
        (0, vec![2; 16]),
        (2, vec![-8]),
        (6, long.clone()),
        (11, long),
    ];
    for chroma in [1, 3] {
        let nal = build_sps(&Spec {
            profile: 100,
            chroma,
            scaling: Some(scaling.clone()),
            crop: Some([0, 0, 0, 4]),
            vui: Some((Some(1), (0, 0), Some((1001, 60_000)))),
            ..Spec::default()
        });
        let info = SpsInfo::parse(&nal).unwrap();
        let height = if chroma == 1 { 1080 } else { 1084 };
        assert_eq!((info.width, info.height), (1920, height));
        assert_eq!(info.frame_rate, Some((30_000, 1001)));
        assert_eq!(info.sample_aspect_ratio, Some((1, 1)));
    }
}

#[test]
fn rejects_out_of_range_scaling_delta() {
    let nal = build_sps(&Spec {
        profile: 100,
        scaling: Some(vec![(0, vec![200])]),
        ..Spec::default()
    });
    assert!(matches!(
        SpsInfo::parse(&nal),
        Err(CodecError::Invalid { .. })
    ));
}

#[test]
fn vui_aspect_ratio_and_timing() {
    let nal = build_sps(&Spec {
        vui: Some((Some(255), (4, 3), Some((1, 50)))),
        ..Spec::default()
    });
    let info = SpsInfo::parse(&nal).unwrap();
    assert_eq!(info.sample_aspect_ratio, Some((4, 3)));
    assert_eq!(info.frame_rate, Some((25, 1)));
    let nal = build_sps(&Spec {
        vui: Some((Some(14), (0, 0), None)),
        ..Spec::default()
    });
    let info = SpsInfo::parse(&nal).unwrap();
    assert_eq!(info.sample_aspect_ratio, Some((4, 3)));
    assert_eq!(info.frame_rate, None);
    // Reserved idc, zero timing: both unknown.
    let nal = build_sps(&Spec {
        vui: Some((Some(200), (0, 0), Some((0, 50)))),
        ..Spec::default()
    });
    let info = SpsInfo::parse(&nal).unwrap();
    assert_eq!((info.sample_aspect_ratio, info.frame_rate), (None, None));
    // A huge tick does not overflow.
    let nal = build_sps(&Spec {
        vui: Some((None, (0, 0), Some((u32::MAX, u32::MAX)))),
        ..Spec::default()
    });
    assert_eq!(SpsInfo::parse(&nal).unwrap().frame_rate, Some((1, 2)));
    let nal = build_sps(&Spec {
        vui: Some((None, (0, 0), Some((u32::MAX, 7)))),
        ..Spec::default()
    });
    assert_eq!(SpsInfo::parse(&nal).unwrap().frame_rate, None);
}

#[test]
fn truncated_vui_keeps_the_picture_size() {
    let nal = build_sps(&Spec {
        vui: Some((Some(1), (0, 0), Some((1, 60)))),
        crop: Some([0, 0, 0, 4]),
        ..Spec::default()
    });
    // Cut inside the timing info.
    let cut = nal.get(..nal.len() - 5).unwrap();
    let info = SpsInfo::parse(cut).unwrap();
    assert_eq!((info.width, info.height), (1920, 1080));
    assert_eq!(info.frame_rate, None);
    assert_eq!(info.sample_aspect_ratio, Some((1, 1)));
}

#[test]
fn truncated_sps_is_an_error_not_a_panic() {
    for spec in [
        Spec::default(),
        Spec {
            profile: 100,
            poc_type: 1,
            crop: Some([0, 0, 0, 4]),
            scaling: Some(vec![(1, vec![3; 16])]),
            ..Spec::default()
        },
    ] {
        let nal = build_sps(&spec);
        for len in 0..nal.len() - 1 {
            let result = SpsInfo::parse(nal.get(..len).unwrap());
            assert!(
                matches!(result, Err(CodecError::Truncated { .. })),
                "len {len}: {result:?}"
            );
        }
    }
    for len in 0..DEMO_SPS.len() {
        // Any prefix either fails or is a VUI-less read of the same picture.
        if let Ok(info) = SpsInfo::parse(DEMO_SPS.get(..len).unwrap()) {
            assert_eq!((info.width, info.height), (640, 360));
        }
    }
}

#[test]
fn rejects_bad_headers_and_values() {
    assert!(matches!(
        SpsInfo::parse(&[]),
        Err(CodecError::Truncated { .. })
    ));
    assert!(matches!(
        SpsInfo::parse(DEMO_PPS),
        Err(CodecError::Unsupported { value: 8, .. })
    ));
    let mut forbidden = DEMO_SPS.to_vec();
    forbidden[0] |= 0x80;
    assert!(matches!(
        SpsInfo::parse(&forbidden),
        Err(CodecError::Invalid { .. })
    ));
    let bad = [
        Spec {
            poc_type: 3,
            ..Spec::default()
        },
        Spec {
            profile: 100,
            chroma: 4,
            ..Spec::default()
        },
        Spec {
            profile: 100,
            bit_depth_minus8: 7,
            ..Spec::default()
        },
        // Cropping away the whole picture.
        Spec {
            width_mbs: 1,
            crop: Some([4, 4, 0, 0]),
            ..Spec::default()
        },
        Spec {
            crop: Some([0, 0, u32::MAX - 1, u32::MAX - 1]),
            ..Spec::default()
        },
        // Wider than any MP4 can describe.
        Spec {
            width_mbs: 4097,
            ..Spec::default()
        },
        Spec {
            width_mbs: u32::MAX - 1,
            height_map_units: u32::MAX - 1,
            frame_mbs_only: false,
            ..Spec::default()
        },
    ];
    for spec in bad {
        let result = SpsInfo::parse(&build_sps(&spec));
        assert!(
            matches!(
                result,
                Err(CodecError::Invalid { .. } | CodecError::TooLarge { .. })
            ),
            "{result:?}"
        );
    }
    // 4096 macroblocks wide (65536 pixels) minus a crop of 2 fits.
    let info = SpsInfo::parse(&build_sps(&Spec {
        width_mbs: 4096,
        crop: Some([0, 1, 0, 0]),
        ..Spec::default()
    }))
    .unwrap();
    assert_eq!(info.width, 65_534);
}

#[test]
fn avcc_round_trip_of_the_demo_record() {
    let config = AvcConfig::parse(DEMO_AVCC).unwrap();
    assert_eq!(config.profile_idc, 100);
    assert_eq!(config.constraint_flags, 0);
    assert_eq!(config.level_idc, 30);
    assert_eq!(config.nal_length_size, 4);
    assert_eq!(config.sps, vec![Bytes::from_static(DEMO_SPS)]);
    assert_eq!(config.pps, vec![Bytes::from_static(DEMO_PPS)]);
    assert_eq!(config.codec_string(), "avc1.64001e");
    assert_eq!(config.to_bytes(), DEMO_AVCC);
    assert_eq!(
        config.high_profile_ext(),
        Some(AvcHighProfileExt {
            chroma_format_idc: 1,
            bit_depth_luma_minus8: 0,
            bit_depth_chroma_minus8: 0,
            sps_ext: vec![],
        })
    );
    let info = config.sps_info().unwrap();
    assert_eq!((info.width, info.height), (640, 360));
    // Building from the parameter sets gives the record x264/FFmpeg wrote.
    let built = AvcConfig::from_parameter_sets(&config.sps, &config.pps).unwrap();
    assert_eq!(built, config);
    assert_eq!(built.to_bytes(), DEMO_AVCC);
}

#[test]
fn avcc_without_extension_and_with_short_lengths() {
    let sps = Bytes::from(build_sps(&Spec::default()));
    let pps = Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80]);
    let mut config =
        AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[pps.clone(), pps]).unwrap();
    assert!(config.ext.is_empty());
    assert_eq!(config.high_profile_ext(), None);
    assert_eq!(config.codec_string(), "avc1.420028");
    config.nal_length_size = 2;
    let bytes = config.to_bytes();
    assert_eq!(bytes.get(4), Some(&0xFD));
    assert_eq!(bytes.get(5), Some(&0xE1));
    let back = AvcConfig::parse(&bytes).unwrap();
    assert_eq!(back, config);
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.sps, vec![sps]);
}

#[test]
fn avcc_parse_errors() {
    // Every cut before the end of the PPS list is an error.
    let pps_end = DEMO_AVCC.len() - 4;
    for len in 0..pps_end {
        let result = AvcConfig::parse(DEMO_AVCC.get(..len).unwrap());
        assert!(
            matches!(result, Err(CodecError::Truncated { .. })),
            "len {len}: {result:?}"
        );
    }
    let short = AvcConfig::parse(DEMO_AVCC.get(..pps_end).unwrap()).unwrap();
    assert!(short.ext.is_empty());
    assert_eq!(short.high_profile_ext(), None);

    let mut v2 = DEMO_AVCC.to_vec();
    v2[0] = 2;
    assert_eq!(
        AvcConfig::parse(&v2),
        Err(CodecError::Unsupported {
            what: "avcC configuration version",
            value: 2
        })
    );
    // An empty parameter set.
    assert!(matches!(
        AvcConfig::parse(&[1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 0, 0]),
        Err(CodecError::Invalid { .. })
    ));
    // No parameter sets at all parses (avc3-style) but has no SPS to read.
    let empty = AvcConfig::parse(&[1, 0x42, 0, 0x1e, 0xff, 0xe0, 0]).unwrap();
    assert!(empty.sps.is_empty() && empty.pps.is_empty());
    assert!(matches!(empty.sps_info(), Err(CodecError::Missing { .. })));
    assert_eq!(empty.to_bytes(), &[1, 0x42, 0, 0x1e, 0xff, 0xe0, 0][..]);
}

#[test]
fn from_parameter_sets_errors() {
    let sps = Bytes::from_static(DEMO_SPS);
    let pps = Bytes::from_static(DEMO_PPS);
    assert_eq!(
        AvcConfig::from_parameter_sets(&[], std::slice::from_ref(&pps)),
        Err(CodecError::Missing { what: "SPS" })
    );
    assert_eq!(
        AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[]),
        Err(CodecError::Missing { what: "PPS" })
    );
    assert!(matches!(
        AvcConfig::from_parameter_sets(std::slice::from_ref(&pps), std::slice::from_ref(&pps)),
        Err(CodecError::Unsupported { value: 8, .. })
    ));
    assert!(matches!(
        AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), std::slice::from_ref(&sps)),
        Err(CodecError::Unsupported { value: 7, .. })
    ));
    assert!(matches!(
        AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[Bytes::new()]),
        Err(CodecError::Invalid { .. })
    ));
    assert!(matches!(
        AvcConfig::from_parameter_sets(&vec![sps.clone(); 32], std::slice::from_ref(&pps)),
        Err(CodecError::TooLarge { .. })
    ));
    let mut big = vec![0x68; MAX_PARAMETER_SET_LEN + 1];
    big[1] = 0x80;
    assert!(matches!(
        AvcConfig::from_parameter_sets(std::slice::from_ref(&sps), &[Bytes::from(big)]),
        Err(CodecError::TooLarge { .. })
    ));
    // The first SPS must parse.
    assert!(AvcConfig::from_parameter_sets(&[Bytes::from_static(&[0x67, 0x64])], &[pps]).is_err());
}

#[test]
fn to_bytes_leaves_out_what_cannot_be_written() {
    let mut config = AvcConfig::parse(DEMO_AVCC).unwrap();
    config
        .pps
        .push(Bytes::from(vec![0x68; MAX_PARAMETER_SET_LEN + 1]));
    config.sps = vec![Bytes::from_static(DEMO_SPS); 40];
    let bytes = config.to_bytes();
    let back = AvcConfig::parse(&bytes).unwrap();
    assert_eq!(back.sps.len(), MAX_SPS_COUNT);
    assert_eq!(back.pps, vec![Bytes::from_static(DEMO_PPS)]);
}

#[test]
fn codec_strings_and_nal_types() {
    assert_eq!(codec_string(0x64, 0, 0x1e), "avc1.64001e");
    assert_eq!(codec_string(66, 0xc0, 13), "avc1.42c00d");
    assert_eq!(nal_type(&[0x65, 1]), Some(NAL_IDR));
    assert_eq!(nal_type(&[0x27]), Some(NAL_SPS));
    assert_eq!(nal_type(&[]), None);
}

#[test]
fn annexb_splitting() {
    let data = [
        0, 0, 0, 1, 0x09, 0xf0, // AUD, 4-byte start code
        0, 0, 1, 0x67, 1, 2, 0, 0, // SPS with trailing zeros, 3-byte code
        0, 0, 0, 1, 0, 0, 1, // an empty NAL
        0x65, 0, 0, 3, 1, 0, // IDR containing an escaped start code
    ];
    let nals: Vec<&[u8]> = annexb_nals(&data).collect();
    assert_eq!(
        nals,
        vec![&[0x09, 0xf0][..], &[0x67, 1, 2], &[0x65, 0, 0, 3, 1]]
    );
    assert_eq!(annexb_nals(&[]).count(), 0);
    assert_eq!(annexb_nals(&[0, 0, 1]).count(), 0);
    assert_eq!(annexb_nals(&[0, 0, 0, 0, 0, 1]).count(), 0);
    assert_eq!(annexb_nals(&[0, 0]).count(), 0);
    // Without a start code the whole input is one NAL unit.
    assert_eq!(
        annexb_nals(&[0x41, 7]).collect::<Vec<_>>(),
        vec![&[0x41, 7]]
    );
    // A start code at the very end.
    assert_eq!(
        annexb_nals(&[0x41, 0, 0, 1]).collect::<Vec<_>>(),
        vec![&[0x41]]
    );
}

#[test]
fn framing_conversions_round_trip() {
    let annexb = [
        0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 1, 0x68, 4, 0, 0, 1, 0x65, 9, 9, 9, 9,
    ];
    let mut lp = Vec::new();
    annexb_to_length_prefixed(&annexb, &mut lp);
    assert_eq!(
        lp,
        [0, 0, 0, 4, 0x67, 1, 2, 3, 0, 0, 0, 2, 0x68, 4, 0, 0, 0, 5, 0x65, 9, 9, 9, 9]
    );
    assert!(contains_idr(&lp, 4));
    let mut back = vec![0xAA];
    length_prefixed_to_annexb(&lp, 4, &mut back).unwrap();
    assert_eq!(back.first(), Some(&0xAA));
    let expected: Vec<&[u8]> = annexb_nals(&annexb).collect();
    assert_eq!(
        annexb_nals(back.get(1..).unwrap()).collect::<Vec<_>>(),
        expected
    );
    let mut again = Vec::new();
    annexb_to_length_prefixed(back.get(1..).unwrap(), &mut again);
    assert_eq!(again, lp);
}

#[test]
fn length_prefixed_nals_with_every_size() {
    for size in 1u8..=4 {
        let mut data = Vec::new();
        for nal in [&[0x41u8, 1][..], &[], &[0x65, 2, 3]] {
            let len = (nal.len() as u32).to_be_bytes();
            data.extend_from_slice(len.get(4 - usize::from(size)..).unwrap());
            data.extend_from_slice(nal);
        }
        let nals: Vec<_> = length_prefixed_nals(&data, size).collect();
        // The empty entry is skipped.
        assert_eq!(nals, vec![Ok(&[0x41, 1][..]), Ok(&[0x65, 2, 3][..])]);
        assert!(contains_idr(&data, size));
    }
}

#[test]
fn length_prefixed_errors_stop_the_iteration() {
    // Length runs past the end.
    let data = [0, 0, 0, 2, 0x41, 1, 0, 0, 0, 9, 0x65];
    let items: Vec<_> = length_prefixed_nals(&data, 4).collect();
    assert_eq!(
        items,
        vec![
            Ok(&[0x41, 1][..]),
            Err(CodecError::Truncated { what: "NAL unit" })
        ]
    );
    // A partial length prefix.
    let items: Vec<_> = length_prefixed_nals(&[0, 0, 0, 1, 0x41, 0, 0], 4).collect();
    assert_eq!(
        items,
        vec![
            Ok(&[0x41][..]),
            Err(CodecError::Truncated {
                what: "NAL unit length"
            })
        ]
    );
    // Bad length sizes fail at once, even on empty data.
    for size in [0, 5, 255] {
        let items: Vec<_> = length_prefixed_nals(&[], size).collect();
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0], Err(CodecError::Unsupported { .. })));
        let mut out = Vec::new();
        assert!(length_prefixed_to_annexb(&[], size, &mut out).is_err());
    }
    // The IDR after a framing error is not seen.
    assert!(!contains_idr(&[0, 0, 0, 9, 0x65], 4));
    assert!(!contains_idr(&[0, 1, 0x41], 2));
    // On error the output is left as it was.
    let mut out = vec![1, 2, 3];
    assert!(length_prefixed_to_annexb(&data, 4, &mut out).is_err());
    assert_eq!(out, [1, 2, 3]);
    // Huge lengths with 4-byte prefixes do not overflow.
    let items: Vec<_> = length_prefixed_nals(&[0xff, 0xff, 0xff, 0xff, 1], 4).collect();
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
}
