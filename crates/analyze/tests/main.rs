//! The integration tests of this crate, one test binary (modules below).

mod common;
mod robustness;
mod tree;
