//! Submitting (`docs/launch.md`): each `would_submit` run under its lock, its intent
//! recorded before sbatch is called and its job id after, a lost answer looked up in the
//! queue, never submitted twice.

use std::fs;
use std::path::Path;

use bench_core::layout::{RunDir, job_comment};
use bench_core::state::{QueueIndex, SubmissionRecord};
use bench_core::sweep::Sweep;
use bench_io::{Console, OutputFailure};

use crate::interrupt::Interrupt;
use crate::plan::{DecidedRun, Decision};
use crate::record::{self, LockedRecords};
use crate::slurm::{self, Slurm, Submission};
use crate::{cli, report};

/// What submitting a pass's runs gave: every run with its final decision, how many sbatch
/// calls were tried, and why submitting stopped early, if it did.
pub(crate) struct Submitted<'a> {
    /// Every run of the pass, the submitted ones with their new decision.
    pub decided: Vec<DecidedRun<'a>>,
    /// Runs for which sbatch was called.
    pub attempted: usize,
    /// Interrupted by a signal: the runs after it are `not_attempted`.
    pub interrupted: bool,
    /// stdout or stderr could not be written: the runs after it are `not_attempted`.
    pub output_failure: Option<OutputFailure>,
    /// sbatch did not answer, or a submission failed with `continue_on_failure: false`.
    pub stopped: bool,
}

/// Submit every `would_submit` run in order, honouring `continue_on_failure`, interrupts and
/// output failures (each stops at a run boundary), printing `[i/N] name  decision` per run;
/// with `json_lines`, each run's `--json` line too as soon as it is decided, so that a closed
/// stdout stops the launch at the next run.
pub(crate) fn submit_runs<'a>(
    args: &cli::Args,
    sweep: &Sweep,
    slurm: &mut dyn Slurm,
    decided: Vec<DecidedRun<'a>>,
    console: &mut Console,
    interrupt: &Interrupt,
    json_lines: bool,
) -> Submitted<'a> {
    let to_submit = decided
        .iter()
        .filter(|d| d.decision == Decision::WouldSubmit)
        .count();
    let mut attempted = 0;
    let mut stop: Option<String> = None;
    let mut interrupted = false;
    let mut stopped = false;
    let mut output_failure: Option<OutputFailure> = None;
    let mut submitted = Vec::with_capacity(decided.len());
    // A directive value sbatch refused (`--partition=x`): the runs with it are not tried.
    let mut refused: Option<Refused> = None;
    let mut emit = |d: DecidedRun<'a>, console: &mut Console| {
        if json_lines && args.json {
            console.out_line(report::json_line(&d));
        }
        submitted.push(d);
    };
    for d in decided {
        if d.decision != Decision::WouldSubmit {
            emit(d, console);
            continue;
        }
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
            let reason = reason.clone();
            emit(d.with_decision(Decision::NotAttempted { reason }), console);
            continue;
        }
        if let Some(refused) = refused.as_mut().filter(|r| r.value == r.value_of(&d)) {
            refused.runs += 1;
            let reason = refused.reason();
            emit(d.with_decision(Decision::NotAttempted { reason }), console);
            continue;
        }
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
        if let (Decision::Failed { reason }, None) = (&decision, &refused)
            && let Some(key) = slurm::refused_directive(reason)
        {
            let mut found = Refused {
                key,
                value: None,
                words: reason.clone(),
                runs: 0,
            };
            found.value = found.value_of(&d);
            refused = Some(found);
        }
        if unresponsive {
            stopped = true;
            stop = Some(
                "SLURM did not answer an earlier sbatch call in time; not tried, rather than \
                 wait on each run (run `launch` again when `sbatch` answers)"
                    .into(),
            );
        } else if matches!(decision, Decision::Failed { .. }) && !sweep.settings.continue_on_failure
        {
            stopped = true;
            stop = Some("an earlier submission failed and `continue_on_failure` is false".into());
        }
        emit(d.with_decision(decision), console);
    }
    if let Some(refused) = refused.filter(|r| r.runs > 0) {
        console.err_line(format_args!(
            "sbatch refused {} ({}): the {} after it with the same value were not tried \
             (they would be refused the same way); fix the value and run `launch` again",
            refused.directive(),
            refused.words,
            report::plural_runs(refused.runs as u64)
        ));
    }
    Submitted {
        decided: submitted,
        attempted,
        interrupted,
        output_failure,
        stopped,
    }
}

/// A directive value sbatch refused for every job that has it ([`slurm::SHARED_REFUSALS`]).
struct Refused {
    /// The directive (`partition`).
    key: &'static str,
    /// Its value in the refused run's script (`None`: not set there).
    value: Option<String>,
    /// sbatch's words.
    words: String,
    /// Runs not tried because of it.
    runs: usize,
}

impl Refused {
    /// The value of the directive in `d`'s script (the last one, as sbatch reads it).
    fn value_of(&self, d: &DecidedRun<'_>) -> Option<String> {
        d.planned
            .directives
            .iter()
            .rev()
            .find(|directive| directive.key == self.key)
            .map(|directive| directive.value.clone())
    }

    /// `--partition=x`, or `the default partition` when the scripts do not set one.
    fn directive(&self) -> String {
        match &self.value {
            Some(value) => format!("`--{}={value}`", self.key),
            None => format!("the default {}", self.key),
        }
    }

    /// Why a run with the refused value was not tried.
    fn reason(&self) -> String {
        format!(
            "not tried: sbatch refused {} for an earlier run",
            self.directive()
        )
    }
}

impl Submitted<'_> {
    /// How many submissions sbatch refused.
    pub fn failed(&self) -> usize {
        self.decided
            .iter()
            .filter(|d| matches!(d.decision, Decision::Failed { .. }))
            .count()
    }
}

/// Submit one run: create its log directories, lock its `submissions.jsonl`, and unless
/// another `launch` recorded a submission since this one read the queue, write `sbatch.sh`
/// and `kwargs.json`, append the intent line, call sbatch (with retries), append the job id
/// line; the lock is held until then.
/// `unresponsive` is set when sbatch did not answer in time and its job is not in the
/// queue: SLURM looks unresponsive, and the launch stops there.
pub(crate) fn submit_one(
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
                console.warn(format_args!(
                    "job {job_id} of `{}` was submitted but its id could not be \
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
