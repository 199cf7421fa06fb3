//! `launch --follow` (`docs/stages.md`): after the first pass, read the queue every `--poll`
//! seconds, decide again and submit the stage runs whose source has finished, until nothing
//! is in flight or waiting. A run is submitted at most once while following.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use bench_core::decision::{DecisionCounts, Progress};
use bench_core::layout::RunDir;
use bench_io::Console;
use strum::IntoEnumIterator as _;

use crate::interrupt::Interrupt;
use crate::pass::{self, Session};
use crate::plan::{Decision, DecisionKind, PlannedRun};
use crate::report::{self, Line};
use crate::slurm::Slurm;
use crate::submit;
use crate::template::Renderer;
use crate::{LaunchError, Loaded, cli};

/// What one pass of `--follow` left to decide on: what changed for the session, and whether
/// to go on.
struct PassEnd {
    /// Runs sbatch accepted this pass, with their names.
    submitted: Vec<(RunDir, String)>,
    /// Runs in flight that this pass does not show (see [`pass::Pass`]).
    in_flight_elsewhere: usize,
    /// Runs sbatch refused this pass, with its words.
    refused: Vec<(RunDir, String)>,
    /// sbatch calls tried this pass.
    attempted: usize,
    /// The counts per decision of this pass.
    counts: DecisionCounts,
    /// The reasons of the groups still waiting.
    waiting: Vec<String>,
    /// The summary of this pass, shown when following ends.
    summary: String,
    /// Interrupted, output failed or submitting stopped (`continue_on_failure: false`,
    /// sbatch not answering): following ends.
    stop: Option<Result<(), LaunchError>>,
}

/// Follow the sweep to its end (see the module documentation).
///
/// Errors: those of a launch, judged over everything submitted while following.
pub(crate) fn follow(
    args: &cli::Args,
    loaded: &Loaded,
    scripts: &mut Renderer<'_>,
    plain: &[PlannedRun<'_>],
    slurm: &mut dyn Slurm,
    console: &mut Console,
    interrupt: &Interrupt,
) -> Result<(), LaunchError> {
    let mut session = Session::default();
    let mut shown: HashMap<String, String> = HashMap::new();
    let (mut attempted, mut failed) = (0, 0);
    let mut progress_shown = String::new();
    let mut last_summary = String::new();
    let mut queue_failures = 0;
    let poll = Duration::from_secs(args.poll_seconds());
    let terminal = std::io::stderr().is_terminal();
    for pass_number in 1.. {
        let first = pass_number == 1;
        let end = pass::with_pass(
            args,
            loaded,
            scripts,
            plain,
            slurm,
            console,
            &session,
            |pass, slurm, console| {
                let to_submit: HashSet<RunDir> = pass
                    .decided
                    .iter()
                    .filter(|d| d.decision == Decision::WouldSubmit)
                    .map(|d| d.run().run_dir.clone())
                    .collect();
                let mut done = submit::submit_runs(
                    args,
                    &loaded.sweep,
                    slurm,
                    pass.decided,
                    console,
                    interrupt,
                    false,
                );
                let lines = report::lines(&done.decided, &pass.groups);
                show_changes(args, &lines, &mut shown, first, console);
                let mut end = PassEnd {
                    submitted: Vec::new(),
                    in_flight_elsewhere: pass.in_flight_elsewhere,
                    refused: Vec::new(),
                    attempted: done.attempted,
                    counts: report::counts(&lines),
                    waiting: pass
                        .groups
                        .iter()
                        .filter(|g| g.decision().kind() == DecisionKind::Waiting)
                        .map(|g| format!("{} [{}]: {}", g.name, g.stage, g.reason))
                        .collect(),
                    summary: report::summary(
                        &done.decided,
                        &pass.groups,
                        pass.config_runs,
                        None,
                        true,
                    ),
                    stop: None,
                };
                for d in done
                    .decided
                    .iter()
                    .filter(|d| to_submit.contains(&d.run().run_dir))
                {
                    match &d.decision {
                        Decision::Submitted { .. } => {
                            end.submitted
                                .push((d.run().run_dir.clone(), d.run().name.clone()));
                        }
                        Decision::Failed { reason } => {
                            end.refused.push((d.run().run_dir.clone(), reason.clone()));
                        }
                        _ => {}
                    }
                }
                if done.interrupted || done.output_failure.is_some() || done.stopped {
                    end.stop = Some(crate::finish(&mut done, console));
                }
                Ok(end)
            },
        );
        let end = match end {
            Ok(end) => end,
            Err(LaunchError::QueueUnreadable(why))
                if !first && queue_failures + 1 < MAX_QUEUE_FAILURES =>
            {
                // Nothing was decided or submitted this pass: try again at the next poll.
                queue_failures += 1;
                console.warn(format_args!(
                    "the queue could not be read ({queue_failures} time(s) in a row; \
                     following stops at {MAX_QUEUE_FAILURES}): {why}"
                ));
                if sleep(poll, interrupt, terminal.then_some(&progress_shown)) {
                    return Err(stopped_by_signal(console, &last_summary));
                }
                continue;
            }
            Err(LaunchError::Interrupted) if !first => {
                return Err(stopped_by_signal(console, &last_summary));
            }
            Err(error) => {
                if !first {
                    console.err(&last_summary);
                    console.err_line(format_args!(
                        "stopped following after {pass_number} pass(es); the jobs submitted \
                         so far keep running"
                    ));
                }
                return Err(error);
            }
        };
        queue_failures = 0;
        last_summary.clone_from(&end.summary);
        attempted += end.attempted;
        failed += end.refused.len();
        session.submitted.extend(end.submitted.iter().cloned());
        session.refused.extend(end.refused.iter().cloned());
        if first {
            console.err(&end.summary);
        }
        let in_flight = end.counts.total(DecisionKind::SkippedInFlight)
            + end.counts.total(DecisionKind::Submitted)
            + end.in_flight_elsewhere as u64;
        let waiting = end.counts.total(DecisionKind::Waiting);
        let progress = progress_text(
            &end.counts,
            end.in_flight_elsewhere,
            session.submitted.len(),
        );
        if !terminal && progress != progress_shown {
            console.err_line(format_args!("following: {progress}"));
        }
        progress_shown = progress;
        if let Some(stopped) = end.stop {
            if !first {
                console.err(&end.summary);
            }
            if matches!(stopped, Err(LaunchError::Interrupted)) {
                console.err_line(STOPPED_BY_SIGNAL);
            }
            return stopped.and(judged(failed, attempted));
        }
        if in_flight == 0 && (waiting == 0 || end.submitted.is_empty()) {
            if !first {
                console.err(&end.summary);
            }
            if waiting == 0 {
                console.err_line(format_args!(
                    "following ended after {pass_number} pass(es): nothing is in flight or \
                     waiting"
                ));
            } else {
                console.err_line(format_args!(
                    "following ended after {pass_number} pass(es): nothing is in flight and \
                     nothing can change, yet {} still wait (their groups, and why):\n  {}",
                    report::plural_runs(waiting),
                    end.waiting.join("\n  ")
                ));
            }
            return judged(failed, attempted);
        }
        if sleep(poll, interrupt, terminal.then_some(&progress_shown)) {
            return Err(stopped_by_signal(console, ""));
        }
    }
    Ok(())
}

/// Consecutive polls whose queue cannot be read before following stops (exit 3).
const MAX_QUEUE_FAILURES: u32 = 5;

/// What a follow stopped by a signal says last.
const STOPPED_BY_SIGNAL: &str = "interrupted: stopped following; the submitted jobs keep \
                                 running, and `launch` again continues from the files and the \
                                 queue";

/// Says that following stopped on a signal (after `summary`, the last pass's, when given).
fn stopped_by_signal(console: &mut Console, summary: &str) -> LaunchError {
    if !summary.is_empty() {
        console.err(summary);
    }
    console.err_line(STOPPED_BY_SIGNAL);
    LaunchError::Interrupted
}

/// The exit of a follow: submissions sbatch refused make it exit 1, as for a launch.
fn judged(failed: usize, attempted: usize) -> Result<(), LaunchError> {
    if failed > 0 {
        Err(LaunchError::SubmissionsFailed { failed, attempted })
    } else {
        Ok(())
    }
}

/// `3 completed, 2 in flight, 4 waiting, 1 failed, 0 not submitted, 7 without a winner, 6
/// submitted so far`: each run counted where it stands ([`Progress`]; failed = the latest
/// attempt failed, `skipped_failure`; not submitted = sbatch refused it or it was not tried).
fn progress_text(counts: &DecisionCounts, in_flight_elsewhere: usize, submitted: usize) -> String {
    let mut parts: Vec<String> = Progress::iter()
        .map(|progress| {
            let mut runs: u64 = DecisionKind::iter()
                .filter(|kind| kind.progress() == progress)
                .map(|kind| counts.total(kind))
                .sum();
            if progress == Progress::InFlight {
                runs += in_flight_elsewhere as u64;
            }
            format!("{} {}", report::thousands(runs), progress.label())
        })
        .collect();
    parts.push(format!(
        "{} submitted so far",
        report::thousands(submitted as u64)
    ));
    parts.join(", ")
}

/// The first pass shows every line as a launch does (`--json`: every object); later passes
/// only what changed, one line each (`--json`: one object per change).
fn show_changes(
    args: &cli::Args,
    lines: &[Line<'_, '_>],
    shown: &mut HashMap<String, String>,
    first: bool,
    console: &mut Console,
) {
    for line in lines {
        let (key, name, experiment, text) = match line {
            Line::Run(d) => (
                d.run().run_dir.to_string(),
                d.run().name.as_str(),
                d.run().experiment.as_str(),
                report::decision_text(&d.decision),
            ),
            Line::Group(g) => (
                format!("{}\n{}", g.stage, g.name),
                g.name.as_str(),
                g.stage.as_str(),
                format!(
                    "{} ({}: {})",
                    g.decision().as_str(),
                    report::plural_runs(g.runs),
                    g.reason
                ),
            ),
        };
        if shown.get(&key) == Some(&text) {
            continue;
        }
        if args.json {
            console.out_line(match line {
                Line::Run(d) => report::json_line(d),
                Line::Group(g) => report::group_json_line(g),
            });
        }
        if !first {
            console.err_line(format_args!("  {name} [{experiment}]: {text}"));
        }
        shown.insert(key, text);
    }
}

/// Sleep `duration`, waking for a signal; on a terminal, a live line shows `progress`
/// meanwhile. True when interrupted.
fn sleep(duration: Duration, interrupt: &Interrupt, progress: Option<&String>) -> bool {
    let bar = progress.map(|text| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("following: {text}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let deadline = Instant::now() + duration;
    let interrupted = loop {
        if interrupt.is_raised() {
            break true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    interrupted
}
