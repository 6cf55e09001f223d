//! Response bodies of the media port, without boxing.
//!
//! * [`Body::Full`]: bytes already in memory (a cached segment, a JSON document) —
//!   sent as one frame, a clone of shared [`Bytes`].
//! * [`Body::Live`]: a progressive live feed: the init segment and backlog, then
//!   fragments from the stream's broadcast. A viewer that lags behind skips to the
//!   next keyframe fragment instead of making anything buffer more.
//! * [`Body::Channel`]: chunks produced by a task (VoD reads on blocking threads).
//! * [`Body::Counted`]: any of those, counting the bytes sent to a viewer session
//!   (the session ends when the body is dropped: finished, or the client left).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::Stream;

use crate::metrics::Viewer;
use crate::stream::live::feed::{LiveChunk, Subscription};

#[derive(Debug)]
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Live(LiveBody),
    Channel(mpsc::Receiver<Result<Bytes, std::io::Error>>),
    /// Like `Channel`, with the total length known up front (Content-Length).
    Sized(mpsc::Receiver<Result<Bytes, std::io::Error>>, u64),
    /// A body whose bytes count for a viewer session.
    Counted(Box<Body>, Viewer),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Some(bytes.into()))
    }

    /// `body`, counting what is sent of it for `viewer`.
    pub fn counted(body: Body, viewer: Viewer) -> Body {
        Body::Counted(Box::new(body), viewer)
    }
}

/// A live progressive viewer's feed.
#[derive(Debug)]
pub struct LiveBody {
    pending: VecDeque<Bytes>,
    feed: BroadcastStream<LiveChunk>,
    /// Set after lagging: drop fragments until the next keyframe.
    resyncing: bool,
}

impl LiveBody {
    pub fn new(subscription: Subscription) -> LiveBody {
        let mut pending = VecDeque::with_capacity(subscription.backlog.len() + 1);
        pending.push_back(subscription.header);
        pending.extend(subscription.backlog.into_iter().map(|f| f.bytes));
        LiveBody {
            pending,
            feed: BroadcastStream::new(subscription.receiver),
            resyncing: false,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(bytes) = self.pending.pop_front() {
            return Poll::Ready(Some(bytes));
        }
        loop {
            match Pin::new(&mut self.feed).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                    tracing::debug!(missed, "viewer fell behind; skipping to the next keyframe");
                    self.resyncing = true;
                }
                Poll::Ready(Some(Ok(fragment))) => {
                    if self.resyncing && !fragment.keyframe {
                        continue;
                    }
                    self.resyncing = false;
                    return Poll::Ready(Some(fragment.bytes));
                }
            }
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Live(live) => live.poll_next(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            Body::Channel(rx) | Body::Sized(rx, _) => rx
                .poll_recv(cx)
                .map(|item| item.map(|r| r.map(Frame::data))),
            Body::Counted(inner, viewer) => {
                let polled = http_body::Body::poll_frame(Pin::new(inner.as_mut()), cx);
                if let Poll::Ready(Some(Ok(frame))) = &polled {
                    if let Some(data) = frame.data_ref() {
                        viewer.sent(data.len() as u64);
                    }
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(bytes) => bytes.is_none(),
            Body::Counted(inner, _) => http_body::Body::is_end_stream(inner.as_ref()),
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Sized(_, len) => SizeHint::with_exact(*len),
            Body::Counted(inner, _) => http_body::Body::size_hint(inner.as_ref()),
            _ => SizeHint::default(),
        }
    }
}
