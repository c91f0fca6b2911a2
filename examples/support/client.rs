//! The interop client: a bare secret-stack app (no plugins, no listener) that dials a peer serving
//! the [`test`](crate::test_plugin) plugin over `net` + `shs`, runs every [check](crate::checks)
//! through the typed client over the resulting [`Peer`](secret_stack::stack::Peer), then closes
//! the connection gracefully (the last check). Through a portal ([`run_through`]) it loads the
//! `tunnel` plugin, reaches the portal first, then dials the peer's `tunnel:` address.

use std::time::Duration;

use secret_stack::keys::{AppKey, Keypair};
use secret_stack::stack::{App, Config, ConfigError, ConnectError, Peer, SecretStack, StartError};
use secret_stack::tunnel::Tunnel;
use serde_json::json;

use crate::checks::{CheckResult, run_checks};
use crate::peer::HANDSHAKE_TIMEOUT;

/// How long the graceful close may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the client needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Our identity.
    pub keys: Keypair,
    /// The network's app key.
    pub app_key: AppKey,
    /// Whether the peer was told to treat us as a master (then `test.secret` must succeed).
    pub master: bool,
}

/// Why the client could not run its checks.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The client app's config is wrong (a bug of this module).
    #[error("bad client config: {0}")]
    Config(#[from] ConfigError),
    /// The client app could not be built.
    #[error("cannot build the client app: {0}")]
    Start(#[from] StartError),
    /// Dialling or the handshake failed.
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectError),
}

/// The client app's config: dials `net` + `shs` (and `tunnel` + `shs` when `tunnel`), listens
/// nowhere.
fn config(tunnel: bool) -> Result<Config, ConfigError> {
    let mut outgoing = json!({"net": [{"transform": "shs"}]});
    if tunnel {
        outgoing["tunnel"] = json!([{"transform": "shs"}]);
    }
    Config::from_json(json!({
        "global": {
            "timers": {"handshake": HANDSHAKE_TIMEOUT.as_millis() as u64},
            "connections": {"incoming": {}, "outgoing": outgoing},
        }
    }))
}

/// Builds a bare client app and dials `address` with it; the app must be closed after the peer.
pub async fn connect(address: &str, config: &ClientConfig) -> Result<(App, Peer), ClientError> {
    connect_through(address, None, config).await
}

/// The same, dialling the `tunnel:` `address` through the portal at `portal` (reached first)
/// when one is given.
pub async fn connect_through(
    address: &str,
    portal: Option<&str>,
    config: &ClientConfig,
) -> Result<(App, Peer), ClientError> {
    let app = build(portal.is_some(), config)?;
    let dialled = async {
        if let Some(portal) = portal {
            app.connect(portal).await?;
        }
        app.connect(address).await
    };
    match dialled.await {
        Ok(peer) => Ok((app, peer)),
        Err(e) => {
            app.close_now().await;
            Err(e.into())
        }
    }
}

/// A client app with the `tunnel` plugin, connected to the portal at `portal`: it dials
/// `tunnel:` addresses through it with [`App::connect`].
pub async fn tunnel_client(portal: &str, config: &ClientConfig) -> Result<App, ClientError> {
    let app = build(true, config)?;
    match app.connect(portal).await {
        Ok(_) => Ok(app),
        Err(e) => {
            app.close_now().await;
            Err(e.into())
        }
    }
}

/// The client app, with the `tunnel` plugin and its outgoing suite when `tunnel`.
fn build(tunnel: bool, config: &ClientConfig) -> Result<App, ClientError> {
    let mut builder = SecretStack::builder()
        .app_key(config.app_key)
        .keypair(config.keys.clone());
    if tunnel {
        builder = builder.plugin_with("tunnel", Tunnel::init);
    }
    Ok(builder.build(self::config(tunnel)?)?)
}

/// Connects to `address`, runs the checks and closes; returns every check's outcome.
pub async fn run(address: &str, config: &ClientConfig) -> Result<Vec<CheckResult>, ClientError> {
    run_through(address, None, config).await
}

/// [`run`], through the portal at `portal` when one is given ([`connect_through`]).
pub async fn run_through(
    address: &str,
    portal: Option<&str>,
    config: &ClientConfig,
) -> Result<Vec<CheckResult>, ClientError> {
    let (app, peer) = connect_through(address, portal, config).await?;
    tracing::info!(remote = %peer.id(), "connected");
    let mut results = run_checks(&peer, config.master).await;
    let (passed, detail) = match tokio::time::timeout(CLOSE_TIMEOUT, peer.close()).await {
        Ok(end) if end.is_clean() => (true, format!("session ended: {end:?}")),
        Ok(end) => (false, format!("session ended badly: {end:?}")),
        Err(_) => (
            false,
            format!("close did not finish within {CLOSE_TIMEOUT:?}"),
        ),
    };
    results.push(CheckResult {
        name: "graceful close".into(),
        passed,
        detail,
    });
    app.close().await;
    Ok(results)
}
