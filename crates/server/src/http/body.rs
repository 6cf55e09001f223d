//! Response bodies of the media port, without boxing.
//!
//! * [`Body::Full`]: bytes already in memory (a cached segment, a JSON document) —
//!   sent as one frame, a clone of shared [`Bytes`].
//! * [`Body::Stream`]: a viewer's [`Subscription`] (live or on demand): its
//!   header, then its chunks; the subscription counts what it hands out.
//! * [`Body::Channel`]: chunks produced by a task (VoD reads on blocking threads).
//! * [`Body::Counted`]: any of those, counting the bytes sent to a viewer session
//!   (the session ends when the body is dropped: finished, or the client left).
//! * [`Body::Held`]: any of those, keeping the viewer's admission open
//!   ([`crate::access::Admitted`]) while it is sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

use crate::metrics::Viewer;
use crate::stream::subscription::Subscription;

#[derive(Debug)]
pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Stream(Box<Subscription>),
    Channel(mpsc::Receiver<Result<Bytes, std::io::Error>>),
    /// Like `Channel`, with the total length known up front (Content-Length).
    Sized(mpsc::Receiver<Result<Bytes, std::io::Error>>, u64),
    /// A body whose bytes count for a viewer session.
    Counted(Box<Body>, std::sync::Arc<Viewer>),
    /// A body that keeps the viewer's admission (its trigger session) open
    /// until it ends.
    Held(Box<Body>, crate::access::Admitted),
}

impl Body {
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::Full(Some(bytes.into()))
    }

    /// `body`, counting what is sent of it for `viewer`.
    pub fn counted(body: Body, viewer: std::sync::Arc<Viewer>) -> Body {
        Body::Counted(Box::new(body), viewer)
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
            Body::Stream(subscription) => subscription.poll_next(cx).map(|item| {
                item.map(|read| {
                    read.map(|chunk| Frame::data(chunk.bytes))
                        .map_err(std::io::Error::other)
                })
            }),
            Body::Channel(rx) | Body::Sized(rx, _) => rx
                .poll_recv(cx)
                .map(|item| item.map(|r| r.map(Frame::data))),
            Body::Held(inner, admitted) => {
                let polled = http_body::Body::poll_frame(Pin::new(inner.as_mut()), cx);
                if let Poll::Ready(Some(Ok(frame))) = &polled {
                    if let Some(data) = frame.data_ref() {
                        admitted.sent(data.len() as u64);
                    }
                }
                polled
            }
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
            Body::Counted(inner, _) | Body::Held(inner, _) => {
                http_body::Body::is_end_stream(inner.as_ref())
            }
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Sized(_, len) => SizeHint::with_exact(*len),
            Body::Counted(inner, _) | Body::Held(inner, _) => {
                http_body::Body::size_hint(inner.as_ref())
            }
            _ => SizeHint::default(),
        }
    }
}
