//! The player page (`/S.html`), the embeddable player (`/player.js`), the embed
//! script (`/embed_S.js`) and stream info as JavaScript (`/info_S.js`).
//!
//! The player itself is `web/player.js`, embedded in the binary. Every value that
//! goes into markup or script (stream names, the public base, query options) is
//! escaped for its context here: [`js_string`] for JavaScript string literals and
//! [`html_escape`] for HTML text and attributes. Public bases are validated before
//! they get here (see [`super::public_base`]); the escaping holds on its own too.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::LazyLock;

use bytes::Bytes;
use http::header::HeaderName;
use http::{Request, Response};
use hyper::body::Incoming;

use super::body::Body;
use super::info::{self, Flavor};
use super::public_base::{self, Resolved};
use super::response;
use super::router::{percent_decode, percent_encode, Route};
use super::HttpContext;
use crate::stream::cache::{DocumentCache, DocumentKind, Stamp};

/// The player, as written in `web/player.js`.
pub const PLAYER_JS: &str = include_str!("../../../../web/player.js");

/// Most query parameters of a page request looked at.
pub const MAX_QUERY_PARAMS: usize = 32;
/// Longest option value (`forceType=…`) passed to the player.
pub const MAX_OPTION_LEN: usize = 256;

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "application/javascript";

pub fn answer(
    req: &Request<Incoming>,
    context: &HttpContext,
    peer: Option<SocketAddr>,
    route: &Route,
) -> Response<Body> {
    let headers = req.headers();
    if let Route::InfoJs(name) = route {
        return info::answer(headers, context, peer, name, Flavor::Script);
    }
    let resolved = public_base::for_request(headers, peer, context);
    let primary = resolved.primary.to_string();
    let (kind, key, content_type) = match route {
        Route::Page(name) => {
            let query = req.uri().query().unwrap_or("");
            (
                DocumentKind::Page,
                format!("{primary}\n{name}\n{query}"),
                HTML,
            )
        }
        Route::PlayerJs => (DocumentKind::PlayerJs, primary, JAVASCRIPT),
        Route::Embed(name) => (
            DocumentKind::Embed,
            format!("{primary}\n{name}"),
            JAVASCRIPT,
        ),
        _ => return response::not_found(),
    };
    // Pages depend on the name, the options and the base only: rendered once each.
    let rendered = PAGES.get_or_render(kind, &key, Stamp::default(), || {
        let text = match route {
            Route::Page(name) => page(name, &PageOptions::from_query(req.uri().query()), &resolved),
            Route::Embed(name) => embed_js(name, &resolved),
            _ => player_js(&resolved),
        };
        Ok::<_, std::convert::Infallible>(Bytes::from(text))
    });
    let doc = match rendered {
        Ok(doc) => doc,
        Err(never) => match never {},
    };
    let mut response = response::tagged_document(headers, &doc, content_type);
    response::set_owned(
        &mut response,
        HeaderName::from_static("vary"),
        resolved.vary().to_owned(),
    );
    response
}

/// Rendered pages, player scripts and embed scripts, shared by all streams.
static PAGES: LazyLock<DocumentCache> = LazyLock::new(DocumentCache::default);

/// Player options a page URL may carry: `?autoplay=0&muted&forceType=…&t=1h2m3s`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageOptions {
    pub autoplay: Option<bool>,
    pub muted: Option<bool>,
    pub controls: Option<bool>,
    pub looped: Option<bool>,
    pub force_type: Option<String>,
    pub force_player: Option<String>,
    /// `tkn=`: appended by player.js to the URLs it asks (`?tkn=…`).
    pub urlappend: Option<String>,
    pub force_source: Option<u32>,
    /// `t=`: where to start, in seconds.
    pub start_time: Option<f64>,
}

impl PageOptions {
    /// Reads the options from a query string; unknown or malformed ones are ignored.
    pub fn from_query(query: Option<&str>) -> PageOptions {
        let mut options = PageOptions::default();
        let Some(query) = query else {
            return options;
        };
        for pair in query.split('&').take(MAX_QUERY_PARAMS) {
            let (key, value) = match pair.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (pair, None),
            };
            let Some(value) = value.map(decode_query).unwrap_or(Some(String::new())) else {
                continue;
            };
            let text = (!value.is_empty() && value.len() <= MAX_OPTION_LEN).then(|| value.clone());
            match key {
                "autoplay" => options.autoplay = Some(flag(&value)),
                "muted" => options.muted = Some(flag(&value)),
                "controls" => options.controls = Some(flag(&value)),
                "loop" => options.looped = Some(flag(&value)),
                "forceType" => options.force_type = text,
                "forcePlayer" => options.force_player = text,
                // A signed-URL token: player.js appends it to every URL it asks.
                "tkn" => {
                    options.urlappend = crate::access::carry::carried_token(Some(pair))
                        .map(|t| format!("?tkn={t}"));
                }
                "forceSource" => options.force_source = value.parse().ok(),
                "t" => options.start_time = parse_duration(&value),
                _ => {}
            }
        }
        options
    }

    /// The options as JavaScript object members (`, muted: true`…), escaped.
    fn to_js(&self) -> String {
        let mut out = String::new();
        let bools = [
            ("autoplay", self.autoplay),
            ("muted", self.muted),
            ("controls", self.controls),
            ("loop", self.looped),
        ];
        for (key, value) in bools {
            if let Some(value) = value {
                let _ = write!(out, ", {key}: {value}");
            }
        }
        let strings = [
            ("forceType", &self.force_type),
            ("forcePlayer", &self.force_player),
            ("urlappend", &self.urlappend),
        ];
        for (key, value) in strings {
            if let Some(value) = value {
                let _ = write!(out, ", {key}: {}", js_string(value));
            }
        }
        if let Some(index) = self.force_source {
            let _ = write!(out, ", forceSource: {index}");
        }
        if let Some(seconds) = self.start_time {
            let _ = write!(out, ", startTime: {seconds}");
        }
        out
    }
}

/// A flag is on unless it says `0`, `false` or `no` (`?muted` alone turns it on).
fn flag(value: &str) -> bool {
    !matches!(
        value.to_ascii_lowercase().as_str(),
        "0" | "false" | "no" | "off"
    )
}

/// Decodes a query value: `+` is a space, `%XX` escapes; `None` when malformed.
fn decode_query(value: &str) -> Option<String> {
    if value.len() > MAX_OPTION_LEN * 3 {
        return None;
    }
    let spaced = value.replace('+', " ");
    percent_decode(&spaced).ok().map(|v| v.into_owned())
}

/// `1h2m3s`, `90m`, `75s`, `75`, `1.5` → seconds; anything else `None`.
pub fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0 && !text.starts_with(['+', '-']))
            .then_some(seconds);
    }
    let mut total = 0.0;
    let mut number = String::new();
    let mut last_unit = 0u8;
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let (rank, scale) = match c {
            'h' => (1, 3600.0),
            'm' => (2, 60.0),
            's' => (3, 1.0),
            _ => return None,
        };
        // Units in order, each once, each with a number.
        if rank <= last_unit || number.is_empty() {
            return None;
        }
        total += number.parse::<f64>().ok()? * scale;
        number.clear();
        last_unit = rank;
    }
    if !number.is_empty() {
        // A bare number after `1m` means seconds (`1m30`).
        if last_unit >= 3 {
            return None;
        }
        total += number.parse::<f64>().ok()?;
    }
    total.is_finite().then_some(total)
}

/// `/S.html`: a full-window player for `name`.
pub fn page(name: &str, options: &PageOptions, resolved: &Resolved) -> String {
    let encoded = percent_encode(name);
    let hls = html_escape(&format!("hls/{encoded}/index.m3u8"));
    let mp4 = html_escape(&format!("{encoded}.mp4"));
    let title = html_escape(name);
    let call = format!(
        "mistPlay({}, {{host: {}, target: document.getElementById('mistvideo'), fillSpace: true{}}});",
        js_string(name),
        js_string(&resolved.primary.player_host()),
        options.to_js()
    );
    format!(
        "<!DOCTYPE html>\n\
<html lang=\"en\">\n\
<head>\n\
<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n\
<style>\n\
html, body {{ margin: 0; padding: 0; width: 100%; height: 100%; overflow: hidden; background: #0f0f0f; color: #eee; font-family: sans-serif; }}\n\
.mistvideo {{ width: 100%; height: 100%; }}\n\
noscript video {{ width: 100%; height: calc(100% - 3em); background: #000; }}\n\
noscript p {{ margin: 0.8em; }}\n\
noscript a {{ color: #9cf; }}\n\
</style>\n\
</head>\n\
<body>\n\
<div class=\"mistvideo\" id=\"mistvideo\">\n\
<noscript>\n\
<video controls autoplay playsinline><source src=\"{hls}\" type=\"application/vnd.apple.mpegurl\"><source src=\"{mp4}\" type=\"video/mp4\"></video>\n\
<p>JavaScript is off. Play {title} as <a href=\"{hls}\">HLS</a> or <a href=\"{mp4}\">MP4</a>.</p>\n\
</noscript>\n\
</div>\n\
<script src=\"player.js\"></script>\n\
<script>{call}</script>\n\
</body>\n\
</html>\n"
    )
}

/// The first line of `/player.js`: the default host for `mistPlay`.
pub fn player_js_header(resolved: &Resolved) -> String {
    format!(
        "if (typeof mistoptions == 'undefined'){{mistoptions = {{}};}} if (!('host' in mistoptions)){{mistoptions.host = {};}}\n",
        js_string(&resolved.primary.player_host())
    )
}

/// `/player.js`: the default host, then the player.
pub fn player_js(resolved: &Resolved) -> String {
    let mut out = player_js_header(resolved);
    out.push_str(PLAYER_JS);
    out.push('\n');
    out
}

/// `/embed_S.js`: the player, then code that puts a player for `name` where the
/// script tag is.
pub fn embed_js(name: &str, resolved: &Resolved) -> String {
    let mut out = player_js(resolved);
    let _ = write!(
        out,
        "(function () {{\n\
  var script = document.currentScript;\n\
  var holder = document.createElement('div');\n\
  holder.innerHTML = '<div class=\"mistvideo\"></div>';\n\
  var target = holder.firstChild;\n\
  var inBody = !!(script && script.parentNode && script.parentNode !== document.head);\n\
  function place() {{\n\
    if (inBody) {{\n\
      script.parentNode.insertBefore(target, script);\n\
    }} else {{\n\
      document.body.appendChild(target);\n\
    }}\n\
    mistPlay({}, {{host: {}, target: target}});\n\
  }}\n\
  if (inBody || document.body) {{\n\
    place();\n\
  }} else {{\n\
    document.addEventListener('DOMContentLoaded', place);\n\
  }}\n\
}})();\n",
        js_string(name),
        js_string(&resolved.primary.player_host())
    );
    out
}

/// A single-quoted JavaScript string literal holding `text`, safe inside a
/// `<script>` element and an HTML attribute and whatever charset the script is read
/// in: quotes, backslash, `<`, `>`, `&`, control characters, U+2028/U+2029 and
/// everything outside printable ASCII become `\uXXXX`.
pub fn js_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' | '"' | '\\' | '<' | '>' | '&' => push_unicode_escape(&mut out, c),
            ' '..='~' => out.push(c),
            c => push_unicode_escape(&mut out, c),
        }
    }
    out.push('\'');
    out
}

/// Appends `c` as JavaScript/JSON `\uXXXX` escapes (a surrogate pair above U+FFFF).
pub fn push_unicode_escape(out: &mut String, c: char) {
    let mut units = [0u16; 2];
    for unit in c.encode_utf16(&mut units) {
        let _ = write!(out, "\\u{unit:04x}");
    }
}

/// Text escaped for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::public_base::{Origin, PublicBase};
    use crate::http::Scheme;

    fn resolved(base: PublicBase) -> Resolved {
        Resolved {
            bases: vec![base.clone()],
            primary: base,
            origin: Origin::MstPath,
        }
    }

    const XSS: &str = "\"></script><script>alert(1)</script>";

    #[test]
    fn js_strings_cannot_break_out() {
        assert_eq!(js_string("demo"), "'demo'");
        let escaped = js_string(&format!("a'b\\c\u{2028}\n{XSS}&"));
        for bad in ['<', '>', '"', '&', '\n', '\u{2028}'] {
            assert!(!escaped.contains(bad), "{escaped}");
        }
        // Only the delimiting quotes remain.
        assert_eq!(escaped.matches('\'').count(), 2);
        assert_eq!(js_string("'\\"), "'\\u0027\\u005c'");
        assert_eq!(js_string("é😀"), "'\\u00e9\\ud83d\\ude00'");
    }

    #[test]
    fn html_escaping_neutralises_markup() {
        assert_eq!(
            html_escape(XSS),
            "&quot;&gt;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(html_escape("a'b&c"), "a&#39;b&amp;c");
    }

    #[test]
    fn escaping_alone_holds_even_for_an_unvalidated_base() {
        // Build a page with a hostile stream name (the router refuses `"<>` in
        // names; this checks the escaping layer by itself).
        let base = PublicBase::new(Scheme::Http, "h", None, "/").unwrap();
        let text = page(XSS, &PageOptions::default(), &resolved(base.clone()));
        assert!(!text.contains("<script>alert"), "{text}");
        let options = PageOptions::from_query(Some(
            "forceType=%22%3E%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        ));
        assert_eq!(options.force_type.as_deref(), Some(XSS));
        let text = page("demo", &options, &resolved(base.clone()));
        assert!(!text.contains("<script>alert"), "{text}");
        assert!(!embed_js(XSS, &resolved(base)).contains("<script>alert"));
    }

    #[test]
    fn page_loads_player_js_relatively_and_calls_mist_play() {
        let base = PublicBase::parse("https://example.com/mistserver/", None).unwrap();
        let options = PageOptions::from_query(Some(
            "autoplay=0&muted&forceType=html5%2Fvideo%2Fmp4&t=1h2m3s",
        ));
        let text = page("my cam", &options, &resolved(base));
        assert!(text.contains("<script src=\"player.js\"></script>"));
        assert!(text.contains(
            "mistPlay('my cam', {host: 'https://example.com/mistserver', target: document.getElementById('mistvideo'), fillSpace: true, autoplay: false, muted: true, forceType: 'html5/video/mp4', startTime: 3723});"
        ), "{text}");
        assert!(text.contains("href=\"hls/my%20cam/index.m3u8\""));
        assert!(text.contains("href=\"my%20cam.mp4\""));
    }

    #[test]
    fn player_js_starts_with_the_default_host() {
        let base = PublicBase::new(Scheme::Http, "h", Some(8080), "/").unwrap();
        let text = player_js(&resolved(base));
        assert_eq!(
            text.lines().next().unwrap(),
            "if (typeof mistoptions == 'undefined'){mistoptions = {};} if (!('host' in mistoptions)){mistoptions.host = 'http://h:8080';}"
        );
        assert!(text.contains(PLAYER_JS));
    }

    #[test]
    fn query_options_and_durations() {
        assert_eq!(parse_duration("1h2m3s"), Some(3723.0));
        assert_eq!(parse_duration("90"), Some(90.0));
        assert_eq!(parse_duration("2m"), Some(120.0));
        assert_eq!(parse_duration("1m30"), Some(90.0));
        assert_eq!(parse_duration("1.5s"), Some(1.5));
        for bad in ["", "-5", "1x", "3s2m", "h", "1s5", "inf", "NaN"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let options = PageOptions::from_query(Some(
            "muted=0&controls=false&loop&forceSource=2&forcePlayer=mews&x=%zz",
        ));
        assert_eq!(options.muted, Some(false));
        assert_eq!(options.controls, Some(false));
        assert_eq!(options.looped, Some(true));
        assert_eq!(options.force_source, Some(2));
        assert_eq!(options.force_player.as_deref(), Some("mews"));
        let long = format!("forceType={}", "a".repeat(MAX_OPTION_LEN + 1));
        assert_eq!(PageOptions::from_query(Some(&long)).force_type, None);
    }
}
