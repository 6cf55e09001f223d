//! Playlists and manifests: HLS (TS and fMP4) and DASH, rendered from a stream's
//! segment list by the typed renderers of [`brume_media::playlist`]. URLs inside
//! are relative, so the documents work under any proxy prefix.
//!
//! Each document is rendered once per version of the segment list (the live MPD
//! also at most twice a second, for its clock times) and kept with its ETag in
//! the stream's [`DocumentCache`](crate::stream::cache::DocumentCache); a request
//! is a lookup. Documents are `no-cache`: clients revalidate with `If-None-Match`.

use brume_media::playlist::dash::{
    self, AdaptationSet, AudioAttributes, ContentType, Mpd, Presentation, Representation,
    SegmentTemplate, TimelineEntry, UtcTiming, VideoAttributes,
};
use brume_media::playlist::hls::{
    self, AudioRendition, MasterPlaylist, MediaPlaylist, MediaSegment, PlaylistType, SegmentUri,
    Variant,
};
use brume_media::playlist::{PlaylistError, MAX_SEGMENTS};
use brume_media::{Track, TrackKind};
use bytes::Bytes;
use http::header::HeaderMap;
use http::{Response, StatusCode};

use super::body::Body;
use super::response::{tagged_document, text};
use crate::stream::cache::{DocumentKind, Stamp};
use crate::stream::media::{Media, SegmentRef};

pub(super) const HLS_TYPE: &str = "application/vnd.apple.mpegurl";
const DASH_TYPE: &str = "application/dash+xml";
/// How long one rendering of the live MPD is served (its `publishTime` and
/// `UTCTiming` clock must stay close to the server's clock).
const LIVE_MPD_MAX_AGE_MS: i64 = 500;

/// Why a document was not rendered.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the stream has no track a playlist can list")]
    NoTracks,
    #[error(transparent)]
    Playlist(#[from] PlaylistError),
}

/// Serves document `kind` of `media`, rendering it only when the held rendering
/// is older than `stamp`.
pub(super) fn serve(
    headers: &HeaderMap,
    media: &Media,
    kind: DocumentKind,
    content_type: &'static str,
    tick: u64,
    render: impl FnOnce() -> Result<String, DocumentError>,
) -> Response<Body> {
    let stamp = Stamp {
        version: media.version(),
        tick,
    };
    let rendered = media
        .cache()
        .documents()
        .get_or_render(kind, "", stamp, || render().map(Bytes::from));
    match rendered {
        Ok(doc) => tagged_document(headers, &doc, content_type),
        Err(error) => {
            tracing::warn!(%error, ?kind, "document not rendered");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "document could not be rendered\n",
            )
        }
    }
}

/// Peak bits per second of all tracks together, with 10% headroom.
fn total_bandwidth(media: &Media) -> u64 {
    media.track_bitrates().iter().sum::<u64>() * 11 / 10
}

fn codecs<'a>(tracks: impl IntoIterator<Item = &'a Track>) -> String {
    tracks
        .into_iter()
        .map(|t| t.codec_string.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The newest segments, at most as many as one document may list.
pub(super) fn listed(segments: &[SegmentRef]) -> &[SegmentRef] {
    let skipped = segments.len().saturating_sub(MAX_SEGMENTS);
    &segments[skipped..]
}

pub(super) fn duration_ms(s: &SegmentRef) -> u64 {
    u64::try_from(s.end_ms.saturating_sub(s.start_ms)).unwrap_or(0)
}

/// `/hls/S/index.m3u8`: one variant holding every track.
pub fn hls_master(headers: &HeaderMap, media: &Media) -> Response<Body> {
    serve(headers, media, DocumentKind::HlsMaster, HLS_TYPE, 0, || {
        let tracks = media.tracks();
        let codecs = codecs(tracks);
        let variant = Variant {
            uri: "media.m3u8",
            bandwidth: total_bandwidth(media),
            average_bandwidth: None,
            codecs: &codecs,
            resolution: tracks
                .iter()
                .find_map(|t| t.video.map(|v| (v.width, v.height))),
            frame_rate: None,
            audio_group: None,
        };
        Ok(hls::master_playlist(&MasterPlaylist {
            min_version: 3,
            independent_segments: true,
            audio: &[],
            variants: &[variant],
        })?)
    })
}

/// `/hls/S/media.m3u8`: TS segments.
pub fn hls_media(headers: &HeaderMap, media: &Media) -> Response<Body> {
    serve(headers, media, DocumentKind::HlsMedia, HLS_TYPE, 0, || {
        media_playlist(media, 3, None, "", ".ts")
    })
}

/// `/cmaf/S/T.m3u8` of an on-demand stream: fMP4 segments of track T (live
/// streams get the Low-Latency playlist of [`super::ll_hls`]).
pub(super) fn cmaf_vod_media(headers: &HeaderMap, media: &Media, track: u32) -> Response<Body> {
    let kind = DocumentKind::CmafMedia(track);
    serve(headers, media, kind, HLS_TYPE, 0, || {
        let map = format!("{track}/init.mp4");
        let prefix = format!("{track}/");
        media_playlist(media, 7, Some(&map), &prefix, ".m4s")
    })
}

/// A media playlist of every listed segment, named `{prefix}{sequence}{suffix}`.
fn media_playlist(
    media: &Media,
    version: u8,
    map_uri: Option<&str>,
    prefix: &str,
    suffix: &str,
) -> Result<String, DocumentError> {
    let all = media.segments();
    let segments = listed(&all);
    let entries: Vec<MediaSegment<'_>> = segments
        .iter()
        .map(|s| {
            let uri = SegmentUri::Numbered {
                prefix,
                number: s.sequence,
                suffix,
            };
            MediaSegment::new(uri, duration_ms(s))
        })
        .collect();
    let ended = !media.is_live();
    Ok(hls::media_playlist(&MediaPlaylist {
        min_version: version,
        min_target_duration_secs: 0,
        media_sequence: segments.first().map_or(0, |s| s.sequence),
        discontinuity_sequence: 0,
        playlist_type: if ended {
            PlaylistType::Vod
        } else {
            PlaylistType::Live
        },
        ended,
        independent_segments: true,
        map_uri,
        segments: &entries,
    })?)
}

/// `/cmaf/S/index.m3u8`: the video track as the variant, audio as a rendition.
pub fn cmaf_master(headers: &HeaderMap, media: &Media) -> Response<Body> {
    serve(
        headers,
        media,
        DocumentKind::CmafMaster,
        HLS_TYPE,
        0,
        || {
            let tracks = media.tracks();
            let video = tracks.iter().find(|t| t.kind() == TrackKind::Video);
            let audio = tracks.iter().find(|t| t.kind() == TrackKind::Audio);
            let bandwidth = total_bandwidth(media);
            let audio_uri = audio.map(|a| format!("{}.m3u8", a.id));
            let (variant_track, renditions) = match (video, audio) {
                (Some(video), Some(_)) => (
                    video,
                    vec![AudioRendition {
                        group_id: "audio",
                        name: "audio",
                        language: None,
                        uri: audio_uri.as_deref(),
                        default: true,
                        autoselect: true,
                        channels: None,
                    }],
                ),
                (Some(video), None) => (video, Vec::new()),
                (None, Some(audio)) => (audio, Vec::new()),
                (None, None) => return Err(DocumentError::NoTracks),
            };
            let used = std::iter::once(variant_track).chain(if renditions.is_empty() {
                None
            } else {
                audio
            });
            let codecs = codecs(used);
            let uri = format!("{}.m3u8", variant_track.id);
            let variant = Variant {
                uri: &uri,
                bandwidth,
                average_bandwidth: None,
                codecs: &codecs,
                resolution: variant_track.video.map(|v| (v.width, v.height)),
                frame_rate: None,
                audio_group: (!renditions.is_empty()).then_some("audio"),
            };
            Ok(hls::master_playlist(&MasterPlaylist {
                min_version: 7,
                independent_segments: true,
                audio: &renditions,
                variants: &[variant],
            })?)
        },
    )
}

/// `/cmaf/S/index.mpd`: one adaptation set per track, timelines in milliseconds.
pub fn dash(headers: &HeaderMap, media: &Media) -> Response<Body> {
    let now = crate::util::unix_ms();
    let tick = if media.is_live() {
        u64::try_from(now / LIVE_MPD_MAX_AGE_MS).unwrap_or(0)
    } else {
        0
    };
    serve(headers, media, DocumentKind::Mpd, DASH_TYPE, tick, || {
        render_mpd(media, now)
    })
}

fn render_mpd(media: &Media, now: i64) -> Result<String, DocumentError> {
    let all = media.segments();
    let segments = listed(&all);
    let tracks = media.tracks();
    let rates = media.track_bitrates();
    let max_segment = segments
        .iter()
        .map(duration_ms)
        .max()
        .unwrap_or(2000)
        .max(1);
    let presentation = if media.is_live() {
        let window = match (segments.first(), segments.last()) {
            (Some(a), Some(b)) => u64::try_from(b.end_ms - a.start_ms).unwrap_or(0),
            _ => 0,
        };
        Presentation::Dynamic {
            availability_start_ms: media.epoch_unix_ms().unwrap_or(now),
            publish_ms: now,
            min_update_period_ms: max_segment / 2,
            time_shift_buffer_ms: Some(window),
            suggested_delay_ms: Some(max_segment * 3),
        }
    } else {
        Presentation::Static {
            duration_ms: segments
                .last()
                .map_or(0, |s| u64::try_from(s.end_ms).unwrap_or(0)),
        }
    };
    let timeline: Vec<TimelineEntry> = segments
        .iter()
        .map(|s| TimelineEntry {
            start: u64::try_from(s.start_ms).unwrap_or(0),
            duration: duration_ms(s),
        })
        .collect();
    let ids: Vec<String> = tracks.iter().map(|t| t.id.to_string()).collect();
    let representations: Vec<Representation<'_>> = tracks
        .iter()
        .zip(&ids)
        .zip(&rates)
        .map(|((track, id), &bandwidth)| Representation {
            id,
            codecs: &track.codec_string,
            bandwidth,
            video: track.video.map(|v| VideoAttributes {
                width: v.width,
                height: v.height,
                frame_rate: None,
            }),
            audio: track.audio.map(|a| AudioAttributes {
                sample_rate: a.sample_rate,
                channels: a.channels,
            }),
        })
        .collect();
    let sets: Vec<AdaptationSet<'_>> = tracks
        .iter()
        .zip(&representations)
        .map(|(track, representation)| {
            let (content_type, mime_type) = match track.kind() {
                TrackKind::Video => (ContentType::Video, "video/mp4"),
                TrackKind::Audio => (ContentType::Audio, "audio/mp4"),
            };
            AdaptationSet {
                id: track.id,
                content_type,
                mime_type,
                lang: None,
                segments: SegmentTemplate {
                    timescale: 1000,
                    initialization: "$RepresentationID$/init.mp4",
                    media: "$RepresentationID$/$Number$.m4s",
                    start_number: segments.first().map_or(0, |s| s.sequence),
                    presentation_time_offset: 0,
                    timeline: &timeline,
                },
                representations: std::slice::from_ref(representation),
            }
        })
        .collect();
    Ok(dash::render_mpd(&Mpd {
        presentation,
        min_buffer_ms: max_segment * 2,
        adaptation_sets: &sets,
        utc_timing: media.is_live().then_some(UtcTiming::Direct { now_ms: now }),
    })?)
}
