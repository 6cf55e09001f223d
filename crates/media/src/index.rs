//! The sample index shared by every file demuxer (MP4, FLV, MPEG-TS).
//!
//! A file input is indexed once: per track, where each sample lives and when it
//! plays. Outputs walk the index and read sample bytes on demand, so a file of any
//! size costs memory proportional to its sample count, never its byte size.

pub use crate::mp4::demux::Sample;
use crate::Track;

/// One track of an indexed file: its description and every sample's place and time.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedTrack {
    pub track: Track,
    pub samples: Vec<Sample>,
}

impl IndexedTrack {
    /// Last decode time plus its duration, minus the first decode time (ticks).
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

/// Every sample of `tracks` in decode order across tracks, as (track id, sample
/// index), ordered by decode time in seconds; ties go to the lower track id.
pub fn interleave<'a>(tracks: impl IntoIterator<Item = (&'a Track, &'a [Sample])>) -> Vec<(u32, usize)> {
    let mut all: Vec<(i128, u32, usize)> = Vec::new();
    for (track, samples) in tracks {
        let scale = i128::from(track.timescale.max(1));
        for (i, sample) in samples.iter().enumerate() {
            // Compare in nanoseconds: exact enough, no floating point.
            let ns = i128::from(sample.dts) * 1_000_000_000 / scale;
            all.push((ns, track.id, i));
        }
    }
    all.sort_unstable();
    all.into_iter().map(|(_, id, i)| (id, i)).collect()
}
