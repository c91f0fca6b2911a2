//! muxrpc: many concurrent calls and streams over one connection, in both directions.
//!
//! The data path, in the order the bytes travel: [`PacketCodec`] frames [`Packet`]s, the engine
//! ([`RpcHandle`]) routes them to calls and streams, and a [`MethodTable`] finds the plugin method
//! that answers.

pub(crate) mod body;
pub(crate) mod caller;
pub(crate) mod codec;
pub(crate) mod connection;
pub(crate) mod context;
pub(crate) mod dispatch;
pub(crate) mod error;
pub mod hooks;
pub(crate) mod local;
pub(crate) mod manifest;
pub(crate) mod packet;
pub(crate) mod path_key;
pub(crate) mod permissions;
pub(crate) mod typed;
pub(crate) mod wire;

pub use wire::PACKET_HEADER_LEN;

pub use body::Body;
pub use caller::Caller;
pub use codec::{CodecError, DEFAULT_MAX_BODY, PacketCodec};
pub use connection::{
    BodySink, CallerHandle, OverflowPolicy, RecvStream, RpcConfig, RpcHandle, SessionEnd,
};
pub use context::CallContext;
pub use dispatch::{
    DuplicateMethod, Handler, Method, MethodInput, MethodOutput, MethodTable, Reply,
};
pub use error::{RemoteError, RpcError};
pub use hooks::{HookError, MethodHook, MethodHooks, Next, NoSuchMethod, WrongKind};
pub use local::LocalCaller;
pub use manifest::{CallKind, Manifest, ManifestEntry, UnknownCallKind};
pub use packet::{Frame, Packet};
pub use permissions::{PermissionRefusal, PermissionTable, Permissions, RefusalRule};
pub use typed::{
    BinaryValue, CallError, HookFuture, HookStream, HookTarget, MethodResult, Sink, SinkItem,
    Source, ToRemoteError, TypedError, TypedFuture, TypedNext, TypedStream, WireFormat,
};
