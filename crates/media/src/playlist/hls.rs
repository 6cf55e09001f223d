//! HLS playlists (RFC 8216 and its draft successor): master playlists (variant
//! streams and audio renditions) and media playlists (segments, target duration,
//! sequence numbers, discontinuities, `EXT-X-MAP`, program date-times, end).
//!
//! Low-Latency HLS (partial segments, blocking reload, delta updates) is added
//! by [`super::hls_ll::low_latency_playlist`].
//!
//! Rules the renderers follow:
//! * `EXT-X-VERSION` is the highest of the caller's minimum and what the tags used
//!   require: 3 for decimal `EXTINF` durations (always written), 6 for `EXT-X-MAP`
//!   in a media playlist. A master playlist states a version only when it is above 1.
//! * `EXTINF` is written in milliseconds with three decimals, and
//!   `EXT-X-TARGETDURATION` is the longest written `EXTINF` rounded **up**. The
//!   specification only asks for it to be at least every `EXTINF` rounded to the
//!   nearest integer; rounding up also satisfies clients of the older drafts, which
//!   compared the unrounded durations. A caller keeps it constant across a live
//!   stream's updates (as the specification requires) with
//!   [`MediaPlaylist::min_target_duration_secs`].
//! * Quoted strings cannot carry a double quote, a line break or any control
//!   character, and URI lines cannot start with `#`: such values are errors.

use std::fmt::Write as _;

use super::hls_ll::{self, LowLatency};
use super::{
    check_count, check_nonempty, check_text, check_uri, time, FrameRate, PlaylistError,
    MAX_RENDITIONS, MAX_SEGMENTS, MAX_VARIANTS,
};

/// Playlists never state a version below this: every `EXTINF` has decimals.
const VERSION_DECIMAL_EXTINF: u8 = 3;
/// `EXT-X-MAP` in a media playlist that is not I-frames-only.
const VERSION_MAP: u8 = 6;

/// A variant stream of a master playlist (`EXT-X-STREAM-INF` and its URI line).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Variant<'a> {
    /// The variant's media playlist.
    pub uri: &'a str,
    /// Peak bits per second (`BANDWIDTH`).
    pub bandwidth: u64,
    /// Mean bits per second (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: Option<u64>,
    /// RFC 6381 codec list (`avc1.64001f,mp4a.40.2`), audio group codecs included;
    /// empty leaves `CODECS` out.
    pub codecs: &'a str,
    /// Width and height in pixels (`RESOLUTION`).
    pub resolution: Option<(u32, u32)>,
    /// Maximum frame rate (`FRAME-RATE`, three decimals).
    pub frame_rate: Option<FrameRate>,
    /// `GROUP-ID` of the audio renditions that play with this variant (`AUDIO`).
    pub audio_group: Option<&'a str>,
}

/// An alternative audio rendition (`EXT-X-MEDIA:TYPE=AUDIO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioRendition<'a> {
    pub group_id: &'a str,
    /// Human-readable name, unique within the group.
    pub name: &'a str,
    /// RFC 5646 language tag (`LANGUAGE`).
    pub language: Option<&'a str>,
    /// The rendition's media playlist; `None` when the audio is muxed into the
    /// variant streams themselves.
    pub uri: Option<&'a str>,
    /// Played when the user has not chosen (`DEFAULT=YES`); at most one per group.
    /// A default rendition is also written `AUTOSELECT=YES`, as the specification
    /// requires.
    pub default: bool,
    /// The client may choose it on its own (`AUTOSELECT=YES`).
    pub autoselect: bool,
    /// Audio channel count (`CHANNELS`).
    pub channels: Option<u16>,
}

/// A master (multivariant) playlist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MasterPlaylist<'a> {
    /// Lowest `EXT-X-VERSION` to state (0 or 1: none unless a tag needs one).
    pub min_version: u8,
    /// Every segment of every variant starts with a key frame
    /// (`EXT-X-INDEPENDENT-SEGMENTS`).
    pub independent_segments: bool,
    pub audio: &'a [AudioRendition<'a>],
    /// At least one.
    pub variants: &'a [Variant<'a>],
}

/// Where a media segment is, as written on its URI line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentUri<'a> {
    /// Written as given.
    Text(&'a str),
    /// `prefix`, then `number` in decimal, then `suffix`: `("720p/", 42, ".m4s")`
    /// is `720p/42.m4s`. Lets a caller name segments by number without building a
    /// string per segment.
    Numbered {
        prefix: &'a str,
        number: u64,
        suffix: &'a str,
    },
}

/// One media segment of a media playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSegment<'a> {
    pub uri: SegmentUri<'a>,
    /// Its duration in milliseconds (`EXTINF`).
    pub duration_ms: u64,
    /// Its timestamps, format or encoding do not follow on from the segment before
    /// (`EXT-X-DISCONTINUITY` before it).
    pub discontinuity: bool,
    /// Wall-clock time of its first sample, Unix ms (`EXT-X-PROGRAM-DATE-TIME`).
    pub program_date_time_ms: Option<i64>,
    /// A new initialization section from this segment on (an `EXT-X-MAP` before
    /// it), typically after a discontinuity that changed the codec setup.
    pub map_uri: Option<&'a str>,
}

impl<'a> MediaSegment<'a> {
    /// A segment with nothing but a URI and a duration.
    pub const fn new(uri: SegmentUri<'a>, duration_ms: u64) -> MediaSegment<'a> {
        MediaSegment {
            uri,
            duration_ms,
            discontinuity: false,
            program_date_time_ms: None,
            map_uri: None,
        }
    }
}

/// `EXT-X-PLAYLIST-TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    /// No type tag: a live sliding window (segments come and go).
    Live,
    /// `EVENT`: segments are only ever appended.
    Event,
    /// `VOD`: the playlist never changes; `EXT-X-ENDLIST` is always written.
    Vod,
}

/// A media playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPlaylist<'a> {
    /// Lowest `EXT-X-VERSION` to state (7 is usual for fMP4, 3 for MPEG-TS);
    /// raised to what the tags need.
    pub min_version: u8,
    /// Lowest `EXT-X-TARGETDURATION` in seconds: the stream's nominal segment
    /// length keeps the value steady across live updates.
    pub min_target_duration_secs: u32,
    /// Sequence number of the first segment listed (`EXT-X-MEDIA-SEQUENCE`).
    pub media_sequence: u64,
    /// Discontinuities that slid out of the window before the first segment
    /// (`EXT-X-DISCONTINUITY-SEQUENCE`, written when not 0).
    pub discontinuity_sequence: u64,
    pub playlist_type: PlaylistType,
    /// No segment will be added (`EXT-X-ENDLIST`); implied by [`PlaylistType::Vod`].
    pub ended: bool,
    /// Every segment starts with a key frame (`EXT-X-INDEPENDENT-SEGMENTS`).
    pub independent_segments: bool,
    /// The initialization section of the first segment (`EXT-X-MAP`), for fMP4.
    pub map_uri: Option<&'a str>,
    /// At most [`MAX_SEGMENTS`].
    pub segments: &'a [MediaSegment<'a>],
}

/// Renders a master playlist.
pub fn master_playlist(p: &MasterPlaylist<'_>) -> Result<String, PlaylistError> {
    check_master(p)?;
    let text_len = |s: Option<&str>| s.map_or(0, str::len);
    let capacity = 96
        + p.audio
            .iter()
            .map(|a| 120 + a.group_id.len() + a.name.len() + text_len(a.language) + text_len(a.uri))
            .sum::<usize>()
        + p.variants
            .iter()
            .map(|v| 160 + v.uri.len() + v.codecs.len() + text_len(v.audio_group))
            .sum::<usize>();
    let mut out = String::with_capacity(capacity);
    out.push_str("#EXTM3U\n");
    if p.min_version > 1 {
        let _ = writeln!(out, "#EXT-X-VERSION:{}", p.min_version);
    }
    if p.independent_segments {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for a in p.audio {
        let _ = write!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{}\",NAME=\"{}\"",
            a.group_id, a.name
        );
        if let Some(language) = a.language {
            let _ = write!(out, ",LANGUAGE=\"{language}\"");
        }
        let yes_no = |b: bool| if b { "YES" } else { "NO" };
        let _ = write!(
            out,
            ",DEFAULT={},AUTOSELECT={}",
            yes_no(a.default),
            yes_no(a.default || a.autoselect)
        );
        if let Some(channels) = a.channels {
            let _ = write!(out, ",CHANNELS=\"{channels}\"");
        }
        if let Some(uri) = a.uri {
            let _ = write!(out, ",URI=\"{uri}\"");
        }
        out.push('\n');
    }
    for v in p.variants {
        let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some(average) = v.average_bandwidth {
            let _ = write!(out, ",AVERAGE-BANDWIDTH={average}");
        }
        if !v.codecs.is_empty() {
            let _ = write!(out, ",CODECS=\"{}\"", v.codecs);
        }
        if let Some((width, height)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={width}x{height}");
        }
        if let Some(rate) = v.frame_rate {
            let millis = rate.millis();
            let _ = write!(out, ",FRAME-RATE={}.{:03}", millis / 1000, millis % 1000);
        }
        if let Some(group) = v.audio_group {
            let _ = write!(out, ",AUDIO=\"{group}\"");
        }
        let _ = writeln!(out, "\n{}", v.uri);
    }
    Ok(out)
}

/// Renders a media playlist.
pub fn media_playlist(p: &MediaPlaylist<'_>) -> Result<String, PlaylistError> {
    render_media(p, None)
}

/// Renders a media playlist, with the Low-Latency HLS tags of `ll` when given
/// (see [`super::hls_ll`]).
pub(super) fn render_media(
    p: &MediaPlaylist<'_>,
    ll: Option<&LowLatency<'_>>,
) -> Result<String, PlaylistError> {
    check_media(p)?;
    if let Some(ll) = ll {
        hls_ll::check(ll)?;
    }
    let has_map = p.map_uri.is_some() || p.segments.iter().any(|s| s.map_uri.is_some());
    let mut version = p.min_version.max(VERSION_DECIMAL_EXTINF);
    if has_map {
        version = version.max(VERSION_MAP);
    }
    let target = p
        .segments
        .iter()
        .map(|s| s.duration_ms.div_ceil(1000))
        .max()
        .unwrap_or(0)
        .max(u64::from(p.min_target_duration_secs))
        .max(1);
    let ended = p.ended || p.playlist_type == PlaylistType::Vod;
    let skipped = ll.map_or(0, |ll| hls_ll::skipped_segments(p, ll, target));
    if skipped > 0 {
        version = version.max(hls_ll::VERSION_SKIP);
    }

    let capacity = 192
        + p.map_uri.map_or(0, |m| 20 + m.len())
        + ll.map_or(0, hls_ll::capacity)
        + p.segments
            .iter()
            .skip(skipped)
            .map(|s| {
                let uri = match s.uri {
                    SegmentUri::Text(text) => text.len(),
                    SegmentUri::Numbered { prefix, suffix, .. } => prefix.len() + 20 + suffix.len(),
                };
                let extras = if s.discontinuity { 22 } else { 0 }
                    + if s.program_date_time_ms.is_some() {
                        50
                    } else {
                        0
                    }
                    + s.map_uri.map_or(0, |m| 20 + m.len());
                24 + uri + extras
            })
            .sum::<usize>();
    let mut out = String::with_capacity(capacity);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n"
    );
    if let Some(ll) = ll {
        hls_ll::write_header(&mut out, ll, target);
    }
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", p.media_sequence);
    if p.discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            p.discontinuity_sequence
        );
    }
    match p.playlist_type {
        PlaylistType::Live => {}
        PlaylistType::Event => out.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
        PlaylistType::Vod => out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
    }
    if p.independent_segments {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    if let Some(map) = p.map_uri {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}\"");
    }
    if skipped > 0 {
        let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
    }
    for (i, s) in p.segments.iter().enumerate().skip(skipped) {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if let Some(map) = s.map_uri {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}\"");
        }
        if let Some(unix_ms) = s.program_date_time_ms {
            out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
            // Checked in `check_media`.
            time::write_date_time(&mut out, unix_ms)?;
            out.push('\n');
        }
        if let Some(ll) = ll {
            hls_ll::write_parts_of(&mut out, ll, p.media_sequence.saturating_add(i as u64));
        }
        let ms = s.duration_ms;
        let _ = writeln!(out, "#EXTINF:{}.{:03},", ms / 1000, ms % 1000);
        match s.uri {
            SegmentUri::Text(text) => out.push_str(text),
            SegmentUri::Numbered {
                prefix,
                number,
                suffix,
            } => {
                let _ = write!(out, "{prefix}{number}{suffix}");
            }
        }
        out.push('\n');
    }
    if let Some(ll) = ll {
        let next = p.media_sequence.saturating_add(p.segments.len() as u64);
        hls_ll::write_tail(&mut out, ll, next);
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    Ok(out)
}

/// Checks a quoted-string attribute value: no double quote, line break or other
/// control character.
fn check_quoted(field: &'static str, value: &str) -> Result<(), PlaylistError> {
    check_text(field, value)?;
    match value.find('"') {
        Some(_) => Err(PlaylistError::BadChar { field, found: '"' }),
        None => Ok(()),
    }
}

/// Checks a quoted-string attribute value that must not be empty.
fn check_quoted_nonempty(field: &'static str, value: &str) -> Result<(), PlaylistError> {
    check_nonempty(field, value)?;
    check_quoted(field, value)
}

/// Checks a URI written on its own line (after a tag): a URI that does not start
/// with `#`.
pub(super) fn check_uri_line(field: &'static str, value: &str) -> Result<(), PlaylistError> {
    check_uri(field, value)?;
    if value.starts_with('#') {
        return Err(PlaylistError::UriLooksLikeTag { field });
    }
    Ok(())
}

fn check_master(p: &MasterPlaylist<'_>) -> Result<(), PlaylistError> {
    check_count("variant streams", p.variants.len(), MAX_VARIANTS)?;
    check_count("audio renditions", p.audio.len(), MAX_RENDITIONS)?;
    if p.variants.is_empty() {
        return Err(PlaylistError::NoVariants);
    }
    for (i, a) in p.audio.iter().enumerate() {
        check_quoted_nonempty("audio GROUP-ID", a.group_id)?;
        check_quoted_nonempty("audio NAME", a.name)?;
        if let Some(language) = a.language {
            check_quoted_nonempty("audio LANGUAGE", language)?;
        }
        if let Some(uri) = a.uri {
            check_uri("audio rendition URI", uri)?;
        }
        // Earlier renditions of the same group: names unique, one default.
        for b in p.audio.iter().take(i).filter(|b| b.group_id == a.group_id) {
            if b.name == a.name {
                return Err(PlaylistError::DuplicateRenditionName {
                    group: a.group_id.to_owned(),
                    name: a.name.to_owned(),
                });
            }
            if a.default && b.default {
                return Err(PlaylistError::SeveralDefaults {
                    group: a.group_id.to_owned(),
                });
            }
        }
    }
    for v in p.variants {
        check_uri_line("variant URI", v.uri)?;
        check_quoted("variant CODECS", v.codecs)?;
        if let Some(rate) = v.frame_rate {
            rate.check()?;
        }
        if let Some(group) = v.audio_group {
            check_quoted_nonempty("variant AUDIO group", group)?;
            if !p.audio.iter().any(|a| a.group_id == group) {
                return Err(PlaylistError::UnknownAudioGroup {
                    group: group.to_owned(),
                });
            }
        }
    }
    Ok(())
}

fn check_media(p: &MediaPlaylist<'_>) -> Result<(), PlaylistError> {
    check_count("media segments", p.segments.len(), MAX_SEGMENTS)?;
    if let Some(map) = p.map_uri {
        check_uri("EXT-X-MAP URI", map)?;
    }
    for s in p.segments {
        match s.uri {
            SegmentUri::Text(text) => check_uri_line("segment URI", text)?,
            SegmentUri::Numbered { prefix, suffix, .. } => {
                if !prefix.is_empty() {
                    check_uri_line("segment URI prefix", prefix)?;
                }
                if !suffix.is_empty() {
                    check_uri("segment URI suffix", suffix)?;
                }
            }
        }
        if let Some(map) = s.map_uri {
            check_uri("EXT-X-MAP URI", map)?;
        }
        if let Some(unix_ms) = s.program_date_time_ms {
            time::check_date_time(unix_ms)?;
        }
    }
    Ok(())
}
