//! Regression tests for what the fuzz targets in `fuzz/` found, one test per finding, each with
//! the (minimised) input the fuzzer produced. See `fuzz/README.md` for the targets.

use bytes::BytesMut;
use secret_stack::rpc::{Body, Frame, PacketCodec};
use tokio_util::codec::Decoder as _;

/// A packet-stream-codec frame with a JSON body.
fn json_frame(req: i32, body: &[u8]) -> BytesMut {
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&[0x02]);
    frame.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&req.to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

fn decode_number(text: &str) -> f64 {
    let mut frame = json_frame(1, text.as_bytes());
    let Ok(Some(Frame::Packet(packet))) = PacketCodec::default().decode(&mut frame) else {
        panic!("{text} does not decode");
    };
    let Body::Json(value) = packet.body else {
        panic!("not a JSON body");
    };
    value.as_f64().expect("a number")
}

/// packet_codec: a JSON number must decode to the nearest double, as JS `JSON.parse` does, so
/// that a value relayed through Rust is the value the JS peer sent. serde_json's default float
/// parser is off by one ulp on some inputs (this one came out as 4.444444444439999e51, and its
/// re-encoding then decoded to yet another double); its `float_roundtrip` feature is exact.
#[test]
fn json_numbers_decode_to_the_nearest_double() {
    let digits = "4444444444440000000000000000000000000000000000000000";
    assert_eq!(decode_number(digits), 4.44444444444e51);
    assert_eq!(decode_number(digits), digits.parse::<f64>().unwrap());
    // And what we write reads back as the same number.
    let printed = serde_json::to_string(&serde_json::json!(4.44444444444e51)).unwrap();
    assert_eq!(decode_number(&printed), 4.44444444444e51);
    let printed = serde_json::to_string(&serde_json::json!(4.444444444439999e51)).unwrap();
    assert_eq!(decode_number(&printed), 4.444444444439999e51);
}
