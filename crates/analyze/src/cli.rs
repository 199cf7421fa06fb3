//! Command-line arguments of `analyze`.

use std::path::PathBuf;

use clap::Parser;

/// A count of 1 or more (`--jobs`).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(count) => Ok(count),
        Err(_) => Err("must be a whole number, at least 1".to_owned()),
    }
}

/// Examples shown at the end of `--help`.
const EXAMPLES: &str = "\
Examples:
  # Analyze the launcher's results tree; CSVs go next to the results
  analyze --root data

  # Write the CSVs elsewhere, print no tables, use 4 threads
  analyze --root data --out reports --jobs 4 --quiet

  # Only the optimization summary table
  analyze --root data | sed -n '/^## Optimization summary/,$p'";

/// Turn a results tree into per-experiment CSVs, Markdown tables and the optimization summary.
///
/// Every `inference_logs/slurm_logs/*.out` file below `--root` is a row. The config columns
/// come from the run directory's path, the metrics from `inference_logs/stats.json` and the
/// run's vLLM server log; a run that did not complete gets its failure class in `comment`.
/// Writes `{experiment}.csv`, `benchmarking_results.csv`, `optimization_summary.csv` and the
/// report (`report.html`, `report.md` with its charts in `report_files/`), all whole or not
/// at all, and prints the tables on stdout.
///
/// Exit code 0 when the tree was analyzed (runs that could not be read are reported on
/// stderr and in their row's comment), 2 when `--root` is missing, not a directory, empty or
/// without any run directory (or `--out` is a file), 1 when the outputs, stdout or stderr
/// could not be written.
#[derive(Debug, Parser)]
#[command(name = "analyze", version, after_long_help = EXAMPLES)]
pub struct Args {
    /// The results tree (the launcher's `output-dir`, `data` by default there).
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// Directory to write the CSV files and the report into, created if missing [default:
    /// `--root`].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Runs analyzed at the same time, 1 or more [default: one per CPU; at most 4 per CPU and
    /// one per run are used]
    #[arg(long, short = 'j', value_name = "N", value_parser = at_least_one)]
    pub jobs: Option<usize>,

    /// Write no report (`report.html`, `report.md`, `report_files/`), and remove the one an
    /// earlier analyze wrote into `--out` (files of those names it did not write stay).
    #[arg(long)]
    pub no_report: bool,

    /// Print nothing on stdout (the CSV files are still written, warnings still go to stderr).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn accepts_and_rejects_command_lines() {
        let ok: [&[&str]; 4] = [
            &["analyze", "--root", "data"],
            &[
                "analyze", "--root", "data", "--out", "o", "--jobs", "2", "--quiet",
            ],
            &["analyze", "--root=data", "-j", "1", "-q"],
            &["analyze", "--root", "data", "--out", "data"],
        ];
        for line in ok {
            assert!(Args::try_parse_from(line).is_ok(), "{line:?}");
        }
        let bad: [&[&str]; 5] = [
            &["analyze"],
            &["analyze", "--root"],
            &["analyze", "--root", "data", "--jobs", "0"],
            &["analyze", "--root", "data", "--jobs", "many"],
            &["analyze", "--root", "data", "--bogus"],
        ];
        for line in bad {
            assert!(Args::try_parse_from(line).is_err(), "{line:?}");
        }
        let args = Args::try_parse_from(["analyze", "--root", "d", "-j", "3"]).unwrap();
        assert_eq!(args.root, PathBuf::from("d"));
        assert_eq!(args.out, None);
        assert_eq!(args.jobs, Some(3));
        let err = Args::try_parse_from(["analyze", "--root", "d", "--jobs", "0"]).unwrap_err();
        assert!(err.to_string().contains("must be at least 1"), "{err}");
        let many = Args::try_parse_from(["analyze", "--root", "d", "--jobs", "100000"]).unwrap();
        assert_eq!(many.jobs, Some(100_000));
        assert!(!args.quiet);
    }

    #[test]
    fn help_text() {
        insta::assert_snapshot!(
            Args::command()
                .term_width(100)
                .render_long_help()
                .to_string()
        );
    }
}
