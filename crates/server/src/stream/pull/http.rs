//! The HTTP side of a pull: one `GET` of a progressive FLV stream (hyper's
//! HTTP/1.1 client on a plain TCP connection), its body cut into tags by
//! [`TagReader`] and the tags turned into tracks and frames by [`TagDemuxer`].
//! Every wait is bounded: the connection and the response head, and the gap
//! between two pieces of the body.

use std::time::Duration;

use brume_media::flv::{TagDemuxer, TagEvent, TagReader};
use brume_media::{Frame, Track};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{PullError, PullUrl};

/// Longest wait for the connection and the response head.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest gap between two pieces of the stream.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the stream gave.
#[derive(Debug)]
pub enum Event {
    Track(Track),
    Frame(Frame),
    /// Bytes received (for the input byte counters).
    Bytes(u64),
}

/// A pulled FLV stream being read.
#[derive(Debug)]
pub struct FlvBody {
    url: String,
    body: Incoming,
    reader: TagReader,
    demuxer: TagDemuxer,
    /// The connection task: dropped (and so closed) with the body.
    connection: tokio::task::JoinHandle<()>,
}

impl Drop for FlvBody {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl FlvBody {
    /// Connects and sends the request; fails unless the answer is a 200.
    pub async fn open(url: &PullUrl) -> Result<FlvBody, PullError> {
        let shown = url.to_string();
        let timeout = || PullError::Timeout {
            url: shown.clone(),
            secs: CONNECT_TIMEOUT.as_secs(),
        };
        let head = async {
            let tcp = TcpStream::connect((url.host.as_str(), url.port))
                .await
                .map_err(|source| PullError::Connect {
                    url: shown.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            let http = |source| PullError::Http {
                url: shown.clone(),
                source,
            };
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(http)?;
            let connection = tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(%err, "pull connection ended");
                }
            });
            let request = hyper::Request::get(url.path.as_str())
                .header(hyper::header::HOST, url.authority())
                .header(hyper::header::USER_AGENT, crate::http::response::SERVER)
                .body(Empty::<Bytes>::new())
                .map_err(|_| PullError::Status {
                    url: shown.clone(),
                    status: 0,
                })?;
            let response = sender.send_request(request).await.map_err(http)?;
            Ok::<_, PullError>((response, connection))
        };
        let (response, connection) = tokio::time::timeout(CONNECT_TIMEOUT, head)
            .await
            .map_err(|_| timeout())??;
        if response.status() != hyper::StatusCode::OK {
            connection.abort();
            return Err(PullError::Status {
                url: shown,
                status: response.status().as_u16(),
            });
        }
        Ok(FlvBody {
            url: shown,
            body: response.into_body(),
            reader: TagReader::new(),
            demuxer: TagDemuxer::new(),
            connection,
        })
    }

    /// The next track, frame or byte count; `None` when the stream ended.
    pub async fn next_event(&mut self) -> Result<Option<Event>, PullError> {
        loop {
            match self.reader.next_tag() {
                Ok(Some(tag)) => {
                    match self
                        .demuxer
                        .push_tag_bytes(tag.tag_type, tag.timestamp, tag.body)
                    {
                        Ok(Some(TagEvent::Track(track))) => return Ok(Some(Event::Track(track))),
                        Ok(Some(TagEvent::Frame(frame))) => return Ok(Some(Event::Frame(frame))),
                        Ok(_) => continue,
                        // One tag Brume cannot use (another codec...): skip it.
                        Err(err) => {
                            tracing::debug!(%err, "skipped a pulled tag");
                            continue;
                        }
                    }
                }
                Ok(None) => {}
                Err(source) => {
                    return Err(PullError::Flv {
                        url: self.url.clone(),
                        source,
                    })
                }
            }
            let frame = tokio::time::timeout(STALL_TIMEOUT, self.body.frame())
                .await
                .map_err(|_| PullError::Stalled {
                    url: self.url.clone(),
                    secs: STALL_TIMEOUT.as_secs(),
                })?;
            match frame {
                None => return Ok(None),
                Some(Err(source)) => {
                    return Err(PullError::Http {
                        url: self.url.clone(),
                        source,
                    })
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                        return Ok(Some(Event::Bytes(data.len() as u64)));
                    }
                }
            }
        }
    }
}
