//! On-demand `.ts` files: [`TsFile`] indexes a transport stream file in one pass
//! of bounded reads and re-reads any frame later from just its PES's packets.
//!
//! Opening reads the file front to back in [`SCAN_CHUNK_SIZE`] pieces through the
//! streaming demuxer core, keeping per frame only its [`Sample`] (offset of the
//! first packet of its PES, payload size, timing, keyframe flag) and a small side
//! record (where the PES's packets end, which ADTS frame of the PES it is).
//! [`TsFile::read_frame`] reads that byte range, reassembles the PES from the
//! packets of the track's PID and converts it exactly as indexing did.

use bytes::Bytes;

use super::demux::{check_continuity, Continuity, CoreEvent, Origin, Program};
use super::es::{h264_access_unit, AdtsFrames, AAC_FRAME_SAMPLES};
use super::packet::{parse_packet, PacketSplitter};
use super::pes::{parse_pes_header, PesAssembler};
use super::{TsError, MAX_PES_SPAN, MAX_TOTAL_SAMPLES, PACKET_SIZE, SCAN_CHUNK_SIZE, SYNC_BYTE};
use crate::codec::h264::AvcConfig;
use crate::index::{IndexedTrack, Sample};
use crate::{Codec, Frame, ReadAt, Track};

/// Packets checked at the start of a file to recognise it as TS.
const SNIFF_PACKETS: usize = 5;

/// What is needed, beyond its [`Sample`], to re-read one frame.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// File offset just past the last packet of the frame's PES.
    end: u64,
    /// Which frame of the PES it is (ADTS frames; 0 for video).
    index: u32,
}

/// The private per-track side of the index.
#[derive(Debug, Clone)]
struct FileStream {
    pid: u16,
    /// Parameter sets of the track's avcC, left out of frames as when indexing.
    known_sets: Vec<Bytes>,
    spans: Vec<Span>,
}

/// An indexed transport stream file: tracks and sample index, no media bytes.
#[derive(Debug, Clone)]
pub struct TsFile {
    tracks: Vec<IndexedTrack>,
    streams: Vec<FileStream>,
    file_size: u64,
}

impl TsFile {
    /// Indexes the transport stream in `src`, reading it once in chunks of
    /// [`SCAN_CHUNK_SIZE`] bytes. Tracks are H.264 and AAC (ADTS) streams of the
    /// first program, ids 1, 2, … in PMT order.
    pub fn open(src: &(impl ReadAt + ?Sized)) -> Result<TsFile, TsError> {
        let file_size = src.size()?;
        sniff(src, file_size)?;
        let mut builder = Builder::default();
        let mut program = Program::default();
        let mut splitter = PacketSplitter::new(0);
        let mut events = Vec::new();
        let chunk_len =
            usize::try_from(file_size).map_or(SCAN_CHUNK_SIZE, |s| s.min(SCAN_CHUNK_SIZE));
        let mut chunk = vec![0u8; chunk_len];
        let mut offset = 0u64;
        while offset < file_size {
            let n =
                usize::try_from(file_size - offset).map_or(chunk_len, |left| left.min(chunk_len));
            let buf = chunk.get_mut(..n).unwrap_or(&mut []);
            src.read_exact_at(buf, offset)?;
            let mut used = 0;
            loop {
                let (k, packet) = splitter.next(buf.get(used..).unwrap_or(&[]));
                used += k;
                let Some((at, packet)) = packet else {
                    break;
                };
                program.push_packet(packet, at, &mut events);
                builder.take(&mut events)?;
            }
            offset += n as u64;
        }
        if let Some((at, packet)) = splitter.finish() {
            program.push_packet(packet, at, &mut events);
        }
        program.finish(&mut events);
        builder.take(&mut events)?;
        builder.build(file_size)
    }

    /// The tracks with their samples, by id.
    pub fn tracks(&self) -> &[IndexedTrack] {
        &self.tracks
    }

    /// The track with id `id`.
    pub fn track(&self, id: u32) -> Option<&IndexedTrack> {
        self.tracks.iter().find(|t| t.track.id == id)
    }

    /// The length of the file when it was indexed.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Reads frame `index` of track `track_id` from `src` (the file that was
    /// opened): one read of the byte range of its PES's packets.
    pub fn read_frame(
        &self,
        src: &(impl ReadAt + ?Sized),
        track_id: u32,
        index: usize,
    ) -> Result<Frame, TsError> {
        let position = self
            .tracks
            .iter()
            .position(|t| t.track.id == track_id)
            .ok_or(TsError::NoSuchTrack { track: track_id })?;
        let (Some(indexed), Some(stream)) = (self.tracks.get(position), self.streams.get(position))
        else {
            return Err(TsError::NoSuchTrack { track: track_id });
        };
        let out_of_range = TsError::SampleOutOfRange {
            track: track_id,
            index,
        };
        let (Some(sample), Some(span)) = (indexed.samples.get(index), stream.spans.get(index))
        else {
            return Err(out_of_range);
        };
        let len = span.end.saturating_sub(sample.offset);
        if len > MAX_PES_SPAN {
            return Err(TsError::TooLarge {
                what: "byte range of a frame's packets",
                value: len,
                limit: MAX_PES_SPAN,
            });
        }
        // Bounded by MAX_PES_SPAN just above.
        let mut buf = vec![0u8; len as usize];
        src.read_exact_at(&mut buf, sample.offset)?;
        let data = reread(&buf, sample.offset, stream, &indexed.track, span.index)
            .filter(|d| d.len() == sample.size as usize)
            .ok_or(TsError::FrameMoved {
                track: track_id,
                index,
            })?;
        Ok(Frame {
            track: track_id,
            dts: sample.dts,
            pts_offset: sample.pts_offset,
            keyframe: sample.keyframe,
            data,
        })
    }
}

/// The payload of frame `index` of the first PES on `stream.pid` in `buf` (file
/// bytes from `start`), converted as the demuxer does.
fn reread(buf: &[u8], start: u64, stream: &FileStream, track: &Track, index: u32) -> Option<Bytes> {
    let mut splitter = PacketSplitter::new_synced(start);
    let mut pes = PesAssembler::default();
    let mut found: Option<Option<Bytes>> = None;
    let mut last_cc: Option<u8> = None;
    let mut used = 0;
    let mut at_end = false;
    while found.is_none() && !at_end {
        let (n, packet) = splitter.next(buf.get(used..).unwrap_or(&[]));
        used += n;
        let (offset, raw) = match packet {
            Some(p) => p,
            None => {
                at_end = true;
                match splitter.finish() {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        let Ok(packet) = parse_packet(raw) else {
            continue;
        };
        if packet.pid != stream.pid {
            continue;
        }
        if offset == start && !packet.payload_unit_start {
            return None;
        }
        // The same checks as when indexing: a damaged or lost packet means the
        // file is not what was indexed.
        if packet.transport_error {
            return None;
        }
        match check_continuity(&mut last_cc, &packet) {
            Continuity::Duplicate => continue,
            Continuity::Lost => return None,
            Continuity::Ok => {}
        }
        if !packet.has_payload {
            continue;
        }
        pes.push(
            packet.payload_unit_start,
            packet.payload,
            offset,
            &mut |p| {
                if found.is_none() {
                    found = Some(convert(p.data, stream, track, index));
                }
            },
        );
    }
    pes.flush(&mut |p| {
        if found.is_none() {
            found = Some(convert(p.data, stream, track, index));
        }
    });
    found.flatten()
}

/// Frame `index` of a complete PES, as the demuxer makes it.
fn convert(pes: &[u8], stream: &FileStream, track: &Track, index: u32) -> Option<Bytes> {
    let header = parse_pes_header(pes).ok()?;
    let payload = pes.get(header.payload_offset..)?;
    match track.codec {
        Codec::H264 => {
            let (data, _) = h264_access_unit(payload, &stream.known_sets);
            Some(Bytes::from(data))
        }
        Codec::Aac => AdtsFrames::new(payload)
            .nth(usize::try_from(index).ok()?)
            .map(|(_, raw)| Bytes::copy_from_slice(raw)),
        Codec::H265 => None,
    }
}

/// Collects the index while the file is scanned.
#[derive(Debug, Default)]
struct Builder {
    tracks: Vec<IndexedTrack>,
    streams: Vec<FileStream>,
    total: usize,
}

impl Builder {
    fn take(&mut self, events: &mut Vec<CoreEvent>) -> Result<(), TsError> {
        for event in events.drain(..) {
            match event {
                CoreEvent::Track { track, pid } => {
                    let known_sets = match track.codec {
                        Codec::H264 => AvcConfig::parse(&track.init)
                            .map(|c| c.sps.into_iter().chain(c.pps).collect())
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    self.streams.push(FileStream {
                        pid,
                        known_sets,
                        spans: Vec::new(),
                    });
                    self.tracks.push(IndexedTrack {
                        track,
                        samples: Vec::new(),
                    });
                }
                CoreEvent::Frame { frame, origin } => self.add_frame(frame, origin)?,
            }
        }
        Ok(())
    }

    fn add_frame(&mut self, frame: Frame, origin: Origin) -> Result<(), TsError> {
        let Some(position) = self.tracks.iter().position(|t| t.track.id == frame.track) else {
            return Ok(());
        };
        let (Some(track), Some(stream)) = (
            self.tracks.get_mut(position),
            self.streams.get_mut(position),
        ) else {
            return Ok(());
        };
        let span = origin.end.saturating_sub(origin.start);
        if span > MAX_PES_SPAN {
            tracing::debug!(
                track = frame.track,
                offset = origin.start,
                span,
                "leaving out a frame whose packets are spread too widely"
            );
            return Ok(());
        }
        if self.total >= MAX_TOTAL_SAMPLES {
            return Err(TsError::TooLarge {
                what: "number of frames",
                value: self.total as u64 + 1,
                limit: MAX_TOTAL_SAMPLES as u64,
            });
        }
        // Frames are below MAX_PES_SIZE, far below 4 GiB.
        let Ok(size) = u32::try_from(frame.data.len()) else {
            return Ok(());
        };
        self.total += 1;
        track.samples.push(Sample {
            offset: origin.start,
            size,
            dts: frame.dts,
            pts_offset: frame.pts_offset,
            duration: 0,
            keyframe: frame.keyframe,
        });
        stream.spans.push(Span {
            end: origin.end,
            index: origin.index,
        });
        Ok(())
    }

    fn build(self, file_size: u64) -> Result<TsFile, TsError> {
        let mut pairs: Vec<(IndexedTrack, FileStream)> = self
            .tracks
            .into_iter()
            .zip(self.streams)
            .filter(|(t, _)| !t.samples.is_empty())
            .collect();
        if pairs.is_empty() {
            return Err(TsError::NoSupportedTracks);
        }
        pairs.sort_by_key(|(t, _)| t.track.id);
        for (track, _) in &mut pairs {
            let lone = if track.track.codec == Codec::Aac {
                AAC_FRAME_SAMPLES
            } else {
                0
            };
            set_durations(&mut track.samples, lone);
        }
        let (tracks, streams) = pairs.into_iter().unzip();
        Ok(TsFile {
            tracks,
            streams,
            file_size,
        })
    }
}

/// Each sample lasts until the next one's decode time (0 when time goes
/// backwards); the last lasts as long as the one before it, or `lone` if it is
/// the only one.
fn set_durations(samples: &mut [Sample], lone: u32) {
    let mut previous = lone;
    for i in 1..samples.len() {
        if let (Some(next), Some(sample)) = (samples.get(i).map(|s| s.dts), samples.get_mut(i - 1))
        {
            let d = next.saturating_sub(sample.dts);
            sample.duration = u32::try_from(d).unwrap_or(if d < 0 { 0 } else { u32::MAX });
            previous = sample.duration;
        }
    }
    if let Some(last) = samples.last_mut() {
        last.duration = previous;
    }
}

/// Refuses, with a description of what was found, sources that do not have the
/// sync byte every 188 bytes near their start.
fn sniff(src: &(impl ReadAt + ?Sized), file_size: u64) -> Result<(), TsError> {
    let mut head = [0u8; PACKET_SIZE * (SNIFF_PACKETS + 1)];
    let n = usize::try_from(file_size).map_or(head.len(), |s| s.min(head.len()));
    let head = head.get_mut(..n).unwrap_or(&mut []);
    src.read_exact_at(head, 0)?;
    if n < PACKET_SIZE {
        return Err(TsError::NotTs {
            found: format!("a file of only {file_size} bytes, less than one 188-byte packet"),
        });
    }
    let synced_at = |stride: usize, start: usize| {
        let packets = ((n - start) / stride).clamp(1, SNIFF_PACKETS);
        (0..packets).all(|k| head.get(start + k * stride) == Some(&SYNC_BYTE))
    };
    if (0..PACKET_SIZE.min(n - PACKET_SIZE + 1)).any(|start| synced_at(PACKET_SIZE, start)) {
        return Ok(());
    }
    Err(TsError::NotTs {
        found: describe(head, synced_at(192, 4)),
    })
}

/// A short description of a file that is not TS, from its first bytes.
fn describe(head: &[u8], m2ts: bool) -> String {
    let kind = if m2ts {
        "192-byte packets (an M2TS / Blu-ray stream, which is not supported)".to_owned()
    } else if head.starts_with(b"FLV") {
        "an FLV header".to_owned()
    } else if matches!(
        head.get(4..8),
        Some(b"ftyp" | b"moov" | b"mdat" | b"free" | b"styp" | b"moof")
    ) {
        "an MP4 box header".to_owned()
    } else if head.starts_with(b"ID3") {
        "an ID3 tag (MP3 or raw AAC?)".to_owned()
    } else if head.starts_with(b"#EXTM3U") {
        "an HLS playlist".to_owned()
    } else if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        "a Matroska/WebM header".to_owned()
    } else {
        "no 0x47 sync byte every 188 bytes".to_owned()
    };
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{kind}; the file starts with {}", hex.join(" "))
}
