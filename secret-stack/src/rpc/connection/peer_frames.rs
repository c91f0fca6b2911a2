//! What the reader reads: packet-stream-codec frames, with the peer's async requests read straight
//! from their bytes (`callee_request.rs`) rather than through a JSON tree of the whole request.
//!
//! Everything else is decoded exactly as [`PacketCodec`] decodes it, and at the same moment: a
//! malformed frame or invalid JSON still fails as soon as it is read.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use super::callee_request::{PeerRequest, parse_raw_async};
use crate::rpc::codec::{CodecError, PacketCodec, RawFrame, packet_of};
use crate::rpc::packet::Packet;
use crate::rpc::wire::{self, BODY_TYPE, JSON, STREAM};

/// One thing read from the peer.
pub(super) enum PeerFrame {
    /// A packet, decoded as [`PacketCodec`] decodes it.
    Packet(Packet),
    /// An async request `req` (not a stream, `req > 0`), already read.
    Call(i32, PeerRequest),
    /// The goodbye.
    Goodbye,
}

/// The reader's decoder.
pub(super) struct PeerFrames {
    codec: PacketCodec,
}

impl PeerFrames {
    /// A decoder refusing bodies longer than `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        PeerFrames {
            codec: PacketCodec::new(max_body),
        }
    }
}

impl Decoder for PeerFrames {
    type Item = PeerFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<PeerFrame>, CodecError> {
        let (flags, req, body) = match self.codec.decode_raw(src)? {
            None => return Ok(None),
            Some(RawFrame::Goodbye) => return Ok(Some(PeerFrame::Goodbye)),
            Some(RawFrame::Packet { flags, req, body }) => (flags, req, body),
        };
        // The end flag does not matter: a non-stream packet with `req > 0` is a request.
        let body = if flags & STREAM == 0 && flags & BODY_TYPE == JSON && req > 0 {
            match parse_raw_async(body) {
                Ok(request) => return Ok(Some(PeerFrame::Call(req, request))),
                Err(body) => body,
            }
        } else {
            body
        };
        packet_of(flags, req, body).map(|p| Some(PeerFrame::Packet(p)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<PeerFrame>, CodecError> {
        wire::decode_eof(self, src)
    }
}
