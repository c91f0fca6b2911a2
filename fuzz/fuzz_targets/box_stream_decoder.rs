//! Box-stream input through `FrameDecoder` and `BoxReader`.
//!
//! Input: a mode byte, then
//! * mode 0 (raw): key (32) ‖ nonce (24) ‖ schedule seed (8) ‖ arbitrary ciphertext. The vector
//!   cases are seeds of this form. The decoder fed everything at once, the decoder fed in
//!   scheduled pieces, and `BoxReader` over a trickling transport must all agree.
//! * mode 1 (structured): schedule seed (8) ‖ operations building a stream under a fixed key:
//!   frames of chosen length and content (1..=4096 sealed by the crate, other announced lengths —
//!   0, up to 65535, or lying about the body — sealed here), goodbyes, garbage, replays, bit flips,
//!   truncation. All three readers must deliver exactly the plaintext of the intact frames up to
//!   the first bad piece and end as the record says.

#![no_main]

use std::pin::Pin;

use libfuzzer_sys::fuzz_target;
use secret_stack::box_stream::{BoxKey, BoxReader, BoxStreamError, Decoded, FrameDecoder};
use secret_stack_fuzz::chunked::{ChunkedReader, is_injected, poll_until_ready};
use secret_stack_fuzz::frames::{Ending, Expected, StreamBuilder};
use secret_stack_fuzz::input::{Input, Schedule};
use tokio::io::{AsyncRead, ReadBuf};

/// The structured mode stops adding pieces past this many bytes: each stream is decoded three
/// ways under AddressSanitizer, and longer ones cost executions without reaching new states.
const MAX_STREAM: usize = 1 << 15;

/// How one reader ended, after the plaintext it delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Goodbye,
    Failed(BoxStreamError),
}

/// Everything a reader delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    plaintext: Vec<u8>,
    outcome: Outcome,
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    if input.byte().is_multiple_of(2) {
        raw(&mut input);
    } else {
        structured(&mut input);
    }
});

fn raw(input: &mut Input<'_>) {
    let key = BoxKey {
        key: input.array(),
        nonce: input.array(),
    };
    let seed = u64::from_be_bytes(input.array());
    let ciphertext = input.rest().to_vec();
    let runs = decode_three_ways(&key, &ciphertext, seed);
    // Without a record of what was sent, the only oracle is that all readers agree.
    let _ = runs;
}

fn structured(input: &mut Input<'_>) {
    let key = BoxKey {
        key: [0x42; 32],
        // Close to the carry so frames cross a 2^8 and 2^16 boundary of the nonce counter.
        nonce: {
            let mut nonce = [0xff; 24];
            nonce[0] = 0x01;
            nonce
        },
    };
    let seed = u64::from_be_bytes(input.array());
    let mut stream = StreamBuilder::new(&key);
    while !input.is_empty() && stream.bytes().len() < MAX_STREAM {
        match input.byte() % 8 {
            // A frame of 1..=4096 bytes of fuzzer content: the common case.
            0..=2 => {
                let len = usize::from(input.u16()) % 4096 + 1;
                let body = body(input, len);
                stream.frame(&body, len as u16);
            }
            // A frame announcing any length, with a body of possibly another length.
            3 => {
                let announced = input.u16();
                let len = if input.byte() & 1 == 0 {
                    usize::from(announced)
                } else {
                    usize::from(input.u16())
                };
                let body = body(input, len);
                stream.frame(&body, announced);
            }
            4 => stream.goodbye(),
            5 => {
                let len = usize::from(input.byte());
                stream.garbage(input.take(len));
            }
            6 => {
                let position = usize::from(input.u16()) << 2 | usize::from(input.byte() & 3);
                let mask = input.byte();
                if mask & 0x80 != 0 && mask & 0x40 != 0 {
                    stream.replay(usize::from(mask));
                } else {
                    stream.flip(position, mask);
                }
            }
            _ => {
                let cut = usize::from(input.u16()) << 2;
                stream.truncate(cut);
            }
        }
    }
    let expected = stream.expected();
    for run in decode_three_ways(&key, stream.bytes(), seed) {
        check(&run, &expected);
    }
}

/// `len` bytes of plaintext: a short fuzzer-chosen pattern repeated.
fn body(input: &mut Input<'_>, len: usize) -> Vec<u8> {
    let pattern_len = usize::from(input.byte() % 16) + 1;
    let pattern = input.take(pattern_len).to_vec();
    if pattern.is_empty() {
        return vec![0; len];
    }
    pattern.iter().copied().cycle().take(len).collect()
}

fn check(run: &Run, expected: &Expected) {
    assert!(
        run.plaintext == expected.plaintext,
        "delivered {} bytes, expected {} (first difference at {:?}); ended with {:?}, expected {:?}",
        run.plaintext.len(),
        expected.plaintext.len(),
        run.plaintext
            .iter()
            .zip(&expected.plaintext)
            .position(|(a, b)| a != b),
        run.outcome,
        expected.ending
    );
    let ok = matches!(
        (&run.outcome, expected.ending),
        (Outcome::Goodbye, Ending::Goodbye)
            | (
                Outcome::Failed(BoxStreamError::MissingGoodbye),
                Ending::MissingGoodbye
            )
            | (
                Outcome::Failed(BoxStreamError::Truncated { .. }),
                Ending::Truncated
            )
            | (
                Outcome::Failed(
                    BoxStreamError::InvalidHeader
                        | BoxStreamError::InvalidPacket
                        | BoxStreamError::EmptyBody
                        | BoxStreamError::Truncated { .. },
                ),
                Ending::Refused,
            )
    );
    assert!(
        ok,
        "ended with {:?}, expected {:?}",
        run.outcome, expected.ending
    );
}

/// Decodes `ciphertext` all at once, in scheduled pieces, and through `BoxReader`; asserts the
/// three agree and returns them.
fn decode_three_ways(key: &BoxKey, ciphertext: &[u8], seed: u64) -> [Run; 3] {
    let whole = decode_whole(key, ciphertext);
    let pieces = decode_pieces(key, ciphertext, Schedule::new(seed));
    let reader = read_all(key, ciphertext, Schedule::new(seed ^ 0x5555));
    assert_eq!(whole, pieces, "decoder: whole input vs pieces");
    assert_eq!(whole, reader, "decoder vs BoxReader");
    [whole, pieces, reader]
}

/// Decodes from `buf[*start..]` until more input is needed; returns the outcome if the stream
/// ended.
fn drain(
    decoder: &mut FrameDecoder,
    buf: &mut [u8],
    start: &mut usize,
    plaintext: &mut Vec<u8>,
) -> Option<Outcome> {
    loop {
        let before = decoder.needed();
        match decoder.decode(&mut buf[*start..]) {
            Ok(Some(Decoded::Data {
                consumed,
                plaintext: range,
            })) => {
                assert!(consumed > 34 && range.end <= consumed, "frame bounds");
                plaintext.extend_from_slice(&buf[*start + range.start..*start + range.end]);
                *start += consumed;
            }
            Ok(Some(Decoded::Goodbye { consumed })) => {
                assert_eq!(consumed, 34, "first goodbye consumes its 34 bytes");
                assert!(decoder.is_finished());
                let again = decoder.decode(&mut buf[*start + consumed..]);
                assert_eq!(again, Ok(Some(Decoded::Goodbye { consumed: 0 })));
                return Some(Outcome::Goodbye);
            }
            Ok(None) => {
                assert!(
                    buf.len() - *start < decoder.needed(),
                    "needed() said enough"
                );
                return None;
            }
            Err(err) => {
                assert!(before > 0);
                assert_eq!(decoder.error(), Some(&err), "decoder stays failed");
                assert_eq!(decoder.decode(&mut buf[*start..]), Err(err.clone()));
                return Some(Outcome::Failed(err));
            }
        }
    }
}

fn decode_whole(key: &BoxKey, ciphertext: &[u8]) -> Run {
    let mut decoder = FrameDecoder::new(key);
    let mut buf = ciphertext.to_vec();
    let mut start = 0;
    let mut plaintext = Vec::new();
    let outcome = drain(&mut decoder, &mut buf, &mut start, &mut plaintext)
        .unwrap_or_else(|| hangup(&mut decoder, buf.len() - start));
    Run { plaintext, outcome }
}

fn decode_pieces(key: &BoxKey, ciphertext: &[u8], mut schedule: Schedule) -> Run {
    let mut decoder = FrameDecoder::new(key);
    let mut buf = Vec::new();
    let mut start = 0;
    let mut fed = 0;
    let mut plaintext = Vec::new();
    loop {
        if fed == ciphertext.len() {
            let outcome = hangup(&mut decoder, buf.len() - start);
            return Run { plaintext, outcome };
        }
        let n = schedule.size(ciphertext.len() - fed);
        buf.extend_from_slice(&ciphertext[fed..fed + n]);
        fed += n;
        if let Some(outcome) = drain(&mut decoder, &mut buf, &mut start, &mut plaintext) {
            return Run { plaintext, outcome };
        }
        // Drop consumed input now and then, as a real reader compacts its buffer.
        if start > 0 && schedule.next_u64().is_multiple_of(4) {
            buf.drain(..start);
            start = 0;
        }
    }
}

fn hangup(decoder: &mut FrameDecoder, buffered: usize) -> Outcome {
    let outcome = match decoder.end_of_input(buffered) {
        None => Outcome::Goodbye,
        Some(err) => Outcome::Failed(err),
    };
    if let Outcome::Failed(err) = &outcome {
        assert_eq!(decoder.error(), Some(err), "failed after the hangup");
    }
    outcome
}

fn read_all(key: &BoxKey, ciphertext: &[u8], mut schedule: Schedule) -> Run {
    let transport = ChunkedReader::new(ciphertext.to_vec(), schedule.clone(), true);
    schedule.next_u64();
    let mut reader = BoxReader::new(transport, key);
    let mut plaintext = Vec::new();
    let mut out = vec![0u8; 8192];
    // Each read makes progress or pends with a wake-up; this bounds a reader that spins.
    for _ in 0..(ciphertext.len() + 16) * 4 {
        let n = schedule.size(out.len());
        let mut buf = ReadBuf::new(&mut out[..n]);
        let result = poll_until_ready(10_000, |cx| Pin::new(&mut reader).poll_read(cx, &mut buf));
        match result {
            Ok(()) if buf.filled().is_empty() => {
                assert!(
                    reader.goodbye_received(),
                    "clean EOF only after the goodbye"
                );
                return Run {
                    plaintext,
                    outcome: Outcome::Goodbye,
                };
            }
            Ok(()) => plaintext.extend_from_slice(buf.filled()),
            Err(err) if is_injected(&err) => continue,
            Err(err) => {
                let Some(typed) = BoxStreamError::from_io(&err) else {
                    panic!("untyped error from BoxReader: {err}");
                };
                assert_eq!(err.kind(), typed.io_kind());
                return Run {
                    plaintext,
                    outcome: Outcome::Failed(typed.clone()),
                };
            }
        }
    }
    panic!("BoxReader did not finish a {}-byte input", ciphertext.len());
}
