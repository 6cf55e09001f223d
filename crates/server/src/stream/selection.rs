//! Which of a stream's tracks one viewer receives.
//!
//! A [`Selection`] is the tracks a viewer gets (in stream order) and where each
//! of the stream's tracks went. It is decided from MistServer's selectors
//! (`?video=` / `?audio=` on progressive URLs, the MEWS `tracks` command), or from
//! the codecs a player can decode (MEWS `request_codec_data`).

use brume_media::mp4::fmp4;
use brume_media::{Codec, Track, TrackKind};

/// Most track ids one selector may list.
const MAX_SELECTOR_IDS: usize = 64;

/// A selector value that is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("{kind}={value}: expected none, all, maxbps, minbps or track ids")]
    Malformed { kind: &'static str, value: String },
    #[error("{kind}={id}: the stream has no {kind} track {id}")]
    NoSuchTrack { kind: &'static str, id: u32 },
    #[error("the selectors leave no track to send")]
    Empty,
}

/// One selector (`video=` or `audio=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    All,
    None,
    /// The track of this kind with the highest (true) or lowest bitrate.
    Bitrate {
        highest: bool,
    },
    Ids(Vec<u32>),
}

impl Selector {
    /// Parses MistServer's selector syntax: `none`, `all` (or `*`), `maxbps`,
    /// `minbps`, or track ids separated by commas.
    pub fn parse(kind: &'static str, value: &str) -> Result<Selector, SelectorError> {
        let malformed = || SelectorError::Malformed {
            kind,
            value: value.chars().take(40).collect(),
        };
        let value = value.trim();
        match value.to_ascii_lowercase().as_str() {
            "" | "all" | "*" => return Ok(Selector::All),
            "none" | "0" | "-1" => return Ok(Selector::None),
            "maxbps" => return Ok(Selector::Bitrate { highest: true }),
            "minbps" => return Ok(Selector::Bitrate { highest: false }),
            _ => {}
        }
        let ids: Vec<u32> = value
            .split(',')
            .take(MAX_SELECTOR_IDS + 1)
            .map(|id| id.trim().parse::<u32>().map_err(|_| malformed()))
            .collect::<Result<_, _>>()?;
        if ids.len() > MAX_SELECTOR_IDS {
            return Err(malformed());
        }
        Ok(Selector::Ids(ids))
    }

    fn picks(
        &self,
        kind: &'static str,
        tracks: &[Track],
        of_kind: TrackKind,
        bitrates: &[u64],
    ) -> Result<Vec<u32>, SelectorError> {
        let candidates = || {
            tracks
                .iter()
                .enumerate()
                .filter(move |(_, t)| t.kind() == of_kind)
        };
        match self {
            Selector::All => Ok(candidates().map(|(_, t)| t.id).collect()),
            Selector::None => Ok(Vec::new()),
            Selector::Bitrate { highest } => {
                let rate = |i: usize| bitrates.get(i).copied().unwrap_or(0);
                let best = if *highest {
                    candidates().max_by_key(|(i, _)| rate(*i))
                } else {
                    candidates().min_by_key(|(i, _)| rate(*i))
                };
                Ok(best.map(|(_, t)| t.id).into_iter().collect())
            }
            Selector::Ids(ids) => {
                for &id in ids {
                    if !candidates().any(|(_, t)| t.id == id) {
                        return Err(SelectorError::NoSuchTrack { kind, id });
                    }
                }
                Ok(ids.clone())
            }
        }
    }
}

/// The tracks one viewer receives, and where each of the stream's tracks went.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The selected tracks, in stream order.
    pub tracks: Vec<Track>,
    /// For each track of the stream (by position): its position among `tracks`.
    map: Vec<Option<usize>>,
}

impl Selection {
    /// Every track of the stream.
    pub fn all(tracks: &[Track]) -> Selection {
        Selection {
            tracks: tracks.to_vec(),
            map: (0..tracks.len()).map(Some).collect(),
        }
    }

    /// The tracks for which `keep` says yes.
    fn keeping(tracks: &[Track], keep: impl Fn(&Track) -> bool) -> Selection {
        let mut selected = Vec::new();
        let mut map = Vec::with_capacity(tracks.len());
        for track in tracks {
            if keep(track) {
                map.push(Some(selected.len()));
                selected.push(track.clone());
            } else {
                map.push(None);
            }
        }
        Selection {
            tracks: selected,
            map,
        }
    }

    /// The tracks whose codec family is named in `supported` (MistServer's codec
    /// names, as the player sends them: `H264`, `HEVC`, `AAC`; a few aliases too).
    pub fn supported(tracks: &[Track], supported: &[String]) -> Selection {
        let families: Vec<Codec> = supported.iter().filter_map(|n| codec_family(n)).collect();
        Selection::keeping(tracks, |t| families.contains(&t.codec))
    }

    /// The tracks MistServer's `video=` / `audio=` selectors pick (`None`: every
    /// track of that kind). `bitrates` are per stream track, for `maxbps`/`minbps`.
    pub fn from_selectors(
        tracks: &[Track],
        video: Option<&Selector>,
        audio: Option<&Selector>,
        bitrates: &[u64],
    ) -> Result<Selection, SelectorError> {
        let video =
            video
                .unwrap_or(&Selector::All)
                .picks("video", tracks, TrackKind::Video, bitrates)?;
        let audio =
            audio
                .unwrap_or(&Selector::All)
                .picks("audio", tracks, TrackKind::Audio, bitrates)?;
        let selection =
            Selection::keeping(tracks, |t| video.contains(&t.id) || audio.contains(&t.id));
        if selection.is_empty() {
            return Err(SelectorError::Empty);
        }
        Ok(selection)
    }

    /// The tracks both selections carry (`tracks`: the stream's).
    pub fn and(&self, other: &Selection, tracks: &[Track]) -> Selection {
        let (mine, theirs) = (self.ids(), other.ids());
        Selection::keeping(tracks, |t| mine.contains(&t.id) && theirs.contains(&t.id))
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Whether every track of the stream is selected.
    pub fn is_all(&self) -> bool {
        self.map.iter().all(Option::is_some)
    }

    /// Whether a video track is selected.
    pub fn has_video(&self) -> bool {
        self.tracks.iter().any(|t| t.kind() == TrackKind::Video)
    }

    /// RFC 6381 codec strings of the selected tracks (`avc1.64001e`, `mp4a.40.2`).
    pub fn codecs(&self) -> Vec<String> {
        self.tracks.iter().map(fmp4::track_codec_string).collect()
    }

    /// Track ids of the selected tracks.
    pub fn ids(&self) -> Vec<u32> {
        self.tracks.iter().map(|t| t.id).collect()
    }

    /// A stream track position's position in the selection.
    pub fn position(&self, stream_position: usize) -> Option<usize> {
        self.map.get(stream_position).copied().flatten()
    }
}

/// The codec a player's codec name stands for.
fn codec_family(name: &str) -> Option<Codec> {
    let name = name.trim().to_ascii_uppercase();
    match name.as_str() {
        "H264" | "AVC" | "AVC1" | "AVC3" => Some(Codec::H264),
        "HEVC" | "H265" | "HEV1" | "HVC1" => Some(Codec::H265),
        "AAC" | "MP4A" => Some(Codec::Aac),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brume_media::{AudioInfo, VideoInfo};
    use bytes::Bytes;

    fn track(id: u32, codec: Codec) -> Track {
        Track {
            id,
            codec,
            timescale: 1000,
            init: Bytes::new(),
            codec_string: String::new(),
            video: (codec.kind() == TrackKind::Video).then_some(VideoInfo {
                width: 16,
                height: 16,
            }),
            audio: (codec.kind() == TrackKind::Audio).then_some(AudioInfo {
                sample_rate: 48_000,
                channels: 2,
                sample_size: 16,
            }),
        }
    }

    #[test]
    fn selectors_pick_tracks_like_mistserver() {
        let tracks = [
            track(1, Codec::H264),
            track(2, Codec::Aac),
            track(3, Codec::Aac),
        ];
        let pick = |v: &str, a: &str| {
            let v = Selector::parse("video", v).unwrap();
            let a = Selector::parse("audio", a).unwrap();
            Selection::from_selectors(&tracks, Some(&v), Some(&a), &[900, 100, 200])
                .map(|s| s.ids())
        };
        assert_eq!(pick("all", "none"), Ok(vec![1]));
        assert_eq!(pick("none", "3"), Ok(vec![3]));
        assert_eq!(pick("1", "2,3"), Ok(vec![1, 2, 3]));
        assert_eq!(pick("none", "maxbps"), Ok(vec![3]));
        assert_eq!(pick("none", "minbps"), Ok(vec![2]));
        assert_eq!(pick("none", "none"), Err(SelectorError::Empty));
        assert_eq!(
            pick("2", "all"),
            Err(SelectorError::NoSuchTrack {
                kind: "video",
                id: 2
            })
        );
        assert!(Selector::parse("video", "1;2").is_err());
        let sel = Selection::from_selectors(&tracks, None, None, &[]).unwrap();
        assert!(sel.is_all());
        let audio = pick("none", "3").unwrap();
        assert_eq!(audio, [3]);
    }

    #[test]
    fn selection_follows_the_players_codec_names() {
        let tracks = [track(1, Codec::H265), track(2, Codec::Aac)];
        let all = Selection::all(&tracks);
        assert!(all.is_all());
        assert_eq!(all.ids(), [1, 2]);
        let audio = Selection::supported(&tracks, &["AAC".into(), "H264".into()]);
        assert!(!audio.is_all());
        assert_eq!(audio.position(1), Some(0));
        assert_eq!(audio.position(0), None);
        assert!(!audio.has_video());
        assert!(Selection::supported(&tracks, &["VP9".into()]).is_empty());
        assert!(Selection::supported(&tracks, &["hevc".into(), "aac".into()]).is_all());
    }
}
