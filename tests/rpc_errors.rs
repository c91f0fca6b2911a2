//! The error objects the engine sends, byte for byte: every path that answers with an error (method
//! errors, permission refusals, unknown methods, bad requests, streams ended with an error, engine
//! refusals) writes `{"message","name","stack"}` in JS's key order, `stack` a string, then `data`
//! for a typed Rust error. Each body is also decoded with a strict struct that, like strict clients
//! (kuska-ssb), requires all three fields.

use bytes::BytesMut;
use futures::{FutureExt, StreamExt, stream};
use secret_stack::rpc::{
    Body, CallKind, Method, OverflowPolicy, Packet, PacketCodec, Permissions, RefusalRule,
    RemoteError, Reply, RpcConfig, RpcError, RpcHandle,
};
use secret_stack_examples::test_plugin;
use secret_stack_tests::engine::{WAIT, method, never, pair_with, start, table};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

/// An error object as a strict client reads it: all three fields required, `stack` a string.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // only decoding matters: a missing or mistyped field fails it
struct StrictError {
    message: String,
    name: String,
    stack: String,
}

/// An engine on one end of a pipe and the other end's raw bytes.
struct Wire {
    _engine: RpcHandle,
    read: ReadHalf<DuplexStream>,
    write: WriteHalf<DuplexStream>,
}

impl Wire {
    fn new(extra: Vec<Method>, perms: Permissions, config: RpcConfig) -> Wire {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let engine = start(ours, table(extra), perms, config);
        let (read, write) = tokio::io::split(theirs);
        Wire {
            _engine: engine,
            read,
            write,
        }
    }

    async fn send(&mut self, packet: &Packet) {
        let mut buf = BytesMut::new();
        PacketCodec::encode_packet(packet, &mut buf).expect("encodable packet");
        self.write.write_all(&buf).await.expect("pipe open");
    }

    /// The next frame as written: flags, request number and the body's bytes.
    async fn frame(&mut self) -> (u8, i32, Vec<u8>) {
        let mut header = [0u8; 9];
        self.read.read_exact(&mut header).await.expect("a header");
        let len = u32::from_be_bytes(header[1..5].try_into().expect("4 bytes"));
        let req = i32::from_be_bytes(header[5..9].try_into().expect("4 bytes"));
        let mut body = vec![0; len as usize];
        self.read.read_exact(&mut body).await.expect("a body");
        (header[0], req, body)
    }

    /// The body of the first end packet for `req` (values before it are skipped), with its flags.
    async fn end_of(&mut self, req: i32) -> (u8, String) {
        let wait = async {
            loop {
                let (flags, got, body) = self.frame().await;
                if got == req && flags & 0x04 != 0 {
                    return (flags, String::from_utf8(body).expect("UTF-8 body"));
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .expect("an end in time")
    }
}

fn call(req: i32, name: Value, args: Value) -> Packet {
    Packet::new(
        req,
        false,
        false,
        Body::Json(json!({"name": name, "args": args})),
    )
}

fn open(req: i32, kind: &str, name: Value) -> Packet {
    let body = json!({"name": name, "args": [], "type": kind});
    Packet::new(req, true, false, Body::Json(body))
}

/// The bytes of the error object we expect: message, name `Error`, empty stack, then `data`.
fn expected(message: &str, data: Option<&str>) -> String {
    let message = serde_json::to_string(message).expect("a string encodes");
    let data = data.map(|d| format!(r#","data":{d}"#)).unwrap_or_default();
    format!(r#"{{"message":{message},"name":"Error","stack":""{data}}}"#)
}

/// Checks one error end: flags (JSON, end, stream or not), exact bytes, and the strict decode.
fn check(what: &str, (flags, body): (u8, String), stream: bool, message: &str, data: Option<&str>) {
    let want_flags = 0x02 | 0x04 | if stream { 0x08 } else { 0 };
    assert_eq!(flags, want_flags, "{what}: flags");
    assert_eq!(body, expected(message, data), "{what}: body");
    let strict: StrictError = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: a strict client cannot read {body}: {e}"));
    assert_eq!(strict.message, message, "{what}");
    assert_eq!((strict.name.as_str(), strict.stack.as_str()), ("Error", ""));
}

#[tokio::test]
async fn calls_refused_or_failed_answer_with_all_three_fields() {
    let extra = vec![
        method("boom", CallKind::Async, |_, _| panic!("at once")),
        method("streamy", CallKind::Async, |_, _| {
            Reply::Stream(stream::empty().boxed())
        }),
    ];
    let mut wire = Wire::new(extra, test_plugin::permissions(false), RpcConfig::default());
    let bad_args = json!({"name": ["test", "hello"], "args": {"x": 1}});
    let cases: Vec<(&str, Packet, String, Option<&str>)> = vec![
        (
            "method error",
            call(1, json!(["test", "fail"]), json!([])),
            "test.fail: intentional failure".into(),
            Some(r#""Intentional""#),
        ),
        (
            "unknown method",
            call(2, json!(["nope"]), json!([])),
            "no async:nope".into(),
            None,
        ),
        (
            "permission refused",
            call(3, json!(["test", "secret"]), json!([])),
            "method:test,secret is on list of disallowed methods".into(),
            None,
        ),
        (
            "args not an array",
            Packet::new(4, false, false, Body::Json(bad_args.clone())),
            format!("invalid request, args should be array, was: {bad_args}"),
            None,
        ),
        (
            "method panicked",
            call(5, json!(["boom"]), json!([])),
            "method panicked: at once".into(),
            None,
        ),
        (
            "async answered with a stream",
            call(6, json!(["streamy"]), json!([])),
            "method answered an async call with a stream".into(),
            None,
        ),
    ];
    for (what, packet, message, data) in cases {
        wire.send(&packet).await;
        check(what, wire.end_of(-packet.req).await, false, &message, data);
    }
}

#[tokio::test]
async fn an_allow_list_refusal_carries_all_three_fields() {
    let mut wire = Wire::new(
        vec![],
        Permissions::allow(["test.hello"]),
        RpcConfig::default(),
    );
    wire.send(&call(1, json!(["test", "add"]), json!([1, 2])))
        .await;
    let message = "method:test,add is not in list of allowed methods";
    check("allow list", wire.end_of(-1).await, false, message, None);
}

#[tokio::test]
async fn streams_ended_with_an_error_carry_all_three_fields() {
    let extra = vec![
        method("broken", CallKind::Source, |_, _| {
            let items = [
                Ok(Body::from_json(json!(1))),
                Err(RemoteError::new("broken: gave up")),
            ];
            Reply::Stream(stream::iter(items).boxed())
        }),
        method("refuse", CallKind::Sink, |_, _| {
            Reply::Done(async { Err(RemoteError::new("refuse: not today")) }.boxed())
        }),
        method("wrong", CallKind::Source, |_, _| {
            Reply::Value(async { Ok(Body::from_json(json!(1))) }.boxed())
        }),
    ];
    let mut wire = Wire::new(extra, Permissions::full(), RpcConfig::default());
    let cases = [
        (
            "source ends with an error",
            open(1, "source", json!(["broken"])),
            "broken: gave up",
        ),
        (
            "sink fails",
            open(2, "sink", json!(["refuse"])),
            "refuse: not today",
        ),
        (
            "unknown stream",
            open(3, "duplex", json!(["nope"])),
            "no duplex:nope",
        ),
        (
            "unsupported type",
            open(4, "weird", json!(["test", "count"])),
            "unsupported stream type: weird",
        ),
        (
            "wrong reply",
            open(5, "source", json!(["wrong"])),
            "method answered a source call wrongly",
        ),
    ];
    for (what, packet, message) in cases {
        wire.send(&packet).await;
        check(what, wire.end_of(-packet.req).await, true, message, None);
    }
}

#[tokio::test]
async fn engine_refusals_carry_all_three_fields() {
    let config = RpcConfig {
        max_incoming_streams: 2,
        stream_buffer: 1,
        overflow: OverflowPolicy::EndStream,
        ..RpcConfig::default()
    };
    let extra = vec![
        never("stall", CallKind::Sink),
        never("hang", CallKind::Source),
    ];
    let mut wire = Wire::new(extra, Permissions::full(), config);
    wire.send(&open(1, "sink", json!(["stall"]))).await;
    for _ in 0..4 {
        wire.send(&Packet::new(1, true, false, Body::from("x")))
            .await;
    }
    let message = "receive buffer of stream 1 is full: its consumer fell behind";
    check(
        "receive buffer full",
        wire.end_of(-1).await,
        true,
        message,
        None,
    );
    // Stream 1 is still open on the peer's side (it never ended it): with 2 allowed, 3 is refused.
    wire.send(&open(2, "source", json!(["hang"]))).await;
    wire.send(&open(3, "source", json!(["hang"]))).await;
    let message = "too many open streams: at most 2 at once";
    check(
        "too many streams",
        wire.end_of(-3).await,
        true,
        message,
        None,
    );
}

#[tokio::test]
async fn a_refused_permission_is_js_bytes_on_the_wire_and_typed_for_the_caller() {
    let post = || {
        method("board.post", CallKind::Async, |_, _| {
            Reply::Value(async { Ok(Body::from_json(json!("posted"))) }.boxed())
        })
    };
    let only_reading = Permissions::allow(["board.read", "test"]);
    // The bytes: JS muxrpc's message, unchanged.
    let mut wire = Wire::new(vec![post()], only_reading.clone(), RpcConfig::default());
    wire.send(&call(1, json!(["board", "post"]), json!(["hi"])))
        .await;
    let (_, body) = wire.end_of(-1).await;
    assert_eq!(
        body,
        r#"{"message":"method:board,post is not in list of allowed methods","name":"Error","stack":""}"#
    );
    // The caller: a refusal it can tell apart, whose text names the method with dots.
    let (a, _b) = pair_with(vec![post()], only_reading, RpcConfig::default(), 1 << 16);
    let err = a
        .call::<Value>(&["board", "post"], vec![json!("hi")])
        .await
        .expect_err("refused");
    let refusal = err.permission_refusal().expect("a permission refusal");
    assert_eq!(refusal.method, ["board", "post"]);
    assert_eq!(refusal.rule, RefusalRule::NotAllowed);
    assert_eq!(
        err.to_string(),
        "permission denied: `board.post` is not among the methods this connection may call; it needs more than the peer's `anonymous` rights: our key as one of its `master` keys, or a group that allows it, granted by its auth hook"
    );
    // The error object is still JS's, for whoever passes it on.
    let RpcError::Remote(remote) = &err else {
        panic!("a remote error: {err:?}")
    };
    assert_eq!(remote.message, refusal.js_message());
    // Other failures are not refusals.
    let failed = a
        .call::<Value>(&["test", "fail"], vec![])
        .await
        .expect_err("fails");
    assert_eq!(failed.permission_refusal(), None);
    assert!(failed.to_string().starts_with("remote error: "), "{failed}");
}

#[test]
fn the_strict_struct_refuses_an_error_without_stack() {
    // The shape we sent before: a strict client could not read it. Guards the test's own strictness.
    let old = r#"{"message":"test.fail: intentional failure","name":"Error","data":"Intentional"}"#;
    assert!(serde_json::from_str::<StrictError>(old).is_err());
}
