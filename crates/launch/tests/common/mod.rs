//! Helpers for the `launch` tests: a sweep folder with a fake inference script, configs
//! sized for the test cluster, running the binary, reading its JSON lines, fake `sbatch`
//! wrappers first on PATH.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository's test fixtures (`tests/fixtures/`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures")).to_path_buf()
}

/// A fixture file's bytes (`failures/oom-torch.log`, ...).
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixtures_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read `{}`: {err}", path.display()))
}

/// A JSON fixture (`launch/sample-first-run-kwargs.json`, ...).
pub fn json_fixture(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel))
        .unwrap_or_else(|err| panic!("fixture `{rel}` is not JSON: {err}"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

/// The interpreter the test jobs run: `python3` from PATH, resolved to its real path.
pub fn python3() -> String {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 must be on PATH for the test jobs");
    assert!(output.status.success(), "python3 does not run");
    String::from_utf8(output.stdout)
        .expect("a UTF-8 path")
        .trim()
        .to_owned()
}

/// The real path of a command on PATH.
pub fn which(command: &str) -> PathBuf {
    let output = Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "`{command}` must be on PATH");
    PathBuf::from(String::from_utf8(output.stdout).expect("UTF-8").trim())
}

/// The fake inference script: imports its sibling `utils.py` (as the real one does), and its
/// `main` writes what it received into `{output_dir}/received-{name}.json` and the prompt
/// template's text, byte for byte, into `{output_dir}/received-{name}.prompt`.
const FAKE_SCRIPT: &str = r#"import json, os
import utils


def main(**kwargs):
    os.makedirs(kwargs["output_dir"], exist_ok=True)
    base = os.path.join(kwargs["output_dir"], "received-" + kwargs["name"])
    with open(base + ".json", "w") as out:
        json.dump(kwargs, out)
    with open(base + ".prompt", "wb") as out:
        out.write(kwargs["prompt_template"][1].encode("utf-8"))
    print(utils.GREETING)
"#;

/// A sweep folder: the current directory `launch` runs in.
pub struct SweepDir {
    pub dir: tempfile::TempDir,
}

impl SweepDir {
    /// A fresh folder holding `scripts/gen.py` and `scripts/utils.py`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("launch-tests-")
            .tempdir()
            .expect("a temporary directory");
        let scripts = dir.path().join("scripts");
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::write(scripts.join("gen.py"), FAKE_SCRIPT).unwrap();
        std::fs::write(
            scripts.join("utils.py"),
            "GREETING = \"fake inference done\"\n",
        )
        .unwrap();
        SweepDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `text` as `name` in the folder; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Write a file below a run directory (relative to the sweep folder).
    pub fn write_in_run(&self, run_dir: &str, rel: &str, bytes: &[u8]) {
        let path = self.path().join(run_dir).join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    /// `launch ARGS` in this directory with `path` as PATH, under `ulimit -v` (1 GiB of
    /// address space): a read that grew without bound fails there instead of filling the
    /// machine.
    pub fn launch_bounded(&self, args: &[&str], path: &OsString) -> Output {
        Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576 && exec \"$@\"")
            .arg("sh")
            .arg(assert_cmd::cargo::cargo_bin!("launch"))
            .args(args)
            .current_dir(self.path())
            .env("PATH", path)
            .output()
            .expect("launch runs")
    }

    /// `launch ARGS` in this folder, with PATH as the test's own (or `path` when given).
    pub fn launch(&self, args: &[&str], path: Option<&OsString>) -> Output {
        self.launch_command(args, path)
            .output()
            .expect("launch runs")
    }

    /// The command [`SweepDir::launch`] runs, to start it without waiting.
    pub fn launch_command(&self, args: &[&str], path: Option<&OsString>) -> Command {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin!("launch"));
        command.args(args).current_dir(self.path());
        if let Some(path) = path {
            command.env("PATH", path);
        }
        command
    }

    /// A folder `bin-{name}` with the given executable scripts, for the front of PATH.
    pub fn bin_dir(&self, name: &str, scripts: &[(&str, &str)]) -> PathBuf {
        let dir = self.path().join(format!("bin-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in scripts {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    /// The lines of `{run_dir}/inference_logs/launch/submissions.jsonl`, parsed.
    pub fn submissions(&self, run_dir: &str) -> Vec<Value> {
        let path = self
            .path()
            .join(run_dir)
            .join("inference_logs/launch/submissions.jsonl");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read `{}`: {err}", path.display()));
        text.lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

/// PATH with `dir` in front.
pub fn path_with(dir: &Path) -> OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).expect("a valid PATH")
}

/// A sweep config for the test cluster: one experiment whose runs are the given models.
#[derive(Debug, Clone)]
pub struct Config {
    pub experiment: String,
    pub models: Vec<String>,
    pub prompt_template: (String, String),
    pub continue_on_failure: bool,
    /// `#SBATCH --hold`: jobs wait in the queue until released or cancelled.
    pub hold: bool,
    pub partition: Option<String>,
    pub time: String,
}

impl Config {
    /// Runs named after `models` (`org/NAME` each) in experiment `experiment`, held.
    pub fn new(experiment: &str, models: &[&str]) -> Self {
        Config {
            experiment: experiment.to_owned(),
            models: models.iter().map(|model| format!("org/{model}")).collect(),
            prompt_template: ("p".into(), "Summarize: [[DOCUMENT]]".into()),
            continue_on_failure: true,
            hold: true,
            partition: None,
            time: "0:05:00".into(),
        }
    }

    /// The YAML text, sized for `cluster` (one CPU per GPU and its memory per CPU).
    pub fn yaml(&self, cluster: &bench_tests::Cluster) -> String {
        let json = |text: &str| serde_json::to_string(text).expect("a string");
        let mut yaml = String::new();
        let _ = writeln!(yaml, "script: \"scripts/gen.py\"");
        let _ = writeln!(yaml, "continue_on_failure: {}", self.continue_on_failure);
        let _ = writeln!(yaml, "slurm:");
        let _ = writeln!(yaml, "  cpus-per-gpu: 1");
        let _ = writeln!(yaml, "  mem-per-cpu: \"{}M\"", cluster.mem_per_cpu_mb());
        let _ = writeln!(yaml, "  python: {}", json(&python3()));
        if let Some(partition) = &self.partition {
            let _ = writeln!(yaml, "  partition: {}", json(partition));
        }
        if self.hold {
            let _ = writeln!(yaml, "  sbatch-args:\n    hold: \"\"");
        }
        let _ = writeln!(yaml, "fixed_args:");
        let _ = writeln!(yaml, "  output-dir: \"results\"");
        let _ = writeln!(yaml, "  time: {}", json(&self.time));
        let _ = writeln!(
            yaml,
            "  prompt-template: [{}, {}]",
            json(&self.prompt_template.0),
            json(&self.prompt_template.1)
        );
        let _ = writeln!(yaml, "experiments:");
        let _ = writeln!(yaml, "  - name: {}", json(&self.experiment));
        let _ = writeln!(yaml, "    args:");
        let models: Vec<String> = self.models.iter().map(|m| json(m)).collect();
        let _ = writeln!(yaml, "      model-name-or-path: [{}]", models.join(", "));
        yaml
    }
}

/// The JSON lines of `launch --json`, keyed by run name (names are unique in these tests).
pub fn lines_by_name(output: &Output) -> BTreeMap<String, Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not a JSON line: `{line}`: {err}"));
            (value["name"].as_str().expect("a name").to_owned(), value)
        })
        .collect()
}

/// The run name of model `org/{model}` under prompt `p`: `p-{model with - as _}`.
pub fn run_name(model: &str) -> String {
    format!("p-{}", model.replace('-', "_"))
}

/// `launch`'s stdout and stderr, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The job ids of `submitted` lines, guarded so they are cancelled when the test ends.
pub fn cancel_submitted(lines: &BTreeMap<String, Value>) -> Vec<bench_tests::CancelOnDrop> {
    lines
        .values()
        .filter(|line| line["decision"] == "submitted")
        .filter_map(|line| line["job_id"].as_str())
        .filter_map(bench_tests::parse_parsable)
        .map(bench_tests::CancelOnDrop::new)
        .collect()
}

/// Every file below `dir` with its size and a hash of its bytes, and every folder.
pub fn tree_listing(dir: &Path) -> BTreeMap<PathBuf, Option<(u64, u64)>> {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    let mut listing = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                listing.insert(path.clone(), None);
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                let mut hasher = DefaultHasher::new();
                bytes.hash(&mut hasher);
                listing.insert(path, Some((bytes.len() as u64, hasher.finish())));
            }
        }
    }
    listing
}
