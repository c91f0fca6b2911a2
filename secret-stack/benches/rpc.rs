//! The muxrpc hot paths, without the network.
//!
//! * `codec/*`: encoding and decoding one small JSON request (the rtt path's frame) and one 64 KiB
//!   binary chunk (the `source` path's frame) with `PacketCodec`.
//! * `dispatch/sync_call`: `MethodTable::dispatch` of a sync call, permission check to reply.
//! * `engine/*`: whole round trips through two engines joined by an in-memory pipe on one
//!   current-thread runtime: one async call at a time, and 100 in flight.
//!
//! Run with `cargo bench -p secret-stack --bench rpc`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::FutureExt;
use futures::future::join_all;
use secret_stack::keys::PublicKey;
use secret_stack::rpc::Packet;
use secret_stack::rpc::PacketCodec;
use secret_stack::rpc::{Body, CallContext, CallKind, Method, MethodTable, Permissions, Reply};
use secret_stack::rpc::{RpcConfig, RpcHandle};
use serde_json::{Value, json};
use tokio_util::codec::{Decoder, Encoder};

fn table() -> Arc<MethodTable> {
    let mut t = MethodTable::new();
    let hello = Method {
        path: vec!["test".into(), "hello".into()],
        kind: CallKind::Async,
        groups: Vec::new(),
        handler: Arc::new(|_ctx, args: Vec<Value>, _| {
            let name = args
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Reply::Value(async move { Ok(Body::Text(format!("hello {name}"))) }.boxed())
        }),
    };
    let add = Method {
        path: vec!["test".into(), "add".into()],
        kind: CallKind::Sync,
        groups: Vec::new(),
        handler: Arc::new(|_ctx, args: Vec<Value>, _| {
            let sum: i64 = args.iter().filter_map(Value::as_i64).sum();
            Reply::Value(futures::future::ready(Ok(Body::Json(json!(sum)))).boxed())
        }),
    };
    t.insert(hello).expect("fresh table");
    t.insert(add).expect("fresh table");
    Arc::new(t)
}

fn ctx() -> CallContext {
    CallContext::new(PublicKey([7; 32]), Permissions::full(), 1)
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    let request = Packet {
        req: 42,
        stream: false,
        end: false,
        body: Body::Json(json!({"name": ["test", "hello"], "args": ["world"]})),
    };
    let chunk = Packet {
        req: -7,
        stream: true,
        end: false,
        body: Body::Binary(Bytes::from(vec![9u8; 65536])),
    };
    let mut codec = PacketCodec::default();
    let mut buf = BytesMut::with_capacity(1 << 17);
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_request", |b| {
        b.iter(|| {
            buf.clear();
            codec
                .encode(black_box(&request), &mut buf)
                .expect("encodable");
        })
    });
    buf.clear();
    codec.encode(&request, &mut buf).expect("encodable");
    let encoded = buf.clone().freeze();
    group.bench_function("decode_request", |b| {
        b.iter(|| {
            let mut src = BytesMut::from(&encoded[..]);
            black_box(codec.decode(&mut src).expect("valid").expect("whole frame"));
        })
    });
    group.throughput(Throughput::Bytes(65536));
    group.bench_function("encode_64k_binary", |b| {
        b.iter(|| {
            buf.clear();
            codec
                .encode(black_box(&chunk), &mut buf)
                .expect("encodable");
        })
    });
    buf.clear();
    codec.encode(&chunk, &mut buf).expect("encodable");
    let encoded = buf.clone().freeze();
    group.bench_function("decode_64k_binary", |b| {
        b.iter(|| {
            let mut src = BytesMut::from(&encoded[..]);
            black_box(codec.decode(&mut src).expect("valid").expect("whole frame"));
        })
    });
    group.finish();
}

fn dispatch(c: &mut Criterion) {
    let table = table();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    c.bench_function("dispatch/sync_call", |b| {
        b.iter(|| {
            let reply = table
                .dispatch(
                    ctx(),
                    &["test", "add"],
                    CallKind::Async,
                    vec![json!(1), json!(2)],
                    None,
                )
                .expect("known method");
            let Reply::Value(fut) = reply else {
                panic!("add is sync")
            };
            black_box(rt.block_on(fut).expect("adds"));
        })
    });
}

fn engine(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(async {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let _server = RpcHandle::start(br, bw, table(), ctx(), RpcConfig::default());
        let client = RpcHandle::start(
            ar,
            aw,
            Arc::new(MethodTable::new()),
            ctx(),
            RpcConfig::default(),
        );
        (client, _server)
    });
    let (client, _server) = client;
    let mut group = c.benchmark_group("engine");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    group.bench_function("rtt1", |b| {
        b.iter(|| {
            rt.block_on(async {
                let v: String = client
                    .call(&["test", "hello"], vec![json!("x")])
                    .await
                    .expect("answered");
                black_box(v);
            })
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("rtt100", |b| {
        b.iter(|| {
            rt.block_on(async {
                let calls =
                    (0..100).map(|_| client.call::<String>(&["test", "hello"], vec![json!("x")]));
                for r in join_all(calls).await {
                    black_box(r.expect("answered"));
                }
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = codec, dispatch, engine
}
criterion_main!(benches);
