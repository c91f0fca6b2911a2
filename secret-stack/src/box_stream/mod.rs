//! The box stream: encrypted, authenticated framing of each direction after the handshake
//!.
//!
//! Each direction is a sequence of frames sealed with XSalsa20-Poly1305 under the key and starting
//! nonce the handshake derived ([`BoxKey`]): a 34-byte header box holding the body length and the
//! body's tag, then the body ciphertext without its tag; ≤ 4096 bytes of plaintext per frame, two
//! nonces per frame. A box of 18 zero bytes says goodbye.
//!
//! * [`BoxWriter`] (`AsyncWrite`) and [`BoxReader`] (`AsyncRead`) turn a transport into a plain
//!   byte stream, so the RPC layer above is an ordinary codec over it; [`pair`] builds both.
//! * The sync building blocks they use — [`Nonce`], [`seal_frame`], [`seal_goodbye`],
//!   [`FrameEncoder`], [`FrameDecoder`] — work without any I/O, for tests and fuzzers.
//! * Failures are [`BoxStreamError`]s, carried inside `io::Error`s by the reader and writer.

mod cipher;
mod decoder;
mod encoder;
mod error;
mod nonce;
mod reader;
mod writer;

pub use cipher::{KEY_LEN, TAG_LEN};
pub use decoder::{Decoded, FrameDecoder};
pub use encoder::{FrameEncoder, seal_frame, seal_goodbye};
pub use error::{BoxStreamError, FramePart};
pub use nonce::{NONCE_LEN, Nonce};
pub use reader::{BoxReader, INITIAL_READ_BUFFER};
pub use writer::{BoxWriter, WRITE_BUFFER_CAPACITY};

/// Length of a boxed header, and of the goodbye: 18 bytes of plaintext plus a 16-byte tag.
pub const FRAME_HEADER_LEN: usize = 34;
/// The most plaintext a writer puts in one frame.
pub const MAX_BODY_LEN: usize = 4096;
/// The longest body a reader accepts: anything a 16-bit length can say, as JS accepts.
pub const MAX_ACCEPTED_BODY_LEN: usize = u16::MAX as usize;
/// The longest frame a reader may have to hold at once.
pub const MAX_FRAME_LEN: usize = FRAME_HEADER_LEN + MAX_ACCEPTED_BODY_LEN;

/// The key and starting nonce of one direction of a box stream, as the handshake derives them.
#[derive(Clone, PartialEq, Eq)]
pub struct BoxKey {
    /// The secretbox key.
    pub key: [u8; 32],
    /// The nonce of the first frame's header box.
    pub nonce: [u8; 24],
}

impl std::fmt::Debug for BoxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxKey { .. }")
    }
}

/// Wraps the two halves of a transport: a reader opening with `decrypt` and a writer sealing with
/// `encrypt` (the handshake's [`Session`](crate::handshake::Session) says which key is which).
pub fn pair<R, W>(
    reader: R,
    writer: W,
    encrypt: BoxKey,
    decrypt: BoxKey,
) -> (BoxReader<R>, BoxWriter<W>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    (
        BoxReader::new(reader, &decrypt),
        BoxWriter::new(writer, &encrypt),
    )
}
