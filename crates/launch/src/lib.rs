//! The `launch` binary's work (contract 2): render one sbatch script per run, decide per run
//! from the run-state rule, and submit with `sbatch --parsable` (or, in a dry run, show what
//! would be submitted and what it would cost, writing nothing).

pub mod cli;
pub mod directives;
pub mod interrupt;
pub mod plan;
pub mod record;
pub mod report;
pub mod skip;
pub mod slurm;
pub mod template;

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use bench_core::model_config::{LocalModelConfigs, hub_cache_dir};
use bench_core::state::{RunState, SubmissionRecord, run_state};
use bench_core::sweep::{LoadContext, Run, ScriptFile, Sweep, SweepCost, load_sweep};
use bench_io::DirRunFiles;
use regex::Regex;

use crate::interrupt::Interrupt;
use crate::plan::{Decision, PlannedRun};
use crate::record::LockedRecords;
use crate::slurm::{CommandSlurm, Slurm, Submission};
use crate::template::Template;

/// Exit code: the command line, the config or the template is invalid; nothing submitted.
pub const EXIT_INVALID: u8 = 2;
/// Exit code: at least one submission failed (contract 2 section 5).
const EXIT_SUBMISSION_FAILED: u8 = 1;
/// Exit code: SLURM could not be queried for a real submission.
const EXIT_SLURM_UNREACHABLE: u8 = 3;
/// Exit code: interrupted by a signal (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;
/// Template problems listed one by one before the rest are only counted.
const SHOWN_PROBLEMS: usize = 5;

/// Run `launch` with parsed arguments; returns the process exit code.
///
/// `Err` means the config, the template or the command line is invalid: nothing was
/// submitted, and `main` exits with 2.
pub fn run(args: &cli::Args) -> anyhow::Result<ExitCode> {
    let sweep = match load(args)? {
        Ok(sweep) => sweep,
        Err(code) => return Ok(code),
    };
    for warning in &sweep.warnings {
        eprintln!("warning: {warning}");
    }
    for note in &sweep.notes {
        eprintln!("note: {note}");
    }
    let template = select_template(args, &sweep)?;
    let only = args
        .only
        .as_deref()
        .map(Regex::new)
        .transpose()
        .context("`--only` is not a valid regular expression")?;
    let selected = |run: &Run| {
        only.as_ref()
            .is_none_or(|only| only.is_match(&run.name) || only.is_match(&run.experiment))
    };
    if let (Some(only), false) = (&only, sweep.runs.iter().any(selected)) {
        eprintln!(
            "warning: `--only {only}` matches neither the name nor the experiment of any of \
             the config's {} runs: nothing to do",
            sweep.runs.len()
        );
    }
    // A real submission compares each run's latest submission, read before the queue, with
    // the one it finds under the lock of `submissions.jsonl`: one recorded in between comes
    // from another `launch` (see `submit_one`).
    let mut recorded: Vec<Option<SubmissionRecord>> = if args.dry_run {
        Vec::new()
    } else {
        sweep
            .runs
            .iter()
            .filter(|run| selected(run))
            .map(|run| {
                let path = Path::new(&template::launch_dir(run)).join(record::FILE_NAME);
                // Unreadable: the run's state cannot be read either, and it is not submitted.
                record::read_latest(&path).ok().flatten()
            })
            .collect()
    };
    // Contract 2 section 5: every run's script is rendered and checked before SLURM is
    // contacted at all, so the queue is read only afterwards.
    let mut planned = render_all(&sweep, &template)?;
    planned.retain(|planned| selected(planned.run));
    for (planned, recorded) in planned.iter_mut().zip(recorded.iter_mut()) {
        planned.recorded = recorded.take();
    }

    let mut slurm = CommandSlurm;
    let queue = match slurm::read_queue(&mut slurm) {
        Ok(queue) => Some(queue),
        Err(why) if args.dry_run => {
            eprintln!(
                "warning: the queue could not be read: {why}\n  runs in flight cannot be \
                 recognised in this dry run; they are shown with `in_flight_unknown`"
            );
            None
        }
        Err(why) => {
            eprintln!(
                "error: the queue could not be read, so nothing was submitted: {why}\nhint: \
                 without the queue, `launch` cannot tell which runs are in flight and could \
                 submit them twice; check that `squeue --me` works here"
            );
            return Ok(ExitCode::from(EXIT_SLURM_UNREACHABLE));
        }
    };
    for planned in &mut planned {
        let files = DirRunFiles::new(&planned.run.run_dir);
        match run_state(&files, &planned.run.name, queue.as_deref()) {
            Ok(state) => {
                planned.in_flight_unknown =
                    queue.is_none() && !matches!(state, RunState::Completed { .. });
                planned.decision = plan::decide(&state, &args.skip_failure_reasons);
            }
            Err(err) => {
                planned.decision = Decision::Failed {
                    reason: format!(
                        "the run's files under `{}` could not be read: {err}",
                        planned.run.run_dir
                    ),
                };
            }
        }
    }

    if args.dry_run {
        dry_run(args, &sweep, &planned)
    } else {
        submit_all(args, &sweep, &mut slurm, &mut planned)
    }
}

/// Read and validate the config (contract 1), supplying the outside world: whether the
/// script exists, and model configs from the local Hugging Face cache. `Err(code)` when it
/// is invalid: the problems are printed, nothing else happens.
fn load(args: &cli::Args) -> anyhow::Result<Result<Sweep, ExitCode>> {
    let text = fs::read_to_string(&args.config)
        .with_context(|| format!("failed to read the config `{}`", args.config.display()))?;
    let hub_cache = hub_cache_dir(|name| std::env::var(name).ok());
    let model_configs =
        LocalModelConfigs::new(hub_cache, |path: &Path| fs::read_to_string(path).ok());
    let script_file = |script: &str| match fs::metadata(script) {
        Ok(meta) if meta.is_dir() => ScriptFile::Directory,
        Ok(_) => ScriptFile::File,
        Err(_) => ScriptFile::Missing,
    };
    let ctx = LoadContext {
        dry_run: args.dry_run,
        script_file: &script_file,
        model_configs: &model_configs,
    };
    match load_sweep(&text, &args.config.display().to_string(), &ctx) {
        Ok(sweep) => Ok(Ok(sweep)),
        Err(errors) => {
            eprintln!("error: {errors}");
            Ok(Err(ExitCode::from(EXIT_INVALID)))
        }
    }
}

/// The template: `--template`, else the config's `slurm.template`, else the built-in one.
fn select_template(args: &cli::Args, sweep: &Sweep) -> anyhow::Result<Template> {
    let path = args
        .template
        .clone()
        .or_else(|| sweep.settings.slurm.template.as_ref().map(Into::into));
    let parsed = match path {
        Some(path) => {
            let text = fs::read_to_string(&path).with_context(|| {
                let origin = if args.template.is_some() {
                    "`--template`"
                } else {
                    "the config's `slurm.template`"
                };
                let mut message = format!("failed to read the template `{}`", path.display());
                if path.is_relative() {
                    let cwd = std::env::current_dir().map_or_else(
                        |_| "the current directory".to_owned(),
                        |dir| format!("the current directory `{}`", dir.display()),
                    );
                    let _ = write!(
                        message,
                        " ({origin} is relative to {cwd}, where `launch` runs, not to the \
                         config file)"
                    );
                }
                message
            })?;
            Template::parse(&path.display().to_string(), &text)
        }
        None => Template::builtin(),
    };
    parsed.map_err(|err| match err.hint() {
        Some(hint) => anyhow::anyhow!("{err}\nhint: {hint}"),
        None => anyhow::anyhow!("{err}"),
    })
}

/// Render every run of the config (selected or not), each with a fresh token; any template
/// problem stops everything before SLURM is contacted.
fn render_all<'a>(sweep: &'a Sweep, template: &Template) -> anyhow::Result<Vec<PlannedRun<'a>>> {
    let mut scripts = template
        .renderer(&sweep.settings)
        .map_err(|err| match err.hint() {
            Some(hint) => anyhow::anyhow!("{err}\nhint: {hint}"),
            None => anyhow::anyhow!("{err}"),
        })?;
    let mut planned = Vec::with_capacity(sweep.runs.len());
    let mut problems: Vec<String> = Vec::new();
    let mut hints: Vec<&str> = Vec::new();
    let mut failed_runs = 0;
    for run in &sweep.runs {
        let token = record::new_token();
        match scripts.render(run, &token) {
            Ok(rendered) => {
                planned.push(PlannedRun {
                    run,
                    token,
                    directives: rendered.directives,
                    script: rendered.script,
                    decision: Decision::WouldSubmit,
                    in_flight_unknown: false,
                    recorded: None,
                });
            }
            Err(err) => {
                failed_runs += 1;
                let message = err.to_string();
                if problems.len() < SHOWN_PROBLEMS && !problems.contains(&message) {
                    problems.push(message);
                }
                if let Some(hint) = err.hint().filter(|hint| !hints.contains(hint)) {
                    hints.push(hint);
                }
            }
        }
    }
    if failed_runs > 0 {
        let mut message = format!(
            "the template cannot be rendered for {failed_runs} of {} runs; nothing was \
             submitted:\n  - {}",
            sweep.runs.len(),
            problems.join("\n  - ")
        );
        if failed_runs > problems.len() {
            let _ = write!(message, "\n  ... and {} more", failed_runs - problems.len());
        }
        for hint in hints {
            let _ = write!(message, "\nhint: {hint}");
        }
        bail!(message);
    }
    Ok(planned)
}

/// Where `--json` lines go; a closed pipe (`launch --json | head`) stops the lines, not the
/// work.
struct JsonOut {
    enabled: bool,
    closed: bool,
}

impl JsonOut {
    fn line(&mut self, planned: &PlannedRun<'_>) -> anyhow::Result<()> {
        if !self.enabled || self.closed {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        match writeln!(stdout, "{}", report::json_line(planned)).and_then(|()| stdout.flush()) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(err) => Err(err).context("failed to write to stdout"),
        }
    }
}

/// The dry run: decisions, directives and cost; nothing written anywhere.
fn dry_run(
    args: &cli::Args,
    sweep: &Sweep,
    planned: &[PlannedRun<'_>],
) -> anyhow::Result<ExitCode> {
    let mut json = JsonOut {
        enabled: args.json,
        closed: false,
    };
    let mut stderr = io::BufWriter::new(io::stderr().lock());
    for p in planned {
        json.line(p)?;
        if !args.json {
            write!(stderr, "{}", report::run_block(p, args.show_script))?;
        } else if args.show_script {
            writeln!(stderr, "# {} ({})\n{}", p.run.name, p.run.run_dir, p.script)?;
        }
    }
    let cost = SweepCost::of(
        planned
            .iter()
            .filter(|p| p.decision == Decision::WouldSubmit)
            .map(|p| p.run),
    );
    write!(stderr, "{}", report::summary(planned, sweep, Some(&cost)))?;
    stderr.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The real submission: every `would_submit` run in order, honouring `continue_on_failure`
/// and interrupts.
fn submit_all(
    args: &cli::Args,
    sweep: &Sweep,
    slurm: &mut dyn Slurm,
    planned: &mut [PlannedRun<'_>],
) -> anyhow::Result<ExitCode> {
    let interrupt = Interrupt::install().context("failed to install the signal handlers")?;
    let mut json = JsonOut {
        enabled: args.json,
        closed: false,
    };
    let to_submit = planned
        .iter()
        .filter(|p| p.decision == Decision::WouldSubmit)
        .count();
    let mut attempted = 0;
    let mut stop: Option<String> = None;
    let mut interrupted = false;
    for p in planned.iter_mut() {
        if p.decision == Decision::WouldSubmit {
            if stop.is_none() && interrupt.is_raised() {
                interrupted = true;
                stop = Some("interrupted".into());
                eprintln!("interrupted: no further runs are submitted");
            }
            if let Some(reason) = &stop {
                p.decision = Decision::NotAttempted {
                    reason: reason.clone(),
                };
            } else {
                attempted += 1;
                if args.show_script {
                    eprintln!("# {} ({})\n{}", p.run.name, p.run.run_dir, p.script);
                }
                p.decision = submit_one(slurm, p);
                eprintln!(
                    "[{attempted}/{to_submit}] {}  {}",
                    p.run.name,
                    report::decision_text(&p.decision)
                );
                if matches!(p.decision, Decision::Failed { .. })
                    && !sweep.settings.continue_on_failure
                {
                    stop = Some(
                        "an earlier submission failed and `continue_on_failure` is false".into(),
                    );
                }
            }
        }
        json.line(p)?;
    }
    eprint!("{}", report::summary(planned, sweep, None));
    if interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if planned
        .iter()
        .any(|p| matches!(p.decision, Decision::Failed { .. }))
    {
        return Ok(ExitCode::from(EXIT_SUBMISSION_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Submit one run: create its log folders, lock its `submissions.jsonl`, and unless another
/// `launch` recorded a submission since this one read the queue, write `sbatch.sh` and
/// `kwargs.json`, append the intent line, call sbatch (with retries), append the job id
/// line; the lock is held until then.
fn submit_one(slurm: &mut dyn Slurm, planned: &PlannedRun<'_>) -> Decision {
    let run = planned.run;
    let launch_dir = template::launch_dir(run);
    let script_path = format!("{launch_dir}/sbatch.sh");
    let records_path = Path::new(&launch_dir).join(record::FILE_NAME);
    let command = vec![
        "sbatch".to_owned(),
        "--parsable".to_owned(),
        script_path.clone(),
    ];
    let locked = (|| -> anyhow::Result<LockedRecords> {
        let slurm_logs = format!("{}/slurm_logs", template::log_dir(run));
        fs::create_dir_all(&slurm_logs)
            .with_context(|| format!("failed to create `{slurm_logs}`"))?;
        fs::create_dir_all(&launch_dir)
            .with_context(|| format!("failed to create `{launch_dir}`"))?;
        LockedRecords::open(&records_path)
            .with_context(|| format!("failed to lock `{}`", records_path.display()))
    })();
    let mut records = match locked {
        Ok(records) => records,
        Err(err) => {
            return Decision::Failed {
                reason: format!("{err:#} (sbatch was not called)"),
            };
        }
    };
    if let Some(latest) = records.latest()
        && Some(latest) != planned.recorded.as_ref()
    {
        return submitted_meanwhile(slurm, latest);
    }
    let prepared = (|| -> anyhow::Result<()> {
        fs::write(&script_path, &planned.script)
            .with_context(|| format!("failed to write `{script_path}`"))?;
        let kwargs_path = template::kwargs_path(run);
        let kwargs = serde_json::to_string(&run.kwargs()).context("failed to encode kwargs")?;
        fs::write(&kwargs_path, kwargs)
            .with_context(|| format!("failed to write `{kwargs_path}`"))?;
        let intent = SubmissionRecord {
            token: planned.token.clone(),
            submitted_at: record::now(),
            command: command.clone(),
            job_id: None,
        };
        records
            .append(&intent)
            .with_context(|| format!("failed to append to `{}`", records_path.display()))?;
        Ok(())
    })();
    if let Err(err) = prepared {
        return Decision::Failed {
            reason: format!("{err:#} (sbatch was not called)"),
        };
    }
    match slurm::submit(slurm, Path::new(&script_path), &planned.token) {
        Submission::Accepted {
            job_id, adopted, ..
        } => {
            if adopted {
                eprintln!(
                    "note: sbatch reported an error for `{}`, but the queue holds its job \
                     {job_id} (comment `bench:{}`): adopted, not submitted again",
                    run.name, planned.token
                );
            }
            let done = SubmissionRecord {
                token: planned.token.clone(),
                submitted_at: record::now(),
                command,
                job_id: Some(job_id.clone()),
            };
            if let Err(err) = records.append(&done) {
                eprintln!(
                    "warning: job {job_id} of `{}` was submitted but its id could not be \
                     appended to `{}`: {err}\n  the next launch still finds it in the queue \
                     by its comment `bench:{}`",
                    run.name,
                    records_path.display(),
                    planned.token
                );
            }
            Decision::Submitted { job_id }
        }
        Submission::Failed { reason, .. } => Decision::Failed { reason },
    }
}

/// The decision for a run whose `submissions.jsonl` gained a submission (`latest`) after
/// this launch read the queue: another `launch` submitted it meanwhile. With its job id,
/// the run is in flight; without one (that launch's sbatch failed, or it was killed), the
/// queue tells whether a job carries its token; if none does, the run is not submitted
/// either, since that cannot be told apart from a job about to appear.
fn submitted_meanwhile(slurm: &mut dyn Slurm, latest: &SubmissionRecord) -> Decision {
    if let Some(job_id) = &latest.job_id {
        return Decision::SkippedInFlight {
            job_id: job_id.clone(),
        };
    }
    let comment = latest.comment();
    match slurm::read_queue(slurm) {
        Ok(queue) => match queue.iter().find(|job| job.comment.contains(&comment)) {
            Some(job) => Decision::SkippedInFlight {
                job_id: job.job_id.clone(),
            },
            None => Decision::Failed {
                reason: format!(
                    "another `launch` recorded a submission of this run (token `{}`) after \
                     this one read the queue, with no job id and no job in the queue: it \
                     failed or was stopped; not submitted, so that the run cannot run twice \
                     (run `launch` again)",
                    latest.token
                ),
            },
        },
        Err(why) => Decision::Failed {
            reason: format!(
                "another `launch` recorded a submission of this run (token `{}`) after this \
                 one read the queue, with no job id, and the queue could not be read to find \
                 its job: {why}; not submitted (run `launch` again)",
                latest.token
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::slurm::SbatchAnswer;

    /// A scheduler whose queue is a given listing (or an error), and that submits nothing.
    struct Queue(Result<String, String>);

    impl Slurm for Queue {
        fn squeue(&mut self) -> Result<String, String> {
            self.0.clone()
        }
        fn sbatch(&mut self, _script: &Path) -> io::Result<SbatchAnswer> {
            panic!("a run submitted meanwhile must not be submitted again")
        }
        fn sleep(&mut self, _duration: Duration) {}
    }

    fn latest(job_id: Option<&str>) -> SubmissionRecord {
        SubmissionRecord {
            token: "0123456789abcdef".into(),
            submitted_at: "2026-11-29T13:14:05Z".into(),
            command: Vec::new(),
            job_id: job_id.map(Into::into),
        }
    }

    #[test]
    fn a_run_another_launch_submitted_meanwhile_is_not_submitted_again() {
        let mut unreadable = Queue(Err("`squeue` failed".into()));
        assert_eq!(
            submitted_meanwhile(&mut unreadable, &latest(Some("4242"))),
            Decision::SkippedInFlight {
                job_id: "4242".into()
            }
        );
        // No job id recorded: the queue tells.
        let mut queued = Queue(Ok("77|p-a|PENDING|bench:0123456789abcdef\n".into()));
        assert_eq!(
            submitted_meanwhile(&mut queued, &latest(None)),
            Decision::SkippedInFlight {
                job_id: "77".into()
            }
        );
        let mut empty = Queue(Ok(String::new()));
        let Decision::Failed { reason } = submitted_meanwhile(&mut empty, &latest(None)) else {
            panic!("not failed");
        };
        assert!(
            reason.starts_with(
                "another `launch` recorded a submission of this run (token \
                                `0123456789abcdef`)"
            ),
            "{reason}"
        );
        let Decision::Failed { reason } = submitted_meanwhile(&mut unreadable, &latest(None))
        else {
            panic!("not failed");
        };
        assert!(reason.contains("`squeue` failed"), "{reason}");
    }
}
