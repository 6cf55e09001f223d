//! Carrying a viewer's signed-URL token (`tkn`) into the URLs Brume hands that
//! viewer: the media playlists a master playlist lists, and the sources of
//! `json_S.js`. Segment URLs never get it: they stay the same for every viewer,
//! so caches keep serving them (tokens are checked on playlists and connections).
//!
//! Only tokens made of URL-safe characters are carried; the documents touched
//! (master playlists, stream info) are small and fetched once per viewer, so the
//! rewrite costs nothing on the segment path.

use bytes::Bytes;
use http::Response;

use super::token::{from_query, MAX_TOKEN_BYTES, TOKEN_PARAM};
use crate::http::body::Body;
use crate::http::router::Route;

/// The request's token if it can be carried as is.
pub fn carried_token(query: Option<&str>) -> Option<&str> {
    from_query(query).filter(|t| {
        !t.is_empty()
            && t.len() <= MAX_TOKEN_BYTES
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    })
}

/// `url` with `tkn=TOKEN` added to its query.
pub fn with_token(url: &str, token: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{TOKEN_PARAM}={token}")
}

/// A master playlist with the token added to every URI it lists.
pub fn playlist(text: &str, token: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let end = &line[body.len()..];
        if body.is_empty() {
            out.push_str(line);
        } else if !body.starts_with('#') {
            out.push_str(&with_token(body, token));
            out.push_str(end);
        } else if let Some(start) = body.find("URI=\"") {
            let value_start = start + 5;
            match body[value_start..].find('"') {
                Some(len) => {
                    let uri = &body[value_start..value_start + len];
                    out.push_str(&body[..value_start]);
                    out.push_str(&with_token(uri, token));
                    out.push_str(&body[value_start + len..]);
                    out.push_str(end);
                }
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Stream info JSON with the token added to every source's `url` and `relurl`.
pub fn info(json: &[u8], token: &str) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(json).ok()?;
    let sources = doc.get_mut("source")?.as_array_mut()?;
    for source in sources {
        for key in ["url", "relurl"] {
            if let Some(serde_json::Value::String(url)) = source.get_mut(key) {
                *url = with_token(url, token);
            }
        }
    }
    serde_json::to_vec(&doc).ok()
}

/// Rewrites a master playlist or stream info response for a viewer with a token.
pub fn response(route: &Route, query: Option<&str>, response: &mut Response<Body>) {
    let Some(token) = carried_token(query) else {
        return;
    };
    if !response.status().is_success() {
        return;
    }
    let Body::Full(Some(bytes)) = response.body() else {
        return;
    };
    let rewritten = match route {
        Route::HlsMaster(_) | Route::CmafMaster(_) => std::str::from_utf8(bytes)
            .ok()
            .map(|text| playlist(text, token).into_bytes()),
        Route::JsonInfo(_) => info(bytes, token),
        _ => None,
    };
    if let Some(new) = rewritten {
        response.headers_mut().remove(http::header::CONTENT_LENGTH);
        *response.body_mut() = Body::Full(Some(Bytes::from(new)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_playlists_carry_the_token_to_every_uri() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"2.m3u8\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n1.m3u8\n\n";
        let out = playlist(master, "5.ab");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",URI=\"2.m3u8?tkn=5.ab\"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n1.m3u8?tkn=5.ab\n\n"
        );
        assert_eq!(playlist("a.m3u8?x=1\r\n", "t"), "a.m3u8?x=1&tkn=t\r\n");
    }

    #[test]
    fn only_url_safe_tokens_are_carried() {
        assert_eq!(carried_token(Some("tkn=12.ab-_~")), Some("12.ab-_~"));
        assert_eq!(carried_token(Some("tkn=a%22b")), None);
        assert_eq!(carried_token(Some("tkn=")), None);
        assert_eq!(carried_token(Some("x=1")), None);
    }

    #[test]
    fn stream_info_sources_carry_the_token() {
        let doc = br#"{"source":[{"url":"http://h/hls/a/index.m3u8","relurl":"hls/a/index.m3u8"}],"type":"live"}"#;
        let out: serde_json::Value = serde_json::from_slice(&info(doc, "9.f").unwrap()).unwrap();
        assert_eq!(out["source"][0]["url"], "http://h/hls/a/index.m3u8?tkn=9.f");
        assert_eq!(out["source"][0]["relurl"], "hls/a/index.m3u8?tkn=9.f");
        assert_eq!(out["type"], "live");
    }
}
