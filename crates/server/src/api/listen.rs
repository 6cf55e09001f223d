//! The management port's accept loop: every connection is admitted through the
//! port's [`Gate`] (`limits.api`; a refused client gets a 503) and served
//! HTTP/1.1 by the API router, with the peer address handed to handlers as
//! axum's [`ConnectInfo`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower_service::Service;
use tracing::Instrument;

use crate::conn_limits::{answer_busy, Gate, Slot};

/// A connection idle for this long between requests (or trickling a request
/// head) is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections on `listener` and serves `router` on each until the task
/// is dropped.
pub async fn accept_loop(listener: TcpListener, router: Router, gate: Arc<Gate>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tokio::time::sleep(gate.accept_failed(&err)).await;
                continue;
            }
        };
        let Some(slot) = gate.admit(Some(peer.ip())) else {
            answer_busy(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        serve_connection(stream, router.clone(), peer, slot);
    }
}

/// Serves the API on one admitted connection in its own task.
pub fn serve_connection<I>(io: I, router: Router, peer: SocketAddr, slot: Slot)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::debug_span!("api_conn", %peer);
    tokio::spawn(
        async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let mut router = router.clone();
                async move { Ok::<_, Infallible>(router.call(req).await.unwrap_or_else(|e| match e {})) }
            });
            let result = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .header_read_timeout(IDLE_TIMEOUT)
                .serve_connection(TokioIo::new(io), service)
                .await;
            if let Err(err) = result {
                tracing::debug!(%err, "API connection ended with an error");
            }
        }
        .instrument(span),
    );
}
