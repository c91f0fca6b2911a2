//! The cases live in `pass/` and `fail/`, driven by `ui.rs`; this is what pass cases share.

use std::sync::Arc;

use secret_stack::keys::PublicKey;
use secret_stack::plugin::Plugin;
use secret_stack::rpc::{Body, CallContext, Permissions, Reply};
use serde_json::Value;

/// Calls the first method of `plugin` (a sync one) with `args`, as a peer would, and gives back
/// the body it answers.
pub fn first_sync_answer(plugin: impl Plugin, args: Vec<Value>) -> Body {
    let method = Arc::new(plugin).methods().remove(0);
    let ctx = CallContext::new(PublicKey([0; 32]), Permissions::default(), 0);
    let Reply::Value(answer) = (method.handler)(ctx, args, None) else {
        panic!("a sync method answers with a value");
    };
    // A sync method has answered already.
    futures::FutureExt::now_or_never(answer)
        .expect("a sync method answers at once")
        .expect("the call succeeds")
}
