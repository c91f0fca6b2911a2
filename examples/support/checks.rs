//! The interop client's checks: every method and error case of the `test` plugin, run through
//! its typed client ([`TestClient`], from [`crate::test_client`]) over any [`Caller`], against any
//! implementation that serves it (JS `peer.js`, or [`crate::test_plugin`] in a Rust app).
//!
//! Values are checked strictly, as typed values; what JS legitimately does differently is
//! tolerated (an error's `name`, a typed error that JS cannot send, the exact wording of a
//! refusal, whether a wrongly-typed argument gives an error or an odd value, as long as an answer
//! comes). The few checks that need what a typed client cannot express (an unknown method, wrong
//! argument types) use the dynamic [`Caller`] API.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt, stream};
use secret_stack::rpc::{Body, CallError, Caller, RpcError};
use serde_json::{Number, Value, json};

use crate::test_client::{TestClient, TestError};

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

fn expect_eq<T: PartialEq + Debug>(what: &str, got: &T, want: &T) -> Outcome {
    if got == want {
        Ok(format!("{what} = {got:?}"))
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

/// The message of a remote error, or a description of what came instead.
fn remote_message<T: Debug, E: Debug>(result: Result<T, CallError<E>>) -> Result<String, String> {
    match result {
        Err(CallError::Rpc(RpcError::Remote(e))) => Ok(e.message),
        Err(other) => Err(format!("expected a remote error, got {other:?}")),
        Ok(value) => Err(format!("expected an error, got {value:?}")),
    }
}

/// Every item of a typed stream, then the error that ended it, if any.
async fn drain<T, E>(
    mut items: impl Stream<Item = Result<T, CallError<E>>> + Unpin,
) -> (Vec<T>, Option<CallError<E>>) {
    let mut got = Vec::new();
    while let Some(item) = items.next().await {
        match item {
            Ok(v) => got.push(v),
            Err(e) => return (got, Some(e)),
        }
    }
    (got, None)
}

/// Checks binary chunks against the `bytes` pattern: sizes `chunk` (the last shorter), byte at
/// stream offset `j` equal to `j % 256`, `total` bytes in all.
fn check_chunks(chunks: &[Bytes], total: usize, chunk: usize) -> Outcome {
    let mut offset = 0usize;
    for c in chunks {
        let want = chunk.min(total.saturating_sub(offset));
        if c.len() != want {
            let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
            return Err(format!("chunk sizes {sizes:?}, expected chunks of {chunk}"));
        }
        if let Some(k) = c
            .iter()
            .enumerate()
            .position(|(k, b)| usize::from(*b) != (offset + k) % 256)
        {
            return Err(format!("wrong byte at offset {}", offset + k));
        }
        offset += c.len();
    }
    if offset != total {
        return Err(format!("{offset} bytes instead of {total}"));
    }
    Ok(format!("{total} bytes in {} chunks", chunks.len()))
}

fn number(n: f64) -> Number {
    Number::from_f64(n).unwrap_or_else(|| Number::from(0))
}

/// Runs every check through `caller`; `is_master` says whether the peer granted us master
/// permissions.
pub async fn run_checks<C: Caller + ?Sized>(caller: &C, is_master: bool) -> Vec<CheckResult> {
    let test = TestClient::new(caller);
    let test = &test;
    let mut out = Vec::new();

    out.push(
        run("test.hello", async {
            let got = test.hello("world".into()).await;
            let got = got.map_err(|e| format!("error: {e}"))?;
            expect_eq("hello(\"world\")", &got.as_str(), &"hello world")
        })
        .await,
    );

    out.push(
        run("test.add", async {
            let sum = test.add(2.into(), 40.into()).await;
            let sum = sum.map_err(|e| format!("error: {e}"))?;
            if sum.as_f64() != Some(42.0) {
                return Err(format!("add(2, 40): expected 42, got {sum}"));
            }
            let sum = test.add(number(-1.5), number(0.25)).await;
            let sum = sum.map_err(|e| format!("error: {e}"))?;
            match sum.as_f64() {
                Some(-1.25) => Ok("add(2, 40) = 42, add(-1.5, 0.25) = -1.25".into()),
                _ => Err(format!("add(-1.5, 0.25): expected -1.25, got {sum}")),
            }
        })
        .await,
    );

    out.push(
        run("test.fail", async {
            const MESSAGE: &str = "test.fail: intentional failure";
            match test.fail().await {
                // A Rust peer sends the error's data: the client decodes the typed error.
                Err(CallError::Method(TestError::Intentional)) => {
                    Ok(format!("typed error TestError::Intentional ({MESSAGE})"))
                }
                // A JS peer sends a plain error object: only its message can be compared.
                Err(CallError::Rpc(RpcError::Remote(e))) if e.message == MESSAGE => {
                    Ok(format!("untyped error {:?}", e.message))
                }
                other => Err(format!("expected the error {MESSAGE:?}, got {other:?}")),
            }
        })
        .await,
    );

    out.push(
        run("test.count", async {
            let (items, err) = drain(test.count(5)).await;
            if let Some(e) = err {
                return Err(format!("ended with error {e}"));
            }
            expect_eq("count(5)", &items, &vec![0, 1, 2, 3, 4])
        })
        .await,
    );

    out.push(
        run("test.count(0)", async {
            match drain(test.count(0)).await {
                (items, None) if items.is_empty() => Ok("count(0) is empty".into()),
                (items, e) => Err(format!("count(0): {items:?}, error {e:?}")),
            }
        })
        .await,
    );

    out.push(
        run("test.bytes", async {
            let (chunks, err) = drain(test.bytes(200_000, Some(65536))).await;
            if let Some(e) = err {
                return Err(format!("ended with error {e}"));
            }
            let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
            if sizes != [65536, 65536, 65536, 3392] {
                return Err(format!(
                    "chunk sizes {sizes:?}, expected [65536, 65536, 65536, 3392]"
                ));
            }
            check_chunks(&chunks, 200_000, 65536)
        })
        .await,
    );

    out.push(
        run("test.bytes default chunk", async {
            let (chunks, err) = drain(test.bytes(70000, None)).await;
            let sizes: Vec<usize> = chunks.iter().map(Bytes::len).collect();
            match (sizes.as_slice(), err) {
                ([65536, 4464], None) => {
                    check_chunks(&chunks, 70000, 65536).map(|_| "chunks of 65536 by default".into())
                }
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
            test.collect(stream::iter(items))
                .await
                .map_err(|e| format!("sink ended with error {e}"))?;
            let got = test.collected().await;
            let got = got.map_err(|e| format!("collected: {e}"))?;
            expect_eq("collected()", &got, &want)
        })
        .await,
    );

    out.push(
        run("test.collect empty", async {
            test.collect(stream::empty())
                .await
                .map_err(|e| format!("sink ended with error {e}"))?;
            let got = test.collected().await;
            let got = got.map_err(|e| format!("collected: {e}"))?;
            expect_eq("collected() after an empty collect", &got, &Vec::new())
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
                Body::Text("{\"looks\":\"like json\"}".into()),
            ];
            let (got, err) = drain(test.echo(stream::iter(sent.clone()))).await;
            if let Some(e) = err {
                return Err(format!("echo ended with error {e}"));
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
            let result = test.secret().await;
            if is_master {
                let got = result.map_err(|e| format!("master refused: {e}"))?;
                expect_eq("secret()", &got.as_str(), &"the secret is 42")
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
            // Not in the typed API: the dynamic caller names any path.
            let got = caller.call(&["test", "nope"], vec![]).await;
            let message = remote_message::<_, RpcError>(got.map_err(CallError::Rpc))?;
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
            let mut s = test.count(1_000_000_000);
            let mut first = Vec::new();
            for _ in 0..3 {
                match s.next().await {
                    Some(Ok(n)) => first.push(n),
                    other => return Err(format!("stream stopped early: {other:?}")),
                }
            }
            drop(s);
            expect_eq("first values", &first, &vec![0, 1, 2])?;
            // The connection still serves calls after the abort.
            let got = test.hello("again".into()).await;
            let got = got.map_err(|e| format!("call after abort: {e}"))?;
            expect_eq("hello after abort", &got.as_str(), &"hello again")
        })
        .await,
    );

    out.push(
        run("200 parallel calls", async {
            let calls = (0..200u64).map(|i| async move {
                // Sums are compared as numbers: a peer may send 1000 or 1000.0.
                let as_float = |v: Value| v.as_f64().map_or(v, Value::from);
                let (got, want) = if i % 2 == 0 {
                    let sum = test.add(i.into(), 1000.into()).await;
                    (sum.map(as_float), Value::from((i + 1000) as f64))
                } else {
                    let hello = test.hello(format!("n{i}")).await;
                    (hello.map(Value::from), Value::from(format!("hello n{i}")))
                };
                match got {
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
            let ((counted, e1), (chunks, e2), (one, e3)) = futures::join!(
                drain(test.count(300)),
                drain(test.bytes(100_000, Some(7000))),
                drain(test.count(1)),
            );
            for (name, err) in [
                ("count(300)", e1.map(|e| e.to_string())),
                ("bytes", e2.map(|e| e.to_string())),
                ("count(1)", e3.map(|e| e.to_string())),
            ] {
                if let Some(e) = err {
                    return Err(format!("{name} ended with error {e}"));
                }
            }
            expect_eq("count(300)", &counted, &(0..300).collect())?;
            expect_eq("count(1)", &one, &vec![0])?;
            check_chunks(&chunks, 100_000, 7000).map_err(|e| format!("bytes: {e}"))?;
            Ok("3 sources at once, all complete".into())
        })
        .await,
    );

    out.push(
        run("wrong argument types", async {
            // Not expressible with the typed API. JS may coerce instead of failing; what matters
            // is an answer, not a hang.
            let add = caller
                .call(&["test", "add"], vec![json!("x"), json!({})])
                .await;
            let count = caller.source(&["test", "count"], vec![json!("many")]);
            let (_, count_err) = drain(count.map(|r| r.map_err(CallError::<()>::Rpc))).await;
            let bytes = caller.source(&["test", "bytes"], vec![json!(-1)]);
            let (_, bytes_err) = drain(bytes.map(|r| r.map_err(CallError::<()>::Rpc))).await;
            let ended = |e: Option<CallError<()>>| match e {
                None => "normally".to_owned(),
                Some(CallError::Rpc(e)) => format!("error {e}"),
                Some(CallError::Method(())) => "a method error".to_owned(),
            };
            Ok(format!(
                "add(\"x\", {{}}) -> {}, count(\"many\") ended ({}), bytes(-1) ended ({})",
                match add {
                    Ok(b) => format!("value {}", b.into_json()),
                    Err(e) => format!("error {e}"),
                },
                ended(count_err),
                ended(bytes_err),
            ))
        })
        .await,
    );

    out
}
