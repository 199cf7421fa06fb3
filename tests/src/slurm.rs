//! The project's one-node SLURM cluster (`scripts/local-slurm.sh`) and the job commands the
//! tests use on it: `sbatch --parsable`, `squeue --me`, `scancel`, `scontrol show job`.
//!
//! Tests share one cluster. Each test holds a [`ClusterLease`] for its whole run: a shared
//! `flock` on `{state dir}/tests.lock`, taken by every test binary, so a test that stops and
//! restarts the cluster ([`cluster_exclusive`]) waits until no other test, in this process or
//! another, uses it. The state dir is the script's: `BENCH_SLURM_DIR`, default
//! `/var/tmp/bench-slurm`.

use std::fmt;
use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The script's state folder when `BENCH_SLURM_DIR` is unset (see `scripts/local-slurm.sh`).
const DEFAULT_STATE_DIR: &str = "/var/tmp/bench-slurm";

/// How often [`wait_until_gone`] asks `squeue`.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The cluster's single node, as `scontrol show node` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    node: String,
    cpus: u32,
    memory_mb: u64,
    gpus: u32,
}

impl Cluster {
    /// The node's name (the machine's `hostname -s`), as it appears in `.out` lines such as
    /// `slurmstepd-<node>: error: *** JOB ...`.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The node's CPUs (`CPUTot`, i.e. `nproc` when the script started it). A job asks at
    /// most this many with `--cpus-per-task`; test configs size `cpus-per-gpu` from it.
    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// The node's memory in MB (`RealMemory`).
    pub fn memory_mb(&self) -> u64 {
        self.memory_mb
    }

    /// The node's GPUs (its `gpu` GRES count: 8 with the script's configuration).
    pub fn gpus(&self) -> u32 {
        self.gpus
    }

    /// A `--mem-per-cpu` value in MB that fits even a job taking every CPU:
    /// [`memory_mb`](Self::memory_mb) / [`cpus`](Self::cpus), rounded down. Use it as
    /// `format!("{}M", cluster.mem_per_cpu_mb())` (the original's `22G` is refused by a small
    /// node: `docs/launch.md`).
    pub fn mem_per_cpu_mb(&self) -> u64 {
        self.memory_mb / u64::from(self.cpus.max(1))
    }

    /// The node's state as `sinfo -h -n <node> -o %T` prints it: `idle`, `mixed`,
    /// `allocated`, `down*`, `drained`, ...
    ///
    /// Errors when `sinfo` cannot run or fails (e.g. the cluster is down).
    pub fn node_state(&self) -> anyhow::Result<String> {
        let output = run(Command::new("sinfo").args(["-h", "-n", &self.node, "-o", "%T"]))?;
        Ok(output.trim().to_owned())
    }

    /// Reads the single node from `scontrol -o show node` (errors when there is not exactly
    /// one, or a field is missing).
    fn query() -> anyhow::Result<Self> {
        let listing = run(Command::new("scontrol").args(["-o", "show", "node"]))?;
        let lines: Vec<&str> = listing.lines().filter(|line| !line.is_empty()).collect();
        let [line] = lines.as_slice() else {
            bail!(
                "expected exactly one node in `scontrol -o show node`, found {}:\n{listing}",
                lines.len()
            );
        };
        let field = |key: &str| {
            fields(line)
                .find(|(name, _)| *name == key)
                .map(|(_, value)| value)
                .with_context(|| format!("no `{key}` in `scontrol -o show node`: {line}"))
        };
        let number = |key: &str| -> anyhow::Result<u64> {
            let value = field(key)?;
            value
                .parse()
                .with_context(|| format!("`{key}={value}` is not a number"))
        };
        Ok(Self {
            node: field("NodeName")?.to_owned(),
            cpus: u32::try_from(number("CPUTot")?)?,
            memory_mb: number("RealMemory")?,
            gpus: gpu_count(field("Gres")?).with_context(|| format!("no gpu count in `{line}`"))?,
        })
    }
}

/// The GPU count in a node's `Gres=` value such as `gpu:8` or `gpu:8(S:0)`.
fn gpu_count(gres: &str) -> Option<u32> {
    gres.split(',').find_map(|entry| {
        let entry = entry.split('(').next()?;
        let mut parts = entry.split(':');
        (parts.next()? == "gpu").then_some(())?;
        parts.next_back()?.parse().ok()
    })
}

/// A test's hold on the cluster: the cluster's description, plus the file lock that keeps
/// tests which restart it away ([`cluster`]: shared) or keeps every other test away
/// ([`cluster_exclusive`]). Keep it alive for the whole test: `let cluster = cluster();`
/// (not `let _ = cluster();`, which drops it at once).
#[derive(Debug)]
pub struct ClusterLease {
    cluster: &'static Cluster,
    _lock: File,
}

impl Deref for ClusterLease {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        self.cluster
    }
}

/// The running cluster, for a test that submits jobs to it.
///
/// Takes the shared lease (waiting while a [`cluster_exclusive`] test runs), then, once per
/// test binary, runs `scripts/local-slurm.sh up` (idempotent: quick when the cluster already
/// runs) and reads the node's size.
///
/// Panics, with the script's output and what to do, when the cluster cannot start (the
/// script needs root to install and start it): a SLURM test never skips.
pub fn cluster() -> ClusterLease {
    lease(false)
}

/// The running cluster, held alone: for a test that stops and restarts it
/// (`local_slurm("down")`, `local_slurm("up")`). Waits until every other test holding a
/// lease, in any process, has finished; tests asking for a lease meanwhile wait in turn.
/// The test must leave the cluster up.
///
/// Panics like [`cluster`].
pub fn cluster_exclusive() -> ClusterLease {
    lease(true)
}

fn lease(exclusive: bool) -> ClusterLease {
    let path = state_dir().join("tests.lock");
    let lock = open_lock(&path).unwrap_or_else(|error| panic!("{error:#}"));
    let locked = if exclusive {
        lock.lock()
    } else {
        lock.lock_shared()
    };
    locked.unwrap_or_else(|error| panic!("cannot lock `{}`: {error}", path.display()));
    ClusterLease {
        cluster: started_cluster(),
        _lock: lock,
    }
}

fn open_lock(path: &Path) -> anyhow::Result<File> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create `{}`", folder.display()))?;
    }
    // flock works on a file opened for reading too: enough for a user who may not write it.
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .or_else(|_| File::open(path))
        .with_context(|| format!("cannot open the test lock `{}`", path.display()))
}

/// The cluster, started by the first caller in this process; the same failure for every
/// caller when it could not start.
fn started_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    let started = CLUSTER.get_or_init(|| start().map_err(|error| format!("{error:#}")));
    match started {
        Ok(cluster) => cluster,
        Err(message) => panic!("{message}"),
    }
}

fn start() -> anyhow::Result<Cluster> {
    let script = script_path();
    let output = local_slurm("up")?;
    if !output.status.success() {
        bail!(
            "the test cluster did not start: `{script} up` exited with {}\n{}{}\
             hint: the script needs root to install and start SLURM; \
             `{script} status` shows what runs",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            script = script.display(),
        );
    }
    Cluster::query().context("the test cluster started but its node cannot be read")
}

/// The state folder of `scripts/local-slurm.sh`: `BENCH_SLURM_DIR`, default
/// `/var/tmp/bench-slurm`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("BENCH_SLURM_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from)
}

/// The path of `scripts/local-slurm.sh` in this repository.
pub fn script_path() -> PathBuf {
    crate::repo_root().join("scripts/local-slurm.sh")
}

/// Runs `bash scripts/local-slurm.sh <subcommand>` (`up`, `down` or `status`) with no stdin
/// and returns its exit status and output (stdout: `status`'s report; stderr: progress and
/// errors).
///
/// Errors only when bash cannot be started. Outside [`cluster_exclusive`], call only
/// `status`: `down` would pull the cluster from under other tests.
pub fn local_slurm(subcommand: &str) -> anyhow::Result<Output> {
    let script = script_path();
    Command::new("bash")
        .arg(&script)
        .arg(subcommand)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run `bash {} {subcommand}`", script.display()))
}

/// A SLURM job id as `sbatch --parsable` prints it (digits; `docs/launch.md` keeps job ids as
/// strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// The id's digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The job id in `sbatch --parsable`'s answer, `123` or `123;cluster` (`docs/launch.md`):
/// the part before `;`, which must be digits. `None` for anything else.
pub fn parse_parsable(stdout: &str) -> Option<JobId> {
    let id = stdout.trim().split(';').next()?;
    (!id.is_empty() && id.bytes().all(|byte| byte.is_ascii_digit())).then(|| JobId(id.to_owned()))
}

/// Writes `{dir}/{file_stem}.sh`: `#!/bin/bash`, one `#SBATCH {directive}` line per directive
/// (e.g. `--gpus=2`), then `body`. Returns the script's path.
pub fn write_batch_script(
    dir: &Path,
    file_stem: &str,
    directives: &[impl AsRef<str>],
    body: &str,
) -> anyhow::Result<PathBuf> {
    let mut text = String::from("#!/bin/bash\n");
    for directive in directives {
        text.push_str("#SBATCH ");
        text.push_str(directive.as_ref());
        text.push('\n');
    }
    text.push_str(body);
    text.push('\n');
    let path = dir.join(format!("{file_stem}.sh"));
    std::fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(path)
}

/// Submits `script` with `sbatch --parsable SCRIPT`, from the script's folder (where relative
/// `--output` paths land), and returns the job id.
///
/// Errors with sbatch's own words when it fails, and when its answer is not a job id.
pub fn sbatch(script: &Path) -> anyhow::Result<JobId> {
    let mut command = Command::new("sbatch");
    command.arg("--parsable").arg(script);
    if let Some(folder) = script
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        command.current_dir(folder);
    }
    let stdout = run(&mut command)?;
    parse_parsable(&stdout).with_context(|| {
        format!(
            "`sbatch --parsable` answered `{}`, not a job id",
            stdout.trim()
        )
    })
}

/// Cancels its job when dropped (errors ignored: the job may have ended already), so a test
/// that fails half-way leaves no held or sleeping job behind. Create it right after
/// [`sbatch`]: `let _cancel = CancelOnDrop::new(job_id.clone());`.
#[derive(Debug)]
pub struct CancelOnDrop(JobId);

impl CancelOnDrop {
    /// Guards `job_id`.
    pub fn new(job_id: JobId) -> Self {
        Self(job_id)
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        // The job usually left the queue already; scancel's complaint then does not matter.
        let _ = scancel(&self.0);
    }
}

/// One line of `squeue --me -h -o "%i|%j|%T|%k"` (`docs/launch.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// `%i`: the job id.
    pub job_id: JobId,
    /// `%j`: the job name.
    pub name: String,
    /// `%T`: the state in full, e.g. `PENDING`, `RUNNING`, `COMPLETING`.
    pub state: String,
    /// `%k`: the comment, `(null)` when the job has none.
    pub comment: String,
}

/// Parses `squeue --me -h -o "%i|%j|%T|%k"` output, one [`QueueEntry`] per non-empty line
/// (the comment, last, may itself hold `|`). Errors on a line with fewer than four fields.
pub fn parse_queue(stdout: &str) -> anyhow::Result<Vec<QueueEntry>> {
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, '|').collect();
            let [job_id, name, state, comment] = fields.as_slice() else {
                bail!("squeue line `{line}` does not have the four fields `%i|%j|%T|%k`");
            };
            Ok(QueueEntry {
                job_id: JobId((*job_id).to_owned()),
                name: (*name).to_owned(),
                state: (*state).to_owned(),
                comment: (*comment).to_owned(),
            })
        })
        .collect()
}

/// The current user's queue, read as `launch` reads it: `squeue --me -h -o "%i|%j|%T|%k"`.
/// Other tests' jobs appear too: look for your own job id or name.
pub fn squeue_me() -> anyhow::Result<Vec<QueueEntry>> {
    parse_queue(&run(Command::new("squeue").args([
        "--me",
        "-h",
        "-o",
        "%i|%j|%T|%k",
    ]))?)
}

/// Cancels the job with `scancel <id>`; errors with scancel's words when it fails.
pub fn scancel(job_id: &JobId) -> anyhow::Result<()> {
    run(Command::new("scancel").arg(job_id.as_str())).map(drop)
}

/// Whether `squeue --me -h -j<id>` still lists the job (pending, running, completing, ...).
/// A job that left the queue long ago makes squeue exit 1 with `Invalid job id specified`:
/// that counts as not listed.
fn in_queue(job_id: &JobId) -> anyhow::Result<bool> {
    let output = Command::new("squeue")
        .args(["--me", "-h", "-o", "%i"])
        .arg(format!("-j{job_id}"))
        .output()
        .context("cannot run `squeue`")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(!String::from_utf8_lossy(&output.stdout).trim().is_empty())
    } else if stderr.contains("Invalid job id specified") {
        Ok(false)
    } else {
        bail!(
            "`squeue --me -h -j{job_id}` failed ({}): {}",
            output.status,
            stderr.trim()
        )
    }
}

/// Waits until the job has left the queue (`squeue --me -h -j<id>` lists nothing), asking
/// once a second. `limit` only guards against a hung test: errors with the job's state when
/// it is still queued after `limit`, and when squeue fails.
pub fn wait_until_gone(job_id: &JobId, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while in_queue(job_id)? {
        if started.elapsed() > limit {
            let state = job_record(job_id)
                .map_or_else(|error| format!("{error:#}"), |record| format!("{record:?}"));
            bail!(
                "job `{job_id}` is still in the queue after {} s: {state}",
                limit.as_secs()
            );
        }
        sleep(POLL_INTERVAL);
    }
    Ok(())
}

/// What `scontrol -o show job <id>` says about a job. slurmctld keeps a finished job's record
/// for `MinJobAge` (300 s by default), so read it soon after the job ends; `sacct` does not
/// work on this cluster (no accounting: `docs/launch.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// `JobState`, e.g. `COMPLETED`, `FAILED`, `TIMEOUT`, `CANCELLED`, `PENDING`.
    pub state: String,
    /// `ExitCode` as `<exit status>:<signal>`, e.g. `0:0`, or `0:53` for a job whose
    /// `--output` folder is missing.
    pub exit_code: String,
    /// `Reason`, e.g. `None`, `JobHeldUser`, `NonZeroExitCode`.
    pub reason: String,
}

/// Reads the job's [`JobRecord`]; errors when scontrol fails (e.g. `Invalid job id specified`
/// once the record is gone) or a field is missing.
pub fn job_record(job_id: &JobId) -> anyhow::Result<JobRecord> {
    let line = run(Command::new("scontrol").args(["-o", "show", "job", job_id.as_str()]))?;
    let field = |key: &str| {
        fields(&line)
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.to_owned())
            .with_context(|| format!("no `{key}` in `scontrol -o show job {job_id}`: {line}"))
    };
    Ok(JobRecord {
        state: field("JobState")?,
        exit_code: field("ExitCode")?,
        reason: field("Reason")?,
    })
}

/// The `key=value` words of one `scontrol -o` line (values holding spaces are cut at the
/// first space, which is fine for the fields read here).
fn fields(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace()
        .filter_map(|word| word.split_once('='))
}

/// Runs the command and returns its stdout; errors with its stderr when it cannot start or
/// exits non-zero.
fn run(command: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsable_answers_give_the_part_before_the_semicolon() {
        assert_eq!(parse_parsable("123\n"), Some(JobId("123".to_owned())));
        assert_eq!(
            parse_parsable("4567;cluster\n"),
            Some(JobId("4567".to_owned()))
        );
        assert_eq!(parse_parsable(""), None);
        assert_eq!(parse_parsable("Submitted batch job 12\n"), None);
        assert_eq!(parse_parsable(";cluster"), None);
    }

    #[test]
    fn queue_lines_split_into_four_fields_and_the_comment_keeps_bars() {
        let entries = parse_queue("17|held-1|PENDING|bench:ab|cd\n\n18|run|RUNNING|(null)\n")
            .expect("two valid lines");
        assert_eq!(
            entries,
            vec![
                QueueEntry {
                    job_id: JobId("17".to_owned()),
                    name: "held-1".to_owned(),
                    state: "PENDING".to_owned(),
                    comment: "bench:ab|cd".to_owned(),
                },
                QueueEntry {
                    job_id: JobId("18".to_owned()),
                    name: "run".to_owned(),
                    state: "RUNNING".to_owned(),
                    comment: "(null)".to_owned(),
                },
            ]
        );
        assert!(parse_queue("17|held|PENDING\n").is_err());
    }

    #[test]
    fn gpu_count_reads_the_gpu_entry_of_a_gres_value() {
        assert_eq!(gpu_count("gpu:8"), Some(8));
        assert_eq!(gpu_count("gpu:8(S:0)"), Some(8));
        assert_eq!(gpu_count("gpu:a100:4,nic:1"), Some(4));
        assert_eq!(gpu_count("nic:1"), None);
        assert_eq!(gpu_count("(null)"), None);
    }
}
