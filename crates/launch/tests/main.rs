//! The integration tests of this crate, one test binary (modules below).

mod cli;
mod cluster;
mod common;
mod config_glue;
mod help;
mod hostile;
mod no_duplicates;
mod options;
mod render;
mod stages;
mod status;
