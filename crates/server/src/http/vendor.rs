//! The player libraries MistServer's player wrappers load from the media port:
//! `/hlsjs.js` (hls.js), `/dashjs.js` (dash.js) and `/flv.js` (flv.js).
//!
//! They are the minified builds of the npm packages, kept in `web/vendor/` with
//! their licenses (`web/vendor/refresh` updates them and records the versions in
//! `web/vendor/VERSIONS`) and embedded in the binary. Each is served with a strong
//! ETag (a hash of its bytes, computed once) and a day of caching; the URLs carry
//! no version, so the lifetime stays short of `immutable`.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use super::body::Body;
use super::response::{empty, set};

/// One embedded library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    HlsJs,
    DashJs,
    FlvJs,
}

/// What the library files are, as `web/vendor/VERSIONS` records them.
pub const VERSIONS: &str = include_str!("../../../../web/vendor/VERSIONS");

static HLSJS: &[u8] = include_bytes!("../../../../web/vendor/hlsjs.js");
static DASHJS: &[u8] = include_bytes!("../../../../web/vendor/dashjs.js");
static FLVJS: &[u8] = include_bytes!("../../../../web/vendor/flv.js");

/// How long a client or cache may keep a library without asking again.
const MAX_AGE: &str = "public, max-age=86400";

impl Asset {
    /// The asset a root-level file name names (`hlsjs.js`), if any.
    pub fn from_file(file: &str) -> Option<Asset> {
        match file {
            "hlsjs.js" => Some(Asset::HlsJs),
            "dashjs.js" => Some(Asset::DashJs),
            "flv.js" => Some(Asset::FlvJs),
            _ => None,
        }
    }

    fn bytes(self) -> &'static [u8] {
        match self {
            Asset::HlsJs => HLSJS,
            Asset::DashJs => DASHJS,
            Asset::FlvJs => FLVJS,
        }
    }

    fn etag(self) -> &'static HeaderValue {
        static TAGS: LazyLock<[HeaderValue; 3]> = LazyLock::new(|| {
            [Asset::HlsJs, Asset::DashJs, Asset::FlvJs].map(|asset| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                asset.bytes().hash(&mut hasher);
                let tag = format!("\"v{:016x}\"", hasher.finish());
                HeaderValue::try_from(tag).unwrap_or(HeaderValue::from_static("\"v\""))
            })
        });
        &TAGS[self as usize]
    }
}

/// Serves `asset`; 304 when `If-None-Match` names its ETag.
pub fn answer(request_headers: &HeaderMap, asset: Asset) -> Response<Body> {
    let etag = asset.etag();
    let held = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let mut response = if held {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        let mut response = Response::new(Body::full(Bytes::from_static(asset.bytes())));
        set(&mut response, "content-type", "application/javascript");
        response
    };
    set(&mut response, "cache-control", MAX_AGE);
    response.headers_mut().insert(header::ETAG, etag.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_its_package_build_and_recorded() {
        for (file, package) in [
            ("hlsjs.js", "hls.js"),
            ("dashjs.js", "dashjs"),
            ("flv.js", "flv.js"),
        ] {
            let asset = Asset::from_file(file).unwrap();
            assert!(asset.bytes().len() > 50_000, "{file} is too small");
            assert!(
                VERSIONS
                    .lines()
                    .any(|l| l.starts_with(&format!("{file} {package} "))),
                "{file} is not in VERSIONS"
            );
        }
        assert_eq!(Asset::from_file("player.js"), None);
    }
}
