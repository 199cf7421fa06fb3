//! The `analyze` binary's work: thin I/O around `bench-core` (shared contract 3).
//!
//! The tree is walked once ([`walk`]), the runs are analyzed in parallel ([`analysis`]), the
//! rows de-duplicated and sorted, and the CSVs ([`output`]) and tables ([`tables`]) written.

pub mod analysis;
pub mod cli;
pub mod output;
pub mod run_files;
pub mod tables;
pub mod walk;

use std::collections::BTreeMap;
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
                .or_insert_with(|| run.path.display().to_string());
        }
        self.runs_without_out += usize::from(outcome.without_out);
    }
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.map_or(0, std::num::NonZeroUsize::get))
        .build()
        .context("failed to start the worker threads")?;

    let progress = progress_bar();
    let (walk_problems, analyzed) = walk_and_analyze(&pool, &args.root, &progress);
    progress.finish_and_clear();

    let mut findings = Findings::default();
    for (run, outcome) in analyzed {
        findings.add(&run, outcome);
    }
    let rows = dedup_and_sort(std::mem::take(&mut findings.rows));
    let summary = summarize(&rows);
    let csv = output::csv_files(&rows, &summary);
    report(&walk_problems, &findings, &csv.skipped);
    output::write_files(out_dir, &csv.files)?;
    if !args.quiet {
        print_stdout(&tables::render(&rows, &summary))?;
    }
    Ok(ExitCode::SUCCESS)
}
