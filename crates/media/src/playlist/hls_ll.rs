//! Low-Latency HLS (RFC 8216bis, the second edition of HLS) on top of a media
//! playlist: partial segments (`EXT-X-PART-INF`, `EXT-X-PART`), the server's
//! abilities (`EXT-X-SERVER-CONTROL`), the hint of the next part
//! (`EXT-X-PRELOAD-HINT`), reports on the other renditions
//! (`EXT-X-RENDITION-REPORT`) and delta updates (`EXT-X-SKIP`).
//!
//! What the renderer decides, so every server states it the same way:
//! * `PART-HOLD-BACK` is three part targets, `CAN-SKIP-UNTIL` six target
//!   durations (the specification's minimums for a server that can skip).
//! * A delta update skips the leading segments that end at least
//!   `CAN-SKIP-UNTIL` before the end of the playlist (its parts included), and
//!   states `EXT-X-VERSION:9` when it skips any.
//! * Parts are written before their parent segment's `EXTINF`; parts of the
//!   segment in progress (sequence numbers past the last segment) after the last
//!   segment. Part URIs are `{prefix}{sequence}.{part}{suffix}`.

use std::fmt::Write as _;

use super::hls::{check_uri_line, render_media, MediaPlaylist};
use super::{check_count, check_uri, PlaylistError, MAX_RENDITIONS, MAX_SEGMENTS};

/// `EXT-X-SKIP` needs this version.
pub(super) const VERSION_SKIP: u8 = 9;
/// `PART-HOLD-BACK` in part targets.
pub const PART_HOLD_BACK_PARTS: u64 = 3;
/// `CAN-SKIP-UNTIL` in target durations.
pub const SKIP_TARGETS: u64 = 6;

/// One partial segment (`EXT-X-PART`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialSegment {
    /// Media sequence number of its parent segment.
    pub sequence: u64,
    /// Its index within the parent segment, from 0.
    pub part: u32,
    pub duration_ms: u64,
    /// It starts with an independent frame (`INDEPENDENT=YES`).
    pub independent: bool,
    /// It holds no media of this rendition (`GAP=YES`).
    pub gap: bool,
}

/// Where another rendition of the same content is (`EXT-X-RENDITION-REPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenditionReport<'a> {
    /// Its media playlist, relative to this one.
    pub uri: &'a str,
    /// Sequence number of its last segment (`LAST-MSN`).
    pub last_msn: u64,
    /// Index of its last part of that segment (`LAST-PART`).
    pub last_part: Option<u32>,
}

/// The Low-Latency HLS additions to one media playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowLatency<'a> {
    /// `PART-TARGET`: no part lasts longer.
    pub part_target_ms: u64,
    /// Part URIs are `{part_prefix}{sequence}.{part}{part_suffix}`.
    pub part_prefix: &'a str,
    pub part_suffix: &'a str,
    /// The parts listed, in order: those of recent segments and of the segment
    /// in progress. At most [`MAX_SEGMENTS`].
    pub parts: &'a [PartialSegment],
    /// The part being made now (`EXT-X-PRELOAD-HINT:TYPE=PART`), as (sequence,
    /// part).
    pub preload_hint: Option<(u64, u32)>,
    pub rendition_reports: &'a [RenditionReport<'a>],
    /// The server answers `_HLS_msn`/`_HLS_part` requests when the playlist
    /// changes (`CAN-BLOCK-RELOAD=YES`).
    pub can_block_reload: bool,
    /// Render a delta update (`_HLS_skip=YES` was asked): old segments become
    /// one `EXT-X-SKIP`.
    pub skip: bool,
}

/// Renders a media playlist with the Low-Latency HLS tags of `ll`.
pub fn low_latency_playlist(
    p: &MediaPlaylist<'_>,
    ll: &LowLatency<'_>,
) -> Result<String, PlaylistError> {
    render_media(p, Some(ll))
}

/// The `CAN-SKIP-UNTIL` of a playlist whose target duration is `target_secs`, ms.
pub fn skip_until_ms(target_secs: u64) -> u64 {
    target_secs.saturating_mul(SKIP_TARGETS * 1000)
}

pub(super) fn check(ll: &LowLatency<'_>) -> Result<(), PlaylistError> {
    if ll.part_target_ms == 0 {
        return Err(PlaylistError::ZeroPartTarget);
    }
    check_count("partial segments", ll.parts.len(), MAX_SEGMENTS)?;
    check_count(
        "rendition reports",
        ll.rendition_reports.len(),
        MAX_RENDITIONS,
    )?;
    if !ll.part_prefix.is_empty() {
        check_uri_line("part URI prefix", ll.part_prefix)?;
    }
    if !ll.part_suffix.is_empty() {
        check_uri("part URI suffix", ll.part_suffix)?;
    }
    for pair in ll.parts.windows(2) {
        if (pair[1].sequence, pair[1].part) <= (pair[0].sequence, pair[0].part) {
            return Err(PlaylistError::PartOutOfOrder {
                sequence: pair[1].sequence,
                part: pair[1].part,
            });
        }
    }
    for report in ll.rendition_reports {
        check_uri("rendition report URI", report.uri)?;
    }
    Ok(())
}

/// Bytes the LL tags take, roughly.
pub(super) fn capacity(ll: &LowLatency<'_>) -> usize {
    let uri = ll.part_prefix.len() + ll.part_suffix.len() + 32;
    200 + ll.parts.len() * (uri + 60)
        + ll.preload_hint.map_or(0, |_| uri + 40)
        + ll.rendition_reports
            .iter()
            .map(|r| r.uri.len() + 80)
            .sum::<usize>()
}

/// How many leading segments a delta update leaves out (0 unless `ll.skip`).
pub(super) fn skipped_segments(p: &MediaPlaylist<'_>, ll: &LowLatency<'_>, target: u64) -> usize {
    if !ll.skip {
        return 0;
    }
    let boundary = skip_until_ms(target);
    let last = p.media_sequence.saturating_add(p.segments.len() as u64);
    let pending: u64 = ll
        .parts
        .iter()
        .filter(|part| part.sequence >= last)
        .map(|part| part.duration_ms)
        .sum();
    // Media after the end of segment i, walking from the newest backwards.
    let mut after = pending;
    for (i, s) in p.segments.iter().enumerate().rev() {
        if after >= boundary {
            return i + 1;
        }
        after = after.saturating_add(s.duration_ms);
    }
    0
}

/// `EXT-X-SERVER-CONTROL` and `EXT-X-PART-INF`.
pub(super) fn write_header(out: &mut String, ll: &LowLatency<'_>, target: u64) {
    out.push_str("#EXT-X-SERVER-CONTROL:");
    if ll.can_block_reload {
        out.push_str("CAN-BLOCK-RELOAD=YES,");
    }
    out.push_str("CAN-SKIP-UNTIL=");
    write_secs(out, skip_until_ms(target));
    out.push_str(",PART-HOLD-BACK=");
    write_secs(out, ll.part_target_ms.saturating_mul(PART_HOLD_BACK_PARTS));
    out.push_str("\n#EXT-X-PART-INF:PART-TARGET=");
    write_secs(out, ll.part_target_ms);
    out.push('\n');
}

/// The `EXT-X-PART` tags of segment `sequence`.
pub(super) fn write_parts_of(out: &mut String, ll: &LowLatency<'_>, sequence: u64) {
    for part in ll.parts.iter().filter(|p| p.sequence == sequence) {
        write_part(out, ll, part);
    }
}

/// The parts of the segment in progress (`sequence >= next`), the preload hint
/// and the rendition reports.
pub(super) fn write_tail(out: &mut String, ll: &LowLatency<'_>, next: u64) {
    for part in ll.parts.iter().filter(|p| p.sequence >= next) {
        write_part(out, ll, part);
    }
    if let Some((sequence, part)) = ll.preload_hint {
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}{sequence}.{part}{}\"",
            ll.part_prefix, ll.part_suffix
        );
    }
    for report in ll.rendition_reports {
        let _ = write!(
            out,
            "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}",
            report.uri, report.last_msn
        );
        if let Some(part) = report.last_part {
            let _ = write!(out, ",LAST-PART={part}");
        }
        out.push('\n');
    }
}

fn write_part(out: &mut String, ll: &LowLatency<'_>, part: &PartialSegment) {
    out.push_str("#EXT-X-PART:DURATION=");
    write_secs(out, part.duration_ms);
    let _ = write!(
        out,
        ",URI=\"{}{}.{}{}\"",
        ll.part_prefix, part.sequence, part.part, ll.part_suffix
    );
    if part.independent {
        out.push_str(",INDEPENDENT=YES");
    }
    if part.gap {
        out.push_str(",GAP=YES");
    }
    out.push('\n');
}

/// Seconds with three decimals.
fn write_secs(out: &mut String, ms: u64) {
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}
