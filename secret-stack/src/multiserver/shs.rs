//! The `shs:<base64 key>` and `shs:<base64 key>:<base64 seed>` section (PROTOCOL.md §7.3, §2.8):
//! whom the secret handshake must reach, and optionally the seed of a one-off client identity.
//!
//! The `shs` transform itself lives with the handshake; see [`super::transform`] for how it plugs in.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::address::{AddressError, Protocol};
use crate::keys::PublicKey;

/// A parsed `shs` section.
///
/// Stricter than JS (Node's base64 decoder skips invalid characters and ignores extra fields): the
/// key and seed must be canonical padded base64 of exactly 32 bytes, and there are at most two fields.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShsAddress {
    /// The Ed25519 key the server must prove.
    pub key: PublicKey,
    /// Seed of the Ed25519 key pair to dial with instead of our own.
    pub seed: Option<[u8; 32]>,
}

impl fmt::Debug for ShsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShsAddress")
            .field("key", &STANDARD.encode(self.key.0))
            .field("seed", &self.seed.map(|_| ".."))
            .finish()
    }
}

impl ShsAddress {
    /// An address to `key` without a seed.
    pub fn new(key: PublicKey) -> ShsAddress {
        ShsAddress { key, seed: None }
    }

    /// Reads an `shs` section.
    pub fn from_protocol(section: &Protocol) -> Result<ShsAddress, AddressError> {
        if section.name() != "shs" {
            return Err(AddressError::WrongProtocol {
                expected: "shs",
                got: section.name().to_owned(),
            });
        }
        let (key, seed) = match section.data() {
            [key] => (key, None),
            [key, seed] => (key, Some(seed)),
            _ => {
                return Err(AddressError::invalid(
                    "shs",
                    section,
                    "expected shs:<key> or shs:<key>:<seed>",
                ));
            }
        };
        let key =
            decode32(key).map_err(|e| AddressError::invalid("shs", section, format!("key {e}")))?;
        let seed = seed
            .map(|s| decode32(s))
            .transpose()
            .map_err(|e| AddressError::invalid("shs", section, format!("seed {e}")))?;
        Ok(ShsAddress {
            key: PublicKey(key),
            seed,
        })
    }

    /// The section: `shs:<key>` or `shs:<key>:<seed>`.
    pub fn to_protocol(&self) -> Protocol {
        let mut data = vec![STANDARD.encode(self.key.0)];
        if let Some(seed) = &self.seed {
            data.push(STANDARD.encode(seed));
        }
        // Standard base64 only uses characters the grammar allows in data.
        Protocol::trusted("shs", data)
    }
}

fn decode32(text: &str) -> Result<[u8; 32], String> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| format!("is not base64 ({e})"))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 32 bytes, got {}", bytes.len()))
}

impl fmt::Display for ShsAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_protocol())
    }
}

impl FromStr for ShsAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShsAddress::from_protocol(&s.parse()?)
    }
}
