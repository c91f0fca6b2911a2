//! Procedural macros of `secret-stack`. Use them through the `secret_stack` crate, which re-exports them.
