//! The interop peer: a secret-stack app ([`SecretStack::builder`]) serving the
//! [`test`](crate::test_plugin) plugin over `net` + `shs` on 127.0.0.1 only, with the permissions
//! JS `tests/interop/peer.js` gives.
//!
//! Its own key and the configured masters (`global.master`) get full access; anyone else gets the
//! app's merged `anonymous` group: `manifest` plus every `test.*` method except `test.secret` — an
//! allow list, so an anonymous call to an unknown method is refused by the permission check, as in
//! JS. The plugin keeps `collect`/`collected` per connection.
//!
//! For the robustness tests (`tests/hostile.rs`, `tests/load.rs`) the peer takes its handshake
//! timeout from [`PeerConfig::handshake_timeout`], counts its open connections
//! ([`Peer::open_connections`]) and closes gracefully ([`Peer::close`]).

use std::time::Duration;

use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{Address, IncomingLimits, Scope, ShsAddress};
use secret_stack::rpc::{RpcError, SessionEnd};
use secret_stack::stack::{
    App, Config, ConfigError, DisconnectReason, Event, SecretStack, StartError,
};
use secret_stack::tunnel::{Tunnel, TunnelEvent};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::test_plugin::Test;

/// The handshake timeout of a JS node whose config has `timers`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long an endpoint waits for its portal to take its announcement.
pub const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(20);

/// The inactivity timeout of `peer.js` (`global.timers.inactivity`).
pub const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(600);

/// What the peer needs to start.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The node's identity.
    pub keys: Keypair,
    /// The network's app key.
    pub app_key: AppKey,
    /// The port to listen on; `None` for any free one.
    pub port: Option<u16>,
    /// Peers that get full access besides ourselves.
    pub masters: Vec<PublicKey>,
    /// The limit on each handshake read and write ([`HANDSHAKE_TIMEOUT`] for the interop peer;
    /// the robustness tests make it short to see slow clients cut). Rounded up to whole
    /// milliseconds, as the config counts them.
    pub handshake_timeout: Duration,
}

impl PeerConfig {
    /// The app's config, in JS's shape: masters, timers, and one incoming `net`+`shs` listener on
    /// 127.0.0.1 for the device scope.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let handshake_ms = self.handshake_timeout.as_millis().max(1);
        let handshake_ms = u64::try_from(handshake_ms).unwrap_or(u64::MAX);
        let mut listener = json!({"scope": "device", "transform": "shs", "host": "127.0.0.1"});
        if let Some(port) = self.port {
            listener["port"] = port.into();
        }
        let masters: Vec<String> = self.masters.iter().map(PublicKey::id).collect();
        Config::from_json(json!({
            "global": {
                "master": masters,
                "timers": {
                    "handshake": handshake_ms,
                    "inactivity": INACTIVITY_TIMEOUT.as_millis() as u64,
                },
                "connections": {
                    "incoming": {"net": [listener]},
                    "outgoing": {"net": [{"transform": "shs"}]},
                },
            }
        }))
    }
}

/// The `tunnel` roles the peer takes besides serving `test` (`interop_peer --serve-portal`,
/// `--portal ADDRESS`); the default takes none and loads no `tunnel` plugin.
#[derive(Debug, Clone, Default)]
pub struct TunnelRoles {
    /// Serve as a portal: others announce to it and connect through it.
    pub serve_portal: bool,
    /// Be an endpoint through the portal at this address (`net:…~shs:<portal key>`): connect,
    /// announce, and be reachable at a `tunnel:` address in the public scope.
    pub portal: Option<String>,
    /// As a portal, the most tunnels to one endpoint (`tunnel.maxTunnelsPerEndpoint`); `None`
    /// keeps the plugin's default.
    pub max_tunnels_per_endpoint: Option<u32>,
}

impl TunnelRoles {
    fn any(&self) -> bool {
        self.serve_portal || self.portal.is_some()
    }

    /// Adds the endpoint's entries to `config`: an incoming `tunnel` entry for the public scope
    /// through the portal (whose id is the key of the address's `shs` section), and the
    /// outgoing `tunnel` entry.
    fn apply(&self, config: Config) -> Result<Config, PeerError> {
        let config = match self.max_tunnels_per_endpoint {
            Some(max) => {
                let mut json = config.to_json();
                json["tunnel"]["maxTunnelsPerEndpoint"] = json!(max);
                Config::from_json(json)?
            }
            None => config,
        };
        let Some(portal) = &self.portal else {
            return Ok(config);
        };
        let address: Address = portal.parse().map_err(|e| PeerError::Portal {
            address: portal.clone(),
            reason: format!("{e}"),
        })?;
        let key = address
            .transforms()
            .iter()
            .find_map(|t| ShsAddress::from_protocol(t).ok())
            .ok_or_else(|| PeerError::Portal {
                address: portal.clone(),
                reason: "it has no ~shs:<key> section naming the portal".into(),
            })?;
        let mut json = config.to_json();
        let connections = &mut json["global"]["connections"];
        connections["incoming"]["tunnel"] = json!([{
            "scope": "public", "transform": "shs",
            "portal": key.key.id(), "portalAddress": portal,
        }]);
        connections["outgoing"]["tunnel"] = json!([{"transform": "shs"}]);
        Ok(Config::from_json(json)?)
    }
}

/// Why the peer could not start.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The config could not be read (a bad master id).
    #[error("bad peer config: {0}")]
    Config(#[from] ConfigError),
    /// The app could not be built or started.
    #[error("cannot start the app: {0}")]
    Start(#[from] StartError),
    /// The listener did not start (the reason is logged by the app, e.g. the port is taken).
    #[error("cannot listen on 127.0.0.1{}", port.map(|p| format!(":{p}")).unwrap_or_default())]
    NotListening {
        /// The port asked for.
        port: Option<u16>,
    },
    /// The `--portal` address cannot be used.
    #[error("bad portal address {address:?}: {reason}; give the portal's net:HOST:PORT~shs:KEY")]
    Portal {
        /// The address given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The portal did not take the announcement in time.
    #[error(
        "the portal {portal} did not take our announcement within {within:?}; is it a tunnel portal on the same app key?"
    )]
    NotAnnounced {
        /// The portal's address.
        portal: String,
        /// How long we waited.
        within: Duration,
    },
}

/// A running peer. Dropping it stops the app at once (listener and connections); [`Peer::close`]
/// is the graceful way.
#[derive(Debug)]
pub struct Peer {
    app: App,
    address: String,
    id: String,
    /// Our address through the portal, once announced (endpoints only).
    tunnel: Option<String>,
    watch: JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl Peer {
    /// Starts the app and listens on 127.0.0.1.
    pub async fn start(config: PeerConfig) -> Result<Peer, PeerError> {
        Peer::start_with_limits(config, IncomingLimits::default()).await
    }

    /// Starts the app with the given caps on incoming connections (the robustness tests make
    /// them small to reach them).
    pub async fn start_with_limits(
        config: PeerConfig,
        limits: IncomingLimits,
    ) -> Result<Peer, PeerError> {
        Peer::start_with(config, limits, TunnelRoles::default()).await
    }

    /// Starts the app taking the `tunnel` roles `roles` too. An endpoint returns once its portal
    /// took its announcement ([`Peer::tunnel`] is then its address through the portal).
    pub async fn start_with(
        config: PeerConfig,
        limits: IncomingLimits,
        roles: TunnelRoles,
    ) -> Result<Peer, PeerError> {
        let test = Test::default();
        let mut builder = SecretStack::builder()
            .incoming_limits(limits)
            .app_key(config.app_key)
            .keypair(config.keys.clone())
            .plugin(test.clone());
        if roles.any() {
            builder = builder.plugin_with("tunnel", Tunnel::init);
        }
        let app = builder.build(roles.apply(config.to_config()?)?)?;
        let watch = tokio::spawn(watch(app.events(), app.config().masters()?, test));
        let mut announced = app.subscribe::<TunnelEvent>();
        app.listen().await;
        let address = app.address(Scope::Device);
        if address.is_empty() {
            app.close_now().await;
            return Err(PeerError::NotListening { port: config.port });
        }
        let mut tunnel = None;
        if let Some(portal) = roles.portal {
            let listening = async {
                while let Ok(event) = announced.recv().await {
                    if matches!(event, TunnelEvent::Listening { .. }) {
                        return true;
                    }
                }
                false
            };
            if !matches!(
                tokio::time::timeout(ANNOUNCE_TIMEOUT, listening).await,
                Ok(true)
            ) {
                app.close_now().await;
                return Err(PeerError::NotAnnounced {
                    portal,
                    within: ANNOUNCE_TIMEOUT,
                });
            }
            tunnel = Some(app.address(Scope::Public));
        }
        Ok(Peer {
            id: app.id().id(),
            app,
            address,
            tunnel,
            watch,
        })
    }

    /// Our address through the portal (`tunnel:@P:@ME:0~shs:KEY`), for an endpoint.
    pub fn tunnel(&self) -> Option<&str> {
        self.tunnel.as_deref()
    }

    /// How many connections are being served right now (handshake done, session not over).
    pub fn open_connections(&self) -> usize {
        self.app.peers().len()
    }

    /// Closes the app gracefully: stops accepting, lets every open connection finish the calls
    /// and streams in flight (forcing those still busy after the app's close deadline) and say
    /// goodbye. Resolves with how each session that was open ended.
    pub async fn close(&self) -> Vec<SessionEnd> {
        let mut events = self.app.events();
        self.app.close().await;
        // Every connection's end has been sent by the time `close` returns.
        let mut ends = Vec::new();
        loop {
            match events.try_recv() {
                Ok(Event::Disconnect { reason, .. }) => ends.push(match reason {
                    DisconnectReason::Ended(end) => end,
                    _ => SessionEnd::Forced(RpcError::ConnectionLost),
                }),
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
        ends
    }

    /// The app itself.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The address to dial, `net:127.0.0.1:<port>~shs:<key>`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The node's id, `@<key>.ed25519`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Logs each connection as `peer.js` does (who, master or anonymous) and drops the `collect`
/// store of connections that ended.
async fn watch(mut events: broadcast::Receiver<Event>, masters: Vec<PublicKey>, test: Test) {
    loop {
        match events.recv().await {
            Ok(Event::Connect { peer, is_client }) => {
                let who = if masters.contains(&peer.id()) {
                    "master"
                } else {
                    "anonymous"
                };
                let direction = if is_client { "to" } else { "from" };
                info!(
                    "connection {direction} {} ({who}) via {}",
                    peer.id(),
                    peer.address()
                );
            }
            Ok(Event::Disconnect {
                id,
                connection,
                reason,
                ..
            }) => {
                test.forget(connection);
                debug!("connection with {id} closed: {reason}");
            }
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => debug!("missed {n} events"),
            Err(RecvError::Closed) => break,
        }
    }
}
