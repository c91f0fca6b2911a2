//! Helpers shared by the integration tests: loading the vectors of `../shared/vectors`, running
//! the JavaScript side of the interop suite, and the fixtures of the stack tests.

pub mod node;
pub mod stack_fixtures;
pub mod vectors;
