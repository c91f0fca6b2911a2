//! The `#[plugin]` macro end to end: the interop `test` plugin written with the macro, served
//! through `MethodTable::dispatch` and called through its generated typed client over a
//! `LocalCaller`, the way the stack mounts plugins (paths and permissions prefixed with the mount
//! name). Also a second plugin for namespaces, permission groups and raw identifiers.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::plugin;
use secret_stack::plugin::{Plugin, PluginDescription};
use secret_stack::rpc::{
    Body, CallContext, CallError, CallKind, Caller, LocalCaller, Manifest, MethodTable,
    Permissions, RpcError, Sink, Source,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The `test` plugin's own error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TestError {
    /// What `fail` always answers.
    Intentional,
    /// A sink's caller ended with an error.
    Aborted(String),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::Intentional => f.write_str("test.fail: intentional failure"),
            TestError::Aborted(why) => write!(f, "test.collect: aborted: {why}"),
        }
    }
}

impl std::error::Error for TestError {}

/// The interop `test` plugin.
#[derive(Default)]
pub struct Test {
    collected: Mutex<HashMap<PublicKey, Vec<Value>>>,
}

#[plugin(name = "test", version = "1.0.0", permission = "anonymous")]
impl Test {
    /// Greets `name`.
    async fn hello(&self, name: String) -> String {
        format!("hello {name}")
    }

    /// Adds two numbers.
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }

    /// Always fails.
    async fn fail(&self) -> Result<(), TestError> {
        Err(TestError::Intentional)
    }

    /// 0, 1, …, n-1.
    fn count(&self, n: u32) -> Source<u32> {
        Source::iter(0..n)
    }

    /// `total` bytes in binary chunks of `chunk_size` (default 65536); byte j is j % 256.
    fn bytes(&self, total: usize, chunk_size: Option<usize>) -> Source<Bytes> {
        let chunk = chunk_size.unwrap_or(65536).max(1);
        let chunks = (0..total).step_by(chunk).map(move |start| {
            let end = (start + chunk).min(total);
            (start..end).map(|j| (j % 256) as u8).collect::<Bytes>()
        });
        Source::iter(chunks.collect::<Vec<_>>())
    }

    /// Stores what the caller sends, per caller.
    async fn collect(&self, ctx: &CallContext, mut items: Sink<Value>) -> Result<(), TestError> {
        let mut got = Vec::new();
        while let Some(item) = items.next().await {
            got.push(item.map_err(|e| TestError::Aborted(e.to_string()))?);
        }
        self.store(ctx.remote, got);
        Ok(())
    }

    /// What `collect` stored for this caller.
    async fn collected(&self, ctx: &CallContext) -> Vec<Value> {
        self.stored(&ctx.remote)
    }

    /// Echoes every item, keeping strings, JSON and binary apart.
    fn echo(&self, input: Sink<Body>) -> Source<Body> {
        Source::from(input)
    }

    /// Only for callers with full access.
    #[permission(master)]
    async fn secret(&self) -> String {
        "the secret is 42".to_owned()
    }
}

impl Test {
    fn store(&self, who: PublicKey, items: Vec<Value>) {
        let mut map = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(who).or_default().extend(items);
    }

    fn stored(&self, who: &PublicKey) -> Vec<Value> {
        let map = self.collected.lock().unwrap_or_else(|p| p.into_inner());
        map.get(who).cloned().unwrap_or_default()
    }
}

/// A plugin with a dashed name, namespaces, groups and raw identifiers.
pub struct Graph;

#[plugin(name = "friends-graph", version = "0.2.0")]
impl Graph {
    /// Anyone may ask.
    #[permission(anonymous)]
    fn public_info(&self) -> String {
        "graph".into()
    }

    /// Friends only, in a namespace given by the name.
    #[permission(group = "friends")]
    #[rpc(name = "sub.hops")]
    fn hops(&self, r#type: String) -> String {
        format!("hops of {type}", type = r#type)
    }

    /// Everyone and friends, in a namespace given by `namespace`.
    #[permission(anonymous, group = "friends")]
    #[rpc(namespace = "stats")]
    fn size(self: Arc<Self>) -> u32 {
        3
    }

    /// A raw identifier on the wire.
    #[rpc(kind = "async")]
    fn r#type(&self) -> String {
        "graph".to_owned()
    }

    /// Never exposed.
    #[rpc(skip)]
    fn internal(&self) -> u32 {
        7
    }

    /// Associated functions are never exposed.
    fn new() -> Self {
        Graph
    }
}

/// Serves plugins the way the stack mounts them: paths and permission entries prefixed with the
/// mount name, permission groups merged by union.
struct Node {
    table: Arc<MethodTable>,
    groups: BTreeMap<String, Vec<String>>,
}

fn node(plugins: Vec<Arc<dyn Plugin>>, mounts: &[&str]) -> Node {
    let mut table = MethodTable::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (plugin, mount) in plugins.into_iter().zip(mounts) {
        for (group, perms) in plugin.permissions() {
            let list = groups.entry(group).or_default();
            for p in perms.allow.unwrap_or_default() {
                list.push(format!("{mount}.{p}"));
            }
        }
        for mut m in plugin.methods() {
            m.path.insert(0, (*mount).to_owned());
            table.insert(m).expect("no clash");
        }
    }
    Node {
        table: Arc::new(table),
        groups,
    }
}

impl Node {
    fn caller(&self, who: u8, permissions: Permissions) -> LocalCaller {
        let ctx = CallContext::new(PublicKey([who; 32]), permissions, u64::from(who));
        LocalCaller::new(self.table.clone(), ctx)
    }

    fn group(&self, name: &str) -> Permissions {
        Permissions::allow(self.groups.get(name).cloned().unwrap_or_default())
    }
}

fn test_node() -> Node {
    node(vec![Arc::new(Test::default())], &["test"])
}

#[test]
fn manifest_equals_the_js_one() {
    let expected = json!({"hello":"async","add":"sync","fail":"async","count":"source","bytes":"source",
        "collect":"sink","collected":"async","echo":"duplex","secret":"async"});
    assert_eq!(Arc::new(Test::default()).manifest().to_json(), expected);
    assert_eq!(TestClient::<LocalCaller>::manifest().to_json(), expected);
    let node = test_node();
    assert_eq!(node.table.manifest().to_json(), json!({ "test": expected }));
    let t = Test::default();
    assert_eq!(t.name(), "test");
    assert_eq!(t.version(), "1.0.0");
    assert!(t.needs().is_empty());
}

#[test]
fn permissions_equal_what_js_computes() {
    let expected: BTreeMap<String, Permissions> = [(
        "anonymous".to_owned(),
        Permissions::allow([
            "hello",
            "add",
            "fail",
            "count",
            "bytes",
            "collect",
            "collected",
            "echo",
        ]),
    )]
    .into();
    assert_eq!(Arc::new(Test::default()).permissions(), expected);

    let expected: BTreeMap<String, Permissions> = [
        (
            "anonymous".to_owned(),
            Permissions::allow(["publicInfo", "stats.size"]),
        ),
        (
            "friends".to_owned(),
            Permissions::allow(["sub.hops", "stats.size"]),
        ),
    ]
    .into();
    assert_eq!(Arc::new(Graph).permissions(), expected);
    assert_eq!(
        Arc::new(Graph).manifest().to_json(),
        json!({"publicInfo": "sync", "sub": {"hops": "sync"}, "stats": {"size": "sync"}, "type": "async"})
    );
    assert_eq!(GraphClient::<LocalCaller>::MOUNT, "friendsGraph");
    assert_eq!(Graph::new().internal(), 7);
}

#[tokio::test]
async fn every_kind_through_the_typed_client() {
    let node = test_node();
    let client = TestClient::new(node.caller(1, node.group("anonymous")));

    assert_eq!(client.hello("world".into()).await.unwrap(), "hello world");
    assert_eq!(client.add(2, 40).await.unwrap(), 42);

    let counted: Vec<u32> = client.count(5).map(|r| r.unwrap()).collect().await;
    assert_eq!(counted, vec![0, 1, 2, 3, 4]);
    assert!(client.count(0).collect::<Vec<_>>().await.is_empty());

    let chunks: Vec<Bytes> = client
        .bytes(70000, None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(
        chunks.iter().map(Bytes::len).collect::<Vec<_>>(),
        vec![65536, 4464]
    );
    let all: Vec<u8> = chunks.concat();
    assert!(all.iter().enumerate().all(|(j, &b)| b == (j % 256) as u8));
    let small: Vec<usize> = client
        .bytes(10, Some(4))
        .map(|r| r.unwrap().len())
        .collect()
        .await;
    assert_eq!(small, vec![4, 4, 2]);

    let items = vec![json!(1), json!("two"), json!({"three": 3})];
    client.collect(stream::iter(items.clone())).await.unwrap();
    assert_eq!(client.collected().await.unwrap(), items);
    // Stored per caller: another identity has nothing.
    let other = TestClient::new(node.caller(2, node.group("anonymous")));
    assert_eq!(other.collected().await.unwrap(), Vec::<Value>::new());

    let sent = vec![
        Body::Text("text".into()),
        Body::Json(json!({"a": [1, 2]})),
        Body::Binary(Bytes::from_static(&[0, 1, 255])),
    ];
    let echoed: Vec<Body> = client
        .echo(stream::iter(sent.clone()))
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(echoed, sent);
}

#[tokio::test]
async fn typed_errors_can_be_matched() {
    let node = test_node();
    let client = TestClient::new(node.caller(1, node.group("anonymous")));
    let err = client.fail().await.unwrap_err();
    assert_eq!(err, CallError::Method(TestError::Intentional));
    assert_eq!(err.to_string(), "test.fail: intentional failure");

    // What a JS peer sees on the wire: a plain error object with the message.
    let raw = node
        .caller(1, node.group("anonymous"))
        .call(&["test", "fail"], vec![])
        .await;
    let Err(RpcError::Remote(remote)) = raw else {
        panic!("expected a remote error, got {raw:?}");
    };
    assert_eq!(remote.message, "test.fail: intentional failure");
    assert_eq!(remote.name, "Error");
    assert_eq!(
        serde_json::to_value(&remote).unwrap(),
        json!({"message": "test.fail: intentional failure", "name": "Error", "stack": "",
            "data": "Intentional"})
    );
}

#[tokio::test]
async fn bad_arguments_get_clear_errors() {
    let node = test_node();
    let caller = node.caller(1, node.group("anonymous"));
    let message = |r: Result<Body, RpcError>| match r {
        Err(RpcError::Remote(e)) => e.message,
        other => panic!("expected a remote error, got {other:?}"),
    };
    assert_eq!(
        message(
            caller
                .call(&["test", "add"], vec![json!(1), json!("x")])
                .await
        ),
        "test.add: argument 2 (b): invalid type: string \"x\", expected i64"
    );
    assert_eq!(
        message(caller.call(&["test", "add"], vec![json!(1)]).await),
        "test.add: argument 2 (b) is missing"
    );
    assert_eq!(
        message(
            caller
                .call(&["test", "hello"], vec![json!("a"), json!("b")])
                .await
        ),
        "test.hello: takes 1 argument, got 2"
    );
    // A source refuses its arguments through the stream.
    let items: Vec<_> = caller
        .source(&["test", "count"], vec![json!(-1)])
        .collect()
        .await;
    assert!(matches!(&items[..], [Err(RpcError::Remote(e))]
        if e.message == "test.count: argument 1 (n): invalid value: integer `-1`, expected u32"));
    // Sink items are decoded as the method's item type: a binary body becomes an array of bytes.
    let end = caller
        .sink(
            &["test", "collect"],
            vec![],
            stream::iter(vec![Body::Binary(Bytes::from_static(b"\xff\x01"))]).boxed(),
        )
        .await;
    assert_eq!(end, Ok(()));
    assert_eq!(
        caller.call(&["test", "collected"], vec![]).await,
        Ok(Body::Json(json!([[255, 1]])))
    );
    // Arguments of a sink are checked before any item is read.
    let end = caller
        .sink(
            &["test", "collect"],
            vec![json!(1)],
            stream::empty().boxed(),
        )
        .await;
    assert!(
        matches!(end, Err(RpcError::Remote(e)) if e.message == "test.collect: takes 0 arguments, got 1")
    );
    // Wrong kinds are the exact JS errors.
    assert_eq!(
        message(caller.call(&["test", "count"], vec![json!(1)]).await),
        "no async:test,count"
    );
}

#[tokio::test]
async fn permission_groups_are_enforced() {
    let node = node(
        vec![Arc::new(Test::default()), Arc::new(Graph)],
        &["test", "friendsGraph"],
    );
    let anonymous = TestClient::new(node.caller(1, node.group("anonymous")));
    let Err(CallError::Rpc(RpcError::Remote(e))) = anonymous.secret().await else {
        panic!("anonymous must not read the secret");
    };
    assert_eq!(
        e.message,
        "method:test,secret is not in list of allowed methods"
    );
    let master = TestClient::new(node.caller(1, Permissions::full()));
    assert_eq!(master.secret().await.unwrap(), "the secret is 42");

    let as_anonymous = GraphClient::new(node.caller(1, node.group("anonymous")));
    let as_friend = GraphClient::new(node.caller(2, node.group("friends")));
    assert_eq!(as_anonymous.public_info().await.unwrap(), "graph");
    assert_eq!(as_anonymous.size().await.unwrap(), 3);
    assert!(as_anonymous.hops("x".into()).await.is_err());
    assert_eq!(as_friend.hops("x".into()).await.unwrap(), "hops of x");
    assert_eq!(as_friend.size().await.unwrap(), 3);
    assert!(as_friend.public_info().await.is_err());
    let master = GraphClient::new(node.caller(3, Permissions::full()));
    assert_eq!(master.r#type().await.unwrap(), "graph");
}

#[test]
fn untyped_methods_use_infallible() {
    fn assert_untyped<T>(_: &secret_stack::rpc::TypedFuture<T, Infallible>) {}
    let node = test_node();
    let client = TestClient::new(node.caller(1, node.group("anonymous")));
    assert_untyped(&client.add(1, 2));
    assert_eq!(CallKind::Async.as_str(), "async");
    let _ = Manifest::new();
}

/// A type alias of `Bytes`.
type Chunk = Bytes;

/// A newtype of `Bytes` that opts in to traveling as binary.
#[derive(Debug, Clone, PartialEq)]
struct Blob(Bytes);

impl From<Bytes> for Blob {
    fn from(bytes: Bytes) -> Self {
        Blob(bytes)
    }
}

impl From<Blob> for Bytes {
    fn from(blob: Blob) -> Self {
        blob.0
    }
}

impl secret_stack::rpc::BinaryValue for Blob {}

struct Binary;

#[plugin(name = "binary", permission = "anonymous")]
impl Binary {
    fn aliased(&self, chunk: Chunk) -> Chunk {
        chunk.iter().rev().copied().collect()
    }

    fn wrapped(&self, blob: Blob) -> Blob {
        Blob(blob.0.iter().rev().copied().collect())
    }

    fn blobs(&self, n: u8) -> Source<Blob> {
        Source::iter((0..n).map(|i| Blob(Bytes::from(vec![i; 2]))))
    }
}

#[tokio::test]
async fn aliases_and_newtypes_of_bytes_travel_as_binary() {
    let node = node(vec![Arc::new(Binary)], &["binary"]);
    let caller = node.caller(1, node.group("anonymous"));
    // On the wire: arguments in JS's Buffer shape, results and items as binary bodies.
    let buffer = json!({"type": "Buffer", "data": [1, 2, 3]});
    assert_eq!(
        caller
            .call(&["binary", "aliased"], vec![buffer.clone()])
            .await,
        Ok(Body::Binary(Bytes::from_static(&[3, 2, 1])))
    );
    assert_eq!(
        caller.call(&["binary", "wrapped"], vec![buffer]).await,
        Ok(Body::Binary(Bytes::from_static(&[3, 2, 1])))
    );
    let items: Vec<_> = caller
        .source(&["binary", "blobs"], vec![json!(2)])
        .collect()
        .await;
    assert_eq!(
        items,
        vec![
            Ok(Body::Binary(Bytes::from_static(&[0, 0]))),
            Ok(Body::Binary(Bytes::from_static(&[1, 1]))),
        ]
    );
    // Through the typed client, both ways.
    let client = BinaryClient::new(caller);
    assert_eq!(
        client.aliased(Bytes::from_static(b"ab")).await.unwrap(),
        Bytes::from_static(b"ba")
    );
    assert_eq!(
        client
            .wrapped(Blob(Bytes::from_static(b"xy")))
            .await
            .unwrap(),
        Blob(Bytes::from_static(b"yx"))
    );
}
