//! Our outstanding async calls: each waits for its answer in a slot of one table, keyed by request
//! number, instead of on a channel of its own, so placing a call allocates nothing once the table
//! has grown to the number of calls in flight.
//!
//! The table lives in the connection's shared state, under its lock. The reader leaves an answer
//! in the slot and wakes the caller; the caller's future takes it out. A call whose answer has
//! arrived no longer counts as outstanding (a graceful close does not wait for its caller to look).

use std::collections::HashMap;
use std::task::{Context, Poll, Waker};

use crate::rpc::body::Body;
use crate::rpc::error::RpcError;

/// What a call is waiting for, or what it got.
#[derive(Debug)]
enum Slot {
    /// No answer yet; the waker of the caller's future once it has been polled.
    Waiting(Option<Waker>),
    /// The answer, not yet taken by the caller.
    Answered(Result<Body, RpcError>),
}

/// Our async calls by request number.
#[derive(Debug, Default)]
pub(super) struct PendingCalls {
    slots: HashMap<i32, Slot>,
    /// How many slots are still waiting for an answer.
    waiting: usize,
}

impl PendingCalls {
    /// Registers call `req`, waiting for its answer.
    pub fn insert(&mut self, req: i32) {
        if let Some(old) = self.slots.insert(req, Slot::Waiting(None)) {
            // Request numbers are never reused; keep the count right if one ever were.
            if matches!(old, Slot::Waiting(_)) {
                self.waiting = self.waiting.saturating_sub(1);
            }
        }
        self.waiting += 1;
    }

    /// Leaves the answer to call `req` and wakes its caller. False if no call `req` is waiting
    /// (unknown, already answered, or given up).
    pub fn answer(&mut self, req: i32, answer: Result<Body, RpcError>) -> bool {
        let Some(slot) = self.slots.get_mut(&req) else {
            return false;
        };
        let Slot::Waiting(waker) = slot else {
            return false;
        };
        let waker = waker.take();
        *slot = Slot::Answered(answer);
        self.waiting = self.waiting.saturating_sub(1);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Fails every call still waiting with `error`.
    pub fn fail_all(&mut self, error: &RpcError) {
        for slot in self.slots.values_mut() {
            if let Slot::Waiting(waker) = slot {
                let waker = waker.take();
                *slot = Slot::Answered(Err(error.clone()));
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
        self.waiting = 0;
    }

    /// The answer to call `req` if it has arrived (the slot is then gone), else registers the
    /// caller's waker. A call with no slot has lost its connection.
    pub fn poll(&mut self, req: i32, cx: &mut Context<'_>) -> Poll<Result<Body, RpcError>> {
        match self.slots.get_mut(&req) {
            None => Poll::Ready(Err(RpcError::ConnectionLost)),
            Some(Slot::Waiting(waker)) => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Some(Slot::Answered(_)) => match self.slots.remove(&req) {
                Some(Slot::Answered(answer)) => Poll::Ready(answer),
                _ => Poll::Ready(Err(RpcError::ConnectionLost)),
            },
        }
    }

    /// Forgets call `req` (its caller gave up or is done). True if it was still waiting.
    pub fn remove(&mut self, req: i32) -> bool {
        match self.slots.remove(&req) {
            Some(Slot::Waiting(_)) => {
                self.waiting = self.waiting.saturating_sub(1);
                true
            }
            _ => false,
        }
    }

    /// True if no call is waiting for an answer.
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn answers_wake_their_caller_and_are_taken_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let mut calls = PendingCalls::default();
        calls.insert(1);
        calls.insert(2);
        assert!(calls.poll(1, &mut cx).is_pending());
        assert!(!calls.is_empty());
        assert!(calls.answer(1, Ok(Body::Text("a".into()))));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(
            !calls.answer(1, Ok(Body::Text("again".into()))),
            "answered twice"
        );
        assert!(!calls.answer(9, Ok(Body::Text("?".into()))), "unknown call");
        assert!(matches!(calls.poll(1, &mut cx), Poll::Ready(Ok(Body::Text(s))) if s == "a"));
        assert!(!calls.remove(1));
        assert!(!calls.is_empty(), "call 2 still waits");
        calls.fail_all(&RpcError::ConnectionLost);
        assert!(calls.is_empty());
        assert!(matches!(
            calls.poll(2, &mut cx),
            Poll::Ready(Err(RpcError::ConnectionLost))
        ));
        calls.insert(3);
        assert!(calls.remove(3));
        assert!(calls.is_empty());
        assert!(matches!(
            calls.poll(3, &mut cx),
            Poll::Ready(Err(RpcError::ConnectionLost))
        ));
    }
}
