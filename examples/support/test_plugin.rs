//! The interop `test` plugin ([`Test`], from `secret-stack-cli`'s library, whose `serve` runs
//! it), and what serving it from a bare [`MethodTable`](secret_stack::rpc::MethodTable) without a
//! stack takes: its [`methods`] and the [`permissions`] of a connection.

use std::sync::Arc;

use secret_stack::plugin::Plugin;
use secret_stack::rpc::{Method, Permissions};

pub use secret_stack_cli::test_plugin::*;

/// The plugin's methods mounted under [`PREFIX`], with a fresh store: for serving the plugin from
/// a bare [`MethodTable`](secret_stack::rpc::MethodTable) without a stack.
pub fn methods() -> Vec<Method> {
    Arc::new(Test::default())
        .methods()
        .into_iter()
        .map(|mut m| {
            m.path.insert(0, PREFIX.to_owned());
            m
        })
        .collect()
}

/// The permissions of a connection to a bare method table serving [`methods`]: full for the
/// node's own key and masters, everything but `test.secret` for anyone else (as a deny list; a
/// stack app uses the allow list of its `anonymous` group instead).
pub fn permissions(is_self_or_master: bool) -> Permissions {
    if is_self_or_master {
        Permissions::full()
    } else {
        Permissions {
            allow: None,
            deny: Some(vec![format!("{PREFIX}.secret")]),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use futures::channel::mpsc;
    use futures::{StreamExt, stream};
    use secret_stack::keys::PublicKey;
    use secret_stack::rpc::{Body, CallContext, Caller, LocalCaller, MethodTable};
    use serde_json::json;

    use super::*;

    fn caller(table: &Arc<MethodTable>, connection: u64) -> LocalCaller {
        let ctx = CallContext::new(PublicKey([1; 32]), Permissions::full(), connection);
        LocalCaller::new(Arc::clone(table), ctx)
    }

    fn table() -> Arc<MethodTable> {
        let mut table = MethodTable::new();
        for m in methods() {
            table.insert(m).unwrap_or_else(|e| panic!("{e:?}"));
        }
        Arc::new(table)
    }

    #[test]
    fn manifest_and_permissions_are_the_js_plugin_s() {
        use secret_stack::plugin::PluginDescription;
        let test = Arc::new(Test::default());
        assert_eq!(
            test.manifest().to_json(),
            json!({"hello": "async", "add": "sync", "fail": "async", "count": "source",
                "bytes": "source", "collect": "sink", "collected": "async", "echo": "duplex",
                "secret": "async"})
        );
        let anonymous = Permissions::allow([
            "hello",
            "add",
            "fail",
            "count",
            "bytes",
            "collect",
            "collected",
            "echo",
        ]);
        assert_eq!(
            test.permissions(),
            BTreeMap::from([("anonymous".to_owned(), anonymous)])
        );
        assert_eq!((test.name(), test.version()), ("test", "1.0.0"));
    }

    #[tokio::test]
    async fn collected_waits_for_a_collect_that_is_still_receiving() {
        let table = table();
        let caller = caller(&table, 7);
        let (tx, rx) = mpsc::unbounded();
        let sink = caller.sink(&["test", "collect"], vec![], rx.boxed());
        // Asked before the sink got anything, and polled first: it must wait for the sink's end
        // instead of answering what was there before (JS callers do exactly this).
        let collected = caller.call(&["test", "collected"], vec![]);
        for item in [
            Body::from_json(json!(1)),
            Body::Binary(Bytes::from_static(b"\x00\xff")),
        ] {
            tx.unbounded_send(item)
                .unwrap_or_else(|e| panic!("send: {e}"));
        }
        drop(tx);
        let (got, end) = futures::join!(collected, sink);
        assert_eq!(end, Ok(()));
        assert_eq!(got, Ok(Body::Json(json!([1, "binary:AP8="]))));
    }

    #[tokio::test]
    async fn the_store_is_per_connection() {
        let table = table();
        let (a, b) = (caller(&table, 1), caller(&table, 2));
        let items = stream::iter([Body::from("x")]).boxed();
        assert_eq!(a.sink(&["test", "collect"], vec![], items).await, Ok(()));
        assert_eq!(
            a.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!(["x"])))
        );
        assert_eq!(
            b.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!([])))
        );
    }

    #[tokio::test]
    async fn a_per_caller_store_is_shared_by_the_connections_of_one_caller() {
        let mut table = MethodTable::new();
        for mut m in Arc::new(Test::per_caller()).methods() {
            m.path.insert(0, PREFIX.to_owned());
            table.insert(m).unwrap_or_else(|e| panic!("{e:?}"));
        }
        let table = Arc::new(table);
        let (a, b) = (caller(&table, 1), caller(&table, 2));
        let stranger = LocalCaller::new(
            Arc::clone(&table),
            CallContext::new(PublicKey([2; 32]), Permissions::full(), 3),
        );
        let items = stream::iter([Body::from("x")]).boxed();
        assert_eq!(a.sink(&["test", "collect"], vec![], items).await, Ok(()));
        assert_eq!(
            b.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!(["x"])))
        );
        assert_eq!(
            stranger.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!([])))
        );
    }

    #[tokio::test]
    async fn forget_drops_a_connection_s_items() {
        let test = Test::default();
        let plugin = Arc::new(test.clone());
        let mut table = MethodTable::new();
        for mut m in plugin.methods() {
            m.path.insert(0, PREFIX.to_owned());
            table.insert(m).unwrap_or_else(|e| panic!("{e:?}"));
        }
        let table = Arc::new(table);
        let a = caller(&table, 3);
        let items = stream::iter([Body::from_json(json!(5))]).boxed();
        assert_eq!(a.sink(&["test", "collect"], vec![], items).await, Ok(()));
        test.forget(3);
        assert_eq!(
            a.call(&["test", "collected"], vec![]).await,
            Ok(Body::Json(json!([])))
        );
    }

    #[tokio::test]
    async fn bad_chunk_sizes_are_typed_errors() {
        let table = table();
        let items: Vec<_> = caller(&table, 1)
            .source(&["test", "bytes"], vec![json!(10), json!(0)])
            .collect()
            .await;
        let [Err(secret_stack::rpc::RpcError::Remote(e))] = items.as_slice() else {
            panic!("expected one error, got {items:?}");
        };
        assert_eq!(
            e.message,
            "test.bytes: chunkSize must be an integer in 1..=4194304, got 0"
        );
        assert_eq!(e.data.as_deref(), Some(&json!({"BadChunkSize": 0})));
    }
}
