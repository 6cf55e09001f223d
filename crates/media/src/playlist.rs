//! Playlist and manifest text: HLS media playlists, DASH segment timelines and the
//! ISO 8601 date and duration forms DASH uses. Pure rendering from plain values: the
//! server decides what the segments are and caches the text.

use std::fmt::Write as _;

/// A complete segment as listed in playlists: its sequence number and its span
/// (ms on the stream's output timeline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRef {
    pub sequence: u64,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl SegmentRef {
    pub fn duration_secs(&self) -> f64 {
        (self.end_ms - self.start_ms).max(0) as f64 / 1000.0
    }
}

/// An HLS media playlist of `segments`: version, target duration (every EXTINF
/// rounded up), media sequence, optional `EXT-X-MAP`, and `EXT-X-ENDLIST` when
/// `ended` (on-demand). `uri` names segment `sequence`; URIs are relative.
pub fn media_playlist(
    segments: &[SegmentRef],
    ended: bool,
    version: u8,
    map: Option<&str>,
    uri: impl Fn(u64) -> String,
) -> String {
    // EXT-X-TARGETDURATION: every EXTINF rounded up, so none exceeds it.
    let target = segments
        .iter()
        .map(|s| ((s.end_ms - s.start_ms).max(0) as u64).div_ceil(1000))
        .max()
        .unwrap_or(2)
        .max(1);
    let first = segments.first().map_or(0, |s| s.sequence);
    let mut out = String::with_capacity(128 + segments.len() * 32);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    if ended {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    if let Some(map) = map {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}\"");
    }
    for segment in segments {
        let _ = write!(
            out,
            "#EXTINF:{:.3},\n{}\n",
            segment.duration_secs(),
            uri(segment.sequence)
        );
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

/// `<S t d r>` entries, runs of equal durations folded into `r`.
pub fn write_timeline(out: &mut String, segments: &[SegmentRef]) {
    let mut i = 0;
    while i < segments.len() {
        let start = segments[i].start_ms;
        let duration = segments[i].end_ms - segments[i].start_ms;
        let mut repeat = 0;
        while let Some(next) = segments.get(i + repeat + 1) {
            let contiguous = next.start_ms == segments[i + repeat].end_ms;
            if !contiguous || next.end_ms - next.start_ms != duration {
                break;
            }
            repeat += 1;
        }
        if repeat > 0 {
            let _ = writeln!(
                out,
                "            <S t=\"{start}\" d=\"{duration}\" r=\"{repeat}\"/>"
            );
        } else {
            let _ = writeln!(out, "            <S t=\"{start}\" d=\"{duration}\"/>");
        }
        i += repeat + 1;
    }
}

/// Escapes text for an XML attribute value.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// xs:duration of a millisecond count: `PT12.345S`.
pub fn iso_duration(ms: i64) -> String {
    let ms = ms.max(0);
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// xs:dateTime (UTC, milliseconds) of a Unix time in ms.
pub fn iso_datetime(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(iso_datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_datetime(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_datetime(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(iso_duration(3_723_456), "PT3723.456S");
    }

    #[test]
    fn timelines_fold_equal_durations() {
        let seg = |sequence, start_ms, end_ms| SegmentRef {
            sequence,
            start_ms,
            end_ms,
        };
        let mut out = String::new();
        write_timeline(
            &mut out,
            &[seg(5, 0, 2000), seg(6, 2000, 4000), seg(7, 4000, 5500)],
        );
        assert_eq!(
            out,
            "            <S t=\"0\" d=\"2000\" r=\"1\"/>\n            <S t=\"4000\" d=\"1500\"/>\n"
        );
    }

    #[test]
    fn media_playlists_have_the_tags_players_need() {
        let seg = |sequence, start_ms, end_ms| SegmentRef {
            sequence,
            start_ms,
            end_ms,
        };
        let text = media_playlist(
            &[seg(3, 0, 2000), seg(4, 2000, 4600)],
            true,
            7,
            Some("1/init.mp4"),
            |s| format!("1/{s}.m4s"),
        );
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:3\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"1/init.mp4\"\n\
             #EXTINF:2.000,\n1/3.m4s\n#EXTINF:2.600,\n1/4.m4s\n#EXT-X-ENDLIST\n"
        );
    }
}
