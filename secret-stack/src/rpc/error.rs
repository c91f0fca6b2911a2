//! Errors of RPC calls: the JS-compatible error object that travels on the wire, and the error a
//! local caller sees.

use serde::{Deserialize, Serialize};

/// An error as it travels between peers: `{"message", "name", "stack"}` (JS key order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{name}: {message}")]
pub struct RemoteError {
    /// The human-readable message, e.g. `no async:missing`.
    pub message: String,
    /// The error class name; JS uses `Error` for nearly everything.
    #[serde(default = "default_error_name")]
    pub name: String,
    /// A free-form stack trace; receivers must not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The serialized typed error of a Rust plugin method (`#[plugin]` methods returning
    /// `Result<T, E>`), which a typed client decodes back into `E`. JS peers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<serde_json::Value>>,
}

fn default_error_name() -> String {
    "Error".to_owned()
}

impl RemoteError {
    /// An error named `Error` with `message` and no stack.
    pub fn new(message: impl Into<String>) -> Self {
        RemoteError {
            message: message.into(),
            name: default_error_name(),
            stack: None,
            data: None,
        }
    }

    /// An error with an explicit `name`.
    pub fn named(name: impl Into<String>, message: impl Into<String>) -> Self {
        RemoteError {
            message: message.into(),
            name: name.into(),
            stack: None,
            data: None,
        }
    }

    /// The same error carrying `data`, the serialized typed error of a Rust method.
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(Box::new(data));
        self
    }
}

impl From<RpcError> for RemoteError {
    /// The error to pass on when a call made on a peer's behalf fails: a remote error as it was,
    /// anything else as an `Error` carrying the local message.
    fn from(error: RpcError) -> Self {
        match error {
            RpcError::Remote(e) => e,
            other => RemoteError::new(other.to_string()),
        }
    }
}

/// Why a call made through a connection (or the local app) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The peer answered with an error object.
    #[error("remote error: {0}")]
    Remote(RemoteError),
    /// The connection ended before the call finished (JS: `unexpected end of parent stream`).
    #[error("unexpected end of parent stream")]
    ConnectionLost,
    /// The connection was already closed when the call was made (JS: `stream is closed`).
    #[error("stream is closed")]
    Closed,
    /// The connection is closing and takes no new calls (JS: `parent stream is closing`).
    #[error("parent stream is closing")]
    Closing,
    /// The call's deadline passed before the answer arrived.
    #[error("call timed out")]
    Timeout,
    /// A value could not be encoded or the answer could not be decoded into the expected type.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// The peer broke the protocol (a malformed frame, an oversize body, ...).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A received stream was ended because its consumer fell behind and the connection's overflow
    /// policy is to end the stream rather than pause reading.
    #[error("receive buffer of stream {req} is full: its consumer fell behind")]
    ReceiveBufferFull {
        /// The stream's request number, as the opener numbered it.
        req: i32,
    },
}
