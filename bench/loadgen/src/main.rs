//! `brume-loadgen`: the load generator behind Brume's benchmarks.
//!
//! * `fanout` opens many viewers of one live progressive-MP4 stream (raw HTTP/1.1,
//!   one fixed read buffer each), follows each viewer's media clock through the
//!   fragmented MP4 and reports how many kept up with real time.
//! * `segments` fetches one URL over and over on many keep-alive connections
//!   (segments, playlists) and reports requests/s, bytes/s and latency.
//! * `ingest` publishes a stream over RTMP (through a byte-counting relay) and
//!   times when its HLS segments appear.
//! * `mews` does the same as `fanout` over MEWS (MP4 over WebSocket): the
//!   player's command exchange, then fMP4 fragments as binary messages; with
//!   `--seek-ms` and `--fragments 1` it times a seek into an on-demand file.
//! * `hls` runs many HLS viewers (playlist reloads, every new segment, a play
//!   clock) spread over one or more playlist URLs and counts stalls.
//! * `whep` opens many WebRTC viewers (str0m peer connections) of one live
//!   stream over WHEP and reports how many were held without loss.
//! * `probe` waits until a URL serves an init segment and a first fragment.
//! * `free-port` prints a free TCP port on 127.0.0.1, for scripts.
//!
//! It is built to be light so that the server, not the load generator, is what a
//! run measures: by default one thread runs every connection, and it reports its
//! own CPU time.

mod cpu;
mod hist;
mod hls;
mod http;
mod ingest;
mod mews;
mod mp4;
mod report;
mod segments;
mod viewer;
mod whep;

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::http::Target;
use crate::mews::{MewsConfig, Start};
use crate::report::{Criteria, Summary};
use crate::segments::{FetchConfig, FetchReport, FetchSummary};
use crate::viewer::{ViewerConfig, ViewerReport};

/// Load generator for Brume's benchmarks.
#[derive(Debug, Parser)]
#[command(name = "brume-loadgen", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Many concurrent viewers of one live fragmented-MP4 stream.
    Fanout(FanoutArgs),
    /// Many concurrent MEWS (MP4 over WebSocket) viewers of one stream.
    Mews(MewsArgs),
    /// Fetch one URL repeatedly on keep-alive connections (no pipelining).
    Segments(SegmentsArgs),
    /// Wait until a URL answers 200 with an init segment and one video fragment.
    Probe {
        /// Stream URL (http://host:port/path).
        #[arg(long)]
        url: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
    },
    /// Publish over RTMP (command after `--`) and time the HLS segments' appearance.
    Ingest(IngestArgs),
    /// Many concurrent WebRTC (WHEP) viewers of one live stream.
    Whep(WhepArgs),
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Many HLS viewers of one live stream, spread over playlist URLs.
    Hls(HlsArgs),
}

#[derive(Debug, Args)]
struct WhepArgs {
    /// WHEP URL (http://host:port/whep/S).
    #[arg(long)]
    url: String,
    /// Number of concurrent viewers.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    viewers: u32,
    /// How long each viewer receives once connected, in seconds.
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// Spread the offers evenly over this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    ramp_ms: u64,
    /// A viewer with a gap between video frames longer than this many seconds stalled.
    #[arg(long, default_value_t = 1.0)]
    stall: f64,
    /// Runtime threads: 1 runs everything on the calling thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// HLS playlist to poll (master or media).
    #[arg(long)]
    url: String,
    /// The server's RTMP address (host:port).
    #[arg(long)]
    rtmp: String,
    /// RTMP application and stream name.
    #[arg(long, default_value = "live/bench")]
    rtmp_path: String,
    /// Poll period until the first segment is listed, in milliseconds.
    #[arg(long, default_value_t = 20)]
    first_poll_ms: u64,
    /// Poll period afterwards, in milliseconds.
    #[arg(long, default_value_t = 20)]
    poll_ms: u64,
    /// Kill the publisher after this many seconds.
    #[arg(long, default_value_t = 60.0)]
    limit: f64,
    /// Bytes sent by the publisher that mark the first keyframe as sent.
    #[arg(long, default_value_t = 16384)]
    media_bytes: u64,
    /// Seconds of media the publisher sends (its `-t`): the last segment and the
    /// samples past the media's end are left out of the steady-state figures.
    #[arg(long)]
    media_seconds: Option<f64>,
    /// Publisher command; `{rtmp}` is replaced by the RTMP URL to publish to.
    #[arg(last = true, required = true)]
    publisher: Vec<String>,
}

#[derive(Debug, Args)]
struct FanoutArgs {
    /// Stream URL (http://host:port/path).
    #[arg(long)]
    url: String,
    /// Number of concurrent viewers.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    viewers: u32,
    /// How long to read after the ramp, in seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Spread the connections evenly over this many milliseconds.
    #[arg(long, default_value_t = 0)]
    ramp_ms: u64,
    /// Print one JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Runtime threads: 1 runs everything on the calling thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// Read buffer per connection, in KiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(16..=4096))]
    buf_kib: u32,
    /// A viewer lagging more than this many seconds is not at real time.
    #[arg(long, default_value_t = 1.0)]
    max_lag: f64,
    /// A viewer with a gap between reads longer than this many seconds stalled.
    #[arg(long, default_value_t = 2.0)]
    stall: f64,
    /// Every this many seconds, print a progress line to stderr
    /// (`progress {"elapsed_s":…,"errors":…,"ended":…}`); 0: none.
    #[arg(long, default_value_t = 0)]
    progress: u64,
}

#[derive(Debug, Args)]
struct MewsArgs {
    /// Stream URL (ws://host:port/S.mp4; http:// is taken as ws://).
    #[arg(long)]
    url: String,
    /// Number of concurrent viewers.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    viewers: u32,
    /// How long to read after the ramp, in seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Spread the connections evenly over this many milliseconds.
    #[arg(long, default_value_t = 0)]
    ramp_ms: u64,
    /// Print one JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Runtime threads: 1 runs everything on the calling thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// WebSocket read buffer per connection, in KiB.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(4..=4096))]
    buf_kib: u32,
    /// A viewer lagging more than this many seconds is not at real time.
    #[arg(long, default_value_t = 1.0)]
    max_lag: f64,
    /// A viewer with a gap between messages longer than this many seconds stalled.
    #[arg(long, default_value_t = 2.0)]
    stall: f64,
    /// Play from this media time in milliseconds (on demand) instead of live.
    #[arg(long)]
    seek_ms: Option<u64>,
    /// Each viewer stops, successfully, after this many video fragments.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    fragments: Option<u64>,
    /// Every this many seconds, print a progress line to stderr
    /// (`progress {"elapsed_s":…,"errors":…,"ended":…}`); 0: none.
    #[arg(long, default_value_t = 0)]
    progress: u64,
}

#[derive(Debug, Args)]
struct SegmentsArgs {
    /// URL to fetch (http://host:port/path).
    #[arg(long)]
    url: String,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// How long to fetch, in seconds.
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    /// Every good body must be exactly this many bytes.
    #[arg(long)]
    expect_length: Option<u64>,
    /// Print one JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Runtime threads: 1 runs everything on the calling thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// Read buffer per connection, in KiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=4096))]
    buf_kib: u32,
}

#[derive(Debug, Args)]
struct HlsArgs {
    /// Media playlist URL (repeat: viewers are spread round-robin).
    #[arg(long, required = true)]
    url: Vec<String>,
    /// Number of concurrent viewers.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    viewers: u32,
    /// How long to watch, in seconds (after the ramp).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Viewers start spread over this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    ramp_ms: u64,
    /// Runtime threads: 1 runs everything on the calling thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fanout(args) => fanout(&args),
        Command::Mews(args) => mews_fanout(&args),
        Command::Segments(args) => fetch_segments(&args),
        Command::Probe { url, timeout } => probe(&url, timeout),
        Command::Ingest(args) => ingest_run(&args),
        Command::Whep(args) => whep_fanout(&args),
        Command::FreePort => free_port(),
        Command::Hls(args) => hls_viewers(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("brume-loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `whep`: prints one JSON line with the counts and the load generator's CPU time.
fn whep_fanout(args: &WhepArgs) -> anyhow::Result<()> {
    let rt = runtime(args.threads)?;
    let cpu_start = cpu::process_cpu_time();
    let started = Instant::now();
    let reports = rt.block_on(async {
        let mut tasks = Vec::new();
        let step = Duration::from_millis(args.ramp_ms) / args.viewers;
        for _ in 0..args.viewers {
            tasks.push(tokio::spawn(whep::viewer(
                args.url.clone(),
                Duration::from_secs_f64(args.seconds),
                Duration::from_secs(20),
            )));
            tokio::time::sleep(step).await;
        }
        let mut reports = Vec::new();
        for task in tasks {
            reports.push(task.await.unwrap_or_default());
        }
        reports
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_start, cpu::process_cpu_time()) {
        (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
        _ => 0.0,
    };
    let stall = Duration::from_secs_f64(args.stall);
    let connected = reports.iter().filter(|r| r.connected).count();
    let held = reports.iter().filter(|r| r.held(stall)).count();
    let gaps: u64 = reports.iter().map(|r| r.gaps).sum();
    let frames: u64 = reports.iter().map(|r| r.video_frames).sum();
    let bytes: u64 = reports.iter().map(|r| r.video_bytes).sum();
    let audio: u64 = reports.iter().map(|r| r.audio_packets).sum();
    let worst_stall = reports
        .iter()
        .map(|r| r.longest_stall.as_secs_f64())
        .fold(0.0, f64::max);
    let first_error = reports.iter().find_map(|r| r.error.clone());
    eprintln!(
        "whep: {held}/{} held without loss ({connected} connected), {frames} video frames, \
         {audio} audio packets, {gaps} gaps, worst stall {worst_stall:.2} s{}",
        args.viewers,
        first_error
            .as_deref()
            .map(|e| format!("; first error: {e}"))
            .unwrap_or_default()
    );
    println!(
        "{}",
        serde_json::json!({
            "viewers": args.viewers,
            "connected": connected,
            "held": held,
            "gaps": gaps,
            "video_frames": frames,
            "video_bytes": bytes,
            "audio_packets": audio,
            "worst_stall_s": worst_stall,
            "elapsed_s": elapsed,
            "loadgen_cpu_s": cpu,
            "first_error": first_error,
        })
    );
    Ok(())
}

fn runtime(threads: u16) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(usize::from(threads));
        b
    };
    builder.enable_all().build().context("starting the runtime")
}

fn resolve(target: &Target) -> anyhow::Result<SocketAddr> {
    target
        .authority
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", target.authority))?
        .next()
        .ok_or_else(|| anyhow!("{} has no address", target.authority))
}

fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow!("{what} must be a positive number of seconds"))
}

fn fanout(args: &FanoutArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.url).map_err(|e| anyhow!(e))?;
    let run_for = seconds(args.seconds, "--seconds")?;
    let config = Arc::new(ViewerConfig {
        addr: resolve(&target)?,
        request: target.request().into_bytes(),
        buf_size: args.buf_kib as usize * 1024,
        stop_after_fragments: None,
    });
    let run = Run {
        url: args.url.clone(),
        viewers: args.viewers,
        ramp_ms: args.ramp_ms,
        run_for,
        threads: args.threads,
        criteria: Criteria {
            max_lag_s: args.max_lag,
            max_gap_s: args.stall,
        },
        json: args.json,
        progress: args.progress,
    };
    run.go(move |start, deadline| {
        let config = Arc::clone(&config);
        async move { viewer::run(&config, start, deadline).await }
    })
}

fn mews_fanout(args: &MewsArgs) -> anyhow::Result<()> {
    let ws_url = match args.url.split_once("://") {
        Some(("ws" | "http", rest)) => format!("ws://{rest}"),
        _ => bail!("--url must be ws://HOST:PORT/PATH"),
    };
    let target =
        Target::parse(&format!("http://{}", &ws_url["ws://".len()..])).map_err(|e| anyhow!(e))?;
    let run_for = seconds(args.seconds, "--seconds")?;
    let config = Arc::new(MewsConfig {
        addr: resolve(&target)?,
        url: ws_url.clone(),
        start: args.seek_ms.map_or(Start::Live, Start::At),
        stop_after_fragments: args.fragments,
        read_buffer: args.buf_kib as usize * 1024,
    });
    let run = Run {
        url: ws_url,
        viewers: args.viewers,
        ramp_ms: args.ramp_ms,
        run_for,
        threads: args.threads,
        criteria: Criteria {
            max_lag_s: args.max_lag,
            max_gap_s: args.stall,
        },
        json: args.json,
        progress: args.progress,
    };
    run.go(move |start, deadline| {
        let config = Arc::clone(&config);
        async move { mews::run(&config, start, deadline).await }
    })
}

/// One fan-out run, whatever the protocol of its viewers.
struct Run {
    url: String,
    viewers: u32,
    ramp_ms: u64,
    run_for: Duration,
    threads: u16,
    criteria: Criteria,
    json: bool,
    progress: u64,
}

impl Run {
    /// Starts the viewers spread over the ramp, waits for all of them and prints
    /// the summary.
    fn go<F, Fut>(self, viewer: F) -> anyhow::Result<()>
    where
        F: Fn(Instant, Instant) -> Fut,
        Fut: std::future::Future<Output = ViewerReport> + Send + 'static,
    {
        let rt = runtime(self.threads)?;
        let viewers = self.viewers;
        let ramp = Duration::from_millis(self.ramp_ms);
        let cpu_before = cpu::process_cpu_time();
        let t0 = Instant::now();
        let deadline = t0 + ramp + self.run_for;
        let errors = Arc::new(AtomicU64::new(0));
        let ended = Arc::new(AtomicU64::new(0));
        let reports: Vec<ViewerReport> = rt.block_on(async {
            if self.progress > 0 {
                let (errors, ended) = (Arc::clone(&errors), Arc::clone(&ended));
                let every = Duration::from_secs(self.progress);
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval_at((t0 + every).into(), every);
                    loop {
                        tick.tick().await;
                        eprintln!(
                            "progress {{\"elapsed_s\":{:.1},\"errors\":{},\"ended\":{}}}",
                            t0.elapsed().as_secs_f64(),
                            errors.load(Ordering::Relaxed),
                            ended.load(Ordering::Relaxed)
                        );
                    }
                });
            }
            let handles: Vec<_> = (0..viewers)
                .map(|i| {
                    let start = t0 + ramp.mul_f64(f64::from(i) / f64::from(viewers));
                    let task = viewer(start, deadline);
                    let (errors, ended) = (Arc::clone(&errors), Arc::clone(&ended));
                    tokio::spawn(async move {
                        let report = task.await;
                        ended.fetch_add(1, Ordering::Relaxed);
                        if report.error.is_some() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        report
                    })
                })
                .collect();
            let mut reports = Vec::with_capacity(handles.len());
            for handle in handles {
                reports.push(handle.await.unwrap_or_else(|e| ViewerReport {
                    error: Some(format!("viewer task failed: {e}")),
                    ..ViewerReport::default()
                }));
            }
            reports
        });
        let wall = t0.elapsed();
        let cpu = match (cpu_before, cpu::process_cpu_time()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        drop(rt);

        let mut summary = Summary::new(&reports, self.criteria);
        summary.url = self.url;
        summary.seconds = self.run_for.as_secs_f64();
        summary.ramp_ms = self.ramp_ms;
        summary.wall_s = wall.as_secs_f64();
        summary.cpu = cpu;
        if self.json {
            eprint!("{}", summary.human());
            println!("{}", summary.to_json());
        } else {
            print!("{}", summary.human());
        }
        Ok(())
    }
}

fn fetch_segments(args: &SegmentsArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.url).map_err(|e| anyhow!(e))?;
    let run_for = seconds(args.seconds, "--seconds")?;
    let config = Arc::new(FetchConfig {
        addr: resolve(&target)?,
        request: target.request().into_bytes(),
        buf_size: args.buf_kib as usize * 1024,
        expect_length: args.expect_length,
    });
    let rt = runtime(args.threads)?;
    let cpu_before = cpu::process_cpu_time();
    let t0 = Instant::now();
    let deadline = t0 + run_for;
    let total = rt.block_on(async {
        let handles: Vec<_> = (0..args.connections)
            .map(|_| {
                let config = Arc::clone(&config);
                tokio::spawn(async move { segments::run(&config, deadline).await })
            })
            .collect();
        let mut total = FetchReport::default();
        for handle in handles {
            match handle.await {
                Ok(report) => total.merge(&report),
                Err(e) => {
                    total.conn_errors += 1;
                    total
                        .first_error
                        .get_or_insert_with(|| format!("connection task failed: {e}"));
                }
            }
        }
        total
    });
    let cpu = match (cpu_before, cpu::process_cpu_time()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    drop(rt);
    // Requests still in flight at the deadline are dropped, so the counted ones
    // all completed within the requested span.
    let summary = FetchSummary {
        url: args.url.clone(),
        connections: args.connections,
        seconds: run_for.as_secs_f64(),
        total,
        cpu,
    };
    if args.json {
        eprint!("{}", summary.human());
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.human());
    }
    Ok(())
}

fn hls_viewers(args: &HlsArgs) -> anyhow::Result<()> {
    let targets = args
        .url
        .iter()
        .map(|u| Target::parse(u).map_err(|e| anyhow!(e)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let run_for = seconds(args.seconds, "--seconds")?;
    let ramp = Duration::from_millis(args.ramp_ms);
    let rt = runtime(args.threads)?;
    let cpu_before = cpu::process_cpu_time();
    let t0 = Instant::now();
    let deadline = t0 + ramp + run_for;
    let reports = rt.block_on(async {
        let handles: Vec<_> = (0..args.viewers)
            .map(|i| {
                let target = targets[i as usize % targets.len()].clone();
                let start = t0 + ramp.mul_f64(f64::from(i) / f64::from(args.viewers));
                tokio::spawn(async move {
                    tokio::time::sleep_until(start.into()).await;
                    hls::viewer(target, deadline).await
                })
            })
            .collect();
        let mut reports = Vec::new();
        for handle in handles {
            reports.push(handle.await.unwrap_or_default());
        }
        reports
    });
    let cpu = match (cpu_before, cpu::process_cpu_time()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
        _ => None,
    };
    drop(rt);
    let held = reports.iter().filter(|r| r.played && r.stalls == 0).count();
    let sum = |f: fn(&hls::HlsReport) -> u64| reports.iter().map(f).sum::<u64>();
    let stalled_s: f64 = reports.iter().map(|r| r.stalled_s).sum();
    let first_error = reports.iter().find_map(|r| r.first_error.clone());
    let wall = t0.elapsed().as_secs_f64();
    let json = serde_json::json!({
        "viewers": args.viewers,
        "held": held,
        "stalls": sum(|r| r.stalls),
        "stalled_s": stalled_s,
        "playlists": sum(|r| r.playlists),
        "segments": sum(|r| r.segments),
        "bytes": sum(|r| r.bytes),
        "errors": sum(|r| r.errors),
        "first_error": first_error,
        "loadgen_cpu_pct": cpu.map(|c| c / wall * 100.0),
    });
    eprintln!(
        "hls: {held}/{} viewers held at real time; {} segments, {} playlists, {} errors",
        args.viewers, json["segments"], json["playlists"], json["errors"]
    );
    println!("{json}");
    Ok(())
}

fn probe(url: &str, timeout: f64) -> anyhow::Result<()> {
    let target = Target::parse(url).map_err(|e| anyhow!(e))?;
    let give_up = Instant::now() + seconds(timeout, "--timeout")?;
    let rt = runtime(1)?;
    let mut last_error = String::from("no attempt made");
    while Instant::now() < give_up {
        let attempt = rt.block_on(async {
            let config = ViewerConfig {
                addr: resolve(&target)?,
                request: target.request().into_bytes(),
                buf_size: 64 * 1024,
                stop_after_fragments: Some(1),
            };
            let deadline = (Instant::now() + Duration::from_secs(5)).min(give_up);
            anyhow::Ok(viewer::run(&config, Instant::now(), deadline).await)
        });
        match attempt {
            Ok(v) if v.error.is_none() && v.fragments > 0 => {
                let video = v.video.map_or_else(String::new, |t| {
                    format!(", video track {} at timescale {}", t.track_id, t.timescale)
                });
                println!(
                    "{url}: {} {}{video}, first fragment after {} bytes",
                    v.status.unwrap_or_default(),
                    v.content_type.as_deref().unwrap_or("(no Content-Type)"),
                    v.bytes
                );
                return Ok(());
            }
            Ok(v) => {
                last_error = v
                    .error
                    .unwrap_or_else(|| "no video fragment in time".into())
            }
            Err(e) => last_error = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("{url} not serving after {timeout} s: {last_error}")
}

fn ingest_run(args: &IngestArgs) -> anyhow::Result<()> {
    let config = ingest::IngestConfig {
        url: args.url.clone(),
        upstream: args.rtmp.clone(),
        rtmp_path: args.rtmp_path.clone(),
        publisher: args.publisher.clone(),
        first_poll: Duration::from_millis(args.first_poll_ms.max(1)),
        poll: Duration::from_millis(args.poll_ms.max(1)),
        limit: seconds(args.limit, "--limit")?,
        media_bytes: args.media_bytes,
        media_seconds: args.media_seconds,
    };
    println!("{}", ingest::run(&config)?);
    Ok(())
}

fn free_port() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    Ok(())
}
