//! The `ssb-keys` JSON key object `{curve, public, private, id}`, its parsing and rendering.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{KeyError, Keypair, PublicKey, b64_decode_exact, b64_encode};

/// The only curve ssb-keys key objects carry in practice.
const CURVE: &str = "ed25519";

/// Why a JSON key object could not be turned into a key pair.
#[derive(Debug, thiserror::Error)]
pub enum KeyObjectError {
    /// Not JSON, or a required field (`curve`, `public`, `private`) missing or not a string.
    #[error("key object is not valid JSON with curve/public/private strings: {0}")]
    Json(#[from] serde_json::Error),
    /// The `curve` field names something other than `ed25519`.
    #[error("unsupported key curve {0:?} (only \"ed25519\")")]
    UnsupportedCurve(String),
    /// The `private` field is not the base64 of a valid 64-byte secret key.
    #[error("invalid \"private\" key: {0}")]
    Private(KeyError),
    /// The `public` field is not the base64 of a 32-byte key.
    #[error("invalid \"public\" key: {0}")]
    Public(KeyError),
    /// The `public` field is not the public half of `private`.
    #[error("\"public\" is not the public key of \"private\"")]
    PublicMismatch,
    /// The `id` field is not `"@" + public`.
    #[error("\"id\" {0:?} does not match the key pair")]
    IdMismatch(String),
}

/// The ssb-keys key object. Each key string is base64 followed by `.ed25519`.
///
/// `Debug` omits `private`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct KeyObject {
    /// Always `"ed25519"`.
    pub curve: String,
    /// `<base64 of the 32-byte public key>.ed25519`.
    pub public: String,
    /// `<base64 of the 64-byte libsodium secret key>.ed25519`.
    pub private: String,
    /// `@<base64 of the public key>.ed25519`.
    pub id: String,
}

/// The object as found in JSON, where `id` may be missing.
#[derive(Deserialize)]
struct RawKeyObject {
    curve: String,
    public: String,
    private: String,
    id: Option<String>,
}

impl KeyObject {
    /// The key object of `pair`, as ssb-keys builds it.
    pub fn from_keypair(pair: &Keypair) -> Self {
        KeyObject {
            curve: CURVE.to_owned(),
            public: format!("{}.{CURVE}", pair.public().to_base64()),
            private: format!("{}.{CURVE}", b64_encode(&pair.to_secret_bytes())),
            id: pair.id(),
        }
    }

    /// Parses the JSON text of a key object; a missing `id` becomes `"@" + public`, as ssb-keys
    /// does on load.
    pub fn from_json(text: &str) -> Result<Self, KeyObjectError> {
        let raw: RawKeyObject = serde_json::from_str(text)?;
        let id = raw.id.unwrap_or_else(|| format!("@{}", raw.public));
        Ok(KeyObject {
            curve: raw.curve,
            public: raw.public,
            private: raw.private,
            id,
        })
    }

    /// The JSON text, pretty-printed with two-space indentation like `JSON.stringify(keys, null, 2)`.
    pub fn to_json(&self) -> String {
        // Serialising four string fields cannot fail; fall back to compact output all the same.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| {
            serde_json::json!({
                "curve": self.curve, "public": self.public,
                "private": self.private, "id": self.id,
            })
            .to_string()
        })
    }

    /// The key pair this object describes, after checking that `public` and `id` agree with
    /// `private`. Key strings are cut at their first `.` before base64 decoding, like JS.
    pub fn to_keypair(&self) -> Result<Keypair, KeyObjectError> {
        if self.curve != CURVE {
            return Err(KeyObjectError::UnsupportedCurve(self.curve.clone()));
        }
        let secret =
            b64_decode_exact::<64>(before_dot(&self.private)).map_err(KeyObjectError::Private)?;
        let pair = Keypair::from_secret_bytes(&secret).map_err(KeyObjectError::Private)?;
        let public =
            PublicKey::from_base64(before_dot(&self.public)).map_err(KeyObjectError::Public)?;
        if public != pair.public() {
            return Err(KeyObjectError::PublicMismatch);
        }
        if self.id != pair.id() {
            return Err(KeyObjectError::IdMismatch(self.id.clone()));
        }
        Ok(pair)
    }
}

impl fmt::Debug for KeyObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyObject")
            .field("curve", &self.curve)
            .field("public", &self.public)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The text before the first `.`, or all of it.
fn before_dot(text: &str) -> &str {
    text.split('.').next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_round_trips_through_json() {
        let pair = Keypair::from_seed(&[3; 32]);
        let object = KeyObject::from_keypair(&pair);
        let text = object.to_json();
        assert!(text.starts_with("{\n  \"curve\": \"ed25519\",\n  \"public\": "));
        let back = KeyObject::from_json(&text).unwrap();
        assert_eq!(back, object);
        assert_eq!(back.to_keypair().unwrap(), pair);
        assert!(!format!("{object:?}").contains(&object.private));
    }

    #[test]
    fn inconsistent_objects_are_refused() {
        let mut object = KeyObject::from_keypair(&Keypair::from_seed(&[3; 32]));
        object.public = KeyObject::from_keypair(&Keypair::from_seed(&[4; 32])).public;
        assert!(matches!(
            object.to_keypair(),
            Err(KeyObjectError::PublicMismatch)
        ));
        object.curve = "k256".into();
        assert!(matches!(
            object.to_keypair(),
            Err(KeyObjectError::UnsupportedCurve(_))
        ));
        assert!(matches!(
            KeyObject::from_json("{\"curve\":\"ed25519\"}"),
            Err(KeyObjectError::Json(_))
        ));
    }
}
