//! Command-line arguments of `analyze`.

use clap::Parser;

/// TODO
#[derive(Debug, Parser)]
#[command(name = "analyze", version)]
pub struct Args {}
