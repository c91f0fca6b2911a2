//! Why a command failed, and the exit code each kind of failure maps to (listed in `--help`).

use std::process::ExitCode;

use secret_stack::rpc::{RemoteError, RpcError};

use crate::signals::Signal;

/// Exit code: the remote peer answered the call with an error.
pub const EXIT_REMOTE: u8 = 1;
/// Exit code: bad usage or a local problem (arguments, an address no transport understands,
/// config, key file, stdin, stdout); clap's
/// own usage errors exit with 2 as well.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the peer could not be reached, the handshake failed, or the connection broke.
pub const EXIT_CONNECTION: u8 = 3;
/// Exit code: `--timeout` elapsed.
pub const EXIT_TIMEOUT: u8 = 4;

/// A failed command; its `Display` is the line printed on stderr after `secret-stack: `.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The remote method answered with an error (printed as `name: message`, a refusal for our
    /// permissions in words).
    #[error("{}", RpcError::Remote(.0.clone()))]
    Remote(RemoteError),
    /// Bad usage or a local problem.
    #[error("{0}")]
    Usage(String),
    /// The peer could not be reached or the connection broke.
    #[error("{0}")]
    Connection(String),
    /// `--timeout` elapsed while waiting for `0`.
    #[error("timed out waiting for {0}")]
    Timeout(String),
    /// `call` or `manifest` was stopped by a signal; the exit code is 128 + its number.
    #[error("stopped by {0}")]
    Interrupted(Signal),
    /// Whoever reads stdout has closed it (`| head`): the command stops early, quietly and
    /// successfully, as Unix tools do.
    #[error("stdout was closed")]
    StdoutClosed,
}

impl Failure {
    /// A usage failure from anything printable.
    pub fn usage(message: impl std::fmt::Display) -> Failure {
        Failure::Usage(message.to_string())
    }

    /// The exit code of this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Remote(_) => EXIT_REMOTE,
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Connection(_) => EXIT_CONNECTION,
            Failure::Timeout(_) => EXIT_TIMEOUT,
            Failure::Interrupted(signal) => signal.exit_code(),
            Failure::StdoutClosed => 0,
        })
    }
}

impl From<RpcError> for Failure {
    /// Sorts a failed call: a remote error, a deadline, a value we could not send, or a broken
    /// connection.
    fn from(error: RpcError) -> Failure {
        match error {
            RpcError::Remote(e) => Failure::Remote(e),
            RpcError::Timeout => Failure::Timeout("the answer".into()),
            RpcError::InvalidValue(message) => Failure::Usage(format!("invalid value: {message}")),
            other => Failure::Connection(format!("connection failed: {other}")),
        }
    }
}
