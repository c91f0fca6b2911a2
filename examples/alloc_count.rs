//! Heap allocations per `test.hello` round trip, through two engines in one process.
//!
//! `cargo run --release --example alloc_count -- [--calls N]`
//!
//! A counting global allocator wraps the system one. Two [`RpcHandle`]s are joined by an in-memory
//! pipe, either plaintext (the muxrpc engines alone) or through a box stream in each direction (what
//! a real connection runs); the callee serves the interop `test` plugin. After a warm-up, `N`
//! sequential calls (1 in flight) and `N` calls kept 100 in flight are counted. Everything runs on
//! one current-thread runtime, so the counts include both engines, both sides' tasks, and the
//! caller's own future, and this loop's own three per call (the argument vector and string, and
//! the `FuturesUnordered` task). Prints one JSON line per case:
//! `{"case":…,"allocs_per_call":…,"bytes_per_call":…}`. `tests/alloc_budget.rs` checks the
//! engines' share alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use secret_stack::rpc::{Body, RpcHandle};
use secret_stack_examples::engine_pair;
use serde_json::Value;

/// Counts every allocation (and reallocation) made through it.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting has no
// effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Parser, Debug)]
#[command(about = "Count heap allocations per test.hello round trip")]
struct Args {
    /// Calls per measurement.
    #[arg(long, default_value_t = 20_000)]
    calls: u64,
}

async fn hello(rpc: &RpcHandle) {
    match rpc
        .request(&["test", "hello"], vec![Value::from("x")])
        .await
    {
        Ok(Body::Text(s)) if s == "hello x" => {}
        other => panic!("unexpected answer {other:?}"),
    }
}

/// Allocations and bytes per call over `calls` calls with `in_flight` outstanding.
async fn measure(rpc: &RpcHandle, calls: u64, in_flight: u64) -> (f64, f64) {
    // Warm up: buffers, maps and channels reach their steady size.
    for _ in 0..1000 {
        hello(rpc).await;
    }
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let bytes = BYTES.load(Ordering::Relaxed);
    let mut pending = FuturesUnordered::new();
    let mut started = 0;
    while started < in_flight.min(calls) {
        pending.push(hello(rpc));
        started += 1;
    }
    while pending.next().await.is_some() {
        if started < calls {
            pending.push(hello(rpc));
            started += 1;
        }
    }
    let n = calls as f64;
    (
        (ALLOCS.load(Ordering::Relaxed) - allocs) as f64 / n,
        (BYTES.load(Ordering::Relaxed) - bytes) as f64 / n,
    )
}

fn print(case: &str, (allocs, bytes): (f64, f64)) {
    println!(
        "{}",
        serde_json::json!({ "case": case, "allocs_per_call": allocs, "bytes_per_call": bytes })
    );
}

fn main() {
    let args = Args::parse();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cannot start the runtime");
        std::process::exit(2);
    };
    rt.block_on(async {
        let (client, _server) = engine_pair::plain();
        print("plain_rtt1", measure(&client, args.calls, 1).await);
        print("plain_rtt100", measure(&client, args.calls, 100).await);

        let (client, _server) = engine_pair::boxed();
        print("boxed_rtt1", measure(&client, args.calls, 1).await);
        print("boxed_rtt100", measure(&client, args.calls, 100).await);
    });
}
