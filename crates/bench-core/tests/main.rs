//! The integration tests of this crate, one test binary (modules below).

mod attention_heads;
mod common;
mod config_review;
mod config_snapshots;
mod layout_roundtrip;
mod module_graph;
mod stage_config;
mod sweep_config;
mod sweep_properties;
