//! The `analyze` binary's work: thin I/O around `bench-core`.

pub mod cli;

use std::process::ExitCode;

/// Run `analyze` with parsed arguments; returns the process exit code.
pub fn run(args: &cli::Args) -> anyhow::Result<ExitCode> {
    let _ = args;
    Ok(ExitCode::SUCCESS)
}
