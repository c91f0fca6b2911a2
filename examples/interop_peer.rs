//! The Rust interop peer: serves the `test` plugin on 127.0.0.1 like `tests/interop/peer.js`.
//!
//! `cargo run --example interop_peer -- [--port N] [--app-key B64] [--keys FILE] [--master @ID]...
//! [--serve-portal] [--portal ADDRESS]`
//!
//! Prints one JSON line on stdout once listening, `{"address":"net:127.0.0.1:PORT~shs:KEY",
//! "id":"@KEY.ed25519"}`; with `--portal` once the portal took its announcement, with
//! `"tunnel":"tunnel:@PORTAL:@KEY.ed25519:0~shs:KEY"` too. It logs to stderr (`RUST_LOG`), and
//! exits with 0 within a second of Ctrl-C, SIGTERM, or the end of its stdin (whichever comes
//! first: an open stdin does not hold up a signal, nor a signal the end of stdin).

use std::path::PathBuf;

use clap::Parser;
use secret_stack::keys::{AppKey, Keypair, PublicKey, load_or_create_key_file};
use secret_stack::multiserver::IncomingLimits;
use secret_stack_examples::peer::{HANDSHAKE_TIMEOUT, Peer, PeerConfig, TunnelRoles};
use tokio::sync::oneshot;

/// How long the graceful close on exit may take before the process exits anyway.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(600);

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
    /// Also serve the `tunnel` plugin as a portal.
    #[arg(long)]
    serve_portal: bool,
    /// Be a tunnel endpoint through the portal at this address (`net:HOST:PORT~shs:KEY`):
    /// connect, announce, and print `"tunnel"` (our address through it) once it took us.
    #[arg(long)]
    portal: Option<String>,
    /// As a portal, the most tunnels to one endpoint (config `tunnel.maxTunnelsPerEndpoint`;
    /// default 64).
    #[arg(long, requires = "serve_portal")]
    max_tunnels: Option<u32>,
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
    let config = PeerConfig {
        keys,
        app_key: args.app_key,
        port: args.port,
        masters: args.masters,
        handshake_timeout: HANDSHAKE_TIMEOUT,
    };
    let roles = TunnelRoles {
        serve_portal: args.serve_portal,
        portal: args.portal,
        max_tunnels_per_endpoint: args.max_tunnels,
    };
    let peer = Peer::start_with(config, IncomingLimits::default(), roles).await?;
    // Caught before the address is printed: whoever reads it may signal at once.
    let signal = signal()?;
    let mut hello = serde_json::json!({ "address": peer.address(), "id": peer.id() });
    if let Some(tunnel) = peer.tunnel() {
        hello["tunnel"] = tunnel.into();
    }
    println!("{hello}");
    tracing::info!(address = peer.address(), "listening");

    tokio::select! {
        Ok(()) = stdin_closed() => tracing::info!("stdin closed, shutting down"),
        name = signal => tracing::info!("{name}, shutting down"),
    }
    match tokio::time::timeout(CLOSE_TIMEOUT, peer.close()).await {
        Ok(ends) => tracing::info!(connections = ends.len(), "closed"),
        Err(_) => tracing::warn!("close did not finish within {CLOSE_TIMEOUT:?}"),
    }
    Ok(())
}

/// Resolves when stdin reaches EOF (or fails). The blocking read runs on a thread of its own,
/// not on Tokio's blocking pool: the runtime's shutdown would wait for that read to return, so a
/// signal could not end the process while stdin is open.
fn stdin_closed() -> oneshot::Receiver<()> {
    let (closed, on_close) = oneshot::channel();
    let reader = move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        loop {
            match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = closed.send(());
    };
    if let Err(e) = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(reader)
    {
        // Without the watcher (its sender dropped: that branch is disabled) only the signals
        // stop the peer.
        tracing::warn!("cannot watch stdin: {e}");
    }
    on_close
}

/// Catches SIGINT (Ctrl-C) and SIGTERM from now on; the future resolves with the name of the
/// first one received.
#[cfg(unix)]
fn signal() -> std::io::Result<impl Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "interrupted",
            _ = term.recv() => "terminated",
        }
    })
}

/// Catches Ctrl-C (the only signal there is) from the first poll on.
#[cfg(not(unix))]
fn signal() -> std::io::Result<impl Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    })
}
