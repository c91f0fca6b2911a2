//! The Rust interop peer: serves the `test` plugin on 127.0.0.1 like `tests/interop/peer.js`.
//!
//! `cargo run --example interop_peer -- [--port N] [--app-key B64] [--keys FILE] [--master @ID]...`
//!
//! Prints one JSON line on stdout once listening, `{"address":"net:127.0.0.1:PORT~shs:KEY",
//! "id":"@KEY.ed25519"}`, logs to stderr (`RUST_LOG`), and exits on Ctrl-C, SIGTERM, or when stdin
//! closes.

use std::path::PathBuf;

use clap::Parser;
use secret_stack::keys::{AppKey, Keypair, PublicKey, load_or_create_key_file};
use secret_stack_examples::peer::{HANDSHAKE_TIMEOUT, Peer, PeerConfig};
use tokio::io::AsyncReadExt;

/// The suite's default app key.
const DEFAULT_APP_KEY: &str = "SjNKh+fLfcLL2v+JLpUqubTrCifzsB/rAN5E+hV4Nkg=";

#[derive(Parser, Debug)]
#[command(about = "Serve the interop `test` plugin on 127.0.0.1")]
struct Args {
    /// Port to listen on (default: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// The app key (base64 of 32 bytes).
    #[arg(long, default_value = DEFAULT_APP_KEY)]
    app_key: AppKey,
    /// ssb-keys secret file with our identity, created if missing (default: a random identity).
    #[arg(long)]
    keys: Option<PathBuf>,
    /// An id (`@….ed25519`) that gets full access; repeatable.
    #[arg(long = "master")]
    masters: Vec<PublicKey>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let keys = match &args.keys {
        Some(path) => load_or_create_key_file(path)?,
        None => Keypair::generate(),
    };
    let peer = Peer::start(PeerConfig {
        keys,
        app_key: args.app_key,
        port: args.port,
        masters: args.masters,
        handshake_timeout: HANDSHAKE_TIMEOUT,
    })
    .await?;
    let hello = serde_json::json!({ "address": peer.address(), "id": peer.id() });
    println!("{hello}");
    tracing::info!(address = peer.address(), "listening");

    tokio::select! {
        _ = stdin_closed() => tracing::info!("stdin closed, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted, shutting down"),
        _ = terminated() => tracing::info!("terminated, shutting down"),
    }
    drop(peer);
    Ok(())
}

/// Resolves when stdin reaches EOF (or fails).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Resolves on SIGTERM (never on platforms without it).
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}
