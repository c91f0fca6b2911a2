//! Writing answers on stdout: one JSON value per line, flushed at once so that a stream's items
//! show as they arrive. Binary bodies are printed as a JSON string of their base64, with a note
//! on stderr (once per command).

use std::io::Write;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secret_stack::rpc::Body;
use serde_json::Value;

use crate::failure::Failure;

/// Writes `text` and a newline on stdout, and flushes. A closed stdout (`| head`) is
/// [`Failure::StdoutClosed`].
pub fn line(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => Failure::StdoutClosed,
            _ => Failure::usage(format!("cannot write to stdout: {e}")),
        })
}

/// Prints bodies as JSON lines.
#[derive(Debug, Default)]
pub struct Printer {
    noted_binary: bool,
}

impl Printer {
    /// Prints one body: JSON as it is, text as a JSON string, binary as a JSON string of its
    /// standard base64.
    pub fn print(&mut self, body: Body) -> Result<(), Failure> {
        let value = match body {
            Body::Binary(bytes) => {
                if !self.noted_binary {
                    self.noted_binary = true;
                    eprintln!("secret-stack: note: binary answers are printed as base64 strings");
                }
                Value::String(STANDARD.encode(&bytes))
            }
            other => other.into_json(),
        };
        line(&value.to_string())
    }
}
