//! The one-node SLURM cluster behaves as `docs/launch.md` says (issue 4's "Must show"):
//! GPUs as GRES, `sbatch --parsable`, the queue as `launch` reads it, `scancel`, real
//! time-limit kills, and no `.out` when the `--output` folder is missing.
//!
//! These tests share the running cluster (each holds a shared lease) and tell their jobs
//! apart by unique names and output folders. The test that restarts the cluster lives in
//! `cluster_restart.rs`.

use std::process::{Command, Stdio};
use std::time::Duration;

use bench_tests::{
    BatchJob, QueueEntry, cluster, job_record, out_files, output_dir, scancel, script_path,
    squeue_me, state_dir,
};

/// Generous bound for a job that finishes at once (it may wait for a CPU behind other tests'
/// jobs): only a guard against a hung test.
const QUICK_JOB_LIMIT: Duration = Duration::from_mins(3);

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn gpus_2_job_sees_two_gpus_and_sbatch_parsable_returns_its_job_id() -> anyhow::Result<()> {
    let cluster = cluster();
    let job = BatchJob::new("gpus")
        .directive("--gpus=2")
        .directive("--cpus-per-task=1")
        .directive(format!("--mem-per-cpu={}M", cluster.mem_per_cpu_mb()));
    let submitted = job.submit(
        "echo \"SLURM_GPUS_ON_NODE=${SLURM_GPUS_ON_NODE:-unset}\"\n\
         echo \"CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}\"",
    )?;
    submitted.wait_until_gone(QUICK_JOB_LIMIT)?;

    // `%j` in --output is the job id: the .out named after sbatch's answer proves it is one.
    let job_id = submitted.job_id();
    assert_eq!(
        out_files(job.dir()),
        vec![job.dir().join(format!("{job_id}.out"))]
    );
    let out = submitted.read_out()?;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "unexpected job output:\n{out}");
    assert_eq!(lines[0], "SLURM_GPUS_ON_NODE=2");
    let devices = lines[1]
        .strip_prefix("CUDA_VISIBLE_DEVICES=")
        .expect("the job prints CUDA_VISIBLE_DEVICES");
    assert_eq!(
        devices.split(',').count(),
        2,
        "two GPUs in CUDA_VISIBLE_DEVICES, got `{devices}`"
    );
    let record = job_record(job_id)?;
    assert_eq!(
        (record.state.as_str(), record.exit_code.as_str()),
        ("COMPLETED", "0:0")
    );
    Ok(())
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn held_job_is_listed_with_its_comment_and_scancel_removes_it() -> anyhow::Result<()> {
    let _cluster = cluster();
    let comment = format!("bench:{}", bench_tests::unique_name("token"));
    let job = BatchJob::new("held")
        .directive("--hold")
        .directive(format!("--comment={comment}"));
    let submitted = job.submit("echo should not run")?;
    let job_id = submitted.job_id();

    let listed: Vec<QueueEntry> = squeue_me()?
        .into_iter()
        .filter(|entry| entry.job_id == *job_id)
        .collect();
    assert_eq!(
        listed,
        vec![QueueEntry {
            job_id: job_id.clone(),
            name: job.name().to_owned(),
            state: "PENDING".to_owned(),
            comment,
        }]
    );

    scancel(job_id)?;
    submitted.wait_until_gone(QUICK_JOB_LIMIT)?;
    assert!(
        squeue_me()?.iter().all(|entry| entry.job_id != *job_id),
        "job `{job_id}` still listed after scancel"
    );
    assert_eq!(job_record(job_id)?.state, "CANCELLED");
    assert!(
        out_files(job.dir()).is_empty(),
        "a held job that was cancelled never ran"
    );
    Ok(())
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn job_over_its_time_limit_is_killed_with_the_due_to_time_limit_line() -> anyhow::Result<()> {
    let cluster = cluster();
    // SLURM's smallest limit is one minute; the kill comes shortly after it (`docs/launch.md`
    // section 6 saw 9 to 30 s), so this test takes about a minute and a half.
    let job = BatchJob::new("timeout").directive("--time=1");
    let submitted = job.submit("echo started\nsleep 600\necho not killed")?;
    submitted.wait_until_gone(Duration::from_mins(5))?;

    let out = submitted.read_out()?;
    let job_id = submitted.job_id();
    let node = cluster.node();
    let prefix = format!("slurmstepd-{node}: error: *** JOB {job_id} ON {node} CANCELLED AT ");
    let suffix = " DUE TO TIME LIMIT ***";
    let line = out
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}...` line in the job's .out:\n{out}"));
    let timestamp = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("`{line}` does not end with `{suffix}`"));
    assert!(
        is_iso_timestamp(timestamp),
        "`{timestamp}` is not YYYY-MM-DDTHH:MM:SS"
    );
    assert!(out.starts_with("started\n"), "the job ran first:\n{out}");
    assert!(
        !out.contains("not killed"),
        "the job was not killed:\n{out}"
    );
    assert_eq!(job_record(job_id)?.state, "TIMEOUT");
    Ok(())
}

/// `2026-11-29T13:15:41`: digits everywhere but the separators.
fn is_iso_timestamp(text: &str) -> bool {
    text.len() == 19
        && text.char_indices().all(|(index, character)| match index {
            4 | 7 => character == '-',
            10 => character == 'T',
            13 | 16 => character == ':',
            _ => character.is_ascii_digit(),
        })
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn job_whose_output_folder_is_missing_fails_without_any_out() -> anyhow::Result<()> {
    let _cluster = cluster();
    let job = BatchJob::new("nofolder");
    let missing = job.dir().join("inference_logs/slurm_logs");
    let job = job.output(format!("{}/%j_0.out", missing.display()));
    let submitted = job.submit("echo ran")?;
    submitted.wait_until_gone(QUICK_JOB_LIMIT)?;

    assert!(
        !job.dir().join("inference_logs").exists(),
        "SLURM created the missing folder"
    );
    // Nowhere under the submit folder either, not even a default `slurm-<id>.out`.
    assert_eq!(out_files(job.dir()), Vec::<std::path::PathBuf>::new());
    let record = job_record(submitted.job_id())?;
    assert_eq!(
        (record.state.as_str(), record.exit_code.as_str()),
        ("FAILED", "0:53")
    );
    Ok(())
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn up_with_another_state_dir_reports_the_running_cluster_and_leaves_it() -> anyhow::Result<()> {
    let cluster = cluster();
    let other = output_dir();
    let output = Command::new("bash")
        .arg(script_path())
        .arg("up")
        .env("BENCH_SLURM_DIR", other.path())
        .stdin(Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("error: a SLURM not started by this script is running"),
        "stderr:\n{stderr}"
    );
    assert!(
        !other.path().join("etc/slurm.conf").exists(),
        "the refused `up` wrote a configuration"
    );
    assert_eq!(
        std::fs::read_link("/etc/slurm/slurm.conf")?,
        state_dir().join("etc/slurm.conf"),
        "the clients' configuration still points at the running cluster's"
    );
    let state = cluster.node_state()?;
    assert!(
        ["idle", "mixed", "allocated"].contains(&state.as_str()),
        "the running cluster's node is `{state}`"
    );
    Ok(())
}
