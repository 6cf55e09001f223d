//! Brume, the streaming media server: configuration, streams, and the HTTP media port.
//!
//! The binary (`main.rs`) parses the command line and calls [`run`]; everything else
//! lives in modules: [`config`] (the JSON file), [`stream`] (registry, live rings,
//! file sources), [`http`] (the media port), [`tls`] (the HTTPS port),
//! [`unix_socket`] (the HTTP port's Unix socket), [`net`] (address helpers) and
//! [`logging`].

pub mod api;
pub mod config;
pub mod config_store;
pub mod http;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod rtmp;
pub mod state;
pub mod stream;
pub mod tls;
pub mod unix_socket;
pub mod util;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;

use config::Config;

/// Starts every listener and source, then waits for SIGINT or SIGTERM.
///
/// Listeners: the HTTP media port (TCP), the HTTPS media port when `https` is
/// configured ([`tls`]), and the HTTP port's Unix socket when `http.unix_socket` is
/// set ([`unix_socket`]). The TLS certificate and key are loaded before anything
/// starts, so a bad file stops Brume at once with an error naming it.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    // Relative paths in the file (certificate, key, socket) mean "beside the file".
    let base_dir = config_path
        .as_deref()
        .and_then(Path::parent)
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let tls_config = match &config.https {
        Some(https) => Some(tls::load_server_config(
            &base_dir.join(&https.cert),
            &base_dir.join(&https.key),
        )?),
        None => None,
    };

    let registry = stream::Registry::start(&config, config_path.as_deref());
    let api_listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for the management API on {}",
                config.api.listen
            )
        })?;
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    let local = listener.local_addr()?;
    let https_listener = match &config.https {
        Some(https) => Some(
            tokio::net::TcpListener::bind(https.listen)
                .await
                .with_context(|| format!("cannot listen for HTTPS on {}", https.listen))?,
        ),
        None => None,
    };
    let rtmp_listener = tokio::net::TcpListener::bind(config.rtmp.listen)
        .await
        .with_context(|| format!("cannot listen for RTMP on {}", config.rtmp.listen))?;
    let mut unix = match &config.http.unix_socket {
        Some(path) => Some(unix_socket::bind(&base_dir.join(path))?),
        None => None,
    };

    let rtmp_local = rtmp_listener.local_addr()?;
    let api_local = api_listener.local_addr()?;
    let http_port = config.http.listen.port();
    let store = Arc::new(config_store::ConfigStore::new(config, config_path));
    let state = Arc::new(state::ServerState::new(
        store,
        registry.clone(),
        metrics::global().clone(),
        logs::global().clone(),
    ));
    state.set_ports(|ports| {
        ports.http = Some(local);
        ports.rtmp = Some(rtmp_local);
        ports.api = Some(api_local);
    });
    let context = Arc::new(http::HttpContext {
        state: state.clone(),
        scheme: http::Scheme::Http,
        local_port: local.port(),
    });
    let mut tasks = Vec::new();
    // The HTTP line comes last: scripts and tests take it to mean "ready".
    if let (Some(listener), Some(tls_config)) = (https_listener, tls_config) {
        let https_local = listener.local_addr()?;
        tracing::info!(address = %https_local, "HTTPS media port listening");
        state.set_ports(|ports| ports.https = Some(https_local));
        let https_context = Arc::new(http::HttpContext {
            state: state.clone(),
            scheme: http::Scheme::Https,
            local_port: https_local.port(),
        });
        tasks.push(tokio::spawn(tls::serve(
            listener,
            tls_config,
            https_context,
        )));
    }
    if let Some(socket) = unix.as_mut() {
        tracing::info!(path = %socket.path().display(), "HTTP unix socket listening");
        tasks.extend(socket.serve(context.clone()));
    }
    tracing::info!(address = %rtmp_local, "RTMP port listening");
    tasks.push(tokio::spawn(rtmp::serve(rtmp_listener, registry)));
    tracing::info!(address = %api_local, "management API listening");
    tasks.push(tokio::spawn(api::serve(api_listener, state.clone())));
    tracing::info!(address = %local, "HTTP media port listening");
    if local.port() != http_port {
        // Port 0 asked for any free port: say which one, for scripts and tests.
        tracing::info!(port = local.port(), "HTTP port chosen");
    }
    tasks.push(tokio::spawn(http::serve(listener, context)));

    shutdown_signal().await;
    tracing::info!("shutting down");
    for task in &tasks {
        task.abort();
    }
    // Removes the socket file.
    drop(unix);
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
