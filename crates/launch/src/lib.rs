//! The `launch` binary's work (`docs/launch.md`): render one sbatch script per run, decide per run
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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bench_core::layout::{RunDir, job_comment};
use bench_core::model_config::{LocalModelConfigs, hub_cache_dir};
use bench_core::run::Run;
use bench_core::stage::{Outcome, StageGroup, StageItem};
use bench_core::state::{
    QueueEntry, QueueIndex, RunIdentity, RunState, SubmissionRecord, read_records, run_state,
};
use bench_core::sweep::{LoadContext, ScriptFile, Sweep, SweepCost, load_sweep};
use bench_io::bounded::{
    Accept, MAX_CONFIG_BYTES, MAX_MODEL_CONFIG_BYTES, MAX_TEMPLATE_BYTES, ReadError, read_text,
};
use bench_io::{Console, DirRunFiles, OutputFailure};
use regex::Regex;

use crate::interrupt::Interrupt;
use crate::plan::{DecidedRun, Decision, PlannedRun};
use crate::record::LockedRecords;
use crate::slurm::{CommandSlurm, Slurm, Submission};
use crate::template::{Template, TemplateError};

/// Template problems listed one by one before the rest are only counted.
const SHOWN_PROBLEMS: usize = 5;

/// Why `launch` did not end with every run as decided; `main` prints it (when there is
/// something left to say) and exits with [`LaunchError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The command line, the config or the template is invalid: nothing was submitted.
    #[error("{0}")]
    Invalid(String),
    /// The queue could not be read for a real submission: nothing was submitted.
    #[error(
        "the queue could not be read, so nothing was submitted: {0}\nhint: without the \
         queue, `launch` cannot tell which runs are in flight and could submit them twice; \
         check that `squeue --me` works here"
    )]
    QueueUnreadable(String),
    /// At least one submission failed (each is in the summary).
    #[error("{failed} of {attempted} submissions failed (see the summary above)")]
    SubmissionsFailed {
        /// Failed submissions.
        failed: usize,
        /// Submissions tried.
        attempted: usize,
    },
    /// Interrupted by a signal; the sbatch call under way finished and was recorded.
    #[error("interrupted")]
    Interrupted,
    /// Writing to stdout or stderr failed: a real launch stopped at the next run boundary
    /// (the runs it did not reach are `not_attempted`, with this as their reason).
    #[error("{0}")]
    Output(#[from] OutputFailure),
}

impl LaunchError {
    /// The documented exit code: 1 a submission failed or the output could not be written,
    /// 2 invalid input, 3 the queue could not be read, 130 interrupted.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            LaunchError::SubmissionsFailed { .. } | LaunchError::Output(_) => 1,
            LaunchError::Invalid(_) => 2,
            LaunchError::QueueUnreadable(_) => 3,
            LaunchError::Interrupted => 130,
        })
    }

    /// Whether `main` still has to print it (an interrupt has been said where it happened).
    pub fn is_reported(&self) -> bool {
        matches!(self, LaunchError::Interrupted)
    }
}

impl From<TemplateError> for LaunchError {
    fn from(err: TemplateError) -> Self {
        LaunchError::Invalid(with_hint(&err.to_string(), err.hint().as_deref()))
    }
}

/// `message`, then `hint: ...` on its own line when there is one.
fn with_hint(message: &str, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{message}\nhint: {hint}"),
        None => message.to_owned(),
    }
}

/// Phase 1: the config, validated and expanded, with the template and the selection.
struct Loaded {
    /// The config file as the user named it.
    file_name: String,
    sweep: Sweep,
    template: Template,
    only: Option<Regex>,
}

impl Loaded {
    /// Whether `--only` selects `run`.
    fn selects(&self, run: &Run) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.is_match(&run.name) || only.is_match(&run.experiment))
    }

    /// Whether `--only` selects a stage group: its name as far as known, or its stage.
    fn selects_group(&self, group: &StageGroup) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.is_match(&group.name) || only.is_match(&group.stage))
    }
}

/// Run `launch` with parsed arguments, printing to `console`.
///
/// Errors: see [`LaunchError`]; every error ends here, and `main` maps it to its exit code.
pub fn run(args: &cli::Args, console: &mut Console) -> Result<(), LaunchError> {
    // From the start: a signal while the queue is read is handled too (exit 130, no child
    // left), not only while submitting.
    let interrupt = Interrupt::install().map_err(|err| {
        LaunchError::Invalid(format!("failed to install the signal handlers: {err}"))
    })?;
    let loaded = load(args, console)?;
    let mut scripts = loaded.template.renderer(&loaded.sweep.settings)?;
    let planned = plan(&loaded, &mut scripts)?;
    let timeouts = &loaded.sweep.settings.slurm;
    let mut slurm = CommandSlurm {
        squeue_timeout: Duration::from_secs(timeouts.squeue_timeout.into()),
        sbatch_timeout: Duration::from_secs(timeouts.sbatch_timeout.into()),
        interrupt: Some(interrupt.flag()),
    };
    if interrupt.is_raised() {
        return Err(LaunchError::Interrupted);
    }
    let observed = observe(args, &loaded, &planned, &mut slurm, console)?;
    let index = observed.queue.as_deref().map(QueueIndex::new);
    let mut judge = Judge {
        args,
        index: index.as_ref(),
        queue_read: observed.queue.is_some(),
        recorded: &observed.recorded,
        judged: observed.completed.clone(),
    };
    let resolution = loaded
        .sweep
        .resolve_stages(&loaded.file_name, &mut |run| judge.judge(run).outcome())
        .map_err(|errors| LaunchError::Invalid(errors.to_string()))?;
    let mut planned = planned;
    planned.extend(plan_runs(&loaded, &mut scripts, resolution.runs.iter())?);
    // Plain runs and stage runs in file order (a stage's runs after the entries before it).
    planned.sort_by_key(|p| p.run.entry);
    let decided = decide(planned, &mut judge, &observed);
    let groups: Vec<StageGroup> = resolution
        .items
        .into_iter()
        .filter_map(|item| match item {
            StageItem::Group(group) => Some(group),
            StageItem::Run(_) => None,
        })
        .filter(|group| loaded.selects_group(group))
        .collect();
    if args.dry_run {
        dry_run(args, &loaded.sweep, &decided, &groups, console)
    } else {
        submit_all(
            args,
            &loaded.sweep,
            &mut slurm,
            decided,
            &groups,
            console,
            &interrupt,
        )
    }
}

/// Phase 1: read and validate the config, supplying the outside world (whether the script
/// exists, model configs from the local Hugging Face cache), then the template and `--only`.
fn load(args: &cli::Args, console: &mut Console) -> Result<Loaded, LaunchError> {
    let text = read_text(
        &args.config,
        MAX_CONFIG_BYTES,
        Accept::RegularOrPipe,
        "the config",
    )
    .map_err(|err| LaunchError::Invalid(err.to_string()))?;
    let hub_cache = hub_cache_dir(|name| std::env::var(name).ok());
    let model_configs = LocalModelConfigs::new(hub_cache, |path: &Path| {
        read_text(
            path,
            MAX_MODEL_CONFIG_BYTES,
            Accept::Regular,
            "a model's config.json",
        )
        .ok()
    });
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
    let sweep = load_sweep(&text, &args.config.display().to_string(), &ctx)
        .map_err(|errors| LaunchError::Invalid(errors.to_string()))?;
    for warning in &sweep.warnings {
        console.err_line(format_args!("warning: {warning}"));
    }
    for note in &sweep.notes {
        console.err_line(format_args!("note: {note}"));
    }
    let template = select_template(args, &sweep)?;
    let only = args
        .only
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|err| {
            LaunchError::Invalid(format!("`--only` is not a valid regular expression: {err}"))
        })?;
    let loaded = Loaded {
        file_name: args.config.display().to_string(),
        sweep,
        template,
        only,
    };
    let stages = &loaded.sweep.stages;
    if let (Some(only), false) = (
        &loaded.only,
        loaded.sweep.runs.iter().any(|run| loaded.selects(run))
            || loaded.only.as_ref().is_some_and(|only| {
                stages
                    .iter()
                    .any(|stage| only_matches_stage(only, &stage.name, &stage.probe))
            }),
    ) {
        console.err_line(format_args!(
            "warning: `--only {only}` matches neither the name nor the experiment of any of \
             the config's {} runs: nothing to do",
            loaded.sweep.runs.len()
        ));
    }
    Ok(loaded)
}

/// The template: `--template`, else the config's `slurm.template`, else the built-in one.
fn select_template(args: &cli::Args, sweep: &Sweep) -> Result<Template, LaunchError> {
    let path = args
        .template
        .clone()
        .or_else(|| sweep.settings.slurm.template.as_ref().map(Into::into));
    let Some(path) = path else {
        return Ok(Template::builtin()?);
    };
    let text = read_text(
        &path,
        MAX_TEMPLATE_BYTES,
        Accept::RegularOrPipe,
        "the template",
    )
    .map_err(|err| match err {
        ReadError::Io {
            what,
            path: shown,
            error,
        } if path.is_relative() && error.kind() == std::io::ErrorKind::NotFound => {
            let origin = if args.template.is_some() {
                "`--template`"
            } else {
                "the config's `slurm.template`"
            };
            let cwd = std::env::current_dir().map_or_else(
                |_| "the current directory".to_owned(),
                |dir| format!("the current directory `{}`", dir.display()),
            );
            LaunchError::Invalid(format!(
                "failed to read {what} `{shown}` ({origin} is relative to {cwd}, where `launch` \
                 runs, not to the config file): {error}"
            ))
        }
        other => LaunchError::Invalid(other.to_string()),
    })?;
    Ok(Template::parse(&path.display().to_string(), &text)?)
}

/// Whether `--only` could select runs of a stage: its name, or a run name of the probe's
/// form (the model and prompt of its runs are those of its source).
fn only_matches_stage(only: &Regex, stage: &str, probe: &[Run]) -> bool {
    only.is_match(stage) || probe.iter().any(|run| only.is_match(&run.name))
}

/// Phase 2: render every run of the config (selected or not) and the probe runs of every
/// stage (what its runs will look like), and keep the selected runs; any template problem
/// stops everything before SLURM is contacted.
fn plan<'a>(
    loaded: &'a Loaded,
    scripts: &mut template::Renderer<'_>,
) -> Result<Vec<PlannedRun<'a>>, LaunchError> {
    let probes = loaded.sweep.stages.iter().flat_map(|stage| &stage.probe);
    let mut planned = plan_runs(loaded, scripts, loaded.sweep.runs.iter().chain(probes))?;
    // The probes only check the template: their runs are not the stage's yet.
    planned.retain(|p| loaded.sweep.stages.iter().all(|s| s.entry != p.run.entry));
    Ok(planned)
}

/// Render `runs`, each with a fresh token, and keep the selected ones; every template
/// problem is reported together.
fn plan_runs<'a>(
    loaded: &Loaded,
    scripts: &mut template::Renderer<'_>,
    runs: impl IntoIterator<Item = &'a Run>,
) -> Result<Vec<PlannedRun<'a>>, LaunchError> {
    let mut count = 0;
    let mut planned = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    let mut failed_runs = 0;
    for run in runs {
        count += 1;
        let token = record::new_token();
        match scripts.render(run, &token) {
            Ok(rendered) => {
                if loaded.selects(run) {
                    planned.push(PlannedRun {
                        run,
                        token,
                        directives: rendered.directives,
                        script: rendered.script,
                    });
                }
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
            "the template cannot be rendered for {failed_runs} of {count} runs; nothing was \
             submitted:\n  - {}",
            problems.join("\n  - ")
        );
        if failed_runs > problems.len() {
            let _ = write!(message, "\n  ... and {} more", failed_runs - problems.len());
        }
        for hint in hints {
            let _ = write!(message, "\nhint: {hint}");
        }
        return Err(LaunchError::Invalid(message));
    }
    Ok(planned)
}

/// What a launch reads once, at its start: the latest submission of each run it may submit
/// (read before the queue: one recorded after that comes from another `launch`, see
/// [`submit_one`]) and the queue (`None`: a dry run that could not read it).
struct Observed {
    recorded: HashMap<RunDir, Result<Option<SubmissionRecord>, String>>,
    queue: Option<Vec<QueueEntry>>,
    /// Runs found completed while the stages were resolved from the files alone: completion
    /// is judged before the queue, so the queue cannot change it.
    completed: HashMap<RunDir, Judged>,
}

/// Phase 3: read the records of every run this launch may submit, then the queue, once.
///
/// With stages, the stage runs this launch may submit are those of the groups resolved by
/// the files alone: the queue can only keep a group waiting (a run of it in flight), never
/// resolve one, so their records too are read before the queue.
fn observe(
    args: &cli::Args,
    loaded: &Loaded,
    planned: &[PlannedRun<'_>],
    slurm: &mut dyn Slurm,
    console: &mut Console,
) -> Result<Observed, LaunchError> {
    let no_records = HashMap::new();
    let mut by_files = Judge {
        args,
        index: None,
        queue_read: true,
        recorded: &no_records,
        judged: HashMap::new(),
    };
    // Errors are the resolution's to report, after the queue is read.
    let candidates = loaded
        .sweep
        .resolve_stages(&loaded.file_name, &mut |run| by_files.judge(run).outcome())
        .map(|resolution| resolution.runs)
        .unwrap_or_default();
    let mut recorded = HashMap::with_capacity(planned.len() + candidates.len());
    let selected = planned
        .iter()
        .map(|p| p.run)
        .chain(candidates.iter().filter(|run| loaded.selects(run)));
    for run in selected {
        recorded.insert(
            run.run_dir.clone(),
            read_records(&DirRunFiles::new(&run.run_dir)),
        );
    }
    let queue = match slurm::read_queue(slurm) {
        Ok(queue) => Some(queue),
        Err(why) if why == slurm::INTERRUPTED => {
            console.err_line("interrupted while the queue was read: nothing was submitted");
            return Err(LaunchError::Interrupted);
        }
        Err(why) if args.dry_run => {
            console.err_line(format_args!(
                "warning: the queue could not be read: {why}\n  runs in flight cannot be \
                 recognised in this dry run; they are shown with `in_flight_unknown`"
            ));
            None
        }
        Err(why) => return Err(LaunchError::QueueUnreadable(why)),
    };
    let completed = by_files
        .judged
        .into_iter()
        .filter(|(_, judged)| judged.decision == Decision::SkippedCompleted)
        .collect();
    Ok(Observed {
        recorded,
        queue,
        completed,
    })
}

/// A run's decision, and its throughput when completed (for a stage's winners).
#[derive(Debug, Clone)]
struct Judged {
    decision: Decision,
    in_flight_unknown: bool,
    output_tps_per_gpu: Option<f64>,
}

impl Judged {
    /// What a stage sees of the run (`docs/stages.md` section 2).
    fn outcome(&self) -> Outcome {
        match &self.decision {
            Decision::SkippedCompleted => Outcome::Completed(self.output_tps_per_gpu),
            Decision::SkippedFailure { class } => Outcome::Failed(*class),
            _ => Outcome::Unfinished,
        }
    }
}

/// Decides runs from their files, the queue and their records read before it; each run
/// once (a source run is judged for its stage, then again only for printing).
struct Judge<'j> {
    args: &'j cli::Args,
    index: Option<&'j QueueIndex<'j>>,
    /// Whether the queue was read (else runs not completed are `in_flight_unknown`).
    queue_read: bool,
    recorded: &'j HashMap<RunDir, Result<Option<SubmissionRecord>, String>>,
    judged: HashMap<RunDir, Judged>,
}

impl Judge<'_> {
    fn judge(&mut self, run: &Run) -> Judged {
        if let Some(judged) = self.judged.get(&run.run_dir) {
            return judged.clone();
        }
        let files = DirRunFiles::new(&run.run_dir);
        let key = run.run_dir.key();
        let identity = RunIdentity {
            name: &run.name,
            key: &key,
        };
        let recorded = self.recorded.get(&run.run_dir);
        let mut output_tps_per_gpu = None;
        let (decision, in_flight_unknown) = match run_state(&files, identity, self.index) {
            Ok(state) => {
                if let RunState::Completed { totals, .. } = &state {
                    output_tps_per_gpu = output_tps_per_gpu_of(totals, run.gpus);
                }
                (
                    plan::decide(&state, &self.args.skip_failure_reasons),
                    !self.queue_read && !matches!(state, RunState::Completed { .. }),
                )
            }
            Err(err) => (
                Decision::Failed {
                    reason: format!(
                        "the run's files under `{}` could not be read: {err}",
                        run.run_dir
                    ),
                },
                false,
            ),
        };
        // A lock can only be held on records that exist: the sbatch child keeps the file
        // open, and a launch writes its intent line before calling sbatch.
        let decision = if matches!(recorded, Some(Ok(None)) | None) {
            decision
        } else {
            still_running(decision, &run.run_dir)
        };
        let decision = match (decision, recorded) {
            // In flight although its records are unreadable: say what is wrong with them.
            (Decision::SkippedInFlight { job_id, reason }, Some(Err(problem))) => {
                Decision::SkippedInFlight {
                    job_id,
                    reason: format!("{reason}; {problem}"),
                }
            }
            (decision, _) => decision,
        };
        let judged = Judged {
            decision,
            in_flight_unknown,
            output_tps_per_gpu,
        };
        self.judged.insert(run.run_dir.clone(), judged.clone());
        judged
    }
}

/// The figure runs are ranked by, as `analyze` reports it; `None` when not finite.
fn output_tps_per_gpu_of(totals: &bench_core::stats::StatsTotals, gpus: u32) -> Option<f64> {
    bench_core::metrics::output_tps_per_gpu(totals, u64::from(gpus)).filter(|tps| tps.is_finite())
}

/// Phase 4: decide each planned run (the judge has seen the stages' sources already).
fn decide<'a>(
    planned: Vec<PlannedRun<'a>>,
    judge: &mut Judge<'_>,
    observed: &Observed,
) -> Vec<DecidedRun<'a>> {
    planned
        .into_iter()
        .map(|planned| {
            let judged = judge.judge(planned.run);
            let recorded = observed.recorded.get(&planned.run.run_dir);
            DecidedRun {
                decision: judged.decision,
                in_flight_unknown: judged.in_flight_unknown,
                recorded: recorded
                    .and_then(|r| r.as_ref().ok().cloned().flatten())
                    .filter(|_| !judge.args.dry_run),
                planned,
            }
        })
        .collect()
}

/// `decision`, unless it would submit a run whose `submissions.jsonl` another process holds
/// locked: an sbatch call for it is still running (possibly of a `launch` that was killed),
/// and a second call could submit it twice.
fn still_running(decision: Decision, run_dir: &RunDir) -> Decision {
    if decision != Decision::WouldSubmit {
        return decision;
    }
    let path = run_dir.submissions_jsonl();
    match record::is_locked(Path::new(&path)) {
        Ok(false) => decision,
        Ok(true) => Decision::sbatch_still_running(),
        Err(err) => Decision::Failed {
            reason: format!("`{path}` cannot be read: {err}"),
        },
    }
}

/// `--json` lines go to stdout, one per run.
fn json_line(args: &cli::Args, decided: &DecidedRun<'_>, console: &mut Console) {
    if args.json {
        console.out_line(report::json_line(decided));
    }
}

/// `--json` lines of stage groups without runs, one per group and stage.
fn group_json_line(args: &cli::Args, group: &StageGroup, console: &mut Console) {
    if args.json {
        console.out_line(report::group_json_line(group));
    }
}

/// Phase 4 of a dry run: decisions, directives and cost; nothing written anywhere.
fn dry_run(
    args: &cli::Args,
    sweep: &Sweep,
    decided: &[DecidedRun<'_>],
    groups: &[StageGroup],
    console: &mut Console,
) -> Result<(), LaunchError> {
    let mut blocks = String::new();
    for line in report::lines(decided, groups) {
        let d = match line {
            report::Line::Run(d) => d,
            report::Line::Group(group) => {
                group_json_line(args, group, console);
                if !args.json {
                    blocks.push_str(&report::group_block(group));
                }
                continue;
            }
        };
        json_line(args, d, console);
        if !args.json {
            blocks.push_str(&report::run_block(d, args.show_script));
        } else if args.show_script {
            let _ = writeln!(
                blocks,
                "# {} ({})\n{}",
                d.run().name,
                d.run().run_dir,
                d.planned.script
            );
        }
    }
    let cost = SweepCost::of(
        decided
            .iter()
            .filter(|d| d.decision == Decision::WouldSubmit)
            .map(DecidedRun::run),
    );
    blocks.push_str(&report::summary(decided, groups, sweep, Some(&cost)));
    console.err(blocks);
    match console.take_failure() {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

/// Phase 4 of a real launch: submit every `would_submit` run in order, honouring
/// `continue_on_failure`, interrupts and output failures (each stops at a run boundary).
fn submit_all(
    args: &cli::Args,
    sweep: &Sweep,
    slurm: &mut dyn Slurm,
    decided: Vec<DecidedRun<'_>>,
    groups: &[StageGroup],
    console: &mut Console,
    interrupt: &Interrupt,
) -> Result<(), LaunchError> {
    let to_submit = decided
        .iter()
        .filter(|d| d.decision == Decision::WouldSubmit)
        .count();
    let mut attempted = 0;
    let mut stop: Option<String> = None;
    let mut interrupted = false;
    let mut output_failure: Option<OutputFailure> = None;
    let mut submitted = Vec::with_capacity(decided.len());
    for d in decided {
        let d = if d.decision == Decision::WouldSubmit {
            if stop.is_none() && interrupt.is_raised() {
                interrupted = true;
                stop = Some("interrupted".into());
                console.err_line("interrupted: no further runs are submitted");
            }
            if stop.is_none()
                && let Some(failure) = console.take_failure()
            {
                stop = Some(format!("{failure}"));
                output_failure = Some(failure);
            }
            if let Some(reason) = &stop {
                d.with_decision(Decision::NotAttempted {
                    reason: reason.clone(),
                })
            } else {
                attempted += 1;
                if args.show_script {
                    console.err_line(format_args!(
                        "# {} ({})\n{}",
                        d.run().name,
                        d.run().run_dir,
                        d.planned.script
                    ));
                }
                let mut unresponsive = false;
                let decision = submit_one(slurm, &d, console, &mut unresponsive);
                console.err_line(format_args!(
                    "[{attempted}/{to_submit}] {}  {}",
                    d.run().name,
                    report::decision_text(&decision)
                ));
                if unresponsive {
                    stop = Some(
                        "SLURM did not answer an earlier sbatch call in time; not tried, rather \
                         than wait on each run (run `launch` again when `sbatch` answers)"
                            .into(),
                    );
                } else if matches!(decision, Decision::Failed { .. })
                    && !sweep.settings.continue_on_failure
                {
                    stop = Some(
                        "an earlier submission failed and `continue_on_failure` is false".into(),
                    );
                }
                d.with_decision(decision)
            }
        } else {
            d
        };
        json_line(args, &d, console);
        submitted.push(d);
    }
    for group in groups {
        group_json_line(args, group, console);
    }
    console.err(report::summary(&submitted, groups, sweep, None));
    if interrupted {
        return Err(LaunchError::Interrupted);
    }
    if let Some(failure) = output_failure.or_else(|| console.take_failure()) {
        return Err(failure.into());
    }
    let failed = submitted
        .iter()
        .filter(|d| matches!(d.decision, Decision::Failed { .. }))
        .count();
    if failed > 0 {
        return Err(LaunchError::SubmissionsFailed { failed, attempted });
    }
    Ok(())
}

/// Submit one run: create its log directories, lock its `submissions.jsonl`, and unless
/// another `launch` recorded a submission since this one read the queue, write `sbatch.sh`
/// and `kwargs.json`, append the intent line, call sbatch (with retries), append the job id
/// line; the lock is held until then.
/// `unresponsive` is set when sbatch did not answer in time and its job is not in the
/// queue: SLURM looks unresponsive, and the launch stops there.
fn submit_one(
    slurm: &mut dyn Slurm,
    decided: &DecidedRun<'_>,
    console: &mut Console,
    unresponsive: &mut bool,
) -> Decision {
    let run = decided.run();
    let run_dir: &RunDir = &run.run_dir;
    let script_path = run_dir.sbatch_sh();
    let records_path = run_dir.submissions_jsonl();
    let command = vec![
        "sbatch".to_owned(),
        "--parsable".to_owned(),
        script_path.clone(),
    ];
    let locked = (|| -> Result<Option<LockedRecords>, String> {
        for dir in [run_dir.slurm_logs(), run_dir.launch_dir()] {
            fs::create_dir_all(&dir).map_err(|err| format!("failed to create `{dir}`: {err}"))?;
        }
        LockedRecords::open(Path::new(&records_path), record::LOCK_WAIT)
            .map_err(|err| format!("failed to lock `{records_path}`: {err}"))
    })();
    let mut records = match locked {
        Ok(Some(records)) => records,
        Ok(None) => return Decision::sbatch_still_running(),
        Err(err) => {
            return Decision::Failed {
                reason: format!("{err} (sbatch was not called)"),
            };
        }
    };
    if let Some(latest) = records.latest()
        && latest.job_id.is_none()
        && let Some(decision) = unconfirmed(slurm, latest, run_dir, decided.recorded.as_ref())
    {
        return decision;
    }
    if let Some(latest) = records.latest()
        && latest.job_id.is_some()
        && Some(latest) != decided.recorded.as_ref()
    {
        return Decision::SkippedInFlight {
            job_id: latest.job_id.clone(),
            reason: "another `launch` submitted it after this one read the queue".to_owned(),
        };
    }
    let token = &decided.planned.token;
    let prepared = (|| -> Result<(), String> {
        record::write_replacing(Path::new(&script_path), decided.planned.script.as_bytes())
            .map_err(|err| format!("failed to write `{script_path}`: {err}"))?;
        let kwargs_path = run_dir.kwargs_json();
        let kwargs = serde_json::to_string(&run.kwargs())
            .map_err(|err| format!("failed to encode kwargs: {err}"))?;
        record::write_replacing(Path::new(&kwargs_path), kwargs.as_bytes())
            .map_err(|err| format!("failed to write `{kwargs_path}`: {err}"))?;
        let intent = SubmissionRecord {
            token: token.clone(),
            submitted_at: record::now(),
            command: command.clone(),
            job_id: None,
        };
        records
            .append(&intent)
            .map_err(|err| format!("failed to append to `{records_path}`: {err}"))
    })();
    if let Err(err) = prepared {
        return Decision::Failed {
            reason: format!("{err} (sbatch was not called)"),
        };
    }
    match slurm::submit(slurm, Path::new(&script_path), token, records.file()) {
        Submission::Accepted {
            job_id, adopted, ..
        } => {
            if adopted {
                console.err_line(format_args!(
                    "note: sbatch reported an error for `{}`, but the queue holds its job \
                     {job_id} (comment `{}`): adopted, not submitted again",
                    run.name,
                    job_comment(token, &run_dir.key())
                ));
            }
            let done = SubmissionRecord {
                token: token.clone(),
                submitted_at: record::now(),
                command,
                job_id: Some(job_id.clone()),
            };
            if let Err(err) = records.append(&done) {
                console.err_line(format_args!(
                    "warning: job {job_id} of `{}` was submitted but its id could not be \
                     appended to `{records_path}`: {err}\n  the next launch still finds it \
                     in the queue by its comment `{}`",
                    run.name,
                    job_comment(token, &run_dir.key())
                ));
            }
            Decision::Submitted { job_id }
        }
        Submission::Failed { reason, .. } => Decision::Failed { reason },
        Submission::Unanswered { reason } => {
            *unresponsive = true;
            Decision::Failed { reason }
        }
    }
}

/// The decision for a run whose latest submission (`latest`, read under the lock) has no
/// job id: an sbatch call that never answered, whose launch was stopped. Its sbatch has
/// ended (this launch holds the lock the sbatch child held), so the queue tells now
/// whether it submitted a job, by its token or the run's key in a comment: `None` when no
/// job is there and the record is the one read before the queue (the run may be
/// submitted), a decision otherwise. A record that appeared after this launch read the
/// queue is never followed by a second sbatch call: that launch's job may be about to
/// appear.
fn unconfirmed(
    slurm: &mut dyn Slurm,
    latest: &SubmissionRecord,
    run_dir: &RunDir,
    recorded: Option<&SubmissionRecord>,
) -> Option<Decision> {
    let meanwhile = Some(latest) != recorded;
    let queue = match slurm::read_queue(slurm) {
        Ok(queue) => queue,
        Err(why) => {
            return Some(Decision::Failed {
                reason: format!(
                    "its latest submission (token `{}`) has no job id, and the queue could not \
                     be read to find its job: {why}; not submitted (run `launch` again)",
                    latest.token
                ),
            });
        }
    };
    let index = QueueIndex::new(&queue);
    if let Some((job, evidence)) = index.find_run(Some(latest), &run_dir.key(), "") {
        return Some(Decision::queued(&job.job_id, evidence));
    }
    meanwhile.then(|| Decision::Failed {
        reason: format!(
            "another `launch` recorded a submission of this run (token `{}`) after this one \
             read the queue, with no job id and no job in the queue: it failed or was stopped; \
             not submitted, so that the run cannot run twice (run `launch` again)",
            latest.token
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::time::Duration;

    use super::*;
    use crate::slurm::SbatchAnswer;
    use bench_core::state::Evidence;

    /// A scheduler whose queue is a given listing (or an error), and that submits nothing.
    struct Queue(Result<String, String>);

    impl Slurm for Queue {
        fn squeue(&mut self) -> Result<String, String> {
            self.0.clone()
        }
        fn sbatch(&mut self, _script: &Path, _hold: &std::fs::File) -> io::Result<SbatchAnswer> {
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
    fn an_unconfirmed_submission_is_resolved_through_the_queue_first() {
        let run_dir = RunDir::new(
            "data/e/p/m/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none",
        );
        let other = SubmissionRecord {
            token: "feedfacefeedface".into(),
            ..latest(None)
        };
        // The token in a comment: its job is in flight, whoever recorded it.
        let mut queued = Queue(Ok("77|p-a|PENDING|bench:0123456789abcdef:0\n".into()));
        assert_eq!(
            unconfirmed(&mut queued, &latest(None), &run_dir, Some(&other)),
            Some(Decision::queued("77", Evidence::CommentToken))
        );
        // The run's key in a comment, another token (its record was lost).
        let mut by_key = Queue(Ok(format!("78|p-a|PENDING|bench:aaaa:{}\n", run_dir.key())));
        assert_eq!(
            unconfirmed(&mut by_key, &latest(None), &run_dir, Some(&latest(None))),
            Some(Decision::queued("78", Evidence::CommentRunKey))
        );
        // Not in the queue, and read before the queue: its sbatch ended without a job, the
        // run may be submitted.
        let mut empty = Queue(Ok(String::new()));
        assert_eq!(
            unconfirmed(&mut empty, &latest(None), &run_dir, Some(&latest(None))),
            None
        );
        // Not in the queue, recorded by another launch after this one read the queue: never
        // a second call.
        let Some(Decision::Failed { reason }) =
            unconfirmed(&mut empty, &latest(None), &run_dir, Some(&other))
        else {
            panic!("not failed");
        };
        assert!(
            reason.starts_with(
                "another `launch` recorded a submission of this run (token `0123456789abcdef`)"
            ),
            "{reason}"
        );
        // The queue cannot be read: not submitted.
        let mut unreadable = Queue(Err("`squeue` failed".into()));
        let Some(Decision::Failed { reason }) = unconfirmed(
            &mut unreadable,
            &latest(None),
            &run_dir,
            Some(&latest(None)),
        ) else {
            panic!("not failed");
        };
        assert!(reason.contains("`squeue` failed"), "{reason}");
    }
}
