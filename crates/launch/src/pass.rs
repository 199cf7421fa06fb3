//! One decision pass over a sweep (`docs/launch.md`, `docs/stages.md`): read each run's
//! records and then the queue once, resolve the stages, render the stage runs and decide
//! every selected run. A launch makes one pass; `--follow` one per poll.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use bench_core::failure::FailureClass;
use bench_core::layout::RunDir;
use bench_core::run::Run;
use bench_core::stage::{Outcome, StageGroup, StageItem};
use bench_core::state::{
    QueueEntry, QueueIndex, RunIdentity, RunState, SubmissionRecord, read_records, run_state,
};
use bench_io::{Console, DirRunFiles};

use crate::plan::{self, DecidedRun, Decision, PlannedRun};
use crate::slurm::{self, Slurm};
use crate::template::Renderer;
use crate::{LaunchError, Loaded, cli, plan_runs, record};

/// What `--follow` remembers between its passes: a run is submitted at most once while
/// following.
#[derive(Debug, Default)]
pub struct Session {
    /// Runs submitted while following, with their names (to find their jobs in the queue
    /// when they are no longer part of the sweep: an earlier winner's stage runs).
    pub submitted: HashMap<RunDir, String>,
    /// Runs sbatch refused while following, with its words.
    pub refused: HashMap<RunDir, String>,
}

/// What one pass decided: the selected runs with their decisions, the stage groups without
/// runs, and how many runs the config has this pass (its runs and the stage runs known).
pub struct Pass<'a> {
    /// The selected runs (plain and stage runs) in file order, decided.
    pub decided: Vec<DecidedRun<'a>>,
    /// The selected stage groups that wait or have no winner.
    pub groups: Vec<StageGroup>,
    /// Runs of the config known this pass, selected or not.
    pub config_runs: usize,
    /// Runs in flight that this pass does not show: the sources of selected stages that
    /// `--only` leaves out, and runs submitted while following that are no longer part of
    /// the sweep. Following goes on while there are some.
    pub in_flight_elsewhere: usize,
    /// The queue as this pass read it (empty when it could not be read).
    pub queue: Vec<QueueEntry>,
}

/// One pass: observe (records, then the queue), resolve the stages, render the stage runs,
/// decide; then `act` on the decisions (print them, submit).
///
/// Errors: those of [`observe`], a stage run refused (invalid, exit 2), a template that
/// cannot render a stage run, and those of `act`.
#[expect(
    clippy::too_many_arguments,
    reason = "one pass needs all of them, and only once"
)]
pub(crate) fn with_pass<R>(
    args: &cli::Args,
    loaded: &Loaded,
    scripts: &mut Renderer<'_>,
    plain: &[PlannedRun<'_>],
    slurm: &mut dyn Slurm,
    console: &mut Console,
    session: &Session,
    act: impl FnOnce(Pass<'_>, &mut dyn Slurm, &mut Console) -> Result<R, LaunchError>,
) -> Result<R, LaunchError> {
    let observed = observe(args, loaded, plain, slurm, console, session)?;
    let index = observed.queue.as_deref().map(QueueIndex::new);
    let mut judge = Judge {
        args,
        index: index.as_ref(),
        queue_read: observed.queue.is_some(),
        recorded: &observed.recorded,
        session,
        judged: observed.completed.clone(),
    };
    let resolution = loaded
        .sweep
        .resolve_stages(&loaded.file_name, &mut |run| judge.judge(run).outcome)
        .map_err(|errors| LaunchError::Invalid(errors.to_string()))?;
    let mut planned: Vec<PlannedRun<'_>> = plain.to_vec();
    planned.extend(plan_runs(loaded, scripts, resolution.runs.iter())?);
    // Plain runs and stage runs in file order (a stage's runs after the entries before it).
    planned.sort_by_key(|p| p.run.entry);
    let decided = decide(planned, &mut judge, &observed);
    let shown: HashSet<&RunDir> = decided.iter().map(|d| &d.run().run_dir).collect();
    let judged_elsewhere = judge
        .judged
        .iter()
        .filter(|(dir, judged)| {
            !shown.contains(dir) && matches!(judged.decision, Decision::SkippedInFlight { .. })
        })
        .count();
    let submitted_elsewhere = session
        .submitted
        .iter()
        .filter(|(dir, _)| !shown.contains(dir) && !judge.judged.contains_key(*dir))
        .filter(|(dir, name)| {
            index
                .as_ref()
                .and_then(|index| index.find_run(None, &dir.key(), name))
                .is_some()
        })
        .count();
    drop(shown);
    let groups: Vec<StageGroup> = resolution
        .items
        .into_iter()
        .filter_map(|item| match item {
            StageItem::Group(group) => Some(group),
            StageItem::Run(_) => None,
        })
        .filter(|group| loaded.selects_group(group))
        .collect();
    let pass = Pass {
        decided,
        groups,
        config_runs: loaded.sweep.runs.len() + resolution.runs.len(),
        in_flight_elsewhere: judged_elsewhere + submitted_elsewhere,
        queue: observed.queue.clone().unwrap_or_default(),
    };
    if let (Some(only), true, true) = (
        &loaded.only,
        pass.decided.is_empty() && pass.groups.is_empty(),
        !loaded.sweep.stages.is_empty(),
    ) {
        console.warn(format_args!(
            "`--only {only}` matches neither the name, the experiment nor the run directory of \
             any run or stage group known now ({} runs): nothing to do",
            pass.config_runs
        ));
    }
    act(pass, slurm, console)
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

/// Read the records of every run this launch may submit, then the queue, once.
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
    session: &Session,
) -> Result<Observed, LaunchError> {
    let no_records = HashMap::new();
    let mut by_files = Judge {
        args,
        index: None,
        queue_read: true,
        recorded: &no_records,
        session,
        judged: HashMap::new(),
    };
    // Errors are the resolution's to report, after the queue is read.
    let candidates = loaded
        .sweep
        .resolve_stages(&loaded.file_name, &mut |run| by_files.judge(run).outcome)
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
            console.err_line(if session.submitted.is_empty() {
                "interrupted while the queue was read: nothing was submitted"
            } else {
                "interrupted while the queue was read: nothing more is submitted"
            });
            return Err(LaunchError::Interrupted);
        }
        Err(why) if args.dry_run => {
            console.warn(format_args!(
                "the queue could not be read: {why}\n  runs in flight cannot be recognised in \
                 this dry run: a run that is not completed may be in flight all the same \
                 (`in_flight_unknown` in `--json`)"
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

/// A run's decision, and what a stage sees of it (`docs/stages.md` section 2).
#[derive(Debug, Clone)]
struct Judged {
    decision: Decision,
    in_flight_unknown: bool,
    outcome: Outcome,
    latest_failure: Option<FailureClass>,
}

/// Decides runs from their files, the queue and their records read before it; each run
/// once (a source run is judged for its stage, then again only for printing).
struct Judge<'j> {
    args: &'j cli::Args,
    index: Option<&'j QueueIndex<'j>>,
    /// Whether the queue was read (else runs not completed are `in_flight_unknown`).
    queue_read: bool,
    recorded: &'j HashMap<RunDir, Result<Option<SubmissionRecord>, String>>,
    session: &'j Session,
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
        let state = run_state(&files, identity, self.index);
        let latest_failure = match &state {
            Ok(RunState::Failed(class)) => Some(*class),
            _ => None,
        };
        let (decision, in_flight_unknown) = match &state {
            Ok(state) => {
                if let RunState::Completed { totals, .. } = state {
                    output_tps_per_gpu = output_tps_per_gpu_of(totals, run.gpus);
                }
                (
                    plan::decide(state, &self.args.skip_failure_reasons),
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
        let decision = self.once_while_following(decision, &run.run_dir, state.ok().as_ref());
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
        let outcome = match &decision {
            Decision::SkippedCompleted => Outcome::Completed(output_tps_per_gpu),
            Decision::SkippedFailure { class } => Outcome::Failed(*class),
            Decision::NotAttempted { .. } => Outcome::NotRun,
            _ => Outcome::Unfinished,
        };
        let judged = Judged {
            decision,
            in_flight_unknown,
            outcome,
            latest_failure,
        };
        self.judged.insert(run.run_dir.clone(), judged.clone());
        judged
    }
}

impl Judge<'_> {
    /// `decision`, unless it would submit a run this `--follow` submitted already (or sbatch
    /// refused): then it is resolved, never submitted again (`docs/stages.md`): its
    /// latest attempt's class (`skipped_failure`), or `not_attempted` saying why.
    fn once_while_following(
        &self,
        decision: Decision,
        run_dir: &RunDir,
        state: Option<&RunState>,
    ) -> Decision {
        if decision != Decision::WouldSubmit {
            return decision;
        }
        if let Some(why) = self.session.refused.get(run_dir) {
            return Decision::NotAttempted {
                reason: format!(
                    "sbatch refused it earlier while following ({why}); not submitted again"
                ),
            };
        }
        if !self.session.submitted.contains_key(run_dir) {
            return decision;
        }
        match state {
            Some(RunState::Failed(class)) => Decision::SkippedFailure { class: *class },
            _ => Decision::NotAttempted {
                reason: "its job, submitted while following, ended without stats or a failure \
                         class; not submitted again"
                    .into(),
            },
        }
    }
}

/// The figure runs are ranked by, as `analyze` reports it; `None` when not finite.
fn output_tps_per_gpu_of(totals: &bench_core::stats::StatsTotals, gpus: u32) -> Option<f64> {
    bench_core::metrics::output_tps_per_gpu(totals, u64::from(gpus)).filter(|tps| tps.is_finite())
}

/// Decide each planned run (the judge has seen the stages' sources already).
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
                latest_failure: judged.latest_failure,
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
