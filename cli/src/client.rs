//! The caller side shared by `call` and `manifest`: an app that does not listen, dialling one
//! address (`net:`, `ws:` or `unix:`, each with `~shs:`), with the options both commands take.
//!
//! What is dialled, with which identity and app key ([`Target::resolve`]), the first that applies:
//!
//! | | with ADDRESS | without ADDRESS: the local Scuttlebutt server |
//! |---|---|---|
//! | address | ADDRESS | from `~/.ssb/config` and the key of `~/.ssb/secret` ([`crate::ssb`]) |
//! | identity | `--keys`, `$SECRET_STACK_KEYS`, `~/.secret-stack/secret`, `~/.ssb/secret`, a throwaway one | `--keys`, `$SECRET_STACK_KEYS`, `~/.ssb/secret` |
//! | app key | `--app-key`, `$SECRET_STACK_APP_KEY`, `~/.ssb/config`'s `caps.shs` or the main network's if `~/.ssb` exists, else an error | `--app-key`, `$SECRET_STACK_APP_KEY`, `caps.shs`, the main network's |

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use secret_stack::keys::{AppKey, Keypair};
use secret_stack::multiserver;
use secret_stack::rpc::{Caller, RpcError};
use secret_stack::stack::{App, Config, ConnectError, Peer, SecretStack};
use serde_json::{Value, json};
use tracing::debug;

use crate::failure::Failure;
use crate::keys;
use crate::ssb::{self, SsbConfig};
use crate::transports;

/// How long a graceful goodbye may take before the connection is dropped: the command's work is
/// done by then, and the process must not linger.
const CLOSE_DEADLINE: Duration = Duration::from_millis(500);

/// The options of every command that dials a peer.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The network's app key (secret-handshake `caps.shs`), base64. Default: ~/.ssb/config's
    /// caps.shs, else the Scuttlebutt main network's if ~/.ssb exists; without either, required.
    #[arg(long, value_name = "B64", env = "SECRET_STACK_APP_KEY")]
    pub app_key: Option<String>,
    /// Our identity. Default: $SECRET_STACK_KEYS, else ~/.secret-stack/secret, else
    /// ~/.ssb/secret (without ADDRESS: $SECRET_STACK_KEYS, else ~/.ssb/secret); if none exists, a
    /// throwaway identity is used (nothing is written).
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Give up after SECS seconds when connecting, and when waiting for the answer of an
    /// async/sync call or of `manifest` (streams run until they end). 0: wait forever.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
}

/// A connection to one peer, made by an app of our own that only dials.
pub struct Session {
    app: App,
    peer: Peer,
    timeout: Option<Duration>,
}

impl ClientArgs {
    /// The timeout, `None` for none.
    fn timeout(&self) -> Result<Option<Duration>, Failure> {
        if self.timeout == 0.0 {
            return Ok(None);
        }
        Duration::try_from_secs_f64(self.timeout)
            .map(Some)
            .map_err(|e| Failure::usage(format!("invalid --timeout {}: {e}", self.timeout)))
    }
}

/// What to dial, as whom, on which network.
struct Target {
    address: String,
    keypair: Keypair,
    app_key: AppKey,
}

impl Target {
    /// Resolves the address, identity and app key in the order of the module docs.
    fn resolve(address: Option<&str>, args: &ClientArgs) -> Result<Target, Failure> {
        let ssb_dir = ssb::dir();
        let explicit_app_key = args
            .app_key
            .as_deref()
            .map(keys::parse_app_key)
            .transpose()?;
        let Some(address) = address else {
            return Target::local_ssb_server(ssb_dir, explicit_app_key, args);
        };
        let ssb_dir = ssb_dir.filter(|dir| dir.is_dir());
        let keypair = keys::client_keypair(
            args.keys.clone(),
            ssb_dir.as_ref().map(|dir| dir.join("secret")),
        )?;
        let app_key = match (explicit_app_key, &ssb_dir) {
            (Some(key), _) => key,
            (None, Some(dir)) => SsbConfig::load(dir)?.app_key()?,
            (None, None) => return Err(keys::no_app_key()),
        };
        Ok(Target {
            address: address.to_owned(),
            keypair,
            app_key,
        })
    }

    /// The local Scuttlebutt server of `~/.ssb`.
    fn local_ssb_server(
        dir: Option<PathBuf>,
        app_key: Option<AppKey>,
        args: &ClientArgs,
    ) -> Result<Target, Failure> {
        let dir = dir.ok_or_else(|| Failure::usage("no ADDRESS given, and HOME is not set"))?;
        let secret = dir.join("secret");
        if !secret.is_file() {
            return Err(Failure::usage(format!(
                "no ADDRESS given, and no Scuttlebutt key file at {}: give the peer's ADDRESS \
                 (net:HOST:PORT~shs:KEY), or run where a Scuttlebutt server keeps its files",
                secret.display()
            )));
        }
        let server = keys::load(&secret)?.public();
        let keypair = match keys::explicit_key_path(args.keys.clone()) {
            Some(path) => keys::load(&path)?,
            None => keys::load(&secret)?,
        };
        let config = SsbConfig::load(&dir)?;
        let app_key = match app_key {
            Some(key) => key,
            None => config.app_key()?,
        };
        Ok(Target {
            address: config.local_address(&server),
            keypair,
            app_key,
        })
    }
}

/// Dials `address` (or, without one, the local Scuttlebutt server) with `args`' identity and app
/// key.
pub async fn connect(address: Option<&str>, args: &ClientArgs) -> Result<Session, Failure> {
    let Target {
        address,
        keypair,
        app_key,
    } = Target::resolve(address, args)?;
    let address = address.as_str();
    let timeout = args.timeout()?;
    // Dial only: no listener, no inactivity timer (a long stream may be quiet).
    let config = Config::from_json(json!({
        "global": {
            "connections": {"outgoing": transports::outgoing()},
            "timers": {"inactivity": 0}
        }
    }))
    .map_err(Failure::usage)?;
    let app = transports::add(SecretStack::builder().app_key(app_key).keypair(keypair))
        .build(config)
        .map_err(Failure::usage)?;
    debug!(%address, id = %app.id().id(), "dialling");
    let peer = within(timeout, "the connection", app.connect(address))
        .await?
        .map_err(connect_failure)?;
    debug!(remote = %peer.id().id(), "connected");
    Ok(Session { app, peer, timeout })
}

/// An address no transport understands is a usage error; anything else a network failure. The
/// message is the error with its whole `source` chain, where the reason is.
fn connect_failure(error: ConnectError) -> Failure {
    let message = std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    match error {
        ConnectError::Dial(multiserver::DialError::Unparseable { .. }) => Failure::Usage(message),
        _ => Failure::Connection(message),
    }
}

/// Awaits `future` for at most `timeout`.
async fn within<T>(
    timeout: Option<Duration>,
    what: &str,
    future: impl Future<Output = T>,
) -> Result<T, Failure> {
    match timeout {
        None => Ok(future.await),
        Some(limit) => tokio::time::timeout(limit, future)
            .await
            .map_err(|_| Failure::Timeout(what.to_owned())),
    }
}

impl Session {
    /// The connection.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Awaits `future` for at most the session's timeout.
    pub async fn within<T>(
        &self,
        what: &str,
        future: impl Future<Output = T>,
    ) -> Result<T, Failure> {
        within(self.timeout, what, future).await
    }

    /// The remote's manifest (one `manifest` call).
    pub async fn manifest(&self) -> Result<Value, Failure> {
        let answer = self
            .within("the manifest", self.peer.call(&["manifest"], Vec::new()))
            .await??;
        Ok(answer.into_json())
    }

    /// Says goodbye to the peer and stops the app: gracefully after a successful command, at once
    /// after a failed one (a timed-out call may still be outstanding).
    pub async fn close(self, graceful: bool) {
        if graceful {
            match tokio::time::timeout(CLOSE_DEADLINE, self.peer.close()).await {
                Ok(end) => debug!(?end, "connection closed"),
                Err(_) => {
                    debug!("the peer did not finish closing in time: closing at once");
                    self.peer.close_now(RpcError::Closing);
                }
            }
            self.app.close().await;
        } else {
            self.peer.close_now(RpcError::Closing);
            self.app.close_now().await;
        }
    }
}
