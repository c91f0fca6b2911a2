//! muxrpc: many concurrent calls and streams over one connection, in both directions.
//!
//! The data path, in the order the bytes travel: [`codec`] frames [`packet::Packet`]s, the engine
//! routes them to calls and streams, and [`dispatch`] finds the plugin method that answers.

pub mod body;
pub mod caller;
pub mod codec;
pub mod connection;
pub mod dispatch;
pub mod error;
pub mod local;
pub mod manifest;
pub mod packet;
mod path_key;
pub mod permissions;
pub mod typed;
mod wire;

pub use body::Body;
pub use caller::Caller;
pub use codec::{CodecError, PacketCodec};
pub use connection::{BodySink, OverflowPolicy, RecvStream, RpcConfig, RpcHandle, SessionEnd};
pub use dispatch::{CallContext, Incoming, Method, MethodTable, Outgoing, Reply};
pub use error::{RemoteError, RpcError};
pub use local::LocalCaller;
pub use manifest::{CallKind, Manifest};
pub use packet::{Frame, Packet};
pub use permissions::{PermissionRefusal, PermissionTable, Permissions, RefusalRule};
pub use typed::{CallError, Sink, Source, TypedFuture, TypedStream};
