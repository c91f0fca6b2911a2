//! Helpers shared by the integration tests: loading the vectors of `../shared/vectors` and running
//! the JavaScript side of the interop suite, and the attacker and gauges of the robustness tests.

pub mod hostile;
pub mod node;
pub mod vectors;
