//! Helpers shared by the integration tests: loading the vectors of `../shared/vectors`.

pub mod vectors;
