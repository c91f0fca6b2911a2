//! The box-stream nonce: a 24-byte big-endian counter that advances by one per box.
//!
//! Each frame uses two consecutive nonces (`n` for the header box, `n + 1` for the body box), so a
//! stream advances by two per frame. The counter wraps from all-`ff` to all-zero silently, as the JS
//! `increment-buffer` does; 2^192 boxes are never reached in practice.

use std::fmt;

/// Length of a secretbox nonce in bytes.
pub const NONCE_LEN: usize = 24;

/// A 24-byte secretbox nonce treated as an unsigned big-endian integer.
///
/// It is a plain value (`Copy`): a stream keeps its own copy and never aliases the caller's buffer
/// (a shared, mutated nonce buffer is a known way to break a box-stream implementation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce([u8; NONCE_LEN]);

impl Nonce {
    /// A nonce holding `bytes` (most significant byte first).
    pub const fn new(bytes: [u8; NONCE_LEN]) -> Self {
        Nonce(bytes)
    }

    /// The nonce's bytes, most significant first.
    pub const fn as_bytes(&self) -> &[u8; NONCE_LEN] {
        &self.0
    }

    /// Adds one, carrying from the last byte towards the first; all-`ff` wraps to all-zero.
    pub fn increment(&mut self) {
        for byte in self.0.iter_mut().rev() {
            let (sum, carry) = byte.overflowing_add(1);
            *byte = sum;
            if !carry {
                return;
            }
        }
    }

    /// This nonce plus one, leaving `self` unchanged.
    #[must_use]
    pub fn next(&self) -> Nonce {
        let mut next = *self;
        next.increment();
        next
    }

    /// Moves past one whole frame (header box and body box): adds two.
    pub fn advance_frame(&mut self) {
        self.increment();
        self.increment();
    }
}

impl From<[u8; NONCE_LEN]> for Nonce {
    fn from(bytes: [u8; NONCE_LEN]) -> Self {
        Nonce(bytes)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(")?;
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce_with_tail(tail: &[u8]) -> Nonce {
        let mut bytes = [0x11; NONCE_LEN];
        bytes[NONCE_LEN - tail.len()..].copy_from_slice(tail);
        Nonce::new(bytes)
    }

    #[test]
    fn increment_adds_one_to_the_last_byte() {
        let mut n = nonce_with_tail(&[0x00, 0x05]);
        n.increment();
        assert_eq!(n, nonce_with_tail(&[0x00, 0x06]));
    }

    #[test]
    fn increment_carries_across_bytes() {
        let mut n = nonce_with_tail(&[0x00, 0xff, 0xfe]);
        n.increment();
        assert_eq!(n, nonce_with_tail(&[0x00, 0xff, 0xff]));
        n.increment();
        assert_eq!(n, nonce_with_tail(&[0x01, 0x00, 0x00]));
        n.increment();
        assert_eq!(n, nonce_with_tail(&[0x01, 0x00, 0x01]));
    }

    #[test]
    fn all_ff_wraps_to_zero() {
        let mut n = Nonce::new([0xff; NONCE_LEN]);
        n.increment();
        assert_eq!(n, Nonce::new([0; NONCE_LEN]));
        let mut m = Nonce::new([0xff; NONCE_LEN]);
        m.advance_frame();
        let mut one = [0; NONCE_LEN];
        one[NONCE_LEN - 1] = 1;
        assert_eq!(m, Nonce::new(one));
    }

    #[test]
    fn next_leaves_the_original_untouched() {
        let n = nonce_with_tail(&[0x41]);
        assert_eq!(n.next(), nonce_with_tail(&[0x42]));
        assert_eq!(n, nonce_with_tail(&[0x41]));
    }

    #[test]
    fn debug_prints_hex() {
        let n = Nonce::new([0xab; NONCE_LEN]);
        assert_eq!(
            format!("{n:?}"),
            format!("Nonce({})", "ab".repeat(NONCE_LEN))
        );
    }
}
