//! What `launch` prints (`docs/launch.md`): JSON lines on stdout, and on stderr the
//! dry run's per-run blocks, the summary with counts, the cost line, and the `squeue` /
//! `scancel` commands for new jobs.

use std::fmt::Write as _;

use serde::Serialize;

use bench_core::sweep::{Sweep, SweepCost};

use crate::directives;
use strum::IntoEnumIterator as _;

use crate::plan::{DecidedRun, Decision, DecisionKind};

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
    };
    serde_json::to_string(&line).expect("plain strings and numbers serialize")
}

/// The dry run's block for one run: name, run directory, decision, directives as `#SBATCH`
/// lines, and with `show_script` the whole script.
pub fn run_block(decided: &DecidedRun<'_>, show_script: bool) -> String {
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
    if decided.in_flight_unknown {
        text.push_str("    in flight: unknown (the queue could not be read)\n");
    }
    for directive in &decided.planned.directives {
        if directive.value.is_empty() {
            let _ = writeln!(text, "    #SBATCH --{}", directive.key);
        } else {
            let _ = writeln!(text, "    #SBATCH --{}={}", directive.key, directive.value);
        }
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
        Decision::WouldSubmit | Decision::SkippedCompleted => decision.as_str().to_owned(),
    }
}

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

/// The summary: every run with its decision, then the counts per decision, then the cost
/// (dry run) or the `squeue` and `scancel` lines for the new jobs.
pub fn summary(decided: &[DecidedRun<'_>], sweep: &Sweep, cost: Option<&SweepCost>) -> String {
    let mut text = String::from("summary:\n");
    let width = decided
        .iter()
        .map(|p| p.decision.as_str().len())
        .max()
        .unwrap_or(0);
    for p in decided {
        let mut line = format!(
            "  {:width$}  {}  [{}]",
            p.decision.as_str(),
            p.run().name,
            p.run().experiment
        );
        match &p.decision {
            Decision::Submitted { job_id } => {
                let _ = write!(line, "  job {job_id}");
            }
            Decision::SkippedInFlight { reason, .. }
            | Decision::Failed { reason }
            | Decision::NotAttempted { reason } => {
                let _ = write!(line, "  {reason}");
            }
            Decision::SkippedFailure { class } => {
                let _ = write!(line, "  {class}");
            }
            Decision::WouldSubmit | Decision::SkippedCompleted => {}
        }
        text.push_str(&line);
        text.push('\n');
    }
    let counts: Vec<String> = DecisionKind::iter()
        .filter_map(|kind| {
            let count = decided.iter().filter(|p| p.decision.kind() == kind).count();
            (count > 0).then(|| format!("{} {}", thousands(count as u64), kind.as_str()))
        })
        .collect();
    let total = decided.len() as u64;
    let mut names: Vec<&str> = decided.iter().map(|p| p.run().name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let _ = writeln!(
        text,
        "{} {} ({} distinct {}): {}",
        thousands(total),
        if total == 1 { "run" } else { "runs" },
        thousands(names.len() as u64),
        if names.len() == 1 { "name" } else { "names" },
        if counts.is_empty() {
            "nothing selected".to_owned()
        } else {
            counts.join(", ")
        }
    );
    if let Some(cost) = cost {
        let _ = writeln!(
            text,
            "dry run: {} of {} selected runs would be submitted: {}",
            thousands(cost.jobs as u64),
            thousands(total),
            cost_text(cost)
        );
        if total < sweep.runs.len() as u64 {
            let _ = writeln!(
                text,
                "  (`--only` selected {} of the config's {} runs)",
                thousands(total),
                thousands(sweep.runs.len() as u64)
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
