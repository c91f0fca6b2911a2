//! secret-stack's object form of an address: `{host, port, key}` becomes
//! `net:<host>:<port>~shs:<key>`, or `onion:...` when the host ends with `.onion`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::keys::PublicKey;

/// The `key` of an object address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKey<'a> {
    /// A key as text, copied verbatim (a `@…=.ed25519` id is copied too, as in JS, and gives an
    /// address no suite parses).
    Text(&'a str),
    /// A key as bytes, written as base64.
    Key(&'a PublicKey),
}

/// Builds the address string JS `app.connect({host, port, key})` dials.
pub fn object_address(host: &str, port: u16, key: ObjectKey<'_>) -> String {
    let transport = if host.ends_with(".onion") {
        "onion"
    } else {
        "net"
    };
    let key = match key {
        ObjectKey::Text(text) => text.to_owned(),
        ObjectKey::Key(key) => STANDARD.encode(key.0),
    };
    format!("{transport}:{host}:{port}~shs:{key}")
}
