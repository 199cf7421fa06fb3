//! The `analyze` binary's work: thin I/O around `bench-core` (`docs/results.md`).
//!
//! The tree is walked once ([`walk`]), the runs are analyzed in parallel ([`analysis`]), the
//! rows de-duplicated and sorted, and the CSVs ([`output`]) and tables ([`tables`]) written.

pub mod analysis;
pub mod cli;
pub mod output;
pub mod report;
pub mod tables;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use bench_core::layout::Segment;
use bench_core::layout::rel::SLURM_LOGS_DIR;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bench_core::rows::dedup_and_sort;
use bench_core::summary::summarize;
use bench_io::{Console, OutputFailure};
use indicatif::{ProgressBar, ProgressStyle};

use crate::analysis::{RunOutcome, analyze_run};

/// Why `analyze` failed; `main` prints it and exits with [`AnalyzeError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// A problem with the command line, `--root` or `--out`: nothing written.
    #[error("{0}")]
    Usage(String),
    /// The outputs could not be written.
    #[error("{0}")]
    Write(String),
    /// Writing to stdout or stderr failed.
    #[error(transparent)]
    Output(#[from] OutputFailure),
}

impl AnalyzeError {
    /// The documented exit code: 2 for a usage problem, 1 when the outputs or the console
    /// could not be written.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            AnalyzeError::Usage(_) => 2,
            AnalyzeError::Write(_) | AnalyzeError::Output(_) => 1,
        })
    }
}

/// Check `--root`: it must exist, be a directory and have at least one entry.
fn check_root(root: &Path) -> Result<(), AnalyzeError> {
    let shown = root.display();
    let meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(AnalyzeError::Usage(format!(
                "`--root` `{shown}` does not exist\nhint: pass the launcher's output-dir, e.g. `--root data`"
            )));
        }
        Err(err) => {
            return Err(AnalyzeError::Usage(format!(
                "cannot read `--root` `{shown}`: {err}"
            )));
        }
    };
    if !meta.is_dir() {
        return Err(AnalyzeError::Usage(format!(
            "`--root` `{shown}` is not a directory\nhint: pass the directory that holds the experiments' directories"
        )));
    }
    let mut entries = fs::read_dir(root)
        .map_err(|err| AnalyzeError::Usage(format!("cannot read `--root` `{shown}`: {err}")))?;
    if entries.next().is_none() {
        return Err(AnalyzeError::Usage(format!(
            "`--root` `{shown}` is empty: nothing to analyze\nhint: is it the right directory? the launcher writes results below its output-dir"
        )));
    }
    Ok(())
}

/// The progress bar: on stderr when it is a terminal, hidden otherwise. Its length grows as
/// the walk finds runs.
fn progress_bar() -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} runs {elapsed}") {
        bar.set_style(style);
    }
    bar
}

/// Everything the runs reported, merged.
#[derive(Debug, Default)]
struct Findings {
    rows: Vec<bench_core::rows::Row>,
    problems: Vec<String>,
    /// Unknown path component -> the first run directory it was seen in.
    unknown_components: BTreeMap<String, String>,
    runs_without_out: usize,
}

impl Findings {
    fn add(&mut self, run: &walk::FoundRun, outcome: RunOutcome) {
        self.rows.extend(outcome.rows);
        self.problems.extend(outcome.problems);
        for component in outcome.unknown_components {
            self.unknown_components
                .entry(component)
                .or_insert_with(|| run.shown.clone());
        }
        self.runs_without_out += usize::from(outcome.without_out);
    }
}

/// The number of worker threads: `--jobs` (default: `available` CPUs), but never more than
/// one per run nor 4 per CPU (`--jobs 100000` must not start 100,000 threads), and at
/// least 1.
pub fn worker_count(jobs: Option<usize>, runs: usize, available: usize) -> usize {
    let available = available.max(1);
    jobs.unwrap_or(available)
        .min(runs)
        .min(available.saturating_mul(4))
        .max(1)
}

/// The experiment names (as the rows show them) that stand for more than one folder on
/// disk: names not valid UTF-8 are escaped, and an escaped name can equal another folder's
/// literal name. Neither gets a CSV of its own, so one never overwrites the other.
fn clashing_experiments<'a>(runs: impl Iterator<Item = &'a walk::FoundRun>) -> BTreeSet<String> {
    let mut folders: BTreeMap<&str, BTreeSet<&OsString>> = BTreeMap::new();
    for run in runs {
        let shown = run.components.first().map_or("", String::as_str);
        folders.entry(shown).or_default().insert(&run.experiment);
    }
    folders
        .into_iter()
        .filter(|(_, raw)| raw.len() > 1)
        .map(|(shown, _)| shown.to_owned())
        .collect()
}

/// Print one warning line per problem on stderr.
fn report(console: &mut Console, problems: &[String], findings: &Findings, skipped: &[String]) {
    for problem in problems.iter().chain(&findings.problems).chain(skipped) {
        console.err_line(format_args!("warning: {problem}"));
    }
    for (component, run) in &findings.unknown_components {
        console.err_line(format_args!(
            "warning: unknown path component `{component}` (first in `{run}`): ignored"
        ));
    }
    if !findings.unknown_components.is_empty() {
        let below_model: Vec<String> = std::iter::once("tp{T}-pp{P}-dp{D}".to_owned())
            .chain(Segment::ALL.iter().map(|segment| {
                let value = if segment.is_integer() { "{N}" } else { "*" };
                segment.with(value)
            }))
            .collect();
        console.err_line(format_args!(
            "hint: below the model the layout is {}",
            below_model.join("/")
        ));
    }
    if findings.runs_without_out > 0 {
        console.err_line(format_args!(
            "note: {} run director{} without a .out file in {SLURM_LOGS_DIR}: no rows for {}",
            findings.runs_without_out,
            if findings.runs_without_out == 1 {
                "y"
            } else {
                "ies"
            },
            if findings.runs_without_out == 1 {
                "it"
            } else {
                "them"
            },
        ));
    }
}

/// Walk `root` on one of the pool's threads and analyze each run on the others as soon as
/// the walk finds it (with one thread: the walk, then the runs). Returns the walk's problems
/// and every run with its outcome, in the walk's order.
fn walk_and_analyze(
    pool: &rayon::ThreadPool,
    root: &Path,
    progress: &ProgressBar,
) -> (Vec<String>, Vec<(walk::FoundRun, RunOutcome)>) {
    let analyzed = Mutex::new(Vec::new());
    let problems = pool.scope(|scope| {
        let mut index = 0usize;
        walk::walk_runs(root, |run| {
            progress.inc_length(1);
            let (analyzed, progress) = (&analyzed, progress);
            scope.spawn(move |_| {
                let outcome = analyze_run(&run);
                progress.inc(1);
                lock(analyzed).push((index, run, outcome));
            });
            index += 1;
        })
    });
    let mut analyzed = analyzed
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    analyzed.sort_unstable_by_key(|(index, ..)| *index);
    let runs = analyzed
        .into_iter()
        .map(|(_, run, outcome)| (run, outcome))
        .collect();
    (problems, runs)
}

/// Lock `mutex`; a thread that panicked while holding it left whole entries only.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Write the CSVs and the report (or remove an earlier report when there is none) into
/// `out_dir`, all staged first so that a failure leaves the earlier outputs as they were.
fn write_outputs(
    out_dir: &Path,
    csv_files: &[(String, Vec<Vec<String>>)],
    rendered: Option<&report::Rendered>,
) -> anyhow::Result<()> {
    let mut staging = output::Staging::new(out_dir);
    for (name, records) in csv_files {
        staging.csv(name, records)?;
    }
    match rendered {
        Some(rendered) => {
            staging.text(report::HTML_FILE, &rendered.html)?;
            staging.text(report::MARKDOWN_FILE, &rendered.markdown)?;
            staging.directory(report::FILES_DIR, &rendered.charts)?;
        }
        None => {
            for name in [report::HTML_FILE, report::MARKDOWN_FILE, report::FILES_DIR] {
                staging.remove(name);
            }
        }
    }
    staging.commit()?;
    Ok(())
}

/// Run `analyze` with parsed arguments, printing to `console`.
///
/// Errors: see [`AnalyzeError`]; a usage error means nothing was written.
pub fn run(args: &cli::Args, console: &mut Console) -> Result<(), AnalyzeError> {
    check_root(&args.root)?;
    let out_dir = args.out.as_deref().unwrap_or(&args.root);
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(AnalyzeError::Usage(format!(
            "`--out` `{}` is not a directory\nhint: name a directory for the CSV files (it is created if missing)",
            out_dir.display()
        )));
    }
    fs::create_dir_all(out_dir).map_err(|err| {
        AnalyzeError::Write(format!(
            "failed to create `--out` `{}`: {err}",
            out_dir.display()
        ))
    })?;
    let available = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // The runs are analyzed while the walk goes on, so their number is not known here: the
    // pool is capped by the CPUs only.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(worker_count(args.jobs, usize::MAX, available))
        .build()
        .map_err(|err| AnalyzeError::Write(format!("failed to start the worker threads: {err}")))?;

    let progress = progress_bar();
    let (walk_problems, analyzed) = walk_and_analyze(&pool, &args.root, &progress);
    progress.finish_and_clear();

    let mut findings = Findings::default();
    let clashing = clashing_experiments(analyzed.iter().map(|(run, _)| run));
    for (run, outcome) in analyzed {
        findings.add(&run, outcome);
    }
    let rows = dedup_and_sort(std::mem::take(&mut findings.rows));
    let summary = summarize(&rows);
    let csv = output::csv_files(&rows, &summary, &clashing);
    let mut warnings = csv.skipped;
    let rendered = if args.no_report {
        None
    } else {
        let built = bench_core::report::build(&args.root.to_string_lossy(), &rows, &summary);
        Some(
            report::render(&built, &mut warnings)
                .map_err(|err| AnalyzeError::Write(format!("{err:#}")))?,
        )
    };
    report(console, &walk_problems, &findings, &warnings);
    write_outputs(out_dir, &csv.files, rendered.as_ref())
        .map_err(|err| AnalyzeError::Write(format!("{err:#}")))?;
    if !args.quiet {
        console.out(tables::render(&rows, &summary));
    }
    match console.take_failure() {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_count_is_capped_by_runs_and_cpus() {
        // `--jobs 100000` on 2 CPUs: 8 threads for many runs, 3 for 3 runs.
        assert_eq!(worker_count(Some(100_000), 10_000, 2), 8);
        assert_eq!(worker_count(Some(100_000), 3, 2), 3);
        assert_eq!(worker_count(Some(5), 10_000, 2), 5);
        assert_eq!(worker_count(None, 10_000, 2), 2);
        assert_eq!(worker_count(None, 1, 16), 1);
        // No runs (a tree without runs) and an unknown CPU count still give one thread.
        assert_eq!(worker_count(Some(4), 0, 2), 1);
        assert_eq!(worker_count(None, 100, 0), 1);
    }
}
