//! Brume, the streaming media server (the `brume` binary's library).
//!
//! The binary (`main.rs`) parses the command line and calls [`run`], which starts a
//! [`supervisor::Supervisor`]. Modules (`ARCHITECTURE.md` at the repository root
//! draws how they fit together):
//!
//! * [`supervisor`]: the one owner of a running server; [`state`]: the handles the
//!   media plane reads; [`listeners`]: every accept loop, bound at startup and on
//!   configuration changes; [`conn_limits`]: each listener's connection caps
//!   ([`config_limits`]); [`buffer_budget`]: memory for protocol buffers.
//! * [`config`]: the JSON file (schema, defaults, validation, atomic save);
//!   [`config_store`]: the configuration in force, editable while running.
//! * [`stream`]: the stream registry, live rings, on-demand indexes, inputs and
//!   viewer subscriptions.
//! * [`http`]: the media port (routing, outputs, WebSockets, public URLs);
//!   [`tls`]: the HTTPS port; [`unix_socket`]: the HTTP port on a Unix socket;
//!   [`rtmp`]: the RTMP port.
//! * [`api`]: the management API and web UI.
//! * [`metrics`]: counters, viewer sessions, Prometheus; [`logging`]: log output;
//!   [`logs`]: the recent lines the API serves.
//! * [`triggers`]: webhooks to the site's backend (MistServer's triggers);
//!   [`access`]: who may watch (USER_NEW, tokens, address lists).
//! * [`net`]: CIDR blocks; [`util`]: small helpers; [`audio`]: audio conversion
//!   (AAC to Opus for WebRTC).

pub mod access;
pub mod api;
pub mod audio;
pub mod balance;
pub mod buffer_budget;
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
pub mod push;
pub mod recording;
pub mod rtmp;
pub mod state;
pub mod stream;
pub mod supervisor;
pub mod tls;
pub mod triggers;
pub mod unix_socket;
pub mod util;
pub mod webrtc;

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
