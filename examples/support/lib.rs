//! Code shared by the runnable examples and by the integration tests: the interop `test` plugin and the
//! checks the interop client runs against any peer that serves it.

pub mod checks;
pub mod test_plugin;
