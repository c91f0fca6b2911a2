//! Box-stream tests: the JS vectors of `box-stream.json` reproduced byte for byte, the documented
//! reactions to broken input, round trips over in-memory pipes, and agreement with RustCrypto's
//! `crypto_secretbox` at the frame level.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use secret_stack::box_stream::{
    self, BoxKey, BoxReader, BoxStreamError, BoxWriter, Decoded, FRAME_HEADER_LEN, FrameDecoder,
    FrameEncoder, FramePart, Nonce,
};
use secret_stack_tests::vectors::{hex, hex_array, load, to_hex};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

// ---------------------------------------------------------------------------------------------
// Helpers

fn box_key(case: &Value) -> BoxKey {
    BoxKey {
        key: hex_array(&case["key"]),
        nonce: hex_array(&case["nonce"]),
    }
}

fn hex_list(value: &Value) -> Vec<Vec<u8>> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected an array of hex strings, got {value}"))
        .iter()
        .map(|v| hex(v.as_str().expect("hex string")))
        .collect()
}

fn cases(field: &str) -> Vec<Value> {
    let file = load("box-stream.json");
    let list = file[field]
        .as_array()
        .unwrap_or_else(|| panic!("box-stream.json has no `{field}` array"))
        .clone();
    assert!(!list.is_empty(), "box-stream.json `{field}` is empty");
    list
}

/// SplitMix64, seeded from the OS and printed, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = getrandom::u64().expect("os randomness");
        eprintln!("seed {seed:#x}");
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
    fn box_key(&mut self) -> BoxKey {
        BoxKey {
            key: self.bytes(32).try_into().expect("32"),
            nonce: self.bytes(24).try_into().expect("24"),
        }
    }
}

/// A sink that records every write and flush and accepts at most `max_write` bytes per write.
#[derive(Default)]
struct Sink {
    data: Vec<u8>,
    writes: usize,
    flushes: usize,
    shutdowns: usize,
    max_write: Option<usize>,
}

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.max_write.unwrap_or(usize::MAX));
        self.data.extend_from_slice(&buf[..n]);
        self.writes += 1;
        Poll::Ready(Ok(n))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shutdowns += 1;
        Poll::Ready(Ok(()))
    }
}

/// A reader handing out its bytes at most `step` at a time.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .step
            .max(1)
            .min(buf.remaining())
            .min(self.data.len() - self.pos);
        let from = self.pos;
        buf.put_slice(&self.data[from..from + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// What reading a whole stream gave: the bytes delivered, then a clean end or an error.
struct Outcome {
    bytes: Vec<u8>,
    end: Result<(), io::Error>,
    goodbye: bool,
}

/// Reads `input` through a `BoxReader` with reads of at most `read_size` bytes until it ends.
async fn read_all(key: &BoxKey, input: &[u8], step: usize, read_size: usize) -> Outcome {
    let trickle = Trickle {
        data: input.to_vec(),
        pos: 0,
        step,
    };
    let mut reader = BoxReader::new(trickle, key);
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; read_size];
    let end = loop {
        match reader.read(&mut buf).await {
            Ok(0) => break Ok(()),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(err) => break Err(err),
        }
    };
    Outcome {
        bytes,
        end,
        goodbye: reader.goodbye_received(),
    }
}

/// Decodes `input` frame by frame with the sync decoder: the chunks, then the end.
fn decode_frames(key: &BoxKey, input: &[u8]) -> (Vec<Vec<u8>>, Result<(), BoxStreamError>) {
    let mut decoder = FrameDecoder::new(key);
    let mut buf = input.to_vec();
    let mut pos = 0;
    let mut chunks = Vec::new();
    loop {
        match decoder.decode(&mut buf[pos..]) {
            Ok(Some(Decoded::Data {
                consumed,
                plaintext,
            })) => {
                chunks.push(buf[pos + plaintext.start..pos + plaintext.end].to_vec());
                pos += consumed;
            }
            Ok(Some(Decoded::Goodbye { .. })) => return (chunks, Ok(())),
            Ok(None) => {
                let end = decoder.end_of_input(buf.len() - pos);
                return (chunks, end.map_or(Ok(()), Err));
            }
            Err(err) => return (chunks, Err(err)),
        }
    }
}

fn typed(err: &io::Error) -> &BoxStreamError {
    BoxStreamError::from_io(err).unwrap_or_else(|| panic!("not a box-stream error: {err:?}"))
}

// ---------------------------------------------------------------------------------------------
// `cases`: encryption and decryption byte for byte

/// Each plaintext chunk is one write followed by a flush, as each JS write is one chunk.
#[tokio::test]
async fn cases_encrypt_byte_for_byte_through_the_writer() {
    for case in cases("cases") {
        let name = case["name"].as_str().expect("name");
        let key = box_key(&case);
        let frames = case["frames"].as_array().expect("frames");
        let mut frames = frames.iter();
        let mut writer = BoxWriter::new(Sink::default(), &key);
        for chunk in hex_list(&case["plaintext_chunks"]) {
            let before = writer.get_ref().data.len();
            writer.write_all(&chunk).await.expect("write");
            writer.flush().await.expect("flush");
            let emitted = &writer.get_ref().data[before..];
            let mut expected = Vec::new();
            for _ in 0..chunk.len().div_ceil(4096) * 2 {
                let frame = frames
                    .next()
                    .unwrap_or_else(|| panic!("{name}: frames run out"));
                expected.extend(hex(frame["bytes"].as_str().expect("bytes")));
            }
            assert_eq!(
                to_hex(emitted),
                to_hex(&expected),
                "{name}: frames of a chunk"
            );
        }
        let before = writer.get_ref().data.len();
        writer.shutdown().await.expect("shutdown");
        let goodbye = frames
            .next()
            .unwrap_or_else(|| panic!("{name}: no goodbye frame"));
        assert_eq!(goodbye["kind"], "goodbye", "{name}");
        assert_eq!(
            to_hex(&writer.get_ref().data[before..]),
            goodbye["bytes"].as_str().expect("bytes"),
            "{name}: goodbye"
        );
        assert!(frames.next().is_none(), "{name}: frames left over");
        let sink = writer.into_inner();
        assert_eq!(to_hex(&sink.data), case["ciphertext"], "{name}: ciphertext");
        assert_eq!(sink.shutdowns, 1, "{name}: transport shut down once");
    }
}

/// The sync encoder gives the same frames, and each frame's nonce matches the vector's.
#[test]
fn cases_encrypt_with_the_sync_encoder_and_nonces_match() {
    for case in cases("cases") {
        let name = case["name"].as_str().expect("name");
        let mut encoder = FrameEncoder::new(&box_key(&case));
        let mut out = Vec::new();
        let mut frames = case["frames"].as_array().expect("frames").iter();
        for chunk in hex_list(&case["plaintext_chunks"]) {
            for piece in chunk.chunks(4096) {
                let header = frames.next().expect("header frame");
                let body = frames.next().expect("body frame");
                assert_eq!(header["kind"], "header", "{name}");
                assert_eq!(
                    to_hex(encoder.nonce().as_bytes()),
                    header["nonce"],
                    "{name}"
                );
                assert_eq!(
                    to_hex(encoder.nonce().next().as_bytes()),
                    body["nonce"],
                    "{name}"
                );
                assert_eq!(header["body_length"], piece.len(), "{name}");
                encoder.encode_to_vec(piece, &mut out).expect("encode");
            }
        }
        let goodbye = frames.next().expect("goodbye frame");
        assert_eq!(
            to_hex(encoder.nonce().as_bytes()),
            goodbye["nonce"],
            "{name}"
        );
        let mut bye = [0u8; FRAME_HEADER_LEN];
        encoder.seal_goodbye(&mut bye).expect("goodbye");
        out.extend_from_slice(&bye);
        assert_eq!(to_hex(&out), case["ciphertext"], "{name}");
    }
}

#[tokio::test]
async fn cases_decrypt_back_to_the_chunks() {
    for case in cases("cases") {
        let name = case["name"].as_str().expect("name");
        let key = box_key(&case);
        let ciphertext = hex(case["ciphertext"].as_str().expect("ciphertext"));
        let expected = hex_list(&case["decrypted_chunks"]);

        let (chunks, end) = decode_frames(&key, &ciphertext);
        assert_eq!(chunks, expected, "{name}: frames");
        assert_eq!(end, Ok(()), "{name}");

        for (step, read_size) in [(ciphertext.len().max(1), 65536), (7, 3), (4130, 4096)] {
            let out = read_all(&key, &ciphertext, step, read_size).await;
            assert_eq!(out.bytes, expected.concat(), "{name}: step {step}");
            assert!(out.end.is_ok(), "{name}: {:?}", out.end);
            assert!(out.goodbye, "{name}: goodbye seen");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// `decode_cases`: broken input

/// How our reader answers each decode case; `None` is a clean end after the goodbye.
fn expected_decode(name: &str) -> (Vec<u8>, Option<BoxStreamError>) {
    let hello = b"hello".to_vec();
    match name {
        "tampered-header" => (vec![], Some(BoxStreamError::InvalidHeader)),
        "tampered-body" => (vec![], Some(BoxStreamError::InvalidPacket)),
        "missing-goodbye" => (hello, Some(BoxStreamError::MissingGoodbye)),
        "truncated-header" => (
            vec![],
            Some(BoxStreamError::Truncated {
                part: FramePart::Header,
                got: 10,
                wanted: 34,
            }),
        ),
        "truncated-body" => (
            vec![],
            Some(BoxStreamError::Truncated {
                part: FramePart::Body,
                got: 2,
                wanted: 5,
            }),
        ),
        "bytes-after-goodbye" => (hello, None),
        "replayed-frame" => (hello, Some(BoxStreamError::InvalidHeader)),
        // Accepted like JS: bodies up to 65535 bytes.
        "oversize-body-5000" => (Vec::new(), None),
        // Our documented choice: an error where JS delivers an empty chunk.
        "zero-length-body-header" => (vec![], Some(BoxStreamError::EmptyBody)),
        other => panic!("decode case {other} has no expectation here: add one"),
    }
}

#[tokio::test]
async fn decode_cases_behave_as_documented() {
    for case in cases("decode_cases") {
        let name = case["name"].as_str().expect("name");
        let key = box_key(&case);
        let input = hex(case["ciphertext"].as_str().expect("ciphertext"));
        let js = &case["js_result"];
        let (mut bytes, err) = expected_decode(name);

        // Where we agree with JS, the delivered chunks are JS's.
        let (chunks, end) = decode_frames(&key, &input);
        if let Some(lengths) = js.get("chunk_lengths") {
            let lengths: Vec<usize> = serde_json::from_value(lengths.clone()).expect("lengths");
            assert_eq!(
                chunks.iter().map(Vec::len).collect::<Vec<_>>(),
                lengths,
                "{name}"
            );
            bytes = chunks.concat();
        } else if err != Some(BoxStreamError::EmptyBody) {
            assert_eq!(chunks, hex_list(&js["chunks"]), "{name}: JS chunks");
        }
        assert_eq!(chunks.concat(), bytes, "{name}: sync chunks");
        assert_eq!(end.clone().err(), err, "{name}: sync end");
        if let Some(js_err) = js["err"].as_str()
            && matches!(
                err,
                Some(BoxStreamError::InvalidHeader | BoxStreamError::InvalidPacket)
            )
        {
            assert_eq!(
                err.as_ref().map(ToString::to_string).as_deref(),
                Some(js_err)
            );
        }
        assert_eq!(
            js["err"].is_null(),
            err.is_none() || err == Some(BoxStreamError::EmptyBody)
        );

        for (step, read_size) in [(input.len(), 65536), (1, 2)] {
            let out = read_all(&key, &input, step, read_size).await;
            assert_eq!(out.bytes, bytes, "{name}: async bytes (step {step})");
            match (&out.end, &err) {
                (Ok(()), None) => assert!(out.goodbye, "{name}"),
                (Err(got), Some(want)) => {
                    assert_eq!(typed(got), want, "{name}");
                    assert_eq!(got.kind(), want.io_kind(), "{name}");
                    assert!(!out.goodbye, "{name}");
                }
                (got, want) => panic!("{name}: got {got:?}, expected {want:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_failed_reader_stays_failed_and_reads_nothing_more() {
    let case = cases("decode_cases")
        .into_iter()
        .find(|c| c["name"] == "replayed-frame")
        .expect("replayed-frame case");
    let input = hex(case["ciphertext"].as_str().expect("ciphertext"));
    let mut reader = BoxReader::new(&input[..], &box_key(&case));
    let mut buf = [0u8; 64];
    assert_eq!(reader.read(&mut buf).await.expect("hello"), 5);
    for _ in 0..3 {
        let err = reader.read(&mut buf).await.expect_err("stays failed");
        assert_eq!(typed(&err), &BoxStreamError::InvalidHeader);
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}

// ---------------------------------------------------------------------------------------------
// The writer's batching and closing

#[tokio::test]
async fn writes_are_buffered_until_flush_and_sent_in_one_transport_write() {
    let key = Rng::new().box_key();
    let mut writer = BoxWriter::new(Sink::default(), &key);
    writer.write_all(&[]).await.expect("empty write");
    writer.flush().await.expect("flush");
    assert!(
        writer.get_ref().data.is_empty(),
        "a zero-length write emits nothing"
    );

    writer.write_all(&[1; 40_000]).await.expect("write");
    writer.write_all(&[2; 24_000]).await.expect("write");
    assert_eq!(
        writer.get_ref().writes,
        0,
        "nothing is written before a flush"
    );
    writer.flush().await.expect("flush");
    let sink = writer.get_ref();
    assert_eq!(sink.writes, 1, "all 16 frames in one transport write");
    assert_eq!(sink.data.len(), 64_000 + 16 * FRAME_HEADER_LEN);
    assert_eq!(sink.flushes, 2);
}

#[tokio::test]
async fn more_than_the_buffer_goes_out_without_a_flush_and_partial_writes_resume() {
    let mut rng = Rng::new();
    let key = rng.box_key();
    let payload = rng.bytes(300_000);
    let sink = Sink {
        max_write: Some(1000),
        ..Sink::default()
    };
    let mut writer = BoxWriter::new(sink, &key);
    writer.write_all(&payload).await.expect("write");
    assert!(
        !writer.get_ref().data.is_empty(),
        "a full buffer is pushed out"
    );
    writer.shutdown().await.expect("shutdown");
    let wire = writer.into_inner().data;
    let out = read_all(&key, &wire, wire.len(), 1 << 20).await;
    assert!(out.end.is_ok() && out.goodbye);
    assert_eq!(out.bytes, payload);
}

#[tokio::test]
async fn writing_after_shutdown_is_a_broken_pipe() {
    let key = Rng::new().box_key();
    let mut writer = BoxWriter::new(Sink::default(), &key);
    writer.write_all(b"last words").await.expect("write");
    writer.shutdown().await.expect("shutdown");
    assert!(writer.is_shut_down());
    let err = writer.write_all(b"more").await.expect_err("closed");
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    assert_eq!(typed(&err), &BoxStreamError::WriterClosed);
    writer.shutdown().await.expect("second shutdown is a no-op");
    let sink = writer.into_inner();
    assert_eq!(sink.shutdowns, 1);
    assert_eq!(
        sink.data.len(),
        FRAME_HEADER_LEN + 10 + FRAME_HEADER_LEN,
        "frame then goodbye"
    );
}

// ---------------------------------------------------------------------------------------------
// Round trips over an in-memory duplex pipe

async fn round_trip(sizes: Vec<usize>, pipe: usize, read_size: usize, rng: &mut Rng) {
    let key = rng.box_key();
    let writes: Vec<Vec<u8>> = sizes.iter().map(|&n| rng.bytes(n)).collect();
    let flush_mask = rng.next_u64();
    let (a, b) = tokio::io::duplex(pipe);
    let (r, w) = tokio::io::split(a);
    let (_r_unused, mut writer) = box_stream::pair(r, w, key.clone(), key.clone());
    let expected = writes.concat();
    let send = tokio::spawn(async move {
        for (i, chunk) in writes.iter().enumerate() {
            writer.write_all(chunk).await.expect("write");
            if flush_mask >> (i % 64) & 1 == 1 {
                writer.flush().await.expect("flush");
            }
        }
        writer.shutdown().await.expect("shutdown");
    });
    let mut reader = BoxReader::new(b, &key);
    let mut got = Vec::new();
    let mut buf = vec![0u8; read_size];
    loop {
        let n = reader.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    send.await.expect("writer task");
    assert!(reader.goodbye_received());
    assert_eq!(got.len(), expected.len(), "sizes {sizes:?}");
    assert!(got == expected, "plaintext differs (sizes {sizes:?})");
}

#[tokio::test]
async fn round_trips_over_duplex_with_edge_and_random_sizes() {
    let mut rng = Rng::new();
    let edges = vec![0, 1, 4095, 4096, 4097, 0, 65535, 65536, 65537, 8192, 3, 0];
    round_trip(edges.clone(), 64 * 1024, 65536, &mut rng).await;
    round_trip(edges, 333, 17, &mut rng).await;
    for _ in 0..20 {
        let count = 1 + rng.below(12);
        let sizes: Vec<usize> = (0..count)
            .map(|_| match rng.below(4) {
                0 => 0,
                1 => rng.below(64),
                2 => rng.below(9000),
                _ => rng.below(140_000),
            })
            .collect();
        let pipe = 1 + rng.below(80_000);
        let read_size = 1 + rng.below(70_000);
        round_trip(sizes, pipe, read_size, &mut rng).await;
    }
}

#[tokio::test]
async fn eof_without_goodbye_is_an_error_and_goodbye_is_a_clean_eof() {
    let key = Rng::new().box_key();

    let (a, b) = tokio::io::duplex(1 << 16);
    let mut writer = BoxWriter::new(a, &key);
    writer.write_all(b"no goodbye").await.expect("write");
    writer.flush().await.expect("flush");
    drop(writer);
    let mut reader = BoxReader::new(b, &key);
    let mut got = Vec::new();
    let err = reader.read_to_end(&mut got).await.expect_err("hangup");
    assert_eq!(got, b"no goodbye");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(typed(&err), &BoxStreamError::MissingGoodbye);
    assert!(typed(&err).is_hangup());
    assert!(!reader.goodbye_received());

    let (a, b) = tokio::io::duplex(1 << 16);
    let mut writer = BoxWriter::new(a, &key);
    writer.write_all(b"bye now").await.expect("write");
    writer.shutdown().await.expect("shutdown");
    let mut reader = BoxReader::new(b, &key);
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.expect("clean end");
    assert_eq!(got, b"bye now");
    assert!(reader.goodbye_received());
    assert_eq!(reader.read(&mut [0u8; 8]).await.expect("still ended"), 0);
}

// ---------------------------------------------------------------------------------------------
// Agreement with RustCrypto crypto_secretbox at the frame level

/// Opens a box stream with crypto_secretbox alone: the chunks, and whether a goodbye ended it.
fn open_with_crypto_secretbox(key: &BoxKey, wire: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let cipher = XSalsa20Poly1305::new(&key.key.into());
    let mut nonce = Nonce::new(key.nonce);
    let mut chunks = Vec::new();
    let mut rest = wire;
    while rest.len() >= FRAME_HEADER_LEN {
        let (tag, ct) = rest[..FRAME_HEADER_LEN].split_at(16);
        let mut header = ct.to_vec();
        cipher
            .decrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut header, tag.into())
            .expect("header opens with crypto_secretbox");
        if header == [0u8; 18] {
            return (chunks, true);
        }
        let len = usize::from(u16::from_be_bytes([header[0], header[1]]));
        let mut body = rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len].to_vec();
        cipher
            .decrypt_in_place_detached(
                nonce.next().as_bytes().into(),
                b"",
                &mut body,
                header[2..].into(),
            )
            .expect("body opens with crypto_secretbox");
        chunks.push(body);
        nonce.advance_frame();
        rest = &rest[FRAME_HEADER_LEN + len..];
    }
    (chunks, false)
}

/// Seals a box stream with crypto_secretbox alone, one frame per piece, then the goodbye.
fn seal_with_crypto_secretbox(key: &BoxKey, pieces: &[Vec<u8>]) -> Vec<u8> {
    let cipher = XSalsa20Poly1305::new(&key.key.into());
    let mut nonce = Nonce::new(key.nonce);
    let mut wire = Vec::new();
    let seal_header = |nonce: &Nonce, plain: &[u8], wire: &mut Vec<u8>| {
        let mut header = plain.to_vec();
        let tag = cipher
            .encrypt_in_place_detached(nonce.as_bytes().into(), b"", &mut header)
            .expect("seal header");
        wire.extend_from_slice(&tag);
        wire.extend_from_slice(&header);
    };
    for piece in pieces {
        let mut body = piece.clone();
        let tag = XSalsa20Poly1305::new(&key.key.into())
            .encrypt_in_place_detached(nonce.next().as_bytes().into(), b"", &mut body)
            .expect("seal body");
        let mut plain = (piece.len() as u16).to_be_bytes().to_vec();
        plain.extend_from_slice(&tag);
        seal_header(&nonce, &plain, &mut wire);
        wire.extend_from_slice(&body);
        nonce.advance_frame();
    }
    seal_header(&nonce, &[0u8; 18], &mut wire);
    wire
}

#[tokio::test]
async fn writer_output_opens_with_crypto_secretbox_and_reader_opens_its_frames() {
    let mut rng = Rng::new();
    for _ in 0..30 {
        let key = rng.box_key();
        let sizes: Vec<usize> = (0..1 + rng.below(6)).map(|_| rng.below(10_000)).collect();
        let writes: Vec<Vec<u8>> = sizes.iter().map(|&n| rng.bytes(n)).collect();

        let mut writer = BoxWriter::new(Sink::default(), &key);
        for chunk in &writes {
            writer.write_all(chunk).await.expect("write");
            writer.flush().await.expect("flush");
        }
        writer.shutdown().await.expect("shutdown");
        let wire = writer.into_inner().data;
        let (chunks, goodbye) = open_with_crypto_secretbox(&key, &wire);
        assert!(goodbye, "goodbye opens with crypto_secretbox");
        let expected: Vec<Vec<u8>> = writes
            .iter()
            .flat_map(|w| w.chunks(4096).map(<[u8]>::to_vec))
            .collect();
        assert_eq!(chunks, expected);

        // The other way: frames sealed by crypto_secretbox (up to the 65535 a reader accepts).
        let pieces: Vec<Vec<u8>> = (0..1 + rng.below(5))
            .map(|_| {
                let bound = if rng.below(4) == 0 { 65535 } else { 5000 };
                let len = 1 + rng.below(bound);
                rng.bytes(len)
            })
            .collect();
        let wire = seal_with_crypto_secretbox(&key, &pieces);
        let (step, read_size) = (1 + rng.below(wire.len()), 1 + rng.below(70_000));
        let out = read_all(&key, &wire, step, read_size).await;
        assert!(out.end.is_ok() && out.goodbye, "{:?}", out.end);
        assert_eq!(out.bytes, pieces.concat());
    }
}
