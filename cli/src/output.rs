//! Writing answers on stdout: one JSON value per line, flushed at once so that a stream's items
//! show as they arrive. Binary bodies are printed as a JSON string of their base64, with a note
//! on stderr (once per command) — or, with `--raw`, written as the bytes they are.

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secret_stack::rpc::Body;
use serde_json::Value;

use crate::failure::Failure;

/// Writes `text` and a newline on stdout, and flushes. A closed stdout (`| head`) is
/// [`Failure::StdoutClosed`].
pub fn line(text: &str) -> Result<(), Failure> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    bytes(line.as_bytes())
}

/// Writes `data` on stdout as it is, and flushes.
fn bytes(data: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::StdoutClosed,
            _ => Failure::usage(format!("cannot write to stdout: {e}")),
        })
}

/// Prints bodies: as JSON lines, or (`--raw`) binary bodies as their bytes.
#[derive(Debug, Default)]
pub struct Printer {
    raw: bool,
    noted_binary: bool,
}

impl Printer {
    /// A printer; `raw` writes binary bodies as they are instead of as base64 strings.
    pub fn new(raw: bool) -> Printer {
        Printer {
            raw,
            noted_binary: false,
        }
    }

    /// Prints one body: JSON as a line of JSON, text as a JSON string, binary as a JSON string of
    /// its standard base64 — or, when raw, binary as its bytes and text as its UTF-8 bytes (with
    /// no newline added to either; JSON stays a line).
    pub fn print(&mut self, body: Body) -> Result<(), Failure> {
        let value = match body {
            Body::Binary(data) if self.raw => return bytes(&data),
            Body::Text(text) if self.raw => return bytes(text.as_bytes()),
            Body::Binary(data) => {
                if !self.noted_binary {
                    self.noted_binary = true;
                    eprintln!(
                        "secret-stack: note: binary answers are printed as base64 strings \
                         (--raw writes their bytes)"
                    );
                }
                Value::String(STANDARD.encode(&data))
            }
            other => other.into_json(),
        };
        line(&value.to_string())
    }
}
