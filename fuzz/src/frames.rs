//! Box streams built piece by piece with a record of what each piece is, so a target knows exactly
//! what a correct reader must deliver: the plaintext of every intact data frame up to the first
//! piece that is not, then the goodbye, an error, or a hangup.
//!
//! Frames of 1..=4096 bytes are sealed by secret-stack's own `seal_frame`; other announced lengths
//! (0, 4097..=65535, or a length that disagrees with the body) are sealed here with dryoc directly.

use dryoc::classic::crypto_secretbox::{crypto_secretbox_detached, crypto_secretbox_open_detached};
use secret_stack::box_stream::{BoxKey, FRAME_HEADER_LEN, MAX_BODY_LEN, Nonce, seal_frame, seal_goodbye};

/// What a piece of the stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// An authentic data frame whose plaintext is `expected[range]`.
    Data(std::ops::Range<usize>),
    /// The authentic goodbye.
    Goodbye,
    /// The start of a piece whose end was cut off, with nothing after it yet.
    Cut,
    /// Anything a reader must refuse: tampered, replayed, garbage, an empty or mislabelled body,
    /// or a cut piece with more bytes appended (they are read as its missing end).
    Bad,
}

/// One piece of the stream: `bytes[start..end]`, begun when the sealing nonce was `nonce`.
#[derive(Debug, Clone)]
struct Piece {
    start: usize,
    end: usize,
    kind: Kind,
    nonce: Nonce,
}

/// How a correct reader must end after delivering [`Expected::plaintext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The goodbye arrived: a clean end.
    Goodbye,
    /// The input ended at a frame boundary without a goodbye (`MissingGoodbye`).
    MissingGoodbye,
    /// The input ended inside an intact frame (`Truncated`).
    Truncated,
    /// A piece that must be refused: `InvalidHeader`, `InvalidPacket`, `EmptyBody`, or `Truncated`
    /// if the input ends before the bad piece could be judged.
    Refused,
}

/// What a correct reader delivers from a built stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// All the plaintext, in order.
    pub plaintext: Vec<u8>,
    /// How it ends.
    pub ending: Ending,
}

/// A box stream under construction with one key, and the record of its pieces.
pub struct StreamBuilder {
    key: [u8; 32],
    nonce: Nonce,
    bytes: Vec<u8>,
    /// `bytes` before any flips: a piece whose bytes differ from these is tampered.
    pristine: Vec<u8>,
    plaintext: Vec<u8>,
    pieces: Vec<Piece>,
}

impl StreamBuilder {
    /// An empty stream sealed with `key`, starting at its nonce.
    pub fn new(key: &BoxKey) -> Self {
        StreamBuilder {
            key: key.key,
            nonce: Nonce::new(key.nonce),
            bytes: Vec::new(),
            pristine: Vec::new(),
            plaintext: Vec::new(),
            pieces: Vec::new(),
        }
    }

    /// The bytes built so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Appends a frame of `plaintext`, announcing `announced` bytes in its header. A frame that
    /// announces its real, non-zero length is intact; any other is [`Kind::Bad`].
    pub fn frame(&mut self, plaintext: &[u8], announced: u16) {
        let (start, nonce) = (self.bytes.len(), self.nonce);
        let intact = usize::from(announced) == plaintext.len() && !plaintext.is_empty();
        if intact && plaintext.len() <= MAX_BODY_LEN {
            self.bytes.resize(start + FRAME_HEADER_LEN + plaintext.len(), 0);
            let sealed = seal_frame(
                &self.key,
                &mut self.nonce,
                plaintext,
                &mut self.bytes[start..],
            );
            assert_eq!(sealed, Ok(FRAME_HEADER_LEN + plaintext.len()), "seal_frame");
        } else {
            let mut body = vec![0u8; plaintext.len()];
            let body_tag = self.seal_detached(&self.nonce.next(), plaintext, &mut body);
            let mut header_plain = [0u8; 18];
            header_plain[..2].copy_from_slice(&announced.to_be_bytes());
            header_plain[2..].copy_from_slice(&body_tag);
            let mut header = [0u8; FRAME_HEADER_LEN];
            let tag = self.seal_detached(&self.nonce, &header_plain, &mut header[16..]);
            header[..16].copy_from_slice(&tag);
            self.bytes.extend_from_slice(&header);
            self.bytes.extend_from_slice(&body);
            self.nonce.advance_frame();
        }
        let kind = if intact {
            let from = self.plaintext.len();
            self.plaintext.extend_from_slice(plaintext);
            Kind::Data(from..self.plaintext.len())
        } else {
            Kind::Bad
        };
        self.push(start, nonce, kind);
    }

    /// Appends the goodbye (the nonce does not move, as nothing may follow it).
    pub fn goodbye(&mut self) {
        let (start, nonce) = (self.bytes.len(), self.nonce);
        self.bytes.resize(start + FRAME_HEADER_LEN, 0);
        let sealed = seal_goodbye(&self.key, &self.nonce, &mut self.bytes[start..]);
        assert_eq!(sealed, Ok(FRAME_HEADER_LEN), "seal_goodbye");
        self.push(start, nonce, Kind::Goodbye);
    }

    /// Appends bytes that a reader must refuse: garbage, or a copy of an earlier frame (whose
    /// nonce is out of date). Empty garbage appends nothing.
    ///
    /// Garbage that happens to start with a header that opens at the current nonce is not garbage:
    /// the key and starting nonce are fixed, so libFuzzer can learn a real first frame from the
    /// comparisons it watches (found in CI: a "garbage" piece that was a valid 5-byte frame) and a
    /// replay after a truncation can land on its own nonce again. Such a header gets one bit of
    /// its tag flipped, so the piece is refused as the record says.
    pub fn garbage(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let (start, nonce) = (self.bytes.len(), self.nonce);
        self.bytes.extend_from_slice(bytes);
        if self.header_opens(&self.bytes[start..]) {
            self.bytes[start] ^= 1;
        }
        self.push(start, nonce, Kind::Bad);
    }

    /// Whether `piece` starts with a header box that opens at the current nonce.
    fn header_opens(&self, piece: &[u8]) -> bool {
        let (Some(tag), Some(boxed)) = (piece.first_chunk::<16>(), piece.get(16..FRAME_HEADER_LEN)) else {
            return false;
        };
        let mut plain = [0u8; FRAME_HEADER_LEN - 16];
        crypto_secretbox_open_detached(&mut plain, boxed, tag, self.nonce.as_bytes(), &self.key)
            .is_ok()
    }

    /// Replays piece `index` (modulo the number of pieces) at the end.
    pub fn replay(&mut self, index: usize) {
        if self.pieces.is_empty() {
            return;
        }
        let piece = self.pieces[index % self.pieces.len()].clone();
        let copy = self.bytes[piece.start..piece.end].to_vec();
        self.garbage(&copy);
    }

    /// XORs `mask` into the byte at `position` (modulo the length). A piece whose bytes end up
    /// changed (flips may cancel out) must be refused.
    pub fn flip(&mut self, position: usize, mask: u8) {
        if self.bytes.is_empty() {
            return;
        }
        let position = position % self.bytes.len();
        self.bytes[position] ^= mask;
    }

    /// Cuts the stream to `len` bytes (no-op if it is shorter). Pieces cut away entirely are
    /// forgotten and the nonce goes back to the first of them, so frames appended next are what a
    /// reader expects there.
    pub fn truncate(&mut self, len: usize) {
        if len >= self.bytes.len() {
            return;
        }
        self.bytes.truncate(len);
        self.pristine.truncate(len);
        if let Some(first_gone) = self.pieces.iter().position(|p| p.start >= len) {
            self.nonce = self.pieces[first_gone].nonce;
            self.pieces.truncate(first_gone);
        }
        if let Some(last) = self.pieces.last_mut().filter(|p| p.end > len) {
            last.end = len;
            if last.kind != Kind::Bad {
                last.kind = Kind::Cut;
            }
        }
    }

    /// What a correct reader must deliver from the bytes as they stand.
    pub fn expected(&self) -> Expected {
        let mut plaintext = Vec::new();
        for piece in &self.pieces {
            let range = piece.start..piece.end;
            let tampered = self.bytes[range.clone()] != self.pristine[range];
            let ending = match &piece.kind {
                _ if tampered => Ending::Refused,
                Kind::Bad => Ending::Refused,
                Kind::Cut => Ending::Truncated,
                Kind::Goodbye => Ending::Goodbye,
                Kind::Data(range) => {
                    plaintext.extend_from_slice(&self.plaintext[range.clone()]);
                    continue;
                }
            };
            return Expected { plaintext, ending };
        }
        Expected {
            plaintext,
            ending: Ending::MissingGoodbye,
        }
    }

    fn push(&mut self, start: usize, nonce: Nonce, kind: Kind) {
        if let Some(last) = self.pieces.last_mut().filter(|p| p.kind == Kind::Cut) {
            last.kind = Kind::Bad;
        }
        let end = self.bytes.len();
        self.pristine.extend_from_slice(&self.bytes[start..end]);
        self.pieces.push(Piece {
            start,
            end,
            kind,
            nonce,
        });
    }

    fn seal_detached(&self, nonce: &Nonce, message: &[u8], out: &mut [u8]) -> [u8; 16] {
        let mut tag = [0u8; 16];
        if crypto_secretbox_detached(out, &mut tag, message, nonce.as_bytes(), &self.key).is_err() {
            unreachable!("output sized to the message");
        }
        tag
    }
}
