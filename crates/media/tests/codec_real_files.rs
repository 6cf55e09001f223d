//! The codec parsers against real encoder output: the bundled demo clip
//! (`assets/demo.mp4`, x264 + FFmpeg AAC) and the small ffmpeg-made fixtures in
//! `crates/media/testdata/` (see the README there for the commands).

/// Named `codec` so that `cargo test -p brume-media codec` runs these too.
mod codec {
    use brume_media::codec::aac::{adts_frame, AdtsHeader, AudioSpecificConfig};
    use brume_media::codec::h264::{
        annexb_nals, annexb_to_length_prefixed, contains_idr, length_prefixed_nals,
        length_prefixed_to_annexb, nal_type, AvcConfig, SpsInfo, NAL_IDR, NAL_PPS, NAL_SLICE,
        NAL_SPS,
    };
    use bytes::Bytes;

    const DEMO_MP4: &[u8] = include_bytes!("../../../assets/demo.mp4");
    const BASELINE: &[u8] = include_bytes!("../testdata/baseline_176x144.h264");
    const HIGH422: &[u8] = include_bytes!("../testdata/high422_interlaced_110x70.h264");
    const HIGH422_MP4: &[u8] = include_bytes!("../testdata/high422_interlaced_110x70.mp4");
    const HIGH444: &[u8] = include_bytes!("../testdata/high444_10bit_98x62.h264");
    const HIGH444_MP4: &[u8] = include_bytes!("../testdata/high444_10bit_98x62.mp4");
    const ADTS: &[u8] = include_bytes!("../testdata/mono_44100.aac");

    /// The payload of the first box of type `fourcc`, found by searching for its
    /// name (good enough for these known files; not a demuxer).
    fn box_payload<'a>(file: &'a [u8], fourcc: &[u8; 4]) -> &'a [u8] {
        let at = file
            .windows(4)
            .position(|w| w == fourcc)
            .expect("box present");
        let size_bytes: [u8; 4] = file[at - 4..at].try_into().expect("4 bytes");
        let size = u32::from_be_bytes(size_bytes) as usize;
        &file[at + 4..at - 4 + size]
    }

    /// Reads an MPEG-4 descriptor header (tag, expandable size) at `pos`.
    fn descriptor(data: &[u8], mut pos: usize) -> (u8, usize, usize) {
        let tag = data[pos];
        pos += 1;
        let mut size = 0usize;
        loop {
            let b = data[pos];
            pos += 1;
            size = (size << 7) | usize::from(b & 0x7F);
            if b & 0x80 == 0 {
                break;
            }
        }
        (tag, size, pos)
    }

    /// The DecoderSpecificInfo (AudioSpecificConfig) inside an `esds` payload.
    fn esds_decoder_specific_info(esds: &[u8]) -> &[u8] {
        // Full box header, then ES_Descriptor (tag 3).
        let (tag, _, mut pos) = descriptor(esds, 4);
        assert_eq!(tag, 3);
        let flags = esds[pos + 2];
        pos += 3;
        if flags & 0x80 != 0 {
            pos += 2; // dependsOn_ES_ID
        }
        if flags & 0x40 != 0 {
            pos += 1 + usize::from(esds[pos]); // URL
        }
        if flags & 0x20 != 0 {
            pos += 2; // OCR_ES_Id
        }
        // DecoderConfigDescriptor (tag 4): 13 fixed bytes, then tag 5.
        let (tag, _, pos) = descriptor(esds, pos);
        assert_eq!(tag, 4);
        assert_eq!(esds[pos], 0x40, "MPEG-4 audio");
        let (tag, size, pos) = descriptor(esds, pos + 13);
        assert_eq!(tag, 5);
        &esds[pos..pos + size]
    }

    /// The SPS and PPS NAL units of an Annex-B stream.
    fn parameter_sets(annexb: &[u8]) -> (Vec<Bytes>, Vec<Bytes>) {
        let of_type = |t| {
            annexb_nals(annexb)
                .filter(|n| nal_type(n) == Some(t))
                .map(Bytes::copy_from_slice)
                .collect::<Vec<_>>()
        };
        (of_type(NAL_SPS), of_type(NAL_PPS))
    }

    #[test]
    fn demo_clip_video_is_640x360_high_3_0() {
        let avcc = box_payload(DEMO_MP4, b"avcC");
        let config = AvcConfig::parse(avcc).unwrap();
        assert_eq!(config.codec_string(), "avc1.64001e");
        assert_eq!(config.nal_length_size, 4);
        let info = config.sps_info().unwrap();
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.frame_rate, Some((30, 1)));
        assert_eq!(config.to_bytes(), avcc);
        let rebuilt = AvcConfig::from_parameter_sets(&config.sps, &config.pps).unwrap();
        assert_eq!(rebuilt.to_bytes(), avcc);
    }

    #[test]
    fn demo_clip_audio_is_aac_lc_48k_stereo() {
        let esds = box_payload(DEMO_MP4, b"esds");
        let asc = AudioSpecificConfig::parse(esds_decoder_specific_info(esds)).unwrap();
        assert_eq!(asc.codec_string(), "mp4a.40.2");
        assert_eq!(asc.sample_rate, 48_000);
        assert_eq!(asc.channels(), 2);
    }

    #[test]
    fn baseline_annexb_stream_has_its_size_rate_and_ten_pictures() {
        let (sps, pps) = parameter_sets(BASELINE);
        assert_eq!((sps.len(), pps.len()), (1, 1));
        let info = SpsInfo::parse(&sps[0]).unwrap();
        assert_eq!((info.width, info.height), (176, 144));
        assert_eq!(info.profile_idc, 66);
        assert_eq!(info.frame_rate, Some((10, 1)));
        let config = AvcConfig::from_parameter_sets(&sps, &pps).unwrap();
        assert_eq!(config.codec_string(), "avc1.42c00c");
        assert!(config.ext.is_empty());
        assert_eq!(AvcConfig::parse(&config.to_bytes()).unwrap(), config);

        let types: Vec<u8> = annexb_nals(BASELINE).filter_map(nal_type).collect();
        let pictures = types
            .iter()
            .filter(|&&t| t == NAL_SLICE || t == NAL_IDR)
            .count();
        assert_eq!(pictures, 10, "1 s at 10 fps, one slice each: {types:?}");
        assert_eq!(types.iter().filter(|&&t| t == NAL_IDR).count(), 1);

        // Annex-B -> length-prefixed -> Annex-B keeps every NAL unit.
        let mut lp = Vec::new();
        annexb_to_length_prefixed(BASELINE, &mut lp);
        assert!(contains_idr(&lp, 4));
        let from_lp: Vec<&[u8]> = length_prefixed_nals(&lp, 4).map(Result::unwrap).collect();
        let from_annexb: Vec<&[u8]> = annexb_nals(BASELINE).collect();
        assert_eq!(from_lp, from_annexb);
        let mut annexb = Vec::new();
        length_prefixed_to_annexb(&lp, 4, &mut annexb).unwrap();
        assert_eq!(annexb_nals(&annexb).collect::<Vec<_>>(), from_annexb);
    }

    #[test]
    fn interlaced_422_stream_is_cropped_to_110x70() {
        let (sps, pps) = parameter_sets(HIGH422);
        let info = SpsInfo::parse(&sps[0]).unwrap();
        assert_eq!((info.width, info.height), (110, 70));
        assert!(!info.frame_mbs_only);
        assert_eq!(info.chroma_format_idc, 2);
        assert_eq!(info.frame_rate, Some((25, 1)));
        // The record we build is byte-for-byte the one FFmpeg wrote.
        let avcc = box_payload(HIGH422_MP4, b"avcC");
        let config = AvcConfig::from_parameter_sets(&sps, &pps).unwrap();
        assert_eq!(config.to_bytes(), avcc);
        assert_eq!(config.codec_string(), "avc1.7a0015");
        assert_eq!(AvcConfig::parse(avcc).unwrap().sps_info().unwrap(), info);
    }

    #[test]
    fn ten_bit_444_stream_is_cropped_to_98x62() {
        let (sps, pps) = parameter_sets(HIGH444);
        let info = SpsInfo::parse(&sps[0]).unwrap();
        assert_eq!((info.width, info.height), (98, 62));
        assert_eq!(info.chroma_format_idc, 3);
        assert_eq!((info.bit_depth_luma, info.bit_depth_chroma), (10, 10));
        assert_eq!(info.frame_rate, Some((24_000, 1001)));
        let avcc = box_payload(HIGH444_MP4, b"avcC");
        let parsed = AvcConfig::parse(avcc).unwrap();
        let ext = parsed.high_profile_ext().unwrap();
        assert_eq!(
            (
                ext.chroma_format_idc,
                ext.bit_depth_luma_minus8,
                ext.bit_depth_chroma_minus8
            ),
            (3, 2, 2)
        );
        assert_eq!(parsed.to_bytes(), avcc);
        let built = AvcConfig::from_parameter_sets(&sps, &pps).unwrap();
        assert_eq!(built.to_bytes(), avcc);
        assert_eq!(built.codec_string(), "avc1.f4000a");
    }

    #[test]
    fn adts_file_walks_frame_by_frame() {
        let mut rest = ADTS;
        let mut frames = 0;
        let mut first = None;
        while !rest.is_empty() {
            let (header, payload) = adts_frame(rest).unwrap().expect("whole frame");
            assert_eq!(header.sample_rate, 44_100);
            assert_eq!(header.channel_config, 1);
            assert_eq!(header.object_type, 2);
            assert_eq!(payload.len(), header.frame_length - header.header_len);
            // Our writer produces the same 7 header bytes FFmpeg wrote.
            let asc = AudioSpecificConfig::from_adts(&header);
            let mut written = Vec::new();
            AdtsHeader::write(&asc, payload.len(), &mut written).unwrap();
            assert_eq!(written, rest[..header.header_len]);
            first.get_or_insert(asc);
            rest = &rest[header.frame_length..];
            frames += 1;
        }
        // ffprobe -count_frames reports 45 frames.
        assert_eq!(frames, 45);
        let asc = first.unwrap();
        assert_eq!(asc.codec_string(), "mp4a.40.2");
        assert_eq!(asc.channels(), 1);
        assert_eq!(asc.to_bytes(), &[0x12, 0x08][..]);
        // A frame cut short asks for more bytes.
        assert_eq!(adts_frame(&ADTS[..100]), Ok(None));
    }
}
