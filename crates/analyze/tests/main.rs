//! The integration tests of this crate, one test binary (modules below).

mod common;
mod outputs;
mod report;
mod robustness;
mod tree;
