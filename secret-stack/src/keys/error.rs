//! The error of parsing, checking and converting keys.

/// Why a key, id or signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A feed id did not start with `@`.
    #[error("an ed25519 id must start with '@'")]
    MissingSigil,
    /// A feed id did not end with `.ed25519`.
    #[error("an ed25519 id must end with '.ed25519'")]
    MissingSuffix,
    /// The base64 part could not be decoded.
    #[error("invalid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The decoded key had the wrong number of bytes.
    #[error("expected {expected} bytes, got {actual}")]
    Length {
        /// The size the key must have.
        expected: usize,
        /// The size that was decoded.
        actual: usize,
    },
    /// The bytes do not encode a point of the Ed25519 curve.
    #[error("public key is not a point of the ed25519 curve")]
    NotOnCurve,
    /// The point is of small order (or has a small-order component): useless for key agreement.
    #[error("public key is a small-order point or lies outside the main subgroup")]
    SmallOrder,
    /// A 64-byte secret key whose second half is not the public key of its first half.
    #[error("the public half of the 64-byte secret key does not match its seed")]
    MismatchedKeypair,
    /// An Ed25519 signature did not verify.
    #[error("invalid ed25519 signature")]
    BadSignature,
    /// The operating system's random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(getrandom::Error),
}
