//! Identities: Ed25519 key pairs, their `@<base64>.ed25519` ids, app keys and `ssb-keys` secret files.

/// An Ed25519 public key: the identity of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);
