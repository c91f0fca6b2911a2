//! What can go wrong in a box stream, as a typed error that travels inside `std::io::Error`.
//!
//! [`BoxReader`](super::BoxReader) and [`BoxWriter`](super::BoxWriter) implement tokio's I/O
//! traits, so they report `io::Error`s; the box-stream failures among them wrap a
//! [`BoxStreamError`] that callers get back with [`BoxStreamError::from_io`].

use std::{fmt, io};

/// The part of a frame the input ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePart {
    /// The 34-byte boxed header.
    Header,
    /// The body that the header announced.
    Body,
}

impl fmt::Display for FramePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FramePart::Header => "header",
            FramePart::Body => "body",
        })
    }
}

/// Why a box stream failed.
///
/// The first five variants describe what the peer sent (or failed to send); the last three are
/// local misuse of the sync building blocks and never come from the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoxStreamError {
    /// A header box did not authenticate: wrong key, wrong nonce (replayed or reordered frame) or
    /// tampered bytes. JS says `invalid header`.
    #[error("invalid header")]
    InvalidHeader,
    /// A body did not authenticate against the tag its header carried. JS says `invalid packet`.
    #[error("invalid packet")]
    InvalidPacket,
    /// An authentic header announced a zero-length body with a non-zero tag. JS delivers an empty
    /// chunk here (pull-box-stream issue #10); no writer produces it, and we reject it.
    #[error("invalid header: zero-length body with a non-zero tag")]
    EmptyBody,
    /// The input ended at a frame boundary without the authenticated goodbye: the peer hung up
    /// (or, on muxrpc connections, closed after its RPC goodbye —).
    #[error("unexpected hangup: stream ended without the box-stream goodbye")]
    MissingGoodbye,
    /// The input ended inside a frame.
    #[error("unexpected hangup: stream ended inside a frame {part} ({got} of {wanted} bytes)")]
    Truncated {
        /// Which part of the frame was cut short.
        part: FramePart,
        /// Bytes of that part that arrived.
        got: usize,
        /// Bytes of that part that were needed.
        wanted: usize,
    },
    /// The writer was written to after it had been shut down (its goodbye is queued or sent).
    #[error("box stream writer is shut down")]
    WriterClosed,
    /// A frame body handed to the sealer was empty or longer than the 4096-byte maximum.
    #[error("frame body of {len} bytes is outside 1..=4096")]
    BadFrameLength {
        /// The rejected length.
        len: usize,
    },
    /// The output slice handed to the sealer cannot hold the sealed frame.
    #[error("output buffer of {available} bytes cannot hold a {needed}-byte frame")]
    OutputTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes the slice has.
        available: usize,
    },
}

impl BoxStreamError {
    /// The `io::ErrorKind` this error is reported with: `UnexpectedEof` for hangups,
    /// `InvalidData` for input that fails to authenticate, `BrokenPipe` for writing after
    /// shutdown, `InvalidInput` for misuse of the sealer.
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            BoxStreamError::InvalidHeader
            | BoxStreamError::InvalidPacket
            | BoxStreamError::EmptyBody => io::ErrorKind::InvalidData,
            BoxStreamError::MissingGoodbye | BoxStreamError::Truncated { .. } => {
                io::ErrorKind::UnexpectedEof
            }
            BoxStreamError::WriterClosed => io::ErrorKind::BrokenPipe,
            BoxStreamError::BadFrameLength { .. } | BoxStreamError::OutputTooSmall { .. } => {
                io::ErrorKind::InvalidInput
            }
        }
    }

    /// The box-stream error inside `err`, if `err` came from a box stream (rather than from the
    /// transport underneath).
    pub fn from_io(err: &io::Error) -> Option<&BoxStreamError> {
        err.get_ref()?.downcast_ref::<BoxStreamError>()
    }

    /// Whether this is a hangup (the input ended without the goodbye, at or inside a frame).
    pub fn is_hangup(&self) -> bool {
        matches!(
            self,
            BoxStreamError::MissingGoodbye | BoxStreamError::Truncated { .. }
        )
    }
}

impl From<BoxStreamError> for io::Error {
    fn from(err: BoxStreamError) -> Self {
        io::Error::new(err.io_kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_round_trip_keeps_the_typed_error() {
        let err = io::Error::from(BoxStreamError::Truncated {
            part: FramePart::Body,
            got: 2,
            wanted: 5,
        });
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let inner = BoxStreamError::from_io(&err);
        assert_eq!(
            inner,
            Some(&BoxStreamError::Truncated {
                part: FramePart::Body,
                got: 2,
                wanted: 5
            })
        );
        assert!(inner.is_some_and(BoxStreamError::is_hangup));
    }

    #[test]
    fn foreign_io_errors_are_not_box_stream_errors() {
        let err = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(BoxStreamError::from_io(&err), None);
        assert_eq!(
            BoxStreamError::from_io(&io::Error::from(io::ErrorKind::Other)),
            None
        );
    }

    #[test]
    fn messages_match_the_js_texts() {
        assert_eq!(BoxStreamError::InvalidHeader.to_string(), "invalid header");
        assert_eq!(BoxStreamError::InvalidPacket.to_string(), "invalid packet");
        assert_eq!(
            io::Error::from(BoxStreamError::InvalidHeader).kind(),
            io::ErrorKind::InvalidData
        );
    }
}
