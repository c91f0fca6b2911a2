//! The library half of `secret-stack-cli`: the interop [`test_plugin`] that `secret-stack serve`
//! runs, for programs that want to serve the same plugin (the workspace's examples and interop
//! tests do). The command line itself is the `secret-stack` binary.

#![warn(missing_docs)]

pub mod test_plugin;
