//! Segmented outputs: HLS with MPEG-TS (`/hls/S/…`), HLS with fMP4 and DASH
//! (`/cmaf/S/…`), sharing one segment list per stream.
//!
//! Segments are immutable: their URLs carry absolute sequence numbers, their bytes
//! are rendered once (see [`crate::stream::cache`]) and served with strong ETags
//! and long `Cache-Control`. Playlists and manifests are short-lived (`no-cache`)
//! and use relative URLs only, so they work under any proxy prefix. A segment that
//! left the live window is a 404, never a stale or different segment.
//!
//! Low-Latency HLS parts (`/cmaf/S/T/N.P.m4s`) are served the same way; a
//! request for the part in progress (the playlist's preload hint) waits until
//! it is complete (see [`super::ll_hls`]).

use brume_media::mp4::fmp4;
use http::header::HeaderMap;
use http::{Response, StatusCode};

use super::body::Body;
use super::response::{immutable, not_found, text};
use super::router::Route;
use crate::stream::cache::{DocumentKind, Rendition, Stamp};
use crate::stream::media::Media;

/// How long clients and caches may keep a segment.
pub(super) const SEGMENT_MAX_AGE_SECS: u64 = 86_400;

/// Answers any `/hls/…` or `/cmaf/…` route for `media`.
pub async fn answer(
    headers: &HeaderMap,
    query: Option<&str>,
    route: &Route,
    media: &Media,
) -> Response<Body> {
    match route {
        Route::HlsSegment(_, sequence) => segment(headers, media, *sequence, Rendition::Ts).await,
        Route::CmafSegment(_, track, sequence) => {
            segment(headers, media, *sequence, Rendition::Cmaf(*track)).await
        }
        Route::CmafInit(_, track) => init(headers, media, *track),
        Route::HlsMaster(_) => super::playlists::hls_master(headers, media),
        Route::HlsMedia(_) => super::playlists::hls_media(headers, media),
        Route::CmafMaster(_) => super::playlists::cmaf_master(headers, media),
        Route::CmafMedia(_, track) => {
            super::ll_hls::cmaf_media(headers, query, media, *track).await
        }
        Route::CmafPart(_, track, sequence, part) => {
            super::ll_hls::part(headers, media, *track, *sequence, *part).await
        }
        Route::Dash(_) => super::playlists::dash(headers, media),
        _ => not_found(),
    }
}

async fn segment(
    headers: &HeaderMap,
    media: &Media,
    sequence: u64,
    rendition: Rendition,
) -> Response<Body> {
    match media.segment(sequence, rendition).await {
        Ok(Some(bytes)) => {
            let (content_type, tag) = match rendition {
                Rendition::Ts => ("video/mp2t", "ts".to_owned()),
                Rendition::Cmaf(track) => ("video/mp4", format!("c{track}")),
                Rendition::CmafPart(track, part) => ("video/mp4", format!("c{track}p{part}")),
            };
            let etag = format!("\"{}-{}-{}\"", media.instance(), tag, sequence);
            immutable(headers, bytes, content_type, &etag, SEGMENT_MAX_AGE_SECS)
        }
        Ok(None) => not_found(),
        Err(err) => {
            tracing::warn!(%err, sequence, "segment could not be rendered");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "segment could not be rendered\n",
            )
        }
    }
}

fn init(headers: &HeaderMap, media: &Media, track_id: u32) -> Response<Body> {
    let Some(track) = media.tracks().iter().find(|t| t.id == track_id) else {
        return not_found();
    };
    // Rendered once per stream (its tracks never change), by the first request.
    let rendered = media.cache().documents().get_or_render(
        DocumentKind::CmafInit(track_id),
        "",
        Stamp::default(),
        || fmp4::init_segment(std::slice::from_ref(track)),
    );
    match rendered {
        Ok(doc) => {
            let etag = format!("\"{}-i{}\"", media.instance(), track_id);
            immutable(headers, doc.bytes, "video/mp4", &etag, SEGMENT_MAX_AGE_SECS)
        }
        Err(err) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err}\n")),
    }
}
