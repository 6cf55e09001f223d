//! One push: connect to the RTMP target, publish through
//! [`ClientSession`], then send the stream's shared FLV feed (a
//! [`Subscription`], like an RTMP player's) re-framed from FLV tags into RTMP
//! messages, until the stream ends, the push is stopped or the target fails.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brume_media::flv::tag::{TagHeader, FILE_HEADER_SIZE, PREVIOUS_TAG_SIZE_LEN, TAG_HEADER_SIZE};
use brume_rtmp::{ClientEvent, ClientSession, MediaKind, RtmpError};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::target::RtmpTarget;
use crate::metrics::{Metrics, Protocol};
use crate::stream::live::feed::Format;
use crate::stream::live::LiveStream;
use crate::stream::media::Media;
use crate::stream::selection::Selection;
use crate::stream::subscription::{ReadError, Start, SubscribeError, Subscription};

/// How long connecting and the publish handshake may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Most FLV bytes held while waiting for a whole tag.
pub const MAX_PENDING_FLV: usize = 32 * 1024 * 1024;

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("the target did not accept the publish within {} s", SETUP_TIMEOUT.as_secs())]
    SetupTimeout,
    #[error("the target refused the publish: {0}")]
    Refused(String),
    #[error("the target closed the connection")]
    Closed,
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error("RTMP: {0}")]
    Rtmp(#[from] RtmpError),
    #[error("cannot read the stream: {0}")]
    Subscribe(#[from] SubscribeError),
    #[error("reading the stream failed: {0}")]
    Read(#[from] ReadError),
    #[error("an FLV tag is larger than {MAX_PENDING_FLV} bytes")]
    TooLarge,
}

/// Pushes `live` to `target` until it ends (`Ok`) or fails; bytes sent count
/// into `bytes`.
pub async fn push(
    live: Arc<LiveStream>,
    stream: &str,
    target: &RtmpTarget,
    stop: &CancellationToken,
    bytes: &AtomicU64,
    on_publishing: impl FnOnce(),
) -> Result<(), PushError> {
    let mut socket = tokio::time::timeout(
        SETUP_TIMEOUT,
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| PushError::SetupTimeout)?
    .map_err(PushError::Connect)?;
    let _ = socket.set_nodelay(true);
    let mut client = ClientSession::new(&target.app, &target.tc_url(), &target.key);
    let mut input = vec![0u8; 64 * 1024];
    let setup = async {
        loop {
            flush(&mut socket, &mut client, bytes).await?;
            match client.poll_event() {
                Some(ClientEvent::Publishing) => return Ok(()),
                Some(ClientEvent::Refused(why)) => return Err(PushError::Refused(why)),
                None => {}
            }
            let n = socket.read(&mut input).await?;
            if n == 0 {
                return Err(PushError::Closed);
            }
            client.receive(&input[..n])?;
        }
    };
    tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .map_err(|_| PushError::SetupTimeout)??;
    on_publishing();
    // A metrics instance of its own: a push is not a viewer.
    let viewer = Arc::new(Arc::new(Metrics::default()).open_viewer(
        stream,
        Protocol::Rtmp,
        IpAddr::from([127, 0, 0, 1]),
    ));
    let mut subscription = Subscription::open(
        &Media::Live(live.clone()),
        Format::Flv,
        Arc::new(Selection::all(live.tracks())),
        Start::Edge,
        viewer,
    )?;
    let mut pending = BytesMut::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            read = socket.read(&mut input) => {
                let n = read?;
                if n == 0 {
                    return Err(PushError::Closed);
                }
                client.receive(&input[..n])?;
                if let Some(ClientEvent::Refused(why)) = client.poll_event() {
                    return Err(PushError::Refused(why));
                }
            }
            chunk = subscription.next() => {
                let Some(chunk) = chunk.transpose()? else {
                    return Ok(());
                };
                let body = if chunk.header {
                    // Keep the header's tags (metadata, sequence headers).
                    chunk.bytes.slice((FILE_HEADER_SIZE + PREVIOUS_TAG_SIZE_LEN).min(chunk.bytes.len())..)
                } else {
                    chunk.bytes
                };
                pending.extend_from_slice(&body);
                if pending.len() > MAX_PENDING_FLV {
                    return Err(PushError::TooLarge);
                }
                while let Some((kind, timestamp, tag)) = next_tag(&mut pending) {
                    client.send_media(kind, timestamp, &tag);
                }
            }
        }
        flush(&mut socket, &mut client, bytes).await?;
    }
}

async fn flush(
    socket: &mut TcpStream,
    client: &mut ClientSession,
    bytes: &AtomicU64,
) -> Result<(), PushError> {
    while let Some(out) = client.poll_transmit() {
        socket.write_all(&out).await?;
        bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Takes one whole FLV tag off the front of `pending`: its kind, timestamp and body.
fn next_tag(pending: &mut BytesMut) -> Option<(MediaKind, u32, Bytes)> {
    let header = TagHeader::parse(pending).ok()?;
    let total = TAG_HEADER_SIZE + header.data_size as usize + PREVIOUS_TAG_SIZE_LEN;
    if pending.len() < total {
        return None;
    }
    let tag = pending.split_to(total).freeze();
    let body = tag.slice(TAG_HEADER_SIZE..TAG_HEADER_SIZE + header.data_size as usize);
    let kind = match header.tag_type {
        8 => MediaKind::Audio,
        9 => MediaKind::Video,
        _ => MediaKind::Data,
    };
    Some((kind, header.timestamp, body))
}
