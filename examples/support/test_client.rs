//! The typed client of the interop `test` plugin, from its API alone (`#[remote]`): what a Rust
//! program writes to call a plugin that lives on the other side, here `tests/interop/peer.js` or
//! [`crate::test_plugin`] served by a Rust app.
//!
//! It generates [`TestClient<C>`] over any [`Caller`](secret_stack::rpc::Caller): a
//! [`Peer`](secret_stack::stack::Peer), an `RpcHandle`, a `LocalCaller`, or a borrow of one.
//! Methods whose `Result` names [`TestError`] decode that error from a Rust peer
//! (`CallError::Method`); a JS peer sends no typed data, so the same failure arrives as
//! `CallError::Rpc(RpcError::Remote(..))` with the same message.

use bytes::Bytes;
use secret_stack::remote;
use secret_stack::rpc::{Body, Sink, Source};
use serde_json::{Number, Value};

pub use crate::test_plugin::TestError;

/// The API of the `test` plugin, as a caller sees it.
#[remote(name = "test")]
pub trait Test {
    /// `"hello " + name`.
    async fn hello(&self, name: String) -> String;
    /// `a + b`.
    fn add(&self, a: Number, b: Number) -> Value;
    /// Always fails with `test.fail: intentional failure`.
    async fn fail(&self) -> Result<(), TestError>;
    /// 0, 1, …, n-1.
    fn count(&self, n: u64) -> Source<u64>;
    /// `total` bytes in binary chunks of `chunk_size` (default 65536); byte `j` is `j % 256`.
    fn bytes(&self, total: u64, chunk_size: Option<u64>) -> Result<Source<Bytes>, TestError>;
    /// Stores the items sent, for `collected` on the same connection.
    async fn collect(&self, items: Sink<Body>) -> Result<(), TestError>;
    /// What the last `collect` of this connection stored; binary items as `"binary:" + base64`.
    async fn collected(&self) -> Result<Vec<Value>, TestError>;
    /// Sends back every item as received.
    fn echo(&self, input: Sink<Body>) -> Source<Body>;
    /// `"the secret is 42"`, for masters only.
    async fn secret(&self) -> String;
}
