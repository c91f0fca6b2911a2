//! A client from a trait, for a plugin that exists only on the other side, called against a
//! local implementation of the same API.
use std::sync::Arc;

use futures::{StreamExt, stream};
use secret_stack::keys::PublicKey;
use secret_stack::rpc::{Body, CallContext, LocalCaller, MethodTable, Permissions, Sink, Source};
use secret_stack::plugin::Plugin;
use secret_stack::{plugin, remote};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum JsError {
    Nope,
}

impl std::fmt::Display for JsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nope")
    }
}

/// The API of a JS plugin.
#[remote(name = "js-only")]
pub trait JsOnly {
    /// Greets.
    async fn hello(&self, name: String) -> Result<String, JsError>;
    fn count(&self, n: u32) -> Source<u32>;
    fn collect(&self, items: Sink<u32>);
    fn echo(&self, items: Sink<Body>) -> Source<Body>;
    #[rpc(name = "weird.name")]
    fn weird(&self) -> u8;
}

pub struct Impl;

#[plugin(name = "js-only", permission = "anonymous")]
impl Impl {
    async fn hello(&self, name: String) -> Result<String, JsError> {
        if name.is_empty() { Err(JsError::Nope) } else { Ok(name) }
    }
    fn count(&self, n: u32) -> Source<u32> {
        Source::iter(0..n)
    }
    async fn collect(&self, items: Sink<u32>) {
        let _ = items.count().await;
    }
    fn echo(&self, items: Sink<Body>) -> Source<Body> {
        items.into()
    }
    #[rpc(name = "weird.name")]
    fn weird(&self) -> u8 {
        7
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(
        JsOnlyClient::<()>::manifest(),
        secret_stack::plugin::PluginDescription::manifest(&Arc::new(Impl))
    );
    let mut table = MethodTable::new();
    for mut m in Arc::new(Impl).methods() {
        m.path.insert(0, "jsOnly".into());
        table.insert(m).unwrap();
    }
    let ctx = CallContext::new(PublicKey([0; 32]), Permissions::full(), 0);
    let client = JsOnlyClient::new(LocalCaller::new(Arc::new(table), ctx));
    assert_eq!(client.hello("x".into()).await.unwrap(), "x");
    assert_eq!(client.hello(String::new()).await.unwrap_err().method_error(), Some(&JsError::Nope));
    assert_eq!(client.count(3).count().await, 3);
    client.collect(stream::iter([1, 2])).await.unwrap();
    assert_eq!(client.echo(stream::iter([Body::Text("a".into())])).count().await, 1);
    assert_eq!(client.weird().await.unwrap(), 7);
}
