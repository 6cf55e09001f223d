//! An on-demand stream: a file index, served as fragmented MP4 from its start.
//!
//! The file is never loaded whole: fragments (one per video GOP, capped in size) are
//! read and muxed one at a time on a blocking thread as the viewer consumes them.

use std::ops::Range;
use std::sync::Arc;

use brume_media::mp4::fmp4::{self, FragmentSample, TrackRun};
use brume_media::{Frame, Track, TrackKind};
use bytes::Bytes;

use super::source::OpenedFile;
use super::timeline::FileTimeline;

/// A fragment is closed at this many payload bytes even inside a GOP.
const MAX_FRAGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Audio-only files: samples per fragment.
const AUDIO_ONLY_SAMPLES_PER_FRAGMENT: usize = 96;

#[derive(Debug)]
pub struct VodStream {
    pub file: OpenedFile,
    pub init: Bytes,
    timeline: FileTimeline,
    /// Every sample in decode order: (track id, sample index).
    order: Vec<(u32, usize)>,
    /// Ranges of `order`, one per fragment.
    fragments: Vec<Range<usize>>,
}

impl VodStream {
    pub fn new(file: OpenedFile) -> Result<VodStream, String> {
        let tracks: Vec<Track> = file
            .index
            .tracks()
            .iter()
            .map(|t| t.track.clone())
            .collect();
        let init = fmp4::init_segment(&tracks).map_err(|e| e.to_string())?;
        let order = file.index.interleaved();
        let has_video = tracks.iter().any(|t| t.kind() == TrackKind::Video);
        let mut fragments = Vec::new();
        let mut start = 0usize;
        let mut bytes = 0u64;
        for (i, &(track_id, sample)) in order.iter().enumerate() {
            let Some(track) = file.index.track(track_id) else {
                continue;
            };
            let Some(info) = track.samples.get(sample) else {
                continue;
            };
            let boundary = if has_video {
                track.track.kind() == TrackKind::Video && info.keyframe
            } else {
                i - start >= AUDIO_ONLY_SAMPLES_PER_FRAGMENT
            };
            if i > start && (boundary || bytes >= MAX_FRAGMENT_BYTES) {
                fragments.push(start..i);
                start = i;
                bytes = 0;
            }
            bytes += info.size as u64;
        }
        if start < order.len() {
            fragments.push(start..order.len());
        }
        Ok(VodStream {
            timeline: FileTimeline::of(&file.index),
            file,
            init,
            order,
            fragments,
        })
    }

    pub fn tracks(&self) -> Vec<Track> {
        self.file
            .index
            .tracks()
            .iter()
            .map(|t| t.track.clone())
            .collect()
    }

    pub fn fragment_count(&self) -> usize {
        self.fragments.len()
    }

    pub fn duration_ms(&self) -> i64 {
        self.timeline.period_ns / 1_000_000
    }

    /// Reads and muxes fragment `n` (blocking: call from a blocking thread).
    pub fn render_fragment(&self, n: usize) -> Result<Bytes, String> {
        let range = self
            .fragments
            .get(n)
            .ok_or_else(|| format!("fragment {n} does not exist"))?;
        let index = &self.file.index;
        let tracks = index.tracks();
        let mut per_track: Vec<Vec<(Frame, u32)>> = (0..tracks.len()).map(|_| Vec::new()).collect();
        for &(track_id, sample) in &self.order[range.clone()] {
            let Some(slot) = tracks.iter().position(|t| t.track.id == track_id) else {
                continue;
            };
            let track = &tracks[slot];
            let duration = track.samples.get(sample).map(|s| s.duration).unwrap_or(0);
            let mut frame = index
                .read_frame(&*self.file.reader, track_id, sample)
                .map_err(|e| format!("{}: {e}", self.file.path.display()))?;
            frame.dts += self.timeline.offset_ticks(track.track.timescale, 0);
            per_track[slot].push((frame, duration));
        }
        let samples: Vec<Vec<FragmentSample<'_>>> = per_track
            .iter()
            .map(|frames| {
                frames
                    .iter()
                    .map(|(frame, duration)| FragmentSample {
                        frame,
                        duration: *duration,
                    })
                    .collect()
            })
            .collect();
        let runs: Vec<TrackRun<'_>> = tracks
            .iter()
            .zip(&samples)
            .filter(|(_, s)| !s.is_empty())
            .map(|(t, samples)| TrackRun {
                track: &t.track,
                samples,
            })
            .collect();
        fmp4::fragment(n as u32 + 1, &runs).map_err(|e| e.to_string())
    }
}

/// Streams a whole VoD file as fMP4 into `sender`, one fragment at a time; stops
/// early when the receiver is gone.
pub async fn send_all(
    vod: Arc<VodStream>,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    if sender.send(Ok(vod.init.clone())).await.is_err() {
        return;
    }
    for n in 0..vod.fragment_count() {
        let job = vod.clone();
        let result = tokio::task::spawn_blocking(move || job.render_fragment(n)).await;
        let item = match result {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(message)) => {
                tracing::warn!(%message, "VoD read failed; ending the response");
                Err(std::io::Error::other(message))
            }
            Err(join) => Err(std::io::Error::other(join.to_string())),
        };
        let failed = item.is_err();
        if sender.send(item).await.is_err() || failed {
            return;
        }
    }
}
