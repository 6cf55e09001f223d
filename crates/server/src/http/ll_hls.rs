//! Low-Latency HLS on the CMAF output: the live media playlists
//! (`/cmaf/S/T.m3u8`) with parts, preload hints, rendition reports, blocking
//! reloads (`_HLS_msn`, `_HLS_part`) and delta updates (`_HLS_skip`), and the
//! parts themselves (`/cmaf/S/T/N.P.m4s`).
//!
//! The playlist is the ordinary one plus LL tags, so players that ignore parts
//! play it as before. Each document is rendered once per (state, query
//! variant): the full and the delta playlist are cached by the stream's segment
//! version and its part counter. A blocked request holds a receiver of the
//! stream's change counter and wakes only when a part or segment completes; it
//! is answered as soon as what it asked for exists, with 503 after three target
//! durations, and with 400 at once when it asks too far ahead (the
//! specification's limits: two segments, or three seconds of parts).
//!
//! Parts are rendered once, when first asked for, and shared like segments
//! (same immutable caching); asking for the part in progress (the preload hint)
//! waits until it is complete.

use std::time::Duration;

use brume_media::playlist::hls::{MediaPlaylist, MediaSegment, PlaylistType, SegmentUri};
use brume_media::playlist::hls_ll::{
    low_latency_playlist, LowLatency, PartialSegment, RenditionReport,
};
use brume_media::segment::TARGET_SEGMENT_MS;
use brume_media::TrackKind;
use http::header::HeaderMap;
use http::{Response, StatusCode};

use super::body::Body;
use super::ll_query::{self, LlQuery};
use super::playlists::{cmaf_vod_media, duration_ms, listed, serve, DocumentError, HLS_TYPE};
use super::response::{immutable, not_found, text};
use super::segmented::SEGMENT_MAX_AGE_SECS;
use crate::stream::cache::DocumentKind;
use crate::stream::live::parts::{Awaited, WaitOutcome};
use crate::stream::live::LiveStream;
use crate::stream::media::{Media, SegmentRef};

/// Complete segments whose parts are listed (besides the one in progress).
const SEGMENTS_WITH_PARTS: u64 = 2;
/// A blocked request waits at most this many target durations.
const BLOCK_TARGET_DURATIONS: u64 = 3;
/// How far ahead a request may ask for parts: this much media.
const ADVANCE_PART_MS: u64 = 3000;

/// `/cmaf/S/T.m3u8`.
pub async fn cmaf_media(
    headers: &HeaderMap,
    query: Option<&str>,
    media: &Media,
    track: u32,
) -> Response<Body> {
    if !media.tracks().iter().any(|t| t.id == track) {
        return not_found();
    }
    let query = match ll_query::parse(query) {
        Ok(query) => query,
        Err(error) => return text(StatusCode::BAD_REQUEST, &format!("{error}\n")),
    };
    let Media::Live(live) = media else {
        // An on-demand playlist is complete: nothing to wait for or skip.
        return cmaf_vod_media(headers, media, track);
    };
    if let Some(response) = block(live, media, &query).await {
        return response;
    }
    let kind = if query.skip {
        DocumentKind::CmafDelta(track)
    } else {
        DocumentKind::CmafMedia(track)
    };
    serve(headers, media, kind, HLS_TYPE, live.part_version(), || {
        render(live, media, track, query.skip)
    })
}

/// `/cmaf/S/T/N.P.m4s`.
pub async fn part(
    headers: &HeaderMap,
    media: &Media,
    track: u32,
    sequence: u64,
    part: u32,
) -> Response<Body> {
    let wait = block_timeout(&media.segments());
    match media.part(sequence, part, track, wait).await {
        Ok(Some(bytes)) => {
            let etag = format!("\"{}-c{track}-{sequence}.{part}\"", media.instance());
            immutable(headers, bytes, "video/mp4", &etag, SEGMENT_MAX_AGE_SECS)
        }
        Ok(None) => not_found(),
        Err(err) => {
            tracing::warn!(%err, sequence, part, "part could not be rendered");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "part could not be rendered\n",
            )
        }
    }
}

/// The playlist's target duration, ms (whole seconds, as the playlist states it).
fn target_ms(segments: &[SegmentRef]) -> u64 {
    let longest = segments
        .iter()
        .map(duration_ms)
        .max()
        .unwrap_or(TARGET_SEGMENT_MS as u64);
    longest.div_ceil(1000).max(1) * 1000
}

fn block_timeout(segments: &[SegmentRef]) -> Duration {
    Duration::from_millis(target_ms(segments) * BLOCK_TARGET_DURATIONS)
}

/// Holds a blocking request until what it asks for exists. `Some`: the answer
/// instead (400 for too far ahead, 503 after the timeout).
async fn block(live: &LiveStream, media: &Media, query: &LlQuery) -> Option<Response<Body>> {
    let msn = query.msn?;
    let current = live.part_in_progress().unwrap_or((0, 0));
    let too_far = || {
        Some(text(
            StatusCode::BAD_REQUEST,
            "the requested segment or part is too far in the future\n",
        ))
    };
    if msn > current.0.saturating_add(2) {
        return too_far();
    }
    if let Some(part) = query.part {
        let limit = ADVANCE_PART_MS.div_ceil(live.part_target_ms().max(1));
        let ahead = if msn == current.0 {
            u64::from(part).saturating_sub(u64::from(current.1))
        } else if msn > current.0 {
            u64::from(part).saturating_add(1)
        } else {
            0
        };
        if ahead > limit {
            return too_far();
        }
    }
    let awaited = match query.part {
        Some(part) => Awaited::Part(msn, part),
        None => Awaited::Segment(msn),
    };
    let timeout = block_timeout(&media.segments());
    match live.wait_until(timeout, || live.has(awaited)).await {
        WaitOutcome::Ready | WaitOutcome::Closed => None,
        WaitOutcome::TimedOut => Some(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the requested segment or part did not appear in time\n",
        )),
    }
}

/// The live media playlist of `track` with its LL tags; a delta update when
/// `skip`.
fn render(
    live: &LiveStream,
    media: &Media,
    track: u32,
    skip: bool,
) -> Result<String, DocumentError> {
    let all = media.segments();
    let segments = listed(&all);
    let in_progress = live.part_in_progress();
    let first = segments
        .first()
        .map(|s| s.sequence)
        .or(in_progress.map(|p| p.0))
        .unwrap_or(0);
    let epoch = live.epoch_unix_ms();
    let map = format!("{track}/init.mp4");
    let prefix = format!("{track}/");
    let entries: Vec<MediaSegment<'_>> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let uri = SegmentUri::Numbered {
                prefix: &prefix,
                number: s.sequence,
                suffix: ".m4s",
            };
            MediaSegment {
                // The first segment's wall-clock time dates them all.
                program_date_time_ms: epoch.filter(|_| i == 0).map(|e| e + s.start_ms),
                ..MediaSegment::new(uri, duration_ms(s))
            }
        })
        .collect();
    let always_independent = media
        .tracks()
        .iter()
        .find(|t| t.id == track)
        .is_some_and(|t| t.kind() != TrackKind::Video);
    let since = segments.last().map_or(first, |s| {
        s.sequence.saturating_sub(SEGMENTS_WITH_PARTS - 1)
    });
    let parts: Vec<PartialSegment> = live
        .track_parts(since.max(first), track)
        .into_iter()
        .filter_map(|p| {
            let end_ms = p.span.end_ms?;
            Some(PartialSegment {
                sequence: p.span.sequence,
                part: p.span.part,
                duration_ms: u64::try_from(end_ms - p.span.start_ms).unwrap_or(0),
                independent: always_independent || p.span.independent,
                gap: !p.has_frames,
            })
        })
        .collect();
    let (last_msn, last_part) = match parts.last() {
        Some(p) => (p.sequence, Some(p.part)),
        None => (segments.last().map_or(first, |s| s.sequence), None),
    };
    let uris: Vec<String> = media
        .tracks()
        .iter()
        .filter(|t| t.id != track)
        .map(|t| format!("{}.m3u8", t.id))
        .collect();
    let reports: Vec<RenditionReport<'_>> = uris
        .iter()
        .map(|uri| RenditionReport {
            uri,
            last_msn,
            last_part,
        })
        .collect();
    let playlist = MediaPlaylist {
        min_version: 7,
        min_target_duration_secs: 0,
        media_sequence: first,
        discontinuity_sequence: 0,
        playlist_type: PlaylistType::Live,
        ended: live.is_closed(),
        independent_segments: true,
        map_uri: Some(&map),
        segments: &entries,
    };
    let ll = LowLatency {
        part_target_ms: live.part_target_ms(),
        part_prefix: &prefix,
        part_suffix: ".m4s",
        parts: &parts,
        preload_hint: in_progress.filter(|_| !live.is_closed()),
        rendition_reports: &reports,
        can_block_reload: true,
        skip,
    };
    Ok(low_latency_playlist(&playlist, &ll)?)
}
