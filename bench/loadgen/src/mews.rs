//! One simulated MEWS viewer (MP4 over WebSocket, as MistServer's player speaks it):
//! a WebSocket upgrade of `/S.mp4` on its own TCP connection, the player's command
//! exchange (`request_codec_data`, then `play` from the live edge or from a media
//! time), then the server's binary messages — the init segment and one `moof`+`mdat`
//! fragment each — fed to the same box scanner and media clock as the progressive
//! viewer (see [`crate::viewer`] for how lag is measured).
//!
//! Text messages from the server (`codec_data`, `on_time`, `pause`, …) are counted
//! and otherwise ignored, except `error` and `on_stop` (the stream ended), which
//! end the viewer with a failure. Pings are answered by the WebSocket library as
//! the viewer reads.

use std::net::SocketAddr;
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::mp4::{BoxReader, Event};
use crate::viewer::{copy_progress, note_read, reported, Clock, Failure, ViewerReport};

/// Largest message accepted from the server (a fragment of a high-bitrate GOP
/// fits easily).
const MAX_MESSAGE: usize = 64 << 20;

/// Where a MEWS viewer asks to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// `play` with `seek_time: "live"`.
    Live,
    /// `play` with `seek_time` in milliseconds (on demand).
    At(u64),
}

/// What every MEWS viewer of one run shares.
#[derive(Debug, Clone)]
pub struct MewsConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// The `ws://` URL (host and path go into the upgrade request).
    pub url: String,
    /// Where to start playing.
    pub start: Start,
    /// Stop (successfully) after this many video fragments (for probing and seeks).
    pub stop_after_fragments: Option<u64>,
    /// The WebSocket read buffer per connection, in bytes.
    pub read_buffer: usize,
}

impl MewsConfig {
    fn play_command(&self) -> String {
        match self.start {
            Start::Live => r#"{"type":"play","seek_time":"live"}"#.to_owned(),
            Start::At(ms) => format!(r#"{{"type":"play","seek_time":{ms}}}"#),
        }
    }
}

/// Runs one MEWS viewer from `start` until `deadline` and reports on it.
pub async fn run(config: &MewsConfig, start: Instant, deadline: Instant) -> ViewerReport {
    reported(start, deadline, async |report, last_read| {
        session(config, deadline, report, last_read).await
    })
    .await
}

async fn session(
    config: &MewsConfig,
    deadline: Instant,
    report: &mut ViewerReport,
    last_read: &mut Instant,
) -> Result<(), Failure> {
    let began = Instant::now();
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    let tcp = tokio::select! {
        biased;
        () = &mut sleep => return Err(Failure("connect timed out".into())),
        r = TcpStream::connect(config.addr) => r.map_err(|e| Failure(format!("connect: {e}")))?,
    };
    tcp.set_nodelay(true)?;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let handshake =
        tokio_tungstenite::client_async_with_config(config.url.as_str(), tcp, Some(ws_config));
    let (mut ws, response) = tokio::select! {
        biased;
        () = &mut sleep => return Err(Failure("no upgrade before the deadline".into())),
        r = handshake => r.map_err(|e| Failure(format!("websocket upgrade: {e}")))?,
    };
    report.status = Some(response.status().as_u16());
    report.content_type = Some("websocket (MEWS)".into());

    let commands = [
        r#"{"type":"request_codec_data"}"#.to_owned(),
        config.play_command(),
    ];
    for command in commands {
        ws.send(Message::text(command))
            .await
            .map_err(|e| Failure(format!("sending a command: {e}")))?;
    }
    let sent = Instant::now();
    *last_read = sent;

    let mut boxes = BoxReader::new();
    let mut clock = Clock::new();
    loop {
        if config
            .stop_after_fragments
            .is_some_and(|n| clock.fragments >= n)
        {
            let _ = ws.close(None).await;
            return Ok(());
        }
        let message = tokio::select! {
            biased;
            () = &mut sleep => {
                let _ = ws.close(None).await;
                return Ok(());
            }
            m = ws.next() => m,
        };
        let now = Instant::now();
        let message = match message {
            None => {
                return Err(Failure(format!(
                    "websocket closed after {:.1} s",
                    began.elapsed().as_secs_f64()
                )))
            }
            Some(Err(e)) => return Err(Failure(format!("websocket: {e}"))),
            Some(Ok(m)) => m,
        };
        note_read(report, last_read, message.len(), now);
        match message {
            Message::Binary(data) => {
                let result = boxes.feed(&data, &mut |event| match event {
                    Event::Init(video) => {
                        clock.timescale = f64::from(video.timescale);
                        Ok(())
                    }
                    Event::Fragment(f) => clock.on_fragment(f, now),
                });
                copy_progress(report, &boxes, &clock, sent);
                result?;
            }
            Message::Text(text) => {
                let text = text.as_str();
                if text.contains(r#""type":"error""#) {
                    return Err(Failure(format!("server error: {}", clip(text))));
                }
                if text.contains(r#""type":"on_stop""#) {
                    return Err(Failure(format!(
                        "on_stop after {:.1} s",
                        began.elapsed().as_secs_f64()
                    )));
                }
            }
            Message::Close(frame) => {
                return Err(Failure(format!(
                    "server closed after {:.1} s: {}",
                    began.elapsed().as_secs_f64(),
                    frame.map_or_else(String::new, |f| f.to_string())
                )))
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

/// The start of a server message, for an error report.
fn clip(text: &str) -> &str {
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_commands_are_what_the_player_sends() {
        let mut config = MewsConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            url: "ws://127.0.0.1:1/s.mp4".into(),
            start: Start::Live,
            stop_after_fragments: None,
            read_buffer: 1 << 16,
        };
        assert_eq!(
            config.play_command(),
            r#"{"type":"play","seek_time":"live"}"#
        );
        config.start = Start::At(1_800_000);
        assert_eq!(
            config.play_command(),
            r#"{"type":"play","seek_time":1800000}"#
        );
        assert_eq!(clip("é".repeat(150).as_str()).len(), 200);
    }
}
