//! Argument decoding of a `#[plugin]`-generated dispatch: any method path,
//! call kind and JSON arguments (and, for sinks and duplexes, input items) through
//! `MethodTable::dispatch` of the vectors' callee, each reply driven to its end.
//!
//! Input: a byte choosing the path, a byte choosing the kind and permissions, then JSON text: an
//! array is the `args` (the input items for a sink or duplex, which may end with an error), any
//! other value one of them. Every refusal must be a message naming the
//! method; and for `typed`, whose parameters cover required, optional, nested, numeric and binary
//! arguments, the call must succeed exactly when each argument decodes on its own (serde for the
//! JSON ones, missing or `null` for an absent `Option`, no extra argument) and echo those values.

#![no_main]

use bytes::Bytes;
use futures::StreamExt as _;
use libfuzzer_sys::fuzz_target;
use secret_stack::rpc::WireFormat as _;
use secret_stack::rpc::{Body, CallKind, MethodInput, RemoteError, Reply, RpcError};
use secret_stack_fuzz::callee::{self, MAX_ITEMS, Point};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

thread_local! {
    static RUNTIME: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("current-thread runtime");
}

const PATHS: &[&[&str]] = &[
    &["typed"],
    &["hello"],
    &["add"],
    &["count"],
    &["ticks"],
    &["collect"],
    &["echo"],
    &["manifest"],
    &["empty"],
    &["fail"],
    &["throwsSync"],
    &["failingSource"],
    &["secret"],
    &["nested", "deep"],
    &["nested"],
    &["missing"],
];

const KINDS: [CallKind; 5] = [
    CallKind::Async,
    CallKind::Sync,
    CallKind::Source,
    CallKind::Sink,
    CallKind::Duplex,
];

fuzz_target!(|data: &[u8]| {
    let Some((&path_choice, rest)) = data.split_first() else {
        return;
    };
    let Some((&kind_choice, json)) = rest.split_first() else {
        return;
    };
    let path = PATHS[usize::from(path_choice) % PATHS.len()];
    let kind = KINDS[usize::from(kind_choice) % KINDS.len()];
    let values = match serde_json::from_slice::<Value>(json) {
        Ok(Value::Array(values)) => values,
        Ok(other) => vec![other],
        Err(_) => Vec::new(),
    };
    // Sinks and duplexes (which take no arguments here) get the values as their input items,
    // ending with an error if the kind byte's top bit says so.
    let streaming = matches!(kind, CallKind::Sink | CallKind::Duplex);
    // A source sends at most MAX_ITEMS; a duplex echoes at most its input.
    let most_items = MAX_ITEMS as usize + values.len();
    let (args, input): (Vec<Value>, Option<MethodInput>) = if streaming {
        let mut items: Vec<Result<Body, RpcError>> =
            values.into_iter().map(|v| Ok(Body::from_json(v))).collect();
        if kind_choice & 0x80 != 0 {
            items.push(Err(RpcError::InvalidValue("caller aborted".into())));
        }
        (Vec::new(), Some(futures::stream::iter(items).boxed()))
    } else {
        (values, None)
    };
    let context = callee::context(callee::permissions(kind_choice >> 4));
    let table = callee::table();

    let outcome = RUNTIME.with(|rt| {
        rt.block_on(async {
            match table.dispatch(context, path, kind, args.clone(), input) {
                Err(refused) => Err(refused),
                Ok(Reply::Value(value)) => value.await.map(|body| vec![body]),
                Ok(Reply::Done(done)) => done.await.map(|()| Vec::new()),
                Ok(Reply::Stream(mut stream)) => {
                    let mut items = Vec::new();
                    while let Some(item) = stream.next().await {
                        items.push(item?);
                        assert!(items.len() <= most_items, "endless source");
                    }
                    Ok(items)
                }
            }
        })
    });

    if let Err(error) = &outcome {
        check_error(path, error);
    }
    // Only the first two permission choices (deny `secret`, full) allow `typed`.
    let typed_allowed = (kind_choice >> 4) % 4 < 2;
    if path == ["typed"] && matches!(kind, CallKind::Async | CallKind::Sync) && !typed_allowed {
        let Err(refused) = &outcome else {
            panic!("typed answered a peer not allowed to call it");
        };
        assert_eq!(
            refused.message,
            "method:typed is not in list of allowed methods"
        );
    }
    if path == ["typed"] && matches!(kind, CallKind::Async | CallKind::Sync) && typed_allowed {
        let expected = typed_oracle(&args);
        match (&outcome, expected) {
            (Ok(bodies), Some(expected)) => {
                assert_eq!(bodies.len(), 1);
                assert_eq!(bodies[0].clone().into_json(), expected, "typed echo");
            }
            (Err(_), None) => {}
            (Ok(bodies), None) => panic!("typed accepted {args:?} as {bodies:?}"),
            (Err(err), Some(_)) => panic!("typed refused valid {args:?}: {}", err.message),
        }
    }
});

/// Refusals are messages a JS peer can act on: permission and "no such method" messages in the
/// JS wording, the methods' own errors, everything else prefixed with the plugin and method.
fn check_error(path: &[&str], error: &RemoteError) {
    let message = &error.message;
    let dotted = path.join(".");
    let known = message.starts_with("method:")
        || message.starts_with("no ")
        || message.starts_with(&format!("callee.{dotted}:"))
        || message.contains("caller aborted")
        || [
            "intentional failure",
            "sync failure",
            "source failure",
            "add: overflow",
        ]
        .contains(&message.as_str());
    assert!(known, "unexpected error for {dotted}: {message}");
}

/// The reply `typed` must give for `args`, decoding each argument on its own; `None` if one fails.
fn typed_oracle(args: &[Value]) -> Option<Value> {
    if args.len() > 8 {
        return None;
    }
    let arg = |i: usize| args.get(i).cloned();
    fn required<T: DeserializeOwned>(v: Option<Value>) -> Option<T> {
        serde_json::from_value(v?).ok()
    }
    fn optional<T: DeserializeOwned>(v: Option<Value>) -> Option<Option<T>> {
        match v {
            None | Some(Value::Null) => Some(None),
            Some(v) => serde_json::from_value(v).ok().map(Some),
        }
    }
    let a: u8 = required(arg(0))?;
    let b: Option<String> = optional(arg(1))?;
    let c: Vec<i32> = required(arg(2))?;
    let d: Point = required(arg(3))?;
    let e: bool = required(arg(4))?;
    let f: f64 = required(arg(5))?;
    let g: Option<Vec<Option<u64>>> = optional(arg(6))?;
    let h = Bytes::from_arg(arg(7)?).ok()?;
    Some(json!([a, b, c, d, e, f, g, h.len()]))
}
