//! A peer's identity: its Ed25519 public key, the `@<base64>.ed25519` id, signature checks and the
//! Curve25519 form the handshake needs.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, VerifyingKey};

use super::{KeyError, b64_decode_exact, b64_encode};

/// The sigil that starts a feed id.
const SIGIL: &str = "@";
/// The suffix that ends a feed id.
const SUFFIX: &str = ".ed25519";

/// An Ed25519 public key: the identity of a peer.
///
/// `Display` and `FromStr` use the feed id `@<base64>.ed25519`; the bare base64 (as found in
/// multiserver `shs:` addresses) goes through [`PublicKey::to_base64`] / [`PublicKey::from_base64`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The feed id: `"@" + base64 + ".ed25519"` (53 characters).
    pub fn id(&self) -> String {
        format!("{SIGIL}{}{SUFFIX}", self.to_base64())
    }

    /// The bare standard base64 of the key (44 characters, `=` padded).
    pub fn to_base64(&self) -> String {
        b64_encode(&self.0)
    }

    /// Parses the bare base64 of a key (no `@`, no `.ed25519`).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        b64_decode_exact::<32>(text).map(PublicKey)
    }

    /// Checks a detached Ed25519 signature of `message` by this key.
    ///
    /// Strict, like libsodium: small-order keys, small-order `R` and non-canonical `S` are refused.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::NotOnCurve)?;
        key.verify_strict(message, &Signature::from_bytes(signature))
            .map_err(|_| KeyError::BadSignature)
    }

    /// Converts the key to its Curve25519 (X25519) form, like libsodium's
    /// `crypto_sign_ed25519_pk_to_curve25519`: `u = (1 + y) / (1 − y)`.
    ///
    /// Fails for encodings that are not curve points ([`KeyError::NotOnCurve`]) and for points of
    /// small order or with a small-order component ([`KeyError::SmallOrder`]).
    pub fn to_curve25519(&self) -> Result<[u8; 32], KeyError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| KeyError::NotOnCurve)?;
        let point = key.to_edwards();
        if point.is_small_order() || !is_torsion_free(&point) {
            return Err(KeyError::SmallOrder);
        }
        Ok(key.to_montgomery().to_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    /// Parses a feed id `@<base64>.ed25519`.
    fn from_str(id: &str) -> Result<Self, KeyError> {
        let rest = id.strip_prefix(SIGIL).ok_or(KeyError::MissingSigil)?;
        let base = rest.strip_suffix(SUFFIX).ok_or(KeyError::MissingSuffix)?;
        Self::from_base64(base)
    }
}

/// Whether `point` has no small-order component (`[L]·point` is the identity), in variable time
/// (the point is public): `[L−1]·point == −point`, on the vartime double-base path, which costs
/// about three quarters of the constant-time `EdwardsPoint::is_torsion_free`.
pub(crate) fn is_torsion_free(point: &curve25519_dalek::EdwardsPoint) -> bool {
    use curve25519_dalek::{EdwardsPoint, Scalar};
    let l_minus_one = Scalar::ZERO - Scalar::ONE;
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&l_minus_one, point, &Scalar::ZERO) == -point
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "@1b9KP8znF7A4i8wnSevBSK2ZabI/Re4bYF/Vh3hXasQ=.ed25519";

    #[test]
    fn id_round_trips() {
        let key: PublicKey = ALICE.parse().unwrap();
        assert_eq!(key.0[0], 0xd5);
        assert_eq!(key.to_string(), ALICE);
        assert_eq!(PublicKey::from_base64(&key.to_base64()).unwrap(), key);
    }

    /// The vartime check agrees with the constant-time one on clean points and on every mix of a
    /// clean point with a nonzero torsion component.
    #[test]
    fn torsion_check_matches_the_constant_time_one() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        for seed in 0..16u8 {
            let public = crate::keys::Keypair::from_seed(&[seed; 32]).public();
            let point = ed25519_dalek::VerifyingKey::from_bytes(&public.0)
                .unwrap()
                .to_edwards();
            assert!(is_torsion_free(&point));
            for torsion in &EIGHT_TORSION[1..] {
                let mixed = point + torsion;
                assert!(!mixed.is_torsion_free());
                assert!(!is_torsion_free(&mixed), "seed {seed}");
                assert!(!is_torsion_free(torsion));
            }
        }
    }

    #[test]
    fn malformed_ids_are_typed_errors() {
        assert_eq!(ALICE[1..].parse::<PublicKey>(), Err(KeyError::MissingSigil));
        assert_eq!(
            ALICE.trim_end_matches(".ed25519").parse::<PublicKey>(),
            Err(KeyError::MissingSuffix)
        );
        assert!(matches!(
            "@not base64!.ed25519".parse::<PublicKey>(),
            Err(KeyError::Base64(_))
        ));
        assert_eq!(
            "@AAAA.ed25519".parse::<PublicKey>(),
            Err(KeyError::Length {
                expected: 32,
                actual: 3
            })
        );
    }
}
