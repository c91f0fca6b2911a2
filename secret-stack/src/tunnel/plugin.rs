//! The `tunnel` plugin (JS `ssb-tunnel@2.0.0`): its three methods and its config.
//!
//! Every role is on by config. A **portal** (config `tunnel.portal`, default on, as in JS where
//! every peer is one) records each peer that calls `announce` and forwards a `connect` for it to
//! that peer's connection, at most `tunnel.maxTunnelsPerEndpoint` at a time per endpoint. An
//! **endpoint** listens through a portal: a `global.connections.incoming.tunnel` entry
//! (`{"scope": "public", "transform": "shs", "portal": "@<portal id>"}`) makes it announce itself
//! there and serve the `connect` calls the portal forwards (see [`TunnelTransport`]). A
//! **client** dials `tunnel:` addresses: a `global.connections.outgoing.tunnel` entry
//! (`{"transform": "shs"}`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{FutureExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tracing::debug;

use crate::keys::PublicKey;
use crate::multiserver::{ByteStream, RegistryError};
use crate::plugin::Plugin;
use crate::rpc::{
    Body, CallContext, CallKind, CallerHandle, Method, MethodInput, MethodOutput, RemoteError,
    Reply,
};
use crate::stack::{PluginInit, WeakApp};

use super::transport::TunnelTransport;
use super::{DuplexBytes, TUNNEL, forward};

/// How many tunnels a portal forwards to one endpoint at a time unless
/// `tunnel.maxTunnelsPerEndpoint` says otherwise.
pub const DEFAULT_MAX_TUNNELS_PER_ENDPOINT: usize = 64;

/// How often an endpoint pings its portal unless `tunnel.pingInterval` (milliseconds) says
/// otherwise: well under the 5 s after which a JS portal drops an idle peer.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(2);

/// What the `tunnel` plugin emits as a plugin event ([`App::subscribe`](crate::stack::App::subscribe)),
/// as JS's `tunnel:listening` and `tunnel:closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelEvent {
    /// The portal took this endpoint's announcement: it can be reached through it now.
    Listening {
        /// The portal.
        portal: PublicKey,
    },
    /// The endpoint's connection to the portal ended; it announces again once reconnected.
    Closed {
        /// The portal.
        portal: PublicKey,
    },
}

/// Why the `tunnel` plugin could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// The `tunnel` config section has a key of the wrong type.
    #[error(
        "config tunnel.{key}: expected {expected}; fix the `tunnel` section of the config or remove the key"
    )]
    Config {
        /// The key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// Another transport is named `tunnel` already.
    #[error("cannot register the tunnel transport: {0}; load only one tunnel plugin")]
    Registry(#[from] RegistryError),
}

/// The `tunnel` config section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Forward `connect` calls to announced endpoints (`tunnel.portal`, default true).
    pub portal: bool,
    /// Tunnels open at a time to one endpoint (`tunnel.maxTunnelsPerEndpoint`).
    pub max_tunnels_per_endpoint: usize,
    /// How often an endpoint pings its portal (`tunnel.pingInterval`, milliseconds).
    pub ping_interval: Duration,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            portal: true,
            max_tunnels_per_endpoint: DEFAULT_MAX_TUNNELS_PER_ENDPOINT,
            ping_interval: DEFAULT_PING_INTERVAL,
        }
    }
}

impl TunnelConfig {
    /// Reads the section (`None` or `null`: the defaults).
    pub fn from_section(section: Option<&Value>) -> Result<TunnelConfig, TunnelError> {
        let mut config = TunnelConfig::default();
        let Some(section) = section.filter(|s| !s.is_null()) else {
            return Ok(config);
        };
        if let Some(v) = section.get("portal") {
            config.portal = v.as_bool().ok_or(TunnelError::Config {
                key: "portal",
                expected: "true or false",
            })?;
        }
        if let Some(v) = section.get("maxTunnelsPerEndpoint") {
            config.max_tunnels_per_endpoint = v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(TunnelError::Config {
                    key: "maxTunnelsPerEndpoint",
                    expected: "a whole number",
                })?;
        }
        if let Some(v) = section.get("pingInterval") {
            let ms = v.as_u64().filter(|&ms| ms > 0).ok_or(TunnelError::Config {
                key: "pingInterval",
                expected: "a number of milliseconds above 0",
            })?;
            config.ping_interval = Duration::from_millis(ms);
        }
        Ok(config)
    }
}

/// What the plugin's methods, its transport and its listeners share.
pub(crate) struct Shared {
    pub(crate) app: WeakApp,
    pub(crate) id: PublicKey,
    pub(crate) config: TunnelConfig,
    /// Announced endpoints: the connection each announced over.
    endpoints: Mutex<HashMap<PublicKey, CallerHandle>>,
    /// Tunnels open to each endpoint.
    open: Arc<Mutex<HashMap<PublicKey, usize>>>,
    /// This app's endpoint listeners, by instance.
    pub(crate) handlers: Mutex<HashMap<u32, mpsc::Sender<ByteStream>>>,
}

/// Locks, going on after a panic elsewhere: every change is one insert or remove.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `tunnel` plugin of one app: load it with
/// `Builder::plugin_with("tunnel", Tunnel::init)`.
pub struct Tunnel {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Tunnel {
    /// Reads the `tunnel` config section and registers the `tunnel` transport with the app.
    pub fn init(init: &PluginInit<'_>) -> Result<Tunnel, TunnelError> {
        let config = TunnelConfig::from_section(init.section())?;
        let shared = Arc::new(Shared {
            app: init.app(),
            id: init.id(),
            config,
            endpoints: Mutex::default(),
            open: Arc::default(),
            handlers: Mutex::default(),
        });
        init.transport(TunnelTransport::new(Arc::clone(&shared)))?;
        Ok(Tunnel { shared })
    }
}

impl Plugin for Tunnel {
    fn name(&self) -> &str {
        TUNNEL
    }

    fn version(&self) -> &str {
        "2.0.0"
    }

    fn methods(self: Arc<Self>) -> Vec<Method> {
        let announce = Arc::clone(&self.shared);
        let connect = Arc::clone(&self.shared);
        vec![
            method("announce", CallKind::Sync, move |ctx, _, _| {
                reply(announce.announce(&ctx))
            }),
            method("connect", CallKind::Duplex, move |ctx, args, input| {
                Reply::Stream(connect.connect(&ctx, args, input))
            }),
            method("ping", CallKind::Sync, |_, _, _| {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                reply(Ok(json!(now)))
            }),
        ]
    }
}

/// A method of the plugin, allowed to anonymous peers (as ssb-tunnel's).
fn method(
    name: &str,
    kind: CallKind,
    handler: impl Fn(CallContext, Vec<Value>, Option<MethodInput>) -> Reply + Send + Sync + 'static,
) -> Method {
    Method {
        path: vec![name.to_owned()],
        kind,
        groups: vec!["anonymous".to_owned()],
        handler: Arc::new(handler),
    }
}

fn reply(result: Result<Value, RemoteError>) -> Reply {
    Reply::Value(futures::future::ready(result.map(Body::from_json)).boxed())
}

/// A duplex answer that is only an error end.
fn refuse(message: String) -> MethodOutput {
    stream::iter([Err(RemoteError::new(message))]).boxed()
}

impl Shared {
    /// `announce`: remembers the caller's connection (JS keeps its first; we keep the newest,
    /// which is the one an endpoint that re-announced uses). Answers `false`, as JS.
    fn announce(&self, ctx: &CallContext) -> Result<Value, RemoteError> {
        if !self.config.portal {
            return Err(RemoteError::new(
                "tunnel.announce: this peer is not a portal (config tunnel.portal is false)",
            ));
        }
        let caller = ctx.caller().ok_or_else(|| {
            RemoteError::new("tunnel.announce: only a connected peer can announce itself")
        })?;
        debug!(endpoint = %ctx.remote, "tunnel: endpoint announced");
        let mut endpoints = lock(&self.endpoints);
        // Endpoints whose connection has ended are forgotten here, so that peers announcing
        // under ever new keys and leaving cannot grow the table without bound.
        endpoints.retain(|_, c| !c.is_closed());
        endpoints.insert(ctx.remote, caller);
        Ok(json!(false))
    }

    /// `connect({target, instance})`: forward to an announced endpoint, or serve it ourselves
    /// when we are the target, or refuse with ssb-tunnel's messages.
    fn connect(
        &self,
        ctx: &CallContext,
        args: Vec<Value>,
        input: Option<MethodInput>,
    ) -> MethodOutput {
        let (Some(opts), Some(input)) = (args.first().filter(|a| a.is_object()), input) else {
            return refuse("opts *must* be provided".into());
        };
        let target_text = opts["target"].as_str().unwrap_or_default().to_owned();
        let target = target_text.parse::<PublicKey>().ok();
        if let Some(target) = target.filter(|_| self.config.portal) {
            let onward = lock(&self.endpoints)
                .get(&target)
                .filter(|c| !c.is_closed())
                .cloned();
            if let Some(onward) = onward {
                return self.forward_to(target, &onward, args, input);
            }
        }
        let instance = match &opts["instance"] {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let handler = instance
            .filter(|_| target == Some(self.id))
            .and_then(|i| lock(&self.handlers).get(&i).cloned());
        let Some(handler) = handler else {
            return refuse(format!("could not connect to:{target_text}"));
        };
        let (bytes, output) = DuplexBytes::answer(input);
        // JS names the inner connection after whoever forwarded it.
        let address = format!("{TUNNEL}:{}:{}", ctx.remote.id(), ctx.remote.id());
        if handler
            .try_send(bytes.into_byte_stream(address, TUNNEL))
            .is_err()
        {
            return refuse(format!(
                "could not connect to:{target_text} (its tunnel listener is closed or busy)"
            ));
        }
        output
    }

    /// Forwards a tunnel to `target`, within its cap.
    fn forward_to(
        &self,
        target: PublicKey,
        onward: &CallerHandle,
        args: Vec<Value>,
        input: MethodInput,
    ) -> MethodOutput {
        let cap = self.config.max_tunnels_per_endpoint;
        {
            let mut open = lock(&self.open);
            let count = open.entry(target).or_default();
            if *count >= cap {
                return refuse(format!(
                    "tunnel: {target} has {cap} tunnels open through this portal, its cap \
                     (tunnel.maxTunnelsPerEndpoint); try again when one has closed"
                ));
            }
            *count += 1;
        }
        debug!(%target, "tunnel: forwarding");
        let slot = OpenSlot {
            open: Arc::clone(&self.open),
            target,
        };
        forward(onward, &[TUNNEL, "connect"], args, input)
            .map(move |item| {
                let _held = &slot;
                item
            })
            .boxed()
    }
}

/// One open tunnel to an endpoint; dropping it (the tunnel's answer is done) frees its place.
struct OpenSlot {
    open: Arc<Mutex<HashMap<PublicKey, usize>>>,
    target: PublicKey,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(count) = open.get_mut(&self.target) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.target);
            }
        }
    }
}
