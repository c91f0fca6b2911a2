//! packet-stream-codec frames from any bytes.
//!
//! Input: a byte choosing the body limit, 8 bytes of schedule seed, then the stream. The decoder
//! fed everything at once and fed in scheduled pieces must yield the same frames and the same
//! error; every packet decoded must survive encoding and decoding again unchanged, never encode to
//! a zero-length body, and encode to the very bytes it came from when its body is binary.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use secret_stack::rpc::PACKET_HEADER_LEN;
use secret_stack::rpc::{Body, Frame, PacketCodec};
use secret_stack_fuzz::input::{Input, Schedule};
use tokio_util::codec::Decoder as _;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let max_body = match input.byte() % 4 {
        0 => secret_stack::rpc::DEFAULT_MAX_BODY,
        1 => 0,
        limit => usize::from(limit) * 64,
    };
    let seed = u64::from_be_bytes(input.array());
    let stream = input.rest();

    let (whole, whole_end) = decode(stream, max_body, None);
    let (pieces, pieces_end) = decode(stream, max_body, Some(Schedule::new(seed)));
    assert_eq!(whole, pieces, "frames: whole input vs pieces");
    assert_eq!(whole_end, pieces_end, "ending: whole input vs pieces");

    let mut offset = 0;
    for frame in &whole {
        let Frame::Packet(packet) = frame else {
            assert_eq!(frame, whole.last().unwrap(), "nothing after the goodbye");
            break;
        };
        let mut encoded = BytesMut::new();
        PacketCodec::encode_packet(packet, &mut encoded).expect("a decoded packet encodes");
        let len = u32::from_be_bytes(encoded[1..5].try_into().unwrap()) as usize;
        assert!(len > 0, "zero-length body written");
        assert_eq!(encoded.len(), PACKET_HEADER_LEN + len);
        let mut codec = PacketCodec::default();
        let again = codec
            .decode(&mut encoded.clone())
            .expect("own encoding decodes");
        assert_eq!(
            again.as_ref(),
            Some(frame),
            "decode(encode(packet)) == packet"
        );
        let original_len = u32::from_be_bytes(stream[offset + 1..offset + 5].try_into().unwrap());
        let original = &stream[offset..offset + PACKET_HEADER_LEN + original_len as usize];
        if matches!(packet.body, Body::Binary(_)) {
            // Same header except bits the codec ignores, same body.
            assert_eq!(encoded[0], original[0] & 0x0f, "flags");
            assert_eq!(
                &encoded[1..],
                &original[1..],
                "binary frame re-encodes byte for byte"
            );
        }
        offset += original.len();
    }
});

/// The frames decoded from `stream`, and how decoding ended (`None` for a clean end of input).
fn decode(
    stream: &[u8],
    max_body: usize,
    schedule: Option<Schedule>,
) -> (Vec<Frame>, Option<String>) {
    let mut codec = PacketCodec::new(max_body);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut fed = 0;
    let mut schedule = schedule;
    loop {
        let n = match &mut schedule {
            Some(s) if fed < stream.len() => s.size(stream.len() - fed),
            _ => stream.len() - fed,
        };
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
        let at_end = fed == stream.len();
        loop {
            let step = if at_end {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            match step {
                Ok(Some(frame)) => {
                    let goodbye = frame == Frame::Goodbye;
                    frames.push(frame);
                    if goodbye {
                        assert!(codec.is_finished());
                        assert!(buf.is_empty(), "input after the goodbye is dropped");
                    }
                }
                Ok(None) if at_end => return (frames, None),
                Ok(None) => break,
                // Error values differ only in wrapped serde errors' positions: compare the text.
                Err(err) => return (frames, Some(err.to_string())),
            }
        }
    }
}
