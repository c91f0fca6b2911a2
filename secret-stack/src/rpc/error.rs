//! Errors of RPC calls: the JS-compatible error object that travels on the wire, and the error a
//! local caller sees.

use serde::{Deserialize, Serialize};

use super::permissions::PermissionRefusal;

/// An error as it travels between peers: `{"message", "name", "stack"}` (JS key order).
///
/// Sent (and serialized), it always carries all three keys (`stack` empty when this value has
/// none), then `data` if set. Received (and deserialized), only `message` is needed: a missing
/// `name` reads as `Error`, and a `stack` that is missing or not a string reads as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{name}: {message}")]
pub struct RemoteError {
    /// The human-readable message, e.g. `no async:missing`.
    pub message: String,
    /// The error class name; JS uses `Error` for nearly everything.
    #[serde(default = "default_error_name")]
    pub name: String,
    /// A free-form stack trace; receivers must not depend on it. What a peer sent is kept here;
    /// errors the engine makes have none, and are sent with an empty `stack`.
    #[serde(
        default,
        serialize_with = "stack::serialize",
        deserialize_with = "stack::deserialize"
    )]
    pub stack: Option<String>,
    /// The serialized typed error of a Rust plugin method (`#[plugin]` methods returning
    /// `Result<T, E>`), which a typed client decodes back into `E`. JS peers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Box<serde_json::Value>>,
}

fn default_error_name() -> String {
    "Error".to_owned()
}

/// `stack` as strict clients need it (always a string) and as lenient readers take it (anything).
mod stack {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(stack: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(stack.as_deref().unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<String>, D::Error> {
        Ok(match serde_json::Value::deserialize(input)? {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        })
    }
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

    /// The refusal this error is, if the peer refused the call for the caller's permissions (JS's
    /// `method:<path> is not in list of allowed methods` and `... is on list of disallowed
    /// methods`).
    pub fn permission_refusal(&self) -> Option<PermissionRefusal> {
        PermissionRefusal::from_message(&self.message)
    }
}

/// How [`RpcError::Remote`] displays: a permission refusal in words, anything else as sent.
fn describe_remote(error: &RemoteError) -> String {
    match error.permission_refusal() {
        Some(refusal) => refusal.to_string(),
        None => format!("remote error: {error}"),
    }
}

impl From<RpcError> for RemoteError {
    /// The error to pass on when a call made on a peer's behalf fails: a remote error with its
    /// message, name and data but not its stack (which names the files of the peer that made it),
    /// anything else as an `Error` carrying the local message.
    fn from(error: RpcError) -> Self {
        match error {
            RpcError::Remote(e) => RemoteError { stack: None, ..e },
            other => RemoteError::new(other.to_string()),
        }
    }
}

/// Why a call made through a connection (or the local app) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The peer answered with an error object. A refusal for the caller's permissions displays
    /// as the [`PermissionRefusal`] it is (see [`RpcError::permission_refusal`]).
    #[error("{}", describe_remote(.0))]
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

impl RpcError {
    /// The refusal this error is, if the peer refused the call for the caller's permissions: a
    /// typed way to tell it apart from other remote errors, e.g.
    /// `if let Some(refused) = error.permission_refusal() { ask for access to refused.dotted() }`.
    pub fn permission_refusal(&self) -> Option<PermissionRefusal> {
        match self {
            RpcError::Remote(e) => e.permission_refusal(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_writes_all_three_keys_and_reads_any_stack() {
        let error = RemoteError::new("no async:x");
        assert_eq!(
            serde_json::to_string(&error).ok().as_deref(),
            Some(r#"{"message":"no async:x","name":"Error","stack":""}"#)
        );
        for (json, stack) in [
            (r#"{"message":"no async:x"}"#, None),
            (r#"{"message":"no async:x","stack":[1,2]}"#, None),
            (r#"{"message":"no async:x","stack":"at x"}"#, Some("at x")),
        ] {
            let read: Result<RemoteError, _> = serde_json::from_str(json);
            assert_eq!(
                read.map_err(|e| e.to_string()),
                Ok(RemoteError {
                    stack: stack.map(str::to_owned),
                    ..error.clone()
                }),
                "{json}"
            );
        }
    }

    #[test]
    fn a_passed_on_error_keeps_all_but_the_other_peer_s_stack() {
        let received = RemoteError {
            stack: Some("Error: boom\n    at /home/alice/app/index.js:3:9".to_owned()),
            ..RemoteError::named("TypeError", "boom").with_data(serde_json::json!({"code": 7}))
        };
        let passed_on = RemoteError::from(RpcError::Remote(received.clone()));
        assert_eq!(passed_on.stack, None);
        assert_eq!(
            passed_on,
            RemoteError {
                stack: None,
                ..received
            }
        );
        assert_eq!(
            RemoteError::from(RpcError::ConnectionLost),
            RemoteError::new("unexpected end of parent stream")
        );
    }
}
