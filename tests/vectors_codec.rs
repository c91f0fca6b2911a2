//! packet-stream-codec against `packet-stream-codec.json`: every `encode` entry must produce the
//! exact bytes (HAZARD entries: we must *not* produce them, see below), every `decode` entry must
//! read as JS reads it, and the `stream_decode` concatenation fed in odd pieces must yield the same
//! packets and stop at the goodbye.

use bytes::{Bytes, BytesMut};
use secret_stack::rpc::{Body, Frame, Packet};
use secret_stack::rpc::{CodecError, PacketCodec};
use secret_stack_tests::vectors::{hex, load, to_hex};
use serde_json::Value;
use tokio_util::codec::Decoder;

fn body_of(value: &Value) -> Body {
    if let Some(h) = value.get("binary_hex").and_then(Value::as_str) {
        return Body::Binary(Bytes::from(hex(h)));
    }
    if let Some(n) = value.get("binary_length").and_then(Value::as_u64) {
        assert_eq!(value["all_zero"], Value::Bool(true));
        return Body::Binary(Bytes::from(vec![0u8; n as usize]));
    }
    match value {
        Value::String(s) => Body::Text(s.clone()),
        other => Body::Json(other.clone()),
    }
}

fn packet_of(input: &Value) -> Packet {
    Packet::new(
        input["req"].as_i64().expect("req") as i32,
        input["stream"].as_bool().unwrap_or(false),
        input["end"].as_bool().unwrap_or(false),
        body_of(&input["value"]),
    )
}

fn type_name(body: &Body) -> &'static str {
    match body {
        Body::Binary(_) => "binary",
        Body::Text(_) => "utf8",
        Body::Json(_) => "json",
    }
}

fn decode_all(bytes: &[u8]) -> Vec<Frame> {
    let mut codec = PacketCodec::new(usize::MAX);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).expect("decodes") {
        out.push(frame);
    }
    out
}

#[test]
fn encode_entries_match_js_bytes() {
    let v = load("packet-stream-codec.json");
    let entries = v["encode"].as_array().expect("encode entries");
    assert_eq!(entries.len(), 23);
    let mut checked = 0;
    for e in entries {
        let name = e["name"].as_str().unwrap_or("?");
        if name.starts_with("hazard-") {
            continue; // see encode_hazards_are_never_emitted
        }
        let mut buf = BytesMut::new();
        if e["input"] == "GOODBYE" {
            PacketCodec::encode_goodbye(&mut buf);
            assert_eq!(to_hex(&buf), e["bytes"].as_str().unwrap(), "{name}");
            assert_eq!(decode_all(&buf), vec![Frame::Goodbye], "{name}");
            checked += 1;
            continue;
        }
        let packet = packet_of(&e["input"]);
        PacketCodec::encode_packet(&packet, &mut buf).expect(name);
        assert_eq!(
            to_hex(&buf[..9]),
            e["header"].as_str().unwrap(),
            "{name}: header"
        );
        let fields = &e["header_fields"];
        assert_eq!(
            u64::from(packet.flags()),
            fields["flags_byte"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(type_name(&packet.body), fields["type"], "{name}");
        match e["bytes"].as_str() {
            Some(bytes) => assert_eq!(to_hex(&buf), bytes, "{name}: bytes"),
            None => {
                // The 1 MiB entry: the vector gives the length and says the body is all zeros.
                let len = fields["body_length"].as_u64().unwrap() as usize;
                assert_eq!(buf.len(), 9 + len, "{name}");
                assert!(buf[9..].iter().all(|&b| b == 0), "{name}");
            }
        }
        // And it reads back as the same packet.
        assert_eq!(
            decode_all(&buf),
            vec![Frame::Packet(packet)],
            "{name}: round trip"
        );
        checked += 1;
    }
    assert_eq!(checked, 21);
}

/// HAZARD entries: JS writes an empty string or buffer with body length 0, which every JS reader
/// takes as the goodbye. We check that JS's bytes do read as the goodbye, and that our encoder
/// writes the JSON string `""` (type 2) instead, which a JS reader decodes as the empty string.
#[test]
fn encode_hazards_are_never_emitted() {
    let v = load("packet-stream-codec.json");
    let hazards: Vec<&Value> = v["encode"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].as_str().unwrap().starts_with("hazard-"))
        .collect();
    assert_eq!(hazards.len(), 2);
    for e in hazards {
        let name = e["name"].as_str().unwrap();
        let js_bytes = hex(e["bytes"].as_str().unwrap());
        assert_eq!(
            decode_all(&js_bytes),
            vec![Frame::Goodbye],
            "{name}: JS bytes"
        );
        let packet = packet_of(&e["input"]);
        let mut buf = BytesMut::new();
        PacketCodec::encode_packet(&packet, &mut buf).unwrap();
        assert_ne!(to_hex(&buf), to_hex(&js_bytes), "{name}");
        let flags = (buf[0] & 0x0c) | 0x02;
        let req = packet.req.to_be_bytes();
        let expected = [&[flags, 0, 0, 0, 2], &req[..], b"\"\""].concat();
        assert_eq!(buf.to_vec(), expected, "{name}");
        let decoded = decode_all(&buf);
        assert_eq!(
            decoded,
            vec![Frame::Packet(Packet::new(
                packet.req,
                packet.stream,
                packet.end,
                Body::Json(Value::String(String::new()))
            ))],
            "{name}"
        );
    }
}

#[test]
fn decode_entries_read_as_js_reads_them() {
    let v = load("packet-stream-codec.json");
    let entries = v["decode"].as_array().expect("decode entries");
    assert_eq!(entries.len(), 8);
    for e in entries {
        let name = e["name"].as_str().unwrap();
        let mut bytes = hex(e["header"].as_str().unwrap());
        if let Some(body) = e["body"].as_str() {
            bytes.extend(hex(body));
        }
        let mut codec = PacketCodec::default();
        if let Some(js) = e.get("js_decodes_as") {
            if js.as_str().is_some_and(|s| s.starts_with("GOODBYE")) {
                // Anything after the goodbye is never read.
                bytes.extend(hex("0e0000000400000001"));
                let mut buf = BytesMut::from(&bytes[..]);
                assert_eq!(
                    codec.decode(&mut buf).unwrap(),
                    Some(Frame::Goodbye),
                    "{name}"
                );
                assert_eq!(codec.decode(&mut buf).unwrap(), None, "{name}");
                assert!(codec.is_finished());
                continue;
            }
            // Header-only entries: supply a body of the announced length and type.
            let len = js["length"].as_u64().unwrap() as usize;
            let filler: &[u8] = match (js["type"].as_str().unwrap(), len) {
                ("json", 2) => b"{}",
                ("json", 4) => b"true",
                other => panic!("{name}: no filler for {other:?}"),
            };
            bytes.extend(filler);
            let mut buf = BytesMut::from(&bytes[..]);
            let Some(Frame::Packet(p)) = codec.decode(&mut buf).unwrap() else {
                panic!("{name}: expected a packet");
            };
            assert_eq!(i64::from(p.req), js["req"].as_i64().unwrap(), "{name}");
            assert_eq!(p.stream, js["stream"].as_bool().unwrap(), "{name}");
            assert_eq!(p.end, js["end"].as_bool().unwrap(), "{name}");
            assert_eq!(type_name(&p.body), js["type"], "{name}");
            continue;
        }
        let js = &e["js_result"];
        let mut buf = BytesMut::from(&bytes[..]);
        let result = codec.decode(&mut buf);
        if let Some(err) = js.get("error").and_then(Value::as_str) {
            let ours = result.expect_err(name);
            if err.contains("unknown message type") {
                assert!(
                    matches!(ours, CodecError::UnknownBodyType { .. }),
                    "{name}: {ours}"
                );
                assert!(ours.to_string().contains("unknown message type"));
            } else {
                assert!(
                    matches!(ours, CodecError::InvalidJson { .. }),
                    "{name}: {ours}"
                );
            }
            continue;
        }
        let Some(Frame::Packet(p)) = result.expect(name) else {
            panic!("{name}: expected a packet");
        };
        assert_eq!(p.body, body_of(&js["value"]), "{name}");
    }
}

#[test]
fn stream_decode_in_odd_pieces() {
    let v = load("packet-stream-codec.json");
    let sd = &v["stream_decode"];
    let mut codec = PacketCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in sd["input_pieces"].as_array().unwrap() {
        buf.extend_from_slice(&hex(piece.as_str().unwrap()));
        while let Some(frame) = codec.decode(&mut buf).expect("no error in stream_decode") {
            frames.push(frame);
        }
    }
    assert!(sd["js_error"].is_null());
    let expected = sd["js_packets"].as_array().unwrap();
    assert_eq!(frames.len(), expected.len());
    for (frame, js) in frames.iter().zip(expected) {
        match frame {
            Frame::Goodbye => assert_eq!(js, "GOODBYE"),
            Frame::Packet(p) => {
                assert_eq!(i64::from(p.req), js["req"].as_i64().unwrap());
                assert_eq!(p.stream, js["stream"].as_bool().unwrap());
                assert_eq!(p.end, js["end"].as_bool().unwrap());
                assert_eq!(type_name(&p.body), js["type"]);
                assert_eq!(p.body, body_of(&js["value"]));
            }
        }
    }
}

#[test]
fn oversize_body_is_a_typed_error_before_the_body_arrives() {
    let mut codec = PacketCodec::new(1024);
    let mut buf = BytesMut::from(&hex("0200100000ffffffff")[..]);
    match codec.decode(&mut buf) {
        Err(CodecError::BodyTooLarge { req, len, max }) => {
            assert_eq!((req, len, max), (-1, 1_048_576, 1024));
        }
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
}
