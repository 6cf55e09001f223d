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
use crate::stream::media::{Media, SegmentRef};

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

fn media_playlist(
    segments: &[SegmentRef],
    ended: bool,
    version: u8,
    map: Option<&str>,
    uri: impl Fn(u64) -> String,
) -> String {
    // EXT-X-TARGETDURATION: every EXTINF rounded up, so none exceeds it.
    let target = segments
        .iter()
        .map(|s| ((s.end_ms - s.start_ms).max(0) as u64).div_ceil(1000))
        .max()
        .unwrap_or(2)
        .max(1);
    let first = segments.first().map_or(0, |s| s.sequence);
    let mut out = String::with_capacity(128 + segments.len() * 32);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    );
    if ended {
        out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    }
    if let Some(map) = map {
        let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}\"");
    }
    for segment in segments {
        let _ = write!(
            out,
            "#EXTINF:{:.3},\n{}\n",
            segment.duration_secs(),
            uri(segment.sequence)
        );
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
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

/// `<S t d r>` entries, runs of equal durations folded into `r`.
fn write_timeline(out: &mut String, segments: &[SegmentRef]) {
    let mut i = 0;
    while i < segments.len() {
        let start = segments[i].start_ms;
        let duration = segments[i].end_ms - segments[i].start_ms;
        let mut repeat = 0;
        while let Some(next) = segments.get(i + repeat + 1) {
            let contiguous = next.start_ms == segments[i + repeat].end_ms;
            if !contiguous || next.end_ms - next.start_ms != duration {
                break;
            }
            repeat += 1;
        }
        if repeat > 0 {
            let _ = writeln!(
                out,
                "            <S t=\"{start}\" d=\"{duration}\" r=\"{repeat}\"/>"
            );
        } else {
            let _ = writeln!(out, "            <S t=\"{start}\" d=\"{duration}\"/>");
        }
        i += repeat + 1;
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// xs:duration of a millisecond count: `PT12.345S`.
pub fn iso_duration(ms: i64) -> String {
    let ms = ms.max(0);
    format!("PT{}.{:03}S", ms / 1000, ms % 1000)
}

/// xs:dateTime (UTC, milliseconds) of a Unix time in ms.
pub fn iso_datetime(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(iso_datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_datetime(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso_datetime(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(iso_duration(3_723_456), "PT3723.456S");
    }

    #[test]
    fn timelines_fold_equal_durations() {
        let seg = |sequence, start_ms, end_ms| SegmentRef {
            sequence,
            start_ms,
            end_ms,
        };
        let mut out = String::new();
        write_timeline(
            &mut out,
            &[seg(5, 0, 2000), seg(6, 2000, 4000), seg(7, 4000, 5500)],
        );
        assert_eq!(
            out,
            "            <S t=\"0\" d=\"2000\" r=\"1\"/>\n            <S t=\"4000\" d=\"1500\"/>\n"
        );
    }

    #[test]
    fn media_playlists_have_the_tags_players_need() {
        let seg = |sequence, start_ms, end_ms| SegmentRef {
            sequence,
            start_ms,
            end_ms,
        };
        let text = media_playlist(
            &[seg(3, 0, 2000), seg(4, 2000, 4600)],
            true,
            7,
            Some("1/init.mp4"),
            |s| format!("1/{s}.m4s"),
        );
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:3\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI=\"1/init.mp4\"\n\
             #EXTINF:2.000,\n1/3.m4s\n#EXTINF:2.600,\n1/4.m4s\n#EXT-X-ENDLIST\n"
        );
    }
}
