//! The FLV file reader: [`FlvFile`] indexes an FLV file by walking its tag
//! headers and reads any frame on demand with one positional read.
//!
//! Opening reads, per tag, the 11-byte tag header and the few codec header
//! bytes after it; whole bodies are read only for sequence headers (at most
//! [`MAX_SEQUENCE_HEADER_SIZE`] bytes) and the first `onMetaData` (at most
//! [`MAX_SCRIPT_DATA_SIZE`] bytes). Each [`Sample`] points at the raw codec
//! payload inside its tag: after the 5-byte AVC header or the 2-byte AAC header.
//!
//! Timing: decode times are the tag timestamps in milliseconds (timescale
//! 1000), extended past the 32-bit wrap; the AVC composition time is the
//! presentation offset. A sample lasts until the next sample's decode time; the
//! last one as long as the one before it, or, alone in its track, one AAC frame
//! (1024 samples at the track's rate) or one video frame at the SPS frame rate
//! ([`DEFAULT_VIDEO_FRAME_MS`] without one).
//!
//! NAL length sizes other than 4: frames are returned with 4-byte lengths, so
//! opening such a file walks the NAL lengths of every video tag (one small read
//! per NAL unit, at most [`MAX_NALS_PER_FRAME`] per frame) to record the
//! converted size, and [`FlvFile::read_frame`] rewrites the lengths.
//!
//! Damage: the index stops at a tag that runs past the end of the file (a
//! recording cut short) or has an unknown tag type (corruption), keeping every
//! complete tag before it. Tags of other codecs, frames before their sequence
//! header, and frames with unreadable framing are skipped. A sequence header
//! that differs from the first one of its track is ignored (logged): one file
//! gives one configuration per track. Only a broken *first* sequence header of
//! a track makes [`FlvFile::open`] fail.

use bytes::Bytes;

use super::amf0::Amf0Value;
use super::demux::{
    aac_track, audio_tag, avc_track, four_byte_lengths, script_metadata, video_tag, AudioTag,
    AvcPacket, VideoTag, AAC_HEADER_LEN, AVC_HEADER_LEN, MAX_SCRIPT_DATA_SIZE,
};
use super::tag::{
    FileHeader, TagHeader, FILE_HEADER_SIZE, MAX_TAG_DATA_SIZE, PREVIOUS_TAG_SIZE_LEN, SIGNATURE,
    TAG_HEADER_SIZE, TAG_TYPE_AUDIO, TAG_TYPE_SCRIPT, TAG_TYPE_VIDEO,
};
use super::{FlvError, TimestampExtender};
use crate::codec::h264::AvcConfig;
use crate::index::{IndexedTrack, Sample};
use crate::{Frame, ReadAt, Track};

/// Most tags walked in one file (a 24-hour recording at 30 fps with AAC has
/// about 6.6 million).
pub const MAX_TAGS: usize = 24_000_000;
/// Most samples indexed over all tracks of one file (32 bytes each in memory).
pub const MAX_TOTAL_SAMPLES: usize = 12_000_000;
/// Largest sequence header body read, in bytes (an avcC is usually under 100).
pub const MAX_SEQUENCE_HEADER_SIZE: u32 = 1 << 20;
/// Most NAL length prefixes read while sizing one frame of a file whose NAL
/// lengths are not 4 bytes; a frame with more is skipped.
pub const MAX_NALS_PER_FRAME: usize = 4096;
/// Duration given to the only frame of a video track without SPS timing info.
pub const DEFAULT_VIDEO_FRAME_MS: u32 = 33;
/// Samples per AAC frame, for the duration of a lone AAC frame.
const AAC_FRAME_SAMPLES: u64 = 1024;

/// An indexed FLV file: track descriptions and sample index, no sample bytes.
#[derive(Debug, Clone)]
pub struct FlvFile {
    tracks: Vec<IndexedTrack>,
    /// How to read each track's samples, in the order of `tracks`.
    layouts: Vec<Layout>,
    metadata: Option<Amf0Value>,
    file_size: u64,
}

/// How the samples of one track are stored.
#[derive(Debug, Clone, Default)]
struct Layout {
    /// NAL length size of a video track.
    nal_length_size: Option<u8>,
    /// Stored payload sizes, when they differ from the sample (converted)
    /// sizes: one per sample for video with NAL lengths other than 4, else empty.
    stored_sizes: Vec<u32>,
}

impl FlvFile {
    /// Indexes the FLV file in `src` (see the module documentation).
    pub fn open(src: &(impl ReadAt + ?Sized)) -> Result<FlvFile, FlvError> {
        let file_size = src.size()?;
        let header = sniff(src, file_size)?;
        let mut ix = Indexer {
            src,
            video: None,
            audio: None,
            metadata: None,
            clock: TimestampExtender::new(),
            total_samples: 0,
            skipped: 0,
            first_skip: None,
        };
        let mut pos = u64::from(header.data_offset) + PREVIOUS_TAG_SIZE_LEN as u64;
        let mut tags = 0usize;
        while pos < file_size {
            let left = file_size - pos;
            if left < TAG_HEADER_SIZE as u64 {
                tracing::debug!(
                    pos,
                    left,
                    "the file ends inside a tag header; the index stops at the last complete tag"
                );
                break;
            }
            let mut head = [0u8; TAG_HEADER_SIZE + AVC_HEADER_LEN];
            let got = head.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let head = head.get_mut(..got).unwrap_or_default();
            src.read_exact_at(head, pos)?;
            let tag = TagHeader::parse(head)?;
            let body = pos.saturating_add(TAG_HEADER_SIZE as u64);
            let end = body.saturating_add(u64::from(tag.data_size));
            if end > file_size {
                tracing::debug!(
                    pos,
                    size = tag.data_size,
                    "the last tag runs past the end of the file; the index stops before it"
                );
                break;
            }
            tags += 1;
            if tags > MAX_TAGS {
                return Err(FlvError::TooLarge {
                    what: "number of tags",
                    value: tags as u64,
                    limit: MAX_TAGS as u64,
                });
            }
            let codec_len = (tag.data_size as usize).min(AVC_HEADER_LEN);
            let codec_head = head
                .get(TAG_HEADER_SIZE..TAG_HEADER_SIZE + codec_len)
                .unwrap_or_default();
            if tag.filter {
                ix.skip(pos, "an encrypted (filtered) tag".into());
            } else {
                match tag.tag_type {
                    TAG_TYPE_VIDEO => ix.video(&tag, body, codec_head)?,
                    TAG_TYPE_AUDIO => ix.audio(&tag, body, codec_head)?,
                    TAG_TYPE_SCRIPT => ix.script(&tag, body)?,
                    other => {
                        tracing::debug!(
                            pos,
                            tag_type = other,
                            "a tag of unknown type (corruption?); the index stops before it"
                        );
                        break;
                    }
                }
            }
            pos = end.saturating_add(PREVIOUS_TAG_SIZE_LEN as u64);
        }
        ix.finish(file_size)
    }

    /// The indexed tracks: video (id 1) first, then audio (id 2), each present
    /// only when the file has frames of it.
    pub fn tracks(&self) -> &[IndexedTrack] {
        &self.tracks
    }

    /// The track with id `id`.
    pub fn track(&self, id: u32) -> Option<&IndexedTrack> {
        self.tracks.iter().find(|t| t.track.id == id)
    }

    /// The file's first `onMetaData` value, when it has a readable one.
    pub fn metadata(&self) -> Option<&Amf0Value> {
        self.metadata.as_ref()
    }

    /// The length of the file when it was indexed.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Duration of the longest track, in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.tracks
            .iter()
            .map(IndexedTrack::duration_ticks)
            .max()
            .unwrap_or(0)
    }

    /// `(track id, sample index)` of every sample in decode order across tracks.
    pub fn interleaved(&self) -> Vec<(u32, usize)> {
        crate::index::interleave(self.tracks.iter().map(|t| (&t.track, t.samples.as_slice())))
    }

    /// Reads sample `index` of track `track_id` from `src` (the file that was
    /// opened) with one positional read. H.264 frames come back with 4-byte NAL
    /// lengths, checked; a frame whose bytes no longer match the index is an
    /// error.
    pub fn read_frame(
        &self,
        src: &(impl ReadAt + ?Sized),
        track_id: u32,
        index: usize,
    ) -> Result<Frame, FlvError> {
        let position = self
            .tracks
            .iter()
            .position(|t| t.track.id == track_id)
            .ok_or(FlvError::NoSuchTrack { track: track_id })?;
        let (Some(track), Some(layout)) = (self.tracks.get(position), self.layouts.get(position))
        else {
            return Err(FlvError::NoSuchTrack { track: track_id });
        };
        let sample = track.samples.get(index).ok_or(FlvError::SampleOutOfRange {
            track: track_id,
            index,
        })?;
        let stored = layout
            .stored_sizes
            .get(index)
            .copied()
            .unwrap_or(sample.size);
        if stored > MAX_TAG_DATA_SIZE {
            return Err(FlvError::TooLarge {
                what: "frame size",
                value: u64::from(stored),
                limit: u64::from(MAX_TAG_DATA_SIZE),
            });
        }
        let mut buf = vec![0u8; stored as usize];
        src.read_exact_at(&mut buf, sample.offset)?;
        let mut data = Bytes::from(buf);
        if let Some(length_size) = layout.nal_length_size {
            data = four_byte_lengths(data, length_size)?;
        }
        if data.len() != sample.size as usize {
            return Err(FlvError::Invalid {
                what: format!(
                    "frame {index} of track {track_id} is {} bytes, not the {} bytes \
                     indexed (was the file changed?)",
                    data.len(),
                    sample.size
                ),
            });
        }
        Ok(Frame {
            track: track_id,
            dts: sample.dts,
            pts_offset: sample.pts_offset,
            keyframe: sample.keyframe,
            data,
        })
    }
}

/// One track being indexed.
#[derive(Debug)]
struct Pending {
    track: Track,
    nal_length_size: Option<u8>,
    samples: Vec<Sample>,
    /// Stored sizes, kept only when they differ from the sample sizes.
    stored_sizes: Vec<u32>,
}

impl Pending {
    fn new(track: Track, nal_length_size: Option<u8>) -> Pending {
        Pending {
            track,
            nal_length_size,
            samples: Vec::new(),
            stored_sizes: Vec::new(),
        }
    }

    fn converts(&self) -> bool {
        self.nal_length_size.is_some_and(|n| n != 4)
    }
}

/// The state of one [`FlvFile::open`] walk.
struct Indexer<'a, R: ReadAt + ?Sized> {
    src: &'a R,
    video: Option<Pending>,
    audio: Option<Pending>,
    metadata: Option<Amf0Value>,
    clock: TimestampExtender,
    total_samples: usize,
    /// Tags skipped, and why the first one was, for one debug line.
    skipped: usize,
    first_skip: Option<String>,
}

impl<R: ReadAt + ?Sized> Indexer<'_, R> {
    fn skip(&mut self, pos: u64, why: String) {
        tracing::trace!(pos, %why, "skipping a tag");
        self.skipped += 1;
        if self.first_skip.is_none() {
            self.first_skip = Some(why);
        }
    }

    /// Reads a whole tag body part of `len` bytes at `offset`, up to `limit`.
    fn read_body(
        &self,
        offset: u64,
        len: u32,
        limit: u32,
        what: &'static str,
    ) -> Result<Vec<u8>, FlvError> {
        if len > limit {
            return Err(FlvError::TooLarge {
                what,
                value: u64::from(len),
                limit: u64::from(limit),
            });
        }
        let mut body = vec![0u8; len as usize];
        self.src.read_exact_at(&mut body, offset)?;
        Ok(body)
    }

    fn video(&mut self, tag: &TagHeader, body: u64, head: &[u8]) -> Result<(), FlvError> {
        let (keyframe, composition_time) = match video_tag(head) {
            Ok(VideoTag::Avc(AvcPacket::Nalu, keyframe, cts)) => (keyframe, cts),
            Ok(VideoTag::Avc(AvcPacket::SequenceHeader, ..)) => {
                let len = tag.data_size.saturating_sub(AVC_HEADER_LEN as u32);
                let offset = body.saturating_add(AVC_HEADER_LEN as u64);
                return self.sequence_header(true, offset, len, body);
            }
            Ok(VideoTag::Command | VideoTag::Avc(AvcPacket::EndOfSequence, ..)) => return Ok(()),
            Err(e) => {
                self.skip(body, e.to_string());
                return Ok(());
            }
        };
        let stored = tag.data_size.saturating_sub(AVC_HEADER_LEN as u32);
        let offset = body.saturating_add(AVC_HEADER_LEN as u64);
        let Some(length_size) = self.video.as_ref().map(|p| p.nal_length_size) else {
            self.skip(
                body,
                "a video frame before the first AVC sequence header".into(),
            );
            return Ok(());
        };
        if stored == 0 {
            return Ok(());
        }
        let size = match length_size {
            Some(n) if n != 4 => match converted_size(self.src, offset, stored, n)? {
                Some(size) => size,
                None => {
                    self.skip(
                        body,
                        "a video frame whose NAL unit lengths do not add up".into(),
                    );
                    return Ok(());
                }
            },
            _ => stored,
        };
        self.push_sample(
            true,
            tag.timestamp,
            offset,
            size,
            stored,
            composition_time,
            keyframe,
        )
    }

    fn audio(&mut self, tag: &TagHeader, body: u64, head: &[u8]) -> Result<(), FlvError> {
        let offset = body.saturating_add(AAC_HEADER_LEN as u64);
        let stored = tag.data_size.saturating_sub(AAC_HEADER_LEN as u32);
        match audio_tag(head) {
            Ok(AudioTag::AacSequenceHeader) => self.sequence_header(false, offset, stored, body),
            Ok(AudioTag::AacRaw) if self.audio.is_none() => {
                self.skip(
                    body,
                    "an audio frame before the first AAC sequence header".into(),
                );
                Ok(())
            }
            Ok(AudioTag::AacRaw) if stored == 0 => Ok(()),
            Ok(AudioTag::AacRaw) => {
                self.push_sample(false, tag.timestamp, offset, stored, stored, 0, true)
            }
            Err(e) => {
                self.skip(body, e.to_string());
                Ok(())
            }
        }
    }

    /// Reads and applies a sequence header: the first of a track makes the
    /// track (or fails the open); later ones must match it or are ignored.
    fn sequence_header(
        &mut self,
        video: bool,
        offset: u64,
        len: u32,
        pos: u64,
    ) -> Result<(), FlvError> {
        let what = if video {
            "AVC sequence header size"
        } else {
            "AAC sequence header size"
        };
        let first = if video {
            self.video.is_none()
        } else {
            self.audio.is_none()
        };
        let parsed = self
            .read_body(offset, len, MAX_SEQUENCE_HEADER_SIZE, what)
            .and_then(|config| {
                if video {
                    avc_track(&config).map(|(track, n)| (track, Some(n)))
                } else {
                    aac_track(&config).map(|track| (track, None))
                }
            });
        let (track, nal_length_size) = match parsed {
            Ok(parsed) => parsed,
            Err(e) if first => return Err(e),
            Err(e) => {
                self.skip(pos, format!("a later sequence header: {e}"));
                return Ok(());
            }
        };
        let slot = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        match slot {
            None => *slot = Some(Pending::new(track, nal_length_size)),
            Some(p) if p.track == track && p.nal_length_size == nal_length_size => {}
            Some(_) => {
                tracing::debug!(
                    pos,
                    video,
                    "a sequence header changes the configuration mid-file; keeping the first"
                );
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push_sample(
        &mut self,
        video: bool,
        timestamp: u32,
        offset: u64,
        size: u32,
        stored: u32,
        pts_offset: i32,
        keyframe: bool,
    ) -> Result<(), FlvError> {
        self.total_samples += 1;
        if self.total_samples > MAX_TOTAL_SAMPLES {
            return Err(FlvError::TooLarge {
                what: "number of frames",
                value: self.total_samples as u64,
                limit: MAX_TOTAL_SAMPLES as u64,
            });
        }
        let dts = self.clock.extend(timestamp);
        let slot = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        if let Some(p) = slot.as_mut() {
            if p.converts() {
                p.stored_sizes.push(stored);
            }
            p.samples.push(Sample {
                offset,
                size,
                dts,
                pts_offset,
                duration: 0,
                keyframe,
            });
        }
        Ok(())
    }

    fn finish(self, file_size: u64) -> Result<FlvFile, FlvError> {
        if self.skipped > 0 {
            tracing::debug!(
                count = self.skipped,
                first = ?self.first_skip,
                "skipped tags while indexing"
            );
        }
        let mut tracks = Vec::new();
        let mut layouts = Vec::new();
        for mut p in [self.video, self.audio].into_iter().flatten() {
            if p.samples.is_empty() {
                tracing::debug!(
                    track = p.track.id,
                    "a track has a sequence header but no frames; leaving it out"
                );
                continue;
            }
            let lone = lone_frame_ms(&p.track);
            fill_durations(&mut p.samples, lone);
            let converts = p.converts();
            layouts.push(Layout {
                nal_length_size: p.nal_length_size,
                stored_sizes: if converts { p.stored_sizes } else { Vec::new() },
            });
            tracks.push(IndexedTrack {
                track: p.track,
                samples: p.samples,
            });
        }
        if tracks.is_empty() {
            return Err(FlvError::NoSupportedTracks);
        }
        Ok(FlvFile {
            tracks,
            layouts,
            metadata: self.metadata,
            file_size,
        })
    }

    fn script(&mut self, tag: &TagHeader, body: u64) -> Result<(), FlvError> {
        if self.metadata.is_some() || tag.data_size as usize > MAX_SCRIPT_DATA_SIZE {
            return Ok(());
        }
        let data = self.read_body(
            body,
            tag.data_size,
            MAX_SCRIPT_DATA_SIZE as u32,
            "script data size",
        )?;
        match script_metadata(&data) {
            Ok(found) => self.metadata = found,
            Err(e) => tracing::debug!(pos = body, error = %e, "unreadable script data; ignored"),
        }
        Ok(())
    }
}

/// The size of a frame of `stored` bytes at `offset`, with NAL lengths of
/// `length_size` bytes, once rewritten to 4-byte lengths (zero-length entries
/// dropped); `None` when the lengths do not add up or there are too many.
fn converted_size(
    src: &(impl ReadAt + ?Sized),
    offset: u64,
    stored: u32,
    length_size: u8,
) -> Result<Option<u32>, FlvError> {
    let n = u32::from(length_size);
    if !(1..=4).contains(&n) {
        return Ok(None);
    }
    let (mut at, mut size, mut entries) = (0u32, 0u64, 0usize);
    while at < stored {
        entries += 1;
        if entries > MAX_NALS_PER_FRAME || stored - at < n {
            return Ok(None);
        }
        let mut prefix = [0u8; 4];
        let prefix = prefix.get_mut(4 - n as usize..).unwrap_or_default();
        src.read_exact_at(prefix, offset.saturating_add(u64::from(at)))?;
        let mut be = [0u8; 4];
        if let Some(tail) = be.get_mut(4 - prefix.len()..) {
            tail.copy_from_slice(prefix);
        }
        let len = u32::from_be_bytes(be);
        at += n;
        if len > stored - at {
            return Ok(None);
        }
        if len > 0 {
            size += 4 + u64::from(len);
        }
        at += len;
    }
    Ok(u32::try_from(size).ok())
}

/// Sets each sample's duration to the gap to the next decode time (0 when
/// time steps back), the last one's to the one before it, or `lone` when it is
/// alone.
fn fill_durations(samples: &mut [Sample], lone: u32) {
    for i in 1..samples.len() {
        let Some(next) = samples.get(i).map(|s| s.dts) else {
            break;
        };
        if let Some(prev) = samples.get_mut(i - 1) {
            let gap = next.saturating_sub(prev.dts).clamp(0, i64::from(u32::MAX));
            prev.duration = u32::try_from(gap).unwrap_or(u32::MAX);
        }
    }
    let before_last = samples
        .len()
        .checked_sub(2)
        .and_then(|i| samples.get(i))
        .map(|s| s.duration);
    if let Some(last) = samples.last_mut() {
        last.duration = before_last.unwrap_or(lone);
    }
}

/// The duration of one frame of `track` in milliseconds, for a track of one frame.
fn lone_frame_ms(track: &Track) -> u32 {
    if let Some(audio) = track.audio.filter(|a| a.sample_rate > 0) {
        let rate = u64::from(audio.sample_rate);
        let ms = (AAC_FRAME_SAMPLES * 1000 + rate / 2) / rate;
        return u32::try_from(ms.max(1)).unwrap_or(1);
    }
    AvcConfig::parse(&track.init)
        .ok()
        .and_then(|c| c.sps_info().ok())
        .and_then(|sps| sps.frame_rate)
        .filter(|&(num, _)| num > 0)
        .map(|(num, den)| {
            let ms = (u64::from(den) * 1000 + u64::from(num) / 2) / u64::from(num);
            u32::try_from(ms.max(1)).unwrap_or(DEFAULT_VIDEO_FRAME_MS)
        })
        .unwrap_or(DEFAULT_VIDEO_FRAME_MS)
}

/// Reads and checks the file header, describing what the file looks like when
/// it is not FLV.
fn sniff(src: &(impl ReadAt + ?Sized), file_size: u64) -> Result<FileHeader, FlvError> {
    if file_size < FILE_HEADER_SIZE as u64 {
        return Err(FlvError::NotFlv {
            found: format!("a file of only {file_size} bytes"),
        });
    }
    let mut head = [0u8; FILE_HEADER_SIZE];
    src.read_exact_at(&mut head, 0)?;
    if head.starts_with(&SIGNATURE) {
        return FileHeader::parse(&head);
    }
    let guess = crate::probe::guess_container(&head);
    Err(FlvError::NotFlv {
        found: format!(
            "{guess}a file starting with '{}'",
            crate::mp4::boxes::escaped(&head)
        ),
    })
}
