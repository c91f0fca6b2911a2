//! Support code shared by the fuzz targets of secret-stack: reading structure out of the fuzzer's
//! bytes ([`input`]), the peer's side of the secret handshake computed independently of the crate
//! ([`shs`]), box-stream frames of any announced length ([`frames`]) and an in-memory transport
//! that hands its bytes out in fuzzer-chosen pieces ([`chunked`]), and a `#[plugin]` callee for the
//! RPC targets ([`callee`]).
//!
//! Everything here is test code: it may panic, because a panic is how a target reports a broken
//! expectation to libFuzzer.

pub mod callee;
pub mod chunked;
pub mod frames;
pub mod input;
pub mod shs;

/// Decodes a lower-case hex literal at compile time (for the fixed keys of the targets).
pub const fn hex<const N: usize>(text: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let bytes = text.as_bytes();
    assert!(bytes.len() == 2 * N, "hex literal of the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = nibble(bytes[2 * i]) << 4 | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}
