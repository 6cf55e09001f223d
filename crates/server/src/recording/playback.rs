//! Playing recordings back: choosing a recording's segments for a time range,
//! its HLS VoD playlist over the segment files, and one seekable MP4 of the
//! range (MPEG-TS recordings: the segments, read as one stream, are indexed
//! and laid out by the on-demand machinery, [`VodStream`]).
//!
//! [`parse_time`] reads `?start=`/`?end=` values: ISO-8601 in UTC or with an
//! offset (`2026-12-06T03:23:58Z`, `…T03:23:58.5+01:00`) or unix seconds, from
//! 1970 on.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use brume_media::mpegts::TsFile;
use brume_media::ReadAt;

use super::index::SegmentEntry;
use super::settings::RecordFormat;
use super::Recording;
use crate::stream::source::OpenedFile;
use crate::stream::vod::{VodError, VodStream};

/// Most segments one playlist or MP4 covers (a day of 6 s segments).
pub const MAX_RANGE_SEGMENTS: usize = 14_400;

/// Why a range cannot be played.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("no recorded segment in that time range")]
    EmptyRange,
    #[error("the range spans more than {MAX_RANGE_SEGMENTS} segments; ask for a shorter one")]
    TooLong,
    #[error("MP4 export reads MPEG-TS recordings (format \"ts\"); this one is fMP4: play its HLS playlist")]
    NotTs,
    #[error("cannot read the recording: {0}")]
    Io(#[from] io::Error),
    #[error("cannot index the recording: {0}")]
    Index(#[from] brume_media::mpegts::TsError),
    #[error("cannot lay the range out as MP4: {0}")]
    Vod(#[from] VodError),
}

/// Why a time value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a time: use ISO-8601 (2026-12-06T03:23:58Z) or unix seconds")]
pub struct BadTime;

/// Reads a time as unix ms.
pub fn parse_time(text: &str) -> Result<i64, BadTime> {
    let text = text.trim();
    if text.is_empty() || text.len() > 40 {
        return Err(BadTime);
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let seconds: f64 = text.parse().map_err(|_| BadTime)?;
        if !(0.0..=253_402_300_799.0).contains(&seconds) {
            return Err(BadTime);
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Result<i64, BadTime> {
        let part = text.get(range).ok_or(BadTime)?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadTime);
        }
        part.parse().map_err(|_| BadTime)
    };
    let sep = |i: usize, c: &[u8]| bytes.get(i).is_some_and(|b| c.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return Err(BadTime);
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(BadTime);
    }
    let mut rest = &text[19..];
    let mut ms = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(BadTime);
        }
        let scaled = format!("{:0<3}", &fraction[..digits.min(3)]);
        ms = scaled.parse::<i64>().map_err(|_| BadTime)?;
        rest = &fraction[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return Err(BadTime),
            };
            let body = rest.get(1..).ok_or(BadTime)?;
            let (h, m) = match body.len() {
                5 if body.as_bytes()[2] == b':' => (body.get(..2), body.get(3..)),
                4 => (body.get(..2), body.get(2..)),
                _ => return Err(BadTime),
            };
            let digits = |part: Option<&str>| -> Result<i64, BadTime> {
                let part = part.ok_or(BadTime)?;
                if !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(BadTime);
                }
                part.parse().map_err(|_| BadTime)
            };
            let (h, m) = (digits(h)?, digits(m)?);
            if h > 23 || m > 59 {
                return Err(BadTime);
            }
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    let unix_ms =
        ((days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60) * 1000) + ms;
    if unix_ms < 0 {
        return Err(BadTime);
    }
    Ok(unix_ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The segments of `recording` that overlap `[start, end)` (unix ms; `None`:
/// open-ended).
pub fn select(
    recording: &Recording,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<Vec<SegmentEntry>, PlaybackError> {
    let chosen: Vec<SegmentEntry> = recording
        .segments
        .iter()
        .filter(|s| start.is_none_or(|t| s.end_unix_ms() > t))
        .filter(|s| end.is_none_or(|t| s.start_unix_ms < t))
        .cloned()
        .collect();
    if chosen.is_empty() {
        return Err(PlaybackError::EmptyRange);
    }
    if chosen.len() > MAX_RANGE_SEGMENTS {
        return Err(PlaybackError::TooLong);
    }
    Ok(chosen)
}

/// The HLS VoD playlist of `segments`; segment URIs are `files/NAME` (relative
/// to the playlist). fMP4 segments carry their own init segment: it is named
/// with a byte range (`EXT-X-MAP`), and the media with `EXT-X-BYTERANGE`.
pub fn hls_playlist(segments: &[SegmentEntry]) -> String {
    let target = segments
        .iter()
        .map(|s| s.duration_ms.div_ceil(1000))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::with_capacity(128 + segments.len() * 120);
    let fmp4 = segments
        .first()
        .is_some_and(|s| s.format == RecordFormat::Fmp4);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        if fmp4 { 7 } else { 3 },
        segments.first().map_or(0, |s| s.sequence)
    );
    if let Some(first) = segments.first().filter(|_| fmp4) {
        let _ = writeln!(
            out,
            "#EXT-X-MAP:URI=\"files/{}\",BYTERANGE=\"{}@0\"",
            first.file, first.header_bytes
        );
    }
    for segment in segments {
        if let Ok(stamp) = brume_media::playlist::time::date_time(segment.start_unix_ms) {
            let _ = writeln!(out, "#EXT-X-PROGRAM-DATE-TIME:{stamp}");
        }
        let _ = writeln!(out, "#EXTINF:{:.3},", segment.duration_ms as f64 / 1000.0);
        if fmp4 {
            let _ = writeln!(
                out,
                "#EXT-X-BYTERANGE:{}@{}",
                segment.bytes.saturating_sub(segment.header_bytes),
                segment.header_bytes
            );
        }
        let _ = writeln!(out, "files/{}", segment.file);
    }
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

/// Segment files read as one byte stream.
#[derive(Debug)]
struct Concatenated {
    /// (file, first byte's offset in the whole, length).
    parts: Vec<(File, u64, u64)>,
    len: u64,
}

impl Concatenated {
    fn open(paths: &[PathBuf]) -> io::Result<Concatenated> {
        let mut parts = Vec::with_capacity(paths.len());
        let mut len = 0;
        for path in paths {
            let file = File::open(path)?;
            let size = file.metadata()?.len();
            parts.push((file, len, size));
            len += size;
        }
        Ok(Concatenated { parts, len })
    }
}

impl ReadAt for Concatenated {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0usize;
        let start = self
            .parts
            .partition_point(|(_, at, len)| at + len <= offset);
        for (file, at, len) in &self.parts[start..] {
            if done == buf.len() {
                break;
            }
            let position = offset + done as u64;
            let within = position - at;
            let take = ((len - within) as usize).min(buf.len() - done);
            file.read_exact_at(&mut buf[done..done + take], within)?;
            done += take;
        }
        if done < buf.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

/// The on-demand view of `segments` of the recording in `folder` (MPEG-TS
/// only; blocking): its seekable MP4 comes from
/// [`VodStream::progressive_mp4`].
pub fn open_range(
    folder: &Path,
    segments: &[SegmentEntry],
) -> Result<Arc<VodStream>, PlaybackError> {
    if segments.iter().any(|s| s.format != RecordFormat::Ts) {
        return Err(PlaybackError::NotTs);
    }
    let paths: Vec<PathBuf> = segments.iter().map(|s| folder.join(&s.file)).collect();
    let reader = Concatenated::open(&paths)?;
    let index = TsFile::open(&reader)?;
    let file = OpenedFile {
        path: folder.to_path_buf(),
        reader: Arc::new(reader),
        index: Arc::new(index),
        fingerprint: None,
    };
    Ok(Arc::new(VodStream::new(file)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_iso_8601_or_unix_seconds() {
        assert_eq!(parse_time("1796527438"), Ok(1_796_527_438_000));
        assert_eq!(parse_time("1796527438.25"), Ok(1_796_527_438_250));
        assert_eq!(parse_time("2026-12-06T03:23:58Z"), Ok(1_796_527_438_000));
        assert_eq!(
            parse_time("2026-12-06T04:23:58.5+01:00"),
            Ok(1_796_527_438_500)
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        for bad in [
            "",
            "yesterday",
            "2026-12-06T03:23:58+aéb",
            "2026-12-06T03:23:58+é:00",
            "2026-12-06T03:23:58+0:+1",
            "1969-12-31T23:59:59Z",
            "2026-13-01T00:00:00Z",
            "2026-12-06T03:23:58",
            "-5",
            "2026-12-06T03:23:58.Z",
        ] {
            assert_eq!(parse_time(bad), Err(BadTime), "{bad}");
        }
    }

    #[test]
    fn concatenated_files_read_across_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"hello ").unwrap();
        std::fs::write(&b, b"world").unwrap();
        let all = Concatenated::open(&[a, b]).unwrap();
        assert_eq!(all.size().unwrap(), 11);
        let mut buf = [0u8; 5];
        all.read_exact_at(&mut buf, 4).unwrap();
        assert_eq!(&buf, b"o wor");
        assert!(all.read_exact_at(&mut buf, 8).is_err());
    }
}
