//! `launch --status` on a prepared tree (`docs/launch.md`): completed, in-flight, OOM,
//! timed-out and never-submitted runs and a stage waiting for them. The queue is a fake
//! `squeue` printing a fixed listing (a real cluster cannot be told to list a job as running
//! for a given time); `tests/tests/status.rs` holds a job in the real queue.

use serde_json::Value;

use crate::common::{SweepDir, fixture, path_with, show};

/// Experiment `a`: model `org/m1` over five max-num-seqs; stage `b` takes its winner with
/// two gpu-memory-utilization values.
fn config() -> String {
    crate::stages::config(&[256, 512, 1024, 2048, 4096], &[], 1)
}

fn run_dir(mns: u64) -> String {
    crate::stages::run_dir("a", mns, 8192, 90)
}

/// The tree: mns 256 completed, 512 in flight as job 17 (recorded, RUNNING for 1:23), 1024
/// failed with OOM (job 12), 2048 timed out (job 13), 4096 never submitted.
fn prepared() -> (SweepDir, std::ffi::OsString) {
    let sweep = SweepDir::new();
    sweep.write("sweep.yaml", &config());
    sweep.write_in_run(
        &run_dir(256),
        "inference_logs/stats.json",
        &crate::stages::stats(1000, Some(10.0)),
    );
    sweep.write_in_run(
        &run_dir(512),
        "inference_logs/launch/submissions.jsonl",
        br#"{"token":"0123456789abcdef","submitted_at":"2026-11-29T13:14:05Z","command":[],"job_id":"17"}
"#,
    );
    sweep.write_in_run(
        &run_dir(1024),
        "inference_logs/slurm_logs/12_0.out",
        &fixture("failures/oom-torch.log"),
    );
    sweep.write_in_run(
        &run_dir(2048),
        "inference_logs/slurm_logs/13_0.out",
        &fixture("failures/timeout.out"),
    );
    // `%i|%j|%T|%k` for the queue, `%i|%M` for the time used.
    let squeue = "#!/bin/sh\ncase \"$*\" in\n  *%M*) echo '17|1:23' ;;\n  \
                  *) echo '17|p-m1-mns_512|RUNNING|' ;;\nesac\n";
    let bin = sweep.bin_dir("queue", &[("squeue", squeue)]);
    let path = path_with(&bin);
    (sweep, path)
}

#[test]
fn status_counts_each_state_and_says_how_to_retry_the_skipped_failures() {
    let (sweep, path) = prepared();
    let before = crate::common::tree_listing(sweep.path());
    let output = sweep.launch(&["--config", "sweep.yaml", "--status"], Some(&path));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let out =
        |mns: u64, job: u64| format!("{}/inference_logs/slurm_logs/{job}_0.out", run_dir(mns));
    let expected = format!(
        "status (from the run files and the queue; nothing submitted):\n\
         \x20 a: 1 completed, 1 in flight (1 RUNNING), 0 waiting, 2 failed (1 OOM, 1 timeout), \
         1 not submitted\n\
         \x20 b: 0 completed, 0 in flight, 2 waiting, 0 failed, 0 not submitted\n\
         7 runs: 1 completed, 1 in flight (1 RUNNING), 2 waiting, 2 failed (1 OOM, 1 timeout), \
         1 not submitted\n\
         not completed:\n\
         \x20 in flight      p-m1-mns_512  [a]  job 17  RUNNING 1:23  no .out yet\n\
         \x20 failed         p-m1-mns_1024  [a]  job 12  OOM (skipped)  {}\n\
         \x20 failed         p-m1-mns_2048  [a]  job 13  timeout (skipped)  {}\n\
         \x20 not submitted  p-m1-mns_4096  [a]\n\
         \x20 waiting        p-m1  [b]  2 runs: {}\n\
         to submit skipped failures again:\n\
         \x20 the 1 run failed with OOM: launch --config sweep.yaml --skip-failure-reasons \
         timeout,server_fail\n\
         \x20 the 1 run failed with timeout: launch --config sweep.yaml --skip-failure-reasons \
         OOM,server_fail\n",
        out(1024, 12),
        out(2048, 13),
        "REASON"
    );
    let reason = stderr
        .lines()
        .find_map(|line| line.strip_prefix("  waiting        p-m1  [b]  2 runs: "))
        .unwrap_or_else(|| panic!("no waiting group in:\n{stderr}"));
    assert_eq!(stderr, expected.replace("REASON", reason));
    // Nothing submitted, nothing written.
    assert_eq!(crate::common::tree_listing(sweep.path()), before);
}

#[test]
fn status_json_gives_the_same_per_run() {
    let (sweep, path) = prepared();
    let output = sweep.launch(
        &[
            "--config",
            "sweep.yaml",
            "--status",
            "--json",
            "--skip-failure-reasons",
            "OOM",
        ],
        Some(&path),
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let field = |key: &str| -> Vec<Value> { lines.iter().map(|l| l[key].clone()).collect() };
    assert_eq!(
        field("status"),
        [
            "completed",
            "in_flight",
            "failed",
            "failed",
            "not_submitted",
            "waiting"
        ]
    );
    assert_eq!(
        field("decision"),
        [
            "skipped_completed",
            "skipped_in_flight",
            "skipped_failure",
            "would_submit",
            "would_submit",
            "waiting"
        ]
    );
    assert_eq!(
        field("job_id"),
        [
            Value::Null,
            "17".into(),
            "12".into(),
            "13".into(),
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(
        field("squeue_state"),
        [
            Value::Null,
            "RUNNING".into(),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(lines[1]["elapsed"], "1:23");
    assert_eq!(
        field("failure_class"),
        [
            Value::Null,
            Value::Null,
            "OOM".into(),
            "timeout".into(),
            Value::Null,
            Value::Null
        ]
    );
    // With `OOM` alone skipped, the OOM run comes back with `none`; the timed-out one is
    // submitted again by the next launch anyway.
    assert_eq!(
        field("retry"),
        [
            Value::Null,
            Value::Null,
            "--skip-failure-reasons none".into(),
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );
    assert_eq!(lines[2]["args"]["max_num_seqs"], 1024);
    assert_eq!(lines[5]["runs"], 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("timeout (the next `launch` submits it again)"),
        "{stderr}"
    );
}

#[test]
fn status_needs_the_queue_and_refuses_dry_run() {
    let (sweep, _) = prepared();
    let bin = sweep.bin_dir(
        "broken",
        &[("squeue", "#!/bin/sh\necho down >&2\nexit 1\n")],
    );
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--status"],
        Some(&path_with(&bin)),
    );
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    let output = sweep.launch(&["--config", "sweep.yaml", "--status", "--dry-run"], None);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
}
