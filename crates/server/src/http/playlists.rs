//! Playlists and manifests: HLS (TS and fMP4) and DASH, rendered from a stream's
//! segment list with relative URLs only.

use http::Response;

use super::body::Body;
use super::response::not_found;
use crate::stream::media::Media;

pub fn hls_master(_media: &Media) -> Response<Body> {
    not_found()
}
pub fn hls_media(_media: &Media) -> Response<Body> {
    not_found()
}
pub fn cmaf_master(_media: &Media) -> Response<Body> {
    not_found()
}
pub fn cmaf_media(_media: &Media, _track: u32) -> Response<Body> {
    not_found()
}
pub fn dash(_media: &Media) -> Response<Body> {
    not_found()
}
