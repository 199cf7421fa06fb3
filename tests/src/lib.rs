//! Shared helpers for the end-to-end tests: the project's one-node SLURM cluster
//! (`scripts/local-slurm.sh`, `docs/launch.md`), jobs on it, unique output folders and
//! job names.
//!
//! A test that talks to SLURM starts with [`cluster`]: the first call in a test binary runs
//! `scripts/local-slurm.sh up` (a no-op when the cluster already runs), and every call takes a
//! shared lease that keeps tests which restart the cluster ([`cluster_exclusive`]) away until
//! the test ends. The cluster needs root to start; when it cannot start, the test fails with
//! the script's own words (never skips).
//!
//! [`BatchJob`] covers the usual test job (unique name, own output folder, cancelled if the
//! test fails); the plain commands ([`sbatch`], [`squeue_me`], [`scancel`],
//! [`wait_until_gone`], [`job_record`]) serve scripts written by `launch`:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # fn main() -> anyhow::Result<()> {
//! let cluster = bench_tests::cluster();
//! let dir = bench_tests::output_dir();
//! let name = bench_tests::unique_name("hello");
//! let script = bench_tests::write_batch_script(
//!     dir.path(),
//!     &name,
//!     &[
//!         format!("--job-name={name}"),
//!         format!("--output={}/%j.out", dir.path().display()),
//!         "--gpus=1".to_owned(),
//!         "--cpus-per-task=1".to_owned(),
//!         format!("--mem-per-cpu={}M", cluster.mem_per_cpu_mb()),
//!     ],
//!     "echo hello",
//! )?;
//! let job_id = bench_tests::sbatch(&script)?;
//! let _cancel = bench_tests::CancelOnDrop::new(job_id.clone());
//! bench_tests::wait_until_gone(&job_id, Duration::from_mins(1))?;
//! let out = std::fs::read_to_string(dir.path().join(format!("{job_id}.out")))?;
//! assert_eq!(out, "hello\n");
//! # Ok(())
//! # }
//! ```

pub mod job;
pub mod slurm;

pub use job::{BatchJob, SubmittedJob};

pub use slurm::{
    CancelOnDrop, Cluster, ClusterLease, JobId, JobRecord, QueueEntry, cluster, cluster_exclusive,
    job_record, local_slurm, parse_parsable, parse_queue, sbatch, scancel, script_path, squeue_me,
    state_dir, wait_until_gone, write_batch_script,
};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The repository root (the folder holding `Cargo.toml`, `scripts/` and `.ci/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives one directory below the repository root")
        .to_path_buf()
}

/// A fresh, empty folder for one test's outputs (job scripts, `.out` files, run trees),
/// named `bench-tests-XXXXXX` in the system temp folder and removed when dropped.
///
/// Panics when the folder cannot be created: the test cannot run without it.
pub fn output_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("bench-tests-")
        .tempdir()
        .unwrap_or_else(|error| panic!("cannot create a temporary output directory: {error}"))
}

/// A job name no other test (in this or a concurrent test run) uses:
/// `{prefix}-{process id}-{counter}-{microseconds}`, e.g. `held-4242-3-517021`.
///
/// Tests that share the cluster tell their jobs apart by name and job id only, so every
/// job a test submits should carry such a name.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_micros());
    format!("{prefix}-{}-{counter}-{micros}", std::process::id())
}

/// Every file ending in `.out` under `dir`, recursively, sorted (an unreadable folder counts
/// as holding none).
pub fn out_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "out") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
