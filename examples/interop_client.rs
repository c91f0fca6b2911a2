//! The Rust interop client: dials a peer serving the `test` plugin (`tests/interop/peer.js` or the
//! `interop_peer` example) and checks every method, like `tests/interop/client.js`.
//!
//! `cargo run --example interop_client -- ADDRESS [--app-key B64] [--keys FILE] [--master]
//! [--portal PORTAL_ADDRESS]` (with `--portal`, ADDRESS is a `tunnel:` address reached through it)
//!
//! Prints `ok - name` / `not ok - name: detail` per check, then `N passed, M failed`; exits with
//! status 1 if any check failed, 2 if it could not connect. Logs go to stderr (`RUST_LOG`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use secret_stack::keys::{AppKey, Keypair, load_or_create_key_file};
use secret_stack_examples::client::{ClientConfig, run_through};

/// The suite's default app key.
const DEFAULT_APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

#[derive(Parser, Debug)]
#[command(about = "Check a peer serving the interop `test` plugin")]
struct Args {
    /// The peer's multiserver address, e.g. `net:127.0.0.1:8008~shs:<key>`.
    address: String,
    /// The app key (base64 of 32 bytes).
    #[arg(long, default_value = DEFAULT_APP_KEY)]
    app_key: AppKey,
    /// ssb-keys secret file with our identity, created if missing (default: a random identity).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// The peer treats us as a master: `test.secret` must succeed.
    #[arg(long)]
    master: bool,
    /// ADDRESS is a `tunnel:` address: reach the portal at this address first, then run every
    /// check through the tunnel.
    #[arg(long)]
    portal: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    let keys = match &args.keys {
        Some(path) => match load_or_create_key_file(path) {
            Ok(keys) => keys,
            Err(e) => {
                eprintln!("cannot load {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => Keypair::generate(),
    };
    eprintln!("client id {}", keys.id());
    let config = ClientConfig {
        keys,
        app_key: args.app_key,
        master: args.master,
    };
    let results = match run_through(&args.address, args.portal.as_deref(), &config).await {
        Ok(results) => results,
        Err(e) => {
            println!("not ok - connect: {e}");
            println!("0 passed, 1 failed");
            return ExitCode::from(2);
        }
    };
    println!("ok - connect");
    let mut failed = 0;
    for r in &results {
        if r.passed {
            println!("ok - {}", r.name);
        } else {
            failed += 1;
            println!("not ok - {}: {}", r.name, r.detail.replace('\n', " "));
        }
    }
    println!("{} passed, {failed} failed", results.len() + 1 - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
