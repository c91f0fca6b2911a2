//! Our own identity: an Ed25519 key pair, derived from a 32-byte seed like libsodium's
//! `crypto_sign_seed_keypair` and stored in libsodium's 64-byte `seed ‖ public` layout.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha512};

use super::{KeyError, PublicKey};

/// An Ed25519 key pair. `Debug` shows only the public id; the secret is never printed.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A new key pair from 32 bytes of operating-system randomness.
    pub fn try_generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(KeyError::Random)?;
        Ok(Self::from_seed(&seed))
    }

    /// A new random key pair.
    ///
    /// # Panics
    /// Only if the operating system cannot supply randomness; see [`Keypair::try_generate`].
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(pair) => pair,
            Err(e) => panic!("cannot generate a key pair: {e}"),
        }
    }

    /// The key pair whose secret seed is `seed` (deterministic).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The key pair of an `ssb-keys` *string* seed: the first 32 UTF-16 code units of `seed`,
    /// UTF-8 encoded, copied into a zero-filled 32-byte buffer (extra bytes dropped).
    pub fn from_string_seed(seed: &str) -> Self {
        Self::from_seed(&string_seed_bytes(seed))
    }

    /// Reads libsodium's 64-byte secret key `seed ‖ public`, checking that both halves agree.
    pub fn from_secret_bytes(secret: &[u8; 64]) -> Result<Self, KeyError> {
        SigningKey::from_keypair_bytes(secret)
            .map(|signing| Keypair { signing })
            .map_err(|_| KeyError::MismatchedKeypair)
    }

    /// libsodium's 64-byte secret key: `seed ‖ public`.
    pub fn to_secret_bytes(&self) -> [u8; 64] {
        self.signing.to_keypair_bytes()
    }

    /// The 32-byte seed the key pair derives from.
    pub fn seed(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The feed id of the public half: `@<base64>.ed25519`.
    pub fn id(&self) -> String {
        self.public().id()
    }

    /// A detached Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The Curve25519 secret scalar of this key pair, like libsodium's
    /// `crypto_sign_ed25519_sk_to_curve25519`: the first half of `SHA-512(seed)`, clamped.
    pub fn to_curve25519(&self) -> [u8; 32] {
        let hash = Sha512::digest(self.signing.to_bytes());
        let mut scalar = [0u8; 32];
        scalar.copy_from_slice(&hash[..32]);
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        scalar
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.id())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Keypair {
    fn eq(&self, other: &Self) -> bool {
        self.signing == other.signing
    }
}

impl Eq for Keypair {}

/// The ssb-keys rule turning a string seed into 32 bytes.
fn string_seed_bytes(seed: &str) -> [u8; 32] {
    let units: Vec<u16> = seed.encode_utf16().take(32).collect();
    // A surrogate pair cut in half becomes U+FFFD, as Node's UTF-8 encoder does.
    let truncated = String::from_utf16_lossy(&units);
    let mut out = [0u8; 32];
    for (slot, byte) in out.iter_mut().zip(truncated.bytes()) {
        *slot = byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_layout_round_trips_and_detects_mismatch() {
        let pair = Keypair::from_seed(&[7; 32]);
        let bytes = pair.to_secret_bytes();
        assert_eq!(&bytes[..32], &[7; 32]);
        assert_eq!(&bytes[32..], &pair.public().0);
        assert_eq!(Keypair::from_secret_bytes(&bytes).unwrap(), pair);
        let mut bad = bytes;
        bad[40] ^= 1;
        assert!(Keypair::from_secret_bytes(&bad).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let pair = Keypair::from_seed(&[0x41; 32]);
        let shown = format!("{pair:?}");
        assert!(shown.contains(&pair.id()));
        assert!(!shown.contains("65, 65"));
        assert!(!shown.contains("QUFB"));
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        let pair = Keypair::generate();
        let sig = pair.sign(b"hello");
        assert_eq!(pair.public().verify(b"hello", &sig), Ok(()));
        assert_eq!(
            pair.public().verify(b"hellp", &sig),
            Err(KeyError::BadSignature)
        );
    }

    #[test]
    fn string_seed_cuts_a_surrogate_pair_like_node() {
        // 31 ASCII units then a two-unit emoji: only its high surrogate survives the cut.
        let seed = format!("{}\u{1F600}", "a".repeat(31));
        let bytes = string_seed_bytes(&seed);
        assert_eq!(&bytes[..31], "a".repeat(31).as_bytes());
        assert_eq!(bytes[31], 0xEF); // first byte of U+FFFD
    }
}
