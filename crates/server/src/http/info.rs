//! The stream info document (`/json_S.js`), in MistServer's format.
//!
//! `type`, `width`/`height` (largest video track), `meta.tracks` keyed the way
//! MistServer keys them (`video_H264_640x360_30fps_1`), and a `source` list of the
//! outputs this server offers for the stream, with relative and absolute URLs.

use serde_json::{json, Map, Value};

use brume_media::index::tracks_of;
use brume_media::{scale_ticks, Track, TrackKind};

use super::router::percent_encode;
use crate::stream::StreamState;

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

/// The base every absolute URL is built on: scheme, host[:port], path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBase {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Host and port as they go in a URL (`example.com`, `example.com:8080`).
    pub authority: String,
    /// Path prefix ending in `/`.
    pub path: String,
}

impl PublicBase {
    pub fn url(&self, relative: &str) -> String {
        format!(
            "{}://{}{}{}",
            self.scheme, self.authority, self.path, relative
        )
    }

    pub fn ws_url(&self, relative: &str) -> String {
        let scheme = if self.scheme == "https" { "wss" } else { "ws" };
        format!("{}://{}{}{}", scheme, self.authority, self.path, relative)
    }
}

/// The document for a stream in `state`, or `None` if it has no document
/// (the caller answers with an error document).
pub fn stream_info(name: &str, state: &StreamState, base: &PublicBase) -> Value {
    let (kind, tracks, figures, live_window) = match state {
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
            ("live", tracks, figures, Some(window))
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
            ("vod", tracks, figures, None)
        }
        StreamState::Starting => return error_doc("Stream is initializing"),
        StreamState::Offline => return error_doc("Stream is offline"),
        StreamState::Error(reason) => return error_doc(reason),
    };

    let mut meta_tracks = Map::new();
    let (mut width, mut height) = (0u32, 0u32);
    for (idx, (track, fig)) in tracks.iter().zip(&figures).enumerate() {
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
                entry.insert(
                    "type".into(),
                    json!(if kind == TrackKind::Video {
                        "video"
                    } else {
                        "audio"
                    }),
                );
                format!("{}_{}", track.codec.mist_name(), idx + 1)
            }
        };
        meta_tracks.insert(key, Value::Object(entry));
    }

    let mut meta = Map::new();
    meta.insert("tracks".into(), Value::Object(meta_tracks));
    if let Some(window) = live_window {
        meta.insert("live".into(), json!(1));
        meta.insert("buffer_window".into(), json!(window));
    }
    let simul = tracks.len().min(2);
    let encoded = percent_encode(name);
    let mp4 = format!("{encoded}.mp4");
    let sources = vec![json!({
        "type": "html5/video/mp4",
        "hrn": "MP4 progressive",
        "priority": 7,
        "simul_tracks": simul,
        "total_matches": simul,
        "relurl": mp4,
        "url": base.url(&mp4),
    })];
    json!({
        "type": kind,
        "width": width,
        "height": height,
        "selver": 2,
        "capa": {"selver": 2, "ssl": base.scheme == "https"},
        "meta": Value::Object(meta),
        "source": sources,
    })
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

    #[test]
    fn urls_join_scheme_authority_prefix() {
        let base = PublicBase {
            scheme: "https",
            authority: "example.com".into(),
            path: "/mistserver/".into(),
        };
        assert_eq!(
            base.url("demo.mp4"),
            "https://example.com/mistserver/demo.mp4"
        );
        assert_eq!(
            base.ws_url("demo.mp4"),
            "wss://example.com/mistserver/demo.mp4"
        );
    }

    #[test]
    fn offline_and_failed_streams_give_error_documents() {
        let base = PublicBase {
            scheme: "http",
            authority: "h".into(),
            path: "/".into(),
        };
        assert_eq!(
            stream_info("x", &StreamState::Offline, &base),
            json!({"error": "Stream is offline"})
        );
        assert_eq!(
            stream_info("x", &StreamState::Error("bad file".into()), &base),
            json!({"error": "bad file"})
        );
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
