//! Per-run decisions (`docs/launch.md`): what `launch` does with each run.

use bench_core::failure::FailureClass;
use bench_core::run::Run;
use bench_core::state::SubmissionRecord;

pub use bench_core::decision::{Decision, DecisionKind, SBATCH_STILL_RUNNING, decide};

use crate::directives::Directive;

/// One selected run with its rendered script: the plan, before anything is decided.
#[derive(Debug, Clone)]
pub struct PlannedRun<'a> {
    /// The run.
    pub run: &'a Run,
    /// The submission token (in the script's `--comment=bench:<token>`).
    pub token: String,
    /// The rendered sbatch script.
    pub script: String,
    /// The script's `#SBATCH` directives.
    pub directives: Vec<Directive>,
}

/// A planned run with its decision, from its files and the queue (and, after submitting,
/// from what sbatch answered).
#[derive(Debug, Clone)]
pub struct DecidedRun<'a> {
    /// The plan.
    pub planned: PlannedRun<'a>,
    /// What happens to it.
    pub decision: Decision,
    /// True only in a dry run that could not read the queue.
    pub in_flight_unknown: bool,
    /// The class of the run's latest attempt when it failed (skipped or not).
    pub latest_failure: Option<FailureClass>,
    /// A real submission: the run's latest submission in `submissions.jsonl`, read before
    /// the queue. A different one found when the file is locked for submitting was recorded
    /// by another `launch` meanwhile. `None` in a dry run.
    pub recorded: Option<SubmissionRecord>,
}

impl<'a> DecidedRun<'a> {
    /// The run.
    pub fn run(&self) -> &'a Run {
        self.planned.run
    }

    /// The same run with the decision submitting it led to.
    #[must_use]
    pub fn with_decision(self, decision: Decision) -> Self {
        DecidedRun { decision, ..self }
    }
}
