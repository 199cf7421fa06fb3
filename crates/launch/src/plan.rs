//! Per-run decisions (contract 2 sections 3 and 5): what `launch` does with each run.

use bench_core::failure::FailureClass;
use bench_core::state::{RunState, SubmissionRecord};
use bench_core::sweep::Run;

use crate::directives::Directive;
use crate::skip::SkipSet;

/// What `launch` did, or would do, with a run. Spelled in `--json` as [`Decision::as_str`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Dry run: it would be submitted.
    WouldSubmit,
    /// Submitted (or adopted from the queue after a transient error).
    Submitted {
        /// The job id SLURM gave.
        job_id: String,
    },
    /// The submission failed.
    Failed {
        /// sbatch's own words, or why it could not be called.
        reason: String,
    },
    /// Not tried: an earlier submission failed with `continue_on_failure: false`, or the
    /// launch was interrupted.
    NotAttempted {
        /// Why.
        reason: String,
    },
    /// The run has valid stats.
    SkippedCompleted,
    /// The queue holds the run's job.
    SkippedInFlight {
        /// The queued job.
        job_id: String,
    },
    /// The run's latest attempt failed with a class in the skip set.
    SkippedFailure {
        /// That class.
        class: FailureClass,
    },
}

impl Decision {
    /// Every decision name, in the order counts are shown.
    pub const NAMES: [&'static str; 7] = [
        "submitted",
        "would_submit",
        "failed",
        "not_attempted",
        "skipped_completed",
        "skipped_in_flight",
        "skipped_failure",
    ];

    /// The name `--json` and the summary use.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::WouldSubmit => "would_submit",
            Decision::Submitted { .. } => "submitted",
            Decision::Failed { .. } => "failed",
            Decision::NotAttempted { .. } => "not_attempted",
            Decision::SkippedCompleted => "skipped_completed",
            Decision::SkippedInFlight { .. } => "skipped_in_flight",
            Decision::SkippedFailure { .. } => "skipped_failure",
        }
    }

    /// The `reason` of `--json`: sbatch's words for `failed`, the class for
    /// `skipped_failure`, why for `not_attempted`.
    pub fn reason(&self) -> Option<String> {
        match self {
            Decision::Failed { reason } | Decision::NotAttempted { reason } => Some(reason.clone()),
            Decision::SkippedFailure { class } => Some(class.as_str().to_owned()),
            _ => None,
        }
    }

    /// The `job_id` of `--json`: the new job, or the queued one.
    pub fn job_id(&self) -> Option<&str> {
        match self {
            Decision::Submitted { job_id } | Decision::SkippedInFlight { job_id } => Some(job_id),
            _ => None,
        }
    }
}

/// The decision the run-state rule gives: completed, in flight and failed-with-a-skipped-class
/// runs are skipped; every other run is submitted (contract 2 section 3).
pub fn decide(state: &RunState, skip: &SkipSet) -> Decision {
    match state {
        RunState::Completed { .. } => Decision::SkippedCompleted,
        RunState::InFlight { job_id } => Decision::SkippedInFlight {
            job_id: job_id.clone(),
        },
        RunState::Failed(class) if skip.contains(*class) => {
            Decision::SkippedFailure { class: *class }
        }
        RunState::Failed(_) | RunState::Unknown => Decision::WouldSubmit,
    }
}

/// One selected run with its rendered script and its decision.
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
    /// What happens to it.
    pub decision: Decision,
    /// True only in a dry run that could not read the queue.
    pub in_flight_unknown: bool,
    /// A real submission: the run's latest submission in `submissions.jsonl`, read before
    /// the queue. A different one found when the file is locked for submitting was recorded
    /// by another `launch` meanwhile. `None` in a dry run.
    pub recorded: Option<SubmissionRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_run_state_rule() {
        let skip = crate::skip::parse("OOM").unwrap();
        assert_eq!(
            decide(&RunState::InFlight { job_id: "9".into() }, &skip),
            Decision::SkippedInFlight { job_id: "9".into() }
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
