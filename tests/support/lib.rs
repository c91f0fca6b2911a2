//! Helpers shared by the integration tests: loading the vectors of `../shared/vectors` and running
//! the JavaScript side of the interop suite.

pub mod node;
pub mod vectors;
