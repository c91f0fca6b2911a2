//! Stdin as the items of a sink or duplex call.
//!
//! A blocking read of stdin cannot be cancelled, so it runs on a thread of its own (not Tokio's
//! blocking pool, whose shutdown would wait for it): the process can exit while that thread is
//! still waiting for a line, and the call's input stream ends as soon as the call has ended
//! ([`Input::finish`]), not when stdin does. What was read but not sent by then is counted, and
//! a note on stderr says so: typed input is never dropped silently.

use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::channel::oneshot;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, StreamExt};
use secret_stack::rpc::Body;
use tokio::sync::mpsc;

use crate::call::parse_value;
use crate::failure::Failure;

/// How many items may wait between the reading thread and the call.
const QUEUE: usize = 16;

/// The size of a binary chunk read with `--raw`.
const CHUNK: usize = 64 * 1024;

/// How stdin is cut into items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One item per non-blank line, parsed like a command-line argument ([`parse_value`]).
    Lines,
    /// Binary chunks of the bytes as they are (`--raw`).
    Raw,
}

/// What the reading thread and the call's stream share.
#[derive(Default)]
struct Progress {
    /// Items read from stdin.
    read: AtomicU64,
    /// Items the call has taken.
    taken: AtomicU64,
    /// Stdin has been read to its end (or failed).
    ended: AtomicBool,
    /// The read error that ended it early.
    error: Mutex<Option<String>>,
}

/// Stdin being read for one call.
pub struct Input {
    progress: Arc<Progress>,
    stop: Option<oneshot::Sender<()>>,
}

impl Input {
    /// Starts reading stdin on a thread; returns the handle and the items for the call.
    pub fn start(framing: Framing) -> Result<(Input, BoxStream<'static, Body>), Failure> {
        let progress = Arc::new(Progress::default());
        let (tx, mut rx) = mpsc::channel(QUEUE);
        let reader = Arc::clone(&progress);
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || read_stdin(framing, &tx, &reader))
            .map_err(|e| Failure::usage(format!("cannot start reading stdin: {e}")))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let taken = Arc::clone(&progress);
        let items = stream::poll_fn(move |cx| rx.poll_recv(cx))
            .inspect(move |_| {
                taken.taken.fetch_add(1, Ordering::Relaxed);
            })
            .take_until(stopped.map(|_| ()))
            .boxed();
        let input = Input {
            progress,
            stop: Some(stop),
        };
        Ok((input, items))
    }

    /// Ends the call's input (the call is over) and says on stderr what of stdin was not sent;
    /// a read error is a usage failure.
    pub fn finish(mut self) -> Result<(), Failure> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let progress = &self.progress;
        if let Some(e) = progress
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(Failure::usage(format!("cannot read stdin: {e}")));
        }
        let unsent = progress.read.load(Ordering::Relaxed) - progress.taken.load(Ordering::Relaxed);
        if unsent > 0 {
            eprintln!(
                "secret-stack: note: the call ended before the end of stdin: {unsent} item(s) \
                 already read were not sent, and nothing more is read"
            );
        } else if !progress.ended.load(Ordering::Relaxed) {
            eprintln!(
                "secret-stack: note: the call ended before the end of stdin: nothing more is read"
            );
        }
        Ok(())
    }
}

/// The reading thread: sends items until stdin ends, fails, or the call is over.
fn read_stdin(framing: Framing, tx: &mpsc::Sender<Body>, progress: &Progress) {
    let mut stdin = std::io::stdin().lock();
    loop {
        let item = match framing {
            Framing::Lines => next_line(&mut stdin),
            Framing::Raw => next_chunk(&mut stdin),
        };
        let body = match item {
            Ok(Some(body)) => body,
            Ok(None) => break,
            Err(e) => {
                *progress.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                break;
            }
        };
        progress.read.fetch_add(1, Ordering::Relaxed);
        if tx.blocking_send(body).is_err() {
            // The call is over; `Input::finish` counted this item as not sent.
            return;
        }
    }
    // Set before `tx` is dropped, so the call sees it once its input has ended.
    progress.ended.store(true, Ordering::Relaxed);
}

/// The next non-blank line as an item, `None` at the end.
fn next_line(stdin: &mut impl BufRead) -> std::io::Result<Option<Body>> {
    let mut line = String::new();
    loop {
        line.clear();
        if stdin.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if !text.trim().is_empty() {
            return Ok(Some(Body::from_json(parse_value(text))));
        }
    }
}

/// The next chunk of bytes as they come (at most [`CHUNK`]), `None` at the end.
fn next_chunk(stdin: &mut impl Read) -> std::io::Result<Option<Body>> {
    let mut buf = vec![0; CHUNK];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(Body::Binary(Bytes::from(buf))));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}
