//! Progressive (non-fragmented, seekable) MP4 built from a sample index, for
//! serving on-demand files with HTTP byte ranges.
//!
//! [`ProgressiveMp4::new`] lays out any indexed file (MP4, FLV, MPEG-TS: see
//! [`IndexedTrack`]) as `ftyp`, `moov`, `mdat`, with the `moov` first so a player
//! can start and seek before the rest arrives. The layout comes from the index
//! alone: sample sizes and times, never sample bytes. The header (`ftyp` +
//! `moov` + the `mdat` box header) is rendered once and held as [`Bytes`]; the
//! payload is the samples in decode order across tracks, back to back, each
//! exactly [`Sample::size`](crate::index::Sample) bytes long.
//!
//! Any byte range of the output is then described by [`ProgressiveMp4::pieces`]:
//! a slice of the header and (parts of) samples, found by a binary search over
//! one offset per block of samples and a short walk in the block (5 bytes a
//! sample are kept: its track and size), so a range request costs O(log n) to
//! plan and only the bytes it covers to read.
//!
//! The `moov` holds complete sample tables per track: `stts` (run-length),
//! `ctts` (omitted when every offset is 0, version 1 when one is negative),
//! `stss` (omitted when every sample is a sync sample), `stsc` (one chunk per run
//! of consecutive samples of a track), `stsz`, and `stco`, or `co64` when a chunk
//! offset needs 64 bits. Timing is kept as the index gives it, with an edit list
//! where a track does not start at 0 (the `plan` submodule explains the rules).

mod moov;
mod plan;

use std::ops::Range;

use bytes::Bytes;

use crate::index::IndexedTrack;
use crate::mp4::fmp4::Fmp4Error;
use crate::mp4::write::WriteError;
use crate::TrackKind;
pub use plan::TrackSamples;
use plan::{Cursor, SampleMap};

/// Most tracks in one output file.
pub const MAX_TRACKS: usize = 64;
/// Most samples over all tracks (about 5 bytes of lookup table each, and up to
/// about 40 bytes of sample tables in the header).
pub const MAX_SAMPLES: usize = 12_000_000;

/// Why a progressive MP4 cannot be laid out for an index.
#[derive(Debug, thiserror::Error)]
pub enum ProgressiveError {
    /// No track has a sample.
    #[error("there is no track with samples to write")]
    NoTracks,
    /// A count or size is over its limit.
    #[error("{what} is {value}, over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// A track cannot be described in MP4.
    #[error("track {track}: {reason}")]
    InvalidTrack { track: u32, reason: &'static str },
    /// Two tracks share an id.
    #[error("track id {0} is used twice")]
    DuplicateTrack(u32),
    /// A sample decodes before the one that precedes it.
    #[error("track {track}: sample {index} decodes before the sample before it")]
    DecodeOrder { track: u32, index: usize },
    /// Decode times jump further than a sample duration field can hold.
    #[error("track {track}: the decode time step to sample {index} does not fit in 32 bits")]
    TimeGap { track: u32, index: usize },
    /// The sample description could not be written.
    #[error("writing a sample description failed: {0}")]
    SampleEntry(#[from] Fmp4Error),
    /// The box writer refused a box (a header over 4 GiB).
    #[error("writing the header failed: {0}")]
    Write(#[from] WriteError),
    /// A bug in this module: its own bookkeeping disagreed.
    #[error("internal layout error: {0}")]
    Internal(&'static str),
}

/// A progressive MP4 laid out over an index: its header bytes and where every
/// sample's bytes go.
#[derive(Clone)]
pub struct ProgressiveMp4 {
    header: Bytes,
    /// Every sample in output order, offsets relative to the payload start.
    map: SampleMap,
    payload: u64,
    duration_ms: u64,
    etag: String,
    has_video: bool,
}

/// One part of an output byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// These bytes of [`ProgressiveMp4::header`].
    Header(Range<usize>),
    /// These bytes of sample `index` of track `track_id` (a sub-range of
    /// `0..size`).
    Sample {
        track_id: u32,
        index: usize,
        within: Range<u32>,
    },
}

impl ProgressiveMp4 {
    /// Lays out `tracks` interleaved in decode order. Sample sizes are taken from
    /// the index: the bytes supplied for a sample must be exactly that long.
    /// Tracks without samples are left out.
    pub fn new(tracks: &[IndexedTrack]) -> Result<ProgressiveMp4, ProgressiveError> {
        let borrowed: Vec<TrackSamples<'_>> = tracks
            .iter()
            .map(|t| (&t.track, t.samples.as_slice()))
            .collect();
        ProgressiveMp4::from_slices(&borrowed)
    }

    /// [`ProgressiveMp4::new`] on borrowed sample lists: an index held elsewhere
    /// (a demuxed file) is laid out without copying its samples.
    pub fn from_slices(tracks: &[TrackSamples<'_>]) -> Result<ProgressiveMp4, ProgressiveError> {
        let usable = plan::usable_tracks(tracks)?;
        let mut plans = plan::plan_tracks(&usable)?;
        let (map, payload) = plan::interleave_entries(&mut plans)?;
        let header = moov::write_header(&plans, payload)?;
        let duration_ms = plans.iter().map(|p| p.duration).max().unwrap_or(0);
        let has_video = plans.iter().any(|p| p.track.kind() == TrackKind::Video);
        let len = (header.len() as u64).saturating_add(payload);
        // The header holds every size, time and offset of the layout.
        let etag = format!("\"{len:x}-{:016x}\"", layout_hash(&header));
        tracing::debug!(
            samples = map.len(),
            header = header.len(),
            len,
            "progressive MP4 laid out"
        );
        Ok(ProgressiveMp4 {
            header,
            map,
            payload,
            duration_ms,
            etag,
            has_video,
        })
    }

    /// Total length of the output file in bytes.
    pub fn len(&self) -> u64 {
        self.header_len().saturating_add(self.payload)
    }

    /// Always false: the header alone is never empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `ftyp` + `moov` + the `mdat` box header: the first bytes of the output.
    pub fn header(&self) -> &Bytes {
        &self.header
    }

    /// Length of the presentation in milliseconds (the `mvhd` duration).
    pub fn duration_ms(&self) -> u64 {
        self.duration_ms
    }

    /// Number of samples over all tracks.
    pub fn sample_count(&self) -> usize {
        self.map.len()
    }

    /// `video/mp4`, or `audio/mp4` when there is no video track.
    pub fn content_type(&self) -> &'static str {
        if self.has_video {
            "video/mp4"
        } else {
            "audio/mp4"
        }
    }

    /// A strong validator of the layout (a hash of the header, which holds every
    /// sample size, time and offset, and the length), quoted for an `ETag`.
    pub fn etag(&self) -> String {
        self.etag.clone()
    }

    /// What makes up output bytes `range`: header bytes, then (parts of)
    /// samples, in order. The range is clipped to the output; an empty one gives
    /// nothing. Samples of size 0 never appear.
    pub fn pieces(&self, range: Range<u64>) -> Pieces<'_> {
        let end = range.end.min(self.len());
        let pos = range.start.min(end);
        let header_len = self.header_len();
        let at = if pos < header_len {
            self.map.start()
        } else {
            self.map.locate(pos - header_len)
        };
        Pieces {
            mp4: self,
            pos,
            end,
            at,
        }
    }

    fn header_len(&self) -> u64 {
        self.header.len() as u64
    }
}

impl std::fmt::Debug for ProgressiveMp4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressiveMp4")
            .field("len", &self.len())
            .field("header_len", &self.header.len())
            .field("samples", &self.map.len())
            .field("duration_ms", &self.duration_ms)
            .field("etag", &self.etag)
            .finish()
    }
}

/// The pieces of one byte range, from [`ProgressiveMp4::pieces`].
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    mp4: &'a ProgressiveMp4,
    /// Next output byte to describe.
    pos: u64,
    /// End of the range (exclusive, clipped to the output).
    end: u64,
    /// Next sample to look at, where it starts and each track's next index.
    at: Cursor,
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        let header_len = self.mp4.header_len();
        if self.pos >= self.end {
            return None;
        }
        if self.pos < header_len {
            let stop = self.end.min(header_len);
            let piece = usize::try_from(self.pos).ok()?..usize::try_from(stop).ok()?;
            self.pos = stop;
            return Some(Piece::Header(piece));
        }
        loop {
            let start = header_len.saturating_add(self.at.rel);
            let (slot, index, size) = self.mp4.map.advance(&mut self.at)?;
            let stop = start.saturating_add(u64::from(size));
            if stop <= self.pos {
                continue; // a sample of size 0
            }
            let until = stop.min(self.end);
            let from = u32::try_from(self.pos.checked_sub(start)?).ok()?;
            let to = u32::try_from(until.checked_sub(start)?).ok()?;
            self.pos = until;
            return Some(Piece::Sample {
                track_id: *self.mp4.map.track_ids.get(slot)?,
                index: index as usize,
                within: from..to,
            });
        }
    }
}

impl std::iter::FusedIterator for Pieces<'_> {}

/// A 64-bit hash of `bytes`, 8 bytes at a time (for validators, not security).
fn layout_hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, word: u64| (h ^ word).wrapping_mul(K).rotate_left(29);
    let mut h = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(word));
    }
    for &b in words.remainder() {
        h = mix(h, u64::from(b));
    }
    h ^= h >> 32;
    h = h.wrapping_mul(K);
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests;
