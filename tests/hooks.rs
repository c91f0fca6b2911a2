//! Method hooks (issue 12, item 1): the order of a chain (newest outermost, as a JS `hoox` chain),
//! and what a hook can do — refuse, rewrite the arguments, replace the answer, wrap a source's
//! items, wrap a sink's input — for local calls and for remote calls over a real connection
//! between two apps on 127.0.0.1; hooks added and removed at run time; hooking a path that does
//! not exist.

use std::sync::{Arc, Mutex};

use futures::future::ready;
use futures::{FutureExt, StreamExt, stream};
use secret_stack::plugin;
use secret_stack::rpc::{Body, CallError, Caller, RemoteError, Reply, Sink, Source};
use secret_stack::stack::{App, Builder, SecretStack};
use secret_stack_tests::stack_fixtures::{config, start, within};
use serde_json::{Value, json};

/// A log: entries by sequence number, per-author history, a sink that appends, a duplex echo.
#[derive(Default)]
pub struct Log {
    /// What happened, in order (the method's own line is `method`).
    trace: Arc<Mutex<Vec<String>>>,
    /// What `append` received.
    appended: Mutex<Vec<String>>,
}

#[plugin(name = "log", permission = "anonymous")]
impl Log {
    async fn get(&self, seq: u64) -> String {
        self.trace.lock().unwrap().push("method".into());
        format!("entry {seq}")
    }

    fn history(&self, author: String) -> Source<String> {
        Source::iter(
            (0..3)
                .map(move |i| format!("{author}/{i}"))
                .collect::<Vec<_>>(),
        )
    }

    async fn append(&self, mut items: Sink<String>) -> Result<(), String> {
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| e.to_string())?;
            self.appended.lock().unwrap().push(item);
        }
        Ok(())
    }

    fn echo(&self, input: Sink<String>) -> Source<String> {
        Source::from(input)
    }
}

fn builder(log: Log) -> Builder {
    SecretStack::builder().plugin(log)
}

fn log_with_trace() -> (Log, Arc<Mutex<Vec<String>>>) {
    let log = Log::default();
    let trace = Arc::clone(&log.trace);
    (log, trace)
}

/// Two apps on 127.0.0.1: `server` serves the log; the client's peer handle calls it.
async fn remote_pair(log: Log) -> (App, App, LogClient<secret_stack::stack::Peer>) {
    let server = start(&builder(log), config(1, json!({}))).await;
    let client = start(&SecretStack::builder(), config(2, json!({}))).await;
    let address = server.address(secret_stack::multiserver::Scope::Device);
    let peer = within(client.connect(&address)).await.expect("connects");
    (server, client, LogClient::new(peer))
}

async fn close(apps: &[&App]) {
    for app in apps {
        within(app.close()).await;
    }
}

/// A JS `hoox` chain: `fn = wrap(fn, hook)` for each hook in turn, so the newest hook is the
/// outermost: it runs first and sees the answer last. The Rust chain orders them the same way.
#[tokio::test]
async fn hooks_run_newest_outermost_like_a_hoox_chain() {
    let (log, trace) = log_with_trace();
    let app = builder(log).build(config(1, json!({}))).unwrap();
    let mut registrations = Vec::new();
    for name in ["A", "B", "C"] {
        let trace = Arc::clone(&trace);
        registrations.push(
            app.hook_path(&["log", "get"], move |ctx, args, input, next| {
                trace.lock().unwrap().push(format!("{name} in"));
                let reply = next.call(ctx, args, input);
                trace.lock().unwrap().push(format!("{name} out"));
                reply
            })
            .unwrap(),
        );
    }
    let answer = LogClient::new(app.local()).get(1).await.unwrap();
    assert_eq!(answer, "entry 1");
    // The handler runs when its future is polled, after every hook returned its reply.
    assert_eq!(
        *trace.lock().unwrap(),
        ["C in", "B in", "A in", "A out", "B out", "C out", "method"]
    );
    drop(registrations);
    close(&[&app]).await;
}

#[tokio::test]
async fn a_hook_refuses_local_and_remote_calls_without_running_the_method() {
    let (log, trace) = log_with_trace();
    let (server, client, remote) = remote_pair(log).await;
    server
        .hook(Log::GET, |ctx, (seq,), next| {
            if seq == 13 {
                return ready(Err(RemoteError::new("log.get: 13 is unlucky"))).boxed();
            }
            next.call(ctx, (seq,))
        })
        .unwrap()
        .keep();
    let local = LogClient::new(server.local());
    for result in [local.get(13).await, within(remote.get(13)).await] {
        match result {
            Err(CallError::Rpc(e)) => assert!(e.to_string().contains("13 is unlucky"), "{e}"),
            other => panic!("expected the hook's refusal, got {other:?}"),
        }
    }
    assert!(trace.lock().unwrap().is_empty(), "the method ran");
    assert_eq!(within(remote.get(12)).await.unwrap(), "entry 12");
    close(&[&client, &server]).await;
}

#[tokio::test]
async fn a_hook_rewrites_the_arguments_and_replaces_the_answer() {
    let (log, trace) = log_with_trace();
    let (server, client, remote) = remote_pair(log).await;
    // Older: shifts every sequence number by 100.
    let _shift = server
        .hook(Log::GET, |ctx, (seq,), next| next.call(ctx, (seq + 100,)))
        .unwrap();
    // Newer (outermost): answers 0 itself, upper-cases the rest.
    let _replace = server
        .hook(Log::GET, |ctx, (seq,), next| {
            if seq == 0 {
                return ready(Ok("genesis".to_owned())).boxed();
            }
            next.call(ctx, (seq,))
                .map(|answer| answer.map(|s| s.to_uppercase()))
                .boxed()
        })
        .unwrap();
    assert_eq!(within(remote.get(0)).await.unwrap(), "genesis");
    assert_eq!(
        trace.lock().unwrap().len(),
        0,
        "replaced: the method did not run"
    );
    assert_eq!(within(remote.get(5)).await.unwrap(), "ENTRY 105");
    assert_eq!(
        LogClient::new(server.local()).get(6).await.unwrap(),
        "ENTRY 106"
    );
    close(&[&client, &server]).await;
}

#[tokio::test]
async fn a_hook_filters_and_maps_a_source_for_local_and_remote_callers() {
    let (server, client, remote) = remote_pair(Log::default()).await;
    let _hook = server
        .hook(Log::HISTORY, |ctx, (author,), next| {
            next.call(ctx, (author,))
                .filter(|item| ready(item.as_deref() != Ok("alice/1")))
                .map(|item| item.map(|s| format!("<{s}>")))
                .boxed()
        })
        .unwrap();
    let expected = ["<alice/0>", "<alice/2>"];
    let local: Vec<String> = LogClient::new(server.local())
        .history("alice".into())
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(local, expected);
    let remote: Vec<String> =
        within(remote.history("alice".into()).map(Result::unwrap).collect()).await;
    assert_eq!(remote, expected);
    close(&[&client, &server]).await;
}

/// A sink's input is wrapped by an untyped hook: here each item the caller sends is upper-cased
/// and `"drop"` is filtered out before the method sees them.
#[tokio::test]
async fn a_hook_wraps_a_sinks_input_for_local_and_remote_callers() {
    let log = Arc::new(Log::default());
    let server = start(
        &SecretStack::builder().plugin_with("log", {
            let log = Arc::clone(&log);
            move |_init: &secret_stack::stack::PluginInit<'_>| {
                Ok::<_, std::convert::Infallible>(SharedLog(Arc::clone(&log)))
            }
        }),
        config(1, json!({})),
    )
    .await;
    let _hook = server
        .hook_path(&["log", "append"], |ctx, args, input, next| {
            let input = input.map(|items| {
                let wrapped = items
                    .filter(|item| ready(!matches!(item, Ok(Body::Text(t)) if t == "drop")))
                    .map(|item| {
                        item.map(|body| match body {
                            Body::Text(t) => Body::Text(t.to_uppercase()),
                            other => other,
                        })
                    });
                Box::pin(wrapped) as secret_stack::rpc::MethodInput
            });
            next.call(ctx, args, input)
        })
        .unwrap();
    let local = SharedLogClient::new(server.local());
    local
        .append(stream::iter([
            "a".to_owned(),
            "drop".to_owned(),
            "b".to_owned(),
        ]))
        .await
        .unwrap();
    let client = start(&SecretStack::builder(), config(2, json!({}))).await;
    let peer = within(client.connect(&server.address(secret_stack::multiserver::Scope::Device)))
        .await
        .unwrap();
    within(SharedLogClient::new(peer).append(stream::iter(["c".to_owned(), "drop".to_owned()])))
        .await
        .unwrap();
    assert_eq!(*log.appended.lock().unwrap(), ["A", "B", "C"]);
    close(&[&client, &server]).await;
}

/// The log served through an `Arc`, so the test keeps a handle on its state.
pub struct SharedLog(Arc<Log>);

#[plugin(name = "log", permission = "anonymous")]
impl SharedLog {
    async fn append(&self, mut items: Sink<String>) -> Result<(), String> {
        while let Some(item) = items.next().await {
            let item = item.map_err(|e| e.to_string())?;
            self.0.appended.lock().unwrap().push(item);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_typed_hook_maps_a_duplexs_answers() {
    let (server, client, remote) = remote_pair(Log::default()).await;
    let _hook = server
        .hook(Log::ECHO, |ctx, (), next| {
            next.call(ctx, ())
                .map(|item| item.map(|s| s.repeat(2)))
                .boxed()
        })
        .unwrap();
    let echoed: Vec<String> = within(
        remote
            .echo(stream::iter(["a".to_owned(), "b".to_owned()]))
            .map(Result::unwrap)
            .collect(),
    )
    .await;
    assert_eq!(echoed, ["aa", "bb"]);
    close(&[&client, &server]).await;
}

#[tokio::test]
async fn hooks_come_and_go_at_run_time() {
    let (server, client, remote) = remote_pair(Log::default()).await;
    assert_eq!(within(remote.get(1)).await.unwrap(), "entry 1");
    let registration = server
        .hook(Log::GET, |_ctx, (_seq,), _next| {
            ready(Ok("hooked".to_owned())).boxed()
        })
        .unwrap();
    assert_eq!(within(remote.get(1)).await.unwrap(), "hooked");
    drop(registration);
    assert_eq!(within(remote.get(1)).await.unwrap(), "entry 1");
    // Kept: stays after its registration is gone.
    server
        .hook(Log::GET, |_ctx, (_seq,), _next| {
            ready(Ok("kept".to_owned())).boxed()
        })
        .unwrap()
        .keep();
    assert_eq!(within(remote.get(1)).await.unwrap(), "kept");
    close(&[&client, &server]).await;
}

#[tokio::test]
async fn hooking_a_missing_path_names_it_and_lists_the_mounts_methods() {
    let app = builder(Log::default()).build(config(1, json!({}))).unwrap();
    let error = app
        .hook_path(&["log", "gte"], |ctx, args, input, next| {
            next.call(ctx, args, input)
        })
        .unwrap_err();
    assert_eq!(error.path, "log.gte");
    assert_eq!(
        error.available,
        ["log.append", "log.echo", "log.get", "log.history"]
    );
    let message = error.to_string();
    assert!(
        message.contains("`log.gte`") && message.contains("log.history"),
        "{message}"
    );
    let error = app
        .hook_path(&["nope", "x"], |ctx, args, input, next| {
            next.call(ctx, args, input)
        })
        .unwrap_err();
    assert!(
        error.to_string().contains("no plugin is mounted there"),
        "{error}"
    );
    close(&[&app]).await;
}

/// An untyped hook sees the JSON arguments and can answer with a reply of its own.
#[tokio::test]
async fn an_untyped_hook_sees_json_and_answers_itself() {
    let app = builder(Log::default()).build(config(1, json!({}))).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<Vec<Value>>::new()));
    let _hook = app
        .hook_path(&["log", "get"], {
            let seen = Arc::clone(&seen);
            move |ctx, args, input, next| {
                seen.lock().unwrap().push(args.clone());
                if args == [json!(7)] {
                    return Reply::Value(Box::pin(ready(Ok(Body::Text("seven".into())))));
                }
                next.call(ctx, args, input)
            }
        })
        .unwrap();
    let local = app.local();
    assert_eq!(
        local.call(&["log", "get"], vec![json!(7)]).await.unwrap(),
        Body::Text("seven".into())
    );
    assert_eq!(LogClient::new(local).get(8).await.unwrap(), "entry 8");
    assert_eq!(*seen.lock().unwrap(), [vec![json!(7)], vec![json!(8)]]);
    close(&[&app]).await;
}
