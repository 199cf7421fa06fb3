//! A small builder for results trees, the test fixtures, and running the `analyze` binary.
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

/// The repository's test fixtures (`tests/fixtures/`: real log excerpts, stats files).
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

/// A fixture file's bytes (`failures/oom-torch.log`, ...).
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = Path::new(FIXTURES).join(rel);
    fs::read(&path).unwrap_or_else(|err| panic!("cannot read fixture `{}`: {err}", path.display()))
}

/// A results tree in a temporary folder: `--root` is `data` inside it, and the binary runs
/// with the temporary folder as its working directory, so the `path` column starts `data/`.
pub struct Tree {
    temp: tempfile::TempDir,
}

impl Tree {
    /// An empty tree (the `data` folder not yet created); the temporary folder is readable by
    /// every user, for the unprivileged test.
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("temporary directory");
        set_mode(temp.path(), 0o755);
        Tree { temp }
    }

    /// The temporary folder holding `data`.
    pub fn base(&self) -> &Path {
        self.temp.path()
    }

    /// The `--root` folder, as an absolute path.
    pub fn root(&self) -> PathBuf {
        self.base().join("data")
    }

    /// Write a file below the temporary folder (parents created).
    pub fn file(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Self {
        let path = self.base().join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
        fs::write(&path, bytes).expect("write file");
        self
    }

    /// A run directory below `data`.
    pub fn run(&self, run_dir: &str) -> Run {
        let dir = self.root().join(run_dir);
        fs::create_dir_all(dir.join("inference_logs")).expect("create run directory");
        Run { dir }
    }

    /// Run `analyze --root data` plus `args` in the temporary folder.
    pub fn analyze(&self, args: &[&str]) -> Output {
        Command::cargo_bin("analyze")
            .expect("the analyze binary")
            .current_dir(self.base())
            .args(["--root", "data"])
            .args(args)
            .output()
            .expect("run analyze")
    }

    /// Read a CSV the run wrote below `data`: the header and each record as column -> cell.
    pub fn csv(&self, name: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
        read_csv(&self.root().join(name))
    }
}

/// Run `analyze` with `args` only (no `--root data`) in the tree's temporary folder.
pub fn analyze_in(tree: &Tree, args: &[&str]) -> Output {
    Command::cargo_bin("analyze")
        .expect("the analyze binary")
        .current_dir(tree.base())
        .args(args)
        .output()
        .expect("run analyze")
}

/// Read a CSV file: the header and each record as column -> cell.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|err| panic!("cannot read `{}`: {err}", path.display()));
    let header: Vec<String> = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|record| {
            let record = record.expect("a record");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, records)
}

/// One run directory of a [`Tree`].
pub struct Run {
    pub dir: PathBuf,
}

impl Run {
    /// A file below the run directory (parents created).
    pub fn file(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Self {
        let path = self.dir.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create directories");
        fs::write(&path, bytes).expect("write file");
        self
    }

    /// A SLURM output file `inference_logs/slurm_logs/{name}`.
    pub fn out(&self, name: &str, bytes: impl AsRef<[u8]>) -> &Self {
        self.file(&format!("inference_logs/slurm_logs/{name}"), bytes)
    }

    /// `inference_logs/stats.json`.
    pub fn stats(&self, json: &str) -> &Self {
        self.file("inference_logs/stats.json", json)
    }

    /// The server log `inference_logs/server_logs/server_rank_0_node_0.log`.
    pub fn server_log(&self, bytes: impl AsRef<[u8]>) -> &Self {
        self.file("inference_logs/server_logs/server_rank_0_node_0.log", bytes)
    }
}

/// Set a file's or folder's permission bits.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The inputs of a `stats.json` as datatrove writes it: a reader step and the `Model call`
/// step.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub successful: u64,
    pub failed: u64,
    pub mean_input: f64,
    pub mean_output: f64,
    /// `inference_time` total, seconds.
    pub inference_time: f64,
    /// Time of the reader and the model step, seconds: `global_mean` in a merged file, the
    /// task's `total` in a per-task file.
    pub step_times: [f64; 2],
}

impl Stats {
    /// Typical values, to change with struct update syntax.
    pub const BASE: Stats = Stats {
        prompt_tokens: 1_000_000,
        completion_tokens: 1_000_000,
        successful: 10_000,
        failed: 0,
        mean_input: 100.0,
        mean_output: 100.0,
        inference_time: 100.0,
        step_times: [1.0, 101.0],
    };

    /// A merged `stats.json`: `time_stats` has `global_mean` (the step time) and a `total`
    /// twice as large (summed over two tasks), which must not be used.
    pub fn merged_json(&self) -> String {
        self.json(true)
    }

    /// One task's `stats/*.json`: `time_stats` has `total` only.
    pub fn task_json(&self) -> String {
        self.json(false)
    }

    fn json(&self, merged: bool) -> String {
        let time_stats = |seconds: f64| {
            if merged {
                serde_json::json!({"total": seconds * 2.0, "global_mean": seconds, "n": 2})
            } else {
                serde_json::json!({"total": seconds, "n": 1, "mean": seconds})
            }
        };
        let tokens = |total: u64, mean: f64| serde_json::json!({"total": total, "n": self.successful, "mean": mean, "unit": "request"});
        serde_json::json!([
            {
                "name": "\u{1f4d6} - READER: \u{1f43f} Jsonl",
                "time_stats": time_stats(self.step_times[0]),
                "stats": {"documents": {"total": self.successful}}
            },
            {
                "name": "Model call: Inference \u{1f50d}",
                "time_stats": time_stats(self.step_times[1]),
                "stats": {
                    "inference_time": {"total": self.inference_time, "mean": self.inference_time, "unit": "seconds"},
                    "prompt_tokens": tokens(self.prompt_tokens, self.mean_input),
                    "completion_tokens": tokens(self.completion_tokens, self.mean_output),
                    "successful_requests": {"total": self.successful, "unit": "request"},
                    "failed_requests": self.failed
                }
            }
        ])
        .to_string()
    }
}

/// The standard run directory below `data`: prompt `tutorial`, gmu 90, bs 16, kvc auto,
/// quant none.
pub fn run_path(
    experiment: &str,
    model: &str,
    parallel: &str,
    mns: u64,
    mnbt: u64,
    spec: &str,
) -> String {
    format!(
        "{experiment}/tutorial/{model}/{parallel}/mns_{mns}/mnbt_{mnbt}/gmu_90/bs_16/kvc_auto/{spec}/quant_none"
    )
}

/// A vLLM V1 metrics record line.
pub fn metrics_line(running: u32, waiting: u32, kvc: f64, prefix: f64) -> String {
    format!(
        "INFO 11-02 10:00:00 [loggers.py:123] Engine 000: Avg prompt throughput: 100.0 tokens/s, \
         Avg generation throughput: 50.0 tokens/s, Running: {running} reqs, Waiting: {waiting} reqs, \
         GPU KV cache usage: {kvc:.1}%, Prefix cache hit rate: {prefix:.1}%\n"
    )
}

/// The metric columns (every column after the thirteen config columns up to `path`).
pub const METRIC_COLUMNS: [&str; 20] = [
    "gpus_for_1b_tokens_per_hour",
    "node_days_to_process_1b_tokens",
    "gpu_days_to_process_1b_tokens",
    "input_tps_per_gpu",
    "output_tps_per_gpu",
    "tokens_input_per_sec",
    "tokens_output_per_sec",
    "avg_running_reqs",
    "avg_waiting_reqs",
    "avg_gpu_kvc_usage",
    "avg_prefix_cache_hit_rate",
    "prompt_tokens_total",
    "completion_tokens_total",
    "mean_input_tokens",
    "mean_output_tokens",
    "successful_requests",
    "e2e_time",
    "inference_time",
    "e2e_per_1k_per_gpu",
    "inference_per_1k_per_gpu",
];

/// Run the built binary as the unprivileged user 65534 (root ignores permissions), or
/// directly when the tests do not run as root.
pub fn analyze_unprivileged(tree: &Tree, args: &[&str]) -> std::process::Output {
    let binary = assert_cmd::cargo::cargo_bin!("analyze");
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("`id -u` runs");
    let is_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let mut command = if is_root {
        let mut command = std::process::Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(binary);
        command
    } else {
        std::process::Command::new(binary)
    };
    command
        .current_dir(tree.base())
        .args(["--root", "data"])
        .args(args)
        .output()
        .expect("`setpriv` (util-linux) runs the binary as user 65534")
}
