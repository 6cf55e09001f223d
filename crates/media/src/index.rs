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
/// (See [`decode_order`] for the same order without the list.)
pub fn interleave<'a>(
    tracks: impl IntoIterator<Item = (&'a Track, &'a [Sample])>,
) -> Vec<(u32, usize)> {
    let tracks: Vec<(&Track, &[Sample])> = tracks.into_iter().collect();
    let mut out = Vec::with_capacity(tracks.iter().map(|(_, s)| s.len()).sum());
    for (position, index) in decode_order(&tracks) {
        if let Some((track, _)) = tracks.get(position) {
            out.push((track.id, index));
        }
    }
    out
}

/// Every sample of `tracks` in the order of [`interleave`], as (position in
/// `tracks`, sample index), one at a time.
///
/// Tracks whose samples are already in decode order (the usual case) are merged
/// as they are walked, with no per-sample memory; otherwise (decode times going
/// backwards, or two tracks sharing an id) every sample is sorted first.
pub fn decode_order<'a>(tracks: &'a [(&'a Track, &'a [Sample])]) -> DecodeOrder<'a> {
    let ids_unique = tracks
        .iter()
        .enumerate()
        .all(|(i, (t, _))| tracks[..i].iter().all(|(u, _)| u.id != t.id));
    let in_order = tracks.iter().all(|&(track, samples)| {
        samples
            .windows(2)
            .all(|w| decode_ns(track, &w[0]) <= decode_ns(track, &w[1]))
    });
    let walk = if ids_unique && in_order {
        Walk::Merge {
            next: vec![0; tracks.len()],
            heads: tracks
                .iter()
                .map(|&(t, s)| s.first().map(|x| decode_ns(t, x)))
                .collect(),
        }
    } else {
        Walk::Sorted(sorted(tracks).into_iter())
    };
    DecodeOrder { tracks, walk }
}

/// The iterator of [`decode_order`].
#[derive(Debug, Clone)]
pub struct DecodeOrder<'a> {
    tracks: &'a [(&'a Track, &'a [Sample])],
    walk: Walk,
}

#[derive(Debug, Clone)]
enum Walk {
    /// Per track: the next sample index and its decode time (`None`: done).
    /// Each track is sorted by (time, id, index) and ids differ: a merge.
    Merge {
        next: Vec<usize>,
        heads: Vec<Option<i128>>,
    },
    Sorted(std::vec::IntoIter<(usize, usize)>),
}

impl Iterator for DecodeOrder<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let (next, heads) = match &mut self.walk {
            Walk::Sorted(items) => return items.next(),
            Walk::Merge { next, heads } => (next, heads),
        };
        let mut best: Option<(i128, u32, usize)> = None;
        for (position, head) in heads.iter().enumerate() {
            let (Some(ns), Some(&(track, _))) = (*head, self.tracks.get(position)) else {
                continue;
            };
            let better = match best {
                None => true,
                Some((b_ns, b_id, _)) => (ns, track.id) < (b_ns, b_id),
            };
            if better {
                best = Some((ns, track.id, position));
            }
        }
        let (_, _, position) = best?;
        let at = next.get_mut(position)?;
        let &(track, samples) = self.tracks.get(position)?;
        let index = *at;
        *at += 1;
        if let Some(head) = heads.get_mut(position) {
            *head = samples.get(*at).map(|s| decode_ns(track, s));
        }
        Some((position, index))
    }
}

/// Decode time of `sample` in nanoseconds: exact enough, no floating point.
fn decode_ns(track: &Track, sample: &Sample) -> i128 {
    i128::from(sample.dts) * 1_000_000_000 / i128::from(track.timescale.max(1))
}

/// Every sample of any `tracks` sorted by (time, id, index), as (position,
/// index).
fn sorted(tracks: &[(&Track, &[Sample])]) -> Vec<(usize, usize)> {
    let mut all: Vec<(i128, u32, usize, usize)> =
        Vec::with_capacity(tracks.iter().map(|(_, s)| s.len()).sum());
    for (position, &(track, samples)) in tracks.iter().enumerate() {
        for (i, sample) in samples.iter().enumerate() {
            all.push((decode_ns(track, sample), track.id, i, position));
        }
    }
    all.sort_unstable();
    all.into_iter().map(|(_, _, i, p)| (p, i)).collect()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Codec;

    fn track(id: u32, timescale: u32) -> Track {
        Track {
            id,
            codec: Codec::Aac,
            timescale,
            init: bytes::Bytes::new(),
            codec_string: String::new(),
            video: None,
            audio: None,
        }
    }

    fn at(dts: &[i64]) -> Vec<Sample> {
        dts.iter()
            .map(|&dts| Sample {
                offset: 0,
                size: 1,
                dts,
                pts_offset: 0,
                duration: 1,
                keyframe: true,
            })
            .collect()
    }

    /// The merge gives exactly the order of sorting every sample, for tracks in
    /// decode order (with equal times across tracks) and for those that are not.
    #[test]
    fn merging_orders_samples_like_sorting_them() {
        let (video, audio, data) = (track(2, 90_000), track(1, 48_000), track(3, 1000));
        let cases = [
            vec![
                (video.clone(), at(&[0, 3600, 7200, 7200, 10_800])),
                (audio.clone(), at(&[0, 1024, 1920, 2048, 3840, 4096])),
                (data.clone(), at(&[0, 40, 80, 500])),
            ],
            vec![
                (video.clone(), at(&[0, 7200, 3600, 10_800])),
                (audio.clone(), at(&[1024, 0, 2048])),
            ],
            vec![
                (audio.clone(), at(&[0, 1024, 2048])),
                (audio.clone(), at(&[0, 512, 1024])),
            ],
            vec![(video.clone(), Vec::new()), (audio.clone(), at(&[5, 6]))],
        ];
        for case in &cases {
            let list: Vec<(&Track, &[Sample])> =
                case.iter().map(|(t, s)| (t, s.as_slice())).collect();
            let total = list.iter().map(|(_, s)| s.len()).sum();
            let merged: Vec<(usize, usize)> = decode_order(&list).collect();
            assert_eq!(merged, sorted(&list));
            assert_eq!(merged.len(), total);
            let ids: Vec<(u32, usize)> = merged.iter().map(|&(p, i)| (list[p].0.id, i)).collect();
            assert_eq!(interleave(list.iter().copied()), ids);
        }
        let list = [
            (&video, cases[0][0].1.as_slice()),
            (&audio, &cases[0][1].1[..]),
        ];
        let merged = interleave(list.iter().copied());
        assert_eq!(&merged[..4], &[(1, 0), (2, 0), (1, 1), (1, 2)]);
    }
}
