//! Client benchmark against any peer serving the interop `test` plugin (`interop_peer` or
//! `tests/interop/peer.js`).
//!
//! `cargo run --release --example bench -- ADDRESS [--app-key B64] [--only connect,rtt1,...]
//! [--seconds S] [--threads N] [--portal PORTAL_ADDRESS]` (with `--portal`, ADDRESS is a `tunnel:`
//! address and every connection is a tunnel through that portal)
//!
//! Prints one JSON line per figure, `{"bench":"<name>","value":<number>,"unit":"<unit>"}`:
//! `connect` (sequential connect + handshake + RPC close, conn/s), `rtt1` / `rtt100` (`test.hello`
//! round trips with 1 / 100 in flight, calls/s), `source` (`test.bytes` in 64 KiB chunks, MB/s)
//! and `echo` (`test.echo` with 64 KiB chunks, at most 1 MiB unanswered, MB/s one way).
//!
//! Two more figures, `seal` and `open`, are measured in this process without the peer: how fast one
//! core seals and opens 4096-byte box-stream frames (MB/s of plaintext), the ceiling of `source`.
//! They run only when named in `--only`.
//!
//! `--idle N --peer-pid PID` instead opens N idle authenticated connections and prints the peer
//! process's RSS growth per connection (`idle_rss_per_conn`, KiB) and its RSS before and after.
//! Exits with status 1 if a figure fails, 2 on a usage error.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use secret_stack::keys::AppKey;
use secret_stack_examples::bench::{Dialer, FIGURES};
use secret_stack_examples::ceiling;

/// Figures measured in this process, without the peer (named in `--only` only).
const LOCAL_FIGURES: [&str; 2] = ["seal", "open"];

/// The suite's default app key.
const DEFAULT_APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

#[derive(Parser, Debug)]
#[command(about = "Benchmark a peer serving the interop `test` plugin")]
struct Args {
    /// The peer's multiserver address, e.g. `net:127.0.0.1:8008~shs:<key>`.
    address: String,
    /// The app key (base64 of 32 bytes).
    #[arg(long, default_value = DEFAULT_APP_KEY)]
    app_key: AppKey,
    /// Comma-separated figures to run (default: the five against the peer; `seal` and `open`
    /// measure the cipher on this core).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Seconds per figure.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Worker threads of the client's runtime; 0 runs everything on one thread.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Open this many idle connections and report the peer's RSS growth per connection.
    #[arg(long, requires = "peer_pid")]
    idle: Option<usize>,
    /// The peer's process id (for `--idle`).
    #[arg(long)]
    peer_pid: Option<u32>,
    /// ADDRESS is a `tunnel:` address: reach the portal at this address first and open a tunnel
    /// through it for each connection (with `--idle`, `--peer-pid` may be the portal's).
    #[arg(long)]
    portal: Option<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let runtime = if args.threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let dialer = match &args.portal {
        Some(portal) => Dialer::through_portal(&args.address, portal, args.app_key).await,
        None => Dialer::new(&args.address, args.app_key),
    };
    let dialer = match dialer {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("bench client id {}", dialer.id());
    if let (Some(count), Some(pid)) = (args.idle, args.peer_pid) {
        return match dialer.idle(count, pid).await {
            Ok(figures) => {
                for f in figures {
                    println!("{}", f.to_json());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("idle: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // The cipher's ceiling, measured here rather than against the peer: `seal` and `open`.
    let (local, remote): (Vec<String>, Vec<String>) = args
        .only
        .iter()
        .cloned()
        .partition(|f| LOCAL_FIGURES.contains(&f.as_str()));
    for figure in &local {
        let time = Duration::from_secs_f64(args.seconds.max(0.1));
        let measured = if figure == "seal" {
            ceiling::seal_rate(time)
        } else {
            ceiling::open_rate(time)
        };
        println!("{}", measured.to_json());
    }
    if !local.is_empty() && remote.is_empty() {
        return ExitCode::SUCCESS;
    }
    let figures: Vec<String> = if remote.is_empty() {
        FIGURES.iter().map(|f| (*f).to_owned()).collect()
    } else {
        remote
    };
    if let Some(bad) = figures.iter().find(|f| !FIGURES.contains(&f.as_str())) {
        eprintln!(
            "unknown figure {bad:?} (known: {}, {})",
            FIGURES.join(", "),
            LOCAL_FIGURES.join(", ")
        );
        return ExitCode::from(2);
    }
    let mut failed = false;
    for figure in &figures {
        match dialer.run(figure, args.seconds).await {
            Ok(f) => println!("{}", f.to_json()),
            Err(e) => {
                eprintln!("{figure}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
