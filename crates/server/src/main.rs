//! The `brume` command: parses options, loads the configuration, runs the server;
//! `brume passwd` sets an account password in a config file; `brume balance`
//! runs a load balancer in front of Brume edges.

use std::io::BufRead;
use std::path::{Path, PathBuf};
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
    #[command(subcommand)]
    command: Option<Command>,

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

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Sets the password of a management API account, read as one line from stdin,
    /// and stores its argon2 hash in the config file's `api.accounts` (the file is
    /// created with the defaults if missing). A running server picks the account
    /// up when restarted.
    Passwd {
        /// The JSON configuration file to store the account in.
        #[arg(short, long, value_name = "PATH")]
        config: PathBuf,
        /// The account name.
        #[arg(short, long, default_value = "admin", value_name = "NAME")]
        user: String,
    },
    /// Runs a load balancer instead of a server: polls each edge's /load.json
    /// and sends each viewer (a 307 redirect) to the least-loaded healthy edge
    /// that can serve the stream. The registration secret for POST /edges is
    /// read from the file or the BRUME_BALANCE_SECRET environment variable.
    Balance(brume::balance::BalanceArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Passwd { config, user }) = &cli.command {
        return match passwd(config, user) {
            Ok(()) => {
                println!("password set for user {user}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("brume passwd: {err}");
                ExitCode::from(2)
            }
        };
    }
    let logs = logging::init(cli.log_format, &cli.log_level);
    if let Some(Command::Balance(args)) = &cli.command {
        return balance(args);
    }
    brume::http::connection::raise_fd_limit();
    let config = match &cli.config {
        Some(path) => match Config::load_or_create(path) {
            Ok((config, created)) => {
                if created {
                    tracing::info!(path = %path.display(), "wrote the default configuration");
                } else {
                    tracing::info!(path = %path.display(), "configuration loaded");
                }
                brume::config_store::warn_if_readable_by_others(path);
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
    let result = runtime.block_on(brume::run(config, cli.config, logs));
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

/// `brume balance`: runs the load balancer until the process is stopped.
fn balance(args: &brume::balance::BalanceArgs) -> ExitCode {
    use brume::balance::{BalanceConfig, SECRET_ENV};
    let config = match BalanceConfig::resolve(args, std::env::var(SECRET_ENV).ok()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("brume balance: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("brume balance: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(brume::balance::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("brume balance: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `brume passwd`: reads one line from stdin, hashes it, saves it in `path`.
fn passwd(path: &Path, user: &str) -> anyhow::Result<()> {
    use brume::api::password;
    password::check_account_name(user)?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the password from stdin: {e}"))?;
    let secret = line.strip_suffix('\n').unwrap_or(&line);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.is_empty() {
        anyhow::bail!("no password given: write it as one line on stdin");
    }
    let hash = password::hash(secret)?;
    let (mut config, _) = Config::load_or_create(path)?;
    config.api.accounts.insert(user.to_owned(), hash);
    config.validate(path)?;
    config.save(path)?;
    Ok(())
}
