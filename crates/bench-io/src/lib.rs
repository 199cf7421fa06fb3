//! The file-system side of `bench-core`: adapters that implement its traits over real
//! folders, so the core stays pure and the `launch` and `analyze` binaries stay thin.
//!
//! - [`run_files`]: [`DirRunFiles`], a run directory as the run-state rule
//!   ([`bench_core::state::RunFiles`]) sees it, careful with special files and huge files.
//! - [`bounded`]: whole input files (config, template, a model's `config.json`) read under a
//!   size cap, pipes allowed where they make sense.
//! - [`console`]: stdout and stderr with every write checked, so a closed pipe stops a
//!   binary at a safe point with exit code 1 instead of a panic.
//! - [`path_text`]: paths as text for messages and CSV cells, without losing bytes that are
//!   not UTF-8.

pub mod bounded;
pub mod console;
pub mod path_text;
pub mod run_files;

pub use console::{Console, OutputFailure};
pub use run_files::{DirRunFiles, MAX_READ_BYTES};
