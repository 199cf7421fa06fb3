//! The `launch` command: argument parsing lives in `cli.rs`, the work in `lib.rs`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = launch::cli::Args::parse();
    match launch::run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
