//! Brume, the streaming media server: configuration, streams, and the HTTP media port.
//!
//! The binary (`main.rs`) parses the command line and calls [`run`]; everything else
//! lives in modules: [`config`] (the JSON file), [`stream`] (registry, live rings,
//! file sources), [`http`] (the media port), [`listeners`] (every accept loop, at
//! startup and when the configuration changes), [`tls`] (the HTTPS port),
//! [`unix_socket`] (the HTTP port's Unix socket), [`net`] (address helpers) and
//! [`logging`].

pub mod api;
pub mod config;
pub mod config_limits;
pub mod config_store;
pub mod conn_limits;
pub mod failures;
pub mod http;
pub mod listeners;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod rtmp;
pub mod state;
pub mod stream;
pub mod supervisor;
pub mod tls;
pub mod unix_socket;
pub mod util;

use std::path::PathBuf;
use std::sync::Arc;

use config::Config;

/// Starts every listener and source, then waits for SIGINT or SIGTERM.
///
/// Listeners: the HTTP media port (TCP), the HTTPS media port when `https` is
/// configured ([`tls`]), the HTTP port's Unix socket when `http.unix_socket` is
/// set ([`unix_socket`]), the RTMP port and the management API — all bound and
/// run by the [`listeners`] that the [`supervisor`] owns, which rebinds them when
/// the configuration changes. The TLS certificate and key are loaded before anything
/// is bound, so a bad file stops Brume at once with an error naming it.
///
/// `logs` is the buffer [`logging::init`] returned (the API's log view serves it).
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    logs: Arc<logs::LogBuffer>,
) -> anyhow::Result<()> {
    let supervisor = supervisor::Supervisor::start(config, config_path, logs)?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    // Stops accepting, removes the Unix socket file, ends every stream.
    supervisor.shutdown();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
