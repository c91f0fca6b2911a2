//! The tunnel roles as bare test code, beside the `tunnel` plugin (for the wire-level tests of
//! the byte stream): a portal and an endpoint written by hand against the `Plugin` trait with
//! ssb-tunnel 2.0.0's manifest
//! (`announce: sync`, `connect: duplex`, `ping: sync`, all anonymous), and the inner connection
//! run over a [`DuplexBytes`] on either end (secret handshake, box stream, muxrpc serving or
//! calling the interop `test` plugin).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::{StreamExt, stream};
use secret_stack::keys::{AppKey, Keypair, PublicKey};
use secret_stack::multiserver::{Shs, ShsAddress, Transform};
use secret_stack::rpc::{
    CallContext, CallKind, Method, MethodInput, MethodTable, Permissions, RemoteError, Reply,
    RpcConfig, RpcHandle,
};
use secret_stack::stack::WeakApp;
use secret_stack::tunnel::{DuplexBytes, DuplexBytesError, TunnelAddress, forward};
use secret_stack_examples::test_plugin;
use serde_json::{Value, json};

use crate::stack_fixtures::{HandPlugin, method, value, within};

/// The key pair seeded with `n`s (a test app configured with seed `n` has it).
pub fn keys(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32])
}

/// The [`DuplexBytesError`] behind `err` (a failed dial through a tunnel, say): found in the
/// first `io::Error` of its source chain that carries one.
pub fn duplex_error_in<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a DuplexBytesError> {
    std::iter::successors(Some(err), |e| e.source()).find_map(|e| {
        e.downcast_ref::<std::io::Error>()?
            .get_ref()?
            .downcast_ref::<DuplexBytesError>()
    })
}

/// An error-ended duplex answer, as a JS portal gives for an unknown target.
pub fn refuse(message: String) -> Reply {
    Reply::Stream(stream::iter([Err(RemoteError::new(message))]).boxed())
}

fn ping() -> Method {
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    method(
        "ping",
        CallKind::Sync,
        Arc::new(move |_, _, _| value(json!(now()))),
    )
}

fn tunnel(methods: Vec<Method>) -> HandPlugin {
    HandPlugin {
        name: "tunnel".into(),
        needs: vec![],
        methods,
        anonymous: vec!["announce", "connect", "ping"],
    }
}

/// A portal: `announce` records the caller, `connect` forwards a duplex to the first open
/// connection of an announced target (as ssb-tunnel does), or refuses with its messages.
pub fn portal_plugin(app: WeakApp) -> HandPlugin {
    let announced: Arc<Mutex<HashSet<PublicKey>>> = Arc::default();
    let endpoints = Arc::clone(&announced);
    let announce = method(
        "announce",
        CallKind::Sync,
        Arc::new(move |ctx: CallContext, _, _| {
            endpoints.lock().unwrap().insert(ctx.remote);
            value(json!(false))
        }),
    );
    let connect = method(
        "connect",
        CallKind::Duplex,
        Arc::new(move |_, args: Vec<Value>, input: Option<MethodInput>| {
            let (Some(opts), Some(input)) = (args.first().filter(|a| a.is_object()), input) else {
                return refuse("opts *must* be provided".into());
            };
            let target = opts["target"].as_str().unwrap_or_default().to_owned();
            let onward = target
                .parse::<PublicKey>()
                .ok()
                .filter(|key| announced.lock().unwrap().contains(key))
                .and_then(|key| app.upgrade()?.peers_with(&key).into_iter().next());
            match onward {
                Some(peer) => Reply::Stream(forward(&peer, &["tunnel", "connect"], args, input)),
                None => refuse(format!("could not connect to:{target}")),
            }
        }),
    );
    tunnel(vec![announce, connect, ping()])
}

/// An endpoint: each `tunnel.connect` for `own` id with instance 0 becomes a [`DuplexBytes`]
/// handed to `accept`; others are refused with ssb-tunnel's message.
pub fn endpoint_plugin(
    own: PublicKey,
    accept: impl Fn(DuplexBytes) + Send + Sync + 'static,
) -> HandPlugin {
    let connect = method(
        "connect",
        CallKind::Duplex,
        Arc::new(move |_, args: Vec<Value>, input: Option<MethodInput>| {
            let opts = args.first().cloned().unwrap_or(Value::Null);
            let instance_zero = opts["instance"] == json!(0) || opts["instance"] == json!("0");
            match input {
                Some(input) if opts["target"] == json!(own.id()) && instance_zero => {
                    let (bytes, output) = DuplexBytes::answer(input);
                    accept(bytes);
                    Reply::Stream(output)
                }
                _ => refuse(format!(
                    "could not connect to:{}",
                    opts["target"].as_str().unwrap_or_default()
                )),
            }
        }),
    );
    tunnel(vec![connect, ping()])
}

/// Runs the secret handshake and muxrpc over `bytes` as the endpoint, serving the `test` plugin
/// to anonymous callers.
pub async fn serve_inner(bytes: DuplexBytes, keys: Keypair, app_key: AppKey) -> RpcHandle {
    let shs = Shs::new(keys, app_key);
    let stream = bytes.into_byte_stream("tunnel:inner", "tunnel");
    let (stream, info) = within(shs.server(stream)).await.expect("inner handshake");
    let mut table = MethodTable::new();
    for m in test_plugin::methods() {
        table.insert(m).expect("test methods");
    }
    // What a JS peer gives anonymous callers: every `test` method but `secret` (an allow list,
    // so refusals read as JS's `… is not in list of allowed methods`).
    let anonymous = Permissions::allow(
        test_plugin::methods()
            .iter()
            .map(|m| m.path.join("."))
            .filter(|path| path != "test.secret"),
    );
    let ctx = CallContext::new(info.remote, anonymous, CallContext::next_connection_id());
    RpcHandle::start(
        stream.reader,
        stream.writer,
        Arc::new(table),
        ctx,
        RpcConfig::default(),
    )
}

/// Runs the secret handshake and muxrpc over `bytes` as a client dialling `to` (whose target's
/// key the handshake proves).
pub async fn dial_inner(
    bytes: DuplexBytes,
    keys: Keypair,
    app_key: AppKey,
    to: TunnelAddress,
) -> RpcHandle {
    let shs = Shs::new(keys, app_key);
    let stream = bytes.into_byte_stream(to.to_address(), "tunnel");
    let (stream, info) = within(shs.client(stream, &ShsAddress::new(to.target)))
        .await
        .expect("inner handshake");
    assert_eq!(info.remote, to.target, "the handshake proved another key");
    let ctx = CallContext::new(info.remote, Permissions::full(), 0);
    RpcHandle::start(
        stream.reader,
        stream.writer,
        Arc::new(MethodTable::new()),
        ctx,
        RpcConfig::default(),
    )
}

/// Opens `tunnel.connect` to `to` over the client's connection to its portal.
pub fn open(portal: &impl secret_stack::rpc::Caller, to: TunnelAddress) -> DuplexBytes {
    let args = vec![json!({"target": to.target.id(), "instance": to.instance})];
    DuplexBytes::call(portal, &["tunnel", "connect"], args)
}
