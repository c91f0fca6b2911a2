//! Opening frames: the sync half of the reader, usable without any I/O (tests, fuzzers).
//!
//! The decoder is fed the unconsumed input, which always starts at a frame boundary, and opens one
//! whole frame at a time: in place with [`FrameDecoder::decode`], or with
//! [`FrameDecoder::body_len`] then [`FrameDecoder::decode_into`] straight into another buffer,
//! leaving the input as it was. It never allocates: the caller owns the buffers, and a frame needs
//! at most `34 + 65535` contiguous bytes.

use std::ops::Range;

use super::cipher::{KEY_LEN, TAG_LEN, open_detached, open_detached_in_place};
use super::error::{BoxStreamError, FramePart};
use super::nonce::Nonce;
use super::{BoxKey, FRAME_HEADER_LEN};

/// Length of the plaintext inside a header box: `u16_be(len) || body tag`.
const PLAIN_HEADER_LEN: usize = 2 + TAG_LEN;

/// One step of decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A data frame was opened: `plaintext` is the range of the input that now holds its
    /// plaintext, and the frame took the first `consumed` bytes of the input.
    Data {
        /// Bytes of input the frame occupied (header and body).
        consumed: usize,
        /// Where in the input the opened plaintext now sits.
        plaintext: Range<usize>,
    },
    /// The authenticated goodbye: this direction ended cleanly. Nothing after it is read.
    /// `consumed` is 34 the first time and 0 on every later call.
    Goodbye {
        /// Bytes of input the goodbye occupied.
        consumed: usize,
    },
}

#[derive(Clone)]
enum State {
    /// Waiting for a 34-byte header box.
    Header,
    /// The header at the front of the input has been opened; waiting for its body.
    Body { len: usize, tag: [u8; TAG_LEN] },
    /// The goodbye arrived.
    Finished,
    /// The stream failed; it stays failed.
    Failed(BoxStreamError),
}

/// The opening state of one direction: key, the nonce of the next frame, and where in a frame the
/// input stands.
#[derive(Clone)]
pub struct FrameDecoder {
    key: [u8; KEY_LEN],
    nonce: Nonce,
    state: State,
}

impl FrameDecoder {
    /// A decoder starting at `key.nonce` (copied: the caller's `BoxKey` is never touched again).
    pub fn new(key: &BoxKey) -> Self {
        FrameDecoder {
            key: key.key,
            nonce: Nonce::new(key.nonce),
            state: State::Header,
        }
    }

    /// How many bytes the input must hold for the next [`decode`](Self::decode) to make progress:
    /// 34 while waiting for a header, 34 + body length once the header has been opened, 0 once
    /// the stream has ended or failed.
    pub fn needed(&self) -> usize {
        match self.state {
            State::Header => FRAME_HEADER_LEN,
            State::Body { len, .. } => FRAME_HEADER_LEN + len,
            State::Finished | State::Failed(_) => 0,
        }
    }

    /// Whether the authenticated goodbye has been decoded.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// The error the stream failed with, if it did.
    pub fn error(&self) -> Option<&BoxStreamError> {
        match &self.state {
            State::Failed(err) => Some(err),
            _ => None,
        }
    }

    /// Decodes the frame at the front of `input`, opening its body in place.
    ///
    /// Returns `Ok(None)` when `input` is shorter than [`needed`](Self::needed) (call again with
    /// the same bytes plus more; an opened header is remembered, not opened twice). Bodies of up to
    /// 65535 bytes are accepted, as JS does; writers never send more than 4096.
    ///
    /// # Errors
    /// [`BoxStreamError::InvalidHeader`], [`BoxStreamError::InvalidPacket`] or
    /// [`BoxStreamError::EmptyBody`]; the decoder then stays failed and returns the same error.
    pub fn decode(&mut self, input: &mut [u8]) -> Result<Option<Decoded>, BoxStreamError> {
        if let State::Header = self.state {
            let Some(header) = input.first_chunk::<FRAME_HEADER_LEN>() else {
                return Ok(None);
            };
            match self.open_header(header) {
                Ok(HeaderKind::Goodbye) => {
                    self.state = State::Finished;
                    return Ok(Some(Decoded::Goodbye {
                        consumed: FRAME_HEADER_LEN,
                    }));
                }
                Ok(HeaderKind::Body { len, tag }) => self.state = State::Body { len, tag },
                Err(err) => return Err(self.fail(err)),
            }
        }
        match &self.state {
            State::Header => Ok(None),
            State::Finished => Ok(Some(Decoded::Goodbye { consumed: 0 })),
            State::Failed(err) => Err(err.clone()),
            State::Body { len, tag } => {
                let (len, tag) = (*len, *tag);
                let consumed = FRAME_HEADER_LEN + len;
                let Some(body) = input.get_mut(FRAME_HEADER_LEN..consumed) else {
                    return Ok(None);
                };
                if !open_detached_in_place(&self.key, &self.nonce.next(), &tag, body) {
                    return Err(self.fail(BoxStreamError::InvalidPacket));
                }
                self.nonce.advance_frame();
                self.state = State::Header;
                Ok(Some(Decoded::Data {
                    consumed,
                    plaintext: FRAME_HEADER_LEN..consumed,
                }))
            }
        }
    }

    /// Opens the header at the front of `input` if that has not been done yet, and returns the
    /// length of the body it announced: how much room [`decode_into`](Self::decode_into) needs.
    ///
    /// `None` while the header is incomplete, once the stream has ended or failed, and when the
    /// header at the front is the goodbye or fails to authenticate: the state is then left as it
    /// was, for [`decode`](Self::decode) to report.
    pub fn body_len(&mut self, input: &[u8]) -> Option<usize> {
        if let State::Header = self.state {
            let header = input.first_chunk::<FRAME_HEADER_LEN>()?;
            match self.open_header(header) {
                Ok(HeaderKind::Body { len, tag }) => self.state = State::Body { len, tag },
                Ok(HeaderKind::Goodbye) | Err(_) => return None,
            }
        }
        match self.state {
            State::Body { len, .. } => Some(len),
            _ => None,
        }
    }

    /// Opens the body of the data frame at the front of `input`, whose header
    /// [`body_len`](Self::body_len) opened, straight into the first `len` bytes of `out`; `input`
    /// is not modified. Returns the bytes of input the frame occupied.
    ///
    /// Returns `Ok(None)`, changing nothing, when no header is open, when `input` does not hold the
    /// whole frame yet, or when `out` is shorter than the body (then use [`decode`](Self::decode)).
    ///
    /// # Errors
    /// [`BoxStreamError::InvalidPacket`]; the decoder then stays failed.
    pub fn decode_into(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, BoxStreamError> {
        let State::Body { len, tag } = &self.state else {
            return Ok(None);
        };
        let (len, tag) = (*len, *tag);
        let consumed = FRAME_HEADER_LEN + len;
        let (Some(ciphertext), Some(plaintext)) =
            (input.get(FRAME_HEADER_LEN..consumed), out.get_mut(..len))
        else {
            return Ok(None);
        };
        if !open_detached(&self.key, &self.nonce.next(), ciphertext, &tag, plaintext) {
            return Err(self.fail(BoxStreamError::InvalidPacket));
        }
        self.nonce.advance_frame();
        self.state = State::Header;
        Ok(Some(consumed))
    }

    /// Records that the input ended with `buffered` unconsumed bytes and returns the hangup error
    /// to report ([`BoxStreamError::MissingGoodbye`] or [`BoxStreamError::Truncated`]); the decoder
    /// stays failed. Returns `None` if the goodbye had already arrived (a clean end), and the
    /// earlier error if the decoder had already failed.
    pub fn end_of_input(&mut self, buffered: usize) -> Option<BoxStreamError> {
        let err = match &self.state {
            State::Finished => return None,
            State::Failed(err) => return Some(err.clone()),
            State::Header if buffered == 0 => BoxStreamError::MissingGoodbye,
            State::Header => BoxStreamError::Truncated {
                part: FramePart::Header,
                got: buffered,
                wanted: FRAME_HEADER_LEN,
            },
            State::Body { len, .. } => BoxStreamError::Truncated {
                part: FramePart::Body,
                got: buffered.saturating_sub(FRAME_HEADER_LEN),
                wanted: *len,
            },
        };
        Some(self.fail(err))
    }

    fn fail(&mut self, err: BoxStreamError) -> BoxStreamError {
        tracing::debug!(error = %err, "box stream input rejected");
        self.state = State::Failed(err.clone());
        err
    }

    fn open_header(&self, header: &[u8; FRAME_HEADER_LEN]) -> Result<HeaderKind, BoxStreamError> {
        let (tag, ciphertext) = header.split_at(TAG_LEN);
        let tag = tag
            .first_chunk::<TAG_LEN>()
            .ok_or(BoxStreamError::InvalidHeader)?;
        let mut plain = [0u8; PLAIN_HEADER_LEN];
        if !open_detached(&self.key, &self.nonce, ciphertext, tag, &mut plain) {
            return Err(BoxStreamError::InvalidHeader);
        }
        if plain == [0u8; PLAIN_HEADER_LEN] {
            return Ok(HeaderKind::Goodbye);
        }
        let (len, body_tag) = plain
            .split_first_chunk::<2>()
            .ok_or(BoxStreamError::InvalidHeader)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if len == 0 {
            return Err(BoxStreamError::EmptyBody);
        }
        let tag = body_tag
            .first_chunk::<TAG_LEN>()
            .ok_or(BoxStreamError::InvalidHeader)?;
        Ok(HeaderKind::Body { len, tag: *tag })
    }
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Header => "header",
            State::Body { .. } => "body",
            State::Finished => "finished",
            State::Failed(_) => "failed",
        };
        f.debug_struct("FrameDecoder")
            .field("nonce", &self.nonce)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

enum HeaderKind {
    Goodbye,
    Body { len: usize, tag: [u8; TAG_LEN] },
}

#[cfg(test)]
mod tests {
    use super::super::encoder::FrameEncoder;
    use super::*;

    fn key() -> BoxKey {
        BoxKey {
            key: [5; 32],
            nonce: [0xfe; 24],
        }
    }

    fn sealed(chunks: &[&[u8]], goodbye: bool) -> Vec<u8> {
        let mut enc = FrameEncoder::new(&key());
        let mut out = Vec::new();
        for chunk in chunks {
            enc.encode_to_vec(chunk, &mut out).expect("encode");
        }
        if goodbye {
            let mut bye = [0u8; FRAME_HEADER_LEN];
            enc.seal_goodbye(&mut bye).expect("goodbye");
            out.extend_from_slice(&bye);
        }
        out
    }

    /// Feeds `input` one byte more at a time, as a trickling socket would.
    fn decode_trickle(input: &[u8]) -> (Vec<Vec<u8>>, Result<(), BoxStreamError>) {
        let mut dec = FrameDecoder::new(&key());
        let mut buf: Vec<u8> = Vec::new();
        let mut chunks = Vec::new();
        for &byte in input {
            buf.push(byte);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(Decoded::Data {
                        consumed,
                        plaintext,
                    })) => {
                        chunks.push(buf[plaintext].to_vec());
                        buf.drain(..consumed);
                    }
                    Ok(Some(Decoded::Goodbye { .. })) => return (chunks, Ok(())),
                    Ok(None) => break,
                    Err(err) => return (chunks, Err(err)),
                }
            }
        }
        let end = dec.end_of_input(buf.len()).map_or(Ok(()), Err);
        (chunks, end)
    }

    #[test]
    fn byte_by_byte_input_decodes_every_frame() {
        let input = sealed(&[b"one", &[9; 5000], b"three"], true);
        let (chunks, end) = decode_trickle(&input);
        assert_eq!(end, Ok(()));
        assert_eq!(
            chunks,
            vec![
                b"one".to_vec(),
                vec![9; 4096],
                vec![9; 904],
                b"three".to_vec()
            ]
        );
    }

    #[test]
    fn hangups_are_reported_by_where_they_happen() {
        let input = sealed(&[b"hello"], false);
        let (chunks, end) = decode_trickle(&input);
        assert_eq!(chunks, vec![b"hello".to_vec()]);
        assert_eq!(end, Err(BoxStreamError::MissingGoodbye));

        let (_, end) = decode_trickle(&input[..10]);
        assert_eq!(
            end,
            Err(BoxStreamError::Truncated {
                part: FramePart::Header,
                got: 10,
                wanted: 34
            })
        );
        let (_, end) = decode_trickle(&input[..36]);
        assert_eq!(
            end,
            Err(BoxStreamError::Truncated {
                part: FramePart::Body,
                got: 2,
                wanted: 5
            })
        );
    }

    #[test]
    fn a_failed_decoder_stays_failed() {
        let mut input = sealed(&[b"hello"], true);
        input[0] ^= 1;
        let mut dec = FrameDecoder::new(&key());
        assert_eq!(dec.decode(&mut input), Err(BoxStreamError::InvalidHeader));
        input[0] ^= 1;
        assert_eq!(dec.decode(&mut input), Err(BoxStreamError::InvalidHeader));
        assert_eq!(dec.needed(), 0);
        assert_eq!(dec.error(), Some(&BoxStreamError::InvalidHeader));
        assert_eq!(dec.end_of_input(0), Some(BoxStreamError::InvalidHeader));
    }

    #[test]
    fn after_the_goodbye_nothing_more_is_consumed() {
        let mut input = sealed(&[], true);
        input.extend_from_slice(b"trailing garbage");
        let mut dec = FrameDecoder::new(&key());
        assert_eq!(
            dec.decode(&mut input),
            Ok(Some(Decoded::Goodbye { consumed: 34 }))
        );
        assert!(dec.is_finished());
        assert_eq!(
            dec.decode(&mut input[34..]),
            Ok(Some(Decoded::Goodbye { consumed: 0 }))
        );
        assert_eq!(dec.end_of_input(16), None);
    }
}
