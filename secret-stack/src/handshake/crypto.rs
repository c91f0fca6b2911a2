//! The primitives of the handshake: HMAC-SHA-512-256, SHA-256, X25519 with a low-order check,
//! the zero-nonce secretbox of messages 3 and 4, the ephemeral key pair, and [`PeerKey`] (a peer's
//! long-term key, checked once, verifying its signature and doing X25519 with it).
//!
//! Speed matters here: the handshake's curve operations bound how fast a node takes connections.
//! Each costs tens of microseconds, so the cheaper of two equal computations is used where one
//! exists: the fixed-base table for ephemeral public keys (instead of a Montgomery ladder from the
//! base point) and the vectorised Edwards multiplication for X25519 with an Ed25519 key (whose
//! Edwards form we have anyway). Tests check each against the plain X25519 definition.

use std::fmt;

use dryoc::classic::crypto_secretbox::{crypto_secretbox_easy, crypto_secretbox_open_easy};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256, Sha512};

use crate::keys::{AppKey, KeyError, Keypair, PublicKey, is_torsion_free};

/// Size of an HMAC-SHA-512-256 tag (libsodium `crypto_auth`).
pub(crate) const MAC_LEN: usize = 32;
/// Size of the Poly1305 tag in front of a secretbox.
pub(crate) const BOX_TAG_LEN: usize = 16;

/// The all-zero nonce of both handshake boxes.
const ZERO_NONCE: [u8; 24] = [0; 24];

/// HMAC-SHA-512 keyed by the app key, truncated to 32 bytes.
fn mac(app_key: &AppKey, message: &[u8]) -> Hmac<Sha512> {
    // HMAC zero-pads short keys to the block size, so padding here yields the same MAC and lets us
    // use the infallible fixed-size constructor.
    let mut padded = [0u8; 128];
    padded[..32].copy_from_slice(&app_key.0);
    let mut mac = Hmac::<Sha512>::new(&padded.into());
    mac.update(message);
    mac
}

/// `hmac(K, message)`: the first 32 bytes of HMAC-SHA-512.
pub(crate) fn auth(app_key: &AppKey, message: &[u8]) -> [u8; MAC_LEN] {
    let full = mac(app_key, message).finalize().into_bytes();
    let mut tag = [0u8; MAC_LEN];
    tag.copy_from_slice(&full[..MAC_LEN]);
    tag
}

/// Constant-time check of a 32-byte `hmac(K, message)` tag.
pub(crate) fn auth_verify(app_key: &AppKey, message: &[u8], tag: &[u8]) -> bool {
    tag.len() == MAC_LEN && mac(app_key, message).verify_truncated_left(tag).is_ok()
}

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// A Diffie-Hellman result that is all zeros: the peer's key has low order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LowOrder;

/// `dh(secret, public)`: X25519, refusing an all-zero result like libsodium's `crypto_scalarmult`.
pub(crate) fn dh(secret: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], LowOrder> {
    let shared = x25519_dalek::x25519(*secret, *public);
    // Accumulate without an early exit so timing does not depend on the value.
    if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
        Err(LowOrder)
    } else {
        Ok(shared)
    }
}

/// A peer's long-term Ed25519 key, decompressed once, for the two things the handshake does with
/// it: check its signature and do X25519 with its Curve25519 form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerKey {
    key: ed25519_dalek::VerifyingKey,
}

impl PeerKey {
    /// Decompresses `public`; fails with [`KeyError::NotOnCurve`] if it is not a curve point.
    pub(crate) fn new(public: &PublicKey) -> Result<Self, KeyError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&public.0).map_err(|_| KeyError::NotOnCurve)?;
        Ok(PeerKey { key })
    }

    /// Checks a detached signature strictly, as [`PublicKey::verify`] does.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
        self.key
            .verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
            .map_err(|_| KeyError::BadSignature)
    }

    /// Refuses keys that libsodium's `crypto_sign_ed25519_pk_to_curve25519` refuses: points of
    /// small order or with a small-order component ([`KeyError::SmallOrder`]).
    pub(crate) fn check_order(&self) -> Result<(), KeyError> {
        let point = self.key.to_edwards();
        if point.is_small_order() || !is_torsion_free(&point) {
            return Err(KeyError::SmallOrder);
        }
        Ok(())
    }

    /// `dh(secret, curve(key))`: X25519 with this key's Curve25519 form, computed on the Edwards
    /// point (the birational map commutes with scalar multiplication, and X25519 clamps the
    /// scalar the same way). Call [`check_order`](Self::check_order) first, as the conversion
    /// would.
    pub(crate) fn dh(&self, secret: &[u8; 32]) -> Result<[u8; 32], LowOrder> {
        let shared = self
            .key
            .to_edwards()
            .mul_clamped(*secret)
            .to_montgomery()
            .to_bytes();
        if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
            Err(LowOrder)
        } else {
            Ok(shared)
        }
    }
}

/// Whether X25519 with `public` gives all zeros whatever the (clamped) secret: `public` encodes a
/// point of order dividing 8 on the curve or its twist. Those are the u-coordinates 0, 1, −1 and
/// the two of order 8, and the only other encodings of them below 2^255 (p and p + 1); bit 255 is
/// ignored, as X25519 ignores it. This lets a server refuse such a key from message 1 before it
/// answers, as JS does, without computing the Diffie-Hellman first.
pub(crate) fn is_low_order(public: &[u8; 32]) -> bool {
    static LOW_ORDER: std::sync::LazyLock<Vec<[u8; 32]>> = std::sync::LazyLock::new(|| {
        // p − 1, p and p + 1, little-endian (p = 2^255 − 19).
        let near_p = |low: u8| {
            let mut u = [0xff; 32];
            u[0] = low;
            u[31] = 0x7f;
            u
        };
        let mut list: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|point| point.to_montgomery().to_bytes())
            .collect();
        list.extend([near_p(0xec), near_p(0xed), near_p(0xee)]);
        list.sort_unstable();
        list.dedup();
        list
    });
    let mut masked = *public;
    masked[31] &= 0x7f;
    // Constant time over the list: the key is public, but there is no reason to branch early.
    LOW_ORDER
        .iter()
        .fold(false, |found, low| found | (*low == masked))
}

/// `box(message, Z24, key)`: XSalsa20-Poly1305, tag first (`crypto_secretbox_easy`).
pub(crate) fn seal<const OUT: usize>(key: &[u8; 32], message: &[u8]) -> Option<[u8; OUT]> {
    let mut out = [0u8; OUT];
    if message.len() + BOX_TAG_LEN != OUT {
        return None;
    }
    crypto_secretbox_easy(&mut out, message, &ZERO_NONCE, key).ok()?;
    Some(out)
}

/// Opens a zero-nonce box; `None` if the tag does not verify.
pub(crate) fn open<const OUT: usize>(key: &[u8; 32], boxed: &[u8]) -> Option<[u8; OUT]> {
    if boxed.len() != OUT + BOX_TAG_LEN {
        return None;
    }
    let mut out = [0u8; OUT];
    crypto_secretbox_open_easy(&mut out, boxed, &ZERO_NONCE, key).ok()?;
    Some(out)
}

/// A one-connection X25519 key pair (the `a` or `b` of the handshake's key exchange).
///
/// Any fresh X25519 pair is indistinguishable on the wire; [`EphemeralKey::from_ed25519_seed`]
/// reproduces the JS derivation so tests can replay recorded runs. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct EphemeralKey {
    secret: [u8; 32],
    public: [u8; 32],
}

impl EphemeralKey {
    /// A fresh random ephemeral key pair.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(KeyError::Random)?;
        Ok(Self::from_secret(&secret))
    }

    /// The pair of an X25519 secret scalar (clamped when used, as X25519 always does).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        // `X25519(secret, 9)` through the precomputed base-point table: a third of the ladder's cost.
        let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(*secret).to_bytes();
        EphemeralKey {
            secret: *secret,
            public,
        }
    }

    /// The JS way: an Ed25519 key pair from `seed`, both halves converted to Curve25519.
    pub fn from_ed25519_seed(seed: &[u8; 32]) -> Self {
        Self::from_secret(&Keypair::from_seed(seed).to_curve25519())
    }

    /// The public key sent in message 1 or 2.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The secret scalar.
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }
}

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_is_sha512_truncated_and_checked() {
        // RFC 4231 test case 2 has a 4-byte key, "Jefe"; our app keys are 32 bytes, so check
        // the zero-padding equivalence against the general constructor instead.
        let key = AppKey([0x42; 32]);
        let mut general = <Hmac<Sha512> as hmac::KeyInit>::new_from_slice(&key.0).unwrap();
        general.update(b"msg");
        let full = general.finalize().into_bytes();
        assert_eq!(&auth(&key, b"msg")[..], &full[..32]);
        assert!(auth_verify(&key, b"msg", &full[..32]));
        assert!(!auth_verify(&key, b"msh", &full[..32]));
        assert!(!auth_verify(&key, b"msg", &full[..31]));
    }

    #[test]
    fn dh_refuses_low_order_points() {
        let eph = EphemeralKey::from_secret(&[5; 32]);
        assert_eq!(dh(&eph.secret, &[0; 32]), Err(LowOrder));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(dh(&eph.secret, &one), Err(LowOrder));
        let other = EphemeralKey::from_secret(&[6; 32]);
        assert_eq!(
            dh(&eph.secret, &other.public),
            dh(&other.secret, &eph.public)
        );
    }

    /// The fast paths compute exactly what the plain X25519 definition computes.
    #[test]
    fn fast_paths_equal_the_x25519_definition() {
        for i in 0..64u8 {
            let mut secret = [0u8; 32];
            for (j, b) in secret.iter_mut().enumerate() {
                *b = i.wrapping_mul(31).wrapping_add((j as u8).wrapping_mul(7)) ^ 0x5a;
            }
            let eph = EphemeralKey::from_secret(&secret);
            assert_eq!(
                eph.public(),
                x25519_dalek::x25519(secret, x25519_dalek::X25519_BASEPOINT_BYTES)
            );
            let keys = Keypair::from_seed(&[i; 32]);
            let peer = PeerKey::new(&keys.public()).unwrap();
            peer.check_order().unwrap();
            let curve = keys.public().to_curve25519().unwrap();
            assert_eq!(peer.dh(&secret), dh(&secret, &curve));
            // And both ends of each exchange agree.
            assert_eq!(peer.dh(&secret), dh(&keys.to_curve25519(), &eph.public()));
        }
    }

    /// The list is exactly the keys whose X25519 result is zero: every listed key (with and
    /// without bit 255) gives zero, and keys near them, random keys and twist points do not.
    #[test]
    fn low_order_list_matches_the_zero_result() {
        let secret = [0x77; 32];
        let mut listed = 0;
        let mut candidates: Vec<[u8; 32]> = Vec::new();
        for low in 0..=20u8 {
            let mut u = [0u8; 32];
            u[0] = low;
            candidates.push(u);
            let mut near_p = [0xff; 32];
            near_p[0] = 0xda + low;
            near_p[31] = 0x7f;
            candidates.push(near_p);
        }
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            let u = point.to_montgomery().to_bytes();
            candidates.push(u);
            let mut next = u;
            next[0] ^= 1;
            candidates.push(next);
        }
        for i in 0..200u8 {
            candidates.push(EphemeralKey::from_secret(&[i; 32]).public());
            let mut any = [i; 32];
            any[5] = i.wrapping_mul(13);
            candidates.push(any); // about half of these are on the twist
        }
        for u in &mut candidates {
            u[31] &= 0x7f;
        }
        candidates.sort_unstable();
        candidates.dedup();
        for mut u in candidates {
            for high_bit in [false, true] {
                u[31] = (u[31] & 0x7f) | if high_bit { 0x80 } else { 0 };
                let zero = dh(&secret, &u).is_err();
                assert_eq!(is_low_order(&u), zero, "{u:?}");
                listed += usize::from(zero);
            }
        }
        // 0, 1, −1, two of order 8, p, p + 1: each with and without bit 255.
        assert_eq!(listed, 14);
    }

    #[test]
    fn boxes_round_trip_and_detect_tampering() {
        let key = [1u8; 32];
        let sealed: [u8; 80] = seal(&key, &[9u8; 64]).unwrap();
        assert_eq!(open::<64>(&key, &sealed), Some([9u8; 64]));
        let mut bad = sealed;
        bad[20] ^= 1;
        assert_eq!(open::<64>(&key, &bad), None);
        assert_eq!(open::<64>(&[2; 32], &sealed), None);
    }
}
