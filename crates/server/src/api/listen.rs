//! The management port's accept loop: every connection is admitted through the
//! port's [`Gate`] (`limits.api`; a refused client gets a 503) and served
//! HTTP/1.1 by the API router, with the peer address handed to handlers as
//! axum's [`ConnectInfo`].
//!
//! With `api.tls` the port speaks HTTPS only: the certificate in force when a
//! connection is accepted is used (a watch channel, so a changed certificate needs
//! no rebind), handshakes get [`tls::HANDSHAKE_TIMEOUT`] and at most
//! [`tls::MAX_CONCURRENT_HANDSHAKES`] run at once (more connections are closed).
//! Requests that arrived over TLS carry the [`DirectTls`] extension (the session
//! cookie gets `Secure`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;
use tracing::Instrument;

use crate::conn_limits::{answer_busy, Gate, Slot};
use crate::tls;

/// The TLS configuration of the port: `None` serves plain HTTP.
pub type ApiTls = watch::Receiver<Option<Arc<ServerConfig>>>;

/// Marks a request that reached the port over TLS.
#[derive(Debug, Clone, Copy)]
pub struct DirectTls;

/// A connection idle for this long between requests (or trickling a request
/// head) is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections on `listener` and serves `router` on each until the task
/// is dropped.
pub async fn accept_loop(listener: TcpListener, router: Router, gate: Arc<Gate>, tls: ApiTls) {
    let handshakes = Arc::new(Semaphore::new(tls::MAX_CONCURRENT_HANDSHAKES));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tokio::time::sleep(gate.accept_failed(&err)).await;
                continue;
            }
        };
        let config = tls.borrow().clone();
        let Some(slot) = gate.admit(Some(peer.ip())) else {
            if config.is_none() {
                answer_busy(stream);
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Some(config) = config else {
            serve_connection(stream, router.clone(), peer, slot, false);
            continue;
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many TLS handshakes in progress; closed");
            continue;
        };
        let router = router.clone();
        tokio::spawn(
            async move {
                let handshake = tls::handshake(&TlsAcceptor::from(config), stream).await;
                drop(permit);
                if let Some(stream) = handshake {
                    serve_connection(stream, router, peer, slot, true);
                }
            }
            .instrument(tracing::debug_span!("api_tls", %peer)),
        );
    }
}

/// Serves the API on one admitted connection in its own task (`over_tls`: its
/// requests get [`DirectTls`]).
pub fn serve_connection<I>(io: I, router: Router, peer: SocketAddr, slot: Slot, over_tls: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let span = tracing::debug_span!("api_conn", %peer);
    tokio::spawn(
        async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                if over_tls {
                    req.extensions_mut().insert(DirectTls);
                }
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
