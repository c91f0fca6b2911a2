//! muxrpc against `muxrpc-exchanges.json` (29 recorded JS exchanges).
//!
//! Callee replay: the `A->B` bytes are written into a [`RpcHandle`] serving a small plugin that
//! behaves like the recorded JS callee (`callee_manifest`), with the scenario's permissions; every
//! frame it writes must equal the next `B->A` packet (exact bytes, except that error `stack`s and
//! the manifest's key order are compared loosely). Each run ends by sending a goodbye and expecting
//! the goodbye back as the very next frame, which proves nothing extra was sent.
//!
//! Caller replay: our engine places the same calls against a scripted peer that writes the `B->A`
//! bytes; what our engine writes must equal the `A->B` packets, and what it observed must equal
//! `caller_observed`.
//!
//! Deliberate deviation: `hazard-empty-string-reply`. JS writes the empty string with body length
//! 0, which reads as the goodbye and kills the session; our callee writes the JSON string `""`
//! instead (see `rpc::codec`), so the call succeeds. The caller replay of that scenario feeds our
//! engine JS's bytes and checks it reacts as JS does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{FutureExt, SinkExt, StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::PacketCodec;
use secret_stack::rpc::{
    Body, CallContext, CallKind, Caller, Frame, Manifest, Method, MethodTable, Packet, Permissions,
    RemoteError, Reply, RpcConfig, RpcError, RpcHandle, SessionEnd,
};
use secret_stack_tests::vectors::{hex, load, to_hex};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio_util::codec::FramedRead;

type Log = Arc<Mutex<Vec<String>>>;

fn method(
    path: &[&str],
    kind: CallKind,
    f: impl Fn(Vec<Value>, Option<secret_stack::rpc::MethodInput>) -> Reply + Send + Sync + 'static,
) -> Method {
    Method {
        path: path.iter().map(|s| s.to_string()).collect(),
        kind,
        groups: Vec::new(),
        handler: Arc::new(move |_ctx, args, input| f(args, input)),
    }
}

fn value(v: Result<Body, RemoteError>) -> Reply {
    Reply::Value(futures::future::ready(v).boxed())
}

/// The recorded JS callee, rebuilt: its manifest is checked against `callee_manifest`.
fn callee_table(log: Log) -> MethodTable {
    let mut t = MethodTable::new();
    let manifest_json = Arc::new(Mutex::new(Value::Null));
    let m = Arc::clone(&manifest_json);
    let methods = vec![
        method(&["manifest"], CallKind::Sync, move |_, _| {
            let v = m.lock().unwrap().clone();
            value(Ok(Body::Json(v)))
        }),
        method(&["hello"], CallKind::Async, |args, _| {
            let name = args
                .first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            value(Ok(Body::Text(format!("hello, {name}"))))
        }),
        method(&["empty"], CallKind::Async, |_, _| {
            value(Ok(Body::Text(String::new())))
        }),
        method(&["add"], CallKind::Sync, |args, _| {
            let sum: i64 = args.iter().filter_map(Value::as_i64).sum();
            value(Ok(Body::Json(json!(sum))))
        }),
        method(&["fail"], CallKind::Async, |_, _| {
            value(Err(RemoteError::new("boom")))
        }),
        method(&["throwsSync"], CallKind::Sync, |_, _| {
            value(Err(RemoteError::new("sync boom")))
        }),
        method(&["secret"], CallKind::Async, |_, _| {
            value(Ok(Body::from("s3cret")))
        }),
        method(&["nested", "deep"], CallKind::Async, |_, _| {
            value(Ok(Body::from("deep value")))
        }),
        method(&["count"], CallKind::Source, |args, _| {
            let n = args.first().and_then(Value::as_i64).unwrap_or(0);
            Reply::Stream(stream::iter((1..=n).map(|i| Ok(Body::Json(json!(i))))).boxed())
        }),
        method(&["failingSource"], CallKind::Source, |_, _| {
            Reply::Stream(
                stream::iter(vec![
                    Ok(Body::from("first")),
                    Err(RemoteError::new("source boom")),
                ])
                .boxed(),
            )
        }),
        {
            let log = Arc::clone(&log);
            method(&["ticks"], CallKind::Source, move |_, _| {
                // One tick, then nothing: this source never ends by itself.
                struct OnDrop(Log);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0
                            .lock()
                            .unwrap()
                            .push("callee source was aborted".into());
                    }
                }
                let guard = OnDrop(Arc::clone(&log));
                Reply::Stream(
                    stream::once(async { Ok(Body::from("tick")) })
                        .chain(stream::pending())
                        .map(move |x| {
                            let _ = &guard;
                            x
                        })
                        .boxed(),
                )
            })
        },
        {
            let log = Arc::clone(&log);
            method(&["collect"], CallKind::Sink, move |_, input| {
                let log = Arc::clone(&log);
                let mut input = input.expect("sink input");
                Reply::Done(
                    async move {
                        let mut got = Vec::new();
                        let mut err = None;
                        while let Some(item) = input.next().await {
                            match item {
                                Ok(b) => got.push(b.into_json()),
                                Err(e) => err = Some(e.to_string()),
                            }
                        }
                        let err = err.unwrap_or_else(|| "null".into());
                        let got = Value::Array(got);
                        log.lock()
                            .unwrap()
                            .push(format!("callee sink collected {got} err={err}"));
                        Ok(())
                    }
                    .boxed(),
                )
            })
        },
        method(&["echo"], CallKind::Duplex, |_, input| {
            let input = input.expect("duplex input");
            Reply::Stream(
                input
                    .map(|r| r.map_err(|e| RemoteError::new(e.to_string())))
                    .boxed(),
            )
        }),
    ];
    for m in methods {
        t.insert(m).unwrap();
    }
    *manifest_json.lock().unwrap() = t.manifest().to_json();
    t
}

fn context(perms: &Value) -> CallContext {
    let permissions: Permissions = serde_json::from_value(perms.clone()).expect("permissions");
    CallContext::new(PublicKey([7; 32]), permissions, 1)
}

struct RawPeer {
    frames: FramedRead<ReadHalf<DuplexStream>, PacketCodec>,
    out: WriteHalf<DuplexStream>,
}

impl RawPeer {
    fn new(io: DuplexStream) -> Self {
        let (r, w) = tokio::io::split(io);
        RawPeer {
            frames: FramedRead::new(r, PacketCodec::default()),
            out: w,
        }
    }

    async fn next(&mut self, what: &str) -> Frame {
        tokio::time::timeout(Duration::from_secs(5), self.frames.next())
            .await
            .unwrap_or_else(|_| panic!("{what}: timed out waiting for a frame"))
            .unwrap_or_else(|| panic!("{what}: stream ended"))
            .unwrap_or_else(|e| panic!("{what}: decode error {e}"))
    }
}

fn encode(frame: &Frame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    match frame {
        Frame::Goodbye => PacketCodec::encode_goodbye(&mut buf),
        Frame::Packet(p) => PacketCodec::encode_packet(p, &mut buf).unwrap(),
    }
    buf.to_vec()
}

fn strip_stack(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("stack");
    }
    v
}

/// Compares a frame we wrote with a recorded packet.
fn assert_same(ours: &Frame, recorded: &Value, what: &str) {
    let bytes = recorded["bytes"].as_str().unwrap();
    if recorded["packet"] == "GOODBYE" {
        assert_eq!(ours, &Frame::Goodbye, "{what}");
        return;
    }
    let Frame::Packet(p) = ours else {
        panic!("{what}: got a goodbye, expected {bytes}")
    };
    let rec = &recorded["packet"];
    assert_eq!(
        i64::from(p.req),
        rec["req"].as_i64().unwrap(),
        "{what}: req"
    );
    assert_eq!(
        p.stream,
        rec["stream"].as_bool().unwrap(),
        "{what}: stream flag"
    );
    assert_eq!(
        p.end,
        rec["end_or_error"].as_bool().unwrap(),
        "{what}: end flag"
    );
    let is_error = rec["body"].get("message").is_some();
    let is_manifest = rec["body"].get("manifest").is_some();
    if is_error || is_manifest {
        let Body::Json(ours) = &p.body else {
            panic!("{what}: expected JSON, got {:?}", p.body)
        };
        assert_eq!(
            strip_stack(ours.clone()),
            strip_stack(rec["body"].clone()),
            "{what}"
        );
    } else {
        assert_eq!(to_hex(&encode(ours)), bytes, "{what}: exact bytes");
    }
}

const EXPECTED_SCENARIOS: usize = 29;

#[tokio::test]
async fn callee_replays_every_scenario() {
    let v = load("muxrpc-exchanges.json");
    let scenarios = v["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), EXPECTED_SCENARIOS);
    let log: Log = Arc::default();
    let table = Arc::new(callee_table(Arc::clone(&log)));
    assert_eq!(
        Manifest::from_json(&v["callee_manifest"]).unwrap(),
        *table.manifest()
    );
    for s in scenarios {
        let name = s["name"].as_str().unwrap();
        log.lock().unwrap().clear();
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (r, w) = tokio::io::split(ours);
        let handle = RpcHandle::start(
            r,
            w,
            Arc::clone(&table),
            context(&s["callee_permissions"]),
            RpcConfig::default(),
        );
        let mut peer = RawPeer::new(theirs);
        let mut ended_by_goodbye = false;
        for (i, p) in s["packets"].as_array().unwrap().iter().enumerate() {
            let what = format!("{name} packet {i}");
            let bytes = hex(p["bytes"].as_str().unwrap());
            match p["dir"].as_str().unwrap() {
                "A->B" => peer.out.write_all(&bytes).await.unwrap(),
                _ if name == "hazard-empty-string-reply" => {
                    // Our deviation: the empty string goes out as JSON `""`, not as a goodbye.
                    let frame = peer.next(&what).await;
                    let expected = Packet::new(-1, false, false, Body::Json(json!("")));
                    assert_eq!(frame, Frame::Packet(expected), "{what}");
                    assert_eq!(to_hex(&encode(&frame)), "0200000002ffffffff2222");
                    break;
                }
                _ => {
                    let frame = peer.next(&what).await;
                    assert_same(&frame, p, &what);
                    ended_by_goodbye = frame == Frame::Goodbye;
                }
            }
        }
        if !ended_by_goodbye {
            peer.out.write_all(&[0; 9]).await.unwrap();
            let frame = peer.next(&format!("{name}: closing")).await;
            assert_eq!(
                frame,
                Frame::Goodbye,
                "{name}: nothing but the goodbye may follow"
            );
        }
        let end = tokio::time::timeout(Duration::from_secs(5), handle.closed())
            .await
            .expect("session ends");
        assert!(matches!(end, SessionEnd::PeerGoodbye), "{name}: {end:?}");
        // The callee's own log, where the recording has one.
        tokio::task::yield_now().await;
        let expected: Vec<String> = s["callee_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect();
        for line in &expected {
            assert!(
                log.lock().unwrap().contains(line),
                "{name}: callee log lacks {line:?}"
            );
        }
    }
}

/// One observation of the caller, in the vector's shape.
fn observed_error(e: &RpcError) -> Value {
    match e {
        RpcError::Remote(r) => json!({"name": r.name, "message": r.message}),
        other => json!({"name": "Error", "message": other.to_string()}),
    }
}

fn observed_body(b: Body) -> Value {
    match b {
        Body::Binary(bytes) => json!({"binary_hex": to_hex(&bytes)}),
        other => other.into_json(),
    }
}

fn callback(r: Result<Body, RpcError>) -> Value {
    match r {
        Ok(b) => json!({"err": null, "value": observed_body(b)}),
        Err(e) => json!({"err": observed_error(&e), "value": null}),
    }
}

fn body_from_recorded(rec: &Value) -> Body {
    let b = &rec["body"];
    match rec["type"].as_str().unwrap() {
        "binary" => Body::Binary(Bytes::from(hex(b["binary_hex"].as_str().unwrap()))),
        "utf8" => Body::Text(b.as_str().unwrap().to_owned()),
        _ => Body::Json(b.clone()),
    }
}

/// Places the scenario's calls with our engine and returns what it observed.
fn run_caller(handle: RpcHandle, s: &Value) -> BoxFuture<'static, Vec<Value>> {
    let name = s["name"].as_str().unwrap().to_owned();
    let packets: Vec<Value> = s["packets"].as_array().unwrap().clone();
    let sent: Vec<&Value> = packets
        .iter()
        .filter(|p| p["dir"] == "A->B" && p["packet"].is_object())
        .map(|p| &p["packet"])
        .collect();
    let first = sent[0].clone();
    let path: Vec<String> = first["body"]["name"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    let args: Vec<Value> = first["body"]["args"].as_array().unwrap().clone();
    let items: Vec<Body> = sent
        .iter()
        .skip(1)
        .filter(|p| p["stream"] == true && p["end_or_error"] == false)
        .map(|p| body_from_recorded(p))
        .collect();
    let second = sent.get(1).map(|p| (*p).clone());
    async move {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if name == "two-calls-interleaved" {
            let second = second.unwrap();
            let p2: Vec<&str> = second["body"]["name"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            let a2 = second["body"]["args"].as_array().unwrap().clone();
            let f1 = handle.request(&path, args);
            let f2 = handle.request(&p2, a2);
            let (r1, r2) = futures::join!(f1, f2);
            return vec![
                json!({"first": callback(r1)}),
                json!({"second": callback(r2)}),
            ];
        }
        match first["body"]["type"].as_str() {
            None => {
                let r = handle.request(&path, args).await;
                let mut out = vec![json!({"callback": callback(r)})];
                if name == "hazard-empty-string-reply" {
                    let r = handle.request(&path, vec![]).await;
                    out.push(json!({"next-call": callback(r)}));
                }
                if name == "close-after-call" {
                    let end = handle.close().await;
                    assert!(matches!(end, SessionEnd::Closed), "{end:?}");
                    out.push(json!({"close-callback": {"err": null}}));
                }
                out
            }
            Some("sink") => {
                let (mut tx, done) = handle.sink(&path, args);
                for item in items {
                    tx.send(item).await.unwrap();
                }
                tx.close().await.unwrap();
                let err = done.await.err().map(|e| observed_error(&e));
                vec![json!({"sink-done": {"err": err}})]
            }
            Some(kind) => {
                let mut rx = if kind == "duplex" {
                    Caller::duplex(&handle, &path, args, stream::iter(items).boxed())
                } else {
                    Caller::source(&handle, &path, args)
                };
                let limit = if name == "source-aborted-by-caller" {
                    1
                } else {
                    usize::MAX
                };
                let mut values = Vec::new();
                let mut err = Value::Null;
                while values.len() < limit {
                    match rx.next().await {
                        Some(Ok(b)) => values.push(observed_body(b)),
                        Some(Err(e)) => {
                            err = observed_error(&e);
                            break;
                        }
                        None => break,
                    }
                }
                drop(rx);
                vec![json!({"collected": {"err": err, "values": values}})]
            }
        }
    }
    .boxed()
}

#[tokio::test]
async fn caller_replays_every_recorded_call() {
    let v = load("muxrpc-exchanges.json");
    let mut replayed = 0;
    for s in v["scenarios"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        if s["caller_observed"].is_null() {
            continue; // raw scenarios: hand-made requests no muxrpc caller sends
        }
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (r, w) = tokio::io::split(ours);
        let handle = RpcHandle::start(
            r,
            w,
            Arc::new(MethodTable::new()),
            context(&json!({})),
            RpcConfig::default(),
        );
        let actions = tokio::spawn(run_caller(handle.clone(), s));
        let mut peer = RawPeer::new(theirs);
        for (i, p) in s["packets"].as_array().unwrap().iter().enumerate() {
            let what = format!("{name} packet {i}");
            if p["dir"] == "B->A" {
                let written = peer.out.write_all(&hex(p["bytes"].as_str().unwrap())).await;
                // Our side may already have hung up after its own goodbye, as JS does.
                if p["packet"] != "GOODBYE" {
                    written.unwrap_or_else(|e| panic!("{what}: {e}"));
                }
            } else {
                let frame = peer.next(&what).await;
                assert_same(&frame, p, &what);
            }
        }
        let observed = tokio::time::timeout(Duration::from_secs(5), actions)
            .await
            .unwrap_or_else(|_| panic!("{name}: caller hangs"))
            .unwrap();
        assert_eq!(
            Value::Array(observed),
            s["caller_observed"],
            "{name}: observed"
        );
        // Nothing more was sent: the next frame is our goodbye once we close.
        if !handle.is_closed() {
            let closing = handle.clone();
            let close = tokio::spawn(async move { closing.close().await });
            assert_eq!(
                peer.next(&format!("{name}: close")).await,
                Frame::Goodbye,
                "{name}"
            );
            close.await.unwrap();
        }
        replayed += 1;
    }
    assert_eq!(replayed, 20);
}
