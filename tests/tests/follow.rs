//! `launch --follow` on the project's one-node SLURM cluster (`docs/stages.md`), with the
//! simulated inference script (`tests/fixtures/simulated_inference/`).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use bench_tests::{CancelOnDrop, repo_root};
use serde_json::Value;

use crate::staged::{BIG, SMOL, check_summary, run_dir, staged_config};
use crate::tools::{
    Binaries, ClusterSweep, RunLine, cluster_sweep, shown, wait_until_ended, yaml_string,
};

/// The most a followed sweep in these tests may take before the test gives up on it.
const FOLLOW_LIMIT: Duration = Duration::from_mins(3);

/// `launch --config sweep.yaml --json ARGS` in `dir`, started with `env`; stdout and stderr
/// go to files in `dir` (`launch.out`, `launch.err`).
fn start_launch(binaries: &Binaries, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let stdout = std::fs::File::create(dir.join("launch.out")).expect("create launch.out");
    let stderr = std::fs::File::create(dir.join("launch.err")).expect("create launch.err");
    Command::new(&binaries.launch)
        .args(["--config", "sweep.yaml", "--json"])
        .args(args)
        .current_dir(dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("start launch")
}

/// Waits for `child` at most `limit` (killing it after), then its exit and output files.
fn wait_with_limit(mut child: Child, dir: &Path, limit: Duration) -> Output {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for launch") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "launch did not end within {limit:?}:\n{}",
                std::fs::read_to_string(dir.join("launch.err")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    Output {
        status,
        stdout: std::fs::read(dir.join("launch.out")).unwrap_or_default(),
        stderr: std::fs::read(dir.join("launch.err")).unwrap_or_default(),
    }
}

/// The `--json` lines of an output.
fn json_lines(output: &Output) -> Vec<RunLine> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            RunLine::parse(line).unwrap_or_else(|error| {
                panic!(
                    "bad --json line `{line}`: {error:#}\n{}",
                    shown("launch", output)
                )
            })
        })
        .collect()
}

/// Guards cancelling every job a `--json` output submitted.
fn guards(lines: &[RunLine]) -> Vec<CancelOnDrop> {
    crate::tools::cancel_on_drop(lines)
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_followed_three_stage_sweep_ends_by_itself_with_the_same_winners() {
    let started = Instant::now();
    let ClusterSweep {
        lease: _lease,
        binaries,
        dir,
    } = cluster_sweep(staged_config);
    let child = start_launch(&binaries, dir.path(), &["--follow", "--poll", "5"], &[]);
    let output = wait_with_limit(child, dir.path(), FOLLOW_LIMIT);
    let lines = json_lines(&output);
    let _jobs = guards(&lines);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        shown("launch", &output)
    );

    // Submitted once each: both models' tier0-sim runs, then SmolLM2's winners' stage runs
    // (the same as when launched by hand: see `staged.rs`).
    let mut submitted: Vec<&str> = lines
        .iter()
        .filter(|line| line.decision == "submitted")
        .map(RunLine::dir)
        .collect();
    submitted.sort_unstable();
    let mut expected: Vec<String> = [SMOL, BIG]
        .iter()
        .flat_map(|model| {
            [256, 1024, 2048].map(|mns| run_dir("tier0-sim", model, mns, 8192, 90, "spec_none"))
        })
        .chain(
            [8192, 16384, 32768]
                .map(|mnbt| run_dir("tier0b-sim", SMOL, 1024, mnbt, 90, "spec_none")),
        )
        .chain(
            [
                (90, "spec_none"),
                (90, "spec_ngram_6"),
                (95, "spec_none"),
                (95, "spec_ngram_6"),
            ]
            .map(|(gmu, spec)| run_dir("tier1-sim", SMOL, 1024, 16384, gmu, spec)),
        )
        .collect();
    expected.sort_unstable();
    assert_eq!(submitted, expected, "{}", shown("launch", &output));
    // Qwen3-235B's later stages: no winner, reported when tier0-sim resolves.
    let no_winner: Vec<(&str, &str)> = lines
        .iter()
        .filter(|line| line.decision == "skipped_no_winner")
        .map(|line| {
            (
                line.experiment.as_str(),
                line.reason.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        no_winner,
        [
            ("tier0b-sim", "tier0-sim: 3 OOM"),
            (
                "tier1-sim",
                "its source tier0b-sim has no winner: tier0-sim: 3 OOM"
            ),
        ]
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing is in flight or waiting"),
        "{stderr}"
    );
    check_summary(&binaries, dir.path());
    eprintln!("follow: {} s in all", started.elapsed().as_secs());
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_run_failing_again_while_following_is_submitted_once_and_the_follow_ends() {
    let ClusterSweep {
        lease: _lease,
        binaries,
        dir,
    } = cluster_sweep(error_config);
    let run = "results/e/default/raises_error/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none";

    // A first launch: the run fails with `error`.
    let first = binaries.launch(dir.path(), &[]);
    let _first = guards(&first);
    wait_until_ended(&first);

    // Following: `error` is not skipped, so it is submitted, once; it fails again, is
    // reported as skipped_failure (error), and with nothing else in flight the follow ends.
    let child = start_launch(&binaries, dir.path(), &["--follow", "--poll", "5"], &[]);
    let output = wait_with_limit(child, dir.path(), FOLLOW_LIMIT);
    let lines = json_lines(&output);
    let _second = guards(&lines);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        shown("launch", &output)
    );
    // Its job may still be queued at the next poll (`skipped_in_flight`), depending on how
    // busy the cluster is; the rest is exact.
    let decisions: Vec<(&str, Option<&str>)> = lines
        .iter()
        .inspect(|line| assert_eq!(line.dir(), run, "{lines:#?}"))
        .filter(|line| line.decision != "skipped_in_flight")
        .map(|line| (line.decision.as_str(), line.reason.as_deref()))
        .collect();
    assert_eq!(
        decisions,
        [("submitted", None), ("skipped_failure", Some("error"))],
        "{}",
        shown("launch", &output)
    );
    // Two submissions in all: the first launch's and the follow's (an intent line and a
    // job id line each).
    let records = std::fs::read_to_string(
        dir.path()
            .join(run)
            .join("inference_logs/launch/submissions.jsonl"),
    )
    .expect("the run's records");
    let job_ids: Vec<Value> = records
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON record"))
        .filter_map(|record| record.get("job_id").filter(|id| !id.is_null()).cloned())
        .collect();
    assert_eq!(job_ids.len(), 2, "{records}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("nothing is in flight or waiting"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn sigint_while_following_leaves_jobs_and_records_and_a_relaunch_submits_nothing_twice() {
    let ClusterSweep {
        lease: _lease,
        binaries,
        dir,
    } = cluster_sweep(staged_config);
    // The jobs inherit the environment: each simulated run serves for 10 minutes.
    let child = start_launch(
        &binaries,
        dir.path(),
        &["--follow", "--poll", "5"],
        &[("SIMULATED_INFERENCE_SLEEP", "600")],
    );
    // The first pass is over once the progress line is written.
    let deadline = Instant::now() + Duration::from_mins(1);
    while !std::fs::read_to_string(dir.path().join("launch.err"))
        .unwrap_or_default()
        .contains("following: ")
    {
        assert!(
            Instant::now() < deadline,
            "no progress line within a minute"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let output = wait_with_limit(child, dir.path(), Duration::from_secs(20));
    let lines = json_lines(&output);
    let jobs = guards(&lines);
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        shown("launch", &output)
    );
    let submitted: Vec<&RunLine> = lines
        .iter()
        .filter(|line| line.decision == "submitted")
        .collect();
    assert_eq!(submitted.len(), 6, "tier0-sim's runs: {lines:#?}");

    // The jobs still run, each recorded with its job id.
    let queue = bench_tests::squeue_me().expect("squeue");
    for line in &submitted {
        let job_id = line.job_id.as_ref().expect("a job id");
        assert!(
            queue.iter().any(|job| job.job_id == *job_id),
            "job {job_id:?} left the queue: {queue:#?}"
        );
        let records = std::fs::read_to_string(
            dir.path()
                .join(line.dir())
                .join("inference_logs/launch/submissions.jsonl"),
        )
        .expect("the run's records");
        let last: Value =
            serde_json::from_str(records.lines().last().expect("a record")).expect("JSON");
        assert_eq!(last["job_id"].as_str(), Some(job_id.as_str()), "{records}");
    }

    // A later launch finds them in flight: nothing is submitted twice.
    let again = binaries.launch(dir.path(), &[]);
    let wrongly = guards(&again);
    assert!(wrongly.is_empty(), "{again:#?}");
    let in_flight = again
        .iter()
        .filter(|line| line.decision == "skipped_in_flight")
        .count();
    assert_eq!(in_flight, 6, "{again:#?}");
    drop(jobs);
    for line in &submitted {
        let job_id = line.job_id.as_ref().expect("a job id");
        bench_tests::wait_until_gone(job_id, Duration::from_mins(1)).expect("cancelled");
    }
}

/// One run of the model that always raises an error.
fn error_config(mem_per_cpu_mb: u64) -> String {
    let script = repo_root().join("tests/fixtures/simulated_inference/generate_data.py");
    format!(
        r#"script: {script}
slurm:
  cpus-per-gpu: 1
  mem-per-cpu: "{mem_per_cpu_mb}M"
  python: python3
fixed_args:
  output-dir: results
  time: "5"
experiments:
  - name: e
    args:
      model-name-or-path: simulated/raises-error
"#,
        script = yaml_string(&script),
    )
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn following_a_later_stage_waits_for_its_source_runs_in_flight() {
    let ClusterSweep {
        lease: _lease,
        binaries,
        dir,
    } = cluster_sweep(staged_config);
    // tier0-sim runs for 8 s each, submitted by a plain launch.
    let child = start_launch(
        &binaries,
        dir.path(),
        &[],
        &[("SIMULATED_INFERENCE_SLEEP", "8")],
    );
    let first = json_lines(&wait_with_limit(child, dir.path(), Duration::from_mins(1)));
    let _first = guards(&first);
    // Following only tier0b-sim: its source's runs are not selected, but in flight, so it
    // waits for them, then submits SmolLM2's tier0b-sim runs and follows them to their end.
    let child = start_launch(
        &binaries,
        dir.path(),
        &["--follow", "--poll", "5", "--only", "^tier0b-sim$"],
        &[],
    );
    let output = wait_with_limit(child, dir.path(), FOLLOW_LIMIT);
    let lines = json_lines(&output);
    let _jobs = guards(&lines);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        shown("launch", &output)
    );
    let submitted: Vec<&str> = lines
        .iter()
        .filter(|line| line.decision == "submitted")
        .map(RunLine::dir)
        .collect();
    assert_eq!(
        submitted,
        [8192, 16384, 32768].map(|mnbt| run_dir("tier0b-sim", SMOL, 1024, mnbt, 90, "spec_none")),
        "{}",
        shown("launch", &output)
    );
    assert!(
        lines.iter().all(|line| line.experiment == "tier0b-sim"),
        "only tier0b-sim is shown: {lines:#?}"
    );
}
