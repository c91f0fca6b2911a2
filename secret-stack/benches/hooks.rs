//! The cost of method hooks: one sync call dispatched by an app's `MethodTable` (permission check
//! to answer, the answer awaited) with no hook, through one pass-through untyped hook, and through
//! one pass-through typed hook (which decodes the arguments, encodes them again for `next`, and
//! does the same with the answer).
//!
//! Run with `cargo bench -p secret-stack --bench hooks`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use secret_stack::plugin;
use secret_stack::rpc::{CallContext, CallKind, Reply};
use secret_stack::stack::{App, Config, SecretStack};
use serde_json::json;

/// The measured plugin.
pub struct Test;

#[plugin(name = "test")]
impl Test {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn app() -> App {
    let config = Config::from_json(json!({"global": {
        "caps": {"shs": "1KHLiKZvAvjbY1ziZEHMXawbCEIM6qwjCDm3VYRan/s="},
        "seed": "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
    }}))
    .expect("config");
    SecretStack::builder()
        .plugin(Test)
        .build(config)
        .expect("app")
}

fn one_call(app: &App, rt: &tokio::runtime::Runtime) {
    let reply = app
        .methods()
        .dispatch(
            CallContext::local(app.id()),
            &["test", "add"],
            CallKind::Async,
            vec![json!(1), json!(2)],
            None,
        )
        .expect("known method");
    let Reply::Value(answer) = reply else {
        panic!("add is sync")
    };
    black_box(rt.block_on(answer).expect("adds"));
}

fn hooks(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let app = app();
    let mut group = c.benchmark_group("hooks");
    group.bench_function("sync_call/no_hook", |b| b.iter(|| one_call(&app, &rt)));

    let untyped = app
        .hook_path(&["test", "add"], |ctx, args, input, next| {
            next.call(ctx, args, input)
        })
        .expect("hookable");
    group.bench_function("sync_call/one_untyped_hook", |b| {
        b.iter(|| one_call(&app, &rt))
    });
    drop(untyped);

    let typed = app
        .hook(Test::ADD, |ctx, args, next| next.call(ctx, args))
        .expect("hookable");
    group.bench_function("sync_call/one_typed_hook", |b| {
        b.iter(|| one_call(&app, &rt))
    });
    drop(typed);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(3));
    targets = hooks
}
criterion_main!(benches);
