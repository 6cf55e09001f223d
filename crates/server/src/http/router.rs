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
    /// `/json_S.js`: stream info as JSON.
    JsonInfo(String),
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

/// Maps a request path (without query) to a route.
pub fn route(path: &str) -> Result<Route, RouteError> {
    if path == "/" || path.is_empty() {
        return Ok(Route::Root);
    }
    let rest = path.strip_prefix('/').ok_or(RouteError::NotFound)?;
    let decoded = percent_decode(rest)?;
    if decoded.contains('/') || decoded.contains('\0') {
        return Err(RouteError::NotFound);
    }
    let decoded: &str = &decoded;
    if let Some(name) = decoded
        .strip_prefix("json_")
        .and_then(|s| s.strip_suffix(".js"))
    {
        return stream_name(name).map(Route::JsonInfo);
    }
    if let Some(name) = decoded.strip_suffix(".mp4") {
        return stream_name(name).map(Route::Mp4);
    }
    Err(RouteError::NotFound)
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
    }

    #[test]
    fn encodes_what_a_path_segment_cannot_hold() {
        assert_eq!(percent_encode("demo"), "demo");
        assert_eq!(percent_encode("my cam/1"), "my%20cam%2F1");
        assert_eq!(percent_decode(&percent_encode("é x")).unwrap(), "é x");
    }
}
