//! `launch --config FILE --dry-run` end to end: every run listed, and an invalid config
//! refused with exit code 2 and nothing else done.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn sample_config() -> PathBuf {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/sample_benchmark_config.yaml");
    assert!(
        path.is_file(),
        "the sample config is missing: {}",
        path.display()
    );
    path
}

/// The folder, inside each test's `cwd`, of the fake `squeue` these tests put first on
/// PATH (an empty queue, so the output does not depend on a cluster); [`files`] skips it.
const FAKE_BIN: &str = ".fake-bin";

/// `launch` run in `cwd`, with an empty Hugging Face cache (never the user's own) and an
/// empty queue.
fn launch(cwd: &Path) -> Command {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = cwd.join(FAKE_BIN);
    fs::create_dir_all(&bin).unwrap();
    let squeue = bin.join("squeue");
    fs::write(&squeue, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&squeue, fs::Permissions::from_mode(0o755)).unwrap();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut cmd = Command::cargo_bin("launch").unwrap();
    cmd.current_dir(cwd)
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("HF_HUB_CACHE", cwd.join("no-hf-cache"))
        .env_remove("HF_HOME");
    cmd
}

/// Every file under `dir` (but the fake `squeue`), relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    let fake_bin = dir.join(FAKE_BIN);
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path == fake_bin {
                // The fake `squeue` of `launch()`, not the program's output.
            } else if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The default dry run's lines for the sample config, checked to come out of an empty queue
/// with exit code 0, nothing on stdout and nothing written.
fn sample_dry_run(extra: &[&str]) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let output = launch(tmp.path())
        .arg("--config")
        .arg(sample_config())
        .arg("--dry-run")
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    // A dry run writes nothing.
    assert_eq!(files(tmp.path()), Vec::<String>::new());
    let stderr = String::from_utf8(output.stderr).unwrap();
    stderr
        .replace(&sample_config().display().to_string(), "[sample config]")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn dry_run_of_the_sample_config_lists_every_run_once_on_one_line() {
    let lines = sample_dry_run(&[]);
    // The cache is empty: the models with tp > 1 are named as not checked.
    assert!(
        lines[0].starts_with(
            "warning: attention heads not checked against tp for 14 model(s) without a local \
             `config.json`"
        ),
        "{}",
        lines[0]
    );
    // The script is not here: a warning in a dry run.
    assert_eq!(
        lines[1],
        "warning: script `examples/inference/generate_data.py` not found (relative to the \
         current directory); a real submission would refuse this config"
    );
    // One line per run (759), then the counts (1 + 8 experiments) and the cost (2): a person
    // can read it, and nothing is listed twice.
    assert_eq!(lines.len(), 2 + 1 + 759 + 9 + 2);
    assert!(lines.len() < 900);
    let runs: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("  would_submit  "))
        .collect();
    assert_eq!(runs.len(), 759);
    assert_eq!(
        runs[0],
        "  would_submit  tutorial-SmolLM2_135M_Instruct  [tier0-tiny]"
    );
    assert!(!lines.iter().any(|l| l.contains("#SBATCH")));
    let small = runs
        .iter()
        .position(|l| l.as_str() == "  would_submit  tutorial-SmolLM2_1.7B_Instruct  [tier0-small]")
        .unwrap();
    assert_eq!(
        [runs[small + 1].as_str(), runs[small + 2].as_str()],
        [
            "  would_submit  tutorial-SmolLM2_1.7B_Instruct-tp2  [tier0-small]",
            "  would_submit  tutorial-gemma_3_1b_it  [tier0-small]"
        ]
    );
    // Per experiment: models x tp values x 5 max-num-seqs x 3 max-num-batched-tokens in
    // tier 0; entries x 2 gpu-memory-utilization x 4 speculative configs in tier 1.
    assert_eq!(
        lines[lines.len() - 11..],
        [
            "759 runs (741 distinct names): 759 would_submit",
            "  tier0-tiny: 60 would_submit",
            "  tier0-small: 180 would_submit",
            "  tier0-medium: 315 would_submit",
            "  tier0-large: 60 would_submit",
            "  tier1-tiny: 32 would_submit",
            "  tier1-small: 48 would_submit",
            "  tier1-medium: 56 would_submit",
            "  tier1-large: 8 would_submit",
            "dry run: 759 of 759 selected runs would be submitted: 759 jobs, 1,514 GPUs, 3,002.8 GPU-hours",
            "  (GPU-hours are an upper bound: each job's GPUs for its whole time limit; jobs that \
             end earlier cost less)"
        ]
    );
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn no_warnings_silences_the_warnings_and_json_lines_carry_the_runs_args() {
    let lines = sample_dry_run(&["--no-warnings"]);
    assert!(!lines.iter().any(|l| l.contains("warning")), "{lines:?}");
    assert_eq!(lines.len(), 1 + 759 + 9 + 2);

    let tmp = tempfile::tempdir().unwrap();
    let output = launch(tmp.path())
        .arg("--config")
        .arg(sample_config())
        .args([
            "--dry-run",
            "--json",
            "--only",
            "^tutorial-SmolLM2_135M_Instruct$",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let first: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    // The documented first line (`docs/launch.md`), `args` included: the run's args as the
    // config gives them (`output_dir` is the config's `output-dir`; the kwargs add the
    // experiment).
    let example = crate::common::json_fixture("launch/sample-first-run-dry-run-line.json");
    assert_eq!(first, example);
    let args = &first["args"];
    assert_eq!(
        [
            &args["max_num_seqs"],
            &args["model_name_or_path"],
            &args["output_dir"]
        ],
        [
            &serde_json::json!(256),
            &serde_json::json!("HuggingFaceTB/SmolLM2-135M-Instruct"),
            &serde_json::json!("examples/inference/benchmark/results")
        ]
    );
}

#[test]
fn a_verbose_dry_run_shows_each_runs_directives_and_kwargs_once() {
    let lines = sample_dry_run(&["--verbose"]);
    let headers: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("would_submit "))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(headers.len(), 759);
    let first = headers[0];
    assert_eq!(lines[first], "would_submit tutorial-SmolLM2_135M_Instruct");
    assert_eq!(
        lines[first + 1],
        "    examples/inference/benchmark/results/tier0-tiny/tutorial/SmolLM2_135M_Instruct/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
    assert_eq!(
        lines[first + 2],
        "    #SBATCH --job-name=tutorial-SmolLM2_135M_Instruct"
    );
    // 10 directives, then the kwargs the script gets (the documented fixture's).
    let kwargs = lines[first + 12]
        .strip_prefix("    kwargs: ")
        .unwrap_or_else(|| panic!("{}", lines[first + 12]));
    let kwargs: serde_json::Value = serde_json::from_str(kwargs).unwrap();
    let expected = crate::common::json_fixture("launch/sample-first-run-kwargs.json");
    assert_eq!(kwargs, expected);
    assert_eq!(headers[1], first + 13);
    // No run is listed a second time in the summary: the counts and the cost follow.
    assert!(!lines.iter().any(|l| l.starts_with("  would_submit ")));
    assert_eq!(
        lines[lines.len() - 2],
        "dry run: 759 of 759 selected runs would be submitted: 759 jobs, 1,514 GPUs, 3,002.8 GPU-hours"
    );
}

#[test]
fn an_invalid_config_exits_2_with_every_problem_and_does_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("s.py"), "").unwrap();
    fs::write(
        tmp.path().join("bad.yaml"),
        "script: s.py\nexperiments:\n  - name: e\n    args:\n      max-num-seq: 512\n      tp: [0, 2]\n",
    )
    .unwrap();
    for dry_run in [true, false] {
        let mut cmd = launch(tmp.path());
        cmd.args(["--config", "bad.yaml"]);
        if dry_run {
            cmd.arg("--dry-run");
        }
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(output.stdout.is_empty());
        assert_eq!(
            String::from_utf8(output.stderr).unwrap(),
            "error: invalid sweep config `bad.yaml`: 2 problems\n  \
             - experiment `e` (entry 1 of `experiments`), `max-num-seq`: unknown key; did you mean `max-num-seqs`?\n    \
             hint: for a script with extra options, set `strict_args: false` to pass unknown keys through\n  \
             - experiment `e` (entry 1 of `experiments`), `tp`, value `0`: must be a positive integer (at least 1)\n"
        );
        assert_eq!(files(tmp.path()), ["bad.yaml", "s.py"]);
    }
}

#[test]
fn malformed_yaml_exits_2_with_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("bad.yaml"),
        "script: s.py\nexperiments: [\n",
    )
    .unwrap();
    launch(tmp.path())
        .args(["--config", "bad.yaml", "--dry-run"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::starts_with(
            "error: invalid sweep config `bad.yaml`: 1 problem\n  - malformed YAML at line 3, column 1: ",
        ));
}

#[test]
fn a_missing_script_is_an_error_when_submitting_and_a_warning_in_a_dry_run() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("c.yaml"),
        "script: gone.py\nexperiments:\n  - name: e\n",
    )
    .unwrap();
    launch(tmp.path())
        .args(["--config", "c.yaml"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: invalid sweep config `c.yaml`: 1 problem\n  - top level, `script`, value \
             `gone.py`: the script file does not exist (relative paths are relative to the \
             current directory); `--dry-run` previews a sweep without it\n",
        );
    launch(tmp.path())
        .args(["--config", "c.yaml", "--dry-run"])
        .assert()
        .code(0)
        .stdout("")
        .stderr(predicates::str::starts_with(
            "warning: script `gone.py` not found (relative to the current directory); a real \
             submission would refuse this config\nsummary:\n  would_submit  Qwen3_0.6B  [e]\n",
        ))
        .stderr(predicates::str::ends_with(
            "1 run (1 distinct name): 1 would_submit\n\
             dry run: 1 of 1 selected runs would be submitted: 1 job, 1 GPU, 0.0 GPU-hours; 1 run \
             without a time limit (not in the GPU-hours)\n  (GPU-hours are an upper bound: each \
             job's GPUs for its whole time limit; jobs that end earlier cost less)\n",
        ));
}

#[test]
fn a_missing_config_file_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    launch(tmp.path())
        .args(["--config", "nope.yaml", "--dry-run"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with(
            "error: failed to read the config `nope.yaml`: ",
        ));
}

#[test]
fn attention_heads_are_checked_against_the_hf_home_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("hf/hub/models--org--m");
    fs::create_dir_all(repo.join("snapshots/abc")).unwrap();
    fs::write(
        repo.join("snapshots/abc/config.json"),
        r#"{"num_attention_heads": 6}"#,
    )
    .unwrap();
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), "abc").unwrap();
    fs::write(tmp.path().join("s.py"), "").unwrap();
    fs::write(
        tmp.path().join("c.yaml"),
        "script: s.py\nexperiments:\n  - name: e\n    args: {model-name-or-path: org/m, tp: [2, 4]}\n",
    )
    .unwrap();
    Command::cargo_bin("launch")
        .unwrap()
        .current_dir(tmp.path())
        .env_remove("HF_HUB_CACHE")
        .env("HF_HOME", tmp.path().join("hf"))
        .args(["--config", "c.yaml", "--dry-run"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(
            "error: invalid sweep config `c.yaml`: 1 problem\n  - experiment `e` (entry 1 of \
             `experiments`), `tp`, value `4`: tp does not divide the 6 attention heads of \
             `org/m` (from its local `config.json`)\n",
        );
}
