//! The integration tests of this crate, one test binary (modules below).

mod common;
mod report;
mod robustness;
mod tree;
