//! Command-line arguments of `launch`.

use clap::Parser;

/// TODO
#[derive(Debug, Parser)]
#[command(name = "launch", version)]
pub struct Args {}
