//! `serve`: runs a node serving the interop `test` plugin until Ctrl-C or SIGTERM, its `collect`
//! kept per caller id ([`Test::per_caller`]): every `secret-stack call` is a connection of its
//! own, and `collected` must see what the same key's last `collect` sent.
//!
//! Settings come from the config file (JS secret-stack's shape, JSON or TOML), then the flags,
//! which win. Once listening, the node prints its address as one line on stdout (and nothing
//! else there); then it logs on stderr. The first signal closes it gracefully — calls in progress
//! get [`CLOSE_GRACE`] to finish, peers are told goodbye — and the command exits with 0; a second
//! signal, or a close that takes longer than [`CLOSE_LIMIT`], closes it at once.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secret_stack::multiserver::Scope;
use secret_stack::stack::{App, Config, SecretStack};
use secret_stack::stack::{ConfigError, KeySource};
use secret_stack_cli::test_plugin::Test;
use tracing::{info, warn};

use crate::failure::Failure;
use crate::keys;
use crate::output;
use crate::signals::Signals;
use crate::transports;

/// How long calls in progress may go on after a signal before their connections are closed.
pub const CLOSE_GRACE: Duration = Duration::from_millis(300);

/// How long the whole graceful close may take before everything is closed at once: the process
/// must end well within a second of the signal.
pub const CLOSE_LIMIT: Duration = Duration::from_millis(600);

/// The options of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A config file in JS secret-stack's shape (`{"global": {...}, "<plugin>": {...}}`), JSON, or
    /// TOML if the name ends in `.toml`. The flags below override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The port to listen on [default: the config's global.port, else any free port].
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// The host or IP to listen on [default: the config's global.host, else every interface].
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// The network's app key, base64; the flag or its environment variable overrides the
    /// config's global.caps.shs / global.appKey. There is no default network: one is required.
    #[arg(long, value_name = "B64", env = "SECRET_STACK_APP_KEY")]
    pub app_key: Option<String>,
    /// The node's identity [default: the config's global.keys or global.seed, else
    /// $SECRET_STACK_KEYS, else ~/.secret-stack/secret]; a missing key file is created.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// A peer given full access, like the node itself (`@….ed25519`); repeatable. Added to the
    /// config's global.master.
    #[arg(long, value_name = "ID")]
    pub master: Vec<String>,
    /// Which of the node's addresses to print.
    #[arg(long, default_value = "device", value_parser = ["device", "local", "public"])]
    pub scope: String,
}

/// Starts the node, prints its address, serves until a signal, closes.
pub async fn run(args: ServeArgs) -> Result<(), Failure> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(Failure::usage)?,
        None => Config::default(),
    };
    if args.port.is_some() || args.host.is_some() {
        if config.global.connections.is_some() {
            return Err(Failure::usage(
                "--port and --host cannot be used with a config that sets global.connections \
                 (set host and port in its incoming entries instead)",
            ));
        }
        config.global.port = args.port.or(config.global.port);
        config.global.host = args.host.clone().or(config.global.host.take());
    }
    config.global.master.extend(args.master.iter().cloned());

    let mut builder = transports::add(
        SecretStack::builder()
            .close_deadline(CLOSE_GRACE)
            .plugin(Test::per_caller()),
    );
    match &args.app_key {
        Some(text) => builder = builder.app_key(keys::parse_app_key(text)?),
        None => match config.app_key() {
            Ok(_) => {}
            Err(ConfigError::MissingAppKey) => return Err(keys::missing_app_key()),
            Err(e) => return Err(Failure::usage(e)),
        },
    }
    let config_has_keys = config.key_source().map_err(Failure::usage)? != KeySource::None;
    if args.keys.is_some() || !config_has_keys {
        builder = builder.keypair(keys::server_keypair(args.keys.clone())?);
    }

    // Signals are caught before the address is printed: whoever reads it may signal at once.
    let mut signals = Signals::new()?;
    let app = builder.start(config).await.map_err(Failure::usage)?;
    let scope: Scope = args.scope.parse().map_err(Failure::usage)?;
    let address = app.address(scope);
    if address.is_empty() {
        app.close_now().await;
        return Err(Failure::Connection(format!(
            "no listener serves the {scope} scope (see the warnings above)"
        )));
    }
    if let Err(e) = output::line(&address) {
        app.close_now().await;
        return Err(match e {
            Failure::StdoutClosed => Failure::usage("cannot print the address: stdout is closed"),
            other => other,
        });
    }
    info!(id = %app.id().id(), %address, "serving the test plugin");

    let signal = signals.next().await;
    info!(%signal, "closing (a second signal closes at once)");
    close(&app, &mut signals).await;
    Ok(())
}

/// Closes the app after a signal: gracefully, unless another signal comes or it takes longer than
/// [`CLOSE_LIMIT`].
async fn close(app: &App, signals: &mut Signals) {
    // The graceful close is not dropped when hurried: `close_now` ends it sooner, and both
    // return once the app is closed.
    let close = app.close();
    let mut close = std::pin::pin!(close);
    tokio::select! {
        () = &mut close => return,
        signal = signals.next() => warn!(%signal, "closing at once"),
        () = tokio::time::sleep(CLOSE_LIMIT) => {
            warn!("the graceful close takes too long: closing at once");
        }
    }
    let forced = futures::future::join(close, app.close_now());
    if tokio::time::timeout(CLOSE_LIMIT, forced).await.is_err() {
        warn!("the app did not finish closing: exiting anyway");
    }
}
