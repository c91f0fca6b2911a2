//! Code shared by the runnable examples and by the integration tests: the interop `test` plugin
//! (written with `#[plugin]`), its typed client (`#[remote]`), the checks the interop client runs
//! against any peer that serves it, the interop peer and client themselves (the `interop_peer` /
//! `interop_client` examples are their command lines), the client benchmark (the `bench` example),
//! the replicating node of the `replication` example, and the `greet` plugin of the transport
//! examples.

pub mod bench;
pub mod ceiling;
pub mod checks;
pub mod client;
pub mod engine_pair;
pub mod greet;
pub mod netsim;
pub mod peer;
pub mod replication;
pub mod test_client;
pub mod test_plugin;
