//! Fragmented MP4 (ISO/IEC 14496-12 movie fragments, CMAF-style) writer.
//!
//! Two products, both rendered once per stream and shared as [`Bytes`]:
//!
//! * [`init_segment`]: `ftyp` + `moov` with one `trak` per [`Track`] (empty sample
//!   tables) and an `mvex`/`trex` per track. Everything a player needs to configure
//!   its decoders; no media.
//! * [`fragment`]: one `moof` (an `mfhd` and a `traf` per [`TrackRun`]) followed by
//!   one `mdat` holding every run's payloads in run order. Each `traf` carries a
//!   `tfhd` with default-base-is-moof, a version-1 `tfdt` (the run's first decode
//!   time) and a version-1 `trun` (signed composition offsets) with per-sample
//!   duration, size, flags and composition offset; its data offset points into the
//!   `mdat`, relative to the first byte of the `moof`.
//!
//! A fragment's exact size is computed first ([`fragment_size`]) and the fragment is
//! written into one buffer of that size: one allocation per fragment, none per
//! sample, and the result is handed over as [`Bytes`] without a copy.
//!
//! The writer is sans-IO: it only turns tracks and frames into bytes.

use bytes::Bytes;

use super::track_boxes::{language_code, write_handler, write_media_header_and_dinf};
use super::write::{BoxWriter, WriteError, BOX_HEADER_SIZE, FULL_BOX_HEADER_SIZE};
use crate::frame::{Codec, Frame, Track, TrackKind};

/// Largest fragment [`fragment`] writes. `trun` data offsets are signed 32-bit
/// values counted from the start of the `moof`, so nothing past 2 GiB - 1 can be
/// addressed.
pub const MAX_FRAGMENT_SIZE: u64 = i32::MAX as u64;

/// Largest decoder configuration (avcC / hvcC record, AudioSpecificConfig) accepted
/// by [`init_segment`]. Real records are a few hundred bytes; this bounds the init
/// segment and keeps descriptor lengths within their 28-bit encoding.
pub const MAX_DECODER_CONFIG_SIZE: usize = 1 << 20;

/// Movie timescale written into `mvhd` (the movie itself has no duration).
pub const MOVIE_TIMESCALE: u32 = 1000;

/// `tkhd` flags: track_enabled | track_in_movie | track_in_preview.
pub const TKHD_FLAGS: u32 = 0x00_0007;
/// `tfhd` flags: default-base-is-moof.
pub const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// `trun` flags: data-offset, sample-duration, sample-size, sample-flags and
/// sample-composition-time-offset present.
pub const TRUN_FLAGS: u32 = 0x00_0001 | 0x00_0100 | 0x00_0200 | 0x00_0400 | 0x00_0800;
/// Sample flags of a sync sample: sample_depends_on = 2 (depends on no other).
pub const SAMPLE_FLAGS_SYNC: u32 = 2 << 24;
/// Sample flags of a non-sync sample: sample_depends_on = 1 and
/// sample_is_non_sync_sample = 1.
pub const SAMPLE_FLAGS_NON_SYNC: u32 = (1 << 24) | (1 << 16);

/// `mfhd` box size.
const MFHD_SIZE: u64 = FULL_BOX_HEADER_SIZE as u64 + 4;
/// `traf` size without its `trun` sample entries: traf header, tfhd (track id),
/// tfdt v1 (64-bit time), trun header with sample count and data offset.
const TRAF_FIXED_SIZE: u64 = BOX_HEADER_SIZE as u64
    + (FULL_BOX_HEADER_SIZE as u64 + 4)
    + (FULL_BOX_HEADER_SIZE as u64 + 8)
    + (FULL_BOX_HEADER_SIZE as u64 + 8);
/// One `trun` sample entry: duration, size, flags, composition offset.
const TRUN_ENTRY_SIZE: u64 = 16;

/// Unity transformation matrix of `mvhd` / `tkhd`.
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// Errors of the fragmented-MP4 writer. All are caused by the tracks or frames
/// handed in; nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    /// Nothing to write: no tracks for an init segment, no runs for a fragment.
    #[error("no tracks to mux")]
    NoTracks,
    /// A run's first sample has a negative decode time, which `tfdt` cannot hold.
    #[error("track {track}: negative decode time {dts} cannot start a fragment")]
    NegativeDts { track: u32, dts: i64 },
    /// A sample's frame belongs to this track, not to the track of its run.
    #[error("a frame of track {0} was given in a run of another track")]
    UnknownTrack(u32),
    /// A run without samples (a `trun` must describe at least one).
    #[error("track {track}: empty run")]
    EmptyRun { track: u32 },
    /// The output would be larger than its size fields can describe.
    #[error("{what} would be {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// Track id 0 is reserved in MP4.
    #[error("track id 0 is not allowed")]
    ZeroTrackId,
    /// Two tracks of one init segment share an id.
    #[error("track id {0} is used twice")]
    DuplicateTrack(u32),
    /// A track with timescale 0 cannot describe time.
    #[error("track {track}: timescale is 0")]
    ZeroTimescale { track: u32 },
    /// A video track without [`crate::VideoInfo`] or an audio track without
    /// [`crate::AudioInfo`].
    #[error("track {track}: missing {what} information")]
    MissingTrackInfo { track: u32, what: &'static str },
    /// Picture dimensions outside 1..=65535.
    #[error("track {track}: unsupported picture size {width}x{height}")]
    BadDimensions { track: u32, width: u32, height: u32 },
    /// The track's decoder configuration is missing or malformed.
    #[error("track {track}: missing or invalid decoder configuration ({len} bytes)")]
    BadDecoderConfig { track: u32, len: usize },
    /// The box writer refused a box (a bug in this module if it ever happens).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// One sample of a fragment: a frame and how long it lasts, in its track's
/// timescale (usually the next frame's dts minus this one's).
#[derive(Debug, Clone, Copy)]
pub struct FragmentSample<'a> {
    pub frame: &'a Frame,
    pub duration: u32,
}

/// A run of consecutive samples of one track, written as one `traf`.
#[derive(Debug, Clone, Copy)]
pub struct TrackRun<'a> {
    pub track: &'a Track,
    pub samples: &'a [FragmentSample<'a>],
}

impl TrackRun<'_> {
    /// Bytes of payload this run puts into the `mdat`.
    pub fn payload_size(&self) -> u64 {
        self.samples.iter().map(|s| s.frame.data.len() as u64).sum()
    }
}

// ---------------------------------------------------------------------------
// Init segment
// ---------------------------------------------------------------------------

/// Renders the initialization segment (`ftyp` + `moov`) for `tracks`, in order.
pub fn init_segment(tracks: &[Track]) -> Result<Bytes, Fmp4Error> {
    validate_tracks(tracks)?;
    let estimate = 256
        + tracks
            .iter()
            .map(|t| 768 + t.init.len() + t.codec_string.len())
            .sum::<usize>();
    let mut w = BoxWriter::with_capacity(estimate);
    write_ftyp(&mut w, tracks)?;

    let moov = w.start(b"moov");
    write_mvhd(&mut w, tracks)?;
    for track in tracks {
        write_trak(&mut w, track)?;
    }
    let mvex = w.start(b"mvex");
    for track in tracks {
        let trex = w.start_full(b"trex", 0, 0);
        w.put_u32(track.id);
        w.put_u32(1); // default_sample_description_index
        w.put_u32(0); // default_sample_duration
        w.put_u32(0); // default_sample_size
        w.put_u32(0); // default_sample_flags
        w.end(trex)?;
    }
    w.end(mvex)?;
    w.end(moov)?;
    Ok(w.into_bytes())
}

fn validate_tracks(tracks: &[Track]) -> Result<(), Fmp4Error> {
    if tracks.is_empty() {
        return Err(Fmp4Error::NoTracks);
    }
    for (i, track) in tracks.iter().enumerate() {
        if track.id == 0 {
            return Err(Fmp4Error::ZeroTrackId);
        }
        if tracks[..i].iter().any(|t| t.id == track.id) {
            return Err(Fmp4Error::DuplicateTrack(track.id));
        }
        if track.timescale == 0 {
            return Err(Fmp4Error::ZeroTimescale { track: track.id });
        }
        let bad_config = Fmp4Error::BadDecoderConfig {
            track: track.id,
            len: track.init.len(),
        };
        if track.init.len() > MAX_DECODER_CONFIG_SIZE {
            return Err(bad_config);
        }
        match track.kind() {
            TrackKind::Video => {
                let Some(video) = track.video else {
                    return Err(Fmp4Error::MissingTrackInfo {
                        track: track.id,
                        what: "video",
                    });
                };
                let fits = |v: u32| (1..=u32::from(u16::MAX)).contains(&v);
                if !fits(video.width) || !fits(video.height) {
                    return Err(Fmp4Error::BadDimensions {
                        track: track.id,
                        width: video.width,
                        height: video.height,
                    });
                }
                // avcC and hvcC both start with configurationVersion = 1.
                if track.init.first() != Some(&1) {
                    return Err(bad_config);
                }
            }
            TrackKind::Audio => {
                if track.audio.is_none() {
                    return Err(Fmp4Error::MissingTrackInfo {
                        track: track.id,
                        what: "audio",
                    });
                }
                // An AudioSpecificConfig is at least 2 bytes (object type,
                // sampling frequency index, channel configuration).
                if track.init.len() < 2 {
                    return Err(bad_config);
                }
            }
        }
    }
    Ok(())
}

fn write_ftyp(w: &mut BoxWriter, tracks: &[Track]) -> Result<(), Fmp4Error> {
    let ftyp = w.start(b"ftyp");
    w.put_fourcc(b"iso6");
    w.put_u32(0);
    w.put_fourcc(b"iso6");
    w.put_fourcc(b"isom");
    w.put_fourcc(b"cmfc");
    if tracks.iter().any(|t| t.codec == Codec::H264) {
        w.put_fourcc(b"avc1");
    }
    w.put_fourcc(b"mp41");
    w.put_fourcc(b"dash");
    w.end(ftyp)?;
    Ok(())
}

fn write_matrix(w: &mut BoxWriter) {
    for value in UNITY_MATRIX {
        w.put_u32(value);
    }
}

fn write_mvhd(w: &mut BoxWriter, tracks: &[Track]) -> Result<(), Fmp4Error> {
    let next_track_id = tracks
        .iter()
        .map(|t| t.id)
        .max()
        .and_then(|id| id.checked_add(1))
        .unwrap_or(u32::MAX);
    let mvhd = w.start_full(b"mvhd", 0, 0);
    w.put_u32(0); // creation_time
    w.put_u32(0); // modification_time
    w.put_u32(MOVIE_TIMESCALE);
    w.put_u32(0); // duration: unknown / fragmented
    w.put_u32(0x0001_0000); // rate 1.0
    w.put_u16(0x0100); // volume 1.0
    w.put_zeros(2 + 8); // reserved
    write_matrix(w);
    w.put_zeros(24); // pre_defined
    w.put_u32(next_track_id);
    w.end(mvhd)?;
    Ok(())
}

fn write_trak(w: &mut BoxWriter, track: &Track) -> Result<(), Fmp4Error> {
    let trak = w.start(b"trak");
    write_tkhd(w, track)?;

    let mdia = w.start(b"mdia");
    let mdhd = w.start_full(b"mdhd", 0, 0);
    w.put_u32(0); // creation_time
    w.put_u32(0); // modification_time
    w.put_u32(track.timescale);
    w.put_u32(0); // duration
    w.put_u16(language_code(b"und"));
    w.put_u16(0); // pre_defined
    w.end(mdhd)?;

    write_handler(w, track.kind())?;
    let minf = w.start(b"minf");
    write_media_header_and_dinf(w, track.kind())?;

    let stbl = w.start(b"stbl");
    let stsd = w.start_full(b"stsd", 0, 0);
    w.put_u32(1); // entry_count
    match track.codec {
        Codec::H264 => write_visual_entry(w, track, b"avc1", b"avcC")?,
        Codec::H265 => write_visual_entry(w, track, b"hvc1", b"hvcC")?,
        Codec::Aac => write_mp4a_entry(w, track)?,
    }
    w.end(stsd)?;
    for fourcc in [b"stts", b"stsc"] {
        write_empty_table(w, fourcc)?;
    }
    let stsz = w.start_full(b"stsz", 0, 0);
    w.put_u32(0); // sample_size
    w.put_u32(0); // sample_count
    w.end(stsz)?;
    write_empty_table(w, b"stco")?;
    w.end(stbl)?;
    w.end(minf)?;
    w.end(mdia)?;
    w.end(trak)?;
    Ok(())
}

/// A sample table box with `entry_count` 0: the samples live in fragments.
fn write_empty_table(w: &mut BoxWriter, fourcc: &[u8; 4]) -> Result<(), Fmp4Error> {
    let table = w.start_full(fourcc, 0, 0);
    w.put_u32(0); // entry_count
    w.end(table)?;
    Ok(())
}

fn write_tkhd(w: &mut BoxWriter, track: &Track) -> Result<(), Fmp4Error> {
    let (width, height) = match (track.kind(), track.video) {
        (TrackKind::Video, Some(v)) => (v.width, v.height),
        _ => (0, 0),
    };
    let tkhd = w.start_full(b"tkhd", 0, TKHD_FLAGS);
    w.put_u32(0); // creation_time
    w.put_u32(0); // modification_time
    w.put_u32(track.id);
    w.put_u32(0); // reserved
    w.put_u32(0); // duration
    w.put_zeros(8); // reserved
    w.put_i16(0); // layer
    w.put_i16(0); // alternate_group
    w.put_u16(match track.kind() {
        TrackKind::Audio => 0x0100,
        TrackKind::Video => 0,
    });
    w.put_u16(0); // reserved
    write_matrix(w);
    // 16.16 fixed point; validate_tracks keeps both within 16 bits.
    w.put_u32(width << 16);
    w.put_u32(height << 16);
    w.end(tkhd)?;
    Ok(())
}

/// The SampleEntry header: six reserved bytes and data_reference_index 1.
fn write_sample_entry_header(w: &mut BoxWriter) {
    w.put_zeros(6);
    w.put_u16(1);
}

pub(crate) fn write_visual_entry(
    w: &mut BoxWriter,
    track: &Track,
    entry: &[u8; 4],
    config: &[u8; 4],
) -> Result<(), Fmp4Error> {
    let video = track.video.unwrap_or_default();
    let entry = w.start(entry);
    write_sample_entry_header(w);
    w.put_u16(0); // pre_defined
    w.put_u16(0); // reserved
    w.put_zeros(12); // pre_defined
    w.put_u16(u16::try_from(video.width).unwrap_or(u16::MAX));
    w.put_u16(u16::try_from(video.height).unwrap_or(u16::MAX));
    w.put_u32(0x0048_0000); // horizresolution 72 dpi
    w.put_u32(0x0048_0000); // vertresolution 72 dpi
    w.put_u32(0); // reserved
    w.put_u16(1); // frame_count
    w.put_zeros(32); // compressorname: empty
    w.put_u16(0x0018); // depth
    w.put_i16(-1); // pre_defined
    let record = w.start(config);
    w.put_bytes(&track.init);
    w.end(record)?;
    w.end(entry)?;
    Ok(())
}

pub(crate) fn write_mp4a_entry(w: &mut BoxWriter, track: &Track) -> Result<(), Fmp4Error> {
    let audio = track.audio.unwrap_or_default();
    let channels = if audio.channels == 0 {
        2
    } else {
        audio.channels
    };
    let sample_size = if audio.sample_size == 0 {
        16
    } else {
        audio.sample_size
    };
    // 16.16 fixed point; rates that do not fit are left to the
    // AudioSpecificConfig, which always carries the real rate.
    let sample_rate = if audio.sample_rate <= u32::from(u16::MAX) {
        audio.sample_rate << 16
    } else {
        0
    };
    let entry = w.start(b"mp4a");
    write_sample_entry_header(w);
    w.put_zeros(8); // reserved
    w.put_u16(channels);
    w.put_u16(sample_size);
    w.put_u16(0); // pre_defined
    w.put_u16(0); // reserved
    w.put_u32(sample_rate);
    write_esds(w, &track.init)?;
    w.end(entry)?;
    Ok(())
}

/// ISO/IEC 14496-1 descriptor tags.
const ES_DESCR_TAG: u8 = 0x03;
const DECODER_CONFIG_DESCR_TAG: u8 = 0x04;
const DEC_SPECIFIC_INFO_TAG: u8 = 0x05;
const SL_CONFIG_DESCR_TAG: u8 = 0x06;
/// objectTypeIndication for MPEG-4 Audio (ISO/IEC 14496-3).
const OBJECT_TYPE_MPEG4_AUDIO: u8 = 0x40;
/// streamType for audio streams.
const STREAM_TYPE_AUDIO: u8 = 0x05;

/// Bytes needed by the expandable size of a descriptor of `len` payload bytes.
fn descriptor_size_len(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        _ => 4,
    }
}

/// Total size of a descriptor with `len` payload bytes.
fn descriptor_total(len: usize) -> usize {
    1 + descriptor_size_len(len) + len
}

/// Writes a descriptor tag and its expandable size (7 bits per byte, high bit set
/// on all but the last). `len` is below 2^28 (see [`MAX_DECODER_CONFIG_SIZE`]).
fn write_descriptor_header(w: &mut BoxWriter, tag: u8, len: usize) {
    w.put_u8(tag);
    let n = descriptor_size_len(len);
    for i in (0..n).rev() {
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        w.put_u8(if i == 0 { group } else { group | 0x80 });
    }
}

/// Writes the `esds` box: ES_Descriptor with a DecoderConfigDescriptor (MPEG-4
/// audio, carrying the AudioSpecificConfig) and the MP4 SLConfigDescriptor.
fn write_esds(w: &mut BoxWriter, audio_specific_config: &[u8]) -> Result<(), Fmp4Error> {
    let dsi_len = audio_specific_config.len();
    let dcd_len = 13 + descriptor_total(dsi_len);
    let sl_len = 1;
    let es_len = 3 + descriptor_total(dcd_len) + descriptor_total(sl_len);

    let esds = w.start_full(b"esds", 0, 0);
    write_descriptor_header(w, ES_DESCR_TAG, es_len);
    w.put_u16(0); // ES_ID: 0 in a file
    w.put_u8(0); // no dependence, no URL, no OCR stream, priority 0
    write_descriptor_header(w, DECODER_CONFIG_DESCR_TAG, dcd_len);
    w.put_u8(OBJECT_TYPE_MPEG4_AUDIO);
    w.put_u8((STREAM_TYPE_AUDIO << 2) | 1); // upStream 0, reserved 1
    w.put_u24(0); // bufferSizeDB: unknown
    w.put_u32(0); // maxBitrate: unknown
    w.put_u32(0); // avgBitrate: unknown
    write_descriptor_header(w, DEC_SPECIFIC_INFO_TAG, dsi_len);
    w.put_bytes(audio_specific_config);
    write_descriptor_header(w, SL_CONFIG_DESCR_TAG, sl_len);
    w.put_u8(0x02); // predefined: reserved for use in MP4 files
    w.end(esds)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Fragments
// ---------------------------------------------------------------------------

/// Size of the `moof` box for `runs`, and the total payload of the `mdat`.
fn fragment_layout(runs: &[TrackRun<'_>]) -> (u64, u64) {
    let mut moof = BOX_HEADER_SIZE as u64 + MFHD_SIZE;
    let mut payload = 0u64;
    for run in runs {
        moof = moof
            .saturating_add(TRAF_FIXED_SIZE)
            .saturating_add(TRUN_ENTRY_SIZE.saturating_mul(run.samples.len() as u64));
        payload = payload.saturating_add(run.payload_size());
    }
    (moof, payload)
}

/// The exact size in bytes of the fragment [`fragment`] renders for `runs`
/// (saturating at `usize::MAX` for absurd inputs, which [`fragment`] refuses).
pub fn fragment_size(runs: &[TrackRun<'_>]) -> usize {
    let (moof, payload) = fragment_layout(runs);
    let total = moof
        .saturating_add(BOX_HEADER_SIZE as u64)
        .saturating_add(payload);
    usize::try_from(total).unwrap_or(usize::MAX)
}

fn validate_runs(runs: &[TrackRun<'_>]) -> Result<(), Fmp4Error> {
    if runs.is_empty() {
        return Err(Fmp4Error::NoTracks);
    }
    for run in runs {
        let track = run.track.id;
        let Some(first) = run.samples.first() else {
            return Err(Fmp4Error::EmptyRun { track });
        };
        if first.frame.dts < 0 {
            return Err(Fmp4Error::NegativeDts {
                track,
                dts: first.frame.dts,
            });
        }
        if let Some(stray) = run.samples.iter().find(|s| s.frame.track != track) {
            return Err(Fmp4Error::UnknownTrack(stray.frame.track));
        }
    }
    Ok(())
}

/// Sample flags of `frame` in `track`: every audio frame is a sync sample;
/// video frames are sync samples when they are keyframes.
fn sample_flags(track: &Track, frame: &Frame) -> u32 {
    if frame.keyframe || track.kind() == TrackKind::Audio {
        SAMPLE_FLAGS_SYNC
    } else {
        SAMPLE_FLAGS_NON_SYNC
    }
}

/// Renders one media fragment: `moof` (sequence number `sequence`, one `traf` per
/// run, in order) followed by one `mdat` with every run's payloads in run order.
///
/// The result is written into a single buffer of exactly [`fragment_size`] bytes.
pub fn fragment(sequence: u32, runs: &[TrackRun<'_>]) -> Result<Bytes, Fmp4Error> {
    Ok(write_fragment(sequence, runs)?.into_bytes())
}

fn write_fragment(sequence: u32, runs: &[TrackRun<'_>]) -> Result<BoxWriter, Fmp4Error> {
    validate_runs(runs)?;
    let (moof_size, payload) = fragment_layout(runs);
    let mdat_size = payload.saturating_add(BOX_HEADER_SIZE as u64);
    let total = moof_size.saturating_add(mdat_size);
    if total > MAX_FRAGMENT_SIZE {
        return Err(Fmp4Error::TooLarge {
            what: "fragment",
            size: total,
            limit: MAX_FRAGMENT_SIZE,
        });
    }
    // Both fit in i32 from here on, so every data offset below does too.
    let total = total as usize;
    let mut data_offset = (moof_size + BOX_HEADER_SIZE as u64) as u32;

    let mut w = BoxWriter::with_capacity(total);
    let moof = w.start(b"moof");
    let mfhd = w.start_full(b"mfhd", 0, 0);
    w.put_u32(sequence);
    w.end(mfhd)?;
    for run in runs {
        let track = run.track;
        let traf = w.start(b"traf");
        let tfhd = w.start_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
        w.put_u32(track.id);
        w.end(tfhd)?;

        let tfdt = w.start_full(b"tfdt", 1, 0);
        let base = run.samples.first().map_or(0, |s| s.frame.dts);
        w.put_u64(u64::try_from(base).unwrap_or(0));
        w.end(tfdt)?;

        let trun = w.start_full(b"trun", 1, TRUN_FLAGS);
        // At most MAX_FRAGMENT_SIZE / 16 samples fit, so the count fits in u32.
        w.put_u32(run.samples.len() as u32);
        w.put_u32(data_offset); // signed in the box; below i32::MAX here
        for sample in run.samples {
            let size = sample.frame.data.len() as u32;
            w.put_u32(sample.duration);
            w.put_u32(size);
            w.put_u32(sample_flags(track, sample.frame));
            w.put_i32(sample.frame.pts_offset);
            data_offset = data_offset.saturating_add(size);
        }
        w.end(trun)?;
        w.end(traf)?;
    }
    w.end(moof)?;

    let mdat = w.start(b"mdat");
    for run in runs {
        for sample in run.samples {
            w.put_bytes(&sample.frame.data);
        }
    }
    w.end(mdat)?;
    debug_assert_eq!(w.len(), total, "fragment size computation is off");
    Ok(w)
}

// ---------------------------------------------------------------------------
// Codec strings
// ---------------------------------------------------------------------------

/// The RFC 6381 codec string of `track`: [`Track::codec_string`] when set,
/// otherwise derived from the decoder configuration where that is simple
/// (`avc1.PPCCLL` from the avcC record, `mp4a.40.N` from the AudioSpecificConfig),
/// else the bare sample entry name.
pub fn track_codec_string(track: &Track) -> String {
    if !track.codec_string.is_empty() {
        return track.codec_string.clone();
    }
    match track.codec {
        Codec::H264 => match track.init.get(1..4) {
            Some(&[profile, compat, level]) => {
                format!("avc1.{profile:02x}{compat:02x}{level:02x}")
            }
            _ => "avc1".to_owned(),
        },
        Codec::H265 => "hvc1".to_owned(),
        Codec::Aac => match track.init.get(..2) {
            Some(&[b0, b1]) => {
                let mut object_type = b0 >> 3;
                if object_type == 31 {
                    object_type = 32 + (((b0 & 0x07) << 3) | (b1 >> 5));
                }
                format!("mp4a.40.{object_type}")
            }
            _ => "mp4a.40.2".to_owned(),
        },
    }
}

/// The `codecs` parameter for `tracks`, e.g. `avc1.64001e,mp4a.40.2`.
pub fn mime_codecs(tracks: &[Track]) -> String {
    let mut out = String::new();
    for track in tracks {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&track_codec_string(track));
    }
    out
}

/// The full MIME type of an fMP4 stream of `tracks`, e.g.
/// `video/mp4; codecs="avc1.64001e,mp4a.40.2"` (`audio/mp4` without video).
pub fn mime_type(tracks: &[Track]) -> String {
    let major = if tracks.iter().any(|t| t.kind() == TrackKind::Video) {
        "video/mp4"
    } else {
        "audio/mp4"
    };
    format!("{major}; codecs=\"{}\"", mime_codecs(tracks))
}

#[cfg(test)]
mod tests;
