//! The allocation budget of one `test.hello` round trip, so that a per-call allocation creeping back
//! into the RPC path fails a test (issue 6). `examples/alloc_count.rs` is the measuring tool; this
//! is its regression check.
//!
//! A counting global allocator counts the allocations of this thread only, while a flag is up. Two
//! engines run on a current-thread runtime on this thread, joined by an in-memory pipe (plaintext,
//! then through a box stream each way), the callee serving the interop `test` plugin. The calls'
//! arguments are built before counting, so what is counted is the engines and the method:
//!
//! | allocation | why it is needed |
//! |---|---|
//! | the callee's `args` vector | the `Handler` signature takes `Vec<Value>` |
//! | `"x"` inside it | the method's argument |
//! | the boxed future of `async fn hello` | a handler returns a type-erased future |
//! | `format!` in `hello` | the method's result |
//! | the caller's `String` answer | `Body::Text` owns its string |
//!
//! so 5 per call. Runs without the libtest harness (`harness = false`) so no other test's
//! allocations can land in the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::process::ExitCode;

use futures::future::join_all;
use secret_stack::rpc::{Body, RpcHandle};
use secret_stack_examples::engine_pair;
use serde_json::Value;

/// The allocations one round trip may make (see the module docs).
const BUDGET: u64 = 5;

/// Calls per measurement.
const CALLS: usize = 2000;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

/// Counts the allocations (and reallocations) of the current thread while `COUNTING` is up.
struct Counting;

fn count() {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only const-initialised thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts the allocations `f` makes on this thread.
async fn counted<F: std::future::Future>(f: F) -> u64 {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f.await;
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

async fn hello(rpc: &RpcHandle, args: Vec<Value>) {
    match rpc.request(&["test", "hello"], args).await {
        Ok(Body::Text(s)) if s == "hello x" => {}
        other => panic!("unexpected answer {other:?}"),
    }
}

fn args(n: usize) -> Vec<Vec<Value>> {
    (0..n).map(|_| vec![Value::from("x")]).collect()
}

/// Allocations per call: `CALLS` calls one after the other, then in batches of 100 in flight.
async fn per_call(rpc: &RpcHandle) -> (f64, f64) {
    // Warm up: buffers, maps and channels reach their steady size.
    for a in args(1000) {
        hello(rpc, a).await;
    }
    let inputs = args(CALLS);
    let sequential = counted(async {
        for a in inputs {
            hello(rpc, a).await;
        }
    })
    .await;
    // `join_all` allocates a task per future when it is built: built before counting. (The calls
    // only start when it is first polled.)
    let batches: Vec<_> = (0..CALLS / 100)
        .map(|_| join_all(args(100).into_iter().map(|a| hello(rpc, a))))
        .collect();
    let concurrent = counted(async {
        for batch in batches {
            batch.await;
        }
    })
    .await;
    let n = CALLS as f64;
    (sequential as f64 / n, concurrent as f64 / n)
}

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let figures = rt.block_on(async {
        let (caller, _callee) = engine_pair::plain();
        let plain = per_call(&caller).await;
        let (caller, _callee) = engine_pair::boxed();
        let boxed = per_call(&caller).await;
        [("plain", plain), ("boxed", boxed)]
    });
    let mut failed = false;
    for (case, (sequential, concurrent)) in figures {
        println!(
            "{case}: {sequential:.3} allocations per call one at a time, {concurrent:.3} with 100 in flight"
        );
        // One at a time is exact; 100 in flight may add a fraction (queues and the request
        // buffer growing past a batch), never a whole allocation per call.
        if sequential > BUDGET as f64 + 0.01 || concurrent > BUDGET as f64 + 0.5 {
            eprintln!("{case}: over the budget of {BUDGET} allocations per call");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
