//! End to end on the project's one-node SLURM cluster (issue 8): the whole loop as a user
//! lives it, with the real `launch` and `analyze` binaries and a stand-in inference script
//! (`tests/fixtures/stand_in_inference/`) that runs datatrove's own pipeline without a GPU.
//!
//! The sweep: 2 experiments, 8 runs, tp 1 and 2; one run sleeps past its one-minute `--time`
//! (SLURM kills it), one dies of a CUDA out-of-memory error. The stand-in computes its run
//! directory in Python, apart from the Rust code, so a disagreement shows up as a run that
//! never completes.
//!
//! Needs the cluster (`scripts/local-slurm.sh`, started by [`bench_tests::cluster`]) and a
//! `python3` with `datatrove[io]`, `httpx`, `aiofiles` and `aiosqlite` (`.ci/run` installs
//! them). Takes about two minutes, most of it waiting for SLURM's time limit.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use bench_tests::{cluster, output_dir, repo_root};

use crate::tools::{Binaries, RunLine, cancel_on_drop, yaml_string};
use serde_json::Value;

/// The stand-in's model names that fail on purpose, with the class `analyze` must give them
/// (`docs/failures.md`).
const SLEEPER_DIR: &str = "/sleeps_past_time/";
const OOM_DIR: &str = "/cuda_oom/";

/// Completions per run: the stand-in's dataset has 12 documents and datatrove's `DummyServer`
/// answers every request with 100 completion tokens.
const DOCUMENTS: u64 = 12;
const COMPLETION_TOKENS_PER_REQUEST: u64 = 100;

/// What the stand-in's server log gives every completed run (its README's table).
const SERVER_LOG_METRICS: [(&str, &str); 4] = [
    ("avg_running_reqs", "10.000000"),
    ("avg_waiting_reqs", "2.000000"),
    ("avg_gpu_kvc_usage", "38.500000"),
    ("avg_prefix_cache_hit_rate", "20.000000"),
];

/// Guards against a hung test only (normal runs have a 5-minute `--time`).
const QUEUE_LIMIT: Duration = Duration::from_mins(7);

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_sweep_launches_completes_analyzes_and_resubmits_only_its_failures() {
    let started = Instant::now();
    let cluster = cluster();
    assert!(
        cluster.cpus() >= 2,
        "the e2e sweep has tp 2 runs, which need 2 CPUs (cpus-per-gpu 1); the test node has {}",
        cluster.cpus()
    );
    let python = python_with_datatrove();
    let binaries = Binaries::build();
    let dir = output_dir();
    std::fs::write(
        dir.path().join("sweep.yaml"),
        sweep_config(&python, cluster.mem_per_cpu_mb()),
    )
    .expect("write the sweep config");

    // 1. Launch: every run submitted.
    let launched = Instant::now();
    let first = binaries.launch(dir.path(), &[]);
    let guards = cancel_on_drop(&first);
    assert_eq!(first.len(), 8, "8 runs expected: {first:#?}");
    for run in &first {
        assert_eq!(run.decision, "submitted", "{run:#?}");
        assert!(
            run.job_id.is_some(),
            "a submitted run has a job id: {run:#?}"
        );
    }
    let run_dirs: BTreeSet<&str> = first.iter().map(RunLine::dir).collect();
    assert_eq!(run_dirs.len(), 8, "every run has its own directory");
    let gpus: BTreeSet<u32> = first.iter().map(RunLine::gpu_count).collect();
    assert_eq!(gpus, BTreeSet::from([1, 2]), "the sweep has tp 1 and tp 2");

    // 2. Wait for the queue to drain of our jobs (other tests may share the cluster).
    let deadline = Instant::now() + QUEUE_LIMIT;
    for run in &first {
        let job_id = run.job_id.as_ref().expect("checked above");
        let left = deadline.saturating_duration_since(Instant::now());
        bench_tests::wait_until_gone(job_id, left).expect("the sweep's jobs leave the queue");
    }
    let drained = launched.elapsed();

    // 3. Analyze, and check the CSV against the real files.
    let rows = binaries.analyze(dir.path());
    assert_eq!(
        rows.len(),
        8,
        "one row per run: {rows:#?}\n{}",
        stats_files(dir.path())
    );
    for run in &first {
        check_row(dir.path(), run, &rows);
    }

    // 4. Launch again: every run skipped, none submitted.
    let records_before = submission_records(dir.path(), &first);
    let second = binaries.launch(dir.path(), &[]);
    let wrongly_submitted = cancel_on_drop(&second);
    assert_eq!(decisions(&second), expected_skips(&first), "{second:#?}");
    assert!(wrongly_submitted.is_empty(), "{second:#?}");
    assert_eq!(
        submission_records(dir.path(), &first),
        records_before,
        "a launch that skips everything records no submission"
    );

    // 5. Launch with an empty skip set: exactly the two failed runs are submitted again.
    let third = binaries.launch(dir.path(), &["--skip-failure-reasons", "none"]);
    let resubmitted = cancel_on_drop(&third);
    let mut expected = expected_skips(&first);
    for (run_dir, decision) in &mut expected {
        if failure_class(run_dir).is_some() {
            *decision = ("submitted".to_owned(), None);
        }
    }
    assert_eq!(decisions(&third), expected, "{third:#?}");
    assert_eq!(resubmitted.len(), 2, "{third:#?}");

    // 6. Clean up: cancel the resubmitted jobs (their guards would also do it on a panic).
    for run in third.iter().filter(|run| run.decision == "submitted") {
        let job_id = run.job_id.as_ref().expect("a submitted run has a job id");
        bench_tests::scancel(job_id).expect("scancel the resubmitted job");
        bench_tests::wait_until_gone(job_id, Duration::from_mins(1))
            .expect("a cancelled job leaves the queue");
    }
    drop((guards, wrongly_submitted, resubmitted));
    eprintln!(
        "e2e: {} s in all; the first sweep left the queue {} s after launch",
        started.elapsed().as_secs(),
        drained.as_secs()
    );
}

/// The sweep: `tier0-e2e` (tp 1 and 2 x max-num-seqs 256 and 512) and `tier1-e2e` (two
/// entries: tp 2 with gpu-memory-utilization 0.58, whose directory is `gmu_57`, and 0.9, with
/// an FP8 KV cache and ngram speculative decoding; then the two failing models with a
/// one-minute time limit). Settings the two implementations of the run directory could
/// disagree on are there on purpose: a prompt template pair, `gmu_57`, a padded
/// `num_speculative_tokens`, an upper-case KV cache dtype, the string `None`.
fn sweep_config(python: &Path, mem_per_cpu_mb: u64) -> String {
    let script = repo_root().join("tests/fixtures/stand_in_inference/generate_data.py");
    format!(
        r#"script: {script}
slurm:
  cpus-per-gpu: 1
  mem-per-cpu: "{mem_per_cpu_mb}M"
  python: {python}
fixed_args:
  output-dir: results
  prompt-column: text
  prompt-template: ["summary", "Summarize the document in one sentence.\n\nDocument: [[DOCUMENT]]"]
  benchmark-mode: true
  max-tokens: 64
  quantization: "None"
  time: "5"
experiments:
  - name: tier0-e2e
    args:
      model-name-or-path: stand-in/Tiny-135M
      tp: [1, 2]
      max-num-seqs: [256, 512]
  - name: tier1-e2e
    args:
      model-name-or-path: stand-in/Small-1B
      tp: 2
      gpu-memory-utilization: [0.58, 0.9]
      kv-cache-dtype: FP8_E5M2
      speculative-config: '{{"method": "ngram", "num_speculative_tokens": " 6 "}}'
  - name: tier1-e2e
    args:
      model-name-or-path: [stand-in/cuda-oom, stand-in/sleeps-past-time]
      time: "1"
"#,
        script = yaml_string(&script),
        python = yaml_string(python),
    )
}

/// The failure class `analyze` must give the run, from the stand-in's behaviour per model
/// (its README); `None` for a run that completes.
fn failure_class(run_dir: &str) -> Option<&'static str> {
    if run_dir.contains(SLEEPER_DIR) {
        Some("timeout")
    } else if run_dir.contains(OOM_DIR) {
        Some("OOM")
    } else {
        None
    }
}

/// A run's decision and reason per run directory, as launch must decide after the first
/// sweep: completed runs skipped, failed runs skipped with their class (the default skip set
/// holds `OOM` and `timeout`).
type Decisions = BTreeMap<String, (String, Option<String>)>;

fn expected_skips(first: &[RunLine]) -> Decisions {
    first
        .iter()
        .map(|run| {
            let decision = match failure_class(run.dir()) {
                Some(class) => ("skipped_failure".to_owned(), Some(class.to_owned())),
                None => ("skipped_completed".to_owned(), None),
            };
            (run.dir().to_owned(), decision)
        })
        .collect()
}

fn decisions(lines: &[RunLine]) -> Decisions {
    lines
        .iter()
        .map(|run| {
            let reason = match run.decision.as_str() {
                "skipped_failure" => run.reason.clone(),
                _ => None,
            };
            (run.dir().to_owned(), (run.decision.clone(), reason))
        })
        .collect()
}

/// Checks the run's CSV row: found by its `.out` path, completed rows with the throughput
/// computed here from the run's own `stats.json`, failed rows with their class.
fn check_row(dir: &Path, run: &RunLine, rows: &[BTreeMap<String, String>]) {
    let job_id = run.job_id.as_ref().expect("a submitted run has a job id");
    let out = format!("{}/inference_logs/slurm_logs/{job_id}_0.out", run.dir());
    let row = rows
        .iter()
        .find(|row| row["path"] == out)
        .unwrap_or_else(|| panic!("no CSV row with path `{out}`: {rows:#?}"));
    let tp = run.gpu_count().to_string();
    assert_eq!(row["tp"], tp, "{row:#?}");
    let run_dir = dir.join(run.dir());
    if let Some(class) = failure_class(run.dir()) {
        assert_eq!(row["comment"], class, "{row:#?}");
        for column in [
            "output_tps_per_gpu",
            "completion_tokens_total",
            "inference_time",
        ] {
            assert_eq!(row[column], "", "a failed run has no metrics: {row:#?}");
        }
        return;
    }
    let stats =
        ModelCall::read(&run_dir.join("inference_logs/stats.json")).unwrap_or_else(|error| {
            panic!(
                "run `{}` did not complete where launch expected it: {error:#}\n{}",
                run.name,
                stats_files(dir)
            )
        });
    assert_eq!(row["comment"], "", "{row:#?}");
    assert_eq!(stats.successful_requests, DOCUMENTS, "{stats:?}");
    assert_eq!(
        stats.completion_tokens,
        DOCUMENTS * COMPLETION_TOKENS_PER_REQUEST,
        "{stats:?}"
    );
    let expected_tps =
        stats.completion_tokens as f64 / stats.inference_time / f64::from(run.gpu_count());
    assert_eq!(
        row["output_tps_per_gpu"],
        format!("{expected_tps:.6}"),
        "{row:#?}"
    );
    assert_eq!(
        row["completion_tokens_total"],
        stats.completion_tokens.to_string()
    );
    assert_eq!(row["prompt_tokens_total"], stats.prompt_tokens.to_string());
    assert_eq!(
        row["successful_requests"],
        stats.successful_requests.to_string()
    );
    for (column, value) in SERVER_LOG_METRICS {
        assert_eq!(row[column], value, "{column}: {row:#?}");
    }
}

/// The totals of the `Model call` step of a `stats.json` written by datatrove.
#[derive(Debug)]
struct ModelCall {
    prompt_tokens: u64,
    completion_tokens: u64,
    successful_requests: u64,
    /// Seconds.
    inference_time: f64,
}

impl ModelCall {
    fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        let steps: Vec<Value> = serde_json::from_str(&text)
            .with_context(|| format!("`{}` is not a JSON list", path.display()))?;
        let stats = steps
            .iter()
            .find(|step| {
                step["name"]
                    .as_str()
                    .is_some_and(|name| name.contains("Model call"))
            })
            .map(|step| &step["stats"])
            .with_context(|| format!("no `Model call` step in `{}`", path.display()))?;
        let total = |key: &str| {
            stats[key]["total"]
                .as_f64()
                .with_context(|| format!("no `{key}.total` in `{}`", path.display()))
        };
        let count = |key: &str| {
            stats[key]["total"]
                .as_u64()
                .with_context(|| format!("no integer `{key}.total` in `{}`", path.display()))
        };
        Ok(Self {
            prompt_tokens: count("prompt_tokens")?,
            completion_tokens: count("completion_tokens")?,
            successful_requests: count("successful_requests")?,
            inference_time: total("inference_time")?,
        })
    }
}

/// The lines of every run's `submissions.jsonl` (`docs/launch.md`).
fn submission_records(dir: &Path, runs: &[RunLine]) -> BTreeMap<String, String> {
    runs.iter()
        .map(|run| {
            let path = dir
                .join(run.dir())
                .join("inference_logs/launch/submissions.jsonl");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("cannot read `{}`: {error}", path.display()));
            (run.dir().to_owned(), text)
        })
        .collect()
}

/// Every `stats.json` below `dir`, for a failure message: when the stand-in and launch
/// disagree on a run directory, its stats are somewhere else.
fn stats_files(dir: &Path) -> String {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|name| name == "stats.json") {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    found.sort();
    format!("stats.json files in the test folder:\n{}", found.join("\n"))
}

/// The interpreter the jobs run (`slurm.python`): `python3`'s own path, after checking that
/// it imports what the stand-in needs. Panics with the install command otherwise: the test
/// never skips.
fn python_with_datatrove() -> PathBuf {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys, httpx, aiofiles, aiosqlite\n\
             from datatrove.pipeline.inference.run_inference import InferenceRunner\n\
             from datatrove.pipeline.inference.servers import DummyServer\n\
             print(sys.executable)",
        ])
        .output()
        .unwrap_or_else(|error| panic!("cannot run `python3`: {error}; install Python 3.10+"));
    assert!(
        output.status.success(),
        "`python3` lacks the stand-in's packages: {}\nhint: python3 -m pip install 'datatrove[io]>=0.10,<0.11' httpx aiofiles aiosqlite (.ci/run does it in a virtual environment)",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}
