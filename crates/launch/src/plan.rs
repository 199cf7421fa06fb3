//! Per-run decisions (`docs/launch.md`): what `launch` does with each run.

use bench_core::failure::FailureClass;
use bench_core::run::Run;
use bench_core::state::{Evidence, RunState, SubmissionRecord};

use crate::directives::Directive;
use crate::skip::SkipSet;

/// What `launch` did, or would do, with a run. Its name (`--json`, the summary) is derived
/// from the variant: [`Decision::as_str`]; [`DecisionKind`] lists them, in the order counts
/// are shown.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr, strum::EnumDiscriminants)]
#[strum(serialize_all = "snake_case")]
#[strum_discriminants(
    name(DecisionKind),
    derive(strum::EnumIter, strum::IntoStaticStr, Hash),
    strum(serialize_all = "snake_case")
)]
pub enum Decision {
    /// Submitted (or adopted from the queue after a transient error).
    Submitted {
        /// The job id SLURM gave.
        job_id: String,
    },
    /// Dry run: it would be submitted.
    WouldSubmit,
    /// The submission failed.
    Failed {
        /// sbatch's own words, or why it could not be called.
        reason: String,
    },
    /// Not tried: an earlier submission failed with `continue_on_failure: false`, the
    /// launch was interrupted, or its output could not be written.
    NotAttempted {
        /// Why.
        reason: String,
    },
    /// The run has valid stats.
    SkippedCompleted,
    /// The queue holds the run's job, or an sbatch call for it is still running.
    SkippedInFlight {
        /// The queued job; `None` while an sbatch call for the run has not answered.
        job_id: Option<String>,
        /// Why: which evidence matched the queued job, or the sbatch call still running.
        reason: String,
    },
    /// The run's latest attempt failed with a class in the skip set.
    SkippedFailure {
        /// That class.
        class: FailureClass,
    },
}

/// The reason of a run whose sbatch call has not answered yet.
pub const SBATCH_STILL_RUNNING: &str = "an sbatch call for this run is still running";

impl Decision {
    /// `skipped_in_flight` for the queued job `job_id`, found by `evidence`.
    pub fn queued(job_id: &str, evidence: Evidence) -> Self {
        Decision::SkippedInFlight {
            job_id: Some(job_id.to_owned()),
            reason: format!("job {job_id} is queued (found by {})", evidence.describe()),
        }
    }

    /// `skipped_in_flight` for a run whose sbatch call is still running.
    pub fn sbatch_still_running() -> Self {
        Decision::SkippedInFlight {
            job_id: None,
            reason: SBATCH_STILL_RUNNING.to_owned(),
        }
    }
}

impl DecisionKind {
    /// The name `--json` and the summary use (`skipped_in_flight`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl Decision {
    /// The name `--json` and the summary use (`skipped_in_flight`).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    /// The decision's kind, without its details.
    pub fn kind(&self) -> DecisionKind {
        self.into()
    }

    /// The `reason` of `--json`: sbatch's words for `failed`, the class for
    /// `skipped_failure`, why for `not_attempted`.
    pub fn reason(&self) -> Option<String> {
        match self {
            Decision::Failed { reason }
            | Decision::NotAttempted { reason }
            | Decision::SkippedInFlight { reason, .. } => Some(reason.clone()),
            Decision::SkippedFailure { class } => Some(class.as_str().to_owned()),
            _ => None,
        }
    }

    /// The `job_id` of `--json`: the new job, or the queued one.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Decision::Submitted { job_id }
            | Decision::SkippedInFlight {
                job_id: Some(job_id),
                ..
            } => Some(job_id),
            _ => None,
        }
    }
}

/// The decision the run-state rule gives: completed, in flight and failed-with-a-skipped-class
/// runs are skipped; every other run is submitted (`docs/launch.md`).
pub fn decide(state: &RunState, skip: &SkipSet) -> Decision {
    match state {
        RunState::Completed { .. } => Decision::SkippedCompleted,
        RunState::InFlight { job_id, evidence } => Decision::queued(job_id, *evidence),
        RunState::RecordsUnreadable { reason } => Decision::Failed {
            reason: format!("{reason}; not submitted, since a job of it could be on its way"),
        },
        RunState::Failed(class) if skip.contains(*class) => {
            Decision::SkippedFailure { class: *class }
        }
        RunState::Failed(_) | RunState::Unknown => Decision::WouldSubmit,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_run_state_rule() {
        let skip = crate::skip::parse("OOM").unwrap();
        assert_eq!(
            decide(
                &RunState::InFlight {
                    job_id: "9".into(),
                    evidence: Evidence::CommentRunKey
                },
                &skip
            ),
            Decision::SkippedInFlight {
                job_id: Some("9".into()),
                reason: "job 9 is queued (found by the run directory's key in the job's comment)"
                    .into()
            }
        );
        assert_eq!(
            decide(&RunState::Failed(FailureClass::Oom), &skip),
            Decision::SkippedFailure {
                class: FailureClass::Oom
            }
        );
        assert_eq!(
            decide(&RunState::Failed(FailureClass::Timeout), &skip),
            Decision::WouldSubmit
        );
        assert_eq!(decide(&RunState::Unknown, &skip), Decision::WouldSubmit);
    }
}
