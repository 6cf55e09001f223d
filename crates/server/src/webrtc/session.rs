//! One WHEP viewer: a str0m [`Rtc`] in ICE-lite mode, driven by a task that
//! feeds it the datagrams routed to it, the frames of its subscription, the
//! stream's shared Opus packets (AAC streams, [`super::audio`]) and its timers,
//! and sends what it outputs on the shared socket.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brume_media::{scale_ticks, Codec, Track, TrackKind};
use str0m::format::Codec as RtcCodec;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::{Event, Rtc};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::audio::{aac_track, OpusFeed};
use super::payload::H264Payload;
use super::peer::{Negotiated, Peer, Polled, Registered};
use super::sdp::{audio_mids, offered_codecs, video_mids, OfferError};
use super::{Datagram, WebRtc, CONNECT_TIMEOUT, CONSENT_TIMEOUT, MAX_SESSIONS};
use crate::audio::aac_opus::OpusPacket;
use crate::metrics::Viewer;
use crate::stream::live::tap::TapFrame;
use crate::stream::live::LiveStream;
use crate::stream::subscription::frames::FrameSubscription;

/// Video frames since the latest keyframe a session keeps to answer keyframe
/// requests; a longer GOP is not kept (the request waits for the next keyframe).
const MAX_GOP_FRAMES: usize = 600;
/// Keyframe requests answered at most this often per viewer.
const MIN_RESEND_INTERVAL: Duration = Duration::from_secs(1);
/// RTP packets str0m keeps per video stream for sending and NACK resends.
const VIDEO_SEND_BUFFER: usize = 4096;
/// 90 kHz ticks put between the last frame sent and a resent keyframe.
const RESEND_GAP_TICKS: i64 = 3000;

/// Why a WHEP offer gets no session.
#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error(transparent)]
    Offer(#[from] OfferError),
    #[error("the stream has no H.264 video: WebRTC here plays H.264 ({0})")]
    StreamCodec(String),
    #[error("the stream has ended")]
    Ended,
    #[error("too many WebRTC sessions ({MAX_SESSIONS})")]
    Full,
    #[error("cannot set up the session: {0}")]
    Rtc(#[from] str0m::RtcError),
}

/// A session set up: the SDP answer and the resource that ends it.
#[derive(Debug)]
pub struct Answer {
    pub sdp: String,
    pub resource: String,
}

/// The audio m-line we send Opus on, and the stream's converter.
#[derive(Debug)]
struct AudioOut {
    mid: Mid,
    pt: Pt,
    feed: Arc<OpusFeed>,
    packets: Option<broadcast::Receiver<Arc<OpusPacket>>>,
}

/// The one video m-line we send on.
#[derive(Debug)]
struct VideoOut {
    mid: Mid,
    pt: Pt,
    track: Track,
    payload: H264Payload,
}

impl WebRtc {
    /// Answers a WHEP offer for the live stream `stream` from a client at `client`;
    /// the session runs until it ends by itself or [`WebRtc::end`].
    pub fn play(
        &self,
        stream: &str,
        live: Arc<LiveStream>,
        offer: &str,
        client: IpAddr,
        viewer: Arc<Viewer>,
    ) -> Result<Answer, PlayError> {
        let track = live
            .tracks()
            .iter()
            .find(|t| t.kind() == TrackKind::Video)
            .cloned()
            .ok_or_else(|| PlayError::StreamCodec("it has no video".to_owned()))?;
        if track.codec != Codec::H264 {
            return Err(PlayError::StreamCodec(format!("it has {:?}", track.codec)));
        }
        let payload = H264Payload::new(&track.init)
            .ok_or_else(|| PlayError::StreamCodec("its H.264 configuration is broken".into()))?;
        if live.is_closed() {
            return Err(PlayError::Ended);
        }
        if self.session_count() >= MAX_SESSIONS {
            return Err(PlayError::Full);
        }
        let Negotiated {
            mut rtc,
            answer,
            ufrag,
            resource,
            now,
        } = self.negotiate(offer, client, Some(VIDEO_SEND_BUFFER))?;
        let video = video_out(&mut rtc, offer, track, payload)?;
        let audio = self.audio_out(&mut rtc, offer, stream, &live);
        let Registered { key, queue, stop } = self
            .inner
            .register(stream, ufrag, &resource)
            .ok_or(PlayError::Full)?;
        let session = Session {
            peer: Peer::new(rtc, self.inner.clone(), now),
            live,
            viewer,
            video,
            audio,
            queue,
            stop,
            gop: Vec::new(),
            offset: 0,
            last_ts: None,
            last_resend: None,
        };
        let span = tracing::info_span!("webrtc", stream, session = key, %client);
        let inner = self.inner.clone();
        tokio::spawn(
            async move {
                tracing::debug!("WHEP session waiting for ICE");
                let reason = session.run().await;
                inner.remove(key);
                tracing::info!(%reason, "WHEP session ended");
            }
            .instrument(span),
        );
        Ok(Answer {
            sdp: answer.to_sdp_string(),
            resource,
        })
    }
}

impl WebRtc {
    /// Opus for this session when the stream has AAC audio and the offer takes
    /// Opus (video only otherwise: the reason is logged).
    fn audio_out(
        &self,
        rtc: &mut Rtc,
        offer: &str,
        stream: &str,
        live: &Arc<LiveStream>,
    ) -> Option<AudioOut> {
        let track = aac_track(live)?;
        let (mid, pt) = audio_mids(offer)
            .into_iter()
            .map(Mid::from)
            .find_map(|mid| {
                let writer = rtc.writer(mid)?;
                let pt = writer
                    .payload_params()
                    .find(|p| p.spec().codec == RtcCodec::Opus)?
                    .pt();
                Some((mid, pt))
            })?;
        match self.inner.opus.get(stream, live, track) {
            Ok(feed) => Some(AudioOut {
                mid,
                pt,
                feed,
                packets: None,
            }),
            Err(err) => {
                tracing::info!(%err, "no Opus for this stream's audio: video only");
                None
            }
        }
    }
}

/// The video m-line the answer accepted and the payload type to send H.264 on
/// (the one closest to the stream's profile).
fn video_out(
    rtc: &mut Rtc,
    offer: &str,
    track: Track,
    payload: H264Payload,
) -> Result<VideoOut, PlayError> {
    let mids: Vec<Mid> = video_mids(offer)
        .into_iter()
        .map(Mid::from)
        .filter(|&mid| {
            rtc.media(mid)
                .is_some_and(|m| m.kind() == MediaKind::Video && !m.disabled())
        })
        .collect();
    if mids.is_empty() {
        return Err(OfferError::NoVideo { needed: "H.264" }.into());
    }
    let profile = track.init.get(1).copied().unwrap_or(0);
    for mid in mids {
        let Some(writer) = rtc.writer(mid) else {
            continue;
        };
        let mut best: Option<(u8, Pt)> = None;
        for params in writer.payload_params() {
            let spec = params.spec();
            if spec.codec != RtcCodec::H264 {
                continue;
            }
            let mode = spec.format.packetization_mode.unwrap_or(0);
            let offered = spec.format.profile_level_id.map(|p| (p >> 16) as u8);
            let score = u8::from(mode == 1) * 2 + u8::from(offered == Some(profile));
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, params.pt()));
            }
        }
        if let Some((_, pt)) = best {
            return Ok(VideoOut {
                mid,
                pt,
                track,
                payload,
            });
        }
    }
    Err(OfferError::NoCodec {
        offered: offered_codecs(offer),
        needed: "H.264",
    }
    .into())
}

struct Session {
    peer: Peer,
    live: Arc<LiveStream>,
    /// Holds the viewer's metrics session open.
    viewer: Arc<Viewer>,
    video: VideoOut,
    audio: Option<AudioOut>,
    queue: mpsc::Receiver<Datagram>,
    stop: CancellationToken,
    /// Video frames since the latest keyframe sent.
    gop: Vec<Arc<TapFrame>>,
    /// 90 kHz ticks added to every timestamp (grows when a GOP is resent).
    offset: i64,
    last_ts: Option<i64>,
    last_resend: Option<Instant>,
}

impl Session {
    /// Runs until the session ends; returns why.
    async fn run(mut self) -> &'static str {
        let connect_deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
        let mut frames: Option<FrameSubscription> = None;
        loop {
            let wake = match self.drain().await {
                Ok(Some(wake)) => wake,
                Ok(None) => return "peer disconnected",
                Err(reason) => return reason,
            };
            if frames.is_none() && self.peer.rtc.is_connected() {
                tracing::info!("WHEP session connected");
                match FrameSubscription::open(self.live.clone(), self.viewer.clone()) {
                    Ok(subscription) => frames = Some(subscription),
                    Err(_) => return "stream ended",
                }
                if let Some(audio) = &mut self.audio {
                    audio.packets = Some(audio.feed.subscribe());
                }
            }
            let connected = frames.is_some();
            let silent_for = self.peer.last_heard.elapsed();
            if connected && silent_for > CONSENT_TIMEOUT {
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
                frame = next_frame(&mut frames), if connected => {
                    match frame {
                        Some(frame) => self.frame(frame),
                        None => return "stream ended",
                    }
                }
                packet = next_opus(&mut self.audio), if connected => {
                    match packet {
                        Some(packet) => self.opus(&packet),
                        None => self.audio = None,
                    }
                }
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
                Polled::Event(Event::KeyframeRequest(request)) if request.mid == self.video.mid => {
                    self.resend_gop();
                }
                Polled::Event(_) => {}
            }
        }
    }

    /// Sends one frame of the stream (video only).
    fn frame(&mut self, frame: Arc<TapFrame>) {
        if frame.frame.track != self.video.track.id {
            return;
        }
        if frame.frame.keyframe {
            self.gop.clear();
        }
        if self.gop.len() < MAX_GOP_FRAMES {
            self.gop.push(frame.clone());
        }
        self.write(&frame);
    }

    fn ticks(&self, frame: &TapFrame) -> i64 {
        scale_ticks(frame.frame.pts(), self.video.track.timescale, 90_000)
    }

    fn write(&mut self, frame: &TapFrame) {
        let payload = &self.video.payload;
        let data = frame.derived(|f| payload.annexb(f));
        if data.is_empty() {
            return;
        }
        let ts = (self.ticks(frame) + self.offset).max(0);
        self.last_ts = Some(ts);
        let Some(writer) = self.peer.rtc.writer(self.video.mid) else {
            return;
        };
        let time = MediaTime::new(ts as u64, Frequency::NINETY_KHZ);
        if let Err(err) = writer.write(self.video.pt, Instant::now(), time, data) {
            tracing::debug!(%err, "frame not written");
        }
    }

    /// Sends one Opus packet of the stream's shared feed.
    fn opus(&mut self, packet: &OpusPacket) {
        let Some(audio) = &self.audio else { return };
        let Some(writer) = self.peer.rtc.writer(audio.mid) else {
            return;
        };
        let time = MediaTime::new(packet.ts.max(0) as u64, Frequency::FORTY_EIGHT_KHZ);
        if let Err(err) = writer.write(audio.pt, Instant::now(), time, packet.data.clone()) {
            tracing::debug!(%err, "audio packet not written");
        }
    }

    /// Answers a keyframe request: this viewer gets the GOP again, from its
    /// keyframe, timestamped after what it already has.
    fn resend_gop(&mut self) {
        let now = Instant::now();
        if self
            .last_resend
            .is_some_and(|at| now.duration_since(at) < MIN_RESEND_INTERVAL)
        {
            return;
        }
        let (Some(first), Some(last_ts)) = (self.gop.first().cloned(), self.last_ts) else {
            return;
        };
        if !first.frame.keyframe {
            return;
        }
        self.last_resend = Some(now);
        self.offset = last_ts + RESEND_GAP_TICKS - self.ticks(&first);
        tracing::debug!(
            frames = self.gop.len(),
            "keyframe request answered from the ring"
        );
        let gop = std::mem::take(&mut self.gop);
        for frame in &gop {
            self.write(frame);
        }
        self.gop = gop;
    }
}

/// The next Opus packet; `None` once the feed ended. Packets a slow session
/// missed are skipped.
async fn next_opus(audio: &mut Option<AudioOut>) -> Option<Arc<OpusPacket>> {
    let Some(packets) = audio.as_mut().and_then(|a| a.packets.as_mut()) else {
        return std::future::pending().await;
    };
    loop {
        match packets.recv().await {
            Ok(packet) => return Some(packet),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "Opus packets skipped (session behind)");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

async fn next_frame(frames: &mut Option<FrameSubscription>) -> Option<Arc<TapFrame>> {
    match frames {
        Some(frames) => frames.next().await,
        None => std::future::pending().await,
    }
}
