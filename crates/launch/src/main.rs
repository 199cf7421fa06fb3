//! The `launch` command: argument parsing lives in `cli.rs`, the work in `lib.rs`; every
//! error ends here, printed once and mapped to its exit code.

use std::process::ExitCode;

use bench_io::Console;
use clap::Parser;

fn main() -> ExitCode {
    let args = launch::cli::Args::parse();
    let mut console = Console::new();
    match launch::run(&args, &mut console) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !err.is_reported() {
                console.err_line(format_args!("error: {err}"));
            }
            err.exit_code()
        }
    }
}
