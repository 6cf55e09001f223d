//! URL routing of the media port: a request path becomes a [`Route`].
//!
//! Pure and allocation-light: the path is percent-decoded once, then matched against
//! MistServer's URL layout. Anything that does not decode cleanly (bad escapes, NUL,
//! a `/` inside a stream name) is a [`RouteError`], answered with 400 or 404.

use std::borrow::Cow;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/S.mp4`: progressive MP4 of stream S.
    Mp4(String),
    /// `/S.ts`: progressive MPEG-TS.
    Ts(String),
    /// `/S.flv`: progressive FLV.
    Flv(String),
    /// `/json_S.js`: stream info as JSON.
    JsonInfo(String),
    /// `/hls/S/index.m3u8`: HLS (TS) master playlist.
    HlsMaster(String),
    /// `/hls/S/media.m3u8`: HLS (TS) media playlist.
    HlsMedia(String),
    /// `/hls/S/N.ts`: HLS (TS) segment N.
    HlsSegment(String, u64),
    /// `/cmaf/S/index.m3u8`: HLS (fMP4) master playlist.
    CmafMaster(String),
    /// `/cmaf/S/T.m3u8`: HLS (fMP4) media playlist of track T.
    CmafMedia(String, u32),
    /// `/cmaf/S/T/init.mp4`: CMAF init segment of track T.
    CmafInit(String, u32),
    /// `/cmaf/S/T/N.m4s`: CMAF segment N of track T.
    CmafSegment(String, u32, u64),
    /// `/cmaf/S/T/N.P.m4s`: part P of CMAF segment N of track T (Low-Latency HLS).
    CmafPart(String, u32, u64, u32),
    /// `/cmaf/S/index.mpd`: DASH manifest.
    Dash(String),
    /// `/S.html`: the player page.
    Page(String),
    /// `/player.js`: the embeddable player.
    PlayerJs,
    /// `/embed_S.js`: player.js plus code that embeds S.
    Embed(String),
    /// `/info_S.js`: stream info as a JavaScript assignment.
    InfoJs(String),
    /// `/hlsjs.js`, `/dashjs.js`, `/flv.js`: a player library.
    Vendor(super::vendor::Asset),
    /// `/webrtc/S`, `/whep/S`: WHEP playback (POST an SDP offer).
    Whep(String),
    /// `/webrtc/S/ID`, `/whep/S/ID`: a WHEP session (DELETE, PATCH).
    WhepSession(String, String),
    /// `/whip/S`: WHIP publishing (POST an SDP offer).
    Whip(String),
    /// `/whip/S/ID`: a WHIP session (DELETE).
    WhipSession(String, String),
    /// `/load.json`: the load document a balancer polls (when configured).
    Load,
    /// `/`: a short plain-text index.
    Root,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("invalid percent-encoding in the request path")]
    BadEncoding,
    #[error("no such resource")]
    NotFound,
}

/// Longest request path routed at all.
pub const MAX_PATH_BYTES: usize = 4096;

/// Maps a request path (without query) to a route.
pub fn route(path: &str) -> Result<Route, RouteError> {
    if path == "/" || path.is_empty() {
        return Ok(Route::Root);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(RouteError::NotFound);
    }
    let rest = path.strip_prefix('/').ok_or(RouteError::NotFound)?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [file] => route_file(&decode_part(file)?),
        ["hls", name, file] => {
            let name = stream_name(&decode_part(name)?)?;
            match *file {
                "index.m3u8" => Ok(Route::HlsMaster(name)),
                "media.m3u8" => Ok(Route::HlsMedia(name)),
                _ => file
                    .strip_suffix(".ts")
                    .and_then(number)
                    .map(|n| Route::HlsSegment(name, n))
                    .ok_or(RouteError::NotFound),
            }
        }
        ["cmaf", name, file] => {
            let name = stream_name(&decode_part(name)?)?;
            match *file {
                "index.m3u8" => Ok(Route::CmafMaster(name)),
                "index.mpd" => Ok(Route::Dash(name)),
                _ => file
                    .strip_suffix(".m3u8")
                    .and_then(number)
                    .and_then(|t| u32::try_from(t).ok())
                    .map(|t| Route::CmafMedia(name, t))
                    .ok_or(RouteError::NotFound),
            }
        }
        ["cmaf", name, track, file] => {
            let name = stream_name(&decode_part(name)?)?;
            let track = number(track)
                .and_then(|t| u32::try_from(t).ok())
                .ok_or(RouteError::NotFound)?;
            if *file == "init.mp4" {
                return Ok(Route::CmafInit(name, track));
            }
            let stem = file.strip_suffix(".m4s").ok_or(RouteError::NotFound)?;
            if let Some((sequence, part)) = stem.split_once('.') {
                let part = number(part).and_then(|p| u32::try_from(p).ok());
                return number(sequence)
                    .zip(part)
                    .map(|(n, p)| Route::CmafPart(name, track, n, p))
                    .ok_or(RouteError::NotFound);
            }
            number(stem)
                .map(|n| Route::CmafSegment(name, track, n))
                .ok_or(RouteError::NotFound)
        }
        ["webrtc" | "whep", name] => Ok(Route::Whep(stream_name(&decode_part(name)?)?)),
        ["webrtc" | "whep", name, id] => {
            let name = stream_name(&decode_part(name)?)?;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(RouteError::NotFound);
            }
            Ok(Route::WhepSession(name, (*id).to_owned()))
        }
        ["whip", name] => Ok(Route::Whip(stream_name(&decode_part(name)?)?)),
        ["whip", name, id] => {
            let name = stream_name(&decode_part(name)?)?;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(RouteError::NotFound);
            }
            Ok(Route::WhipSession(name, (*id).to_owned()))
        }
        _ => Err(RouteError::NotFound),
    }
}

fn route_file(file: &str) -> Result<Route, RouteError> {
    if file == "player.js" {
        return Ok(Route::PlayerJs);
    }
    if file == "load.json" {
        return Ok(Route::Load);
    }
    if let Some(asset) = super::vendor::Asset::from_file(file) {
        return Ok(Route::Vendor(asset));
    }
    if let Some(name) = file
        .strip_prefix("embed_")
        .and_then(|s| s.strip_suffix(".js"))
    {
        return stream_name(name).map(Route::Embed);
    }
    if let Some(name) = file
        .strip_prefix("info_")
        .and_then(|s| s.strip_suffix(".js"))
    {
        return stream_name(name).map(Route::InfoJs);
    }
    if let Some(name) = file.strip_suffix(".html") {
        return stream_name(name).map(Route::Page);
    }
    if let Some(name) = file
        .strip_prefix("json_")
        .and_then(|s| s.strip_suffix(".js"))
    {
        return stream_name(name).map(Route::JsonInfo);
    }
    if let Some(name) = file.strip_suffix(".mp4") {
        return stream_name(name).map(Route::Mp4);
    }
    if let Some(name) = file.strip_suffix(".ts") {
        return stream_name(name).map(Route::Ts);
    }
    if let Some(name) = file.strip_suffix(".flv") {
        return stream_name(name).map(Route::Flv);
    }
    Err(RouteError::NotFound)
}

/// A decimal number of at most 19 digits, no sign, no leading `+`.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Decodes one path segment; a decoded `/` or NUL never names anything.
fn decode_part(part: &str) -> Result<String, RouteError> {
    let decoded = percent_decode(part)?;
    if decoded.contains('/') || decoded.contains('\0') {
        return Err(RouteError::NotFound);
    }
    Ok(decoded.into_owned())
}

fn stream_name(name: &str) -> Result<String, RouteError> {
    match crate::config::validate_stream_name(name) {
        Ok(()) => Ok(name.to_owned()),
        Err(_) => Err(RouteError::NotFound),
    }
}

/// Decodes `%XX` escapes; fails on malformed escapes or invalid UTF-8.
pub fn percent_decode(text: &str) -> Result<Cow<'_, str>, RouteError> {
    if !text.contains('%') {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(RouteError::BadEncoding)?;
            let value = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(RouteError::BadEncoding)?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| RouteError::BadEncoding)
}

/// Encodes a stream name for use in a URL path segment.
pub fn percent_encode(text: &str) -> Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+');
    if text.bytes().all(keep) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_mist_urls() {
        assert_eq!(route("/demo.mp4"), Ok(Route::Mp4("demo".into())));
        assert_eq!(route("/json_demo.js"), Ok(Route::JsonInfo("demo".into())));
        assert_eq!(route("/my%20cam.mp4"), Ok(Route::Mp4("my cam".into())));
        assert_eq!(route("/json_a.b.js"), Ok(Route::JsonInfo("a.b".into())));
        assert_eq!(route("/"), Ok(Route::Root));
        assert_eq!(route("/demo.ts"), Ok(Route::Ts("demo".into())));
        assert_eq!(route("/demo.html"), Ok(Route::Page("demo".into())));
        assert_eq!(route("/player.js"), Ok(Route::PlayerJs));
        assert_eq!(route("/embed_demo.js"), Ok(Route::Embed("demo".into())));
        assert_eq!(route("/info_demo.js"), Ok(Route::InfoJs("demo".into())));
        assert_eq!(route("/demo.flv"), Ok(Route::Flv("demo".into())));
        assert_eq!(
            route("/hls/demo/index.m3u8"),
            Ok(Route::HlsMaster("demo".into()))
        );
        assert_eq!(
            route("/hls/demo/media.m3u8"),
            Ok(Route::HlsMedia("demo".into()))
        );
        assert_eq!(
            route("/hls/demo/42.ts"),
            Ok(Route::HlsSegment("demo".into(), 42))
        );
        assert_eq!(
            route("/cmaf/demo/index.m3u8"),
            Ok(Route::CmafMaster("demo".into()))
        );
        assert_eq!(
            route("/cmaf/demo/index.mpd"),
            Ok(Route::Dash("demo".into()))
        );
        assert_eq!(
            route("/cmaf/demo/2.m3u8"),
            Ok(Route::CmafMedia("demo".into(), 2))
        );
        assert_eq!(
            route("/cmaf/demo/1/init.mp4"),
            Ok(Route::CmafInit("demo".into(), 1))
        );
        assert_eq!(
            route("/cmaf/demo/1/7.m4s"),
            Ok(Route::CmafSegment("demo".into(), 1, 7))
        );
        assert_eq!(
            route("/cmaf/demo/1/7.3.m4s"),
            Ok(Route::CmafPart("demo".into(), 1, 7, 3))
        );
        assert_eq!(route("/cmaf/demo/1/7.3.4.m4s"), Err(RouteError::NotFound));
        assert_eq!(route("/cmaf/demo/1/7.-3.m4s"), Err(RouteError::NotFound));
        assert_eq!(
            route("/cmaf/demo/1/7.4294967296.m4s"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route("/cmaf/my%20cam/1/7.m4s"),
            Ok(Route::CmafSegment("my cam".into(), 1, 7))
        );
    }

    #[test]
    fn refuses_bad_paths() {
        assert_eq!(route("/a%2Fb.mp4"), Err(RouteError::NotFound));
        assert_eq!(route("/x/../demo.mp4"), Err(RouteError::NotFound));
        assert_eq!(route("/%zz.mp4"), Err(RouteError::BadEncoding));
        assert_eq!(route("/%4.mp4"), Err(RouteError::BadEncoding));
        assert_eq!(route("/%00.mp4"), Err(RouteError::NotFound));
        assert_eq!(route("/%ff.mp4"), Err(RouteError::BadEncoding));
        assert_eq!(route("/.mp4"), Err(RouteError::NotFound));
        assert_eq!(route("/demo.avi"), Err(RouteError::NotFound));
        assert_eq!(route("/hls/demo/-1.ts"), Err(RouteError::NotFound));
        assert_eq!(route("/hls/demo/+1.ts"), Err(RouteError::NotFound));
        assert_eq!(
            route("/hls/demo/99999999999999999999.ts"),
            Err(RouteError::NotFound)
        );
        assert_eq!(
            route("/cmaf/demo/4294967296/1.m4s"),
            Err(RouteError::NotFound)
        );
        assert_eq!(route("/hls/a%2Fb/index.m3u8"), Err(RouteError::NotFound));
        assert_eq!(route("/hls/demo/index.m3u8/x"), Err(RouteError::NotFound));
        assert_eq!(
            route(&format!("/{}.mp4", "a".repeat(5000))),
            Err(RouteError::NotFound)
        );
    }

    #[test]
    fn encodes_what_a_path_segment_cannot_hold() {
        assert_eq!(percent_encode("demo"), "demo");
        assert_eq!(percent_encode("my cam/1"), "my%20cam%2F1");
        assert_eq!(percent_decode(&percent_encode("é x")).unwrap(), "é x");
    }
}
