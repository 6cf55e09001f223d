//! The playlist module's first entry points, over the server's [`SegmentRef`]s
//! (sequence number and millisecond span). They are kept so the server's current
//! callers build unchanged, and forward to [`hls`](super::hls),
//! [`dash`](super::dash) and [`time`](super::time); new code should call those,
//! which report bad input as errors instead of papering over it.

use super::dash::{write_timeline_runs, TimelineEntry};
use super::hls::{self, MediaPlaylist, MediaSegment, PlaylistType, SegmentUri};
use super::{push_xml_escaped, time, MAX_SEGMENTS};

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
        self.duration_ms() as f64 / 1000.0
    }

    /// The span's length; 0 when it ends before it starts.
    fn duration_ms(&self) -> u64 {
        u64::try_from(self.end_ms.saturating_sub(self.start_ms)).unwrap_or(0)
    }
}

/// An HLS media playlist of `segments` (see [`hls::media_playlist`]): `version`
/// as the lowest version, `EXT-X-INDEPENDENT-SEGMENTS`, `map` as `EXT-X-MAP`, and
/// `EXT-X-PLAYLIST-TYPE:VOD` with `EXT-X-ENDLIST` when `ended`. `uri` names
/// segment `sequence`. Only the newest [`MAX_SEGMENTS`] segments are listed.
/// Input the renderer refuses (a URI with a line break or a space) is logged at
/// debug level and leaves a playlist without segments.
pub fn media_playlist(
    segments: &[SegmentRef],
    ended: bool,
    version: u8,
    map: Option<&str>,
    uri: impl Fn(u64) -> String,
) -> String {
    // A window longer than the limit keeps its newest segments.
    let skipped = segments.len().saturating_sub(MAX_SEGMENTS);
    if skipped > 0 {
        tracing::debug!(skipped, "oldest segments left out of the media playlist");
    }
    let listed = segments.get(skipped..).unwrap_or(segments);
    let uris: Vec<String> = listed.iter().map(|s| uri(s.sequence)).collect();
    let media: Vec<MediaSegment<'_>> = listed
        .iter()
        .zip(&uris)
        .map(|(s, u)| MediaSegment::new(SegmentUri::Text(u), s.duration_ms()))
        .collect();
    let mut playlist = MediaPlaylist {
        min_version: version,
        min_target_duration_secs: 0,
        media_sequence: listed.first().map_or(0, |s| s.sequence),
        discontinuity_sequence: 0,
        playlist_type: if ended {
            PlaylistType::Vod
        } else {
            PlaylistType::Live
        },
        ended,
        independent_segments: true,
        map_uri: map,
        segments: &media,
    };
    match hls::media_playlist(&playlist) {
        Ok(text) => text,
        Err(error) => {
            tracing::debug!(%error, "media playlist not rendered; serving an empty one");
            playlist.segments = &[];
            playlist.map_uri = None;
            hls::media_playlist(&playlist).unwrap_or_default()
        }
    }
}

/// `<S t d r>` lines, 12 spaces in, runs of contiguous equal durations folded
/// into `r` (see [`dash::timeline_runs`](super::dash::timeline_runs)). Spans that
/// start before 0 or end before they start are clamped to 0.
pub fn write_timeline(out: &mut String, segments: &[SegmentRef]) {
    let entries: Vec<TimelineEntry> = segments
        .iter()
        .map(|s| TimelineEntry {
            start: u64::try_from(s.start_ms).unwrap_or(0),
            duration: s.duration_ms(),
        })
        .collect();
    write_timeline_runs(out, &entries, "            ");
}

/// Escapes text for a double-quoted XML attribute value; control characters,
/// which XML attributes cannot carry, become U+FFFD.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    push_xml_escaped(&mut out, text);
    out
}

/// xs:duration of a millisecond count (`PT1H2M3.456S`); negative counts are 0.
pub fn iso_duration(ms: i64) -> String {
    time::duration(u64::try_from(ms).unwrap_or(0))
}

/// xs:dateTime (UTC, milliseconds) of a Unix time in ms; instants outside years
/// 1–9999 are clamped to that range.
pub fn iso_datetime(unix_ms: i64) -> String {
    let clamped = unix_ms.clamp(time::MIN_DATE_TIME_MS, time::MAX_DATE_TIME_MS);
    if clamped != unix_ms {
        tracing::debug!(unix_ms, "date outside years 1 to 9999 clamped");
    }
    time::date_time(clamped).unwrap_or_default()
}
