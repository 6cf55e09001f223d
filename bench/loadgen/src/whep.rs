//! `whep`: many WebRTC viewers of one live stream, each a str0m peer connection
//! (full ICE agent, DTLS client) on a UDP socket of its own that POSTs its offer
//! to the WHEP URL, then receives H.264 (and Opus when the stream has audio).
//!
//! A viewer is *held without loss* when it connected, received video for the
//! whole run and never saw a gap in its RTP sequence (str0m's `contiguous`
//! flag) nor a stall longer than `--stall` seconds between video frames.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, RtcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Largest WHEP answer read.
const MAX_ANSWER: usize = 64 * 1024;

/// One viewer's result.
#[derive(Debug, Default, Clone)]
pub struct WhepReport {
    pub connected: bool,
    pub error: Option<String>,
    pub video_frames: u64,
    pub video_bytes: u64,
    pub audio_packets: u64,
    pub gaps: u64,
    pub longest_stall: Duration,
}

impl WhepReport {
    pub fn held(&self, stall: Duration) -> bool {
        self.connected
            && self.error.is_none()
            && self.gaps == 0
            && self.video_frames > 0
            && self.longest_stall <= stall
    }
}

/// POSTs `offer` to `url` (`http://host:port/path`); returns the answer.
async fn post_offer(url: &str, offer: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// WHEP URLs"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut stream = TcpStream::connect(host).await.context("connecting")?;
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        offer.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(offer.as_bytes()).await?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER as u64)
        .read_to_end(&mut raw)
        .await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no HTTP response"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "201" {
        bail!("WHEP answered {status}: {}", body.trim());
    }
    Ok(body.to_owned())
}

/// Runs one viewer for `duration` after it connects (or until `deadline`).
pub async fn viewer(url: String, duration: Duration, connect_within: Duration) -> WhepReport {
    let mut report = WhepReport::default();
    if let Err(err) = run(&url, duration, connect_within, &mut report).await {
        report.error = Some(format!("{err:#}"));
    }
    report
}

async fn run(
    url: &str,
    duration: Duration,
    connect_within: Duration,
    report: &mut WhepReport,
) -> anyhow::Result<()> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    let start = Instant::now();
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .build(start);
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    let mut api = rtc.sdp_api();
    api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = api.apply().ok_or_else(|| anyhow!("no offer"))?;
    let answer = post_offer(url, &offer.to_sdp_string()).await?;
    let answer = SdpAnswer::from_sdp_string(&answer).context("parsing the answer")?;
    rtc.sdp_api().accept_answer(pending, answer)?;

    let mut buf = vec![0u8; 2048];
    let mut connected_at: Option<Instant> = None;
    let mut last_video: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if let Some(at) = connected_at {
            if now.duration_since(at) >= duration {
                break;
            }
        } else if now.duration_since(start) > connect_within {
            bail!("not connected within {connect_within:?}");
        }
        let wake = loop {
            match rtc.poll_output()? {
                Output::Timeout(at) => break at,
                Output::Transmit(t) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Output::Event(event) => match event {
                    Event::Connected => {
                        report.connected = true;
                        connected_at = Some(Instant::now());
                    }
                    Event::MediaData(data) => {
                        if data.params.spec().codec.is_video() {
                            let now = Instant::now();
                            if let Some(last) = last_video {
                                report.longest_stall =
                                    report.longest_stall.max(now.duration_since(last));
                            }
                            last_video = Some(now);
                            report.video_frames += 1;
                            report.video_bytes += data.data.len() as u64;
                            if !data.contiguous && report.video_frames > 1 {
                                report.gaps += 1;
                            }
                        } else {
                            report.audio_packets += 1;
                        }
                    }
                    _ => {}
                },
            }
        };
        let wait = wake
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
            Ok(Ok((len, source))) => {
                let input = Input::Receive(
                    Instant::now(),
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents: buf[..len].try_into()?,
                    },
                );
                rtc.handle_input(input)?;
            }
            Ok(Err(err)) => return Err(err.into()),
            Err(_) => rtc.handle_input(Input::Timeout(Instant::now()))?,
        }
        if !rtc.is_alive() {
            bail!("the session ended");
        }
    }
    if let Some(last) = last_video {
        report.longest_stall = report.longest_stall.max(last.elapsed());
    }
    rtc.disconnect();
    Ok(())
}
