//! Pure logic shared by `launch` and `analyze`: the sweep config model, sweep expansion,
//! run names, the results path scheme, log and stats parsing, failure classification and
//! metrics.
//!
//! No file system, processes, environment variables or printing happen here: whatever
//! needs the outside world (file contents, the queue listing, the Hugging Face cache) is
//! passed in by the binaries as values, readers or small traits.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod args;
pub mod config;
pub mod decision;
mod expand;
pub mod failure;
pub mod json_kind;
pub mod layout;
pub mod metrics;
pub mod model_config;
pub mod numbers;
pub mod report;
pub mod rows;
pub mod run;
pub mod sbatch_options;
pub mod server_log;
pub mod slurm_time;
pub mod stage;
pub mod state;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod validate;

#[cfg(test)]
mod test_support;
