//! Analysis of one run directory: its rows (one per `.out` file), with fields from the path,
//! metrics for a completed run and a failure class per row otherwise (`docs/results.md`
//! sections 1, 2 and 5).

use std::fs;
use std::io;
use std::path::Path;

use bench_core::layout::fields_from_components;
use bench_core::layout::rel::{SLURM_LOGS_DIR, STATS_JSON};
use bench_core::metrics::{Comment, RowMetrics, gpu_count};
use bench_core::rows::Row;
use bench_core::server_log::{LogMetrics, parse_reader};
use bench_core::state::{self, Completion, RunFiles};
use bench_core::stats::MalformedStat;
use bench_io::DirRunFiles;
use bench_io::path_text::shown;
use itertools::Itertools;

use crate::walk::FoundRun;

/// What one run directory gives.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// One row per `.out` file (before de-duplication).
    pub rows: Vec<Row>,
    /// Files of the run that could not be read: one message each, for stderr.
    pub problems: Vec<String>,
    /// Path components the field reader did not know (reported once per name by the caller).
    pub unknown_components: Vec<String>,
    /// The run has no `.out` file, hence no row (`docs/results.md`).
    pub without_out: bool,
    /// The job id of the run's latest submission (`submissions.jsonl`) when that job left no
    /// `.out` file yet: queued or running, or lost before it started.
    pub job_without_out: Option<String>,
}

/// Analyze one run directory. Never fails: what cannot be read is reported in
/// [`RunOutcome::problems`] and in the rows' comments; so are names that are not UTF-8
/// (once per run directory).
pub fn analyze_run(run: &FoundRun) -> RunOutcome {
    let files = DirRunFiles::new(&run.path);
    let mut outcome = analyze_files(run, &files);
    outcome
        .problems
        .extend(non_utf8_message(run, &files.non_utf8_names()));
    outcome
}

/// The stderr line for a run directory whose path, or some of whose file names, are not
/// valid UTF-8; `None` when all are.
fn non_utf8_message(run: &FoundRun, skipped: &[std::path::PathBuf]) -> Option<String> {
    let mut parts = Vec::new();
    if !run.is_utf8() {
        parts.push(
            "its path is not valid UTF-8: the rows show each invalid byte as `\\xNN` \
             (in `path` too)"
                .to_owned(),
        );
    }
    if !skipped.is_empty() {
        parts.push(format!(
            "file names that are not valid UTF-8 were not read: {}",
            skipped
                .iter()
                .map(|path| format!("`{}`", shown(path)))
                .join(", ")
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "run `{}`: {} (rename to UTF-8 names to fix)",
            run.shown,
            parts.join("; ")
        )
    })
}

/// [`analyze_run`] over the run's files, each problem said once (the server log is read for
/// its metrics and searched for failure classes: one unreadable log is one problem).
fn analyze_files(run: &FoundRun, files: &DirRunFiles) -> RunOutcome {
    let mut outcome = analyze_files_once(run, files);
    let mut seen = std::collections::HashSet::new();
    outcome
        .problems
        .retain(|problem| seen.insert(problem.clone()));
    outcome
}

fn analyze_files_once(run: &FoundRun, files: &DirRunFiles) -> RunOutcome {
    let parsed = fields_from_components(&run.components);
    let mut outcome = RunOutcome {
        unknown_components: parsed.unknown,
        ..RunOutcome::default()
    };
    let out_names: Vec<String> = match files.list(SLURM_LOGS_DIR) {
        Ok(names) => names
            .into_iter()
            .filter(|name| Path::new(name).extension().is_some_and(|ext| ext == "out"))
            .collect(),
        Err(err) => {
            outcome.problems.push(format!(
                "cannot read run `{}`: {err}: it has no rows",
                run.shown
            ));
            return outcome;
        }
    };
    outcome.job_without_out = job_without_out(files, &out_names);
    if out_names.is_empty() {
        outcome.without_out = true;
        return outcome;
    }
    let fields = parsed.fields;
    // Every run's server log is read, completed or not: it holds the speculative-decoding
    // counters, the vLLM version and the only throughput a timed-out run has. A log that
    // cannot be read leaves those empty and is reported on stderr only.
    let log = server_log_metrics(files).unwrap_or_else(|err| {
        outcome.problems.push(unreadable_message(run, &err));
        None
    });
    let row = |name: &str, metrics: RowMetrics, comment: Comment| {
        let (job_id, task_index) = state::out_file_ids(name);
        Row {
            fields: fields.clone(),
            metrics,
            path: out_path(run, name),
            comment,
            job_id,
            task_index,
            log: log.clone(),
        }
    };
    match state::completion(files) {
        Ok(Completion::Completed {
            totals,
            merged_tasks,
        }) => {
            let gpus = gpu_count(fields.tp, fields.pp, fields.dp);
            outcome
                .problems
                .extend(malformed_message(run, &totals.malformed, merged_tasks));
            let comment = Comment::completed(merged_tasks, totals.failed_requests);
            let (metrics, non_finite) = RowMetrics::completed_checked(&totals, log.as_ref(), gpus);
            if !non_finite.is_empty() {
                let seconds =
                    |time: Option<f64>| time.map_or("none".into(), |t| format!("{t:e} s"));
                outcome.problems.push(format!(
                    "run `{}`: {} came out infinite or not a number (inference_time {}, \
                     e2e_time {}): left empty, with what is computed from them",
                    run.shown,
                    non_finite.join(", "),
                    seconds(totals.inference_time),
                    seconds(totals.e2e_time)
                ));
            }
            outcome.rows = out_names
                .iter()
                .map(|name| row(name, metrics.clone(), comment.clone()))
                .collect();
        }
        Ok(Completion::Unreadable(err)) => {
            outcome.rows = failed_rows(files, run, &out_names, true, &mut outcome.problems, row);
            // `docs/results.md`: a run that could not be read is reported on stderr too.
            if outcome
                .rows
                .iter()
                .any(|row| row.comment == Comment::StatsUnreadable)
            {
                outcome.problems.push(format!(
                    "stats.json unreadable in run `{}`: {err}",
                    run.shown
                ));
            }
        }
        Ok(Completion::NotFound) => {
            outcome.rows = failed_rows(files, run, &out_names, false, &mut outcome.problems, row);
        }
        Err(err) => {
            // The stats could not be read (a FIFO or a device as `stats.json`, no permission,
            // an I/O error): the run is not known to have completed. Its comment stays one of
            // `docs/results.md`'s values: `stats.json unreadable` when the file is there.
            outcome.problems.push(unreadable_message(run, &err));
            let stats_present = is_present(&files.path(STATS_JSON));
            outcome.rows = failed_rows(
                files,
                run,
                &out_names,
                stats_present,
                &mut outcome.problems,
                row,
            );
        }
    }
    outcome
}

/// The stderr line for a completed run whose stats hold malformed values (counted as
/// missing, `docs/results.md`); `None` when there are none.
fn malformed_message(
    run: &FoundRun,
    malformed: &[MalformedStat],
    merged_tasks: Option<usize>,
) -> Option<String> {
    (!malformed.is_empty()).then(|| {
        format!(
            "run `{}`: malformed values in {} counted as missing: {} (a count must be a \
             non-negative integer, a time or mean a non-negative number)",
            run.shown,
            if merged_tasks.is_some() {
                "the per-task stats files"
            } else {
                "stats.json"
            },
            malformed.iter().join(", ")
        )
    })
}

/// Whether something is at `path` (following symbolic links): anything but "not found",
/// also when it cannot be looked at.
fn is_present(path: &Path) -> bool {
    !matches!(fs::metadata(path), Err(err) if err.kind() == io::ErrorKind::NotFound)
}

/// The `path` column: the run directory (below `--root` as given) joined with the `.out`
/// file's place in it (invalid UTF-8 escaped, see [`FoundRun::shown`]).
fn out_path(run: &FoundRun, out_name: &str) -> String {
    Path::new(&run.shown)
        .join(SLURM_LOGS_DIR)
        .join(out_name)
        .to_string_lossy()
        .into_owned()
}

/// Rows of a run that did not complete: each row's class from its own `.out` and the run's
/// server log (the highest of both), else the state of `stats.json`. A log that cannot be
/// read gives no class and is reported in `problems`, once per file.
fn failed_rows(
    files: &DirRunFiles,
    run: &FoundRun,
    out_names: &[String],
    stats_present: bool,
    problems: &mut Vec<String>,
    row: impl Fn(&str, RowMetrics, Comment) -> Row,
) -> Vec<Row> {
    let mut classes_of = |rel_path: io::Result<Option<String>>| {
        rel_path
            .and_then(|path| match path {
                Some(path) => files.failure_classes(&path),
                None => Ok(Vec::new()),
            })
            .unwrap_or_else(|err| {
                problems.push(unreadable_message(run, &err));
                Vec::new()
            })
    };
    let server_classes = classes_of(state::server_log_path(files));
    out_names
        .iter()
        .map(|name| {
            let mut classes = classes_of(Ok(Some(format!("{SLURM_LOGS_DIR}/{name}"))));
            classes.extend_from_slice(&server_classes);
            row(
                name,
                RowMetrics::default(),
                Comment::not_completed(&classes, stats_present),
            )
        })
        .collect()
}

/// The metric means of the run's server log, streamed; `None` when the run has none (or
/// its log vanished since the listing). Errors: not a regular file, or an I/O error.
fn server_log_metrics(files: &DirRunFiles) -> io::Result<Option<LogMetrics>> {
    let Some(rel_path) = state::server_log_path(files)? else {
        return Ok(None);
    };
    let Some(file) = files.open(&rel_path)? else {
        return Ok(None);
    };
    parse_reader(file).map(Some).map_err(|err| {
        let path = files.path(&rel_path);
        io::Error::new(err.kind(), format!("`{}`: {err}", shown(&path)))
    })
}

/// The job id of the run's latest submission when no `.out` file of that job is there (a
/// record that cannot be read counts as none: `launch` reports it).
fn job_without_out(files: &DirRunFiles, out_names: &[String]) -> Option<String> {
    let job_id = state::read_records(files).ok()??.job_id?;
    let has_out = out_names
        .iter()
        .any(|name| state::out_file_ids(name).0.to_string() == job_id);
    (!has_out).then_some(job_id)
}

/// The stderr line for a run that could not be read.
fn unreadable_message(run: &FoundRun, err: &io::Error) -> String {
    format!("cannot read run `{}`: {err}", run.shown)
}
