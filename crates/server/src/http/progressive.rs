//! Whole-stream responses: progressive MP4, MPEG-TS and FLV. Live streams are
//! served from the stream's shared feed of that format (muxed once for everyone);
//! on-demand files are read and muxed one segment at a time as the client
//! consumes them.

use std::sync::Arc;

use http::header::{self, HeaderMap};
use http::{Response, StatusCode};
use tracing::Instrument;

use super::body::{Body, LiveBody};
use super::range::{parse_range, RangeAnswer};
use super::response::{not_found, set, set_owned, text};
use crate::stream::live::feed::Format;
use crate::stream::media::Media;
use crate::stream::vod::{send_progressive_range, VodStream};

/// `/S.mp4`, `/S.ts`, `/S.flv`.
pub async fn serve(headers: &HeaderMap, media: Media, format: Format) -> Response<Body> {
    if let (Media::Vod(vod), Format::Mp4) = (&media, format) {
        return seekable_mp4(headers, vod.clone()).await;
    }
    let body = match media {
        Media::Live(live) => match live.subscribe(format) {
            Some(subscription) => Body::Live(LiveBody::new(subscription)),
            None => return not_found(),
        },
        Media::Vod(vod) => {
            let (sender, receiver) = tokio::sync::mpsc::channel(2);
            tokio::spawn(crate::stream::vod::send_all(vod, format, sender).in_current_span());
            Body::Channel(receiver)
        }
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
        tokio::task::spawn_blocking(move || vod.progressive_mp4())
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let layout = match layout {
        Ok(layout) => layout,
        Err(message) => return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{message}\n")),
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
