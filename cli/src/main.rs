//! `secret-stack`: the command line of the Rust secret-stack.
//!
//! ```text
//! secret-stack keygen [--keys FILE]     write a new ssb-keys secret file and print its id
//! secret-stack whoami [--keys FILE]     print the id of a secret file
//! ```
//! Logs go to stderr through `tracing`: `-v` (debug), `-vv` (trace), or `RUST_LOG`.

mod keys;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Secure peer-to-peer RPC, wire-compatible with JS secret-stack 8.1.0.
#[derive(Debug, Parser)]
#[command(name = "secret-stack", version, about)]
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
        #[arg(long)]
        keys: Option<PathBuf>,
    },
    /// Print the id of a key file.
    Whoami {
        /// The key file [default: $SECRET_STACK_KEYS or ~/.secret-stack/secret].
        #[arg(long)]
        keys: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Keygen { keys } => keys::keygen(keys),
        Command::Whoami { keys } => keys::whoami(keys),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("secret-stack: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
