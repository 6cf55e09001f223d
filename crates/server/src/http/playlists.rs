//! Playlists and manifests: HLS (TS and fMP4) and DASH, rendered from a stream's
//! segment list. URLs inside are relative, so the documents work under any proxy
//! prefix. Documents are short-lived (`no-cache`).

use std::fmt::Write as _;

use brume_media::{Track, TrackKind};
use bytes::Bytes;
use http::Response;

use super::body::Body;
use super::response::{document, not_found};
use crate::stream::cache::Rendition;
use brume_media::playlist::{
    iso_datetime, iso_duration, media_playlist, write_timeline, xml_escape,
};

use crate::stream::media::Media;

const HLS_TYPE: &str = "application/vnd.apple.mpegurl";
const DASH_TYPE: &str = "application/dash+xml";

fn total_bandwidth(media: &Media) -> u64 {
    media.track_bitrates().iter().sum::<u64>() * 11 / 10
}

fn resolution(tracks: &[Track]) -> Option<(u32, u32)> {
    tracks
        .iter()
        .find_map(|t| t.video.map(|v| (v.width, v.height)))
}

fn codecs(tracks: &[Track]) -> String {
    tracks
        .iter()
        .map(|t| t.codec_string.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `/hls/S/index.m3u8`: one variant holding every track.
/// Serves a playlist rendered once per version of the segment list.
fn cached(
    media: &Media,
    rendition: Rendition,
    render: impl FnOnce() -> Option<String>,
) -> Response<Body> {
    let Some(version) = media.newest_sequence() else {
        // No complete segment yet: nothing worth caching.
        return match render() {
            Some(text) => document(text.into(), HLS_TYPE),
            None => not_found(),
        };
    };
    match media.cache().get_or_render(version, rendition, || {
        render().map(Bytes::from).ok_or_else(String::new)
    }) {
        Ok(bytes) => document(bytes, HLS_TYPE),
        Err(_) => not_found(),
    }
}

pub fn hls_master(media: &Media) -> Response<Body> {
    cached(media, Rendition::HlsMaster, || {
        Some(render_hls_master(media))
    })
}

fn render_hls_master(media: &Media) -> String {
    let tracks = media.tracks();
    let mut out = String::with_capacity(256);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = write!(
        out,
        "#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"",
        total_bandwidth(media),
        codecs(tracks)
    );
    if let Some((w, h)) = resolution(tracks) {
        let _ = write!(out, ",RESOLUTION={w}x{h}");
    }
    out.push_str("\nmedia.m3u8\n");
    out
}

/// `/hls/S/media.m3u8`: TS segments.
pub fn hls_media(media: &Media) -> Response<Body> {
    cached(media, Rendition::HlsMedia, || Some(render_hls_media(media)))
}

fn render_hls_media(media: &Media) -> String {
    let segments = media.segments();
    media_playlist(&segments, !media.is_live(), 3, None, |seq| {
        format!("{seq}.ts")
    })
}

/// `/cmaf/S/index.m3u8`: the video track as the variant, audio as a rendition.
pub fn cmaf_master(media: &Media) -> Response<Body> {
    cached(media, Rendition::CmafMaster, || render_cmaf_master(media))
}

fn render_cmaf_master(media: &Media) -> Option<String> {
    let tracks = media.tracks();
    let video = tracks.iter().find(|t| t.kind() == TrackKind::Video);
    let audio = tracks.iter().find(|t| t.kind() == TrackKind::Audio);
    let mut out = String::with_capacity(384);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    let bandwidth = total_bandwidth(media);
    match (video, audio) {
        (Some(video), audio) => {
            if let Some(audio) = audio {
                let _ = writeln!(
                    out,
                    "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,URI=\"{}.m3u8\"",
                    audio.id
                );
            }
            let used: Vec<Track> = std::iter::once(video.clone())
                .chain(audio.cloned())
                .collect();
            let _ = write!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"{}\"",
                codecs(&used)
            );
            if let Some(v) = video.video {
                let _ = write!(out, ",RESOLUTION={}x{}", v.width, v.height);
            }
            if audio.is_some() {
                out.push_str(",AUDIO=\"audio\"");
            }
            let _ = writeln!(out, "\n{}.m3u8", video.id);
        }
        (None, Some(audio)) => {
            let _ = writeln!(
                out,
                "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS=\"{}\"\n{}.m3u8",
                audio.codec_string, audio.id
            );
        }
        (None, None) => return None,
    }
    Some(out)
}

/// `/cmaf/S/T.m3u8`: fMP4 segments of track T.
pub fn cmaf_media(media: &Media, track: u32) -> Response<Body> {
    if !media.tracks().iter().any(|t| t.id == track) {
        return not_found();
    }
    cached(media, Rendition::CmafMedia(track), || {
        let segments = media.segments();
        let map = format!("{track}/init.mp4");
        Some(media_playlist(
            &segments,
            !media.is_live(),
            7,
            Some(&map),
            |seq| format!("{track}/{seq}.m4s"),
        ))
    })
}

/// `/cmaf/S/index.mpd`: one adaptation set per track, timelines in milliseconds.
pub fn dash(media: &Media) -> Response<Body> {
    let segments = media.segments();
    let tracks = media.tracks();
    let rates = media.track_bitrates();
    let now = crate::util::unix_ms();
    let mut out = String::with_capacity(1024 + segments.len() * 40 * tracks.len());
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"");
    let max_segment = segments
        .iter()
        .map(|s| s.end_ms - s.start_ms)
        .max()
        .unwrap_or(2000)
        .max(1);
    if media.is_live() {
        let epoch = media.epoch_unix_ms().unwrap_or(now);
        let window = match (segments.first(), segments.last()) {
            (Some(a), Some(b)) => b.end_ms - a.start_ms,
            _ => 0,
        };
        let _ = writeln!(
            out,
            " type=\"dynamic\" availabilityStartTime=\"{}\" publishTime=\"{}\" minimumUpdatePeriod=\"{}\" timeShiftBufferDepth=\"{}\" suggestedPresentationDelay=\"{}\" minBufferTime=\"{}\">",
            iso_datetime(epoch),
            iso_datetime(now),
            iso_duration(max_segment / 2),
            iso_duration(window),
            iso_duration(max_segment * 3),
            iso_duration(max_segment * 2),
        );
    } else {
        let duration = segments.last().map_or(0, |s| s.end_ms);
        let _ = writeln!(
            out,
            " type=\"static\" mediaPresentationDuration=\"{}\" minBufferTime=\"{}\">",
            iso_duration(duration),
            iso_duration(max_segment * 2),
        );
    }
    out.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
    let first = segments.first().map_or(0, |s| s.sequence);
    for (track, bps) in tracks.iter().zip(&rates) {
        let (content, mime) = match track.kind() {
            TrackKind::Video => ("video", "video/mp4"),
            TrackKind::Audio => ("audio", "audio/mp4"),
        };
        let _ = writeln!(
            out,
            "    <AdaptationSet id=\"{}\" contentType=\"{content}\" mimeType=\"{mime}\" segmentAlignment=\"true\" startWithSAP=\"1\">",
            track.id
        );
        let _ = write!(
            out,
            "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{bps}\"",
            track.id,
            xml_escape(&track.codec_string)
        );
        if let Some(v) = track.video {
            let _ = write!(out, " width=\"{}\" height=\"{}\"", v.width, v.height);
        }
        if let Some(a) = track.audio {
            let _ = write!(out, " audioSamplingRate=\"{}\"", a.sample_rate);
        }
        out.push_str(">\n");
        if let Some(a) = track.audio {
            let _ = writeln!(
                out,
                "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{}\"/>",
                a.channels
            );
        }
        let _ = writeln!(
            out,
            "        <SegmentTemplate timescale=\"1000\" initialization=\"$RepresentationID$/init.mp4\" media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"{first}\">"
        );
        out.push_str("          <SegmentTimeline>\n");
        write_timeline(&mut out, &segments);
        out.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n      </Representation>\n    </AdaptationSet>\n");
    }
    out.push_str("  </Period>\n");
    if media.is_live() {
        let _ = writeln!(
            out,
            "  <UTCTiming schemeIdUri=\"urn:mpeg:dash:utc:direct:2014\" value=\"{}\"/>",
            iso_datetime(now)
        );
    }
    out.push_str("</MPD>\n");
    document(out.into(), DASH_TYPE)
}
