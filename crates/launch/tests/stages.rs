//! Staged sweeps on prepared run directories (`docs/stages.md`), without SLURM: dry runs
//! whose source runs are completed, failed or in flight as the test writes them. The queue
//! is a fake `squeue` printing a fixed listing (a real cluster cannot be told to list a job
//! under a given name without running it).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{SweepDir, fixture, path_with, show};

/// A source `a` over model `org/m1` (prompt `p`) sweeping max-num-seqs (and
/// max-num-batched-tokens when `mnbt` is given), and a stage `b` taking `top` winners'
/// max-num-seqs with gpu-memory-utilization 0.9 and 0.95.
pub(crate) fn config(mns: &[u64], mnbt: &[u64], top: u64) -> String {
    let list = |values: &[u64]| {
        values
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mnbt = if mnbt.is_empty() {
        String::new()
    } else {
        format!("      max-num-batched-tokens: [{}]\n", list(mnbt))
    };
    format!(
        r#"script: scripts/gen.py
fixed_args:
  output-dir: results
  prompt-template: ["p", "Summarize: [[DOCUMENT]]"]
  time: "0:10:00"
experiments:
  - name: a
    args:
      model-name-or-path: org/m1
      max-num-seqs: [{}]
{mnbt}  - name: b
    from: {{experiment: a, inherit: [max-num-seqs], top: {top}}}
    args:
      gpu-memory-utilization: [0.9, 0.95]
"#,
        list(mns)
    )
}

/// The run directory of `org/m1` in experiment `experiment`.
pub(crate) fn run_dir(experiment: &str, mns: u64, mnbt: u64, gmu: u64) -> String {
    format!(
        "results/{experiment}/p/m1/tp1-pp1-dp1/mns_{mns}/mnbt_{mnbt}/gmu_{gmu}/bs_16/kvc_auto/\
         spec_none/quant_none"
    )
}

/// A valid `stats.json` with `completion` tokens in `inference_time` seconds (none: the
/// stat is absent).
pub(crate) fn stats(completion: u64, inference_time: Option<f64>) -> Vec<u8> {
    let mut model_call = serde_json::json!({
        "prompt_tokens": {"total": 100},
        "completion_tokens": {"total": completion},
        "successful_requests": {"total": 10},
    });
    if let Some(seconds) = inference_time {
        model_call["inference_time"] = serde_json::json!({"total": seconds});
    }
    serde_json::to_vec(&serde_json::json!([
        {"name": "Model call: Inference", "time_stats": {"total": 1.0}, "stats": model_call}
    ]))
    .unwrap()
}

/// A sweep folder with `config` and a fake `squeue` listing `queue` (`%i|%j|%T|%k` lines).
fn sweep(config: &str, queue: &str) -> (SweepDir, std::ffi::OsString) {
    let sweep = SweepDir::new();
    sweep.write("sweep.yaml", config);
    let squeue = format!("#!/bin/sh\nprintf '%s' '{queue}'\n");
    let bin = sweep.bin_dir("queue", &[("squeue", &squeue)]);
    let path = path_with(&bin);
    (sweep, path)
}

/// `launch --dry-run --json EXTRA`: decision and reason (or run directory) per line, with the
/// group lines' `runs`, in output order.
fn dry_run(sweep: &SweepDir, path: &std::ffi::OsString, extra: &[&str]) -> Vec<Line> {
    let mut args = vec!["--config", "sweep.yaml", "--dry-run", "--json"];
    args.extend(extra);
    let output = sweep.launch(&args, Some(path));
    assert!(output.status.success(), "{}", show(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("a JSON line");
            Line {
                experiment: value["experiment"].as_str().unwrap().to_owned(),
                decision: value["decision"].as_str().unwrap().to_owned(),
                run_dir: value["run_dir"].as_str().map(str::to_owned),
                reason: value["reason"].as_str().map(str::to_owned),
                runs: value["runs"].as_u64(),
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
struct Line {
    experiment: String,
    decision: String,
    run_dir: Option<String>,
    reason: Option<String>,
    runs: Option<u64>,
}

/// The `would_submit` run directories of stage `b`.
fn stage_runs(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.experiment == "b")
        .map(|line| {
            assert_eq!(line.decision, "would_submit", "{lines:#?}");
            line.run_dir.clone().expect("a run")
        })
        .collect()
}

/// The one line of stage `b` when it is a group without runs.
fn stage_group(lines: &[Line]) -> Line {
    let group: Vec<&Line> = lines.iter().filter(|line| line.experiment == "b").collect();
    assert_eq!(group.len(), 1, "{lines:#?}");
    assert_eq!(group[0].run_dir, None, "{lines:#?}");
    group[0].clone()
}

#[test]
fn a_source_run_in_flight_keeps_its_group_waiting() {
    let (sweep, path) = sweep(
        &config(&[256, 512, 1024], &[], 1),
        "91|p-m1-mns_1024_inference|RUNNING|\n",
    );
    for (mns, tokens) in [(256, 1000), (512, 2000)] {
        sweep.write_in_run(
            &run_dir("a", mns, 8192, 90),
            "inference_logs/stats.json",
            &stats(tokens, Some(10.0)),
        );
    }
    let lines = dry_run(&sweep, &path, &[]);
    let decisions: Vec<&str> = lines
        .iter()
        .filter(|line| line.experiment == "a")
        .map(|line| line.decision.as_str())
        .collect();
    assert_eq!(
        decisions,
        [
            "skipped_completed",
            "skipped_completed",
            "skipped_in_flight"
        ]
    );
    let group = stage_group(&lines);
    assert_eq!(group.decision, "waiting");
    assert_eq!(
        group.reason.as_deref(),
        Some("waits for a (m1, p): 1 of 3 runs not finished")
    );
    // One winner (top 1) x gpu-memory-utilization 0.9 and 0.95.
    assert_eq!(group.runs, Some(2));
}

#[test]
fn a_timed_out_source_run_submitted_again_makes_its_group_wait_again() {
    let (sweep, path) = sweep(&config(&[256, 512], &[], 1), "");
    sweep.write_in_run(
        &run_dir("a", 256, 8192, 90),
        "inference_logs/stats.json",
        &stats(1000, Some(10.0)),
    );
    sweep.write_in_run(
        &run_dir("a", 512, 8192, 90),
        "inference_logs/slurm_logs/1234_0.out",
        &fixture("failures/timeout.out"),
    );
    // Timeouts are skipped by default: the group is resolved and mns 256 wins.
    let lines = dry_run(&sweep, &path, &[]);
    assert_eq!(
        stage_runs(&lines),
        [run_dir("b", 256, 8192, 90), run_dir("b", 256, 8192, 95)]
    );
    // Submitted again, the timed-out run is not finished: the group waits.
    let lines = dry_run(&sweep, &path, &["--skip-failure-reasons", "none"]);
    let group = stage_group(&lines);
    assert_eq!(
        (group.decision.as_str(), group.reason.as_deref()),
        (
            "waiting",
            Some("waits for a (m1, p): 1 of 2 runs not finished")
        )
    );
}

#[test]
fn top_two_takes_the_next_winner_with_other_inherited_values() {
    let (sweep, path) = sweep(&config(&[256, 512], &[8192, 16384], 2), "");
    // Tokens/s per GPU (10 s each): (256, 16384) 300, (256, 8192) 250, (512, 8192) 200,
    // (512, 16384) 50. The second best shares max-num-seqs 256 with the best: the next
    // distinct winner is max-num-seqs 512.
    for (mns, mnbt, tokens) in [
        (256, 8192, 2500),
        (256, 16384, 3000),
        (512, 8192, 2000),
        (512, 16384, 500),
    ] {
        sweep.write_in_run(
            &run_dir("a", mns, mnbt, 90),
            "inference_logs/stats.json",
            &stats(tokens, Some(10.0)),
        );
    }
    let lines = dry_run(&sweep, &path, &[]);
    // The stage's own expansion per winner: max-num-batched-tokens is not inherited, so it
    // takes vLLM's default.
    assert_eq!(
        stage_runs(&lines),
        [
            run_dir("b", 256, 8192, 90),
            run_dir("b", 256, 8192, 95),
            run_dir("b", 512, 8192, 90),
            run_dir("b", 512, 8192, 95),
        ]
    );
}

#[test]
fn tied_winners_keep_the_expansion_order() {
    let (sweep, path) = sweep(&config(&[1024, 256, 512], &[], 1), "");
    for mns in [256, 512, 1024] {
        sweep.write_in_run(
            &run_dir("a", mns, 8192, 90),
            "inference_logs/stats.json",
            &stats(1000, Some(10.0)),
        );
    }
    // The config lists 1024 first: the first of three equal throughputs.
    let lines = dry_run(&sweep, &path, &[]);
    assert_eq!(
        stage_runs(&lines),
        [run_dir("b", 1024, 8192, 90), run_dir("b", 1024, 8192, 95)]
    );
}

#[test]
fn a_completed_run_without_inference_time_is_not_a_winner() {
    let (sweep, path) = sweep(&config(&[256, 512], &[], 1), "");
    // mns 256 has the most tokens but no inference time, so no tokens/s per GPU.
    sweep.write_in_run(
        &run_dir("a", 256, 8192, 90),
        "inference_logs/stats.json",
        &stats(9000, None),
    );
    sweep.write_in_run(
        &run_dir("a", 512, 8192, 90),
        "inference_logs/stats.json",
        &stats(10, Some(10.0)),
    );
    let lines = dry_run(&sweep, &path, &[]);
    assert_eq!(
        stage_runs(&lines),
        [run_dir("b", 512, 8192, 90), run_dir("b", 512, 8192, 95)]
    );

    // Alone, it leaves its group without a winner.
    let (sweep, path) = self::sweep(&config(&[256], &[], 1), "");
    sweep.write_in_run(
        &run_dir("a", 256, 8192, 90),
        "inference_logs/stats.json",
        &stats(9000, None),
    );
    let group = stage_group(&dry_run(&sweep, &path, &[]));
    assert_eq!(
        (group.decision.as_str(), group.reason.as_deref()),
        (
            "skipped_no_winner",
            Some("a: 1 completed without an inference time")
        )
    );
}

#[test]
fn only_selecting_the_stage_still_judges_its_source_over_all_runs() {
    let (sweep, path) = sweep(
        &config(&[256, 512], &[], 1),
        "92|p-m1-mns_512_inference|PENDING|\n",
    );
    sweep.write_in_run(
        &run_dir("a", 256, 8192, 90),
        "inference_logs/stats.json",
        &stats(1000, Some(10.0)),
    );
    // `--only b` selects no run of `a`, yet its run in flight keeps `b` waiting.
    let lines = dry_run(&sweep, &path, &["--only", "^b$"]);
    assert_eq!(
        lines,
        [Line {
            experiment: "b".into(),
            decision: "waiting".into(),
            run_dir: None,
            reason: Some("waits for a (m1, p): 1 of 2 runs not finished".into()),
            runs: Some(2),
        }]
    );
    // Once it is done (completed, with more tokens/s), the stage takes it as winner.
    let (sweep, path) = self::sweep(&config(&[256, 512], &[], 1), "");
    for (mns, tokens) in [(256, 1000), (512, 2000)] {
        sweep.write_in_run(
            &run_dir("a", mns, 8192, 90),
            "inference_logs/stats.json",
            &stats(tokens, Some(10.0)),
        );
    }
    let lines = dry_run(&sweep, &path, &["--only", "^b$"]);
    let experiments: BTreeMap<&str, usize> =
        lines.iter().fold(BTreeMap::new(), |mut counts, line| {
            *counts.entry(line.experiment.as_str()).or_default() += 1;
            counts
        });
    assert_eq!(experiments, BTreeMap::from([("b", 2)]));
    assert_eq!(
        stage_runs(&lines),
        [run_dir("b", 512, 8192, 90), run_dir("b", 512, 8192, 95)]
    );
}

#[test]
fn every_stage_problem_of_a_config_is_reported_at_once_and_nothing_is_submitted() {
    let sweep = SweepDir::new();
    sweep.write(
        "sweep.yaml",
        r#"script: scripts/gen.py
experiments:
  - name: a
    args:
      max-num-seqs: [256, 512]
  - name: b
    from: {experiment: c, inherit: [tp]}
  - name: c
    from: {experiment: aa, inherit: [tp]}
  - name: d
    from: {experiment: d, inherit: [tp]}
  - name: e
    from: {experiment: a, inherit: []}
  - name: f
    from: {experiment: a, inherit: [model-name-or-path]}
  - name: g
    from: {experiment: a, inherit: [max-num-seq]}
  - name: h
    from: {experiment: a, inherit: [max-num-seqs]}
    args:
      max-num-seqs: [1024]
  - name: i
    from: {experiment: a, inherit: [tp], top: 0}
  - name: j
    from: {experiment: a, inherit: [tp], top: 101}
  - name: k
    from: {experiment: a, inherit: [tp], top: "2"}
  - name: l
    from: {experiment: a, inherit: [tp], tops: 2}
  - name: m
    from: "a"
"#,
    );
    let bin = sweep.bin_dir(
        "record",
        &[
            ("squeue", "#!/bin/sh\nexit 0\n"),
            (
                "sbatch",
                "#!/bin/sh\ntouch \"$(dirname \"$0\")/sbatch-called\"\necho 1\n",
            ),
        ],
    );
    let output = sweep.launch(&["--config", "sweep.yaml"], Some(&path_with(&bin)));
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: invalid sweep config `sweep.yaml`: 12 problems\n"),
        "{stderr}"
    );
    for (entry, key) in [
        (
            "experiment `b` (entry 2",
            "`from.experiment`, value `c`: names an experiment listed after",
        ),
        (
            "experiment `c` (entry 3",
            "`from.experiment`, value `aa`: names no experiment listed before this entry; did you mean `a`?",
        ),
        (
            "experiment `d` (entry 4",
            "`from.experiment`, value `d`: names this stage itself",
        ),
        ("experiment `e` (entry 5", "`from.inherit`: empty list"),
        (
            "experiment `f` (entry 6",
            "`from.inherit`, value `model-name-or-path`: cannot be inherited",
        ),
        (
            "experiment `g` (entry 7",
            "`from.inherit`, value `max-num-seq`: unknown key; did you mean `max-num-seqs`?",
        ),
        (
            "experiment `h` (entry 8",
            "`max-num-seqs`: is inherited from the source's winners",
        ),
        (
            "experiment `i` (entry 9",
            "`from.top`, value `0`: must be from 1 to 100",
        ),
        (
            "experiment `j` (entry 10",
            "`from.top`, value `101`: must be from 1 to 100",
        ),
        (
            "experiment `k` (entry 11",
            "`from.top`, value `2`: expected an integer from 1 to 100, found a string",
        ),
        (
            "experiment `l` (entry 12",
            "`from.tops`: unknown key; did you mean `top`?",
        ),
        (
            "experiment `m` (entry 13",
            "`from`, value `a`: expected a mapping",
        ),
    ] {
        assert!(
            stderr
                .lines()
                .any(|line| line.starts_with(&format!("  - {entry}")) && line.contains(key)),
            "no `{entry} ... {key}` in:\n{stderr}"
        );
    }
    assert!(!bin.join("sbatch-called").exists(), "sbatch was called");
    assert!(
        !sweep.path().join("data").exists(),
        "a run directory was made"
    );
}

#[test]
fn a_waiting_chain_names_the_source_of_its_own_group() {
    // Two stages named `y`, from `x1` (model m1) and `x2` (model m2); `z` takes `y`.
    let (sweep, path) = sweep(
        r#"script: scripts/gen.py
fixed_args:
  time: "0:10:00"
experiments:
  - name: x1
    args:
      model-name-or-path: org/m1
  - name: x2
    args:
      model-name-or-path: org/m2
  - name: y
    from: {experiment: x1, inherit: [tp]}
  - name: y
    from: {experiment: x2, inherit: [tp]}
  - name: z
    from: {experiment: y, inherit: [tp]}
"#,
        "",
    );
    let reasons: Vec<(String, Option<String>)> = dry_run(&sweep, &path, &[])
        .into_iter()
        .filter(|line| line.experiment == "z")
        .map(|line| (line.decision, line.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "waiting".to_owned(),
                Some("waits for y (m1, default): its source x1 is not finished".to_owned())
            ),
            (
                "waiting".to_owned(),
                Some("waits for y (m2, default): its source x2 is not finished".to_owned())
            ),
        ]
    );
}

#[test]
fn a_waiting_group_counts_only_the_runs_it_can_get() {
    // top 100, but the group has 2 distinct max-num-seqs: at most 2 winners x 2 runs each.
    let (sweep, path) = sweep(&config(&[256, 512], &[], 100), "");
    let group = stage_group(&dry_run(&sweep, &path, &[]));
    assert_eq!((group.decision.as_str(), group.runs), ("waiting", Some(4)));
}
