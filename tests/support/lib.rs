//! Helpers shared by the integration tests: loading the vectors of `../shared/vectors`, and the
//! fixtures of the stack tests.

pub mod stack_fixtures;
pub mod vectors;
