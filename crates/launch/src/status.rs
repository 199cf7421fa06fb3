//! `launch --status` (`docs/launch.md`): where each run of the sweep stands, from its files
//! and the queue, submitting nothing: the counts per experiment, then every run that is not
//! completed with its job, state, failure class and `.out` file, and the flag that would run
//! skipped failures again.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use bench_core::decision::{Progress, progress};
use bench_core::failure::FailureClass;
use bench_core::state::{latest_out_file, out_file_ids};
use bench_io::{Console, DirRunFiles};
use strum::IntoEnumIterator as _;

use crate::pass::Pass;
use crate::plan::{DecidedRun, Decision};
use crate::report::{self, Line};
use crate::slurm::{self, Slurm};
use crate::{LaunchError, cli};

/// The state of an in-flight run whose sbatch call has not answered yet (no job id, so no
/// state from the queue).
const SBATCH_RUNNING: &str = "sbatch call running";

/// Where one run (or one stage group without runs) stands: a line of the listing, and its
/// `--json` object.
#[derive(Serialize)]
struct RunStatus<'a> {
    experiment: &'a str,
    name: &'a str,
    run_dir: Option<&'a str>,
    status: &'static str,
    decision: &'static str,
    job_id: Option<String>,
    squeue_state: Option<String>,
    elapsed: Option<String>,
    failure_class: Option<&'static str>,
    retry: Option<String>,
    out: Option<String>,
    reason: Option<String>,
    runs: u64,
    args: Option<&'a serde_json::Map<String, serde_json::Value>>,
    #[serde(skip)]
    progress: Progress,
    #[serde(skip)]
    class: Option<FailureClass>,
}

/// Show the status of the sweep (see the module documentation).
///
/// Errors: only a failed write to stdout or stderr.
pub(crate) fn status(
    args: &cli::Args,
    config: &str,
    pass: &Pass<'_>,
    slurm: &mut dyn Slurm,
    console: &mut Console,
) -> Result<(), LaunchError> {
    // The time used is a nicety: without it, the states alone.
    let elapsed = slurm
        .squeue_elapsed()
        .map(|output| slurm::parse_elapsed(&output))
        .unwrap_or_default();
    let states: HashMap<&str, &str> = pass
        .queue
        .iter()
        .map(|job| (job.job_id.as_str(), job.state.as_str()))
        .collect();
    let statuses: Vec<RunStatus<'_>> = report::lines(&pass.decided, &pass.groups)
        .into_iter()
        .map(|line| match line {
            Line::Run(d) => run_status(args, d, &states, &elapsed),
            Line::Group(g) => {
                let decision = g.decision();
                RunStatus {
                    experiment: &g.stage,
                    name: &g.name,
                    run_dir: None,
                    status: progress(&decision, None).as_str(),
                    decision: decision.as_str(),
                    job_id: None,
                    squeue_state: None,
                    elapsed: None,
                    failure_class: None,
                    retry: None,
                    out: None,
                    reason: Some(g.reason.clone()),
                    runs: g.runs,
                    args: None,
                    progress: progress(&decision, None),
                    class: None,
                }
            }
        })
        .collect();
    if args.json {
        for status in &statuses {
            console.out_line(serde_json::to_string(status).expect("strings and numbers"));
        }
    }
    console.err(text(config, &statuses));
    match console.take_failure() {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

/// Where the run `d` stands, with its queued job's state and time used.
fn run_status<'a>(
    args: &cli::Args,
    d: &'a DecidedRun<'_>,
    states: &HashMap<&str, &str>,
    elapsed: &HashMap<String, String>,
) -> RunStatus<'a> {
    let run = d.run();
    let progress = progress(&d.decision, d.latest_failure);
    let latest_out = match progress {
        Progress::Completed => None,
        _ => latest_out_file(&DirRunFiles::new(&run.run_dir))
            .ok()
            .flatten(),
    };
    let out_job = latest_out
        .as_deref()
        .map(|name| out_file_ids(name).0)
        .filter(|id| *id > 0)
        .map(|id| id.to_string());
    let job_id = d
        .decision
        .job_id()
        .map(str::to_owned)
        .or_else(|| out_job.clone())
        .or_else(|| d.recorded.as_ref().and_then(|r| r.job_id.clone()));
    let in_flight = progress == Progress::InFlight;
    let squeue_state = in_flight.then(|| {
        job_id
            .as_deref()
            .and_then(|id| states.get(id))
            .map_or_else(|| SBATCH_RUNNING.to_owned(), |state| (*state).to_owned())
    });
    let time_used = job_id
        .as_deref()
        .filter(|_| in_flight)
        .and_then(|id| elapsed.get(id))
        .cloned();
    // The `.out` of the job in flight, or of the latest attempt.
    let out = match (&latest_out, in_flight) {
        (Some(name), false) => Some(name.clone()),
        (Some(name), true) if out_job == job_id => Some(name.clone()),
        _ => None,
    }
    .map(|name| format!("{}/{name}", run.run_dir.slurm_logs()));
    let retry = match &d.decision {
        Decision::SkippedFailure { class } => Some(format!(
            "--skip-failure-reasons {}",
            args.skip_failure_reasons.without(*class)
        )),
        _ => None,
    };
    let reason = match &d.decision {
        Decision::Failed { reason } => Some(reason.clone()),
        _ => None,
    };
    RunStatus {
        experiment: &run.experiment,
        name: &run.name,
        run_dir: Some(run.run_dir.as_str()),
        status: progress.as_str(),
        decision: d.decision.as_str(),
        job_id,
        squeue_state,
        elapsed: time_used,
        failure_class: d.latest_failure.map(FailureClass::as_str),
        retry,
        out,
        reason,
        runs: 1,
        args: Some(&run.args),
        progress,
        class: d.latest_failure,
    }
}

/// `1 OOM, 2 timeout` from counts by name.
fn counted(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(what, n)| format!("{} {what}", report::thousands(*n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The counts of one experiment (or of all): per [`Progress`], in flight per squeue state
/// and failed per class.
#[derive(Default)]
struct Counts {
    per_progress: BTreeMap<Progress, u64>,
    in_flight: BTreeMap<String, u64>,
    failed: BTreeMap<String, u64>,
}

impl Counts {
    fn add(&mut self, status: &RunStatus<'_>) {
        *self.per_progress.entry(status.progress).or_default() += status.runs;
        if let Some(state) = &status.squeue_state {
            *self.in_flight.entry(state.clone()).or_default() += 1;
        }
        if let (Progress::Failed, Some(class)) = (status.progress, status.failure_class) {
            *self.failed.entry(class.to_owned()).or_default() += 1;
        }
    }

    /// `1 completed, 1 in flight (1 RUNNING), 0 waiting, 2 failed (1 OOM, 1 timeout), 1
    /// not submitted` (`without a winner` only when there are such runs).
    fn text(&self) -> String {
        Progress::iter()
            .filter_map(|p| {
                let n = self.per_progress.get(&p).copied().unwrap_or_default();
                if p == Progress::NoWinner && n == 0 {
                    return None;
                }
                let detail = match p {
                    Progress::InFlight if n > 0 => format!(" ({})", counted(&self.in_flight)),
                    Progress::Failed if n > 0 => format!(" ({})", counted(&self.failed)),
                    _ => String::new(),
                };
                Some(format!("{} {}{detail}", report::thousands(n), p.label()))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The human output: counts per experiment and in all, each run not completed, and the
/// flags that run skipped failures again.
fn text(config: &str, statuses: &[RunStatus<'_>]) -> String {
    let mut experiments: Vec<(&str, Counts)> = Vec::new();
    let mut all = Counts::default();
    for status in statuses {
        let slot = experiments
            .iter()
            .position(|(e, _)| *e == status.experiment)
            .unwrap_or_else(|| {
                experiments.push((status.experiment, Counts::default()));
                experiments.len() - 1
            });
        experiments[slot].1.add(status);
        all.add(status);
    }
    let mut text = String::from("status (from the run files and the queue; nothing submitted):\n");
    for (experiment, counts) in &experiments {
        let _ = writeln!(text, "  {experiment}: {}", counts.text());
    }
    let total: u64 = all.per_progress.values().sum();
    let _ = writeln!(text, "{}: {}", report::plural_runs(total), all.text());
    let open: Vec<&RunStatus<'_>> = statuses
        .iter()
        .filter(|s| s.progress != Progress::Completed)
        .collect();
    if !open.is_empty() {
        text.push_str("not completed:\n");
    }
    let width = open
        .iter()
        .map(|s| s.progress.label().len())
        .max()
        .unwrap_or(0);
    for status in &open {
        let mut parts: Vec<String> = vec![format!("[{}]", status.experiment)];
        if status.run_dir.is_none() {
            parts.push(format!(
                "{}: {}",
                report::plural_runs(status.runs),
                status.reason.as_deref().unwrap_or_default()
            ));
        }
        if let Some(job_id) = &status.job_id {
            parts.push(format!("job {job_id}"));
        }
        if let Some(state) = &status.squeue_state {
            parts.push(match &status.elapsed {
                Some(elapsed) => format!("{state} {elapsed}"),
                None => state.clone(),
            });
        }
        if let (Some(class), Progress::Failed) = (status.class, status.progress) {
            parts.push(if status.retry.is_some() {
                format!("{class} (skipped)")
            } else {
                format!("{class} (the next `launch` submits it again)")
            });
        }
        if let (Some(reason), Some(_)) = (&status.reason, status.run_dir) {
            parts.push(reason.clone());
        }
        match (&status.out, status.progress) {
            (Some(out), _) => parts.push(out.clone()),
            (None, Progress::InFlight) => parts.push("no .out yet".to_owned()),
            _ => {}
        }
        let _ = writeln!(
            text,
            "  {:width$}  {}  {}",
            status.progress.label(),
            status.name,
            parts.join("  ")
        );
    }
    let mut retries: BTreeMap<FailureClass, (u64, &str)> = BTreeMap::new();
    for status in statuses {
        if let (Some(class), Some(retry)) = (status.class, &status.retry) {
            retries.entry(class).or_insert((0, retry)).0 += 1;
        }
    }
    if !retries.is_empty() {
        text.push_str("to submit skipped failures again:\n");
    }
    for (class, (runs, retry)) in retries {
        let _ = writeln!(
            text,
            "  the {} failed with {class}: launch --config {config} {retry}",
            report::plural_runs(runs),
        );
    }
    text
}
