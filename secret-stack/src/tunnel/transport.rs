//! The `tunnel` transport: a client dials `tunnel:` addresses through its connection to the
//! portal; an endpoint's listener announces itself to its portal, keeps that connection busy with
//! pings, announces again whenever the connection drops, and yields the tunnels the portal
//! forwards.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::keys::PublicKey;
use crate::multiserver::{
    AddressError, ByteStream, ListenConfig, Listener, Protocol, Scope, Transport,
};
use crate::rpc::Caller;
use crate::stack::{App, Peer};

use super::plugin::{Shared, TunnelEvent, lock};
use super::{DuplexBytes, TUNNEL, TunnelAddress};

/// How long an endpoint waits before it tries its portal again after failing or losing it.
const RETRY: Duration = Duration::from_secs(1);

/// How many forwarded tunnels wait for the app to take them before more are refused.
const BACKLOG: usize = 16;

/// The `tunnel` transport of one app (registered by the `tunnel` plugin).
pub struct TunnelTransport {
    shared: Arc<Shared>,
}

impl TunnelTransport {
    pub(crate) fn new(shared: Arc<Shared>) -> TunnelTransport {
        TunnelTransport { shared }
    }
}

impl Transport for TunnelTransport {
    type Address = TunnelAddress;

    fn name(&self) -> &str {
        TUNNEL
    }

    fn parse(&self, section: &Protocol) -> Result<TunnelAddress, AddressError> {
        TunnelAddress::from_protocol(section)
    }

    /// Opens `tunnel.connect` on the app's open connection to the portal (as JS, which asks
    /// `gossip.connect` for it): connect to the portal first.
    fn connect<'a>(&'a self, to: &'a TunnelAddress) -> BoxFuture<'a, io::Result<ByteStream>> {
        Box::pin(async move {
            let app = self.shared.app.upgrade().ok_or_else(closed)?;
            let portal = open_peer(&app, &to.portal).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!(
                        "not connected to the portal {}: connect to it (App::connect) before \
                         dialling a tunnel through it",
                        to.portal
                    ),
                )
            })?;
            let args = vec![json!({"target": to.target.id(), "instance": to.instance})];
            let bytes = DuplexBytes::call(&portal, &[TUNNEL, "connect"], args);
            Ok(bytes.into_byte_stream(to.to_string(), TUNNEL))
        })
    }

    /// Listens through the portal named by the entry's `portal` (its id), and, a Rust extension,
    /// dials the entry's `portalAddress` when not connected to it.
    fn listen<'a>(
        &'a self,
        config: &'a ListenConfig,
    ) -> BoxFuture<'a, io::Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
            let portal = config
                .options
                .get("portal")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid(
                        "ssb-tunnel is configured, but a portal is missing: give the tunnel \
                         listener a \"portal\": \"@<portal id>.ed25519\""
                            .into(),
                    )
                })?;
            let portal: PublicKey = portal.parse().map_err(|e| {
                invalid(format!(
                    "the tunnel listener's portal {portal:?} is not a feed id: {e}"
                ))
            })?;
            let portal_address = match config.options.get("portalAddress") {
                None => None,
                Some(Value::String(address)) => Some(address.clone()),
                Some(_) => return Err(invalid("\"portalAddress\" must be a string".into())),
            };
            let instance = match config.options.get("instance") {
                None => 0,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid("\"instance\" must be a whole number".into()))?,
            };
            let (sender, incoming) = mpsc::channel(BACKLOG);
            {
                let mut handlers = lock(&self.shared.handlers);
                if handlers.get(&instance).is_some_and(|s| !s.is_closed()) {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("a tunnel listener for instance {instance} exists already"),
                    ));
                }
                handlers.insert(instance, sender);
            }
            let announcer = tokio::spawn(keep_announced(
                Arc::clone(&self.shared),
                portal,
                portal_address,
            ));
            let scopes = if config.scopes.is_empty() {
                vec![Scope::Public]
            } else {
                config.scopes.clone()
            };
            Ok(Box::new(TunnelListener {
                shared: Arc::clone(&self.shared),
                address: TunnelAddress {
                    portal,
                    target: self.shared.id,
                    instance,
                },
                scopes,
                incoming,
                announcer,
            }) as Box<dyn Listener>)
        })
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the app is closed")
}

/// The newest open connection to `id`.
fn open_peer(app: &App, id: &PublicKey) -> Option<Peer> {
    app.peers_with(id)
        .into_iter()
        .rev()
        .find(|p| !p.is_closed())
}

/// An endpoint's listener; dropping it stops announcing and frees its instance.
struct TunnelListener {
    shared: Arc<Shared>,
    address: TunnelAddress,
    scopes: Vec<Scope>,
    incoming: mpsc::Receiver<ByteStream>,
    announcer: JoinHandle<()>,
}

impl Drop for TunnelListener {
    fn drop(&mut self) {
        self.announcer.abort();
        self.incoming.close();
        let mut handlers = lock(&self.shared.handlers);
        if handlers
            .get(&self.address.instance)
            .is_some_and(|s| s.is_closed())
        {
            handlers.remove(&self.address.instance);
        }
    }
}

impl Listener for TunnelListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<ByteStream>> {
        Box::pin(async move {
            self.incoming
                .recv()
                .await
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
        })
    }

    fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    fn address(&self, scope: Scope) -> Vec<Protocol> {
        if self.scopes.contains(&scope) {
            vec![self.address.to_protocol()]
        } else {
            Vec::new()
        }
    }

    fn is_device_only(&self) -> bool {
        false
    }
}

/// The endpoint's side: connect to the portal (an open connection, else `portal_address`),
/// announce, ping every `ping_interval` while the connection lasts, and start again after
/// [`RETRY`] when it drops or anything fails. Ends with the app.
async fn keep_announced(shared: Arc<Shared>, portal: PublicKey, portal_address: Option<String>) {
    loop {
        let Some(app) = shared.app.upgrade() else {
            return;
        };
        if app.is_closed() {
            return;
        }
        let peer = match open_peer(&app, &portal) {
            Some(peer) => Some(peer),
            None => match &portal_address {
                Some(address) => app
                    .connect(address)
                    .await
                    .map_err(|e| warn!(%portal, "tunnel: cannot reach the portal: {e}"))
                    .ok(),
                None => None,
            },
        };
        drop(app);
        if let Some(peer) = peer {
            announced(&shared, &portal, &peer).await;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Announces over `peer` and pings until it fails or the connection ends.
async fn announced(shared: &Shared, portal: &PublicKey, peer: &Peer) {
    if let Err(e) = peer.call(&[TUNNEL, "announce"], vec![Value::Null]).await {
        warn!(%portal, "tunnel: announcing to the portal failed: {e}");
        return;
    }
    info!(%portal, "tunnel: announced to the portal");
    emit(shared, TunnelEvent::Listening { portal: *portal });
    loop {
        tokio::select! {
            _ = peer.closed() => break,
            () = tokio::time::sleep(shared.config.ping_interval) => {
                if let Err(e) = peer.call(&[TUNNEL, "ping"], Vec::new()).await {
                    debug!(%portal, "tunnel: ping failed: {e}");
                    break;
                }
            }
        }
    }
    info!(%portal, "tunnel: the portal connection ended; announcing again");
    emit(shared, TunnelEvent::Closed { portal: *portal });
}

fn emit(shared: &Shared, event: TunnelEvent) {
    if let Some(app) = shared.app.upgrade() {
        app.emit(event);
    }
}
