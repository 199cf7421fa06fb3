//! The integration tests of this crate, one test binary (modules below).

mod cluster;
mod cluster_restart;
mod e2e;
mod follow;
mod report_browser;
mod staged;
mod tools;
