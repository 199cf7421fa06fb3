//! What `launch` prints (`docs/launch.md`): JSON lines on stdout, and on stderr the
//! dry run's per-run blocks, the summary with counts, the cost line, and the `squeue` /
//! `scancel` commands for new jobs.

use std::fmt::Write as _;

use serde::Serialize;

use bench_core::decision::DecisionCounts;
use bench_core::stage::StageGroup;
use bench_core::sweep::SweepCost;

use crate::directives;
use strum::IntoEnumIterator as _;

use crate::plan::{DecidedRun, Decision, DecisionKind};

/// One line of what a launch shows: a run, or a stage group without runs.
#[derive(Clone, Copy)]
pub enum Line<'l, 'a> {
    /// A run with its decision.
    Run(&'l DecidedRun<'a>),
    /// A stage group that waits or has no winner.
    Group(&'l StageGroup),
}

/// Runs and stage groups in file order: by experiment entry, a stage's groups after its runs.
pub fn lines<'l, 'a>(decided: &'l [DecidedRun<'a>], groups: &'l [StageGroup]) -> Vec<Line<'l, 'a>> {
    let mut lines: Vec<(usize, Line<'l, 'a>)> = decided
        .iter()
        .map(|d| (d.run().entry, Line::Run(d)))
        .chain(groups.iter().map(|g| (g.entry, Line::Group(g))))
        .collect();
    lines.sort_by_key(|(entry, _)| *entry);
    lines.into_iter().map(|(_, line)| line).collect()
}

/// The counts per experiment and decision of `lines` (a group counts its runs).
pub fn counts(lines: &[Line<'_, '_>]) -> DecisionCounts {
    let mut counts = DecisionCounts::default();
    for line in lines {
        match line {
            Line::Run(d) => counts.add(&d.run().experiment, d.decision.kind(), 1),
            Line::Group(g) => counts.add(&g.stage, g.decision().kind(), g.runs),
        }
    }
    counts
}

/// One `--json` line of a stage group.
#[derive(Serialize)]
struct GroupJsonLine<'a> {
    experiment: &'a str,
    name: &'a str,
    run_dir: Option<&'a str>,
    decision: &'static str,
    reason: Option<String>,
    job_id: Option<&'a str>,
    in_flight_unknown: bool,
    gpus: Option<u32>,
    sbatch: Option<()>,
    runs: u64,
}

/// The `--json` object of a stage group that waits or has no winner, on one line.
pub fn group_json_line(group: &StageGroup) -> String {
    let decision = group.decision();
    let line = GroupJsonLine {
        experiment: &group.stage,
        name: &group.name,
        run_dir: None,
        decision: decision.as_str(),
        reason: decision.reason(),
        job_id: None,
        in_flight_unknown: false,
        gpus: None,
        sbatch: None,
        runs: group.runs,
    };
    serde_json::to_string(&line).expect("plain strings and numbers serialize")
}

/// The dry run's block for a stage group: decision, stage and name, then its runs and why.
pub fn group_block(group: &StageGroup) -> String {
    format!(
        "{} {} [{}]\n    {}: {}\n",
        group.decision().as_str(),
        group.name,
        group.stage,
        plural_runs(group.runs),
        group.reason
    )
}

/// `1 run`, `12 runs`.
pub fn plural_runs(runs: u64) -> String {
    format!(
        "{} {}",
        thousands(runs),
        if runs == 1 { "run" } else { "runs" }
    )
}

/// One `--json` line.
#[derive(Serialize)]
struct JsonLine<'a> {
    experiment: &'a str,
    name: &'a str,
    run_dir: &'a str,
    decision: &'static str,
    reason: Option<String>,
    job_id: Option<&'a str>,
    in_flight_unknown: bool,
    gpus: u32,
    sbatch: directives::JsonObject<'a>,
    args: &'a serde_json::Map<String, serde_json::Value>,
}

/// The `--json` object of a run, on one line (without the newline).
pub fn json_line(decided: &DecidedRun<'_>) -> String {
    let line = JsonLine {
        experiment: &decided.run().experiment,
        name: &decided.run().name,
        run_dir: decided.run().run_dir.as_str(),
        decision: decided.decision.as_str(),
        reason: decided.decision.reason(),
        job_id: decided.decision.job_id(),
        in_flight_unknown: decided.in_flight_unknown,
        gpus: decided.run().gpus,
        sbatch: directives::json_object(&decided.planned.directives),
        args: &decided.run().args,
    };
    serde_json::to_string(&line).expect("plain strings and numbers serialize")
}

/// The dry run's block for one run (`--verbose`, `--show-script`): decision and name, run
/// directory, what keeps it from being submitted; with `verbose` its directives as
/// `#SBATCH` lines and the kwargs its script gets, with `show_script` the whole script.
pub fn run_block(decided: &DecidedRun<'_>, verbose: bool, show_script: bool) -> String {
    let mut text = format!(
        "{} {}\n    {}\n",
        decided.decision.as_str(),
        decided.run().name,
        decided.run().run_dir,
    );
    match &decided.decision {
        Decision::SkippedInFlight { reason, .. } => {
            let _ = writeln!(text, "    in flight: {reason}");
        }
        Decision::SkippedFailure { class } => {
            let _ = writeln!(text, "    latest attempt: {class}");
        }
        _ => {}
    }
    for directive in decided.planned.directives.iter().filter(|_| verbose) {
        if directive.value.is_empty() {
            let _ = writeln!(text, "    #SBATCH --{}", directive.key);
        } else {
            let _ = writeln!(text, "    #SBATCH --{}={}", directive.key, directive.value);
        }
    }
    if verbose {
        let kwargs = serde_json::Value::Object(decided.run().kwargs());
        let _ = writeln!(text, "    kwargs: {kwargs}");
    }
    if show_script {
        text.push_str("    --- script ---\n");
        for line in decided.planned.script.lines() {
            let _ = writeln!(text, "    | {line}");
        }
    }
    text
}

/// The decision with its job id or reason, as the human output shows it.
pub fn decision_text(decision: &Decision) -> String {
    match decision {
        Decision::Submitted { job_id } => format!("submitted (job {job_id})"),
        Decision::SkippedInFlight { reason, .. } => format!("skipped_in_flight ({reason})"),
        Decision::Failed { reason } => format!("failed: {reason}"),
        Decision::NotAttempted { reason } => format!("not_attempted ({reason})"),
        Decision::SkippedFailure { class } => format!("skipped_failure ({class})"),
        Decision::Waiting { reason } | Decision::SkippedNoWinner { reason } => {
            format!("{} ({reason})", decision.as_str())
        }
        Decision::WouldSubmit | Decision::SkippedCompleted => decision.as_str().to_owned(),
    }
}

/// What the dry run's GPU-hours are: an upper bound.
pub const COST_BOUND: &str = "  (GPU-hours are an upper bound: each job's GPUs for its whole \
                              time limit; jobs that end earlier cost less)";

/// `759 jobs, 1,514 GPUs, 3,002.8 GPU-hours`, then `; N runs without a time limit (not in
/// the GPU-hours)` when there are some (`docs/launch.md`).
pub fn cost_text(cost: &SweepCost) -> String {
    let plural = |n: u64, one: &str, many: &str| {
        format!("{} {}", thousands(n), if n == 1 { one } else { many })
    };
    let mut text = format!(
        "{}, {}, {} GPU-hours",
        plural(cost.jobs as u64, "job", "jobs"),
        plural(cost.gpus, "GPU", "GPUs"),
        gpu_hours_text(cost.gpu_hours),
    );
    if cost.without_time_limit > 0 {
        let _ = write!(
            text,
            "; {} without a time limit (not in the GPU-hours)",
            plural(cost.without_time_limit as u64, "run", "runs")
        );
    }
    text
}

/// `1514` -> `1,514`.
pub fn thousands(value: u64) -> String {
    bench_core::numbers::thousands(u128::from(value))
}

/// `3002.77` -> `3,002.8` (one decimal).
pub fn thousands_f64(value: f64) -> String {
    let text = format!("{value:.1}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, "0"));
    format!("{}.{frac}", bench_core::numbers::group_thousands(int))
}

/// GPU-hours as the cost line shows them: one decimal (`3,002.8`), but a total below 0.1
/// and not zero gets the decimals down to its first significant digit (`0.03`, `0.004`),
/// so that a small sweep does not cost `0.0`.
pub fn gpu_hours_text(hours: f64) -> String {
    if hours > 0.0 && hours < 0.1 {
        let mut decimals = 2;
        while decimals < 9 && hours < 10f64.powi(-decimals) {
            decimals += 1;
        }
        return format!("{hours:.*}", decimals.unsigned_abs() as usize);
    }
    thousands_f64(hours)
}

/// The summary: every run and stage group with its decision (unless `list_runs` is false:
/// a `--verbose` dry run showed each in its block already), then the counts per decision
/// (per experiment too when there are several), the runs waiting for earlier stages, then
/// the cost (dry run) or the `squeue` and `scancel` lines for the new jobs.
pub fn summary(
    decided: &[DecidedRun<'_>],
    groups: &[StageGroup],
    config_runs: usize,
    cost: Option<&SweepCost>,
    list_runs: bool,
) -> String {
    let lines = lines(decided, groups);
    let mut text = String::from("summary:\n");
    let kind_of = |line: &Line<'_, '_>| match line {
        Line::Run(d) => d.decision.as_str(),
        Line::Group(g) => g.decision().as_str(),
    };
    let width = lines.iter().map(|l| kind_of(l).len()).max().unwrap_or(0);
    for line in lines.iter().filter(|_| list_runs) {
        let (name, experiment, detail) = match line {
            Line::Run(d) => (
                d.run().name.as_str(),
                d.run().experiment.as_str(),
                match &d.decision {
                    Decision::Submitted { job_id } => format!("job {job_id}"),
                    Decision::SkippedFailure { class } => class.to_string(),
                    decision => decision.reason().unwrap_or_default(),
                },
            ),
            Line::Group(g) => (
                g.name.as_str(),
                g.stage.as_str(),
                format!("{}: {}", plural_runs(g.runs), g.reason),
            ),
        };
        let mut row = format!("  {:width$}  {name}  [{experiment}]", kind_of(line));
        if !detail.is_empty() {
            let _ = write!(row, "  {detail}");
        }
        text.push_str(&row);
        text.push('\n');
    }
    let counts = counts(&lines);
    let counted = |kinds: Vec<(DecisionKind, u64)>| -> String {
        let parts: Vec<String> = kinds
            .into_iter()
            .filter(|(kind, _)| {
                !matches!(kind, DecisionKind::Waiting | DecisionKind::SkippedNoWinner)
            })
            .map(|(kind, n)| format!("{} {}", thousands(n), kind.as_str()))
            .collect();
        if parts.is_empty() {
            "nothing to decide yet".to_owned()
        } else {
            parts.join(", ")
        }
    };
    let total = decided.len() as u64;
    let mut names: Vec<&str> = decided.iter().map(|p| p.run().name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let all: Vec<(DecisionKind, u64)> = DecisionKind::iter()
        .map(|kind| (kind, counts.total(kind)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let _ = writeln!(
        text,
        "{} {} ({} distinct {}): {}",
        thousands(total),
        if total == 1 { "run" } else { "runs" },
        thousands(names.len() as u64),
        if names.len() == 1 { "name" } else { "names" },
        if lines.is_empty() {
            "nothing selected".to_owned()
        } else {
            counted(all)
        }
    );
    let per_experiment: Vec<(&str, Vec<(DecisionKind, u64)>)> = counts.per_experiment().collect();
    if per_experiment.len() > 1 {
        for (experiment, kinds) in per_experiment {
            let of = |wanted: DecisionKind, what: &str| {
                kinds
                    .iter()
                    .find(|(kind, _)| *kind == wanted)
                    .map(|(_, n)| format!("{} {what}", plural_runs(*n)))
            };
            let waiting = of(DecisionKind::Waiting, "waiting");
            let no_winner = of(DecisionKind::SkippedNoWinner, "without a winner");
            let groups = usize::from(waiting.is_some()) + usize::from(no_winner.is_some());
            let decided = (kinds.len() > groups).then(|| counted(kinds));
            let parts: Vec<String> = decided
                .into_iter()
                .chain(waiting)
                .chain(no_winner)
                .collect();
            let _ = writeln!(text, "  {experiment}: {}", parts.join(", "));
        }
    }
    let no_winner = counts.total(DecisionKind::SkippedNoWinner);
    if no_winner > 0 {
        let _ = writeln!(
            text,
            "{} skipped_no_winner: their source group has no winner (see the reasons above)",
            plural_runs(no_winner)
        );
    }
    let waiting = counts.total(DecisionKind::Waiting);
    if waiting > 0 {
        let _ = writeln!(
            text,
            "{} waiting for earlier stages (not submitted, not in the cost; run `launch` again \
             when their sources are finished)",
            plural_runs(waiting)
        );
    }
    // Said here, not as a warning: `--no-warnings` must not hide that the decisions above
    // could not see the queue.
    let unknown = decided.iter().filter(|d| d.in_flight_unknown).count();
    if unknown > 0 {
        let _ = writeln!(
            text,
            "{} not completed may be in flight: the queue could not be read (`in_flight_unknown` in `--json`)",
            plural_runs(unknown as u64)
        );
    }
    if let Some(cost) = cost {
        let _ = writeln!(
            text,
            "dry run: {} of {} selected runs would be submitted: {}",
            thousands(cost.jobs as u64),
            thousands(total),
            cost_text(cost)
        );
        if cost.jobs > 0 {
            text.push_str(COST_BOUND);
            text.push('\n');
        }
        if total < config_runs as u64 {
            let _ = writeln!(
                text,
                "  (`--only` selected {} of the config's {} runs)",
                thousands(total),
                thousands(config_runs as u64)
            );
        }
    }
    let job_ids: Vec<&str> = decided
        .iter()
        .filter_map(|p| match &p.decision {
            Decision::Submitted { job_id } => Some(job_id.as_str()),
            _ => None,
        })
        .collect();
    if !job_ids.is_empty() {
        let _ = writeln!(text, "watch them:  squeue --me -j {}", job_ids.join(","));
        let _ = writeln!(text, "cancel them: scancel {}", job_ids.join(" "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(759), "759");
        assert_eq!(thousands(1514), "1,514");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands_f64(3002.77), "3,002.8");
        assert_eq!(thousands_f64(0.04), "0.0");
        assert_eq!(thousands_f64(999.96), "1,000.0");
    }

    #[test]
    fn small_gpu_hours_keep_their_first_significant_digit() {
        assert_eq!(gpu_hours_text(0.0), "0.0");
        assert_eq!(gpu_hours_text(1.0 / 60.0), "0.02");
        assert_eq!(gpu_hours_text(0.0333), "0.03");
        assert_eq!(gpu_hours_text(0.004), "0.004");
        assert_eq!(gpu_hours_text(0.099), "0.10");
        assert_eq!(gpu_hours_text(0.1), "0.1");
        assert_eq!(gpu_hours_text(3002.77), "3,002.8");
    }

    #[test]
    fn cost_line() {
        let mut cost = SweepCost {
            jobs: 759,
            gpus: 1514,
            gpu_hours: 1514.0 * (1.0 + 59.0 / 60.0),
            without_time_limit: 0,
        };
        assert_eq!(cost_text(&cost), "759 jobs, 1,514 GPUs, 3,002.8 GPU-hours");
        cost.without_time_limit = 1;
        assert_eq!(
            cost_text(&SweepCost {
                jobs: 2,
                gpus: 2,
                gpu_hours: 2.0 / 60.0,
                without_time_limit: 0,
            }),
            "2 jobs, 2 GPUs, 0.03 GPU-hours"
        );
        assert_eq!(
            cost_text(&cost),
            "759 jobs, 1,514 GPUs, 3,002.8 GPU-hours; 1 run without a time limit (not in the \
             GPU-hours)"
        );
    }
}
