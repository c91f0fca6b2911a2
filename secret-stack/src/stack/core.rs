//! The methods every app serves, whatever its plugins (JS's core plugin):
//!
//! | path | kind | answer |
//! |---|---|---|
//! | `manifest` | sync | the merged manifest (anonymous peers may call it) |
//! | `address(scope?)` | sync | this app's address for `scope` (default `device`), `""` if none |
//! | `auth(id)` | async | what the auth chain says about `id` (see below) |
//! | `multiserver.parse(address)` | sync | the address split into sections (see below) |
//! | `multiserver.address(scope?)` | sync | like `address`, but `null` when nothing serves it |
//!
//! Deviations, where JS's answer cannot travel as JSON or depends on JS objects:
//! * `auth` answers a permission object for [`AuthDecision::Allow`], `null` for
//!   [`AuthDecision::Anonymous`] (JS calls back with `undefined`), and an error carrying the reason
//!   for [`AuthDecision::Reject`].
//! * `multiserver.parse` answers the grammar's view, `[[{"name", "data": [...]}, …], …]` (one list
//!   of sections per `;` alternative), not the transport plugins' objects (which hold JS buffers).

use std::str::FromStr;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Value, json};

use crate::keys::PublicKey;
use crate::multiserver::Scope;
use crate::multiserver::address::{Address, split_alternatives};
use crate::rpc::{Body, CallKind, Manifest, Method, PermissionTable, RemoteError, Reply};

use super::auth::{AuthChain, AuthDecision};
use super::listen::Addresses;

/// The core manifest: `{auth: async, address: sync, manifest: sync, multiserver: {parse: sync,
/// address: sync}}`.
pub(crate) fn manifest() -> Manifest {
    let mut m = Manifest::new();
    for (path, kind) in entries() {
        m.insert(path, kind);
    }
    m
}

fn entries() -> [(&'static [&'static str], CallKind); 5] {
    [
        (&["auth"], CallKind::Async),
        (&["address"], CallKind::Sync),
        (&["manifest"], CallKind::Sync),
        (&["multiserver", "parse"], CallKind::Sync),
        (&["multiserver", "address"], CallKind::Sync),
    ]
}

/// The core permissions: anonymous peers may call `manifest`.
pub(crate) fn permissions() -> PermissionTable {
    let mut table = PermissionTable::new();
    table.allow("anonymous", "manifest".into());
    table
}

/// The scope named by a call's first argument (`device` when absent); `None` for an unknown one,
/// which no listener serves.
fn scope_arg(args: &[Value]) -> Option<Scope> {
    match args.first() {
        None | Some(Value::Null) => Some(Scope::Device),
        Some(Value::String(s)) => Scope::from_str(s).ok(),
        Some(_) => None,
    }
}

fn answer(result: Result<Body, RemoteError>) -> Reply {
    Reply::Value(futures::future::ready(result).boxed())
}

fn method(
    path: &[&str],
    kind: CallKind,
    handler: impl Fn(Vec<Value>) -> Reply + Send + Sync + 'static,
) -> Method {
    Method {
        path: path.iter().map(|s| (*s).to_owned()).collect(),
        kind,
        // The core's permissions are the constant `permissions()`.
        groups: Vec::new(),
        handler: Arc::new(move |_ctx, args, _input| handler(args)),
    }
}

/// The core methods, answering from the app's merged manifest, its addresses and its auth chain.
pub(crate) fn methods(
    manifest: Arc<Manifest>,
    addresses: Arc<Addresses>,
    auth: Arc<AuthChain>,
) -> Vec<Method> {
    let for_address = Arc::clone(&addresses);
    vec![
        method(&["manifest"], CallKind::Sync, move |_| {
            answer(Ok(Body::Json(manifest.to_json())))
        }),
        method(&["address"], CallKind::Sync, move |args| {
            let address = scope_arg(&args)
                .map(|s| for_address.address(s))
                .unwrap_or_default();
            answer(Ok(Body::Text(address)))
        }),
        method(&["multiserver", "address"], CallKind::Sync, move |args| {
            let address = scope_arg(&args).and_then(|s| addresses.multiaddress(s));
            answer(Ok(address.map_or(Body::Json(Value::Null), Body::Text)))
        }),
        method(&["multiserver", "parse"], CallKind::Sync, |args| {
            answer(match args.first().and_then(Value::as_str) {
                Some(text) => parse(text),
                None => Err(RemoteError::new(
                    "multiserver.parse: expected an address string",
                )),
            })
        }),
        method(&["auth"], CallKind::Async, move |args| {
            let id = args
                .first()
                .and_then(Value::as_str)
                .map(PublicKey::from_str);
            let Some(Ok(id)) = id else {
                return answer(Err(RemoteError::new(
                    "auth: expected a feed id (@<base64>.ed25519)",
                )));
            };
            let decision = auth.decide(id);
            Reply::Value(
                async move {
                    match decision.await {
                        AuthDecision::Allow(permissions) => serde_json::to_value(permissions)
                            .map(Body::Json)
                            .map_err(|e| RemoteError::new(e.to_string())),
                        AuthDecision::Anonymous => Ok(Body::Json(Value::Null)),
                        AuthDecision::Reject(reason) => Err(RemoteError::new(reason)),
                    }
                }
                .boxed(),
            )
        }),
    ]
}

/// `multiserver.parse`: each `;` alternative split into its `~` sections.
fn parse(text: &str) -> Result<Body, RemoteError> {
    let mut alternatives = Vec::new();
    for alternative in split_alternatives(text) {
        let address = Address::from_str(alternative)
            .map_err(|e| RemoteError::new(format!("multiserver.parse: {e}")))?;
        let sections: Vec<Value> = address
            .sections()
            .iter()
            .map(|p| json!({"name": p.name(), "data": p.data()}))
            .collect();
        alternatives.push(Value::Array(sections));
    }
    Ok(Body::Json(Value::Array(alternatives)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_json_is_in_js_key_order() {
        // Byte for byte what JS sends: its key order, not sorted.
        assert_eq!(
            serde_json::to_string(&manifest().to_json()).unwrap(),
            r#"{"auth":"async","address":"sync","manifest":"sync","multiserver":{"parse":"sync","address":"sync"}}"#
        );
    }

    #[test]
    fn parse_splits_alternatives_and_sections() {
        let Ok(Body::Json(v)) = parse("net:a.example:8008~shs:abc;ws://b.example~noauth") else {
            panic!("parse failed");
        };
        assert_eq!(
            v,
            json!([
                [{"name": "net", "data": ["a.example", "8008"]}, {"name": "shs", "data": ["abc"]}],
                [{"name": "ws", "data": ["//b.example"]}, {"name": "noauth", "data": []}]
            ])
        );
        assert!(parse("net:a b:1").is_err());
    }
}
