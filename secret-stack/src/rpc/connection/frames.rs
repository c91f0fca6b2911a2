//! What the reader reads: packet-stream-codec frames, with the peer's async requests read straight
//! from their bytes (`request.rs`) rather than through a JSON tree of the whole request.
//!
//! Everything else is decoded exactly as [`PacketCodec`] decodes it, and at the same moment: a
//! malformed frame or invalid JSON still fails as soon as it is read.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::request::{Request, parse_raw_async};
use crate::rpc::codec::{CodecError, PacketCodec, RawFrame, packet_of};
use crate::rpc::packet::Packet;

/// Flag bits of a frame: stream, and the body type.
const STREAM: u8 = 0x08;
const BODY_TYPE: u8 = 0x03;
const JSON: u8 = 0x02;

/// One thing read from the peer.
pub(super) enum Inbound {
    /// A packet, decoded as [`PacketCodec`] decodes it.
    Packet(Packet),
    /// An async request `req` (not a stream, `req > 0`), already read.
    Call(i32, Request),
    /// The goodbye.
    Goodbye,
}

/// The reader's decoder.
pub(super) struct Frames {
    codec: PacketCodec,
}

impl Frames {
    /// A decoder refusing bodies longer than `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        Frames {
            codec: PacketCodec::new(max_body),
        }
    }
}

impl Decoder for Frames {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        let (flags, req, body) = match self.codec.decode_raw(src)? {
            None => return Ok(None),
            Some(RawFrame::Goodbye) => return Ok(Some(Inbound::Goodbye)),
            Some(RawFrame::Packet { flags, req, body }) => (flags, req, body),
        };
        // The end flag does not matter: a non-stream packet with `req > 0` is a request.
        let body = if flags & STREAM == 0 && flags & BODY_TYPE == JSON && req > 0 {
            match parse_raw_async(body) {
                Ok(request) => return Ok(Some(Inbound::Call(req, request))),
                Err(body) => body,
            }
        } else {
            body
        };
        packet_of(flags, req, body).map(|p| Some(Inbound::Packet(p)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        match self.decode(src)? {
            Some(item) => Ok(Some(item)),
            None if src.is_empty() => Ok(None),
            None => Err(CodecError::Truncated {
                buffered: src.len(),
            }),
        }
    }
}
