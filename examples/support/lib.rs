//! Code shared by the runnable examples and by the integration tests: the interop `test` plugin, the
//! checks the interop client runs against any peer that serves it, and the interop peer and client
//! themselves (the `interop_peer` / `interop_client` examples are their command lines).

pub mod checks;
pub mod client;
pub mod peer;
pub mod test_plugin;
