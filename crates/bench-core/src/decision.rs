//! Per-run decisions (`docs/launch.md`, `docs/stages.md`): what `launch` does with each run
//! and each stage group, the skip set they follow, and the counts per experiment and
//! decision every view shows.

use std::collections::BTreeSet;

use crate::failure::FailureClass;
use crate::state::{Evidence, RunState};

/// A set of failure classes whose runs are not submitted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipSet(BTreeSet<FailureClass>);

impl Default for SkipSet {
    /// The original launcher's set: `OOM,timeout,server_fail`.
    fn default() -> Self {
        SkipSet(FailureClass::DEFAULT_SKIP.into_iter().collect())
    }
}

impl SkipSet {
    /// The set of these classes.
    pub fn from_classes(classes: BTreeSet<FailureClass>) -> Self {
        SkipSet(classes)
    }

    /// Whether no class is skipped (`none`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether runs whose latest attempt failed with `class` are skipped.
    pub fn contains(&self, class: FailureClass) -> bool {
        self.0.contains(&class)
    }
}

impl std::fmt::Display for SkipSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.0.iter().map(|class| class.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

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
    /// A stage's group whose source group is not resolved yet (`docs/stages.md`): its runs
    /// are not known yet.
    Waiting {
        /// Which source group it waits for, and what is unresolved.
        reason: String,
    },
    /// A stage's group whose source group is resolved without a winner.
    SkippedNoWinner {
        /// The source's failure classes with counts, or the stage that had no winner.
        reason: String,
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
            | Decision::SkippedInFlight { reason, .. }
            | Decision::Waiting { reason }
            | Decision::SkippedNoWinner { reason } => Some(reason.clone()),
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

/// Where a run stands in its sweep, as `launch --status` and `--follow`'s progress line
/// count it: one word per run, whatever `launch` would do with it next.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr, PartialOrd, Ord,
)]
#[strum(serialize_all = "snake_case")]
pub enum Progress {
    /// Its stats are valid.
    Completed,
    /// Its job is in the queue (any state), or its sbatch call is still running.
    InFlight,
    /// A stage's run whose source is not finished.
    Waiting,
    /// Its latest attempt failed with a class (skipped or not).
    Failed,
    /// Never submitted, no attempt left a class, or sbatch refused it.
    NotSubmitted,
    /// A stage's run whose source group has no winner.
    NoWinner,
}

impl Progress {
    /// The name `--json` uses (`in_flight`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// How the human output says it (`in flight`, `without a winner`).
    pub fn label(self) -> &'static str {
        match self {
            Progress::Completed => "completed",
            Progress::InFlight => "in flight",
            Progress::Waiting => "waiting",
            Progress::Failed => "failed",
            Progress::NotSubmitted => "not submitted",
            Progress::NoWinner => "without a winner",
        }
    }
}

impl DecisionKind {
    /// Where a run with this decision stands. `would_submit` is `not_submitted` here: a run
    /// whose latest attempt failed with a class that is not skipped is `failed`
    /// ([`progress`]).
    pub fn progress(self) -> Progress {
        match self {
            DecisionKind::SkippedCompleted => Progress::Completed,
            DecisionKind::Submitted | DecisionKind::SkippedInFlight => Progress::InFlight,
            DecisionKind::Waiting => Progress::Waiting,
            DecisionKind::SkippedFailure => Progress::Failed,
            DecisionKind::WouldSubmit | DecisionKind::Failed | DecisionKind::NotAttempted => {
                Progress::NotSubmitted
            }
            DecisionKind::SkippedNoWinner => Progress::NoWinner,
        }
    }
}

/// Where a run stands: from its decision, and `latest_failure`, the class of its latest
/// attempt when it failed (a `would_submit` run with one has failed: `launch` submits it
/// again).
pub fn progress(decision: &Decision, latest_failure: Option<FailureClass>) -> Progress {
    match (decision.kind(), latest_failure) {
        (DecisionKind::WouldSubmit, Some(_)) => Progress::Failed,
        (kind, _) => kind.progress(),
    }
}

impl SkipSet {
    /// The set without `class`: the `--skip-failure-reasons` value that submits the runs
    /// failed with `class` again and still skips the rest.
    #[must_use]
    pub fn without(&self, class: FailureClass) -> SkipSet {
        SkipSet(self.0.iter().copied().filter(|c| *c != class).collect())
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

impl crate::stage::StageGroup {
    /// The group's decision: `waiting` or `skipped_no_winner`, with its reason.
    pub fn decision(&self) -> Decision {
        let reason = self.reason.clone();
        match self.state {
            crate::stage::GroupState::Waiting => Decision::Waiting { reason },
            crate::stage::GroupState::NoWinner => Decision::SkippedNoWinner { reason },
        }
    }
}

/// How many runs each experiment has per decision, experiments in the order first seen:
/// the summary of a launch, of `--follow` and of `--status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecisionCounts {
    experiments: Vec<(String, Vec<(DecisionKind, u64)>)>,
}

impl DecisionCounts {
    /// Count `runs` runs of `experiment` with decision `kind`.
    pub fn add(&mut self, experiment: &str, kind: DecisionKind, runs: u64) {
        let slot = self
            .experiments
            .iter()
            .position(|(e, _)| e == experiment)
            .unwrap_or_else(|| {
                self.experiments.push((experiment.to_owned(), Vec::new()));
                self.experiments.len() - 1
            });
        let counts = &mut self.experiments[slot].1;
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += runs,
            None => counts.push((kind, runs)),
        }
    }

    /// Runs with decision `kind`, over all experiments.
    pub fn total(&self, kind: DecisionKind) -> u64 {
        self.experiments
            .iter()
            .flat_map(|(_, counts)| counts)
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// Each experiment with its counts per decision, decisions in [`DecisionKind`] order and
    /// only those with runs.
    pub fn per_experiment(&self) -> impl Iterator<Item = (&str, Vec<(DecisionKind, u64)>)> {
        self.experiments.iter().map(|(experiment, counts)| {
            let mut counts: Vec<(DecisionKind, u64)> =
                counts.iter().copied().filter(|(_, n)| *n > 0).collect();
            counts.sort_by_key(|(kind, _)| *kind as u8);
            (experiment.as_str(), counts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_follow_the_run_state_rule() {
        let skip = SkipSet(BTreeSet::from([FailureClass::Oom]));
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

    #[test]
    fn progress_of_each_decision() {
        let timeout = Some(FailureClass::Timeout);
        assert_eq!(
            progress(&Decision::WouldSubmit, None),
            Progress::NotSubmitted
        );
        assert_eq!(progress(&Decision::WouldSubmit, timeout), Progress::Failed);
        assert_eq!(
            progress(
                &Decision::SkippedFailure {
                    class: FailureClass::Timeout
                },
                timeout
            ),
            Progress::Failed
        );
        assert_eq!(
            progress(&Decision::sbatch_still_running(), None),
            Progress::InFlight
        );
        assert_eq!(
            progress(&Decision::SkippedCompleted, None),
            Progress::Completed
        );
        assert_eq!(Progress::NotSubmitted.as_str(), "not_submitted");
        assert_eq!(Progress::NoWinner.label(), "without a winner");
    }

    #[test]
    fn the_skip_set_without_one_class() {
        let default = SkipSet::default();
        assert_eq!(
            default.without(FailureClass::Timeout).to_string(),
            "OOM,server_fail"
        );
        assert_eq!(
            default.without(FailureClass::Oom).to_string(),
            "timeout,server_fail"
        );
        let oom = SkipSet(BTreeSet::from([FailureClass::Oom]));
        assert_eq!(oom.without(FailureClass::Oom).to_string(), "none");
    }
}
