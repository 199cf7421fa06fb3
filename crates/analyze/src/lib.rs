//! The `analyze` binary's work: thin I/O around `bench-core` (shared contract 3).
//!
//! The tree is walked once ([`walk`]), the runs are analyzed in parallel ([`analysis`]), the
//! rows de-duplicated and sorted, and the CSVs ([`output`]) and tables ([`tables`]) written.

pub mod analysis;
pub mod cli;
pub mod output;
pub mod tables;
pub mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::Context;
use bench_core::rows::dedup_and_sort;
use bench_core::summary::summarize;
use indicatif::{ProgressBar, ProgressStyle};

use crate::analysis::{RunOutcome, analyze_run};

/// A problem with the command line or `--root`: exit code 2, nothing written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Check `--root`: it must exist, be a folder and have at least one entry.
fn check_root(root: &Path) -> anyhow::Result<()> {
    let shown = root.display();
    let meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(UsageError(format!(
                "`--root` `{shown}` does not exist\nhint: pass the launcher's output-dir, e.g. `--root data`"
            ))
            .into());
        }
        Err(err) => return Err(UsageError(format!("cannot read `--root` `{shown}`: {err}")).into()),
    };
    if !meta.is_dir() {
        return Err(UsageError(format!(
            "`--root` `{shown}` is not a folder\nhint: pass the folder that holds the experiments' folders"
        ))
        .into());
    }
    let mut entries = fs::read_dir(root)
        .map_err(|err| UsageError(format!("cannot read `--root` `{shown}`: {err}")))?;
    if entries.next().is_none() {
        return Err(UsageError(format!(
            "`--root` `{shown}` is empty: nothing to analyze\nhint: is it the right folder? the launcher writes results below its output-dir"
        ))
        .into());
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
    fn add(&mut self, run: &walk::RunDir, outcome: RunOutcome) {
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
fn clashing_experiments<'a>(runs: impl Iterator<Item = &'a walk::RunDir>) -> BTreeSet<String> {
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
fn report(problems: &[String], findings: &Findings, skipped: &[String]) {
    let mut stderr = io::stderr().lock();
    for problem in problems.iter().chain(&findings.problems).chain(skipped) {
        let _ = writeln!(stderr, "warning: {problem}");
    }
    for (component, run) in &findings.unknown_components {
        let _ = writeln!(
            stderr,
            "warning: unknown path component `{component}` (first in `{run}`): ignored"
        );
    }
    if !findings.unknown_components.is_empty() {
        let _ = writeln!(
            stderr,
            "hint: below the model the layout is \
             tp{{T}}-pp{{P}}-dp{{D}}/mns_{{N}}/mnbt_{{M}}/gmu_{{G}}/bs_{{B}}/kvc_*/spec_*/quant_*"
        );
    }
    if findings.runs_without_out > 0 {
        let _ = writeln!(
            stderr,
            "note: {} run director{} without a .out file in inference_logs/slurm_logs: no rows for {}",
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
        );
    }
}

/// Walk `root` on one of the pool's threads and analyze each run on the others as soon as
/// the walk finds it (with one thread: the walk, then the runs). Returns the walk's problems
/// and every run with its outcome, in the walk's order.
fn walk_and_analyze(
    pool: &rayon::ThreadPool,
    root: &Path,
    progress: &ProgressBar,
) -> (Vec<String>, Vec<(walk::RunDir, RunOutcome)>) {
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

/// Write `text` to stdout; a closed pipe (`analyze | head`) is not an error.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => {
            Err(err).context("failed to write to stdout")
        }
        _ => Ok(()),
    }
}

/// Run `analyze` with parsed arguments; returns the process exit code. A [`UsageError`]
/// (exit code 2) means nothing was written.
pub fn run(args: &cli::Args) -> anyhow::Result<ExitCode> {
    check_root(&args.root)?;
    let out_dir = args.out.as_deref().unwrap_or(&args.root);
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(UsageError(format!(
            "`--out` `{}` is not a folder\nhint: name a folder for the CSV files (it is created if missing)",
            out_dir.display()
        ))
        .into());
    }
    fs::create_dir_all(out_dir)
        .with_context(|| format!("failed to create `--out` `{}`", out_dir.display()))?;
    let available = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // The runs are analyzed while the walk goes on, so their number is not known here: the
    // pool is capped by the CPUs only.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(worker_count(args.jobs, usize::MAX, available))
        .build()
        .context("failed to start the worker threads")?;

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
    report(&walk_problems, &findings, &csv.skipped);
    output::write_files(out_dir, &csv.files)?;
    if !args.quiet {
        print_stdout(&tables::render(&rows, &summary))?;
    }
    Ok(ExitCode::SUCCESS)
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
