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
pub fn interleave<'a>(
    tracks: impl IntoIterator<Item = (&'a Track, &'a [Sample])>,
) -> Vec<(u32, usize)> {
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

/// Why a sample could not be read from an indexed file.
pub type ReadError = Box<dyn std::error::Error + Send + Sync>;

/// An indexed file of any container: what outputs need to walk and read it.
///
/// Tracks are addressed by position (`0..track_count()`), samples by index.
pub trait MediaFile: Send + Sync + std::fmt::Debug {
    /// Container name for logs and errors (`"MP4"`, `"FLV"`, `"MPEG-TS"`).
    fn container(&self) -> &'static str;
    fn track_count(&self) -> usize;
    /// The track at `position` and its samples in decode order.
    fn track_at(&self, position: usize) -> Option<(&Track, &[Sample])>;
    /// Reads one sample's frame from `src` (the source the index was built from).
    fn read_sample(
        &self,
        src: &dyn crate::ReadAt,
        position: usize,
        index: usize,
    ) -> Result<crate::Frame, ReadError>;
}

/// Every track of `file` with its samples, in position order.
pub fn tracks_of(file: &dyn MediaFile) -> Vec<(&Track, &[Sample])> {
    (0..file.track_count())
        .filter_map(|i| file.track_at(i))
        .collect()
}

/// Position of the track with id `track_id`.
pub fn position_of(file: &dyn MediaFile, track_id: u32) -> Option<usize> {
    (0..file.track_count()).find(|&i| file.track_at(i).is_some_and(|(t, _)| t.id == track_id))
}

/// Implements [`MediaFile`] for a demuxer whose `tracks()` items have `track` and
/// `samples` fields and whose `read_frame(src, track_id, index)` reads one frame.
macro_rules! media_file_via_tracks {
    ($file:ty, $container:literal) => {
        impl MediaFile for $file {
            fn container(&self) -> &'static str {
                $container
            }

            fn track_count(&self) -> usize {
                self.tracks().len()
            }

            fn track_at(&self, position: usize) -> Option<(&Track, &[Sample])> {
                self.tracks()
                    .get(position)
                    .map(|t| (&t.track, t.samples.as_slice()))
            }

            fn read_sample(
                &self,
                src: &dyn crate::ReadAt,
                position: usize,
                index: usize,
            ) -> Result<crate::Frame, ReadError> {
                let id = self
                    .tracks()
                    .get(position)
                    .map(|t| t.track.id)
                    .ok_or("no such track")?;
                Ok(self.read_frame(src, id, index)?)
            }
        }
    };
}

media_file_via_tracks!(crate::mp4::demux::Mp4File, "MP4");
media_file_via_tracks!(crate::flv::FlvFile, "FLV");
media_file_via_tracks!(crate::mpegts::TsFile, "MPEG-TS");
