//! The one cipher a box stream uses: XSalsa20-Poly1305 secretbox from dryoc, in its detached and
//! in-place forms so no frame needs an allocation or a copy.
//!
//! The box-stream wire format moves the body's tag into the header, so every call here keeps the
//! tag apart from the ciphertext.

// dryoc exposes secretbox's detached in-place open only under crypto_box's name: `*_afternm` is
// crypto_box with its shared key already computed, which is exactly secretbox with that key.
use dryoc::classic::crypto_box::crypto_box_open_detached_afternm_inplace;
use dryoc::classic::crypto_secretbox::{crypto_secretbox_detached, crypto_secretbox_open_detached};

use super::error::BoxStreamError;
use super::nonce::Nonce;

/// Length of a secretbox key.
pub const KEY_LEN: usize = 32;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// Encrypts `message` into the first `message.len()` bytes of `ciphertext` and returns the tag.
pub(crate) fn seal_detached(
    key: &[u8; KEY_LEN],
    nonce: &Nonce,
    message: &[u8],
    ciphertext: &mut [u8],
) -> Result<[u8; TAG_LEN], BoxStreamError> {
    let mut tag = [0u8; TAG_LEN];
    crypto_secretbox_detached(ciphertext, &mut tag, message, nonce.as_bytes(), key).map_err(
        |_| BoxStreamError::OutputTooSmall {
            needed: message.len(),
            available: ciphertext.len(),
        },
    )?;
    Ok(tag)
}

/// Checks `tag` over `ciphertext` and, if authentic, decrypts it into the first
/// `ciphertext.len()` bytes of `message`. Returns whether it was authentic.
pub(crate) fn open_detached(
    key: &[u8; KEY_LEN],
    nonce: &Nonce,
    ciphertext: &[u8],
    tag: &[u8; TAG_LEN],
    message: &mut [u8],
) -> bool {
    crypto_secretbox_open_detached(message, ciphertext, tag, nonce.as_bytes(), key).is_ok()
}

/// Checks `tag` over the ciphertext in `data` and, if authentic, decrypts it in place. Returns
/// whether it was authentic; on failure `data` is unchanged.
pub(crate) fn open_detached_in_place(
    key: &[u8; KEY_LEN],
    nonce: &Nonce,
    tag: &[u8; TAG_LEN],
    data: &mut [u8],
) -> bool {
    crypto_box_open_detached_afternm_inplace(data, tag, nonce.as_bytes(), key).is_ok()
}

#[cfg(test)]
mod tests {
    //! dryoc against RustCrypto `crypto_secretbox` on random keys, nonces and messages, both ways.

    use crypto_secretbox::XSalsa20Poly1305;
    use crypto_secretbox::aead::{AeadInPlace, KeyInit};

    use super::*;

    /// SplitMix64: a small seeded generator so a failing run can be replayed from its seed.
    struct Rng(u64);

    impl Rng {
        fn from_os() -> Rng {
            let seed = getrandom::u64().unwrap_or(0x5eed_0fb0_c5c5);
            eprintln!("cipher test seed: {seed:#x}");
            Rng(seed)
        }
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        fn fill(&mut self, buf: &mut [u8]) {
            for chunk in buf.chunks_mut(8) {
                let word = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
        }
        fn below(&mut self, bound: usize) -> usize {
            (self.next_u64() % bound as u64) as usize
        }
    }

    fn random_inputs(rng: &mut Rng, len: usize) -> ([u8; 32], Nonce, Vec<u8>) {
        let mut key = [0u8; 32];
        rng.fill(&mut key);
        let mut nonce = [0u8; 24];
        rng.fill(&mut nonce);
        let mut message = vec![0u8; len];
        rng.fill(&mut message);
        (key, Nonce::new(nonce), message)
    }

    fn lengths(rng: &mut Rng) -> Vec<usize> {
        let mut lens = vec![
            0, 1, 15, 16, 17, 18, 31, 32, 33, 63, 64, 65, 4095, 4096, 4097, 65535,
        ];
        lens.extend((0..40).map(|_| rng.below(9000)));
        lens
    }

    #[test]
    fn dryoc_seal_opens_with_crypto_secretbox() {
        let mut rng = Rng::from_os();
        for len in lengths(&mut rng) {
            let (key, nonce, message) = random_inputs(&mut rng, len);
            let mut ciphertext = vec![0u8; len];
            let tag = seal_detached(&key, &nonce, &message, &mut ciphertext).expect("sized");

            let rc = XSalsa20Poly1305::new(&key.into());
            let mut buffer = ciphertext.clone();
            rc.decrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut buffer, (&tag).into())
                .unwrap_or_else(|_| panic!("crypto_secretbox rejects a dryoc box of {len} bytes"));
            assert_eq!(buffer, message, "len {len}");

            // And both produce the same bytes.
            let mut rc_ct = message.clone();
            let rc_tag = rc
                .encrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut rc_ct)
                .expect("encrypt");
            assert_eq!(rc_ct, ciphertext, "len {len}");
            assert_eq!(rc_tag.as_slice(), &tag, "len {len}");
        }
    }

    #[test]
    fn crypto_secretbox_seal_opens_with_dryoc() {
        let mut rng = Rng::from_os();
        for len in lengths(&mut rng) {
            let (key, nonce, message) = random_inputs(&mut rng, len);
            let rc = XSalsa20Poly1305::new(&key.into());
            let mut ciphertext = message.clone();
            let tag = rc
                .encrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut ciphertext)
                .expect("encrypt");
            let tag: [u8; TAG_LEN] = tag.into();

            let mut opened = vec![0u8; len];
            assert!(
                open_detached(&key, &nonce, &ciphertext, &tag, &mut opened),
                "len {len}"
            );
            assert_eq!(opened, message, "len {len}");

            let mut in_place = ciphertext.clone();
            assert!(
                open_detached_in_place(&key, &nonce, &tag, &mut in_place),
                "len {len}"
            );
            assert_eq!(in_place, message, "len {len}");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_fails_to_open() {
        let mut rng = Rng::from_os();
        let (key, nonce, message) = random_inputs(&mut rng, 100);
        let mut ciphertext = vec![0u8; 100];
        let tag = seal_detached(&key, &nonce, &message, &mut ciphertext).expect("sized");
        let mut scratch = vec![0u8; 100];
        for bit in [0, 7, 400, 799] {
            let mut bad = ciphertext.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(!open_detached(&key, &nonce, &bad, &tag, &mut scratch));
        }
        let mut bad_tag = tag;
        bad_tag[15] ^= 0x80;
        assert!(!open_detached(
            &key,
            &nonce,
            &ciphertext,
            &bad_tag,
            &mut scratch
        ));
        assert!(!open_detached(
            &key,
            &nonce.next(),
            &ciphertext,
            &tag,
            &mut scratch
        ));
    }

    #[test]
    fn short_output_is_an_error_not_a_panic() {
        let err = seal_detached(&[0; 32], &Nonce::new([0; 24]), &[1, 2, 3], &mut [0u8; 2]);
        assert_eq!(
            err,
            Err(BoxStreamError::OutputTooSmall {
                needed: 3,
                available: 2
            })
        );
    }
}
