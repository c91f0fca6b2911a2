//! Why a handshake failed: which phase, which side, and the JS wording where JS has one.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::keys::{KeyError, PublicKey};

/// A step of the handshake, named after the message it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Message 1 (client → server, 64 bytes): the client's challenge, `hmac(K, a_pub) ‖ a_pub`.
    ClientChallenge,
    /// Message 2 (server → client, 64 bytes): the server's challenge, `hmac(K, b_pub) ‖ b_pub`.
    ServerChallenge,
    /// Message 3 (client → server, 112 bytes): the client's boxed, signed hello.
    ClientHello,
    /// The server's authorisation decision about the client, between messages 3 and 4.
    Authorize,
    /// Message 4 (server → client, 80 bytes): the server's boxed accept signature.
    ServerAccept,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::ClientChallenge => "message 1, client challenge",
            Phase::ServerChallenge => "message 2, server challenge",
            Phase::ClientHello => "message 3, client hello",
            Phase::Authorize => "authorisation",
            Phase::ServerAccept => "message 4, server accept",
        })
    }
}

/// Which end of the handshake reports the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The dialling side, which knows the server's key in advance.
    Client,
    /// The accepting side, which learns the client's key from message 3.
    Server,
}

/// What was wrong with a client hello (message 3) the server could decrypt or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelloFault {
    /// The box did not open: the client used another server key (or the message was damaged).
    BoxOpen,
    /// The box opened but the client's signature does not verify.
    BadSignature,
    /// The client's long-term key is not a usable curve point.
    ClientKeyInvalid,
}

/// What was wrong with a server accept (message 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcceptFault {
    /// The box did not open.
    BoxOpen,
    /// The box opened but the server's signature does not verify.
    BadSignature,
}

impl fmt::Display for HelloFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HelloFault::BoxOpen => "the box does not open with our key",
            HelloFault::BadSignature => "the client's signature does not verify",
            HelloFault::ClientKeyInvalid => "the client's key is not a valid curve point",
        })
    }
}

impl fmt::Display for AcceptFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AcceptFault::BoxOpen => "the box does not open",
            AcceptFault::BadSignature => "the server's signature does not verify",
        })
    }
}

/// A failed handshake. Nothing about the failure is sent to the peer: the failing side just stops.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Server: message 1's hmac is wrong, most often a different app key.
    #[error(
        "shs.server: client sent invalid challenge (phase 1), possibly they tried to speak a different protocol or had wrong application cap"
    )]
    InvalidClientChallenge,
    /// Client: message 2's hmac is wrong, most often a different app key.
    #[error(
        "shs.client: server responded with invalid challenge (phase 2). possibly server does not speak shs"
    )]
    InvalidServerChallenge,
    /// Client: the server key we dialled cannot be converted to Curve25519.
    #[error("shs.client: the server's public key {server} is not a valid curve point (phase 2)")]
    InvalidServerKey {
        /// The key we dialled.
        server: PublicKey,
        /// Why it was refused.
        #[source]
        source: KeyError,
    },
    /// Server: message 3 is invalid, typically a client that dialled another server key.
    #[error(
        "shs.server: client hello invalid (phase 3). they dailed a wrong number - they didn't have our public key: {0}"
    )]
    InvalidClientHello(HelloFault),
    /// Server: the authorisation callback refused the client; we hung up without message 4.
    #[error("shs.server: we did not authorize the client (phase 4), so we hung up.")]
    Unauthorized {
        /// The client that was refused.
        client: PublicKey,
    },
    /// Client: message 4 is invalid.
    #[error(
        "shs.client: the server's response accepting us our hello (phase 5) was invalid, so we hung up: {0}"
    )]
    InvalidServerAccept(AcceptFault),
    /// The peer's ephemeral key has low order: the Diffie-Hellman result is all zeros.
    #[error("failed to derive shared secret: the peer's ephemeral key has low order ({phase})")]
    LowOrderKey {
        /// The message carrying the bad key.
        phase: Phase,
    },
    /// A read or write did not complete within the per-message timeout.
    #[error("{}: timed out after {} ms ({phase})", waiting(*side, *phase), timeout.as_millis())]
    Timeout {
        /// The side that gave up.
        side: Side,
        /// The message being read or written.
        phase: Phase,
        /// The limit that expired.
        timeout: Duration,
    },
    /// The peer closed the connection before a whole message arrived. A server that hangs up on
    /// our challenge most often has another app key ([`AppKey`](crate::keys::AppKey)); one that
    /// hangs up on our hello has another public key than the one we dialled, or refused us.
    #[error(
        "{}: the peer hung up after {received} of {expected} bytes ({phase}){}",
        waiting(*side, *phase),
        hint(*side, *phase)
    )]
    PeerHungUp {
        /// The side that was reading.
        side: Side,
        /// The message being read.
        phase: Phase,
        /// How many bytes of it had arrived.
        received: usize,
        /// Its full size.
        expected: usize,
    },
    /// Reading or writing failed; the source is the I/O error.
    #[error("{} ({phase})", waiting(*side, *phase))]
    Io {
        /// The side whose I/O failed.
        side: Side,
        /// The message being read or written.
        phase: Phase,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// No randomness for the ephemeral key.
    #[error("cannot generate an ephemeral key: {0}")]
    Random(KeyError),
    /// The secretbox refused to seal a fixed-size handshake message (cannot happen in practice).
    #[error("internal error: cannot seal {0}")]
    Seal(Phase),
}

impl HandshakeError {
    /// The phase the failure belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            HandshakeError::InvalidClientChallenge => Phase::ClientChallenge,
            HandshakeError::InvalidServerChallenge | HandshakeError::InvalidServerKey { .. } => {
                Phase::ServerChallenge
            }
            HandshakeError::InvalidClientHello(_) => Phase::ClientHello,
            HandshakeError::Unauthorized { .. } => Phase::Authorize,
            HandshakeError::InvalidServerAccept(_) => Phase::ServerAccept,
            HandshakeError::Random(_) => Phase::ClientChallenge,
            HandshakeError::LowOrderKey { phase }
            | HandshakeError::Timeout { phase, .. }
            | HandshakeError::PeerHungUp { phase, .. }
            | HandshakeError::Io { phase, .. }
            | HandshakeError::Seal(phase) => *phase,
        }
    }

    /// True when we refused the peer (as opposed to a transport failure or a timeout).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            HandshakeError::InvalidClientChallenge
                | HandshakeError::InvalidServerChallenge
                | HandshakeError::InvalidServerKey { .. }
                | HandshakeError::InvalidClientHello(_)
                | HandshakeError::Unauthorized { .. }
                | HandshakeError::InvalidServerAccept(_)
                | HandshakeError::LowOrderKey { .. }
        )
    }
}

/// What a client should check when the server hangs up at `phase`, in this crate's terms.
fn hint(side: Side, phase: Phase) -> &'static str {
    match (side, phase) {
        (Side::Client, Phase::ClientChallenge | Phase::ServerChallenge) => {
            "; a server hangs up on a challenge made with another app key: check that both use the same `AppKey` (config `caps.shs`)"
        }
        (Side::Client, Phase::ClientHello | Phase::ServerAccept) => {
            "; a server hangs up on a hello meant for another key, or when its auth hook refuses us: check that the address's `shs:` key is the server's"
        }
        _ => "",
    }
}

/// The JS message for a side stuck at `phase` (secret-handshake `errors.js`).
fn waiting(side: Side, phase: Phase) -> &'static str {
    match (side, phase) {
        (Side::Client, Phase::ClientChallenge | Phase::ServerChallenge) => {
            "shs.client: error when expecting server to accept challenge (phase 1).\npossibly the server is busy, does not speak shs or uses a different application cap"
        }
        (Side::Client, _) => {
            "shs.client: server hung up when we sent hello (phase 3).\nPossibly we dailed a wrong number, or the server does not wish to talk to us."
        }
        (Side::Server, Phase::ClientChallenge) => {
            "shs.server: error when waiting for client to send challenge (phase 1)"
        }
        (Side::Server, Phase::ServerChallenge | Phase::ClientHello) => {
            "shs.server: error when expecting client to say hello (phase 2)"
        }
        (Side::Server, _) => "shs.server: error when sending our accept (phase 4)",
    }
}
