//! Unit tests of the fragmented-MP4 writer: a test-only box walker checks every
//! field, size and offset the writer produces.

use super::*;
use crate::frame::{AudioInfo, VideoInfo};

// --- a test-only box walker -------------------------------------------

/// One parsed box: its type, its absolute offset in the walked buffer, and
/// its payload (after the 8-byte header).
#[derive(Debug, Clone, Copy)]
struct Bx<'a> {
    kind: [u8; 4],
    offset: usize,
    size: usize,
    body: &'a [u8],
}

impl<'a> Bx<'a> {
    fn kind_str(&self) -> String {
        String::from_utf8_lossy(&self.kind).into_owned()
    }
    /// Children of a container box whose children start `skip` bytes into
    /// the payload.
    fn children_after(&self, skip: usize) -> Vec<Bx<'a>> {
        walk(&self.body[skip..], self.offset + 8 + skip)
    }
    fn children(&self) -> Vec<Bx<'a>> {
        self.children_after(0)
    }
    fn child(&self, kind: &[u8; 4]) -> Bx<'a> {
        self.child_after(0, kind)
    }
    fn child_after(&self, skip: usize, kind: &[u8; 4]) -> Bx<'a> {
        let all = self.children_after(skip);
        let found: Vec<_> = all.iter().filter(|b| &b.kind == kind).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {} in {}",
            String::from_utf8_lossy(kind),
            self.kind_str()
        );
        *found[0]
    }
    fn version(&self) -> u8 {
        self.body[0]
    }
    fn flags(&self) -> u32 {
        u32::from_be_bytes([0, self.body[1], self.body[2], self.body[3]])
    }
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_be_bytes([self.body[at], self.body[at + 1]])
    }
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.body[at..at + 4].try_into().unwrap())
    }
    fn u64_at(&self, at: usize) -> u64 {
        u64::from_be_bytes(self.body[at..at + 8].try_into().unwrap())
    }
}

/// Walks consecutive boxes covering all of `data` exactly (asserts so).
fn walk(data: &[u8], base: usize) -> Vec<Bx<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        assert!(
            data.len() - pos >= 8,
            "truncated box header at {}",
            base + pos
        );
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        assert!(size >= 8, "box size {size} at {}", base + pos);
        assert!(
            pos + size <= data.len(),
            "box overruns parent at {}",
            base + pos
        );
        out.push(Bx {
            kind: data[pos + 4..pos + 8].try_into().unwrap(),
            offset: base + pos,
            size,
            body: &data[pos + 8..pos + size],
        });
        pos += size;
    }
    out
}

fn kinds(boxes: &[Bx<'_>]) -> Vec<String> {
    boxes.iter().map(Bx::kind_str).collect()
}

// --- fixtures ----------------------------------------------------------

const AVCC: &[u8] = &[
    0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1e, 0x01, 0x00, 0x02, 0x68,
    0xee,
];
const ASC: &[u8] = &[0x11, 0x90]; // AAC-LC, 48 kHz, stereo

fn video_track() -> Track {
    Track {
        id: 1,
        codec: Codec::H264,
        timescale: 90_000,
        init: Bytes::from_static(AVCC),
        codec_string: "avc1.64001e".into(),
        video: Some(VideoInfo {
            width: 1280,
            height: 720,
        }),
        audio: None,
    }
}

fn audio_track() -> Track {
    Track {
        id: 2,
        codec: Codec::Aac,
        timescale: 48_000,
        init: Bytes::from_static(ASC),
        codec_string: "mp4a.40.2".into(),
        video: None,
        audio: Some(AudioInfo {
            sample_rate: 48_000,
            channels: 2,
            sample_size: 16,
        }),
    }
}

fn frame(track: u32, dts: i64, pts_offset: i32, keyframe: bool, data: &[u8]) -> Frame {
    Frame {
        track,
        dts,
        pts_offset,
        keyframe,
        data: Bytes::copy_from_slice(data),
    }
}

// --- init segment --------------------------------------------------------

#[test]
fn init_segment_has_ftyp_and_complete_moov() {
    let tracks = [video_track(), audio_track()];
    let init = init_segment(&tracks).unwrap();
    let top = walk(&init, 0);
    assert_eq!(kinds(&top), ["ftyp", "moov"]);

    let ftyp = top[0];
    assert_eq!(&ftyp.body[..4], b"iso6");
    assert_eq!(ftyp.u32_at(4), 0);
    let brands: Vec<&[u8]> = ftyp.body[8..].chunks(4).collect();
    assert_eq!(
        brands,
        [&b"iso6"[..], b"isom", b"cmfc", b"avc1", b"mp41", b"dash"]
    );

    let moov = top[1];
    assert_eq!(kinds(&moov.children()), ["mvhd", "trak", "trak", "mvex"]);
    let mvhd = moov.child(b"mvhd");
    assert_eq!(mvhd.size, 108);
    assert_eq!(mvhd.u32_at(12), 1000, "movie timescale");
    assert_eq!(mvhd.u32_at(16), 0, "movie duration");
    assert_eq!(mvhd.u32_at(96), 3, "next_track_ID");

    let traks: Vec<_> = moov
        .children()
        .into_iter()
        .filter(|b| &b.kind == b"trak")
        .collect();

    // Video track.
    let tkhd = traks[0].child(b"tkhd");
    assert_eq!(tkhd.size, 92);
    assert_eq!((tkhd.version(), tkhd.flags()), (0, 7));
    assert_eq!(tkhd.u32_at(12), 1, "track_ID");
    assert_eq!(tkhd.u16_at(36), 0, "video volume");
    assert_eq!(tkhd.u32_at(40), 0x0001_0000, "matrix a");
    assert_eq!(tkhd.u32_at(76), 1280 << 16);
    assert_eq!(tkhd.u32_at(80), 720 << 16);
    let mdia = traks[0].child(b"mdia");
    assert_eq!(kinds(&mdia.children()), ["mdhd", "hdlr", "minf"]);
    let mdhd = mdia.child(b"mdhd");
    assert_eq!(mdhd.u32_at(12), 90_000);
    assert_eq!(mdhd.u16_at(20), 0x55c4, "'und'");
    let hdlr = mdia.child(b"hdlr");
    assert_eq!(&hdlr.body[8..12], b"vide");
    assert_eq!(hdlr.body.last(), Some(&0), "name is NUL-terminated");
    let minf = mdia.child(b"minf");
    assert_eq!(kinds(&minf.children()), ["vmhd", "dinf", "stbl"]);
    assert_eq!(minf.child(b"vmhd").flags(), 1);
    let dref = minf.child(b"dinf").child(b"dref");
    assert_eq!(dref.u32_at(4), 1);
    let url = dref.child_after(8, b"url ");
    assert_eq!((url.size, url.flags()), (12, 1));
    let stbl = minf.child(b"stbl");
    assert_eq!(
        kinds(&stbl.children()),
        ["stsd", "stts", "stsc", "stsz", "stco"]
    );
    for empty in [b"stts", b"stsc", b"stco"] {
        assert_eq!(stbl.child(empty).u32_at(4), 0);
    }
    assert_eq!(stbl.child(b"stsz").size, 20);
    let stsd = stbl.child(b"stsd");
    assert_eq!(stsd.u32_at(4), 1);
    let avc1 = stsd.child_after(8, b"avc1");
    assert_eq!(avc1.u16_at(6), 1, "data_reference_index");
    assert_eq!((avc1.u16_at(24), avc1.u16_at(26)), (1280, 720));
    assert_eq!(avc1.u16_at(74), 0x18, "depth");
    assert_eq!(avc1.u16_at(76), 0xffff, "pre_defined -1");
    let avcc = avc1.child_after(78, b"avcC");
    assert_eq!(avcc.body, AVCC);

    // Audio track.
    let tkhd = traks[1].child(b"tkhd");
    assert_eq!(tkhd.flags(), 7);
    assert_eq!(tkhd.u32_at(12), 2);
    assert_eq!(tkhd.u16_at(36), 0x0100, "audio volume");
    assert_eq!((tkhd.u32_at(76), tkhd.u32_at(80)), (0, 0));
    let mdia = traks[1].child(b"mdia");
    assert_eq!(mdia.child(b"mdhd").u32_at(12), 48_000);
    assert_eq!(&mdia.child(b"hdlr").body[8..12], b"soun");
    let minf = mdia.child(b"minf");
    assert_eq!(kinds(&minf.children()), ["smhd", "dinf", "stbl"]);
    let mp4a = minf.child(b"stbl").child(b"stsd").child_after(8, b"mp4a");
    assert_eq!(mp4a.u16_at(6), 1, "data_reference_index");
    assert_eq!(mp4a.u16_at(16), 2, "channelcount");
    assert_eq!(mp4a.u16_at(18), 16, "samplesize");
    assert_eq!(mp4a.u32_at(24), 48_000 << 16);
    let esds = mp4a.child_after(28, b"esds");
    assert_eq!(esds.u32_at(0), 0, "version and flags");
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x03, 25, 0x00, 0x00, 0x00,                  // ES_Descriptor
        0x04, 17, 0x40, 0x15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // DecoderConfig
        0x05, 2, 0x11, 0x90,                          // DecoderSpecificInfo
        0x06, 1, 0x02,                                // SLConfig
    ];
    assert_eq!(&esds.body[4..], expected);

    // mvex: one trex per track.
    let trexes = moov.child(b"mvex").children();
    assert_eq!(kinds(&trexes), ["trex", "trex"]);
    for (trex, id) in trexes.iter().zip([1, 2]) {
        assert_eq!(trex.size, 32);
        assert_eq!(trex.u32_at(4), id);
        assert_eq!(trex.u32_at(8), 1, "default_sample_description_index");
    }
}

#[test]
fn init_segment_for_hevc_and_audio_only() {
    let mut hevc = video_track();
    hevc.codec = Codec::H265;
    hevc.init = Bytes::from_static(&[1, 2, 3, 4]);
    let init = init_segment(&[hevc]).unwrap();
    let top = walk(&init, 0);
    assert!(!top[0].body.windows(4).any(|w| w == b"avc1"));
    let stsd = top[1]
        .child(b"trak")
        .child(b"mdia")
        .child(b"minf")
        .child(b"stbl")
        .child(b"stsd");
    let hvc1 = stsd.child_after(8, b"hvc1");
    assert_eq!(hvc1.child_after(78, b"hvcC").body, &[1, 2, 3, 4]);

    let init = init_segment(&[audio_track()]).unwrap();
    let top = walk(&init, 0);
    assert_eq!(top[0].size, 8 + 8 + 5 * 4, "no avc1 brand");
    assert_eq!(kinds(&top[1].children()), ["mvhd", "trak", "mvex"]);
}

#[test]
fn long_decoder_config_uses_multi_byte_descriptor_sizes() {
    let mut audio = audio_track();
    let asc: Vec<u8> = (0..200u8).collect();
    audio.init = Bytes::from(asc.clone());
    let init = init_segment(&[audio]).unwrap();
    let moov = walk(&init, 0)[1];
    let esds = moov
        .child(b"trak")
        .child(b"mdia")
        .child(b"minf")
        .child(b"stbl")
        .child(b"stsd")
        .child_after(8, b"mp4a")
        .child_after(28, b"esds");
    let d = &esds.body[4..];
    // ES payload = 3 + DCD (1 + 2 + 13 + DSI (1 + 2 + 200)) + SL 3 = 225.
    assert_eq!(&d[..3], &[0x03, 0x81, 225 - 128]);
    assert_eq!(&d[6..9], &[0x04, 0x81, 216 - 128]);
    assert_eq!(&d[22..25], &[0x05, 0x81, 200 - 128]);
    assert_eq!(&d[25..225], &asc[..]);
    assert_eq!(&d[225..], &[0x06, 1, 2]);
    assert_eq!(d.len(), 3 + 225);
}

#[test]
fn init_segment_rejects_bad_tracks() {
    assert!(matches!(init_segment(&[]), Err(Fmp4Error::NoTracks)));

    let mut t = video_track();
    t.id = 0;
    assert!(matches!(init_segment(&[t]), Err(Fmp4Error::ZeroTrackId)));

    let mut t = audio_track();
    t.id = 1;
    assert!(matches!(
        init_segment(&[video_track(), t]),
        Err(Fmp4Error::DuplicateTrack(1))
    ));

    let mut t = video_track();
    t.timescale = 0;
    assert!(matches!(
        init_segment(&[t]),
        Err(Fmp4Error::ZeroTimescale { track: 1 })
    ));

    let mut t = video_track();
    t.video = None;
    assert!(matches!(
        init_segment(&[t]),
        Err(Fmp4Error::MissingTrackInfo { track: 1, .. })
    ));

    let mut t = video_track();
    t.video = Some(VideoInfo {
        width: 70_000,
        height: 10,
    });
    assert!(matches!(
        init_segment(&[t]),
        Err(Fmp4Error::BadDimensions { track: 1, .. })
    ));

    let mut t = video_track();
    t.init = Bytes::new();
    assert!(matches!(
        init_segment(&[t]),
        Err(Fmp4Error::BadDecoderConfig { track: 1, len: 0 })
    ));

    let mut t = audio_track();
    t.audio = None;
    assert!(matches!(
        init_segment(&[t]),
        Err(Fmp4Error::MissingTrackInfo { track: 2, .. })
    ));

    let mut t = audio_track();
    t.init = Bytes::from_static(&[0x11]);
    assert!(matches!(
        init_segment(&[t]),
        Err(Fmp4Error::BadDecoderConfig { track: 2, len: 1 })
    ));
}

// --- fragments -----------------------------------------------------------

#[test]
fn fragment_layout_offsets_and_samples() {
    let video = video_track();
    let audio = audio_track();
    let vframes = [
        frame(1, 180_000, 3000, true, &[0, 0, 0, 2, 0x65, 0xaa]),
        frame(1, 183_000, 6000, false, &[0, 0, 0, 1, 0x41]),
        frame(1, 186_000, -3000, false, &[0, 0, 0, 3, 0x01, 0xbb, 0xcc]),
    ];
    let aframes = [
        frame(2, 96_000, 0, false, &[0x21, 0x22]),
        frame(2, 97_024, 0, true, &[0x23, 0x24, 0x25]),
    ];
    let vs: Vec<_> = vframes
        .iter()
        .map(|frame| FragmentSample {
            frame,
            duration: 3000,
        })
        .collect();
    let aus: Vec<_> = aframes
        .iter()
        .map(|frame| FragmentSample {
            frame,
            duration: 1024,
        })
        .collect();
    let runs = [
        TrackRun {
            track: &video,
            samples: &vs,
        },
        TrackRun {
            track: &audio,
            samples: &aus,
        },
    ];
    let bytes = fragment(7, &runs).unwrap();
    assert_eq!(bytes.len(), fragment_size(&runs));

    let top = walk(&bytes, 0);
    assert_eq!(kinds(&top), ["moof", "mdat"]);
    let (moof, mdat) = (top[0], top[1]);
    assert_eq!(moof.size, 8 + 16 + (64 + 3 * 16) + (64 + 2 * 16));
    assert_eq!(kinds(&moof.children()), ["mfhd", "traf", "traf"]);
    assert_eq!(moof.child(b"mfhd").u32_at(4), 7);

    let payload: Vec<u8> = vframes
        .iter()
        .chain(&aframes)
        .flat_map(|f| f.data.iter().copied())
        .collect();
    assert_eq!(mdat.body, &payload[..], "one mdat, runs in order");

    let trafs: Vec<_> = moof
        .children()
        .into_iter()
        .filter(|b| &b.kind == b"traf")
        .collect();
    let expected = [
        (1u32, 180_000u64, &vframes[..], 3000u32),
        (2, 96_000, &aframes[..], 1024),
    ];
    for (traf, (id, base, frames, duration)) in trafs.iter().zip(expected) {
        assert_eq!(kinds(&traf.children()), ["tfhd", "tfdt", "trun"]);
        let tfhd = traf.child(b"tfhd");
        assert_eq!((tfhd.size, tfhd.flags()), (16, 0x02_0000));
        assert_eq!(tfhd.u32_at(4), id);
        let tfdt = traf.child(b"tfdt");
        assert_eq!((tfdt.size, tfdt.version()), (20, 1));
        assert_eq!(tfdt.u64_at(4), base);
        let trun = traf.child(b"trun");
        assert_eq!((trun.version(), trun.flags()), (1, 0x000f01));
        assert_eq!(trun.u32_at(4) as usize, frames.len());
        assert_eq!(trun.size, 20 + 16 * frames.len());
        // The data offset, from the moof start, lands on this run's payloads.
        let mut at = moof.offset + trun.u32_at(8) as usize;
        for (i, f) in frames.iter().enumerate() {
            let e = 12 + 16 * i;
            assert_eq!(trun.u32_at(e), duration);
            assert_eq!(trun.u32_at(e + 4) as usize, f.data.len());
            let sync = f.keyframe || id == 2;
            let flags = if sync { 0x0200_0000 } else { 0x0101_0000 };
            assert_eq!(trun.u32_at(e + 8), flags);
            assert_eq!(trun.u32_at(e + 12) as i32, f.pts_offset);
            assert_eq!(&bytes[at..at + f.data.len()], &f.data[..]);
            at += f.data.len();
        }
    }
    // The first run starts right after the mdat header.
    let first_trun = trafs[0].child(b"trun");
    assert_eq!(first_trun.u32_at(8) as usize, moof.size + 8);
}

#[test]
fn fragment_is_one_exact_allocation() {
    let video = video_track();
    let frames: Vec<_> = (0..50)
        .map(|i| frame(1, i * 3000, 0, i == 0, &[7u8; 333]))
        .collect();
    let samples: Vec<_> = frames
        .iter()
        .map(|frame| FragmentSample {
            frame,
            duration: 3000,
        })
        .collect();
    let runs = [TrackRun {
        track: &video,
        samples: &samples,
    }];
    let w = write_fragment(1, &runs).unwrap();
    assert_eq!(w.len(), fragment_size(&runs));
    assert_eq!(w.capacity(), w.len(), "presized buffer never grew");
    assert_eq!(w.len(), 8 + 16 + 64 + 50 * 16 + 8 + 50 * 333);
}

#[test]
fn fragment_rejects_bad_runs() {
    let video = video_track();
    let audio = audio_track();
    assert!(matches!(fragment(1, &[]), Err(Fmp4Error::NoTracks)));

    let empty = [TrackRun {
        track: &video,
        samples: &[],
    }];
    assert!(matches!(
        fragment(1, &empty),
        Err(Fmp4Error::EmptyRun { track: 1 })
    ));

    let negative = frame(1, -1, 0, true, &[1]);
    let samples = [FragmentSample {
        frame: &negative,
        duration: 1,
    }];
    let runs = [TrackRun {
        track: &video,
        samples: &samples,
    }];
    assert!(matches!(
        fragment(1, &runs),
        Err(Fmp4Error::NegativeDts { track: 1, dts: -1 })
    ));

    let stray = frame(1, 0, 0, true, &[1]);
    let samples = [FragmentSample {
        frame: &stray,
        duration: 1,
    }];
    let runs = [TrackRun {
        track: &audio,
        samples: &samples,
    }];
    assert!(matches!(
        fragment(1, &runs),
        Err(Fmp4Error::UnknownTrack(1))
    ));
}

#[test]
fn oversized_fragment_is_refused_before_allocating() {
    let video = video_track();
    // 2100 samples sharing one 1 MiB payload: over 2 GiB in total, but only
    // 1 MiB of memory.
    let big = frame(1, 0, 0, true, &vec![0u8; 1 << 20]);
    let samples: Vec<_> = (0..2100)
        .map(|_| FragmentSample {
            frame: &big,
            duration: 1,
        })
        .collect();
    let runs = [TrackRun {
        track: &video,
        samples: &samples,
    }];
    assert!(fragment_size(&runs) > i32::MAX as usize);
    assert!(matches!(
        fragment(1, &runs),
        Err(Fmp4Error::TooLarge {
            what: "fragment",
            ..
        })
    ));
}

#[test]
fn codec_strings_and_mime_types() {
    let tracks = [video_track(), audio_track()];
    assert_eq!(mime_codecs(&tracks), "avc1.64001e,mp4a.40.2");
    assert_eq!(
        mime_type(&tracks),
        "video/mp4; codecs=\"avc1.64001e,mp4a.40.2\""
    );
    assert_eq!(mime_type(&tracks[1..]), "audio/mp4; codecs=\"mp4a.40.2\"");

    // Derived when the track has no codec string.
    let mut v = video_track();
    v.codec_string.clear();
    let mut a = audio_track();
    a.codec_string.clear();
    assert_eq!(mime_codecs(&[v, a.clone()]), "avc1.64001e,mp4a.40.2");
    a.init = Bytes::from_static(&[0x2b, 0x10]); // object type 5 (SBR)
    assert_eq!(track_codec_string(&a), "mp4a.40.5");
    a.init = Bytes::from_static(&[0xf8, 0x20]); // escape: 32 + 1 = 33
    assert_eq!(track_codec_string(&a), "mp4a.40.33");
    assert_eq!(language_code(b"und"), 0x55c4);
}
