//! What the end-to-end tests share: the workspace's `launch` and `analyze` binaries, their
//! `--json` lines and CSVs, and guards that cancel submitted jobs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use bench_tests::{CancelOnDrop, ClusterLease, JobId, cluster, output_dir, parse_parsable};
use serde_json::Value;

/// A test's sweep on the cluster: its lease on the cluster (held while the test runs), the
/// binaries, and a folder holding `sweep.yaml`.
pub struct ClusterSweep {
    /// Hold it for the whole test (`lease: _lease`, not `..`, which drops it at once): it
    /// keeps the tests that restart the cluster away.
    pub lease: ClusterLease,
    pub binaries: Binaries,
    pub dir: tempfile::TempDir,
}

/// Takes the cluster and writes `sweep.yaml`, the text `config` gives for the memory per CPU
/// the cluster offers (MB).
pub fn cluster_sweep(config: impl FnOnce(u64) -> String) -> ClusterSweep {
    let cluster = cluster();
    let binaries = Binaries::build();
    let dir = output_dir();
    std::fs::write(
        dir.path().join("sweep.yaml"),
        config(cluster.mem_per_cpu_mb()),
    )
    .expect("write the sweep config");
    ClusterSweep {
        lease: cluster,
        binaries,
        dir,
    }
}

/// A path as a YAML (JSON) string.
pub fn yaml_string(path: &Path) -> String {
    serde_json::to_string(&path.to_str().expect("UTF-8 path")).expect("a string serializes")
}

/// Waits until every job a launch submitted has left the queue.
pub fn wait_until_ended(lines: &[RunLine]) {
    for line in lines.iter().filter(|line| line.decision == "submitted") {
        let job_id = line.job_id.as_ref().expect("a submitted run has a job id");
        bench_tests::wait_until_gone(job_id, Duration::from_mins(2)).expect("the job ends");
    }
}

/// A guard per job that `launch` submitted, cancelling it when the test ends (or panics).
pub fn cancel_on_drop(lines: &[RunLine]) -> Vec<CancelOnDrop> {
    lines
        .iter()
        .filter(|run| run.decision == "submitted")
        .filter_map(|run| run.job_id.clone().map(CancelOnDrop::new))
        .collect()
}

/// One line of `launch --json` (`docs/launch.md`): a run, or a stage group without runs
/// (`run_dir` and `gpus` null, `runs` given).
#[derive(Debug)]
pub struct RunLine {
    pub experiment: String,
    pub name: String,
    pub run_dir: Option<String>,
    pub decision: String,
    pub reason: Option<String>,
    pub job_id: Option<JobId>,
    pub gpus: Option<u32>,
    /// A stage group's most runs.
    pub runs: Option<u64>,
}

impl RunLine {
    /// The run directory of a run's line.
    pub fn dir(&self) -> &str {
        self.run_dir
            .as_deref()
            .unwrap_or_else(|| panic!("a run's line has a `run_dir`: {self:#?}"))
    }

    /// The GPUs of a run's line.
    pub fn gpu_count(&self) -> u32 {
        self.gpus
            .unwrap_or_else(|| panic!("a run's line has `gpus`: {self:#?}"))
    }

    /// One `--json` line.
    pub fn parse(line: &str) -> anyhow::Result<Self> {
        let value: Value = serde_json::from_str(line).context("not JSON")?;
        let text = |key: &str| {
            value[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no string `{key}`"))
        };
        let job_id = match &value["job_id"] {
            Value::Null => None,
            Value::String(id) => {
                Some(parse_parsable(id).with_context(|| format!("job id `{id}` is not digits"))?)
            }
            other => bail!("`job_id` is `{other}`, neither a string nor null"),
        };
        Ok(Self {
            experiment: text("experiment")?,
            name: text("name")?,
            run_dir: value["run_dir"].as_str().map(str::to_owned),
            decision: text("decision")?,
            reason: value["reason"].as_str().map(str::to_owned),
            job_id,
            gpus: value["gpus"]
                .as_u64()
                .and_then(|gpus| u32::try_from(gpus).ok()),
            runs: value["runs"].as_u64(),
        })
    }
}

/// The `launch` and `analyze` binaries of this workspace. `cargo test --workspace` builds
/// them into the target directory beside this test's executable (`target/debug/deps/..`):
/// they are found there, without a nested `cargo build`.
pub struct Binaries {
    pub launch: PathBuf,
    pub analyze: PathBuf,
}

impl Binaries {
    pub fn build() -> Self {
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test executable lives in target/<profile>/deps");
        let find = |name: &str| {
            let path = profile_dir.join(name);
            assert!(
                path.is_file(),
                "`{}` is missing: run the whole workspace's tests (`cargo test --workspace`), \
                 which builds `launch` and `analyze` beside this test",
                path.display()
            );
            path
        };
        Self {
            launch: find("launch"),
            analyze: find("analyze"),
        }
    }

    /// `launch --config sweep.yaml --json EXTRA` in `dir` (where the relative `output-dir`
    /// lands), which must exit 0; its JSON lines.
    pub fn launch(&self, dir: &Path, extra: &[&str]) -> Vec<RunLine> {
        let output = Command::new(&self.launch)
            .args(["--config", "sweep.yaml", "--json"])
            .args(extra)
            .current_dir(dir)
            // The jobs inherit this environment: keep __pycache__ out of the fixture folder.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("run launch");
        let shown = shown("launch", &output);
        assert!(output.status.success(), "launch {extra:?} failed: {shown}");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                RunLine::parse(line)
                    .unwrap_or_else(|error| panic!("bad --json line `{line}`: {error:#}\n{shown}"))
            })
            .collect()
    }

    /// `analyze --root results --quiet` in `dir`, which must exit 0; the rows of
    /// `results/benchmarking_results.csv` as column -> cell.
    pub fn analyze(&self, dir: &Path) -> Vec<BTreeMap<String, String>> {
        let output = Command::new(&self.analyze)
            .args(["--root", "results", "--quiet"])
            .current_dir(dir)
            .output()
            .expect("run analyze");
        assert!(
            output.status.success(),
            "analyze failed: {}",
            shown("analyze", &output)
        );
        read_csv(&dir.join("results/benchmarking_results.csv"))
            .unwrap_or_else(|error| panic!("{error:#}"))
    }
}

/// The rows of a CSV file as column -> cell.
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let headers = reader.headers()?.clone();
    ensure!(
        !headers.is_empty(),
        "`{}` has no header line",
        path.display()
    );
    reader
        .records()
        .map(|record| {
            let record = record?;
            Ok(headers
                .iter()
                .zip(record.iter())
                .map(|(header, cell)| (header.to_owned(), cell.to_owned()))
                .collect())
        })
        .collect()
}

pub fn shown(program: &str, output: &Output) -> String {
    format!(
        "{program} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
