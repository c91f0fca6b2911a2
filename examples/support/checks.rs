//! The interop client's checks: every method and error case of the `test` plugin
//! ([`crate::test_plugin`]), run through any [`Caller`] against any implementation that serves it.
//!
//! Values are checked strictly; what JS legitimately does differently is tolerated (an error's
//! `name`, the exact wording of a refusal, whether a wrongly-typed argument gives an error or an
//! odd value, as long as an answer comes).

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::rpc::{Body, Caller, RpcError};
use serde_json::{Value, json};

/// How long one check may take before it counts as a hang.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// What was checked, e.g. `test.hello`.
    pub name: String,
    /// True if the peer behaved as specified.
    pub passed: bool,
    /// What was seen (on failure, what went wrong).
    pub detail: String,
}

type Outcome = Result<String, String>;

async fn run<F: Future<Output = Outcome>>(name: &str, check: F) -> CheckResult {
    let (passed, detail) = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(detail)) => (true, detail),
        Ok(Err(detail)) => (false, detail),
        Err(_) => (false, format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    CheckResult {
        name: name.to_owned(),
        passed,
        detail,
    }
}

fn expect_eq(what: &str, got: &Value, want: &Value) -> Outcome {
    if got == want {
        Ok(format!("{what} = {got}"))
    } else {
        Err(format!("{what}: expected {want}, got {got}"))
    }
}

/// The message of a remote error, or a description of what came instead.
fn remote_message(result: Result<Body, RpcError>) -> Result<String, String> {
    match result {
        Err(RpcError::Remote(e)) => Ok(e.message),
        Err(other) => Err(format!("expected a remote error, got local error {other}")),
        Ok(body) => Err(format!("expected an error, got {:?}", body)),
    }
}

async fn collect_source<C: Caller + ?Sized>(
    caller: &C,
    path: &[&str],
    args: Vec<Value>,
) -> (Vec<Body>, Option<RpcError>) {
    let mut s = caller.source(path, args);
    let mut items = Vec::new();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => items.push(b),
            Err(e) => return (items, Some(e)),
        }
    }
    (items, None)
}

/// Runs every check; `is_master` says whether the peer granted us master permissions.
pub async fn run_checks<C: Caller + ?Sized>(caller: &C, is_master: bool) -> Vec<CheckResult> {
    let mut out = Vec::new();

    out.push(
        run("test.hello", async {
            let body = caller.call(&["test", "hello"], vec![json!("world")]).await;
            let body = body.map_err(|e| format!("error: {e}"))?;
            expect_eq("hello(\"world\")", &body.into_json(), &json!("hello world"))
        })
        .await,
    );

    out.push(
        run("test.add", async {
            let body = caller
                .call(&["test", "add"], vec![json!(2), json!(40)])
                .await;
            let got = body.map_err(|e| format!("error: {e}"))?.into_json();
            match got.as_f64() {
                Some(42.0) => Ok("add(2, 40) = 42".into()),
                _ => Err(format!("add(2, 40): expected 42, got {got}")),
            }
        })
        .await,
    );

    out.push(
        run("test.fail", async {
            let message = remote_message(caller.call(&["test", "fail"], vec![]).await)?;
            expect_eq(
                "error message",
                &json!(message),
                &json!("test.fail: intentional failure"),
            )
        })
        .await,
    );

    out.push(
        run("test.count", async {
            let (items, err) = collect_source(caller, &["test", "count"], vec![json!(5)]).await;
            if let Some(e) = err {
                return Err(format!("ended with error {e}"));
            }
            let got = Value::Array(items.into_iter().map(Body::into_json).collect());
            expect_eq("count(5)", &got, &json!([0, 1, 2, 3, 4]))
        })
        .await,
    );

    out.push(
        run("test.count(0)", async {
            let (items, err) = collect_source(caller, &["test", "count"], vec![json!(0)]).await;
            match (items.len(), err) {
                (0, None) => Ok("count(0) is empty".into()),
                (n, e) => Err(format!("count(0): {n} items, error {e:?}")),
            }
        })
        .await,
    );

    out.push(
        run("test.bytes", async {
            let total: u64 = 200_000;
            let args = vec![json!(total), json!(65536)];
            let (items, err) = collect_source(caller, &["test", "bytes"], args).await;
            if let Some(e) = err {
                return Err(format!("ended with error {e}"));
            }
            let mut offset: u64 = 0;
            let mut sizes = Vec::new();
            for item in items {
                let Body::Binary(chunk) = item else {
                    return Err(format!("chunk at offset {offset} is not binary: {item:?}"));
                };
                for (k, b) in chunk.iter().enumerate() {
                    if u64::from(*b) != (offset + k as u64) % 256 {
                        return Err(format!("wrong byte at offset {}", offset + k as u64));
                    }
                }
                offset += chunk.len() as u64;
                sizes.push(chunk.len());
            }
            if sizes != [65536, 65536, 65536, 3392] {
                return Err(format!(
                    "chunk sizes {sizes:?}, expected [65536, 65536, 65536, 3392]"
                ));
            }
            Ok(format!("{offset} bytes in {} chunks", sizes.len()))
        })
        .await,
    );

    out.push(
        run("test.bytes default chunk", async {
            let (items, err) = collect_source(caller, &["test", "bytes"], vec![json!(70000)]).await;
            let sizes: Vec<usize> = items
                .iter()
                .map(|b| match b {
                    Body::Binary(b) => b.len(),
                    _ => 0,
                })
                .collect();
            match (sizes.as_slice(), err) {
                ([65536, 4464], None) => Ok("chunks of 65536 by default".into()),
                (s, e) => Err(format!("chunk sizes {s:?}, error {e:?}")),
            }
        })
        .await,
    );

    out.push(
        run("test.collect + test.collected", async {
            let sent = vec![json!(1), json!("two"), json!({"three": 3}), json!([4])];
            let mut items: Vec<Body> = sent.iter().cloned().map(Body::from_json).collect();
            // Binary items come back as "binary:" + base64 (tests/interop/README.md).
            items.push(Body::Binary(Bytes::from_static(&[0, 1, 2, 254, 255])));
            let mut want = sent;
            want.push(json!("binary:AAEC/v8="));
            caller
                .sink(&["test", "collect"], vec![], stream::iter(items).boxed())
                .await
                .map_err(|e| format!("sink ended with error {e}"))?;
            let got = caller.call(&["test", "collected"], vec![]).await;
            let got = got.map_err(|e| format!("collected: {e}"))?.into_json();
            expect_eq("collected()", &got, &Value::Array(want))
        })
        .await,
    );

    out.push(
        run("test.echo", async {
            let sent = vec![
                Body::Text("text".into()),
                Body::Json(json!({"a": [1, 2]})),
                Body::Binary(Bytes::from_static(&[0, 1, 2, 255])),
                Body::Json(json!(7)),
            ];
            let mut s = caller.duplex(
                &["test", "echo"],
                vec![],
                stream::iter(sent.clone()).boxed(),
            );
            let mut got = Vec::new();
            while let Some(item) = s.next().await {
                got.push(item.map_err(|e| format!("echo ended with error {e}"))?);
            }
            if got == sent {
                Ok(format!("{} items echoed with their types", got.len()))
            } else {
                Err(format!("sent {sent:?}, got back {got:?}"))
            }
        })
        .await,
    );

    out.push(
        run("test.secret", async {
            let result = caller.call(&["test", "secret"], vec![]).await;
            if is_master {
                let body = result.map_err(|e| format!("master refused: {e}"))?;
                expect_eq("secret()", &body.into_json(), &json!("the secret is 42"))
            } else {
                let message = remote_message(result)?;
                let refused = message.contains("test,secret")
                    && (message.contains("not in list of allowed methods")
                        || message.contains("on list of disallowed methods"));
                if refused {
                    Ok(format!("refused: {message}"))
                } else {
                    Err(format!("expected a permission error, got {message:?}"))
                }
            }
        })
        .await,
    );

    out.push(
        run("unknown method", async {
            let message = remote_message(caller.call(&["test", "nope"], vec![]).await)?;
            // A master gets `no async:`; an anonymous peer may get the permission error first.
            if message == "no async:test,nope"
                || message == "method:test,nope is not in list of allowed methods"
            {
                Ok(message)
            } else {
                Err(format!("unexpected message {message:?}"))
            }
        })
        .await,
    );

    out.push(
        run("abort mid-stream", async {
            let mut s = caller.source(&["test", "count"], vec![json!(1_000_000_000u64)]);
            let mut first = Vec::new();
            for _ in 0..3 {
                match s.next().await {
                    Some(Ok(b)) => first.push(b.into_json()),
                    other => return Err(format!("stream stopped early: {other:?}")),
                }
            }
            drop(s);
            expect_eq("first values", &Value::Array(first), &json!([0, 1, 2]))?;
            // The connection still serves calls after the abort.
            let body = caller.call(&["test", "hello"], vec![json!("again")]).await;
            let body = body.map_err(|e| format!("call after abort: {e}"))?;
            expect_eq(
                "hello after abort",
                &body.into_json(),
                &json!("hello again"),
            )
        })
        .await,
    );

    out.push(
        run("200 parallel calls", async {
            let calls = (0..200u64).map(|i| async move {
                let (path, args, want) = if i % 2 == 0 {
                    (
                        ["test", "add"],
                        vec![json!(i), json!(1000)],
                        json!(i + 1000),
                    )
                } else {
                    (
                        ["test", "hello"],
                        vec![json!(format!("n{i}"))],
                        json!(format!("hello n{i}")),
                    )
                };
                let got = caller.call(&path, args).await;
                match got.map(Body::into_json) {
                    Ok(got) if got == want => Ok(()),
                    other => Err(format!("call {i}: expected {want}, got {other:?}")),
                }
            });
            let failures: Vec<String> = futures::future::join_all(calls)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect();
            match failures.first() {
                None => Ok("200 answers, all right".into()),
                Some(first) => Err(format!("{} wrong, first: {first}", failures.len())),
            }
        })
        .await,
    );

    out.push(
        run("parallel sources", async {
            let (counted, bytes, one) = futures::join!(
                collect_source(caller, &["test", "count"], vec![json!(300)]),
                collect_source(
                    caller,
                    &["test", "bytes"],
                    vec![json!(100_000), json!(7000)]
                ),
                collect_source(caller, &["test", "count"], vec![json!(1)]),
            );
            for (name, (_, err)) in [
                ("count(300)", &counted),
                ("bytes", &bytes),
                ("count(1)", &one),
            ] {
                if let Some(e) = err {
                    return Err(format!("{name} ended with error {e}"));
                }
            }
            let counted = Value::Array(counted.0.into_iter().map(Body::into_json).collect());
            expect_eq(
                "count(300)",
                &counted,
                &Value::Array((0..300).map(Value::from).collect()),
            )?;
            let one = Value::Array(one.0.into_iter().map(Body::into_json).collect());
            expect_eq("count(1)", &one, &json!([0]))?;
            let mut offset = 0usize;
            for chunk in &bytes.0 {
                let Body::Binary(chunk) = chunk else {
                    return Err(format!("bytes: chunk at {offset} is not binary"));
                };
                let want = if 100_000 - offset >= 7000 {
                    7000
                } else {
                    100_000 - offset
                };
                if chunk.len() != want
                    || chunk
                        .iter()
                        .enumerate()
                        .any(|(k, b)| usize::from(*b) != (offset + k) % 256)
                {
                    return Err(format!("bytes: wrong chunk at offset {offset}"));
                }
                offset += chunk.len();
            }
            if offset != 100_000 {
                return Err(format!("bytes: {offset} bytes instead of 100000"));
            }
            Ok("3 sources at once, all complete".into())
        })
        .await,
    );

    out.push(
        run("wrong argument types", async {
            // JS may coerce instead of failing; what matters is an answer, not a hang.
            let add = caller
                .call(&["test", "add"], vec![json!("x"), json!({})])
                .await;
            let (_, count_err) =
                collect_source(caller, &["test", "count"], vec![json!("many")]).await;
            let bytes = collect_source(caller, &["test", "bytes"], vec![json!(-1)]).await;
            Ok(format!(
                "add(\"x\", {{}}) -> {}, count(\"many\") ended ({}), bytes(-1) ended ({})",
                match add {
                    Ok(b) => format!("value {}", b.into_json()),
                    Err(e) => format!("error {e}"),
                },
                count_err.map_or("normally".into(), |e| format!("error {e}")),
                bytes.1.map_or("normally".into(), |e| format!("error {e}")),
            ))
        })
        .await,
    );

    out
}
