//! The stream info document (`/json_S.js`, `/info_S.js`), in MistServer's format.
//!
//! `type`, `width`/`height` (largest video track), `meta.tracks` keyed the way
//! MistServer keys them (`video_H264_640x360_30fps_1`), and a `source` list: every
//! output that can carry the stream's tracks, once per public base (see
//! [`super::public_base`]), with relative and absolute URLs. Sources are sorted by
//! `simul_tracks`, then `priority` (both descending), then the order of [`OUTPUTS`],
//! then the order of the bases; identical URLs (RTMP under two bases of one host)
//! are listed once.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName};
use http::Response;
use serde_json::{json, Map, Value};

use brume_media::index::tracks_of;
use brume_media::{scale_ticks, Codec, Track, TrackKind};

use super::body::Body;
use super::public_base::{self, Resolved};
use super::response;
use super::router::percent_encode;
use super::HttpContext;
use crate::stream::cache::{Document, DocumentKind, Stamp};
use crate::stream::StreamState;

pub use super::public_base::PublicBase;

/// Per-track figures an info document reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct TrackFigures {
    pub first_ms: i64,
    pub last_ms: i64,
    /// Bytes per second.
    pub bps: u64,
    /// Frames per 1000 seconds (video).
    pub fpks: u64,
}

/// How an output is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// `http(s)://` under the base.
    Http,
    /// `ws(s)://` under the base.
    WebSocket,
    /// `rtmp://` on the base's host.
    Rtmp,
}

/// One output as stream info lists it.
#[derive(Debug)]
pub struct Output {
    /// MistServer's source type (what `mistplayers` match on).
    pub kind: &'static str,
    /// Human-readable name.
    pub hrn: &'static str,
    /// Higher is preferred (after `simul_tracks`).
    pub priority: u32,
    /// Path below the base; `$` stands for the URL-encoded stream name.
    pub relurl: &'static str,
    transport: Transport,
    video: &'static [Codec],
    audio: &'static [Codec],
}

const VIDEO_ALL: &[Codec] = &[Codec::H264, Codec::H265];
const VIDEO_H264: &[Codec] = &[Codec::H264];
const AUDIO_AAC: &[Codec] = &[Codec::Aac];

/// Every output, in the order that breaks priority ties.
///
/// Priorities: the MP4 WebSocket (low latency, works on every MSE browser) first;
/// then HLS, which every browser plays natively or through MSE; DASH; progressive
/// MP4 below the adaptive formats (MistServer ranks it 9, but live progressive MP4
/// does not play in Safari, which does play HLS); RTMP (6, as MistServer) for
/// players outside the browser; progressive FLV (`flash/7`, what MistServer calls
/// it) at 5; progressive MPEG-TS (1, as MistServer) last.
pub const OUTPUTS: [Output; 8] = [
    Output {
        kind: "ws/video/mp4",
        hrn: "MP4 WebSocket",
        priority: 10,
        relurl: "$.mp4",
        transport: Transport::WebSocket,
        video: VIDEO_ALL,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "html5/application/vnd.apple.mpegurl",
        hrn: "HLS (TS)",
        priority: 9,
        relurl: "hls/$/index.m3u8",
        transport: Transport::Http,
        video: VIDEO_ALL,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "html5/application/vnd.apple.mpegurl;version=7",
        hrn: "HLS (CMAF)",
        priority: 9,
        relurl: "cmaf/$/index.m3u8",
        transport: Transport::Http,
        video: VIDEO_ALL,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "dash/video/mp4",
        hrn: "DASH",
        priority: 8,
        relurl: "cmaf/$/index.mpd",
        transport: Transport::Http,
        video: VIDEO_ALL,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "html5/video/mp4",
        hrn: "MP4 progressive",
        priority: 7,
        relurl: "$.mp4",
        transport: Transport::Http,
        video: VIDEO_ALL,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "flash/10",
        hrn: "RTMP",
        priority: 6,
        relurl: "play/$",
        transport: Transport::Rtmp,
        video: VIDEO_H264,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "flash/7",
        hrn: "FLV progressive",
        priority: 5,
        relurl: "$.flv",
        transport: Transport::Http,
        video: VIDEO_H264,
        audio: AUDIO_AAC,
    },
    Output {
        kind: "html5/video/mp2t",
        hrn: "TS progressive",
        priority: 1,
        relurl: "$.ts",
        transport: Transport::Http,
        video: VIDEO_ALL,
        audio: AUDIO_AAC,
    },
];

/// The two forms the document is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `/json_S.js`: the JSON document.
    Json,
    /// `/info_S.js`: `mistvideo['S'] = {…};`
    Script,
}

/// Answers `/json_S.js` or `/info_S.js`. A stream with media renders each flavor
/// once per version of its state and set of public bases (see
/// [`crate::stream::cache::DocumentCache`]); other states answer a short error
/// document.
pub fn answer(
    headers: &HeaderMap,
    context: &HttpContext,
    peer: Option<SocketAddr>,
    name: &str,
    flavor: Flavor,
) -> Response<Body> {
    let resolved = public_base::for_request(headers, peer, context);
    let (kind, content_type) = match flavor {
        Flavor::Json => (DocumentKind::InfoJson, "application/json"),
        Flavor::Script => (DocumentKind::InfoScript, "application/javascript"),
    };
    // A player asking what a pulled stream offers starts it (on demand): it
    // answers "initializing" until the pull is live, and the player asks again.
    let state = context.registry().get(name).map(|entry| {
        entry.want();
        entry.state()
    });
    let render = |state: Option<&StreamState>| {
        let doc = match state {
            Some(state) => {
                let mut doc = stream_info(name, state, &resolved.bases, context.rtmp_port());
                add_whep_source(
                    &mut doc,
                    name,
                    state,
                    &resolved.bases,
                    context.state.webrtc().is_some(),
                );
                doc
            }
            None => error_doc("Stream is offline"),
        };
        match flavor {
            Flavor::Json => Bytes::from(doc.to_string()),
            Flavor::Script => Bytes::from(script(name, &doc)),
        }
    };
    let cached = match &state {
        Some(StreamState::Live(live)) => Some((&live.cache, live.version())),
        Some(StreamState::Vod(vod)) => Some((&vod.cache, 0)),
        _ => None,
    };
    let doc = match cached {
        Some((cache, version)) => {
            let key = bases_key(&resolved);
            let stamp = Stamp { version, tick: 0 };
            let rendered = cache.documents().get_or_render(kind, &key, stamp, || {
                Ok::<_, std::convert::Infallible>(render(state.as_ref()))
            });
            match rendered {
                Ok(doc) => doc,
                Err(never) => match never {},
            }
        }
        None => Document::new(render(state.as_ref())),
    };
    let mut response = response::tagged_document(headers, &doc, content_type);
    response::set_owned(
        &mut response,
        HeaderName::from_static("vary"),
        resolved.vary().to_owned(),
    );
    response
}

/// What tells one request's bases from another's in the document cache.
fn bases_key(resolved: &Resolved) -> String {
    let mut key = String::with_capacity(64);
    for base in &resolved.bases {
        let _ = write!(key, "{base} ");
    }
    key
}

/// The info document of stream `name` for a request whose bases are `resolved`
/// (also what the stream-info WebSocket pushes).
pub fn document(context: &HttpContext, resolved: &Resolved, name: &str) -> Value {
    match context.registry().get(name) {
        Some(entry) => {
            let state = entry.state();
            let mut doc = stream_info(name, &state, &resolved.bases, context.rtmp_port());
            add_whep_source(
                &mut doc,
                name,
                &state,
                &resolved.bases,
                context.state.webrtc().is_some(),
            );
            doc
        }
        None => error_doc("Stream is offline"),
    }
}

/// Lists WebRTC playback (`type: "whep"`, `/whep/S` under each base) for a live
/// stream with H.264 video while WebRTC is on (`webrtc_on`). MistServer's other WebRTC type,
/// `webrtc`, names its WebSocket signalling, which Brume does not speak, so it is
/// not listed (MistServer's player.js would try it first and fail).
pub fn add_whep_source(
    doc: &mut Value,
    name: &str,
    state: &StreamState,
    bases: &[PublicBase],
    webrtc_on: bool,
) {
    let StreamState::Live(live) = state else {
        return;
    };
    if !webrtc_on || !live.tracks().iter().any(|t| t.codec == Codec::H264) {
        return;
    }
    let Some(Value::Array(sources)) = doc.get_mut("source") else {
        return;
    };
    let relurl = format!("whep/{}", percent_encode(name));
    for base in bases {
        sources.push(json!({
            "type": "whep",
            "hrn": "WebRTC (WHEP)",
            "priority": 11,
            "simul_tracks": 1,
            "total_matches": 1,
            "relurl": relurl,
            "url": base.url(&relurl),
        }));
    }
}

/// `/info_S.js`: the document as a JavaScript assignment, MistServer's way.
pub fn script(name: &str, doc: &Value) -> String {
    format!(
        "if (!mistvideo){{var mistvideo = {{}};}} mistvideo[{}] = {};\n",
        super::pages::js_string(name),
        json_for_script(doc)
    )
}

/// JSON text safe inside a script read in any charset: `<`, `>`, `&`, U+2028/U+2029
/// and everything outside ASCII can only occur inside JSON strings, where
/// `\uXXXX` means the same character.
pub fn json_for_script(doc: &Value) -> String {
    let text = doc.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' | '>' | '&' => super::pages::push_unicode_escape(&mut out, c),
            c if c.is_ascii() => out.push(c),
            c => super::pages::push_unicode_escape(&mut out, c),
        }
    }
    out
}

/// The document for a stream in `state`, with sources under every base in
/// `bases`; `rtmp_port` is the RTMP listener's port (1935 and 0 are left out of
/// URLs). States without media give an error document.
pub fn stream_info(name: &str, state: &StreamState, bases: &[PublicBase], rtmp_port: u16) -> Value {
    let mut unixoffset = None;
    let (kind, tracks, figures, live_window, notes) = match state {
        StreamState::Live(live) => {
            let tracks = live.tracks().to_vec();
            let figures = live
                .track_stats()
                .iter()
                .zip(&tracks)
                .map(|(stats, track)| TrackFigures {
                    first_ms: stats.first_ms,
                    last_ms: stats.last_ms,
                    bps: stats.bytes_per_sec,
                    fpks: estimate_fpks(track, stats.frames, stats.first_ms, stats.last_ms),
                })
                .collect::<Vec<_>>();
            let window = figures
                .iter()
                .map(|f| f.last_ms - f.first_ms)
                .max()
                .unwrap_or(0);
            // MistServer's `unixoffset`: the Unix time (ms) of media time 0, so
            // that media time + unixoffset = wall-clock time.
            unixoffset = live.epoch_unix_ms();
            ("live", tracks, figures, Some(window), live.notes())
        }
        StreamState::Vod(vod) => {
            let mut tracks = Vec::new();
            let mut figures = Vec::new();
            for (track, samples) in tracks_of(&*vod.file.index) {
                let ts = track.timescale;
                let first = samples.first().map(|s| s.dts).unwrap_or(0);
                let last = samples.last().map(|s| s.dts).unwrap_or(0);
                let end = samples
                    .last()
                    .map(|s| s.dts + i64::from(s.duration))
                    .unwrap_or(0);
                let bytes: u64 = samples.iter().map(|s| s.size as u64).sum();
                let span_ms = scale_ticks(end - first, ts, 1000).max(1);
                let first_ms = scale_ticks(first, ts, 1000).max(0);
                let last_ms = scale_ticks(last, ts, 1000).max(0);
                figures.push(TrackFigures {
                    first_ms,
                    last_ms,
                    bps: bytes * 1000 / span_ms as u64,
                    fpks: estimate_fpks(track, samples.len(), first_ms, last_ms),
                });
                tracks.push(track.clone());
            }
            ("vod", tracks, figures, None, Vec::new())
        }
        StreamState::Starting => return error_doc("Stream is initializing"),
        StreamState::Offline => return error_doc("Stream is offline"),
        StreamState::Error(reason) => return error_doc(reason.public()),
    };

    let (meta_tracks, width, height) = meta_tracks(&tracks, &figures);
    let mut meta = Map::new();
    meta.insert("tracks".into(), Value::Object(meta_tracks));
    if let Some(window) = live_window {
        meta.insert("live".into(), json!(1));
        meta.insert("buffer_window".into(), json!(window));
        // Brume's addition: why the stream cuts or evicts unusually (empty: normal).
        meta.insert("live_notes".into(), json!(notes));
    }
    let has_video = tracks.iter().any(|t| t.kind() == TrackKind::Video);
    // MistServer's sizes for streams without a picture: a box, or a bar for audio.
    let (width, height) = match (width, height) {
        (w, h) if w > 0 && h > 0 => (w, h),
        _ if has_video => (640, 480),
        _ => (640, 20),
    };
    let mut doc = json!({
        "type": kind,
        "width": width,
        "height": height,
        "selver": 2,
        // MistServer's `ssl` says the server can do TLS and WebSocket handshakes
        // (it is built with its TLS library); its MEWS wrapper refuses every
        // `ws/` source when it is false. Brume always can.
        "capa": {"selver": 2, "ssl": true},
        "meta": Value::Object(meta),
        "source": sources(name, &tracks, bases, rtmp_port),
    });
    if let (Some(offset), Value::Object(fields)) = (unixoffset, &mut doc) {
        fields.insert("unixoffset".into(), json!(offset));
    }
    doc
}

/// `meta.tracks`, and the largest picture among them.
fn meta_tracks(tracks: &[Track], figures: &[TrackFigures]) -> (Map<String, Value>, u32, u32) {
    let mut meta_tracks = Map::new();
    let (mut width, mut height) = (0u32, 0u32);
    for (idx, (track, fig)) in tracks.iter().zip(figures).enumerate() {
        let mut entry = Map::new();
        entry.insert("codec".into(), json!(track.codec.mist_name()));
        entry.insert("codecstring".into(), json!(track.codec_string));
        entry.insert("idx".into(), json!(idx + 1));
        entry.insert("trackid".into(), json!(track.id));
        entry.insert("init".into(), json!(bytes_as_string(&track.init)));
        entry.insert("firstms".into(), json!(fig.first_ms));
        entry.insert("lastms".into(), json!(fig.last_ms));
        entry.insert("bps".into(), json!(fig.bps));
        entry.insert("maxbps".into(), json!(fig.bps));
        let key = match (track.kind(), track.video, track.audio) {
            (TrackKind::Video, Some(v), _) => {
                entry.insert("type".into(), json!("video"));
                entry.insert("width".into(), json!(v.width));
                entry.insert("height".into(), json!(v.height));
                entry.insert("fpks".into(), json!(fig.fpks));
                if u64::from(v.width) * u64::from(v.height) > u64::from(width) * u64::from(height) {
                    width = v.width;
                    height = v.height;
                }
                format!(
                    "video_{}_{}x{}_{}fps_{}",
                    track.codec.mist_name(),
                    v.width,
                    v.height,
                    (fig.fpks + 500) / 1000,
                    idx + 1
                )
            }
            (TrackKind::Audio, _, Some(a)) => {
                entry.insert("type".into(), json!("audio"));
                entry.insert("rate".into(), json!(a.sample_rate));
                entry.insert("size".into(), json!(a.sample_size));
                entry.insert("channels".into(), json!(a.channels));
                format!(
                    "audio_{}_{}ch_{}hz_{}",
                    track.codec.mist_name(),
                    a.channels,
                    a.sample_rate,
                    idx + 1
                )
            }
            (kind, _, _) => {
                let kind = if kind == TrackKind::Video {
                    "video"
                } else {
                    "audio"
                };
                entry.insert("type".into(), json!(kind));
                format!("{}_{}", track.codec.mist_name(), idx + 1)
            }
        };
        meta_tracks.insert(key, Value::Object(entry));
    }
    (meta_tracks, width, height)
}

/// `simul_tracks` (how many track kinds the output can carry at once) and
/// `total_matches` (how many tracks it can carry), as MistServer counts them.
fn matches(output: &Output, tracks: &[Track]) -> (usize, usize) {
    let video = tracks
        .iter()
        .filter(|t| t.kind() == TrackKind::Video && output.video.contains(&t.codec))
        .count();
    let audio = tracks
        .iter()
        .filter(|t| t.kind() == TrackKind::Audio && output.audio.contains(&t.codec))
        .count();
    (
        usize::from(video > 0) + usize::from(audio > 0),
        video + audio,
    )
}

/// The `source` list: every output able to carry a track, under every base.
fn sources(name: &str, tracks: &[Track], bases: &[PublicBase], rtmp_port: u16) -> Vec<Value> {
    let encoded = percent_encode(name);
    // (simul, priority, output index, base index, entry)
    let mut entries: Vec<(usize, u32, usize, usize, Value)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (out_idx, output) in OUTPUTS.iter().enumerate() {
        let (simul, total) = matches(output, tracks);
        if total == 0 {
            continue;
        }
        let relurl = output.relurl.replace('$', &encoded);
        for (base_idx, base) in bases.iter().enumerate() {
            let url = match output.transport {
                Transport::Http => base.url(&relurl),
                Transport::WebSocket => base.ws_url(&relurl),
                Transport::Rtmp => base.rtmp_url(&relurl, rtmp_port),
            };
            if seen.contains(&url) {
                continue;
            }
            seen.push(url.clone());
            let entry = json!({
                "type": output.kind,
                "hrn": output.hrn,
                "priority": output.priority,
                "simul_tracks": simul,
                "total_matches": total,
                "relurl": relurl,
                "url": url,
            });
            entries.push((simul, output.priority, out_idx, base_idx, entry));
        }
    }
    entries.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(b.1.cmp(&a.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    entries.into_iter().map(|e| e.4).collect()
}

pub fn error_doc(message: &str) -> Value {
    json!({ "error": message })
}

fn estimate_fpks(track: &Track, frames: usize, first_ms: i64, last_ms: i64) -> u64 {
    if track.kind() != TrackKind::Video || frames < 2 || last_ms <= first_ms {
        return 0;
    }
    (frames as u64 - 1) * 1_000_000 / (last_ms - first_ms) as u64
}

/// MistServer puts binary init data in JSON as a string of code points 0..=255.
fn bytes_as_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::failure::{FailureKind, StreamFailure};
    use brume_media::{AudioInfo, VideoInfo};

    fn base(text: &str) -> PublicBase {
        PublicBase::parse(text, None).unwrap()
    }

    fn track(id: u32, codec: Codec) -> Track {
        let video = (codec.kind() == TrackKind::Video).then_some(VideoInfo {
            width: 640,
            height: 360,
        });
        let audio = (codec.kind() == TrackKind::Audio).then_some(AudioInfo {
            sample_rate: 48_000,
            channels: 2,
            sample_size: 16,
        });
        Track {
            id,
            codec,
            timescale: 90_000,
            init: Bytes::new(),
            codec_string: String::new(),
            video,
            audio,
        }
    }

    #[test]
    fn offline_and_failed_streams_give_error_documents() {
        let bases = [base("http://h/")];
        assert_eq!(
            stream_info("x", &StreamState::Offline, &bases, 1935),
            json!({"error": "Stream is offline"})
        );
        assert_eq!(
            stream_info("x", &StreamState::Starting, &bases, 1935),
            json!({"error": "Stream is initializing"})
        );
        assert_eq!(
            stream_info(
                "x",
                &StreamState::Error(StreamFailure::new(
                    FailureKind::NotMedia,
                    "/etc/passwd: it starts with \"root:x\""
                )),
                &bases,
                1935
            ),
            json!({"error": "the source is not a media file"})
        );
    }

    #[test]
    fn sources_are_listed_per_base_and_sorted() {
        let tracks = [track(1, Codec::H264), track(2, Codec::Aac)];
        let bases = [base("http://a.example/m/"), base("https://b.example/m/")];
        let list = sources("my cam", &tracks, &bases, 1935);
        let kinds: Vec<&str> = list.iter().map(|s| s["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "ws/video/mp4",
                "ws/video/mp4",
                "html5/application/vnd.apple.mpegurl",
                "html5/application/vnd.apple.mpegurl",
                "html5/application/vnd.apple.mpegurl;version=7",
                "html5/application/vnd.apple.mpegurl;version=7",
                "dash/video/mp4",
                "dash/video/mp4",
                "html5/video/mp4",
                "html5/video/mp4",
                "flash/10",
                "flash/10",
                "flash/7",
                "flash/7",
                "html5/video/mp2t",
                "html5/video/mp2t",
            ]
        );
        assert_eq!(list[0]["url"], "ws://a.example/m/my%20cam.mp4");
        assert_eq!(list[1]["url"], "wss://b.example/m/my%20cam.mp4");
        assert_eq!(list[0]["relurl"], "my%20cam.mp4");
        assert_eq!(
            list[3]["url"],
            "https://b.example/m/hls/my%20cam/index.m3u8"
        );
        assert_eq!(list[10]["url"], "rtmp://a.example/play/my%20cam");
        assert_eq!(list[11]["url"], "rtmp://b.example/play/my%20cam");
        assert!(list
            .iter()
            .all(|s| s["simul_tracks"] == 2 && s["total_matches"] == 2));
    }

    #[test]
    fn outputs_that_cannot_carry_a_codec_rank_lower_or_vanish() {
        // HEVC video: FLV and RTMP carry only the audio.
        let tracks = [track(1, Codec::H265), track(2, Codec::Aac)];
        let list = sources("s", &tracks, &[base("http://h/")], 1935);
        let last: Vec<&str> = list[list.len() - 2..]
            .iter()
            .map(|s| s["type"].as_str().unwrap())
            .collect();
        assert_eq!(last, ["flash/10", "flash/7"]);
        assert_eq!(list[list.len() - 1]["simul_tracks"], 1);
        // Video only, HEVC: no FLV or RTMP at all.
        let list = sources("s", &[track(1, Codec::H265)], &[base("http://h/")], 1935);
        assert!(list
            .iter()
            .all(|s| s["type"] != "flash/7" && s["type"] != "flash/10"));
    }

    #[test]
    fn rtmp_under_two_bases_of_one_host_is_listed_once() {
        let tracks = [track(1, Codec::H264)];
        let bases = [base("http://h:8080/"), base("https://h:4433/")];
        let list = sources("s", &tracks, &bases, 1936);
        let rtmp: Vec<&Value> = list.iter().filter(|s| s["type"] == "flash/10").collect();
        assert_eq!(rtmp.len(), 1);
        assert_eq!(rtmp[0]["url"], "rtmp://h:1936/play/s");
    }

    #[test]
    fn script_flavor_is_a_safe_assignment() {
        let doc = json!({"error": "</script><script>alert(1)</script>\u{2028}é\u{1f600}"});
        let text = script("a'b</script>", &doc);
        assert!(text.starts_with(
            "if (!mistvideo){var mistvideo = {};} mistvideo['a\\u0027b\\u003c/script\\u003e'] = {"
        ));
        assert!(!text.contains("</script>"));
        assert!(text.is_ascii());
        let json_part = text
            .split_once("] = ")
            .unwrap()
            .1
            .trim_end()
            .trim_end_matches(';');
        let back: Value = serde_json::from_str(json_part).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn binary_init_survives_json() {
        let text = serde_json::to_string(&json!(bytes_as_string(&[0, 1, 0x64, 0xff]))).unwrap();
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.chars().map(|c| c as u32).collect::<Vec<_>>(),
            vec![0, 1, 0x64, 0xff]
        );
    }
}
