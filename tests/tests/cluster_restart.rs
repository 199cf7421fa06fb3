//! `scripts/local-slurm.sh` is idempotent and restartable (issue 4): `up` twice, `down`, `up`
//! leaves the node idle each time, and a running cluster whose configuration changed is
//! reported, not overwritten.
//!
//! Its own test binary: cargo runs test binaries one after another, and the exclusive lease
//! keeps every other cluster test (in any process) away while the cluster is down.

use std::process::{Command, Output};
use std::time::Duration;

use bench_tests::{BatchJob, Cluster, cluster_exclusive, job_record, local_slurm, state_dir};

/// Runs `up` again when dropped, so a failing test does not leave the cluster down for the
/// tests after it.
struct BringBackUp;

impl Drop for BringBackUp {
    fn drop(&mut self) {
        if let Ok(output) = local_slurm("up")
            && !output.status.success()
        {
            eprintln!(
                "could not bring the cluster back up:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

fn assert_success(step: &str, output: &Output) {
    assert!(
        output.status.success(),
        "`local-slurm.sh {step}` exited with {}:\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// How many live processes run under this exact command name (zombies left by a daemon's
/// first fork, not yet reaped, do not count).
fn process_count(name: &str) -> usize {
    let output = Command::new("pgrep")
        .args(["-x", name])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
                !status
                    .lines()
                    .any(|line| line.starts_with("State:") && line.contains('Z'))
            })
        })
        .count()
}

fn assert_up_and_idle(step: &str, cluster: &Cluster) {
    let output = local_slurm("up").expect("the script runs");
    assert_success(step, &output);
    assert_eq!(
        cluster.node_state().expect("sinfo answers"),
        "idle",
        "after {step}"
    );
    assert_eq!(
        (process_count("slurmctld"), process_count("slurmd")),
        (1, 1),
        "one slurmctld and one slurmd after {step}"
    );
    let status = local_slurm("status").expect("the script runs");
    assert_success("status", &status);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn up_twice_then_down_then_up_leaves_the_node_idle_each_time() -> anyhow::Result<()> {
    let cluster = cluster_exclusive();
    let _bring_back_up = BringBackUp;

    assert_up_and_idle("the first up", &cluster);
    assert_up_and_idle("the second up", &cluster);

    let down = local_slurm("down")?;
    assert_success("down", &down);
    assert_eq!(
        (process_count("slurmctld"), process_count("slurmd")),
        (0, 0),
        "down stops both daemons"
    );
    let status = local_slurm("status")?;
    assert_eq!(
        status.status.code(),
        Some(1),
        "status reports the cluster down"
    );
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("slurmctld: stopped"),
        "status:\n{}",
        String::from_utf8_lossy(&status.stdout)
    );

    assert_up_and_idle("up after down", &cluster);

    // And it takes jobs again.
    let job = BatchJob::new("restarted");
    let submitted = job.submit("echo after restart")?;
    submitted.wait_until_gone(Duration::from_mins(2))?;
    assert_eq!(submitted.read_out()?, "after restart\n");
    assert_eq!(job_record(submitted.job_id())?.state, "COMPLETED");
    Ok(())
}

/// Puts the configuration file's original text back when dropped.
struct RestoreFile {
    path: std::path::PathBuf,
    text: String,
}

impl Drop for RestoreFile {
    fn drop(&mut self) {
        if let Err(error) = std::fs::write(&self.path, &self.text) {
            eprintln!("could not restore `{}`: {error}", self.path.display());
        }
    }
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn up_reports_a_running_cluster_with_another_configuration_and_leaves_it() -> anyhow::Result<()> {
    let cluster = cluster_exclusive();
    let conf = state_dir().join("etc/slurm.conf");
    let original = std::fs::read_to_string(&conf)?;
    let restore = RestoreFile {
        path: conf.clone(),
        text: original.clone(),
    };
    let edited = format!("{original}# a local edit: another configuration\n");
    std::fs::write(&conf, &edited)?;

    let output = local_slurm("up")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("error: this script's cluster is running with another configuration"),
        "stderr:\n{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&conf)?,
        edited,
        "the configuration was overwritten"
    );
    assert_eq!(
        cluster.node_state()?,
        "idle",
        "the running cluster was left as is"
    );

    drop(restore);
    assert_success("up", &local_slurm("up")?);
    Ok(())
}
