//! How a method's own error becomes the JS-compatible error object on the wire.
//!
//! An error type `E: Serialize + Display` travels as `{"message": E's Display, "name": "Error",
//! "stack": "", "data": E serialized}`: JS peers read `message` as usual, and a typed Rust client decodes
//! `data` back into `E`.

use std::any::Any;
use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::rpc::error::{RemoteError, RpcError};

/// An error a plugin method may return: anything `Serialize + Display`, and [`RpcError`] (so a
/// method can pass on the failure of a call it made).
///
/// A [`RemoteError`] is sent as it is; other types as `{message: to_string(), name: "Error",
/// stack: "", data: <serialized>}`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a method's error: it must be `Serialize` and `Display`",
    label = "add `#[derive(serde::Serialize)]` and a `Display` impl to this type",
    note = "a method's error travels as `{{message: <Display>, name: \"Error\", stack: \"\", data: <serialized>}}`"
)]
pub trait ToRemoteError {
    /// The error object to send.
    fn to_remote_error(&self) -> RemoteError;
}

impl<E: Serialize + Display + 'static> ToRemoteError for E {
    fn to_remote_error(&self) -> RemoteError {
        if let Some(remote) = (self as &dyn Any).downcast_ref::<RemoteError>() {
            return remote.clone();
        }
        let error = RemoteError::new(self.to_string());
        match serde_json::to_value(self) {
            Ok(data) => error.with_data(data),
            Err(e) => {
                tracing::debug!(error = %e, "method error has no JSON form; sending its message only");
                error
            }
        }
    }
}

impl ToRemoteError for RpcError {
    fn to_remote_error(&self) -> RemoteError {
        RemoteError::from(self.clone())
    }
}

/// The error type of a method of a `#[plugin]` that has a typed client: sent by the plugin
/// (`Serialize`, `Display`) and read back by the client (`Deserialize`). Generated code asks for
/// this one trait on both sides, so a type that lacks a derive gets one error, at the type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a method's error: it must be `Serialize`, `Deserialize` and `Display`",
    label = "add `#[derive(serde::Serialize, serde::Deserialize)]` (and a `Display` impl) to this type",
    note = "the plugin sends the error serialized and its typed client reads it back; for an error type that cannot be `Deserialize`, write `#[plugin(client = false)]` (no client), and only `Serialize` and `Display` are needed"
)]
pub trait TypedError: Sized {
    /// Both conversions, as one item so that both sides name the same thing.
    const CONVERSIONS: ErrorConversions<Self>;
}

/// How a [`TypedError`] travels: `into_remote` on the plugin's side, `from_rpc` on the client's.
#[derive(Debug)]
pub struct ErrorConversions<E> {
    /// The error object the plugin sends.
    pub into_remote: fn(E) -> RemoteError,
    /// What the client makes of a failed call: this error if the error object's `data` decodes
    /// into it.
    pub from_rpc: fn(RpcError) -> crate::rpc::typed::CallError<E>,
}

// Errors name `TypedError` (with its message) rather than each serde trait it needs: one error.
#[diagnostic::do_not_recommend]
impl<E: ToRemoteError + DeserializeOwned> TypedError for E {
    const CONVERSIONS: ErrorConversions<E> = ErrorConversions {
        into_remote: |e| e.to_remote_error(),
        from_rpc: crate::rpc::typed::client::decode_typed_error::<E>,
    };
}

/// A `Result` a method returns, seen through its parts, so that aliases such as
/// `type Result<T> = std::result::Result<T, MyError>` work too.
pub trait MethodResult {
    /// The success value.
    type Ok;
    /// The method's own error.
    type Err;
    /// The result as a plain `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
}

impl<T, E> MethodResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize)]
    enum Oops {
        Broken { part: String },
    }

    impl Display for Oops {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Oops::Broken { part } => write!(f, "{part} is broken"),
            }
        }
    }

    #[test]
    fn typed_errors_carry_message_and_data() {
        let e = Oops::Broken {
            part: "wheel".into(),
        }
        .to_remote_error();
        assert_eq!(e.message, "wheel is broken");
        assert_eq!(e.name, "Error");
        assert_eq!(
            e.data.as_deref(),
            Some(&serde_json::json!({"Broken": {"part": "wheel"}}))
        );
    }

    #[test]
    fn remote_errors_pass_unchanged() {
        let original = RemoteError::named("TypeError", "nope");
        assert_eq!(original.to_remote_error(), original);
        let rpc = RpcError::Remote(original.clone());
        assert_eq!(rpc.to_remote_error(), original);
        assert_eq!(
            RpcError::ConnectionLost.to_remote_error().message,
            "unexpected end of parent stream"
        );
    }
}
