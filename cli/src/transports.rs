//! The transports of this build besides TCP (`net`, always there): `ws` (WebSocket) and `unix`
//! (Unix domain sockets), each behind the cargo feature of that name (both on by default).

use secret_stack::stack::Builder;
use serde_json::{Map, Value, json};

/// Adds the optional transports this build has to `builder`.
pub fn add(builder: Builder) -> Builder {
    #[cfg(feature = "ws")]
    let builder = builder.transport(secret_stack::multiserver::Ws);
    #[cfg(all(unix, feature = "unix"))]
    let builder = builder.transport(secret_stack::multiserver::Unix);
    builder
}

/// The `connections.outgoing` of a caller: every transport of this build, with `shs`.
pub fn outgoing() -> Value {
    let mut outgoing = Map::new();
    for name in names() {
        outgoing.insert(name.to_owned(), json!([{"transform": "shs"}]));
    }
    Value::Object(outgoing)
}

/// The names of the transports of this build.
fn names() -> Vec<&'static str> {
    let mut names = vec!["net"];
    if cfg!(feature = "ws") {
        names.push("ws");
    }
    if cfg!(all(unix, feature = "unix")) {
        names.push("unix");
    }
    names
}
