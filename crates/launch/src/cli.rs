//! Command-line arguments of `launch` (`docs/launch.md`).

use std::path::PathBuf;

use clap::Parser;

use crate::skip::{self, SkipSet};

const EXAMPLES: &str = "\
Examples:
  Preview every run's decision and the GPU-hours, submitting nothing (`--verbose`: with
  each run's #SBATCH directives and kwargs):
    launch --config x.yaml --dry-run

  Where the sweep stands: completed, in flight, waiting, failed and not submitted runs:
    launch --config x.yaml --status

  Submit every run that is not completed, in flight, or failed with OOM, timeout or server_fail:
    launch --config x.yaml

  Submit again the runs that timed out or whose server failed; still skip OOM runs:
    launch --config x.yaml --skip-failure-reasons OOM

  Submit again every failed run:
    launch --config x.yaml --skip-failure-reasons none

  Carry a staged sweep to its end: submit, then read the queue every 60 s and submit each
  stage's runs as soon as its source is finished, until nothing is in flight or waiting:
    launch --config x.yaml --follow";

/// Submit a vLLM benchmark sweep to SLURM: one sbatch job per run, skipping runs that are
/// completed, in flight, or failed for a reason that another try will not fix.
///
/// Each run's script is rendered from a Tera template (built-in, `slurm.template`, or
/// `--template`) and submitted with `sbatch --parsable`. The config and the template are
/// checked for every run before SLURM is contacted. The queue is read once with
/// `squeue --me`.
///
/// Stages (`from:` in the config) take the winners of an earlier experiment per model: their
/// runs are submitted once the source's runs of that model have finished, and shown until
/// then as `waiting` (or `skipped_no_winner` when every source run failed). Launch again as
/// runs finish, or keep one `launch --follow` running.
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
#[expect(
    clippy::struct_excessive_bools,
    reason = "each is one command-line flag, as clap spells them"
)]
pub struct Args {
    /// The sweep config (YAML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Show what would be submitted: one line per run, the counts and the cost; write
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Show where the sweep stands, submitting nothing: per experiment the runs completed,
    /// in flight, waiting, failed and not submitted, then each run that is not completed
    /// with its job, state, failure class and `.out` file, and the flag that runs skipped
    /// failures again.
    #[arg(long, conflicts_with_all = ["dry_run", "follow", "show_script", "verbose"])]
    pub status: bool,

    /// With `--dry-run`: each run's `#SBATCH` directives and the kwargs its script gets.
    #[arg(long)]
    pub verbose: bool,

    /// Say no warnings (each is otherwise said once per call).
    #[arg(long)]
    pub no_warnings: bool,

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

    /// Only runs whose name, experiment or run directory matches this regular expression
    /// (unanchored: `tp1-pp1` and `mns_256` select default values too); the whole config is
    /// still checked.
    #[arg(long, value_name = "REGEX")]
    pub only: Option<String>,

    /// Write one JSON object per run to stdout, with the run's parameters.
    #[arg(long)]
    pub json: bool,

    /// Also show each run's whole rendered script (on stderr, like all human output).
    #[arg(long)]
    pub show_script: bool,

    /// Keep going after submitting: read the queue every `--poll` seconds, submit stage runs
    /// as their sources finish, and stop when nothing is in flight or waiting. Each run is
    /// submitted at most once while following. Not with `--dry-run`.
    #[arg(long)]
    pub follow: bool,

    /// Seconds between two readings of the queue while following (5 to 86400; default 60).
    #[arg(long, value_name = "SECONDS", value_parser = parse_poll)]
    pub poll: Option<u64>,
}

/// The default of `--poll`, seconds.
pub const DEFAULT_POLL: u64 = 60;

/// The least `--poll` accepted, seconds.
pub const MIN_POLL: u64 = 5;

/// The most `--poll` accepted, seconds: a day.
pub const MAX_POLL: u64 = 86_400;

/// `--poll`: whole seconds, at least [`MIN_POLL`].
fn parse_poll(text: &str) -> Result<u64, String> {
    let seconds: u64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of seconds"))?;
    if seconds < MIN_POLL {
        return Err(format!(
            "must be at least {MIN_POLL} seconds: each poll reads the whole queue, and a \
             scheduler shared by many users should not be asked more often"
        ));
    }
    if seconds > MAX_POLL {
        return Err(format!("must be at most {MAX_POLL} seconds (a day)"));
    }
    Ok(seconds)
}

impl Args {
    /// The combinations of options that are refused: `--follow` with `--dry-run`,
    /// `--verbose` without `--dry-run`, `--poll` without `--follow`.
    ///
    /// # Errors
    /// The rule that is broken, as the message to show.
    pub fn check(&self) -> Result<(), String> {
        if self.follow && self.dry_run {
            return Err(
                "`--follow` cannot be combined with `--dry-run`: following submits \
                        runs as their sources finish, and a dry run submits nothing (preview \
                        with `--dry-run` alone)"
                    .into(),
            );
        }
        if self.verbose && !self.dry_run {
            return Err(
                "`--verbose` adds each run's directives and kwargs to a dry run: add `--dry-run`"
                    .into(),
            );
        }
        if self.poll.is_some() && !self.follow {
            return Err(
                "`--poll` sets how often `--follow` reads the queue: add `--follow`".into(),
            );
        }
        Ok(())
    }

    /// Seconds between two polls while following.
    pub fn poll_seconds(&self) -> u64 {
        self.poll.unwrap_or(DEFAULT_POLL)
    }
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
            &["launch", "--config", "x.yaml", "--follow", "--poll", "4"],
            &[
                "launch", "--config", "x.yaml", "--follow", "--poll", "86401",
            ],
            &["launch", "--config", "x.yaml", "--follow", "--poll", "5.5"],
        ];
        for line in invalid {
            let err = Args::try_parse_from(*line).expect_err("must be refused");
            assert_eq!(err.exit_code(), 2, "{line:?}");
        }
    }

    #[test]
    fn follow_combinations() {
        let args = |line: &[&str]| Args::try_parse_from(line).expect("parses");
        let follow = args(&["launch", "--config", "x.yaml", "--follow", "--poll", "5"]);
        assert_eq!((follow.check(), follow.poll_seconds()), (Ok(()), 5));
        assert_eq!(
            args(&["launch", "--config", "x.yaml", "--follow"]).poll_seconds(),
            DEFAULT_POLL
        );
        let dry = args(&["launch", "--config", "x.yaml", "--follow", "--dry-run"]);
        assert_eq!(
            dry.check(),
            Err(
                "`--follow` cannot be combined with `--dry-run`: following submits runs as \
                 their sources finish, and a dry run submits nothing (preview with `--dry-run` \
                 alone)"
                    .to_owned()
            )
        );
        let poll = args(&["launch", "--config", "x.yaml", "--poll", "10"]);
        assert_eq!(
            poll.check(),
            Err("`--poll` sets how often `--follow` reads the queue: add `--follow`".to_owned())
        );
    }

    #[test]
    fn verbose_goes_with_dry_run() {
        let args = |line: &[&str]| Args::try_parse_from(line).expect("parses");
        assert_eq!(
            args(&["launch", "--config", "x.yaml", "--verbose"]).check(),
            Err(
                "`--verbose` adds each run's directives and kwargs to a dry run: add `--dry-run`"
                    .to_owned()
            )
        );
        assert_eq!(
            args(&["launch", "--config", "x.yaml", "--verbose", "--dry-run"]).check(),
            Ok(())
        );
    }

    #[test]
    fn default_skip_set_is_the_originals() {
        let args = Args::try_parse_from(["launch", "--config", "x.yaml"]).unwrap();
        assert_eq!(args.skip_failure_reasons, SkipSet::default());
    }
}
