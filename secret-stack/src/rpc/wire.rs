//! The packet-stream-codec header, defined once for everything that reads or writes it: the
//! [`PacketCodec`](super::PacketCodec), the engine's request reader and request encoder, and
//! [`Packet::flags`](super::Packet::flags).
//!
//! A header is 9 bytes: the flags byte, the body length (u32, big-endian) and the request number
//! (i32, big-endian). A header whose length is 0 is the session goodbye.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::codec::CodecError;

/// The length of a frame header.
pub const PACKET_HEADER_LEN: usize = 9;

/// The goodbye frame: a header of zeros.
pub(crate) const GOODBYE: [u8; PACKET_HEADER_LEN] = [0; PACKET_HEADER_LEN];

/// The flag bit of a packet that belongs to a stream.
pub(crate) const STREAM: u8 = 0x08;

/// The flag bit of a packet that ends its call or its half of a stream.
pub(crate) const END: u8 = 0x04;

/// The bits of the flags byte that hold the body type.
pub(crate) const BODY_TYPE: u8 = 0x03;

/// Body type: bytes, as they are.
pub(crate) const BINARY: u8 = 0;

/// Body type: UTF-8 text.
pub(crate) const TEXT: u8 = 1;

/// Body type: JSON.
pub(crate) const JSON: u8 = 2;

/// What [`Decoder::decode_eof`] does for every decoder of these frames: the last frame, nothing if
/// the input ended between frames, and [`CodecError::Truncated`] if it ended inside one.
pub(crate) fn decode_eof<D>(
    decoder: &mut D,
    src: &mut BytesMut,
) -> Result<Option<D::Item>, CodecError>
where
    D: Decoder<Error = CodecError>,
{
    match decoder.decode(src)? {
        Some(item) => Ok(Some(item)),
        None if src.is_empty() => Ok(None),
        None => Err(CodecError::Truncated {
            buffered: src.len(),
        }),
    }
}
