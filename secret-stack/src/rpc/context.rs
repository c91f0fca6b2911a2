//! Who is calling a method and what they may do: the [`CallContext`] every handler receives.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::connection::CallerHandle;
use super::permissions::Permissions;
use crate::keys::PublicKey;

/// Who is calling and what they may do: the Rust counterpart of JS's `this` in a muxrpc method
/// (`this.id` is [`CallContext::remote`]; `this` itself, the calling connection, is
/// [`CallContext::caller`]).
///
/// Cloned for every call; a clone allocates nothing.
///
/// ```
/// use secret_stack::plugin;
/// use secret_stack::rpc::CallContext;
///
/// struct Who;
///
/// #[plugin(name = "who", version = "1.0.0", permission = "anonymous")]
/// impl Who {
///     /// Who is asking, and over which address (JS: `this.id`, `this.stream.address`).
///     async fn am_i(&self, ctx: &CallContext) -> String {
///         match ctx.address() {
///             Some(address) => format!("{} via {address}", ctx.remote),
///             None => format!("{} (a local call)", ctx.remote),
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The caller's identity (our own key for local calls).
    pub remote: PublicKey,
    /// The permissions the caller's connection was granted.
    pub permissions: Arc<Permissions>,
    /// The connection the call came over: unique per connection within the process (the stack
    /// numbers them from 1), `0` for local calls. Plugins key per-connection state on it.
    pub connection: u64,
    /// Where the connection comes from and a handle to it, behind one `Arc` so that the context
    /// a session clones for every call costs one more reference count, not two; `None` for
    /// local calls and contexts no session has served.
    link: Option<Arc<Link>>,
}

/// What a context knows of the connection it serves.
#[derive(Debug, Clone, Default)]
struct Link {
    /// Where the connection comes from; `None` for bare sessions.
    origin: Option<Origin>,
    /// The connection the call came over; `None` until a session serves this context.
    caller: Option<CallerHandle>,
}

/// What is known of a connection's other end (JS: `rpc.stream.address`, `rpc.meta`).
#[derive(Debug, Clone)]
struct Origin {
    address: String,
    transport: String,
}

impl CallContext {
    /// The context of calls arriving over connection number `connection`.
    pub fn new(remote: PublicKey, permissions: Permissions, connection: u64) -> Self {
        CallContext {
            remote,
            permissions: Arc::new(permissions),
            connection,
            link: None,
        }
    }

    /// The same context, for a connection whose multiserver address is `address` (e.g.
    /// `net:127.0.0.1:53712~shs:<remote key>`), carried by the transport named `transport`
    /// (`net`, `ws`, `unix`…). The stack sets both for every connection.
    pub fn with_origin(mut self, address: impl Into<String>, transport: impl Into<String>) -> Self {
        self.link_mut().origin = Some(Origin {
            address: address.into(),
            transport: transport.into(),
        });
        self
    }

    /// A connection number not handed out before in this process (they start at 1; `0` is kept
    /// for local calls). Anything that starts RPC sessions outside the stack takes its numbers here
    /// so they never collide with the stack's.
    pub fn next_connection_id() -> u64 {
        static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);
        NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed)
    }

    /// The context of the node calling itself: its own key, full permissions, connection `0`.
    pub fn local(own: PublicKey) -> Self {
        CallContext::new(own, Permissions::full(), 0)
    }

    /// A handle to the connection the call came over, to call the calling peer back through any
    /// typed client or [`Caller`](crate::rpc::Caller) method (JS: `sbot.peers[this.id][0]`).
    ///
    /// `None` for a local call (through `App::local` or a
    /// [`LocalCaller`](crate::rpc::LocalCaller)): the caller is this node itself and no
    /// connection exists to call back; call the node directly instead. Also `None` for a context
    /// that no session has served (one made by hand and dispatched directly).
    ///
    /// The handle is weak: it does not keep the connection alive, and once the connection has
    /// ended every call on it fails at once with
    /// [`RpcError::Closed`](crate::rpc::RpcError::Closed). Getting it allocates nothing.
    /// [`CallerHandle`] has an example.
    pub fn caller(&self) -> Option<CallerHandle> {
        self.link.as_ref().and_then(|l| l.caller.clone())
    }

    /// The calling connection's multiserver address (JS: `this.stream.address`), e.g.
    /// `net:127.0.0.1:53712~shs:<remote key>`: what we dialled, or for a connection we accepted
    /// where it came from. The same as the peer's
    /// [`Peer::address`](crate::stack::Peer::address). `None` for local calls and for sessions
    /// started without an origin (see [`CallContext::with_origin`]).
    pub fn address(&self) -> Option<&str> {
        self.origin().map(|o| o.address.as_str())
    }

    /// The name of the transport that carries the calling connection (`net`, `ws`, `unix`…), as
    /// [`Peer::transport`](crate::stack::Peer::transport). `None` when [`CallContext::address`]
    /// is.
    pub fn transport(&self) -> Option<&str> {
        self.origin().map(|o| o.transport.as_str())
    }

    fn origin(&self) -> Option<&Origin> {
        self.link.as_ref().and_then(|l| l.origin.as_ref())
    }

    /// The link, made unique (set once per connection, before any call clones the context).
    fn link_mut(&mut self) -> &mut Link {
        Arc::make_mut(self.link.get_or_insert_with(Arc::default))
    }

    /// Points this context at the session that serves it.
    pub(crate) fn set_caller(&mut self, caller: CallerHandle) {
        self.link_mut().caller = Some(caller);
    }
}
