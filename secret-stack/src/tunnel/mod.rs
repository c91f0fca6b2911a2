//! Tunnels: reaching a peer *through* another one, as the `ssb-tunnel` plugin of JS does.
//!
//! A peer that cannot be dialled (the endpoint) keeps a connection to a portal and announces
//! itself there. A client asks the portal for a duplex to the endpoint; the portal opens a duplex
//! to the endpoint over the endpoint's connection and pipes the two together ([`forward`]). The
//! binary items of that duplex then carry a whole inner connection — secret handshake, box
//! stream, muxrpc — between client and endpoint, end to end encrypted, which the portal cannot
//! read ([`DuplexBytes`]). Such a peer is reached at a [`TunnelAddress`].
//!
//! The [`Tunnel`] plugin wires them into an app: portal, endpoint and client roles, each on by
//! config, wire-compatible with JS `ssb-tunnel@2.0.0`.
//!
//! # Backpressure and its price
//!
//! A tunnel's bytes are flow-controlled end to end: a client that stops reading makes the portal,
//! then the endpoint, stop sending, and nothing is buffered without bound (JS's tunnel buffers
//! without limit). It is the connection's [`OverflowPolicy`](crate::rpc::OverflowPolicy) that
//! does this: with the default, `Pause`, a tunnel whose reader stalls stops the reading of the
//! whole outer connection it travels over, so every other tunnel and call on that connection
//! waits too, until the reader catches up. A portal serving many tunnels over one endpoint
//! connection that prefers to lose a stalled tunnel rather than wait for it sets
//! `OverflowPolicy::EndStream` in its [`RpcConfig`](crate::rpc::RpcConfig) (`Builder::rpc_config`): the stalled tunnel
//! then ends with an error and the others keep flowing.

pub(crate) mod address;
pub(crate) mod duplex_bytes;
pub(crate) mod forward;
pub(crate) mod plugin;
pub(crate) mod transport;

pub use address::{TUNNEL, TunnelAddress};
pub use duplex_bytes::{DuplexBytes, DuplexBytesError, DuplexReader, DuplexWriter, MAX_ITEM};
pub use forward::{HANGUP, forward};
pub use plugin::{
    DEFAULT_MAX_TUNNELS_PER_ENDPOINT, DEFAULT_PING_INTERVAL, Tunnel, TunnelConfig, TunnelError,
    TunnelEvent,
};
pub use transport::TunnelTransport;
