//! The MP4 file demuxer: [`Mp4File`] indexes a progressive (non-fragmented) MP4 or
//! QuickTime file and reads any sample on demand.
//!
//! Opening a file reads only box headers at the top level (an `mdat` of any size
//! is skipped by its header, wherever it lies) and the `moov` box, at most
//! [`MAX_MOOV_SIZE`] bytes, into memory. From the `moov` it builds, per supported
//! track (H.264, H.265, AAC), the [`Track`] description and an index of every
//! [`Sample`]: file offset, size, timing and keyframe flag. Sample bytes are read
//! later, one positional read per sample, by [`Mp4File::read_frame`]; the file is
//! never read whole.
//!
//! Timing follows the edit list (`elst`) in its two common shapes: a leading
//! empty edit delays the track, and a first edit starting at media time `t > 0`
//! (ffmpeg's B-frame delay or AAC priming) shifts all of the track's timestamps
//! down by `t`. The first *presented* sample is then at about zero, and the first
//! decode times may be negative. Longer edit lists are honoured only up to their
//! first media edit.
//!
//! Everything read from the file is checked: every count and size has a named
//! limit, checked before anything is allocated, and malformed input yields an
//! [`Mp4Error`], never a panic.

use std::cmp::Ordering;

use bytes::Bytes;

use super::boxes::{find_child, read_header_at, require_child, Boxes, FourCC, Reader};
use super::sample_table::{SampleTableBoxes, MAX_SAMPLE_SIZE};
use super::stsd::{parse_stsd, Description};
use crate::codec::CodecError;
use crate::{scale_ticks, Frame, ReadAt, Track};

pub use super::sample_table::Sample;

/// Largest `moov` box read into memory, in bytes. A two-hour film's `moov` is a
/// few MiB; sample tables of the longest tracks accepted stay well under this.
pub const MAX_MOOV_SIZE: u64 = 256 << 20;
/// Most top-level boxes walked looking for the `moov`.
pub const MAX_TOP_LEVEL_BOXES: usize = 10_000;
/// Most `trak` boxes in one `moov`.
pub const MAX_TRACKS: usize = 64;
/// Most samples indexed over all tracks of one file (32 bytes each in memory).
pub const MAX_TOTAL_SAMPLES: usize = 12_000_000;

/// Box types a file may start with; anything else is not an MP4/QuickTime file.
const FIRST_BOX_TYPES: [&[u8; 4]; 12] = [
    b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid", b"meta",
    b"sidx", b"moof",
];

/// Why a file cannot be indexed or a sample cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Mp4Error {
    #[error("reading the file failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("not an MP4 file: found {found}")]
    NotMp4 { found: String },
    #[error("the file has no '{path}' box")]
    MissingBox { path: &'static str },
    #[error("the '{what}' box ends before its fields do")]
    Truncated { what: &'static str },
    #[error("invalid MP4 file: {what}")]
    Invalid { what: String },
    #[error("the {what} is {value}, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    #[error("the {what} is unusable: {source}")]
    Codec {
        what: &'static str,
        source: CodecError,
    },
    #[error(
        "fragmented MP4 files are not supported; remux it with \
         `ffmpeg -i in.mp4 -c copy -movflags +faststart out.mp4`"
    )]
    Fragmented,
    #[error("the file has no H.264, H.265 or AAC track")]
    NoSupportedTracks,
    #[error("the file has no track {track}")]
    NoSuchTrack { track: u32 },
    #[error("track {track} has no sample {index}")]
    SampleOutOfRange { track: u32, index: usize },
}

/// One supported track of a file and the index of its samples.
#[derive(Debug, Clone)]
pub struct Mp4Track {
    pub track: Track,
    /// Every sample in decode order.
    pub samples: Vec<Sample>,
    /// The sample entry type (`avc1`, `hev1`, `mp4a`…).
    pub sample_entry: FourCC,
    /// Bytes of each NAL unit length prefix as stored (video only); frames are
    /// always returned with 4-byte lengths.
    pub nal_length_size: Option<u8>,
    /// Ticks (track timescale) added to every stored decode time by the edit
    /// list: `samples[i].dts` = time in the `stts` table + `edit_offset`.
    pub edit_offset: i64,
}

impl Mp4Track {
    /// Span from the first decode time to the end of the last sample, in the
    /// track's timescale (0 for a track without samples).
    pub fn duration_ticks(&self) -> i64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(first), Some(last)) => last
                .dts
                .saturating_add(i64::from(last.duration))
                .saturating_sub(first.dts),
            _ => 0,
        }
    }
}

/// An indexed MP4 file: track descriptions and sample index, no sample bytes.
#[derive(Debug, Clone)]
pub struct Mp4File {
    tracks: Vec<Mp4Track>,
    movie_timescale: u32,
    file_size: u64,
}

impl Mp4File {
    /// Indexes the MP4 file in `src`: reads top-level box headers until the
    /// `moov`, then the `moov` itself, and builds the sample index of every
    /// supported track. Tracks of other codecs are skipped.
    pub fn open(src: &(impl ReadAt + ?Sized)) -> Result<Mp4File, Mp4Error> {
        let file_size = src.size()?;
        sniff(src, file_size)?;
        let mut offset = 0u64;
        let mut walked = 0usize;
        let mut saw_moof = false;
        let moov = loop {
            if offset >= file_size {
                return Err(if saw_moof {
                    Mp4Error::Fragmented
                } else {
                    Mp4Error::MissingBox { path: "moov" }
                });
            }
            walked += 1;
            if walked > MAX_TOP_LEVEL_BOXES {
                return Err(Mp4Error::TooLarge {
                    what: "number of top-level boxes before the 'moov'",
                    value: walked as u64,
                    limit: MAX_TOP_LEVEL_BOXES as u64,
                });
            }
            let header = read_header_at(src, offset, file_size)?;
            tracing::trace!(kind = %header.kind, offset, size = header.size, "top-level box");
            if header.kind == FourCC::MOOV {
                break header;
            }
            saw_moof |= header.kind.0 == *b"moof";
            offset = header.end();
        };
        if moov.body_len() > MAX_MOOV_SIZE {
            return Err(Mp4Error::TooLarge {
                what: "'moov' box size",
                value: moov.body_len(),
                limit: MAX_MOOV_SIZE,
            });
        }
        // Bounded by MAX_MOOV_SIZE just above, so it fits in usize.
        let len = usize::try_from(moov.body_len()).map_err(|_| Mp4Error::TooLarge {
            what: "'moov' box size",
            value: moov.body_len(),
            limit: MAX_MOOV_SIZE,
        })?;
        let mut body = vec![0u8; len];
        src.read_exact_at(&mut body, moov.body_offset())?;
        Self::from_moov(&body, file_size)
    }

    /// Builds the index from the body of a `moov` box; samples must lie within
    /// the first `file_size` bytes of the file.
    fn from_moov(moov: &[u8], file_size: u64) -> Result<Mp4File, Mp4Error> {
        let mut movie_timescale = None;
        let mut traks = Vec::new();
        let mut fragmented = false;
        for child in Boxes::new(moov, "moov") {
            let (kind, body) = child?;
            match &kind.0 {
                b"mvhd" => movie_timescale = movie_timescale.or(Some(parse_mvhd(body)?)),
                b"trak" => {
                    if traks.len() >= MAX_TRACKS {
                        return Err(Mp4Error::TooLarge {
                            what: "number of tracks",
                            value: traks.len() as u64 + 1,
                            limit: MAX_TRACKS as u64,
                        });
                    }
                    traks.push(body);
                }
                b"mvex" => fragmented = true,
                _ => {}
            }
        }
        let movie_timescale = movie_timescale.ok_or(Mp4Error::MissingBox { path: "moov/mvhd" })?;

        let mut tracks: Vec<Mp4Track> = Vec::with_capacity(traks.len());
        let mut total_samples = 0usize;
        for trak in traks {
            let Some(track) = parse_trak(trak, movie_timescale, file_size, &mut total_samples)?
            else {
                continue;
            };
            if tracks.iter().any(|t| t.track.id == track.track.id) {
                return Err(Mp4Error::Invalid {
                    what: format!("two tracks have the id {}", track.track.id),
                });
            }
            tracks.push(track);
        }
        if tracks.is_empty() {
            return Err(if fragmented {
                Mp4Error::Fragmented
            } else {
                Mp4Error::NoSupportedTracks
            });
        }
        if fragmented {
            tracing::debug!("movie fragments after the 'moov' are ignored");
        }
        Ok(Mp4File {
            tracks,
            movie_timescale,
            file_size,
        })
    }

    /// The supported tracks, in file order.
    pub fn tracks(&self) -> &[Mp4Track] {
        &self.tracks
    }

    /// The track with `tkhd` id `id`.
    pub fn track(&self, id: u32) -> Option<&Mp4Track> {
        self.tracks.iter().find(|t| t.track.id == id)
    }

    /// The movie timescale (`mvhd`), the unit of edit list durations.
    pub fn movie_timescale(&self) -> u32 {
        self.movie_timescale
    }

    /// The length of the file when it was indexed.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Duration of the longest track, in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.tracks
            .iter()
            .map(|t| t.track.ticks_to_ms(t.duration_ticks()))
            .max()
            .unwrap_or(0)
    }

    /// Reads sample `index` of track `track_id` from `src` (the same file that was
    /// opened) with one positional read. H.264/H.265 payloads come back with
    /// 4-byte NAL lengths whatever the file stores.
    pub fn read_frame(
        &self,
        src: &(impl ReadAt + ?Sized),
        track_id: u32,
        index: usize,
    ) -> Result<Frame, Mp4Error> {
        let track = self
            .track(track_id)
            .ok_or(Mp4Error::NoSuchTrack { track: track_id })?;
        let sample = track.samples.get(index).ok_or(Mp4Error::SampleOutOfRange {
            track: track_id,
            index,
        })?;
        if sample.size > MAX_SAMPLE_SIZE {
            return Err(Mp4Error::TooLarge {
                what: "sample size",
                value: u64::from(sample.size),
                limit: u64::from(MAX_SAMPLE_SIZE),
            });
        }
        let mut buf = vec![0u8; sample.size as usize];
        src.read_exact_at(&mut buf, sample.offset)?;
        let data = match track.nal_length_size {
            Some(n) if n != 4 => widen_nal_lengths(&buf, n)?,
            _ => Bytes::from(buf),
        };
        Ok(Frame {
            track: track_id,
            dts: sample.dts,
            pts_offset: sample.pts_offset,
            keyframe: sample.keyframe,
            data,
        })
    }

    /// `(track id, sample index)` of every sample of every track in decode
    /// order: by decode time in seconds, ties broken by lower track id, then by
    /// sample index.
    pub fn interleaved(&self) -> Vec<(u32, usize)> {
        let total: usize = self.tracks.iter().map(|t| t.samples.len()).sum();
        let mut order: Vec<(u32, usize, i64, u32)> = Vec::with_capacity(total);
        for t in &self.tracks {
            let (id, scale) = (t.track.id, t.track.timescale);
            order.extend(
                t.samples
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (id, i, s.dts, scale)),
            );
        }
        order.sort_unstable_by(|a, b| {
            // a.dts / a.scale vs b.dts / b.scale, exactly, in i128.
            let left = i128::from(a.2) * i128::from(b.3);
            let right = i128::from(b.2) * i128::from(a.3);
            match left.cmp(&right) {
                Ordering::Equal => (a.0, a.1).cmp(&(b.0, b.1)),
                other => other,
            }
        });
        order.into_iter().map(|(id, i, _, _)| (id, i)).collect()
    }
}

/// Refuses, with a description of what was found, files that do not start with
/// an MP4 box.
fn sniff(src: &(impl ReadAt + ?Sized), file_size: u64) -> Result<(), Mp4Error> {
    if file_size < 8 {
        return Err(Mp4Error::NotMp4 {
            found: format!("a file of only {file_size} bytes"),
        });
    }
    let mut head = [0u8; 8];
    src.read_exact_at(&mut head, 0)?;
    let kind = [head[4], head[5], head[6], head[7]];
    if FIRST_BOX_TYPES.iter().any(|t| **t == kind) {
        return Ok(());
    }
    let guess = crate::probe::guess_container(&head);
    Err(Mp4Error::NotMp4 {
        found: format!(
            "{guess}first box '{}' (file starts with '{}')",
            FourCC(kind),
            super::boxes::escaped(&head)
        ),
    })
}

/// The movie timescale from `mvhd`.
fn parse_mvhd(body: &[u8]) -> Result<u32, Mp4Error> {
    let mut r = Reader::new(body, "mvhd");
    let (version, _) = r.version_flags()?;
    r.skip(if version == 1 { 16 } else { 8 })?;
    r.u32()
}

/// Track id from `tkhd`.
fn parse_tkhd(body: &[u8]) -> Result<u32, Mp4Error> {
    let mut r = Reader::new(body, "tkhd");
    let (version, _) = r.version_flags()?;
    r.skip(if version == 1 { 16 } else { 8 })?;
    r.u32()
}

/// Media timescale from `mdhd`.
fn parse_mdhd(body: &[u8]) -> Result<u32, Mp4Error> {
    let mut r = Reader::new(body, "mdhd");
    let (version, _) = r.version_flags()?;
    r.skip(if version == 1 { 16 } else { 8 })?;
    r.u32()
}

/// Handler type from `hdlr` (`vide`, `soun`, `text`…), for logs.
fn parse_hdlr(body: &[u8]) -> Result<FourCC, Mp4Error> {
    let mut r = Reader::new(body, "hdlr");
    r.skip(8)?;
    Ok(FourCC(r.array()?))
}

/// Parses one `trak`; `Ok(None)` for a track that is skipped (unsupported codec,
/// no samples). `total_samples` accumulates the samples of kept tracks.
fn parse_trak(
    trak: &[u8],
    movie_timescale: u32,
    file_size: u64,
    total_samples: &mut usize,
) -> Result<Option<Mp4Track>, Mp4Error> {
    let id = parse_tkhd(require_child(
        trak,
        "trak",
        FourCC(*b"tkhd"),
        "moov/trak/tkhd",
    )?)?;
    let mdia = require_child(trak, "trak", FourCC(*b"mdia"), "moov/trak/mdia")?;
    let timescale = parse_mdhd(require_child(
        mdia,
        "mdia",
        FourCC(*b"mdhd"),
        "moov/trak/mdia/mdhd",
    )?)?;
    let handler = match find_child(mdia, "mdia", FourCC(*b"hdlr"))? {
        Some(hdlr) => parse_hdlr(hdlr)?,
        None => FourCC(*b"????"),
    };
    let minf = require_child(mdia, "mdia", FourCC(*b"minf"), "moov/trak/mdia/minf")?;
    let stbl = require_child(minf, "minf", FourCC(*b"stbl"), "moov/trak/mdia/minf/stbl")?;
    let stsd = require_child(
        stbl,
        "stbl",
        FourCC(*b"stsd"),
        "moov/trak/mdia/minf/stbl/stsd",
    )?;

    let entry = match parse_stsd(stsd)? {
        Description::Supported(entry) => entry,
        Description::Unsupported(reason) => {
            tracing::debug!(track = id, %handler, %reason, "skipping a track of an unsupported codec");
            return Ok(None);
        }
    };
    if id == 0 {
        return Err(Mp4Error::Invalid {
            what: "a track has id 0".to_string(),
        });
    }
    if timescale == 0 {
        return Err(Mp4Error::Invalid {
            what: format!("track {id} has a timescale of 0"),
        });
    }
    let tables = SampleTableBoxes::from_stbl(stbl)?;
    if entry.entry_count > 1 && !tables.uses_only_first_description()? {
        tracing::debug!(
            track = id,
            "skipping a track that switches sample descriptions"
        );
        return Ok(None);
    }
    let count = tables.sample_count()?;
    let total = total_samples.saturating_add(count);
    if total > MAX_TOTAL_SAMPLES {
        return Err(Mp4Error::TooLarge {
            what: "number of samples in the file",
            value: total as u64,
            limit: MAX_TOTAL_SAMPLES as u64,
        });
    }
    let mut samples = tables.build(file_size)?;
    if samples.is_empty() {
        tracing::debug!(track = id, "skipping a track without samples");
        return Ok(None);
    }
    *total_samples = total;

    let edit_offset = match find_child(trak, "trak", FourCC(*b"edts"))? {
        Some(edts) => match find_child(edts, "edts", FourCC(*b"elst"))? {
            Some(elst) => edit_offset(elst, movie_timescale, timescale)?,
            None => 0,
        },
        None => 0,
    };
    if edit_offset != 0 {
        for sample in &mut samples {
            sample.dts = sample
                .dts
                .checked_add(edit_offset)
                .ok_or(Mp4Error::Invalid {
                    what: format!("track {id}: the edit list moves decode times out of range"),
                })?;
        }
    }

    Ok(Some(Mp4Track {
        track: Track {
            id,
            codec: entry.codec,
            timescale,
            init: entry.init,
            codec_string: entry.codec_string,
            video: entry.video,
            audio: entry.audio,
        },
        samples,
        sample_entry: entry.kind,
        nal_length_size: entry.nal_length_size,
        edit_offset,
    }))
}

/// The shift (track ticks) the edit list applies to every timestamp: plus the
/// duration of a leading empty edit, minus the media time of the first media
/// edit. Edits after that are not honoured.
fn edit_offset(elst: &[u8], movie_timescale: u32, timescale: u32) -> Result<i64, Mp4Error> {
    let mut r = Reader::new(elst, "elst");
    let (version, _) = r.version_flags()?;
    let count = r.u32()?;
    let entry_len = if version == 1 { 20 } else { 12 };
    let count = r.check_entries(u64::from(count), entry_len)?;
    let read_entry = |r: &mut Reader<'_>| -> Result<(i64, i64, u32), Mp4Error> {
        if version == 1 {
            let duration = i64::try_from(r.u64()?).map_err(|_| Mp4Error::Invalid {
                what: "an edit list duration is over 2^63".to_string(),
            })?;
            Ok((duration, r.i64()?, r.u32()?))
        } else {
            Ok((i64::from(r.u32()?), i64::from(r.i32()?), r.u32()?))
        }
    };
    if count == 0 {
        return Ok(0);
    }
    let mut used = 1;
    let (mut duration, mut media_time, mut rate) = read_entry(&mut r)?;
    let mut delay = 0i64;
    if media_time == -1 {
        delay = scale_ticks(duration, movie_timescale, timescale);
        if count >= 2 {
            used = 2;
            (duration, media_time, rate) = read_entry(&mut r)?;
        } else {
            media_time = 0;
        }
    }
    if media_time < 0 {
        tracing::debug!(media_time, "edit list media time below -1 ignored");
        media_time = 0;
    }
    if rate != 0x0001_0000 {
        tracing::debug!(rate, "edit list rate other than 1 ignored");
    }
    if count > used {
        tracing::debug!(
            edits = count,
            duration,
            "only the first media edit of the edit list is honoured"
        );
    }
    Ok(delay.saturating_sub(media_time))
}

/// Rewrites length-prefixed NAL units with `from`-byte lengths (1 to 3) into
/// 4-byte lengths, Brume's canonical form.
fn widen_nal_lengths(data: &[u8], from: u8) -> Result<Bytes, Mp4Error> {
    let from = usize::from(from);
    let bad = || Mp4Error::Invalid {
        what: "a sample's NAL unit lengths run past its end".to_string(),
    };
    // First pass: validate and count units, so the output is allocated once.
    let mut units = 0usize;
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = nal_len(rest, from).ok_or_else(bad)?;
        rest = tail.get(len..).ok_or_else(bad)?;
        units += 1;
    }
    let extra = units.saturating_mul(4 - from.min(4));
    let mut out = Vec::with_capacity(data.len().saturating_add(extra));
    let mut rest = data;
    while let Some((len, tail)) = nal_len(rest, from) {
        let (unit, after) = tail.split_at_checked(len).ok_or_else(bad)?;
        let len = u32::try_from(len).map_err(|_| bad())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(unit);
        rest = after;
    }
    Ok(Bytes::from(out))
}

/// Reads a `size`-byte big-endian length at the front of `data`.
fn nal_len(data: &[u8], size: usize) -> Option<(usize, &[u8])> {
    let (prefix, rest) = data.split_at_checked(size)?;
    if prefix.is_empty() {
        return None;
    }
    let len = prefix
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Some((len, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_nal_lengths_are_widened_to_four_bytes() {
        let two = [0, 2, 0x65, 1, 0, 1, 0x06];
        let out = widen_nal_lengths(&two, 2).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06]);
        let one = [1, 0x09, 0];
        assert_eq!(
            &widen_nal_lengths(&one, 1).unwrap()[..],
            &[0, 0, 0, 1, 0x09, 0, 0, 0, 0]
        );
        assert!(widen_nal_lengths(&[0, 5, 1], 2).is_err());
        assert!(widen_nal_lengths(&[0], 2).is_err());
        assert!(widen_nal_lengths(&[], 2).unwrap().is_empty());
    }

    fn elst(version: u8, entries: &[(i64, i64)]) -> Vec<u8> {
        let mut out = vec![version, 0, 0, 0];
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for &(duration, media_time) in entries {
            if version == 1 {
                out.extend_from_slice(&(duration as u64).to_be_bytes());
                out.extend_from_slice(&media_time.to_be_bytes());
            } else {
                out.extend_from_slice(&(duration as u32).to_be_bytes());
                out.extend_from_slice(&(media_time as i32).to_be_bytes());
            }
            out.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        out
    }

    #[test]
    fn edit_lists_shift_and_delay() {
        // ffmpeg's B-frame delay: shift down by the media time.
        assert_eq!(
            edit_offset(&elst(0, &[(10_000, 1024)]), 1000, 15_360).unwrap(),
            -1024
        );
        // Leading empty edit of 0.5 s in a 1000 Hz movie, 90 kHz track.
        assert_eq!(
            edit_offset(&elst(0, &[(500, -1), (9000, 0)]), 1000, 90_000).unwrap(),
            45_000
        );
        // Both, with 64-bit entries.
        assert_eq!(
            edit_offset(&elst(1, &[(500, -1), (9000, 3000)]), 1000, 90_000).unwrap(),
            42_000
        );
        // Only an empty edit; more edits than honoured; none at all.
        assert_eq!(
            edit_offset(&elst(0, &[(1000, -1)]), 1000, 48_000).unwrap(),
            48_000
        );
        assert_eq!(
            edit_offset(&elst(0, &[(1000, 0), (1000, 5000)]), 1000, 48_000).unwrap(),
            0
        );
        assert_eq!(edit_offset(&elst(0, &[]), 1000, 48_000).unwrap(), 0);
        // A count larger than the box is an error.
        let mut bad = elst(0, &[(1, 1)]);
        bad[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(edit_offset(&bad, 1000, 1000).is_err());
    }

    #[test]
    fn non_mp4_files_are_named() {
        let flv = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00";
        let err = Mp4File::open(&flv[..]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Mp4Error::NotMp4 { .. }));
        assert!(text.contains("FLV"), "{text}");
        assert!(matches!(
            Mp4File::open(&b"abc"[..]),
            Err(Mp4Error::NotMp4 { .. })
        ));
    }
}
