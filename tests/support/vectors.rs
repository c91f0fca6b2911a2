//! Loads the JSON test vectors that sit in `../shared/vectors` beside the repository.
//!
//! A missing vector file is a test failure with a message saying where it was looked for: the vectors
//! are the ground truth and a run without them proves nothing.

use std::path::PathBuf;

use serde_json::Value;

/// The folder holding the vector files: `$SECRET_STACK_VECTORS` if set, else `../shared/vectors`
/// relative to the repository root.
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SECRET_STACK_VECTORS") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors")
}

/// Parses the vector file `name` (e.g. `"box-stream.json"`), panicking with a clear message if it is
/// missing or malformed.
pub fn load(name: &str) -> Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read test vectors {}: {e} (the shared/ folder must sit beside the repository)",
            path.display()
        )
    });
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Decodes a lower-case hex string from a vector file.
pub fn hex(s: &str) -> Vec<u8> {
    assert!(
        s.len().is_multiple_of(2),
        "odd-length hex string in vectors: {s}"
    );
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .unwrap_or_else(|_| panic!("bad hex in vectors: {s}"))
        })
        .collect()
}

/// Decodes a hex field of `value` into a fixed-size array.
pub fn hex_array<const N: usize>(value: &Value) -> [u8; N] {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {value}"));
    let v = hex(s);
    v.as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("expected {N} bytes, got {} in {s}", v.len()))
}

/// Encodes bytes as lower-case hex, for comparing against vector fields.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
