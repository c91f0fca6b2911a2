//! Helpers shared by the integration tests: loading the vectors of `../shared/vectors`, running
//! the JavaScript side of the interop suite, the muxrpc engine fixtures, the fixtures of the stack tests, and the attacker and
//! gauges of the robustness tests.

pub mod engine;
pub mod hostile;
pub mod node;
pub mod stack_fixtures;
pub mod tunnel;
pub mod vectors;
