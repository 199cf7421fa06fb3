//! Command-line arguments of `launch` (`docs/launch.md`).

use std::path::PathBuf;

use clap::Parser;

use crate::skip::{self, SkipSet};

const EXAMPLES: &str = "\
Examples:
  Preview every run, its #SBATCH directives and the GPU-hours, submitting nothing:
    launch --config x.yaml --dry-run

  Submit every run that is not completed, in flight, or failed with OOM, timeout or server_fail:
    launch --config x.yaml

  Submit again the runs that timed out or whose server failed; still skip OOM runs:
    launch --config x.yaml --skip-failure-reasons OOM

  Submit again every failed run:
    launch --config x.yaml --skip-failure-reasons none";

/// Submit a vLLM benchmark sweep to SLURM: one sbatch job per run, skipping runs that are
/// completed, in flight, or failed for a reason that another try will not fix.
///
/// Each run's script is rendered from a Tera template (built-in, `slurm.template`, or
/// `--template`) and submitted with `sbatch --parsable`. The config and the template are
/// checked for every run before SLURM is contacted. The queue is read once with
/// `squeue --me`.
///
/// Human output goes to stderr; `--json` writes one JSON object per run to stdout.
///
/// Exit codes: 0 all went as decided, 1 a submission failed or stdout/stderr could not be
/// written (the submission under way is recorded, the rest are not attempted), 2 invalid
/// command line, config or template (nothing submitted), 3 SLURM could not be queried
/// (nothing submitted), 130 interrupted (the submission under way is recorded, the rest are
/// not attempted).
#[derive(Debug, Parser)]
#[command(name = "launch", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// The sweep config (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Show what would be submitted, with each run's directives and the cost; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Failure classes whose runs are not submitted again, comma-separated (`OOM`,
    /// `host_oom`, `timeout`, `node_fail`, `preempted`, `server_fail`, `cancelled`, `error`),
    /// or `none` to submit every failed run again.
    #[arg(
        long,
        value_name = "LIST|none",
        value_parser = skip::parse,
        default_value = "OOM,timeout,server_fail"
    )]
    pub skip_failure_reasons: SkipSet,

    /// A Tera template replacing the built-in sbatch template (wins over `slurm.template`).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// Only runs whose name or experiment matches this regular expression (unanchored); the
    /// whole config is still checked.
    #[arg(long, value_name = "REGEX")]
    pub only: Option<String>,

    /// Write one JSON object per run to stdout.
    #[arg(long)]
    pub json: bool,

    /// Also show each run's whole rendered script (to stderr when `--json` holds stdout).
    #[arg(long)]
    pub show_script: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn command_lines() {
        let valid: &[&[&str]] = &[
            &["launch", "--config", "x.yaml"],
            &[
                "launch",
                "--config",
                "x.yaml",
                "--dry-run",
                "--json",
                "--show-script",
            ],
            &[
                "launch",
                "--config",
                "x.yaml",
                "--skip-failure-reasons",
                "none",
            ],
            &[
                "launch",
                "--config",
                "x.yaml",
                "--skip-failure-reasons",
                "timeout,server_fail",
            ],
            &[
                "launch",
                "--config",
                "x.yaml",
                "--only",
                "tier0-.*",
                "--template",
                "t.tera",
            ],
        ];
        for line in valid {
            assert!(Args::try_parse_from(*line).is_ok(), "{line:?}");
        }
        let invalid: &[&[&str]] = &[
            &["launch"],
            &["launch", "--config"],
            &[
                "launch",
                "--config",
                "x.yaml",
                "--skip-failure-reasons",
                "oom",
            ],
            &["launch", "--config", "x.yaml", "--skip-failure-reasons", ""],
            &["launch", "--config", "x.yaml", "--submit"],
        ];
        for line in invalid {
            let err = Args::try_parse_from(*line).expect_err("must be refused");
            assert_eq!(err.exit_code(), 2, "{line:?}");
        }
    }

    #[test]
    fn default_skip_set_is_the_originals() {
        let args = Args::try_parse_from(["launch", "--config", "x.yaml"]).unwrap();
        assert_eq!(args.skip_failure_reasons, SkipSet::default());
    }
}
