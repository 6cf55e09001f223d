//! The layout plan of a progressive MP4: per track, the sample tables (`stts`,
//! `ctts`, `stss`, `stsc` chunks) and the edit list, and for the whole file the
//! interleaved order of samples with each one's offset in the `mdat` payload.
//!
//! Everything here is computed from the sample index alone (sizes and times);
//! no sample byte is read. The box writer ([`super::moov`]) turns a plan into the
//! `moov`, and [`super::ProgressiveMp4`] keeps the compact [`SampleMap`] of the
//! interleaved order to answer byte ranges.
//!
//! Timing: each track's decode times are rebased so its first sample decodes at
//! media time 0 (an MP4 `stts` has no start offset), and the composition offsets
//! are kept as they are. The presentation is then put back on the index's own
//! timeline with an edit list: movie time `t` shows the sample whose index
//! presentation time is `origin + t`, where `origin` is the earliest presentation
//! time of all tracks when that is positive, and 0 otherwise (so negative times,
//! such as AAC priming or the B-frame delay of an MP4 source, are cut, and a file
//! whose timestamps all start late still plays from 0).

use super::{ProgressiveError, MAX_SAMPLES, MAX_TRACKS};
use crate::index::{decode_order, Sample};

/// A track and its samples, borrowed from wherever the index lives.
pub type TrackSamples<'a> = (&'a Track, &'a [Sample]);
use crate::mp4::fmp4::MAX_DECODER_CONFIG_SIZE;
use crate::{scale_ticks, Track, TrackKind};

/// Timescale of the movie (`mvhd`, `tkhd`, `elst` segment durations).
pub(super) const MOVIE_TIMESCALE: u32 = 1000;

/// Samples per block of the [`SampleMap`]: a lookup walks at most this many.
pub(super) const BLOCK: usize = 256;

/// Every sample in the interleaved output order, compactly: 5 bytes a sample
/// (its track and size) plus, every [`BLOCK`] samples, the payload offset and
/// each track's next sample index. A sample's offset is its block's offset plus
/// the sizes before it in the block; its index within its track is the block's
/// count for that track plus the samples of that track before it in the block.
#[derive(Debug, Clone, Default)]
pub(super) struct SampleMap {
    /// Track id of each slot (the position of its plan).
    pub track_ids: Vec<u32>,
    /// Per sample: the slot of its track (below [`MAX_TRACKS`]).
    pub slots: Vec<u8>,
    /// Per sample: its size in bytes.
    pub sizes: Vec<u32>,
    /// Per block: offset of its first sample relative to the first payload byte.
    pub block_rel: Vec<u64>,
    /// Per block, per slot: index of that track's first sample at or after the
    /// block start.
    pub block_next: Vec<u32>,
}

/// A place in the [`SampleMap`]: sample `next` starts at payload offset `rel`,
/// and `counts[slot]` is the index of the next sample of each track.
#[derive(Debug, Clone)]
pub(super) struct Cursor {
    pub next: usize,
    pub rel: u64,
    pub counts: Vec<u32>,
}

impl SampleMap {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.sizes.len()
    }

    /// The first sample.
    pub fn start(&self) -> Cursor {
        Cursor {
            next: 0,
            rel: 0,
            counts: vec![0; self.track_ids.len()],
        }
    }

    /// The last sample starting at or before payload offset `target` (the first
    /// sample when none does).
    pub fn locate(&self, target: u64) -> Cursor {
        let block = self
            .block_rel
            .partition_point(|&r| r <= target)
            .saturating_sub(1);
        let tracks = self.track_ids.len();
        let counts = block
            .checked_mul(tracks)
            .and_then(|from| self.block_next.get(from..from.saturating_add(tracks)));
        let (Some(counts), Some(&rel)) = (counts, self.block_rel.get(block)) else {
            return self.start();
        };
        let mut at = Cursor {
            next: block.saturating_mul(BLOCK),
            rel,
            counts: counts.to_vec(),
        };
        let stop = at.next.saturating_add(BLOCK).min(self.len());
        // Later blocks start after `target`: the sample is in this one.
        while at.next.saturating_add(1) < stop {
            let Some(&size) = self.sizes.get(at.next) else {
                break;
            };
            let following = at.rel.saturating_add(u64::from(size));
            if following > target {
                break;
            }
            self.advance(&mut at);
        }
        at
    }

    /// The sample at `at` as (slot, index in its track, size), moving `at` past
    /// it; `None` after the last sample.
    pub fn advance(&self, at: &mut Cursor) -> Option<(usize, u32, u32)> {
        let size = *self.sizes.get(at.next)?;
        let slot = usize::from(*self.slots.get(at.next)?);
        let count = at.counts.get_mut(slot)?;
        let index = *count;
        *count = count.saturating_add(1);
        at.next = at.next.saturating_add(1);
        at.rel = at.rel.saturating_add(u64::from(size));
        Some((slot, index, size))
    }
}

/// A run of consecutive samples of one track in the `mdat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunk {
    /// Offset of the chunk's first byte relative to the first payload byte.
    pub rel: u64,
    pub samples: u32,
}

/// The edit list of a track: an optional empty edit, then one media edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edit {
    /// Length of the leading empty edit, in movie ticks (0: none).
    pub empty: u64,
    /// Composition time (media ticks) shown at the start of the media edit.
    pub media_time: u64,
    /// Length of the media edit, in movie ticks.
    pub segment: u64,
}

/// Everything the `trak` of one track needs.
#[derive(Debug, Clone)]
pub(super) struct TrackPlan<'a> {
    pub track: &'a Track,
    pub samples: &'a [Sample],
    /// `stts` runs: (sample count, sample delta).
    pub stts: Vec<(u32, u32)>,
    /// `ctts` runs: (sample count, composition offset); empty when all are 0.
    pub ctts: Vec<(u32, i32)>,
    /// Whether some composition offset is negative (`ctts` version 1).
    pub ctts_signed: bool,
    /// 1-based numbers of the sync samples; `None` when every sample is one.
    pub sync: Option<Vec<u32>>,
    /// Chunks in file order, filled by [`interleave_entries`].
    pub chunks: Vec<Chunk>,
    /// Sum of the `stts` deltas, in media ticks.
    pub media_duration: u64,
    /// The edit list, `None` when the media plays from composition time 0 at
    /// movie time 0.
    pub edit: Option<Edit>,
    /// Presentation length in movie ticks (`tkhd` duration).
    pub duration: u64,
}

/// Checks the tracks and their limits; returns those with samples, in order.
pub(super) fn usable_tracks<'a>(
    tracks: &[TrackSamples<'a>],
) -> Result<Vec<TrackSamples<'a>>, ProgressiveError> {
    if tracks.len() > MAX_TRACKS {
        return Err(ProgressiveError::TooLarge {
            what: "number of tracks",
            value: tracks.len() as u64,
            limit: MAX_TRACKS as u64,
        });
    }
    let mut total = 0usize;
    let mut usable: Vec<TrackSamples<'a>> = Vec::with_capacity(tracks.len());
    for (i, &(track, samples)) in tracks.iter().enumerate() {
        let invalid = |reason| ProgressiveError::InvalidTrack {
            track: track.id,
            reason,
        };
        if track.id == 0 {
            return Err(invalid("track id 0 is reserved"));
        }
        if tracks[..i].iter().any(|t| t.0.id == track.id) {
            return Err(ProgressiveError::DuplicateTrack(track.id));
        }
        if track.timescale == 0 {
            return Err(invalid("the timescale is 0"));
        }
        if track.init.is_empty() {
            return Err(invalid("the decoder configuration is missing"));
        }
        if track.init.len() > MAX_DECODER_CONFIG_SIZE {
            return Err(ProgressiveError::TooLarge {
                what: "decoder configuration size",
                value: track.init.len() as u64,
                limit: MAX_DECODER_CONFIG_SIZE as u64,
            });
        }
        if track.kind() == TrackKind::Video {
            let fits = |v: u32| (1..=u32::from(u16::MAX)).contains(&v);
            match track.video {
                Some(v) if fits(v.width) && fits(v.height) => {}
                Some(_) => return Err(invalid("the picture size is outside 1..=65535")),
                None => return Err(invalid("a video track has no picture size")),
            }
        }
        total = total.saturating_add(samples.len());
        if total > MAX_SAMPLES {
            return Err(ProgressiveError::TooLarge {
                what: "number of samples",
                value: total as u64,
                limit: MAX_SAMPLES as u64,
            });
        }
        if samples.is_empty() {
            tracing::debug!(track = track.id, "track without samples left out");
            continue;
        }
        usable.push((track, samples));
    }
    if usable.is_empty() {
        return Err(ProgressiveError::NoTracks);
    }
    Ok(usable)
}

/// Per-track timing before the edit list is known.
struct Timing {
    stts: Vec<(u32, u32)>,
    media_duration: u64,
    /// Smallest composition time (media ticks, may be negative).
    comp_min: i64,
    /// Largest composition time plus its sample's delta (media ticks).
    comp_end: i64,
}

/// Builds the `stts` runs and the composition span of one track. Decode times
/// must not go backwards, and no step may exceed what a 32-bit delta holds.
fn timing(track: &Track, samples: &[Sample]) -> Result<Timing, ProgressiveError> {
    let mut stts: Vec<(u32, u32)> = Vec::new();
    let mut media: i64 = 0;
    let mut comp_min = i64::MAX;
    let mut comp_end = i64::MIN;
    for (i, sample) in samples.iter().enumerate() {
        let delta = match samples.get(i + 1) {
            Some(next) => i128::from(next.dts) - i128::from(sample.dts),
            None => i128::from(sample.duration),
        };
        if delta < 0 {
            return Err(ProgressiveError::DecodeOrder {
                track: track.id,
                index: i + 1,
            });
        }
        let delta = u32::try_from(delta).map_err(|_| ProgressiveError::TimeGap {
            track: track.id,
            index: i + 1,
        })?;
        match stts.last_mut() {
            Some((count, d)) if *d == delta => *count = count.saturating_add(1),
            _ => stts.push((1, delta)),
        }
        let comp = media.saturating_add(i64::from(sample.pts_offset));
        comp_min = comp_min.min(comp);
        comp_end = comp_end.max(comp.saturating_add(i64::from(delta)));
        // At most MAX_SAMPLES deltas of 32 bits: far below i64::MAX.
        media = media.saturating_add(i64::from(delta));
    }
    Ok(Timing {
        stts,
        media_duration: u64::try_from(media).unwrap_or(0),
        comp_min,
        comp_end,
    })
}

/// `ctts` runs of `samples`, empty when every offset is 0, and whether any
/// offset is negative.
fn composition_runs(samples: &[Sample]) -> (Vec<(u32, i32)>, bool) {
    if samples.iter().all(|s| s.pts_offset == 0) {
        return (Vec::new(), false);
    }
    let mut runs: Vec<(u32, i32)> = Vec::new();
    for sample in samples {
        match runs.last_mut() {
            Some((count, off)) if *off == sample.pts_offset => *count = count.saturating_add(1),
            _ => runs.push((1, sample.pts_offset)),
        }
    }
    let signed = samples.iter().any(|s| s.pts_offset < 0);
    (runs, signed)
}

/// 1-based numbers of the sync samples, `None` when all are (every audio sample
/// is a sync sample, whatever the index says).
fn sync_samples(track: &Track, samples: &[Sample]) -> Option<Vec<u32>> {
    if track.kind() == TrackKind::Audio || samples.iter().all(|s| s.keyframe) {
        return None;
    }
    Some(
        samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.keyframe)
            .map(|(i, _)| u32::try_from(i + 1).unwrap_or(u32::MAX))
            .collect(),
    )
}

/// `ticks` of timescale `from` in movie ticks, rounded down or up; negative
/// values give 0.
fn to_movie(ticks: i64, from: u32, round_up: bool) -> u64 {
    let Ok(ticks) = u128::try_from(ticks) else {
        return 0;
    };
    let from = u128::from(from.max(1));
    let scaled = ticks * u128::from(MOVIE_TIMESCALE);
    let value = if round_up {
        scaled.div_ceil(from)
    } else {
        scaled / from
    };
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// The presentation origin of the output, as (ticks, timescale): the earliest
/// presentation time over all tracks when it is positive, else 0.
fn origin(tracks: &[TrackSamples<'_>]) -> (i64, u32) {
    let mut best: Option<(i64, u32)> = None;
    for &(track, samples) in tracks {
        let scale = track.timescale.max(1);
        let Some(first) = samples.iter().map(Sample::pts).min() else {
            continue;
        };
        let earlier = match best {
            None => true,
            // first / scale < b / s, exactly.
            Some((b, s)) => i128::from(first) * i128::from(s) < i128::from(b) * i128::from(scale),
        };
        if earlier {
            best = Some((first, scale));
        }
    }
    match best {
        Some((ticks, scale)) if ticks > 0 => (ticks, scale),
        _ => (0, MOVIE_TIMESCALE),
    }
}

/// The edit list and presentation length of a track whose first sample has
/// decode time `dts0` on the index timeline.
fn edit_of(track: &Track, dts0: i64, origin: (i64, u32), t: &Timing) -> (Option<Edit>, u64) {
    let scale = track.timescale;
    let origin_ticks = scale_ticks(origin.0, origin.1, scale);
    // Movie time of media time 0, in media ticks: dts0 - origin.
    let shift = i128::from(dts0) - i128::from(origin_ticks);
    // The earliest composition time an edit can show (media times are unsigned),
    // and the movie time it falls on.
    let first_shown = t.comp_min.max(0);
    let at = i128::from(first_shown) + shift;
    let (empty, media_time) = if at > 0 {
        let at = i64::try_from(at).unwrap_or(i64::MAX);
        (to_movie(at, scale, false), first_shown)
    } else {
        // Movie time 0 falls on composition time -shift >= first_shown.
        (0, i64::try_from(-shift).unwrap_or(i64::MAX))
    };
    let shown = t.comp_end.saturating_sub(media_time);
    let segment = to_movie(shown, scale, true);
    let duration = empty.saturating_add(segment);
    let edit = (empty > 0 || media_time != 0).then_some(Edit {
        empty,
        media_time: u64::try_from(media_time).unwrap_or(0),
        segment,
    });
    (edit, duration)
}

/// The plan of every track (chunks still empty).
pub(super) fn plan_tracks<'a>(
    tracks: &[TrackSamples<'a>],
) -> Result<Vec<TrackPlan<'a>>, ProgressiveError> {
    let origin = origin(tracks);
    let mut plans = Vec::with_capacity(tracks.len());
    for &(track, samples) in tracks {
        let Some(first) = samples.first() else {
            continue;
        };
        let timing = timing(track, samples)?;
        let (ctts, ctts_signed) = composition_runs(samples);
        let (edit, duration) = edit_of(track, first.dts, origin, &timing);
        plans.push(TrackPlan {
            track,
            samples,
            stts: timing.stts,
            ctts,
            ctts_signed,
            sync: sync_samples(track, samples),
            chunks: Vec::new(),
            media_duration: timing.media_duration,
            edit,
            duration,
        });
    }
    Ok(plans)
}

/// Lays the samples of `plans` out in decode order across tracks: returns the
/// [`SampleMap`] and the payload length, and fills every plan's chunks.
pub(super) fn interleave_entries(
    plans: &mut [TrackPlan<'_>],
) -> Result<(SampleMap, u64), ProgressiveError> {
    let tracks: Vec<(&Track, &[Sample])> = plans.iter().map(|p| (p.track, p.samples)).collect();
    let total: usize = tracks.iter().map(|(_, s)| s.len()).sum();
    let mut map = SampleMap {
        track_ids: plans.iter().map(|p| p.track.id).collect(),
        slots: Vec::with_capacity(total),
        sizes: Vec::with_capacity(total),
        block_rel: Vec::with_capacity(total / BLOCK + 1),
        block_next: Vec::with_capacity((total / BLOCK + 1) * plans.len()),
    };
    let mut counts = vec![0u32; plans.len()];
    let mut rel = 0u64;
    let mut previous: Option<usize> = None;
    for (n, (slot, index)) in decode_order(&tracks).enumerate() {
        let Some(plan) = plans.get_mut(slot) else {
            return Err(ProgressiveError::Internal(
                "interleaving named an unknown track",
            ));
        };
        let Some(sample) = plan.samples.get(index) else {
            return Err(ProgressiveError::Internal(
                "interleaving named an unknown sample",
            ));
        };
        if n % BLOCK == 0 {
            map.block_rel.push(rel);
            map.block_next.extend_from_slice(&counts);
        }
        // Each track's samples come in index order: the map counts them.
        let count = counts.get_mut(slot);
        let (Some(count), Ok(slot_byte)) = (count, u8::try_from(slot)) else {
            return Err(ProgressiveError::Internal("too many tracks for the map"));
        };
        if usize::try_from(*count).ok() != Some(index) {
            return Err(ProgressiveError::Internal(
                "interleaving put a track's samples out of order",
            ));
        }
        *count = count.saturating_add(1);
        if previous != Some(slot) || plan.chunks.is_empty() {
            plan.chunks.push(Chunk { rel, samples: 0 });
        }
        if let Some(chunk) = plan.chunks.last_mut() {
            chunk.samples = chunk.samples.saturating_add(1);
        }
        map.slots.push(slot_byte);
        map.sizes.push(sample.size);
        rel = rel.saturating_add(u64::from(sample.size));
        previous = Some(slot);
    }
    Ok((map, rel))
}

/// `stsc` runs of `chunks`: (first chunk, 1-based; samples per chunk).
pub(super) fn chunk_runs(chunks: &[Chunk]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        if runs.last().map(|&(_, n)| n) != Some(chunk.samples) {
            runs.push((u32::try_from(i + 1).unwrap_or(u32::MAX), chunk.samples));
        }
    }
    runs
}
