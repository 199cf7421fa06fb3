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
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench_core::layout::INFERENCE_LOGS;
use bench_core::layout::rel::SLURM_LOGS_DIR;
use bench_core::layout::{Segment, parse_parallelism};
use bench_io::bounded::{Accept, read_text};
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
    /// Runs without a `.out` file and without a submitted job.
    runs_without_out: usize,
    /// `(run, job id)`: runs whose latest submitted job left no `.out` file yet.
    jobs_without_out: Vec<(String, String)>,
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
        match outcome.job_without_out {
            Some(job_id) => self.jobs_without_out.push((run.shown.clone(), job_id)),
            None => self.runs_without_out += usize::from(outcome.without_out),
        }
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
    jobs_without_out_notes(console, &findings.jobs_without_out);
    if findings.runs_without_out > 0 {
        console.err_line(format_args!(
            "note: {} run director{} without a .out file in {SLURM_LOGS_DIR} nor a submitted job: no rows for {}",
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

/// How many runs submitted without output are named one by one on stderr.
const MAX_NAMED_JOBS_WITHOUT_OUT: usize = 20;

/// The notes on runs whose latest submitted job left no `.out` file yet: queued, running,
/// or lost before it started (`squeue` or `launch --status` tells which).
fn jobs_without_out_notes(console: &mut Console, jobs: &[(String, String)]) {
    for (run, job_id) in jobs.iter().take(MAX_NAMED_JOBS_WITHOUT_OUT) {
        console.err_line(format_args!(
            "note: run `{run}`: submitted as job {job_id}, no output yet"
        ));
    }
    if jobs.len() > MAX_NAMED_JOBS_WITHOUT_OUT {
        console.err_line(format_args!(
            "note: and {} more runs submitted with no output yet",
            jobs.len() - MAX_NAMED_JOBS_WITHOUT_OUT
        ));
    }
    if !jobs.is_empty() {
        console.err_line(format_args!(
            "hint: `launch --config CONFIG --status` shows whether their jobs are queued or running"
        ));
    }
}

/// Where the parallelism segment (`tp1-pp1-dp1`) sits below `--root` in a run directory's
/// path: index 3 (experiment, prompt, model, then it) when `--root` is the launcher's
/// output-dir.
const PARALLELISM_DEPTH: usize = 3;

/// A warning when every run's parallelism segment sits at the same wrong depth below
/// `root`: `--root` is one or more levels too deep or too shallow. Names the root that fits.
fn root_level_warning(root: &Path, runs: &[&walk::FoundRun]) -> Option<String> {
    let depth_of = |run: &walk::FoundRun| {
        run.components
            .iter()
            .position(|component| parse_parallelism(component).is_some())
    };
    let Some(depth) = depth_of(runs.first()?) else {
        return inside_run_warning(root);
    };
    if depth == PARALLELISM_DEPTH || !runs.iter().all(|run| depth_of(run) == Some(depth)) {
        return None;
    }
    let fits = if depth < PARALLELISM_DEPTH {
        let mut fits = root.to_path_buf();
        for _ in depth..PARALLELISM_DEPTH {
            fits = match fits.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => fits.join(".."),
            };
        }
        fits
    } else {
        runs[0].components[..depth - PARALLELISM_DEPTH]
            .iter()
            .fold(root.to_path_buf(), |path, component| path.join(component))
    };
    let levels = depth.abs_diff(PARALLELISM_DEPTH);
    Some(format!(
        "`--root` `{}` looks {levels} level{} {} than a results tree: `{}` is at depth {} \
         below it, where the layout {{experiment}}/{{prompt}}/{{model}}/tp{{T}}-pp{{P}}-dp{{D}} \
         puts it at depth {}; the columns are read from the wrong levels\nhint: `--root {}`",
        root.display(),
        if levels == 1 { "" } else { "s" },
        if depth < PARALLELISM_DEPTH {
            "deeper"
        } else {
            "shallower"
        },
        runs[0].components[depth],
        depth + 1,
        PARALLELISM_DEPTH + 1,
        fits.display()
    ))
}

/// A warning when `root` itself lies at or below a `tp{T}-pp{P}-dp{D}` folder (a run's
/// directory or one of its levels): the root that fits is four levels above that folder.
fn inside_run_warning(root: &Path) -> Option<String> {
    let canonical = fs::canonicalize(root).ok()?;
    let components: Vec<&std::ffi::OsStr> = canonical.iter().collect();
    let at = components
        .iter()
        .rposition(|c| c.to_str().is_some_and(|c| parse_parallelism(c).is_some()))?;
    let fits: PathBuf = components[..at.checked_sub(PARALLELISM_DEPTH)?]
        .iter()
        .collect();
    let levels = components.len() - (at - PARALLELISM_DEPTH);
    Some(format!(
        "`--root` `{}` looks {levels} levels deeper than a results tree: it is inside the \
         run folder `{}`, so the columns are read from the wrong levels\nhint: `--root {}`",
        root.display(),
        components[at].to_string_lossy(),
        fits.display()
    ))
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

/// Why an output of an earlier analyze is not written this time, for the note that says
/// it was removed.
fn why_not_written(name: &str, no_report: bool) -> String {
    if report::NAMES.contains(&name) {
        if no_report {
            "--no-report".to_owned()
        } else {
            "the report is written whole".to_owned()
        }
    } else if name == output::SUMMARY_FILE {
        "no model has a baseline run".to_owned()
    } else {
        let experiment = name.strip_suffix(".csv").unwrap_or(name);
        format!("experiment `{experiment}` has no rows this time")
    }
}

/// What an earlier analyze into the same `--out` left: its manifest, and whether it was of
/// this `--root`.
#[derive(Debug)]
struct Earlier {
    /// This analyze's root as the manifest names it (canonical when it can be).
    root: String,
    /// The earlier manifest's text (empty without one).
    manifest: String,
    /// Whether the earlier manifest names this root (or no root: an empty manifest).
    same_root: bool,
}

/// The outputs an earlier analyze wrote into `out_dir` (its manifest); none when there is no
/// manifest or it cannot be read (said in `warnings`). Outputs of another root are said too.
fn earlier_outputs(root: &Path, out_dir: &Path, warnings: &mut Vec<String>) -> Earlier {
    let root = fs::canonicalize(root)
        .unwrap_or_else(|_| root.to_path_buf())
        .to_string_lossy()
        .into_owned();
    let path = out_dir.join(output::MANIFEST_FILE);
    let manifest = if fs::symlink_metadata(&path).is_err() {
        String::new()
    } else {
        read_text(
            &path,
            output::MAX_MANIFEST_BYTES,
            Accept::Regular,
            "the outputs list",
        )
        .unwrap_or_else(|err| {
            warnings.push(format!("{err}: no earlier output is removed"));
            String::new()
        })
    };
    let same_root = match output::manifest_root(&manifest) {
        Some(earlier) if earlier != root => {
            warnings.push(format!(
                "`{}` holds the outputs of `analyze --root {earlier}` too: none of them is \
                 removed (a CSV of an experiment that only that tree has stays)",
                out_dir.display()
            ));
            false
        }
        _ => true,
    };
    Earlier {
        root,
        manifest,
        same_root,
    }
}

/// Write the CSVs and the report (or remove an earlier report when there is none) into
/// `out_dir`, all staged first so that a failure leaves the earlier outputs as they were;
/// remove the outputs an earlier analyze wrote there that are not written this time (named
/// in its manifest, `earlier`), and write the new manifest. Returns the names removed.
fn write_outputs(
    out_dir: &Path,
    csv_files: &[(String, Vec<Vec<String>>)],
    rendered: Option<&report::Rendered>,
    earlier: &Earlier,
) -> anyhow::Result<Vec<String>> {
    let mut staging = output::Staging::new(out_dir);
    let mut written = BTreeSet::new();
    for (name, records) in csv_files {
        staging.csv(name, records)?;
        written.insert(name.clone());
    }
    // Without a report this time, an earlier one is removed below when an earlier analyze
    // wrote it (its manifest names it): a file of that name it did not write stays.
    if let Some(rendered) = rendered {
        staging.text(report::HTML_FILE, &rendered.html)?;
        staging.text(report::MARKDOWN_FILE, &rendered.markdown)?;
        staging.directory(report::FILES_DIR, &rendered.charts)?;
        written.extend(report::NAMES.map(str::to_owned));
    }
    // Only the outputs of this same root: another tree's outputs in a shared `--out` are
    // never this tree's stale ones.
    let stale = if earlier.same_root {
        output::stale_outputs(&earlier.manifest, &written, &report::NAMES)
    } else {
        Vec::new()
    };
    for name in &stale {
        staging.remove(name, name == report::FILES_DIR);
    }
    staging.text(
        output::MANIFEST_FILE,
        &output::manifest_text(&earlier.root, &written),
    )?;
    let committed = staging.commit()?;
    Ok(committed
        .removed
        .iter()
        .filter_map(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect())
}

/// The stderr lines about the models left out of the optimization summary for lack of a
/// baseline run.
fn without_baseline_note(models: &[bench_core::report::BestRun]) -> Option<String> {
    if models.is_empty() {
        return None;
    }
    let names = models
        .iter()
        .map(|best| format!("`{}`", best.model))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "note: no baseline run (tp 1, 2, 4 or 8 with vLLM's defaults: mns 256, mnbt 8192, gmu 90, \
         bs 16, kvc auto, no spec, no quant) completed for {names}: not in {}; {} under \
         \"Models without a baseline\" on stdout and in the report",
        output::SUMMARY_FILE,
        if models.len() == 1 {
            "its best run is listed"
        } else {
            "their best runs are listed"
        }
    ))
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
    let found: Vec<&walk::FoundRun> = analyzed.iter().map(|(run, _)| run).collect();
    let level_warnings: Vec<String> = root_level_warning(&args.root, &found).into_iter().collect();
    if found.is_empty() {
        return Err(AnalyzeError::Usage(format!(
            "no run directory (a folder holding `{INFERENCE_LOGS}/`) found below `{}`: nothing \
             analyzed, nothing written\nhint: pass the launcher's output-dir, whose folders are \
             the experiments",
            args.root.display()
        )));
    }
    let clashing = clashing_experiments(analyzed.iter().map(|(run, _)| run));
    for (run, outcome) in analyzed {
        findings.add(&run, outcome);
    }
    let rows = dedup_and_sort(std::mem::take(&mut findings.rows));
    let summary = summarize(&rows);
    let csv = output::csv_files(&rows, &summary, &clashing);
    let mut warnings = level_warnings;
    warnings.extend(csv.skipped);
    let without_baseline = bench_core::report::without_baseline(&rows, &summary);
    let rendered = if args.no_report {
        None
    } else {
        let built = bench_core::report::build(&args.root.to_string_lossy(), &rows, &summary);
        Some(
            report::render(&built, &mut warnings)
                .map_err(|err| AnalyzeError::Write(format!("{err:#}")))?,
        )
    };
    fs::create_dir_all(out_dir).map_err(|err| {
        AnalyzeError::Write(format!(
            "failed to create `--out` `{}`: {err}",
            out_dir.display()
        ))
    })?;
    let earlier = earlier_outputs(&args.root, out_dir, &mut warnings);
    report(console, &walk_problems, &findings, &warnings);
    if let Some(note) = without_baseline_note(&without_baseline) {
        console.err_line(format_args!("{note}"));
    }
    let removed = write_outputs(out_dir, &csv.files, rendered.as_ref(), &earlier)
        .map_err(|err| AnalyzeError::Write(format!("{err:#}")))?;
    for name in removed {
        console.err_line(format_args!(
            "note: removed `{}`, written by an earlier analyze: {}",
            out_dir.join(&name).display(),
            why_not_written(&name, args.no_report)
        ));
    }
    if !args.quiet {
        console.out(tables::render(&rows, &summary, &without_baseline));
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
