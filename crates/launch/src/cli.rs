//! Command-line arguments of `launch`.

use std::path::PathBuf;

use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  # Preview a sweep: validate it and list every run with its run directory
  launch --config configs/sample_benchmark_config.yaml --dry-run";

/// Expand a vLLM benchmark sweep config into runs and submit them to SLURM, one job per run.
///
/// The whole config is validated first (contract 1): any problem is reported, all at once,
/// and nothing is submitted (exit code 2).
#[derive(Debug, Parser)]
#[command(name = "launch", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// The sweep config (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Validate and list every run (name and run directory); submit nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn command_lines() {
        let ok = Args::try_parse_from(["launch", "--config", "c.yaml", "--dry-run"]).unwrap();
        assert_eq!(ok.config, PathBuf::from("c.yaml"));
        assert!(ok.dry_run);
        assert!(
            !Args::try_parse_from(["launch", "--config", "c.yaml"])
                .unwrap()
                .dry_run
        );
        for bad in [
            &["launch"][..],
            &["launch", "--dry-run"],
            &["launch", "--config"],
        ] {
            assert!(Args::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
