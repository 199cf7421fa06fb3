//! "A run is never submitted twice, whatever kills launch": signals while an sbatch call is
//! running, lost or corrupt records, special files, and an `squeue` or `sbatch` that never
//! answers. SLURM cannot be made slow or hung on demand, so these use a fake `sbatch` and
//! `squeue` that keep their own queue file (`queue.txt`): the fake sbatch takes its time
//! (`delay`), then appends `id|name|PENDING|comment` for the script it was given.

use crate::common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{SweepDir, lines_by_name, path_with, show};

/// The fake `squeue`: prints the queue file (or hangs, when `squeue-hangs` exists).
const FAKE_SQUEUE: &str = r#"#!/bin/sh
dir=$(dirname "$0")/..
if [ -e "$dir/squeue-hangs" ]; then exec sleep "$(cat "$dir/hang-seconds")"; fi
cat "$dir/queue.txt" 2>/dev/null
exit 0
"#;

/// The fake `sbatch --parsable SCRIPT`: notes the call, waits `delay` seconds (or forever
/// when `sbatch-hangs` exists, after queueing the job when `sbatch-hangs` says `after`),
/// then queues the job with the script's name and comment and prints its id.
const FAKE_SBATCH: &str = r#"#!/bin/sh
dir=$(dirname "$0")/..
script=$2
echo "$script" >> "$dir/sbatch-calls"
name=$(sed -n 's/^#SBATCH --job-name=//p' "$script" | head -n 1)
comment=$(sed -n 's/^#SBATCH --comment=//p' "$script" | head -n 1)
queue() {
    id=$(( $(wc -l < "$dir/queue.txt" 2>/dev/null || echo 0) + 1000 ))
    echo "$id|$name|PENDING|$comment" >> "$dir/queue.txt"
}
if [ -e "$dir/sbatch-hangs" ]; then
    if [ "$(cat "$dir/sbatch-hangs")" = after ]; then queue; fi
    exec sleep "$(cat "$dir/hang-seconds")"
fi
sleep "$(cat "$dir/delay" 2>/dev/null || echo 0)"
queue
# Noted before answering: with its launch killed, the answer meets a closed pipe.
echo done >> "$dir/sbatch-done"
echo "$id"
"#;

/// A sweep directory with the fake SLURM first on PATH.
struct FakeSlurm {
    sweep: SweepDir,
    path: OsString,
    /// The `sleep` argument of a hung fake command.
    hang: String,
}

/// Six digits that differ between the fake clusters of one test process.
fn unique_counter() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1_000_000
}

impl FakeSlurm {
    /// Three runs (models a, b, c), `slurm_extra` appended to the `slurm:` section.
    fn new(slurm_extra: &str) -> Self {
        let sweep = SweepDir::new();
        let bin = sweep.bin_dir("fake", &[("squeue", FAKE_SQUEUE), ("sbatch", FAKE_SBATCH)]);
        sweep.write(
            "c.yaml",
            &format!(
                "script: \"scripts/gen.py\"\nslurm:\n  mem-per-cpu: \"1000M\"\n{slurm_extra}\
                 fixed_args:\n  time: \"1:00:00\"\n\
                 experiments:\n  - name: e\n    args:\n      \
                 model-name-or-path: [\"org/a\", \"org/b\", \"org/c\"]\n"
            ),
        );
        let path = path_with(&bin);
        // A hung command sleeps this long: a number no other process on the machine uses,
        // so that the test can look for what is left of it.
        let hang = format!("1000.{}{:06}", std::process::id(), unique_counter());
        sweep.write("hang-seconds", &hang);
        FakeSlurm { sweep, path, hang }
    }

    fn dir(&self) -> &Path {
        self.sweep.path()
    }

    fn set(&self, file: &str, text: &str) {
        std::fs::write(self.dir().join(file), text).unwrap();
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = self
            .sweep
            .launch_command(&["--config", "c.yaml", "--json"], Some(&self.path));
        command.args(extra);
        command
    }

    /// `launch --config c.yaml --json EXTRA`, under `ulimit -v` (1 GiB).
    fn launch(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--config", "c.yaml", "--json"];
        args.extend_from_slice(extra);
        self.sweep.launch_bounded(&args, &self.path)
    }

    fn lines(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir().join(name)).map_or(0, |text| text.lines().count())
    }

    /// The fake queue's jobs per job name.
    fn jobs_per_name(&self) -> BTreeMap<String, usize> {
        let text = std::fs::read_to_string(self.dir().join("queue.txt")).unwrap_or_default();
        let mut jobs = BTreeMap::new();
        for line in text.lines() {
            let name = line.split('|').nth(1).unwrap().to_owned();
            *jobs.entry(name).or_default() += 1;
        }
        jobs
    }

    /// Wait until `file` has `lines` lines (at most 20 s).
    fn wait_for(&self, file: &str, lines: usize) {
        let start = Instant::now();
        while self.lines(file) < lines {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "`{file}` never reached {lines} lines"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The run directory of run `name` (from a dry run).
    fn run_dir(&self, name: &str) -> PathBuf {
        let output = self.launch(&["--dry-run"]);
        let lines = lines_by_name(&output);
        self.dir().join(lines[name]["run_dir"].as_str().unwrap())
    }
}

const NAMES: [&str; 3] = ["a", "b", "c"];

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every process whose command line holds `marker` (a fake command's unique `sleep`
/// argument): none may outlive a launch.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

/// Kill launch with `signals` while the first run's slow sbatch call is running, relaunch
/// at once and again after that call ended: every run is queued exactly once.
fn interrupted_while_sbatch_runs(signals: &[&str]) {
    let slurm = FakeSlurm::new("");
    slurm.set("delay", "2");
    let mut first = slurm
        .command(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    slurm.wait_for("sbatch-calls", 1);
    for name in signals {
        signal(&first, name);
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = first.wait().unwrap();
    assert!(!status.success(), "{signals:?}: {status}");

    // At once: the first run's sbatch may still be running; nothing is submitted twice.
    let again = slurm.launch(&[]);
    let lines = lines_by_name(&again);
    let first_run = &lines["a"];
    assert_ne!(first_run["decision"], "submitted", "{}", show(&again));
    if first_run["decision"] == "skipped_in_flight" && first_run["job_id"].is_null() {
        assert_eq!(
            first_run["reason"],
            "an sbatch call for this run is still running",
            "{}",
            show(&again)
        );
    }
    // After every sbatch call ended: everything is in flight, once.
    slurm.wait_for("sbatch-done", slurm.lines("sbatch-calls"));
    let last = slurm.launch(&[]);
    assert_eq!(last.status.code(), Some(0), "{}", show(&last));
    for (name, line) in lines_by_name(&last) {
        assert_eq!(
            line["decision"],
            "skipped_in_flight",
            "{name}: {}",
            show(&last)
        );
    }
    assert_eq!(
        slurm.jobs_per_name(),
        NAMES.iter().map(|name| ((*name).to_owned(), 1)).collect(),
        "{signals:?}"
    );
}

#[test]
fn sigint_while_sbatch_runs_submits_nothing_twice() {
    interrupted_while_sbatch_runs(&["INT"]);
}

#[test]
fn sigint_twice_while_sbatch_runs_submits_nothing_twice() {
    interrupted_while_sbatch_runs(&["INT", "INT"]);
}

#[test]
fn sigterm_while_sbatch_runs_submits_nothing_twice() {
    interrupted_while_sbatch_runs(&["TERM"]);
}

#[test]
fn sighup_while_sbatch_runs_submits_nothing_twice() {
    interrupted_while_sbatch_runs(&["HUP"]);
}

#[test]
fn sigkill_while_sbatch_runs_submits_nothing_twice() {
    interrupted_while_sbatch_runs(&["KILL"]);
}

#[test]
fn corrupt_or_emptied_records_with_the_job_queued_are_not_submitted_again() {
    let slurm = FakeSlurm::new("");
    let first = slurm.launch(&[]);
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    let records = |name: &str| {
        slurm
            .run_dir(name)
            .join("inference_logs/launch/submissions.jsonl")
    };
    std::fs::write(records("a"), "{\"tok\0\0 garbage\n").unwrap();
    std::fs::write(records("b"), "").unwrap();
    let again = slurm.launch(&[]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    let lines = lines_by_name(&again);
    assert_eq!(
        lines["a"]["reason"],
        "job 1000 is queued (found by the run directory's key in the job's comment); \
         `inference_logs/launch/submissions.jsonl` holds no readable submission record (16 bytes; when no job of the run is queued, \
         move it away to submit the run again)"
    );
    assert_eq!(
        lines["b"]["reason"],
        "job 1001 is queued (found by the run directory's key in the job's comment)"
    );
    assert_eq!(
        lines["c"]["reason"],
        "job 1002 is queued (found by the job id recorded in submissions.jsonl)"
    );
    assert_eq!(slurm.lines("queue.txt"), 3);
}

#[test]
fn a_fifo_or_a_link_to_dev_zero_as_records_fails_that_run_only() {
    let slurm = FakeSlurm::new("");
    let launch_dir = |name: &str| slurm.run_dir(name).join("inference_logs/launch");
    for name in ["a", "b"] {
        std::fs::create_dir_all(launch_dir(name)).unwrap();
    }
    let fifo = launch_dir("a").join("submissions.jsonl");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("/dev/zero", launch_dir("b").join("submissions.jsonl")).unwrap();
    let output = slurm.launch(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", show(&output));
    let lines = lines_by_name(&output);
    for (name, kind) in [("a", "a FIFO (named pipe)"), ("b", "a character device")] {
        assert_eq!(lines[name]["decision"], "failed");
        let reason = lines[name]["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("`inference_logs/launch/submissions.jsonl` cannot be read: ")
                && reason.contains(&format!("{kind}, not a regular file")),
            "{reason}"
        );
    }
    assert_eq!(lines["c"]["decision"], "submitted");
    assert_eq!(slurm.jobs_per_name().keys().collect::<Vec<_>>(), ["c"]);
}

#[test]
fn a_hung_squeue_ends_a_real_launch_with_exit_3_and_no_process_left() {
    let slurm = FakeSlurm::new("  squeue-timeout: 1\n");
    slurm.set("squeue-hangs", "");
    let started = Instant::now();
    let output = slurm.launch(&[]);
    assert_eq!(output.status.code(), Some(3), "{}", show(&output));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .next()
            .unwrap(),
        "error: the queue could not be read, so nothing was submitted: `squeue --me -h -o \
         %i|%j|%T|%k` did not answer within 1 s and was stopped (`slurm.squeue-timeout`)"
    );
    assert_eq!(processes_with(&slurm.hang), Vec::<String>::new());
    assert_eq!(slurm.lines("sbatch-calls"), 0);
}

#[test]
fn a_hung_sbatch_is_stopped_looked_up_and_the_launch_ends_with_a_summary() {
    for (hangs, decision, exit) in [("before", "failed", 1), ("after", "submitted", 0)] {
        let slurm = FakeSlurm::new("  sbatch-timeout: 1\n");
        slurm.set("sbatch-hangs", hangs);
        let output = slurm.launch(&[]);
        assert_eq!(output.status.code(), Some(exit), "{}", show(&output));
        let lines = lines_by_name(&output);
        assert_eq!(lines["a"]["decision"], decision, "{}", show(&output));
        if decision == "failed" {
            assert_eq!(
                lines["a"]["reason"],
                "`sbatch` did not answer within 1 s and was stopped (`slurm.sbatch-timeout`); \
                 no job with its token is in the queue"
            );
            // Never retried blind, and the rest is not tried: SLURM looks unresponsive.
            assert_eq!(slurm.lines("sbatch-calls"), 1);
            for name in ["b", "c"] {
                assert_eq!(lines[name]["decision"], "not_attempted");
            }
        } else {
            // The job it queued before hanging is adopted by its token.
            assert_eq!(lines["a"]["job_id"], "1000");
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("summary:"), "{stderr}");
        assert_eq!(processes_with(&slurm.hang), Vec::<String>::new());
    }
}

#[test]
fn a_config_sets_the_time_limits_within_bounds() {
    let slurm = FakeSlurm::new("  squeue-timeout: 0\n  sbatch-timeout: \"60\"\n");
    let output = slurm.launch(&["--dry-run"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("`squeue-timeout`"), "{text}");
    assert!(text.contains("must be from 1 to 3600 seconds"), "{text}");
    assert!(text.contains("`sbatch-timeout`"), "{text}");
}

#[test]
fn a_signal_while_the_queue_is_read_ends_launch_with_130_and_no_process_left() {
    for name in ["INT", "TERM", "HUP"] {
        let slurm = FakeSlurm::new("  squeue-timeout: 60\n");
        slurm.set("squeue-hangs", "");
        let child = slurm
            .command(&[])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Until the hung squeue runs.
        let started = Instant::now();
        while processes_with(&slurm.hang).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "squeue never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(&child, name);
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(130), "{name}");
        assert!(
            String::from_utf8_lossy(&output.stderr)
                .contains("interrupted while the queue was read: nothing was submitted"),
            "{name}"
        );
        assert_eq!(processes_with(&slurm.hang), Vec::<String>::new(), "{name}");
        assert_eq!(slurm.lines("sbatch-calls"), 0);
    }
}

#[test]
fn a_dry_run_that_cannot_read_the_queue_says_so_also_without_warnings() {
    let slurm = FakeSlurm::new("  squeue-timeout: 1\n");
    slurm.set("squeue-hangs", "");
    let output = slurm.launch(&["--dry-run", "--no-warnings", "--verbose"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning:"), "{stderr}");
    // Not a warning: the three runs' decisions could not see the queue.
    assert!(
        stderr.contains(
            "3 runs not completed may be in flight: the queue could not be read \
             (`in_flight_unknown` in `--json`)"
        ),
        "{stderr}"
    );
    // `--verbose` with `--json`: the blocks on stderr, the JSON lines on stdout.
    assert_eq!(lines_by_name(&output).len(), 3);
    assert_eq!(
        stderr.matches("    #SBATCH --job-name=").count(),
        3,
        "{stderr}"
    );
}
