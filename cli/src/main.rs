//! `secret-stack`: the command line of the Rust secret-stack — key files, a demo node, and calls
//! to any peer that speaks secret-stack 8.1.0 (Rust or JS).
//!
//! ```text
//! secret-stack keygen   [--keys FILE]              write a new ssb-keys secret file, print its id
//! secret-stack whoami   [--keys FILE]              print the id of a secret file
//! secret-stack serve    [--config FILE] [--port N] [--host H] [--app-key B64] [--keys FILE]
//!                       [--master ID]... [--scope S]
//!                                                  run a node serving the `test` plugin; prints
//!                                                  its address, stops on Ctrl-C / SIGTERM
//! secret-stack call     [ADDRESS] METHOD [ARG_JSON]... [--kind K] [--raw] [--app-key B64]
//!                       [--keys FILE] [--timeout SECS]
//!                                                  call any method, print the answers as JSON lines
//! secret-stack manifest [ADDRESS | --file FILE] [--rust] [--app-key B64] [--keys FILE]
//!                       [--timeout SECS]           print a peer's manifest, as JSON or as
//!                                                  `#[remote]` traits
//! ```
//!
//! A session:
//! ```text
//! $ export SECRET_STACK_APP_KEY=SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=
//! $ secret-stack serve --host 127.0.0.1 --port 8008 &
//! net:127.0.0.1:8008~shs:…
//! $ secret-stack call 'net:127.0.0.1:8008~shs:…' test.hello world      # "hello world"
//! $ secret-stack call 'net:127.0.0.1:8008~shs:…' test.count 3          # 0, 1, 2 (one per line)
//! $ printf '1\n"a"\n' | secret-stack call 'net:…' test.collect          # a sink reads stdin
//! $ secret-stack call whoami       # the local Scuttlebutt server, as `ssb-server whoami` does
//! ```
//!
//! The app key (network key) is given with `--app-key`, `$SECRET_STACK_APP_KEY`, or (for `serve`)
//! the config file; `call` and `manifest` also read Scuttlebutt's `~/.ssb` ([`ssb`], and the
//! order in [`client`]). Without any, there is no default: a node on the wrong network fails
//! every handshake without saying why. Exit codes: 0 success, 1 the remote answered with an error, 2 bad usage or
//! a local problem, 3 network failure, 4 `--timeout` elapsed, 130 / 143 `call` or `manifest`
//! stopped by SIGINT / SIGTERM (`serve` closes and exits with 0 on those; see [`failure`]). Logs go to stderr
//! through `tracing`: `-v` (debug), `-vv` (trace), or `RUST_LOG`; `serve` logs at `info` by
//! default, the other commands only warnings.

#![warn(missing_docs)]

mod call;
mod client;
mod failure;
mod help;
mod input;
mod keys;
mod manifest;
mod output;
mod rust_client;
mod serve;
mod signals;
mod ssb;
mod transports;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::client::ClientArgs;
use crate::failure::Failure;
use crate::serve::ServeArgs;

use crate::help::{AFTER_HELP, CALL_HELP, DIAL_HELP};

/// Secure peer-to-peer RPC, wire-compatible with JS secret-stack 8.1.0.
#[derive(Debug, Parser)]
#[command(name = "secret-stack", version, about, after_help = AFTER_HELP)]
struct Cli {
    /// More logging on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new ssb-keys secret file (never overwrites one) and print its id.
    Keygen {
        /// The key file [default: $SECRET_STACK_KEYS or ~/.secret-stack/secret].
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
    },
    /// Print the id of a key file.
    Whoami {
        /// The key file [default: $SECRET_STACK_KEYS or ~/.secret-stack/secret].
        #[arg(long, value_name = "FILE")]
        keys: Option<PathBuf>,
    },
    /// Run a node serving the demo `test` plugin (hello, add, fail, count, bytes, collect,
    /// collected, echo, secret) and print its address once listening; Ctrl-C or SIGTERM
    /// closes it gracefully.
    #[command(after_help = AFTER_HELP)]
    Serve(ServeArgs),
    /// Call a method of a remote peer (`test.hello`), of any kind, and print its answers.
    #[command(
        after_help = CALL_HELP,
        allow_negative_numbers = true,
        override_usage = "secret-stack call [OPTIONS] [ADDRESS] METHOD [ARG_JSON]..."
    )]
    Call {
        /// `[ADDRESS] METHOD [ARG_JSON]...`: the peer's multiserver address
        /// (net:HOST:PORT~shs:KEY; without it, the local Scuttlebutt server of ~/.ssb), the
        /// method, dotted (test.hello), and its arguments (JSON, or plain text taken as a
        /// string). The first word is the ADDRESS if it has a `:`.
        #[arg(value_name = "ARGS", required = true, num_args = 1..)]
        words: Vec<String>,
        /// The kind of call [default: from the remote manifest].
        #[arg(long, value_parser = ["async", "sync", "source", "sink", "duplex"])]
        kind: Option<String>,
        /// Send stdin as binary chunks (sinks, duplexes) and write binary answers as their bytes.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print a peer's manifest as pretty JSON, or as typed Rust clients (--rust).
    #[command(after_help = DIAL_HELP)]
    Manifest {
        /// The peer's multiserver address, net:HOST:PORT~shs:KEY (KEY: its public key, base64)
        /// [default: the local Scuttlebutt server of ~/.ssb].
        #[arg(conflicts_with = "file")]
        address: Option<String>,
        /// Print Rust source instead: for every plugin a module with a `#[remote]` trait
        /// (methods nested deeper get dotted wire names), for the methods outside any plugin a
        /// `RootClient`; arguments and answers are serde_json::Value.
        #[arg(long)]
        rust: bool,
        /// Read the manifest from a JSON file instead of asking a peer.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet_default = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_logging(cli.verbose, quiet_default);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::StdoutClosed) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("secret-stack: {failure}");
            failure.exit_code()
        }
    }
}

/// Runs one command; the network commands get a runtime of their own.
fn run(command: Command) -> Result<(), Failure> {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::usage(format!("cannot start the async runtime: {e}")))
    };
    let in_runtime = |future: std::pin::Pin<Box<dyn Future<Output = Result<(), Failure>>>>| {
        let runtime = runtime()?;
        let result = runtime.block_on(future);
        // Nothing should be left running; if something is, it must not hold the process up.
        runtime.shutdown_timeout(Duration::from_millis(100));
        result
    };
    match command {
        Command::Keygen { keys } => keys::keygen(keys),
        Command::Whoami { keys } => keys::whoami(keys),
        Command::Serve(args) => in_runtime(Box::pin(serve::run(args))),
        Command::Call {
            words,
            kind,
            raw,
            client,
        } => {
            let call = call::Call::from_words(words, kind, raw)?;
            in_runtime(Box::pin(async move {
                signals::interruptible(call::run(call, &client)).await
            }))
        }
        Command::Manifest {
            address,
            rust,
            file,
            client,
        } => in_runtime(Box::pin(async move {
            let command = manifest::ManifestCommand {
                address: address.as_deref(),
                file: file.as_deref(),
                rust,
            };
            signals::interruptible(manifest::run(command, &client)).await
        })),
    }
}

fn init_logging(verbose: u8, quiet_default: &str) {
    let default = match verbose {
        0 => quiet_default,
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
