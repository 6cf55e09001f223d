//! One WHIP publisher: a str0m [`Rtc`] in ICE-lite mode that receives H.264 and
//! Opus, driven by a task like a viewer's session, and feeding a push stream's
//! [`Publisher`].
//!
//! H.264 access units (Annex B from str0m) become length-prefixed frames; the
//! track (avcC) is made from the SPS and PPS the publisher sends in band, and
//! the stream goes online at the first keyframe after them. Opus becomes AAC
//! ([`crate::audio::opus_aac`]) so every output carries the audio. Timestamps
//! are milliseconds from the session's start: each track's RTP clock counts from
//! the arrival of its first packet. When the latest keyframe is older than
//! [`KEYFRAME_INTERVAL`] (browsers send keyframes only when asked) the publisher
//! is asked for one (PLI, at most once a second), which keeps segments short and
//! lets a new viewer start at a recent keyframe.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use brume_media::codec::h264::{annexb_nals, nal_type, AvcConfig};
use brume_media::{Codec, Frame, Track, VideoInfo};
use bytes::Bytes;
use str0m::format::Codec as RtcCodec;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::{Event, Rtc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::peer::{Negotiated, Peer, Polled, Registered};
use super::sdp::{offered_codecs, OfferError};
use super::session::Answer;
use super::{Datagram, WebRtc, CONNECT_TIMEOUT, CONSENT_TIMEOUT, MAX_SESSIONS};
use crate::audio::opus_aac::{AacFrame, OpusToAac, RATE};
use crate::stream::publish::Publisher;

/// A keyframe older than this makes the publisher be asked for a new one.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);
/// Keyframe requests sent at most this often.
const MIN_REQUEST_INTERVAL: Duration = Duration::from_secs(1);
/// Largest H.264 access unit accepted (bytes); larger ones are dropped.
const MAX_ACCESS_UNIT: usize = 4 * 1024 * 1024;
/// Track numbers of the stream made.
const VIDEO_TRACK: u32 = 1;
const AUDIO_TRACK: u32 = 2;

/// Why a WHIP offer gets no session.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Offer(#[from] OfferError),
    #[error("too many WebRTC sessions ({MAX_SESSIONS})")]
    Full,
    #[error("cannot set up the session: {0}")]
    Rtc(#[from] str0m::RtcError),
}

impl WebRtc {
    /// Answers a WHIP offer for the push stream `stream` (its slot already
    /// taken by `publisher`) from a client at `client`.
    pub fn ingest(
        &self,
        stream: &str,
        publisher: Publisher,
        offer: &str,
        client: IpAddr,
    ) -> Result<Answer, IngestError> {
        if self.session_count() >= MAX_SESSIONS {
            return Err(IngestError::Full);
        }
        let Negotiated {
            mut rtc,
            answer,
            ufrag,
            resource,
            now,
        } = self.negotiate(offer, client, None)?;
        let video =
            received_mid(&mut rtc, offer, MediaKind::Video, RtcCodec::H264).ok_or_else(|| {
                OfferError::NoCodec {
                    offered: offered_codecs(offer),
                    needed: "H.264 video",
                }
            })?;
        let audio = received_mid(&mut rtc, offer, MediaKind::Audio, RtcCodec::Opus);
        let Registered { key, queue, stop } = self
            .inner
            .register(stream, ufrag, &resource)
            .ok_or(IngestError::Full)?;
        let ingest = Ingest {
            peer: Peer::new(rtc, self.inner.clone(), now),
            publisher,
            video,
            audio,
            queue,
            stop,
            started: now,
            video_clock: None,
            audio_clock: None,
            parameter_sets: None,
            video_track: None,
            opus: None,
            aac: Vec::new(),
            last_keyframe: None,
            last_request: None,
            broken: false,
        };
        let span = tracing::info_span!("whip", stream, session = key, %client);
        let inner = self.inner.clone();
        tokio::spawn(
            async move {
                tracing::debug!("WHIP session waiting for ICE");
                let reason = ingest.run().await;
                inner.remove(key);
                tracing::info!(%reason, "WHIP session ended");
            }
            .instrument(span),
        );
        Ok(Answer {
            sdp: answer.to_sdp_string(),
            resource,
        })
    }
}

/// The first m-line of `kind` the answer accepted with `codec` among its payloads.
fn received_mid(rtc: &mut Rtc, offer: &str, kind: MediaKind, codec: RtcCodec) -> Option<Mid> {
    let section = match kind {
        MediaKind::Video => super::sdp::video_mids(offer),
        MediaKind::Audio => super::sdp::audio_mids(offer),
    };
    section.into_iter().map(Mid::from).find(|&mid| {
        rtc.media(mid)
            .is_some_and(|m| m.kind() == kind && !m.disabled())
            && rtc
                .writer(mid)
                .is_some_and(|w| w.payload_params().any(|p| p.spec().codec == codec))
    })
}

/// What an H.264 access unit (Annex B) holds besides its slices.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AccessUnit<'a> {
    /// Its last SPS and PPS NAL units, when it has them.
    pub sps: Option<&'a [u8]>,
    pub pps: Option<&'a [u8]>,
    /// It has an IDR slice.
    pub keyframe: bool,
}

/// Splits an Annex-B access unit: its NAL units other than parameter sets and
/// access unit delimiters are appended to `sample` with 4-byte lengths.
pub fn split_access_unit<'a>(data: &'a [u8], sample: &mut Vec<u8>) -> AccessUnit<'a> {
    let mut unit = AccessUnit::default();
    for nal in annexb_nals(data) {
        match nal_type(nal) {
            Some(7) => unit.sps = Some(nal),
            Some(8) => unit.pps = Some(nal),
            Some(9) | None => {}
            Some(kind) => {
                let Ok(len) = u32::try_from(nal.len()) else {
                    continue;
                };
                unit.keyframe |= kind == 5;
                sample.extend_from_slice(&len.to_be_bytes());
                sample.extend_from_slice(nal);
            }
        }
    }
    unit
}

/// Maps one track's RTP clock to milliseconds of the session.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// RTP time of the first packet.
    first: u64,
    /// When (ms into the session) it arrived.
    at_ms: i64,
    rate: u64,
}

impl Clock {
    /// Ticks of this clock after the first packet's time.
    fn ticks(&self, rtp: u64) -> i64 {
        i64::try_from(rtp.wrapping_sub(self.first)).unwrap_or(0)
    }

    fn ms(&self, rtp: u64) -> i64 {
        self.at_ms + self.ticks(rtp) * 1000 / self.rate as i64
    }
}

struct Ingest {
    peer: Peer,
    publisher: Publisher,
    video: Mid,
    audio: Option<Mid>,
    queue: mpsc::Receiver<Datagram>,
    stop: CancellationToken,
    started: Instant,
    video_clock: Option<Clock>,
    audio_clock: Option<Clock>,
    /// The SPS and PPS the video track was made from.
    parameter_sets: Option<(Bytes, Bytes)>,
    video_track: Option<Track>,
    opus: Option<OpusToAac>,
    aac: Vec<AacFrame>,
    last_keyframe: Option<Instant>,
    last_request: Option<Instant>,
    /// Video lost since the last keyframe: frames wait for the next one.
    broken: bool,
}

impl Ingest {
    /// Runs until the session ends; returns why.
    async fn run(mut self) -> &'static str {
        let connect_deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let mut connected = false;
        let mut tick = tokio::time::interval(MIN_REQUEST_INTERVAL);
        loop {
            let wake = match self.drain().await {
                Ok(Some(wake)) => wake,
                Ok(None) => return "peer disconnected",
                Err(reason) => return reason,
            };
            if !connected && self.peer.rtc.is_connected() {
                connected = true;
                tracing::info!("WHIP publisher connected");
            }
            if connected && self.peer.last_heard.elapsed() > CONSENT_TIMEOUT {
                return "no consent from the peer";
            }
            let consent_deadline =
                tokio::time::Instant::from_std(self.peer.last_heard + CONSENT_TIMEOUT);
            tokio::select! {
                datagram = self.queue.recv() => {
                    let Some(datagram) = datagram else { return "server stopping" };
                    if let Err(reason) = self.peer.receive(&datagram) {
                        return reason;
                    }
                }
                _ = tick.tick(), if connected => self.keyframe_due(),
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    if let Err(reason) = self.peer.timeout() {
                        return reason;
                    }
                }
                () = tokio::time::sleep_until(connect_deadline), if !connected => {
                    return "no ICE connection within 15 s";
                }
                () = tokio::time::sleep_until(consent_deadline), if connected => {}
                () = self.stop.cancelled() => {
                    self.peer.rtc.disconnect();
                    let _ = self.drain().await;
                    return "ended by the client";
                }
            }
        }
    }

    /// Lets the peer send what it has to and handles the session's events;
    /// returns when it wants to be woken (`None`: it is no longer alive).
    async fn drain(&mut self) -> Result<Option<Instant>, &'static str> {
        loop {
            match self.peer.poll().await? {
                Polled::Wake(at) => return Ok(Some(at)),
                Polled::Gone => return Ok(None),
                Polled::Event(Event::MediaData(data)) if data.mid == self.video => {
                    self.video(&data)
                }
                Polled::Event(Event::MediaData(data)) if Some(data.mid) == self.audio => {
                    self.audio(&data)
                }
                Polled::Event(_) => {}
            }
        }
    }

    fn session_ms(&self, at: Instant) -> i64 {
        i64::try_from(at.saturating_duration_since(self.started).as_millis()).unwrap_or(0)
    }

    /// One H.264 access unit (Annex B).
    fn video(&mut self, data: &MediaData) {
        if !data.contiguous {
            // Packets were lost: what follows needs a keyframe to decode.
            self.broken = true;
        }
        if data.data.len() > MAX_ACCESS_UNIT {
            tracing::debug!(
                bytes = data.data.len(),
                "H.264 access unit too large; dropped"
            );
            self.broken = true;
            return;
        }
        let mut sample = Vec::with_capacity(data.data.len() + 16);
        let unit = split_access_unit(&data.data, &mut sample);
        let keyframe = unit.keyframe;
        if let (Some(sps), Some(pps)) = (unit.sps, unit.pps) {
            self.parameter_sets_seen(sps, pps);
        }
        if keyframe {
            self.broken = false;
            self.last_keyframe = Some(Instant::now());
        }
        if self.video_track.is_none() || self.broken || sample.is_empty() {
            if self.broken {
                self.request_keyframe();
            }
            return;
        }
        let clock = *self.video_clock.get_or_insert(Clock {
            first: data.time.numer(),
            at_ms: self.session_ms(data.network_time),
            rate: u64::from(data.time.denom().max(1)),
        });
        self.publisher.frame(Frame {
            track: VIDEO_TRACK,
            dts: clock.ms(data.time.numer()),
            pts_offset: 0,
            keyframe,
            data: Bytes::from(sample),
        });
    }

    /// New or repeated parameter sets: the video track (re)made when they changed.
    fn parameter_sets_seen(&mut self, sps: &[u8], pps: &[u8]) {
        if self
            .parameter_sets
            .as_ref()
            .is_some_and(|(s, p)| s == sps && p == pps)
        {
            return;
        }
        let sets = (Bytes::copy_from_slice(sps), Bytes::copy_from_slice(pps));
        let config = match AvcConfig::from_parameter_sets(
            std::slice::from_ref(&sets.0),
            std::slice::from_ref(&sets.1),
        ) {
            Ok(config) => config,
            Err(err) => {
                tracing::debug!(%err, "unusable H.264 parameter sets");
                return;
            }
        };
        let Ok(info) = config.sps_info() else {
            tracing::debug!("H.264 SPS does not parse");
            return;
        };
        let track = Track {
            id: VIDEO_TRACK,
            codec: Codec::H264,
            timescale: 1000,
            init: config.to_bytes(),
            codec_string: config.codec_string(),
            video: Some(VideoInfo {
                width: info.width,
                height: info.height,
            }),
            audio: None,
        };
        tracing::info!(
            width = info.width,
            height = info.height,
            codec = %track.codec_string,
            "WHIP video track"
        );
        self.parameter_sets = Some(sets);
        let first = self.video_track.is_none();
        self.video_track = Some(track.clone());
        self.publisher.track(track);
        if first {
            self.start_audio();
        }
    }

    /// Declares the AAC track (after the video one, so the stream goes online
    /// at a video keyframe).
    fn start_audio(&mut self) {
        if self.audio.is_none() {
            return;
        }
        match OpusToAac::new() {
            Ok(converter) => {
                let asc = converter.config().clone();
                let Ok(config) = brume_media::codec::aac::AudioSpecificConfig::parse(&asc) else {
                    tracing::warn!("the AAC encoder's configuration does not parse: no audio");
                    return;
                };
                self.publisher.track(Track {
                    id: AUDIO_TRACK,
                    codec: Codec::Aac,
                    timescale: 1000,
                    codec_string: config.codec_string(),
                    init: asc,
                    video: None,
                    audio: Some(brume_media::AudioInfo {
                        sample_rate: RATE,
                        channels: config.channels(),
                        sample_size: 16,
                    }),
                });
                self.opus = Some(converter);
            }
            Err(err) => tracing::warn!(%err, "no AAC encoder: the stream has no audio"),
        }
    }

    /// One Opus packet.
    fn audio(&mut self, data: &MediaData) {
        let Some(converter) = &mut self.opus else {
            return;
        };
        let at_ms = i64::try_from(
            data.network_time
                .saturating_duration_since(self.started)
                .as_millis(),
        )
        .unwrap_or(0);
        let clock = *self.audio_clock.get_or_insert(Clock {
            first: data.time.numer(),
            at_ms,
            rate: u64::from(RATE),
        });
        let ts = clock.ticks(
            data.time
                .rebase(str0m::media::Frequency::FORTY_EIGHT_KHZ)
                .numer(),
        );
        if let Err(err) = converter.push(ts, &data.data, &mut self.aac) {
            tracing::debug!(%err, "Opus packet not converted");
        }
        for frame in self.aac.drain(..) {
            self.publisher.frame(Frame {
                track: AUDIO_TRACK,
                dts: clock.at_ms + frame.ts * 1000 / i64::from(RATE),
                pts_offset: 0,
                keyframe: true,
                data: frame.data,
            });
        }
    }

    /// Asks for a keyframe when the latest is older than [`KEYFRAME_INTERVAL`].
    fn keyframe_due(&mut self) {
        if self
            .last_keyframe
            .is_none_or(|at| at.elapsed() >= KEYFRAME_INTERVAL)
        {
            self.request_keyframe();
        }
    }

    fn request_keyframe(&mut self) {
        let now = Instant::now();
        if self
            .last_request
            .is_some_and(|at| now.duration_since(at) < MIN_REQUEST_INTERVAL)
        {
            return;
        }
        let Some(mut writer) = self.peer.rtc.writer(self.video) else {
            return;
        };
        if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            self.last_request = Some(now);
            if let Err(err) = writer.request_keyframe(None, KeyframeRequestKind::Pli) {
                tracing::debug!(%err, "keyframe request not sent");
            } else {
                tracing::debug!("keyframe requested from the publisher");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_units_lose_parameter_sets_and_gain_lengths() {
        let au = [
            0, 0, 0, 1, 0x09, 0xf0, // AUD
            0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, // SPS
            0, 0, 1, 0x68, 0xce, // PPS
            0, 0, 1, 0x65, 0x88, 0x84, // IDR slice
        ];
        let mut sample = Vec::new();
        let unit = split_access_unit(&au, &mut sample);
        assert_eq!(unit.sps, Some(&[0x67, 0x42, 0, 0x1e][..]));
        assert_eq!(unit.pps, Some(&[0x68, 0xce][..]));
        assert!(unit.keyframe);
        assert_eq!(sample, vec![0, 0, 0, 3, 0x65, 0x88, 0x84]);
        let mut delta = Vec::new();
        let unit = split_access_unit(&[0, 0, 1, 0x41, 0x9a], &mut delta);
        assert!(!unit.keyframe && unit.sps.is_none());
        assert_eq!(delta, vec![0, 0, 0, 2, 0x41, 0x9a]);
    }
}
