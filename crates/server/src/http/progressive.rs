//! Whole-stream responses: progressive MP4, MPEG-TS and FLV, each an adapter
//! over a [`Subscription`]. Live streams are served from the shared feed of the
//! (format, track selection) pair (muxed once for everyone); on-demand files are
//! read and muxed one segment at a time as the client consumes them, and an
//! on-demand `.mp4` with every track is a seekable MP4 answering byte ranges.
//!
//! MistServer's selectors pick tracks: `?video=` and `?audio=` take `none`,
//! `all`, `maxbps`, `minbps` or track ids (`1,3`); a bad one is a 400.

use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::{Response, StatusCode};
use tracing::Instrument;

use super::body::Body;
use super::range::{parse_range, RangeAnswer};
use super::response::{not_found, set, set_owned, text};
use super::router::percent_decode;
use crate::stream::live::feed::Format;
use crate::stream::media::Media;
use crate::stream::selection::{Selection, Selector, SelectorError};
use crate::stream::subscription::{Audience, Start, SubscribeError, Subscription};
use crate::stream::vod::{send_progressive_range, VodStream};

/// Query parameters looked at, at most.
const MAX_QUERY_PARAMS: usize = 32;

/// The tracks `?video=` / `?audio=` in `query` pick from `media`.
pub fn selection_of(query: Option<&str>, media: &Media) -> Result<Selection, SelectorError> {
    let (mut video, mut audio) = (None, None);
    for pair in query.unwrap_or_default().split('&').take(MAX_QUERY_PARAMS) {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let slot = match key {
            "video" => &mut video,
            "audio" => &mut audio,
            _ => continue,
        };
        let kind = if key == "video" { "video" } else { "audio" };
        let value = percent_decode(value).map_err(|_| SelectorError::Malformed {
            kind,
            value: value.chars().take(40).collect(),
        })?;
        *slot = Some(Selector::parse(kind, &value)?);
    }
    if video.is_none() && audio.is_none() {
        return Ok(Selection::all(media.tracks()));
    }
    let bitrates = media.track_bitrates();
    Selection::from_selectors(media.tracks(), video.as_ref(), audio.as_ref(), &bitrates)
}

/// The answer to a subscription that could not start.
fn refused(err: &SubscribeError) -> Response<Body> {
    match err {
        SubscribeError::Ended => not_found(),
        SubscribeError::Mux(_) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err}\n")),
    }
}

/// `/S.mp4`, `/S.ts`, `/S.flv`.
pub async fn serve(
    headers: &HeaderMap,
    query: Option<&str>,
    media: Media,
    format: Format,
    audience: Audience,
) -> Response<Body> {
    let selection = match selection_of(query, &media) {
        Ok(selection) => selection,
        Err(err) => return text(StatusCode::BAD_REQUEST, &format!("{err}\n")),
    };
    if let (Media::Vod(vod), Format::Mp4, true) = (&media, format, selection.is_all()) {
        let mut response = seekable_mp4(headers, vod.clone()).await;
        let status = response.status();
        if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
            let body = std::mem::replace(response.body_mut(), Body::Empty);
            *response.body_mut() = Body::counted(body, audience.open());
        }
        return response;
    }
    let subscription = Subscription::open(
        &media,
        format,
        Arc::new(selection),
        Start::Edge,
        audience.open(),
    );
    let body = match subscription {
        Ok(subscription) => Body::Stream(Box::new(subscription)),
        Err(err) => return refused(&err),
    };
    let mut response = Response::new(body);
    set(&mut response, "content-type", format.content_type());
    set(&mut response, "cache-control", "no-cache");
    set(&mut response, "x-accel-buffering", "no");
    response
}

/// An on-demand file as a regular MP4 (`moov` first), answering byte ranges.
async fn seekable_mp4(headers: &HeaderMap, vod: Arc<VodStream>) -> Response<Body> {
    let layout = {
        let vod = vod.clone();
        tokio::task::spawn_blocking(move || vod.progressive_mp4()).await
    };
    let layout = match layout {
        Ok(Ok(layout)) => layout,
        // The reason names the file: logged, not sent.
        Ok(Err(err)) => {
            tracing::warn!(%err, "cannot lay the file out as an MP4");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the file cannot be served as MP4\n",
            );
        }
        Err(err) => {
            tracing::warn!(%err, "the MP4 layout task failed");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n");
        }
    };
    let len = layout.len();
    // The layout's validator, plus the source file's identity: a same-size
    // rewrite of the file changes it too.
    let etag = match vod
        .file
        .fingerprint
        .and_then(|(_, modified)| modified.duration_since(std::time::UNIX_EPOCH).ok())
    {
        Some(modified) => format!(
            "{}-{:x}\"",
            layout.etag().trim_end_matches('"'),
            modified.as_nanos()
        ),
        None => layout.etag(),
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // A Range with a stale If-Range validator gets the whole, current file.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == etag);
    let answer = if if_range_ok {
        parse_range(range_header, len)
    } else {
        RangeAnswer::Whole
    };
    let (status, start, end) = match answer {
        RangeAnswer::Whole => (StatusCode::OK, 0, len),
        RangeAnswer::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        RangeAnswer::Unsatisfiable => {
            let mut response = text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            set_owned(
                &mut response,
                header::CONTENT_RANGE,
                format!("bytes */{len}"),
            );
            set(&mut response, "accept-ranges", "bytes");
            return response;
        }
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::spawn(send_progressive_range(vod, layout, start, end, sender).in_current_span());
    let mut response = Response::new(Body::Sized(receiver, end - start));
    *response.status_mut() = status;
    if status == StatusCode::PARTIAL_CONTENT {
        set_owned(
            &mut response,
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{len}", end - 1),
        );
    }
    set(&mut response, "content-type", "video/mp4");
    set(&mut response, "accept-ranges", "bytes");
    set_owned(&mut response, header::ETAG, etag);
    set(&mut response, "cache-control", "public, max-age=60");
    response
}
