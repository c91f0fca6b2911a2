//! The knobs of a connection: frame size limit, per-stream receive buffers and what to do when a
//! consumer falls behind, write batching, and the cap on concurrently served calls.

use std::time::Duration;

use crate::rpc::codec::DEFAULT_MAX_BODY;

/// What the engine does when a receiving stream's buffer is full because its consumer is slower than
/// the peer's producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Stop reading the connection until the consumer catches up (the default). Nothing is lost and
    /// memory stays bounded, and TCP pushback reaches the peer; but every other call and stream on
    /// the same connection waits too, so a consumer that never reads stalls the whole connection
    /// (and a consumer that waits for another reply on this connection before reading deadlocks it).
    #[default]
    PauseReading,
    /// End only that stream, with an error to both the local consumer
    /// ([`RpcError::ReceiveBufferFull`](crate::rpc::RpcError::ReceiveBufferFull)) and the peer; the
    /// rest of the connection keeps flowing. Values the peer sends on that stream afterwards are
    /// dropped.
    EndStream,
}

/// Configuration of one RPC connection.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// The largest body accepted from the peer; a larger one ends the connection with a protocol
    /// error before anything is allocated for it. Default 8 MiB.
    pub max_body: usize,
    /// How many received values each stream buffers before [`RpcConfig::overflow`] applies.
    /// Default 64. Memory per stream is bounded by `stream_buffer × max_body`.
    pub stream_buffer: usize,
    /// What to do when a stream's receive buffer is full.
    pub overflow: OverflowPolicy,
    /// The writer gathers ready frames into one buffer and writes it at once; it stops gathering
    /// when the buffer reaches this many bytes. Default 64 KiB.
    pub max_batch_bytes: usize,
    /// How many values one stream may add to a batch before the writer moves on to the next stream
    /// (round-robin), so a bulk stream cannot starve the others. Default 16.
    pub max_items_per_stream: usize,
    /// How many of the peer's async/sync calls are served at once; when that many are running the
    /// engine stops reading until one finishes. Default 1024.
    pub max_incoming_calls: usize,
    /// How many streams the peer may have open at once. A stream request beyond that is refused
    /// at once with an error end (`too many open streams`) and costs no memory; the connection
    /// goes on. Each open stream holds its bookkeeping, and a sink or duplex a receive queue and
    /// often a task (a few KiB), so without a limit a peer could grow memory without bound by
    /// opening streams it never ends. JS muxrpc has no limit. Default 10,000.
    pub max_incoming_streams: usize,
    /// A default deadline for our own async calls; `None` (the default) waits for ever, like JS.
    pub call_timeout: Option<Duration>,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            max_body: DEFAULT_MAX_BODY,
            stream_buffer: 64,
            overflow: OverflowPolicy::PauseReading,
            max_batch_bytes: 64 * 1024,
            max_items_per_stream: 16,
            max_incoming_calls: 1024,
            max_incoming_streams: 10_000,
            call_timeout: None,
        }
    }
}
