//! An in-memory transport that hands out its bytes in pieces a [`Schedule`] chooses, sometimes
//! answering `Pending` (after waking the task) or a transient error first, and a poll loop that
//! drives such I/O without a runtime.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, ReadBuf};

use crate::input::Schedule;

/// The message of the transient errors a [`ChunkedReader`] injects.
pub const INJECTED: &str = "injected transient error";

/// Reads `data` in scheduled pieces, then reports end of input.
#[derive(Debug)]
pub struct ChunkedReader {
    data: Vec<u8>,
    position: usize,
    schedule: Schedule,
    errors: bool,
}

impl ChunkedReader {
    /// A reader of `data`; `errors` enables injected transient errors.
    pub fn new(data: Vec<u8>, schedule: Schedule, errors: bool) -> Self {
        ChunkedReader {
            data,
            position: 0,
            schedule,
            errors,
        }
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.schedule.next_u64() % 32 {
            0 | 1 => {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            2 if this.errors => return Poll::Ready(Err(io::Error::other(INJECTED))),
            _ => {}
        }
        let left = this.data.len() - this.position;
        let n = this.schedule.size(left).min(left).min(buf.remaining());
        buf.put_slice(&this.data[this.position..this.position + n]);
        this.position += n;
        Poll::Ready(Ok(()))
    }
}

/// Whether `err` is one a [`ChunkedReader`] injected.
pub fn is_injected(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Other && err.to_string() == INJECTED
}

/// Polls `poll` with a no-op waker until it is ready; panics after `limit` `Pending`s (a reader
/// that never finishes on finite input is a bug).
pub fn poll_until_ready<T>(limit: usize, mut poll: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..limit {
        if let Poll::Ready(value) = poll(&mut cx) {
            return value;
        }
    }
    panic!("still pending after {limit} polls on finite input");
}
