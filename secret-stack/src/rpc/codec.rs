//! packet-stream-codec: the 9-byte header framing of RPC packets, as a tokio-util
//! [`Encoder`]/[`Decoder`].
//!
//! Header: flags (stream `0x08`, end `0x04`, body type in bits 0–1), body length (u32 BE), request
//! number (i32 BE), then exactly `length` body bytes. A header whose length is 0 is the session
//! goodbye, whatever its other fields (that is how every JS reader treats it).
//!
//! Two rules keep peers safe:
//! - **No zero-length bodies are ever written**: a JS peer would read one as the goodbye
//!   and drop the whole session. An empty [`Body::Text`] or empty [`Body::Binary`] is written as the
//!   JSON string `""` (type 2, 2 bytes) instead. A JS receiver then sees the empty string: for text
//!   that is exactly the value sent; for binary it is the closest value JS can receive at all (an
//!   empty buffer cannot be sent). Refusing instead would turn a legal reply such as `""` into an
//!   error, so substituting is the safer choice.
//! - **Nothing is allocated on a header's say-so**: a body longer than [`PacketCodec::max_body`]
//!   (default 8 MiB) is refused with [`CodecError::BodyTooLarge`] as soon as the header is read, and
//!   the buffer grows ahead of the body bytes that actually arrived by at most 68 KiB (room for
//!   a large frame to be read into at once).
//!
//! JSON bodies are written as `JSON.stringify` does: no whitespace, object keys in insertion order
//! (the workspace enables serde_json's `preserve_order`), non-ASCII as raw UTF-8.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::body::Body;
use super::packet::{Frame, Packet};
use super::wire::{self, BINARY, BODY_TYPE, END, GOODBYE, JSON, PACKET_HEADER_LEN, STREAM, TEXT};

/// The default limit on a received body: 8 MiB.
pub const DEFAULT_MAX_BODY: usize = 8 * 1024 * 1024;

/// Bodies from this length on are large: once a header announces one, the decoder makes room for
/// the rest of its frame at once.
const LARGE_BODY: usize = 4096;

/// The most room the decoder reserves for the announced but not yet arrived rest of a frame: as
/// much as one box-stream frame may already make a reader hold (64 KiB), so a header alone costs
/// no more than that (plus [`NEXT_FRAME_ROOM`]).
const RESERVE_AHEAD: usize = 64 * 1024;

/// Room reserved beyond a large frame for the start of the next one. Without it the buffer would
/// end exactly where the frame does, and after the body is split off the next header would be
/// read into a tiny fresh allocation that then has to be reallocated for the next large body;
/// with it, the next allocation is made once, at its full size (or not at all, when the
/// previous body has been dropped and its memory can be reused). One box-stream frame's worth
/// lets a box stream open a frame that straddles two packets straight into it too.
const NEXT_FRAME_ROOM: usize = 4096;

/// What the body of an empty string or empty buffer is replaced with: the JSON string `""`.
const EMPTY_SUBSTITUTE: &[u8] = b"\"\"";

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The underlying reader or writer failed.
    #[error("i/o error on the rpc stream: {0}")]
    Io(#[from] std::io::Error),
    /// A header announced a body longer than the configured maximum.
    #[error("rpc packet {req} announces a {len}-byte body, above the {max}-byte limit")]
    BodyTooLarge {
        /// The request number of the offending packet.
        req: i32,
        /// The announced length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// The body type bits were 3, which no version of the codec defines (JS: `unknown message type`).
    #[error("unknown message type (body type 3) in rpc packet {req}")]
    UnknownBodyType {
        /// The request number of the offending packet.
        req: i32,
    },
    /// A JSON-typed body was not valid JSON.
    #[error("rpc packet {req} has an invalid JSON body: {source}")]
    InvalidJson {
        /// The request number of the offending packet.
        req: i32,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// The stream ended in the middle of a frame.
    #[error("the rpc stream ended in the middle of a frame ({buffered} bytes left over)")]
    Truncated {
        /// How many bytes of the incomplete frame had arrived.
        buffered: usize,
    },
}

/// The packet-stream-codec encoder and decoder.
///
/// After decoding a goodbye the decoder yields nothing more: JS stops reading at that point.
#[derive(Debug, Clone)]
pub struct PacketCodec {
    max_body: usize,
    finished: bool,
}

impl Default for PacketCodec {
    fn default() -> Self {
        PacketCodec::new(DEFAULT_MAX_BODY)
    }
}

impl PacketCodec {
    /// A codec refusing received bodies longer than `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        PacketCodec {
            max_body,
            finished: false,
        }
    }

    /// The largest body the decoder accepts.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// True once the decoder has read the goodbye.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Appends the frame of `packet` to `dst` (see the module docs for the empty-body rule).
    pub fn encode_packet(packet: &Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        let start = dst.len();
        dst.reserve(PACKET_HEADER_LEN + body_hint(&packet.body));
        let mut flags = packet.flags();
        dst.put_u8(flags);
        dst.put_u32(0); // patched below once the body length is known
        dst.put_i32(packet.req);
        let body_start = dst.len();
        match &packet.body {
            Body::Binary(b) => dst.extend_from_slice(b),
            Body::Text(s) => dst.extend_from_slice(s.as_bytes()),
            Body::Json(v) => {
                let mut w = dst.writer();
                // Serializing a `Value` into memory cannot fail.
                if let Err(e) = serde_json::to_writer(&mut w, v) {
                    let dst = w.into_inner();
                    dst.truncate(start);
                    return Err(CodecError::Io(std::io::Error::other(e)));
                }
            }
        }
        let mut len = dst.len() - body_start;
        if len == 0 {
            // Never emit a zero-length body: it would read as the goodbye.
            dst.extend_from_slice(EMPTY_SUBSTITUTE);
            len = EMPTY_SUBSTITUTE.len();
            flags = (flags & !BODY_TYPE) | JSON;
        }
        let Ok(len32) = u32::try_from(len) else {
            dst.truncate(start);
            return Err(CodecError::BodyTooLarge {
                req: packet.req,
                len: len as u64,
                max: u32::MAX as usize,
            });
        };
        if let Some(b) = dst.get_mut(start) {
            *b = flags;
        }
        if let Some(slot) = dst.get_mut(start + 1..start + 5) {
            slot.copy_from_slice(&len32.to_be_bytes());
        }
        Ok(())
    }

    /// Appends only the 9-byte header of a frame whose body the caller writes itself, right after
    /// it and unchanged (the RPC writer sends large binary and text bodies that way, from their own
    /// buffers). `flags` are the packet's [`Packet::flags`]; `body_len` is the body's length.
    ///
    /// # Errors
    /// [`CodecError::BodyTooLarge`] for a body above 4 GiB, and an [`CodecError::Io`] of kind
    /// `InvalidInput` for an empty one (its header would read as the goodbye; send such a packet
    /// with [`encode_packet`](Self::encode_packet)). Nothing is appended then.
    pub fn encode_header(
        flags: u8,
        req: i32,
        body_len: usize,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        if body_len == 0 {
            return Err(CodecError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "an empty body cannot follow its own header",
            )));
        }
        let len = u32::try_from(body_len).map_err(|_| CodecError::BodyTooLarge {
            req,
            len: body_len as u64,
            max: u32::MAX as usize,
        })?;
        dst.reserve(PACKET_HEADER_LEN);
        dst.put_u8(flags);
        dst.put_u32(len);
        dst.put_i32(req);
        Ok(())
    }

    /// Appends the goodbye (9 zero bytes) to `dst`.
    pub fn encode_goodbye(dst: &mut BytesMut) {
        dst.extend_from_slice(&GOODBYE);
    }
}

fn body_hint(body: &Body) -> usize {
    match body {
        Body::Binary(b) => b.len(),
        Body::Text(s) => s.len(),
        Body::Json(_) => 64,
    }
}

/// A frame whose body is not interpreted yet (the engine reads some bodies its own way; see
/// [`packet_of`]).
pub(crate) enum RawFrame {
    /// A packet: its flags byte, request number and body bytes.
    Packet {
        /// The flags byte: stream `0x08`, end `0x04`, body type in bits 0–1.
        flags: u8,
        /// The request number.
        req: i32,
        /// The body, as received.
        body: Bytes,
    },
    /// The goodbye.
    Goodbye,
}

impl PacketCodec {
    /// Reads one frame as [`Decoder::decode`] does, but leaves its body as bytes.
    pub(crate) fn decode_raw(
        &mut self,
        src: &mut BytesMut,
    ) -> Result<Option<RawFrame>, CodecError> {
        if self.finished {
            src.clear();
            return Ok(None);
        }
        let Some(header) = src.get(..PACKET_HEADER_LEN) else {
            return Ok(None);
        };
        let mut header = header;
        let flags = header.get_u8();
        let len = header.get_u32();
        let req = header.get_i32();
        if len == 0 {
            self.finished = true;
            src.clear();
            return Ok(Some(RawFrame::Goodbye));
        }
        if u64::from(len) > self.max_body as u64 {
            return Err(CodecError::BodyTooLarge {
                req,
                len: u64::from(len),
                max: self.max_body,
            });
        }
        let len = len as usize;
        if src.len() < PACKET_HEADER_LEN + len {
            if len >= LARGE_BODY {
                // Make room for the rest of the frame now, so that the reader below fills it in
                // few reads (a box stream opens its frames straight into that room), plus the
                // start of the next frame; but never more than `RESERVE_AHEAD` bytes beyond what
                // has arrived.
                let missing = PACKET_HEADER_LEN + len - src.len();
                src.reserve(missing.min(RESERVE_AHEAD) + NEXT_FRAME_ROOM);
            }
            return Ok(None);
        }
        src.advance(PACKET_HEADER_LEN);
        let body = src.split_to(len).freeze();
        Ok(Some(RawFrame::Packet { flags, req, body }))
    }
}

/// The packet of a raw frame, its body interpreted by its type bits.
pub(crate) fn packet_of(flags: u8, req: i32, raw: Bytes) -> Result<Packet, CodecError> {
    Ok(Packet {
        req,
        stream: flags & STREAM != 0,
        end: flags & END != 0,
        body: decode_body(flags & BODY_TYPE, req, raw)?,
    })
}

impl Decoder for PacketCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        match self.decode_raw(src)? {
            None => Ok(None),
            Some(RawFrame::Goodbye) => Ok(Some(Frame::Goodbye)),
            Some(RawFrame::Packet { flags, req, body }) => {
                packet_of(flags, req, body).map(|p| Some(Frame::Packet(p)))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        wire::decode_eof(self, src)
    }
}

/// Interprets a body by its type bits, as the JS reader does. Text that is not valid UTF-8 is
/// decoded lossily (U+FFFD), like Node's `Buffer#toString`.
fn decode_body(kind: u8, req: i32, raw: Bytes) -> Result<Body, CodecError> {
    match kind {
        BINARY => Ok(Body::Binary(raw)),
        TEXT => Ok(Body::Text(match String::from_utf8(raw.to_vec()) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })),
        JSON => serde_json::from_slice(&raw)
            .map(Body::Json)
            .map_err(|source| CodecError::InvalidJson { req, source }),
        _ => Err(CodecError::UnknownBodyType { req }),
    }
}

impl Encoder<Packet> for PacketCodec {
    type Error = CodecError;
    fn encode(&mut self, item: Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        PacketCodec::encode_packet(&item, dst)
    }
}

impl Encoder<&Packet> for PacketCodec {
    type Error = CodecError;
    fn encode(&mut self, item: &Packet, dst: &mut BytesMut) -> Result<(), CodecError> {
        PacketCodec::encode_packet(item, dst)
    }
}

impl Encoder<Frame> for PacketCodec {
    type Error = CodecError;
    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            Frame::Packet(p) => PacketCodec::encode_packet(&p, dst),
            Frame::Goodbye => {
                PacketCodec::encode_goodbye(dst);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(p: Packet) -> Vec<u8> {
        let mut buf = BytesMut::new();
        PacketCodec::encode_packet(&p, &mut buf).unwrap();
        buf.to_vec()
    }

    #[test]
    fn empty_bodies_become_json_empty_string() {
        for body in [Body::Text(String::new()), Body::Binary(Bytes::new())] {
            let bytes = encode(Packet::new(-1, false, false, body));
            assert_eq!(bytes, b"\x02\x00\x00\x00\x02\xff\xff\xff\xff\"\"");
        }
        let bytes = encode(Packet::new(3, true, true, Body::Text(String::new())));
        assert_eq!(bytes[0], 0x0e);
    }

    #[test]
    fn oversize_is_refused_from_the_header_alone() {
        let mut codec = PacketCodec::new(16);
        let mut buf = BytesMut::from(&b"\x02\x00\x00\x00\x11\x00\x00\x00\x01"[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            CodecError::BodyTooLarge {
                len: 17,
                max: 16,
                req: 1
            }
        ));
    }

    #[test]
    fn keys_keep_insertion_order() {
        let v = json!({"name": ["a"], "args": [], "type": "source"});
        let bytes = encode(Packet::new(1, true, false, Body::Json(v)));
        assert_eq!(&bytes[9..], br#"{"name":["a"],"args":[],"type":"source"}"#);
    }

    #[test]
    fn truncated_at_eof_is_an_error() {
        let mut codec = PacketCodec::default();
        let mut buf = BytesMut::from(&b"\x02\x00\x00\x00\x05\x00\x00\x00\x01ab"[..]);
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(CodecError::Truncated { buffered: 11 })
        ));
    }

    #[test]
    fn a_header_written_apart_matches_the_whole_frame() {
        let body = Bytes::from(vec![5u8; 5000]);
        let packet = Packet::new(-7, true, false, Body::Binary(body.clone()));
        let mut apart = BytesMut::new();
        PacketCodec::encode_header(packet.flags(), packet.req, body.len(), &mut apart).unwrap();
        apart.extend_from_slice(&body);
        assert_eq!(apart.to_vec(), encode(packet));

        let mut dst = BytesMut::new();
        assert!(PacketCodec::encode_header(0, 1, 0, &mut dst).is_err());
        assert!(
            dst.is_empty(),
            "no header for an empty body: it would read as the goodbye"
        );
    }

    #[test]
    fn room_is_made_for_a_large_frame_but_not_on_a_header_alone_beyond_a_bound() {
        let mut codec = PacketCodec::default();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(
            &encode(Packet::new(
                1,
                true,
                false,
                Body::Binary(Bytes::from(vec![1u8; 20_000])),
            ))[..100],
        );
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= PACKET_HEADER_LEN + 20_000 + NEXT_FRAME_ROOM);

        // A header announcing 8 MiB gets room for 64 KiB of it, not for all of it.
        let mut buf = BytesMut::from(&b"\x00\x00\x80\x00\x00\x00\x00\x00\x01"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() >= RESERVE_AHEAD);
        assert!(buf.capacity() < 2 * (RESERVE_AHEAD + NEXT_FRAME_ROOM));

        // A small frame gets no more room than it had.
        let mut buf = BytesMut::from(&b"\x02\x00\x00\x00\x40\x00\x00\x00\x01{"[..]);
        let before = buf.capacity();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert_eq!(buf.capacity(), before);
    }
}
