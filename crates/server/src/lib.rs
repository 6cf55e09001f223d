//! Brume, the streaming media server: configuration, streams, and the HTTP media port.
//!
//! The binary (`main.rs`) parses the command line and calls [`run`]; everything else
//! lives in modules: [`config`] (the JSON file), [`stream`] (registry, live rings,
//! file sources), [`http`] (the media port), [`net`] (address helpers) and
//! [`logging`].

pub mod config;
pub mod http;
pub mod logging;
pub mod net;
pub mod stream;
pub mod util;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use config::Config;

/// Starts every listener and source, then waits for SIGINT or SIGTERM.
pub async fn run(config: Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let registry = stream::Registry::start(&config, config_path.as_deref());
    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "HTTP media port listening");
    if local.port() != config.http.listen.port() {
        // Port 0 asked for any free port: say which one, for scripts and tests.
        tracing::info!(port = local.port(), "HTTP port chosen");
    }
    let config = Arc::new(config);
    let context = Arc::new(http::HttpContext {
        registry,
        config: config.clone(),
        scheme: http::Scheme::Http,
        local_port: local.port(),
    });
    let server = tokio::spawn(http::serve(listener, context));
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.abort();
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
