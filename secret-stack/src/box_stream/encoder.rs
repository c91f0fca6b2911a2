//! Sealing frames: the sync half of the writer, usable without any I/O (tests, fuzzers).
//!
//! A frame for a piece `p` of 1..=4096 bytes with nonce `n` is
//! `box(u16_be(len(p)) || tag, n)` (34 bytes) followed by the body ciphertext without its tag,
//! where `tag || body = box(p, n + 1)`; the nonce then moves on by two.
//! The goodbye is `box(18 zero bytes, n)`.

use super::cipher::{KEY_LEN, TAG_LEN, seal_detached};
use super::error::BoxStreamError;
use super::nonce::Nonce;
use super::{BoxKey, FRAME_HEADER_LEN, MAX_BODY_LEN};

/// Length of the plaintext inside a header box: `u16_be(len) || body tag`.
const PLAIN_HEADER_LEN: usize = 2 + TAG_LEN;

/// Seals one frame of `plaintext` (1..=4096 bytes) into the start of `frame` with nonces `nonce`
/// and `nonce + 1`, then advances `nonce` by two. Returns the frame length, `34 + plaintext.len()`.
///
/// # Errors
/// [`BoxStreamError::BadFrameLength`] for an empty or oversize piece and
/// [`BoxStreamError::OutputTooSmall`] if `frame` is too short; `nonce` is unchanged then.
pub fn seal_frame(
    key: &[u8; KEY_LEN],
    nonce: &mut Nonce,
    plaintext: &[u8],
    frame: &mut [u8],
) -> Result<usize, BoxStreamError> {
    let len = plaintext.len();
    let wire_len = u16::try_from(len)
        .ok()
        .filter(|&l| l != 0 && usize::from(l) <= MAX_BODY_LEN)
        .ok_or(BoxStreamError::BadFrameLength { len })?;
    let needed = FRAME_HEADER_LEN + len;
    let available = frame.len();
    let frame = frame
        .get_mut(..needed)
        .ok_or(BoxStreamError::OutputTooSmall { needed, available })?;
    let (header, body) = frame.split_at_mut(FRAME_HEADER_LEN);

    let body_tag = seal_detached(key, &nonce.next(), plaintext, body)?;
    let mut plain_header = [0u8; PLAIN_HEADER_LEN];
    let (len_bytes, tag_bytes) = plain_header.split_at_mut(2);
    len_bytes.copy_from_slice(&wire_len.to_be_bytes());
    tag_bytes.copy_from_slice(&body_tag);
    seal_header(key, nonce, &plain_header, header)?;

    nonce.advance_frame();
    Ok(needed)
}

/// Seals the goodbye (18 zero bytes with nonce `nonce`) into the first 34 bytes of `out`.
/// Returns 34.
///
/// # Errors
/// [`BoxStreamError::OutputTooSmall`] if `out` is shorter than 34 bytes.
pub fn seal_goodbye(
    key: &[u8; KEY_LEN],
    nonce: &Nonce,
    out: &mut [u8],
) -> Result<usize, BoxStreamError> {
    let available = out.len();
    let out = out
        .get_mut(..FRAME_HEADER_LEN)
        .ok_or(BoxStreamError::OutputTooSmall {
            needed: FRAME_HEADER_LEN,
            available,
        })?;
    seal_header(key, nonce, &[0u8; PLAIN_HEADER_LEN], out)?;
    Ok(FRAME_HEADER_LEN)
}

/// Boxes an 18-byte plaintext header into `out` (exactly 34 bytes): tag, then ciphertext.
fn seal_header(
    key: &[u8; KEY_LEN],
    nonce: &Nonce,
    plain: &[u8; PLAIN_HEADER_LEN],
    out: &mut [u8],
) -> Result<(), BoxStreamError> {
    let (tag, ciphertext) = out.split_at_mut(TAG_LEN.min(out.len()));
    let sealed = seal_detached(key, nonce, plain, ciphertext)?;
    tag.copy_from_slice(&sealed);
    Ok(())
}

/// The sealing state of one direction: its key and the nonce of the next frame.
#[derive(Clone)]
pub struct FrameEncoder {
    key: [u8; KEY_LEN],
    nonce: Nonce,
}

impl FrameEncoder {
    /// An encoder starting at `key.nonce` (copied: the caller's `BoxKey` is never touched again).
    pub fn new(key: &BoxKey) -> Self {
        FrameEncoder {
            key: key.key,
            nonce: Nonce::new(key.nonce),
        }
    }

    /// The nonce the next frame's header box will use.
    pub fn nonce(&self) -> &Nonce {
        &self.nonce
    }

    /// Seals one frame of 1..=4096 bytes into `frame`; see [`seal_frame`].
    ///
    /// # Errors
    /// As [`seal_frame`].
    pub fn seal_frame(
        &mut self,
        plaintext: &[u8],
        frame: &mut [u8],
    ) -> Result<usize, BoxStreamError> {
        seal_frame(&self.key, &mut self.nonce, plaintext, frame)
    }

    /// Seals the goodbye into `out`; see [`seal_goodbye`]. The nonce does not move: nothing may be
    /// sent after a goodbye.
    ///
    /// # Errors
    /// As [`seal_goodbye`].
    pub fn seal_goodbye(&self, out: &mut [u8]) -> Result<usize, BoxStreamError> {
        seal_goodbye(&self.key, &self.nonce, out)
    }

    /// Cuts `plaintext` into frames of at most 4096 bytes and appends them to `out`, as one write
    /// of `plaintext` would go on the wire. An empty `plaintext` appends nothing and uses no nonce.
    ///
    /// # Errors
    /// None in practice: each piece is in range and `out` is grown to fit.
    pub fn encode_to_vec(
        &mut self,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), BoxStreamError> {
        for piece in plaintext.chunks(MAX_BODY_LEN) {
            let start = out.len();
            out.resize(start + FRAME_HEADER_LEN + piece.len(), 0);
            let frame = out.get_mut(start..).unwrap_or_default();
            self.seal_frame(piece, frame)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn frame_is_header_plus_body_and_nonce_moves_by_two() {
        let mut nonce = Nonce::new([0; 24]);
        let mut frame = [0u8; FRAME_HEADER_LEN + 5];
        assert_eq!(seal_frame(&KEY, &mut nonce, b"hello", &mut frame), Ok(39));
        let mut two = [0; 24];
        two[23] = 2;
        assert_eq!(nonce, Nonce::new(two));
    }

    #[test]
    fn bad_lengths_and_short_outputs_are_rejected_without_moving_the_nonce() {
        let start = Nonce::new([9; 24]);
        let mut nonce = start;
        let mut big = vec![0u8; 10_000];
        assert_eq!(
            seal_frame(&KEY, &mut nonce, &[], &mut big),
            Err(BoxStreamError::BadFrameLength { len: 0 })
        );
        assert_eq!(
            seal_frame(&KEY, &mut nonce, &[1; 4097], &mut big),
            Err(BoxStreamError::BadFrameLength { len: 4097 })
        );
        assert_eq!(
            seal_frame(&KEY, &mut nonce, &[1; 10], &mut [0u8; 43]),
            Err(BoxStreamError::OutputTooSmall {
                needed: 44,
                available: 43
            })
        );
        assert_eq!(
            seal_goodbye(&KEY, &nonce, &mut [0u8; 33]),
            Err(BoxStreamError::OutputTooSmall {
                needed: 34,
                available: 33
            })
        );
        assert_eq!(nonce, start);
    }

    #[test]
    fn encode_to_vec_splits_at_4096_and_skips_empty_input() {
        let key = BoxKey {
            key: KEY,
            nonce: [0; 24],
        };
        let mut enc = FrameEncoder::new(&key);
        let mut out = Vec::new();
        enc.encode_to_vec(&[], &mut out).expect("empty");
        assert!(out.is_empty());
        assert_eq!(enc.nonce(), &Nonce::new([0; 24]));
        enc.encode_to_vec(&[3; 4097], &mut out).expect("split");
        assert_eq!(out.len(), 2 * FRAME_HEADER_LEN + 4097);
        let mut four = [0; 24];
        four[23] = 4;
        assert_eq!(enc.nonce(), &Nonce::new(four));
    }
}
