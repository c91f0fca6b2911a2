//! Every kind, inferred and overridden, with every attribute.
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use secret_stack::plugin;
use secret_stack::rpc::{Body, CallContext, Sink, Source};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

type Numbers = Source<u32>;
type Values = Sink<serde_json::Value>;
mod my {
    pub type Result<T> = std::result::Result<T, super::Oops>;
}

pub struct All;

#[plugin(name = "all-kinds", version = "1.2.3", permission = "anonymous", needs = ["other"])]
impl All {
    async fn a_async(&self, name: String, maybe: Option<u8>) -> Result<String, Oops> {
        Ok(format!("{name}{maybe:?}"))
    }
    fn a_sync(&self, ctx: &CallContext, bytes: Bytes, raw: Body) -> my::Result<Bytes> {
        let _ = (ctx, raw);
        Ok(bytes)
    }
    fn a_source(&self, n: u32) -> Source<u32> {
        Source::iter(0..n)
    }
    async fn a_async_source(self: Arc<Self>) -> Result<Source<Bytes>, Oops> {
        Ok(Source::empty())
    }
    async fn a_sink(&self, mut items: Sink<Bytes>) -> Result<(), Oops> {
        while let Some(_item) = items.next().await {}
        Ok(())
    }
    fn a_duplex(&self, items: Sink<Body>) -> Source<Body> {
        Source::from(items)
    }
    #[rpc(kind = "source")]
    fn aliased_source(&self) -> Numbers {
        Source::iter([1])
    }
    #[rpc(kind = "sink")]
    async fn aliased_sink(&self, items: Values) {
        drop(items);
    }
    #[rpc(kind = "sync")]
    async fn announced_sync(&self) -> u8 {
        1
    }
    #[rpc(name = "nested.deeper.call", kind = "async")]
    #[permission(master)]
    fn renamed(&self) {}
    #[rpc(namespace = "ns")]
    #[permission(anonymous, group = "friends")]
    fn in_namespace(&self) -> Vec<u8> {
        vec![]
    }
    #[rpc(skip)]
    fn helper(&mut self) {}
    fn constructor() -> Self {
        All
    }
    const LIMIT: u32 = 3;
}

fn main() {
    use secret_stack::plugin::{Plugin, PluginDescription};
    let all = Arc::new(All::constructor());
    assert_eq!(All::LIMIT, 3);
    assert_eq!(all.needs(), &["other"]);
    assert_eq!(all.version(), "1.2.3");
    assert_eq!(
        all.manifest().to_json(),
        serde_json::json!({
            "aAsync": "async", "aSync": "sync", "aSource": "source", "aAsyncSource": "source",
            "aSink": "sink", "aDuplex": "duplex", "aliasedSource": "source", "aliasedSink": "sink",
            "announcedSync": "sync", "nested": {"deeper": {"call": "async"}},
            "ns": {"inNamespace": "sync"}
        })
    );
    assert_eq!(all.clone().methods().len(), 11);
    assert_eq!(AllClient::<()>::MOUNT, "allKinds");
}
