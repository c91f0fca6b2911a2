//! `call ADDRESS METHOD [ARG_JSON...]`: calls any method of a remote peer, of any kind.
//!
//! The kind comes from the remote's `manifest` (one extra call) unless `--kind` names it. Answers
//! go to stdout as JSON lines ([`crate::output`]); a sink's or duplex's items are read from stdin,
//! one per line, parsed like the arguments ([`parse_value`]).

use futures::{Stream, StreamExt};
use secret_stack::rpc::{Body, CallKind, Caller};
use serde_json::Value;
use tracing::debug;

use crate::client::{self, ClientArgs, Session};
use crate::failure::Failure;
use crate::input::{Framing, Input};
use crate::output::Printer;

/// What to call.
#[derive(Debug)]
pub struct Call {
    /// The peer's multiserver address; `None` for the local Scuttlebutt server.
    pub address: Option<String>,
    /// The dotted method path, e.g. `test.hello`.
    pub method: String,
    /// The arguments as given on the command line.
    pub args: Vec<String>,
    /// The kind, if given with `--kind`.
    pub kind: Option<String>,
    /// `--raw`: stdin is sent as binary chunks, binary answers are written as they are.
    pub raw: bool,
}

impl Call {
    /// The call of `[ADDRESS] METHOD [ARG_JSON]...`: the first word is the address if it has a
    /// `:` (every address does, no method name can).
    pub fn from_words(
        words: Vec<String>,
        kind: Option<String>,
        raw: bool,
    ) -> Result<Call, Failure> {
        let mut words = words.into_iter().peekable();
        let address = words.next_if(|word| word.contains(':'));
        let method = words.next().ok_or_else(|| {
            Failure::usage("no METHOD given (usage: call [ADDRESS] METHOD [ARG_JSON]...)")
        })?;
        Ok(Call {
            address,
            method,
            args: words.collect(),
            kind,
            raw,
        })
    }
}

/// A command-line argument or stdin line as a JSON value: parsed as JSON if it is JSON, else the
/// text itself as a string (so `hello world` needs no quotes, and `'"42"'` is the string `42`).
pub fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Splits `a.b.c` into its names; an empty name is an error.
fn method_path(method: &str) -> Result<Vec<&str>, Failure> {
    let path: Vec<&str> = method.split('.').collect();
    if path.iter().any(|name| name.is_empty()) {
        return Err(Failure::usage(format!(
            "invalid method {method:?}: expected dotted names such as test.hello"
        )));
    }
    Ok(path)
}

/// The kind of the method at `path` in a manifest (JSON, as peers send it).
fn kind_in_manifest(manifest: &Value, path: &[&str]) -> Result<CallKind, Failure> {
    let missing = || {
        Failure::usage(format!(
            "the remote manifest has no method {} (give --kind to call it anyway)",
            path.join(".")
        ))
    };
    let mut node = manifest;
    for name in path {
        node = node.get(name).ok_or_else(missing)?;
    }
    let kind = node.as_str().ok_or_else(missing)?;
    kind.parse().map_err(|e| {
        Failure::usage(format!(
            "the remote manifest says {} is {kind:?}: {e}",
            path.join(".")
        ))
    })
}

/// Runs the call and prints what it answers.
pub async fn run(call: Call, client_args: &ClientArgs) -> Result<(), Failure> {
    let path = method_path(&call.method)?;
    let explicit_kind = call
        .kind
        .as_deref()
        .map(str::parse::<CallKind>)
        .transpose()
        .map_err(Failure::usage)?;
    let args: Vec<Value> = call.args.iter().map(|a| parse_value(a)).collect();
    let session = client::connect(call.address.as_deref(), client_args).await?;
    let result = match explicit_kind {
        Some(kind) => Ok(kind),
        None => session
            .manifest()
            .await
            .and_then(|manifest| kind_in_manifest(&manifest, &path)),
    };
    let result = match result {
        Ok(kind) => {
            debug!(method = %call.method, %kind, ?args, "calling");
            perform(&session, &path, kind, args, call.raw).await
        }
        Err(e) => Err(e),
    };
    session.close(result.is_ok()).await;
    result
}

/// Places the call of `kind` and prints its answers.
async fn perform(
    session: &Session,
    path: &[&str],
    kind: CallKind,
    args: Vec<Value>,
    raw: bool,
) -> Result<(), Failure> {
    let peer = session.peer();
    let mut printer = Printer::new(raw);
    let framing = if raw { Framing::Raw } else { Framing::Lines };
    match kind {
        CallKind::Async | CallKind::Sync => {
            let answer = session
                .within("the answer", peer.call(path, args))
                .await??;
            printer.print(answer)
        }
        CallKind::Source => print_all(&mut printer, peer.source(path, args)).await,
        CallKind::Sink => {
            let (input, items) = Input::start(framing)?;
            let result = peer.sink(path, args, items).await;
            input.finish()?;
            Ok(result?)
        }
        CallKind::Duplex => {
            let (input, items) = Input::start(framing)?;
            let result = print_all(&mut printer, peer.duplex(path, args, items)).await;
            input.finish()?;
            result
        }
    }
}

/// Prints every item of a stream as it arrives; its error, if it ends with one, is returned.
async fn print_all(
    printer: &mut Printer,
    items: impl Stream<Item = Result<Body, secret_stack::rpc::RpcError>>,
) -> Result<(), Failure> {
    let mut items = std::pin::pin!(items);
    while let Some(item) = items.next().await {
        printer.print(item?)?;
    }
    Ok(())
}
