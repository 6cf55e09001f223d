//! The `brume` command: parses options, loads the configuration, runs the server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use brume::config::Config;
use brume::logging::{self, LogFormat};

/// Brume: a streaming media server. Takes live pushes and media files in and serves
/// them over HTTP (progressive MP4 now; HLS, DASH and more as they land).
///
/// Without --config, Brume runs an embedded default: the HTTP media port on
/// 0.0.0.0:8080 and a stream `demo` that loops a bundled clip as a live stream, so
/// `ffplay http://localhost:8080/demo.mp4` plays at once.
#[derive(Debug, Parser)]
#[command(name = "brume", version, about, long_about)]
struct Cli {
    /// JSON configuration file. If it does not exist, the default configuration is
    /// written there and used.
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter such
    /// as `brume=debug`). RUST_LOG overrides it.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    log_level: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format, &cli.log_level);
    brume::http::connection::raise_fd_limit();
    let config = match &cli.config {
        Some(path) => match Config::load_or_create(path) {
            Ok((config, created)) => {
                if created {
                    tracing::info!(path = %path.display(), "wrote the default configuration");
                } else {
                    tracing::info!(path = %path.display(), "configuration loaded");
                }
                config
            }
            Err(err) => {
                eprintln!("brume: {err}");
                return ExitCode::from(2);
            }
        },
        None => Config::default(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("brume: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(brume::run(config, cli.config));
    // Live viewers never finish on their own: give tasks a moment, then leave.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("brume: {err:#}");
            ExitCode::FAILURE
        }
    }
}
