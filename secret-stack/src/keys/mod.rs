//! Identities: Ed25519 key pairs, their `@<base64>.ed25519` ids, app keys and `ssb-keys` secret files.
//!
//! * [`PublicKey`] is a peer's identity; its text form is the feed id (`@…=.ed25519`).
//! * [`Keypair`] is our own identity: it signs and yields the Curve25519 secret the handshake needs.
//! * [`AppKey`] is the 32-byte network key (`caps.shs`) that binds a handshake to one application.
//! * [`KeyObject`] and the `*_key_file` functions read and write the `ssb-keys` JSON key object and
//!   its commented secret file, so a file written by JS loads here with the same id and back.

mod app_key;
mod error;
mod file;
mod keypair;
mod object;
mod public_key;

pub use app_key::AppKey;
pub use error::KeyError;
pub use file::{
    KeyFileError, create_key_file, load_key_file, load_or_create_key_file, parse_secret_file,
    render_secret_file,
};
pub use keypair::Keypair;
pub use object::{KeyObject, KeyObjectError};
pub use public_key::PublicKey;
pub(crate) use public_key::is_torsion_free;

use base64::Engine as _;

/// Standard base64 with `=` padding, the alphabet of ids, key objects and addresses.
fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes base64 into exactly `N` bytes, reporting a wrong length as [`KeyError::Length`].
fn b64_decode_exact<const N: usize>(text: &str) -> Result<[u8; N], KeyError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text)?;
    bytes.as_slice().try_into().map_err(|_| KeyError::Length {
        expected: N,
        actual: bytes.len(),
    })
}
