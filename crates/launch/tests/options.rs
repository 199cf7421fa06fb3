//! `--only`, `--show-script`, user templates and template problems, and in-flight runs read
//! from a queue listing; `squeue` is a fake here that prints a given listing and notes each
//! call (no job is submitted by these tests).

use crate::common;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::Output;

use common::{SweepDir, path_with, show};
use serde_json::Value;

/// A sweep folder with a fake `squeue` printing `queue`, logging each call to `squeue-calls`.
fn sweep_with_queue(queue: &str) -> (SweepDir, OsString) {
    let sweep = SweepDir::new();
    let listing = sweep.write("queue.txt", queue);
    let calls = sweep.path().join("squeue-calls");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> '{}'\ncat '{}'\n",
        calls.display(),
        listing.display()
    );
    let bin = sweep.bin_dir("fake-squeue", &[("squeue", &script)]);
    let path = path_with(&bin);
    (sweep, path)
}

/// Two experiments: `alpha` (models a, b) and `beta` (model c), built-in template unless
/// `template` names one.
fn config(template: Option<&str>) -> String {
    let mut yaml = String::from(
        "script: \"scripts/gen.py\"\nslurm:\n  cpus-per-gpu: 2\n  mem-per-cpu: \"1000M\"\n",
    );
    if let Some(template) = template {
        let _ = writeln!(yaml, "  template: \"{template}\"");
    }
    yaml.push_str(
        "fixed_args:\n  time: \"2-00:00:00\"\n  prompt-template: [\"p\", \"Say [[DOCUMENT]]\"]\n\
         experiments:\n  - name: alpha\n    args:\n      model-name-or-path: [\"org/a\", \"org/b\"]\n\
         \x20 - name: beta\n    args:\n      model-name-or-path: \"org/c\"\n      tp: 2\n",
    );
    yaml
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn only_selects_by_name_or_experiment_and_counts_the_selection() {
    let (sweep, path) = sweep_with_queue("");
    sweep.write("c.yaml", &config(None));
    let by_experiment = sweep.launch(
        &["--config", "c.yaml", "--dry-run", "--json", "--only", "bet"],
        Some(&path),
    );
    assert_eq!(
        by_experiment.status.code(),
        Some(0),
        "{}",
        show(&by_experiment)
    );
    let names: Vec<Value> = json_lines(&by_experiment)
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    assert_eq!(names, ["p-c-tp2"]);
    let text = stderr(&by_experiment);
    assert!(
        text.contains("1 run (1 distinct name): 1 would_submit"),
        "{text}"
    );
    assert!(
        text.contains(
            "dry run: 1 of 1 selected runs would be submitted: 1 job, 2 GPUs, 96.0 GPU-hours"
        ),
        "{text}"
    );
    assert!(
        text.contains("(`--only` selected 1 of the config's 3 runs)"),
        "{text}"
    );

    let by_name = sweep.launch(
        &[
            "--config",
            "c.yaml",
            "--dry-run",
            "--json",
            "--only",
            "^p-[ab]$",
        ],
        Some(&path),
    );
    let names: Vec<Value> = json_lines(&by_name)
        .iter()
        .map(|l| l["name"].clone())
        .collect();
    assert_eq!(names, ["p-a", "p-b"]);
    assert!(
        !stderr(&by_name).contains("matches neither"),
        "{}",
        show(&by_name)
    );

    // The run directory too: `tp1-pp1` is in the directory of runs at the default tp only
    // (alpha's), `tp2-pp1` in beta's, whose name says `tp2`, and `mns_256` in every one.
    for (only, expected) in [
        ("tp1-pp1", &["p-a", "p-b"][..]),
        ("tp2-pp1", &["p-c-tp2"][..]),
        ("/mns_256/", &["p-a", "p-b", "p-c-tp2"][..]),
    ] {
        let by_dir = sweep.launch(
            &["--config", "c.yaml", "--dry-run", "--json", "--only", only],
            Some(&path),
        );
        assert_eq!(by_dir.status.code(), Some(0), "{}", show(&by_dir));
        let names: Vec<Value> = json_lines(&by_dir)
            .iter()
            .map(|l| l["name"].clone())
            .collect();
        assert_eq!(names, expected, "--only {only}");
    }

    // Selecting nothing is no error, but it says so.
    let none = sweep.launch(
        &["--config", "c.yaml", "--dry-run", "--only", "^gamma"],
        Some(&path),
    );
    assert_eq!(none.status.code(), Some(0), "{}", show(&none));
    assert!(
        stderr(&none).contains(
            "warning: `--only ^gamma` matches neither the name, the experiment nor the run \
             directory of any of the config's 3 runs: nothing to do"
        ),
        "{}",
        show(&none)
    );

    // The whole config is still validated.
    sweep.write(
        "bad.yaml",
        &config(None).replace("tp: 2", "tp: 3\n      max-num-seqs: 0"),
    );
    let bad = sweep.launch(
        &["--config", "bad.yaml", "--dry-run", "--only", "alpha"],
        Some(&path),
    );
    assert_eq!(bad.status.code(), Some(2), "{}", show(&bad));
}

/// A dry run of experiment `beta` only, with JSON lines.
const BETA_DRY_RUN: [&str; 6] = [
    "--config",
    "c.yaml",
    "--dry-run",
    "--json",
    "--only",
    "beta",
];

/// `launch --config c.yaml --dry-run --json --only beta EXTRA` on the built-in template.
fn dry_run_of_beta(extra: &[&str]) -> Output {
    let (sweep, path) = sweep_with_queue("");
    sweep.write("c.yaml", &config(None));
    let mut args = BETA_DRY_RUN.to_vec();
    args.extend(extra);
    sweep.launch(&args, Some(&path))
}

#[test]
fn the_sbatch_object_holds_every_directive_but_the_comment() {
    let output = dry_run_of_beta(&[]);
    let line = &json_lines(&output)[0];
    let log = format!(
        "{}/inference_logs/slurm_logs/%j_0.out",
        line["run_dir"].as_str().unwrap()
    );
    assert_eq!(
        line["sbatch"],
        serde_json::json!({
            "job-name": "p-c-tp2",
            "output": log,
            "error": log,
            "nodes": "1",
            "gpus": "2",
            "cpus-per-task": "4",
            "mem-per-cpu": "1000M",
            "time": "2-00:00:00",
        })
    );
    assert_eq!(line["gpus"], 2);
    assert_eq!(line["in_flight_unknown"], false);
    assert_eq!(line["reason"], Value::Null);
}

#[test]
fn the_sbatch_object_holds_only_the_directives_sbatch_reads() {
    let (sweep, path) = sweep_with_queue("");
    // sbatch reads several options per line and drops quotes and trailing comments; an
    // indented `#SBATCH` is a comment, and it reads none after the first command. A short
    // option shows under its long name, as the built-in template's do.
    sweep.write(
        "mine.sh.tera",
        "#!/bin/bash\n# {{ job_name }}\n#SBATCH -J {{ job_name }} --gpus \"{{ gpus }}\" # GPUs\n\
         \x20 #SBATCH --qos=indented\n\n#SBATCH --comment={{ comment }}\n\
         #SBATCH --output={{ slurm_logs }}/%j_0.out\necho hi\n\
         #SBATCH --time=9\n",
    );
    sweep.write("c.yaml", &config(Some("mine.sh.tera")));
    let output = sweep.launch(&BETA_DRY_RUN, Some(&path));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let line = &json_lines(&output)[0];
    let run_dir = line["run_dir"].as_str().unwrap();
    assert_eq!(
        line["sbatch"],
        serde_json::json!({
            "job-name": "p-c-tp2",
            "gpus": "2",
            "output": format!("{run_dir}/inference_logs/slurm_logs/%j_0.out")
        })
    );
}

#[test]
fn show_script_goes_to_stderr_when_json_holds_stdout() {
    let output = dry_run_of_beta(&["--show-script"]);
    assert_eq!(json_lines(&output).len(), 1);
    let text = stderr(&output);
    assert!(
        text.contains("set -euo pipefail\nexport PYTHONUNBUFFERED=1\n"),
        "{text}"
    );
    assert!(
        text.contains("<<'PY'\nimport importlib.util, json, sys\n"),
        "{text}"
    );
}

#[test]
fn jobs_in_the_queue_are_in_flight_whoever_submitted_them() {
    // The original Python launcher named its jobs `{run name}_inference`.
    let (sweep, path) =
        sweep_with_queue("77|p-a_inference|RUNNING|(null)\n78|someone-else|PENDING|bench:0000\n");
    sweep.write("c.yaml", &config(None));
    let output = sweep.launch(&["--config", "c.yaml", "--dry-run", "--json"], Some(&path));
    let lines = json_lines(&output);
    let decisions: Vec<(&str, &str, Value)> = lines
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap(),
                l["decision"].as_str().unwrap(),
                l["job_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        [
            ("p-a", "skipped_in_flight", Value::from("77")),
            ("p-b", "would_submit", Value::Null),
            ("p-c-tp2", "would_submit", Value::Null),
        ]
    );
    let calls = std::fs::read_to_string(sweep.path().join("squeue-calls")).unwrap();
    assert_eq!(
        calls, "--me -h -o %i|%j|%T|%k\n",
        "the queue is read once, with --me"
    );
}

#[test]
fn a_user_template_gets_the_same_variables_and_cli_args_is_refused_for_a_prompt_pair() {
    let (sweep, path) = sweep_with_queue("");
    let template = "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n#SBATCH --gpus={{ gpus }}\n\
                    #SBATCH --comment={{ comment }}\n#SBATCH --output={{ slurm_logs }}/%j_0.out\n\
                    {{ python | join(sep=\" \") }} {{ script }} \
                    {{ kwargs_json }} # {{ run_dir | shell_quote }}\n";
    sweep.write("mine.sh.tera", template);
    sweep.write("c.yaml", &config(Some("mine.sh.tera")));
    let output = sweep.launch(&BETA_DRY_RUN, Some(&path));
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let line = &json_lines(&output)[0];
    let run_dir = line["run_dir"].as_str().unwrap();
    assert_eq!(
        line["sbatch"],
        serde_json::json!({
            "job-name": "p-c-tp2",
            "gpus": "2",
            "output": format!("{run_dir}/inference_logs/slurm_logs/%j_0.out")
        })
    );

    std::fs::remove_file(sweep.path().join("squeue-calls")).unwrap();
    // `--template` wins over `slurm.template`; this one uses `cli_args`, which a prompt
    // pair cannot go through: refused for every run, naming them, before the queue is read.
    sweep.write(
        "cli.sh.tera",
        "#!/bin/bash\n#SBATCH --comment={{ comment }}\npython {{ script }} {{ cli_args }}\n",
    );
    let output = sweep.launch(
        &[
            "--config",
            "c.yaml",
            "--dry-run",
            "--template",
            "cli.sh.tera",
        ],
        Some(&path),
    );
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let text = stderr(&output);
    assert!(
        text.contains(
            "error: the template cannot be rendered for 3 of 3 runs; nothing was submitted:\n"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("hint: pass the args through `kwargs_json`")
            .count(),
        1
    );
    assert!(
        text.contains(
            "template `cli.sh.tera` uses `cli_args`, which cannot express `prompt_template` of \
             run `p-a`"
        ),
        "{text}"
    );
    assert!(
        !sweep.path().join("squeue-calls").exists(),
        "SLURM was contacted"
    );
}

#[test]
fn template_problems_stop_everything_before_slurm_is_contacted() {
    let (sweep, path) = sweep_with_queue("");
    sweep.write("c.yaml", &config(None));
    let cases = [
        (
            "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n",
            "template `t.tera` renders a script for run `p-a` (`data/alpha/p/a/",
        ),
        (
            // sbatch ignores `#SBATCH` lines after the first command: the job would carry
            // no token, and could be neither recognised in flight nor adopted.
            "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\nsleep 30\n\
             #SBATCH --comment={{ comment }}\n",
            "from which sbatch does not read `--comment=bench:",
        ),
        (
            "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\nsleep 30\n\
             #SBATCH --comment={{ comment }}\n",
            "it stops reading `#SBATCH` lines at line 3, the first command `sleep 30`",
        ),
        (
            // sbatch refuses a script whose first line is not `#!...`.
            "{# mine #}\n#!/bin/bash\n#SBATCH --comment={{ comment }}\n",
            "template `t.tera` renders a script for run `p-a` (`data/alpha/p/a/",
        ),
        (
            "#SBATCH --comment={{ comment }}\necho hi\n",
            "that sbatch refuses: its first line `\"#SBATCH --comment=bench:",
        ),
        (
            "#!/bin/bash\n#SBATCH --comment={{ comment }}\necho {{ model }}\n",
            "Variable `model` not found",
        ),
        (
            "#!/bin/bash\n#SBATCH --comment={{ comment }}\n{% for x in %}\n",
            "does not parse",
        ),
    ];
    for (template, words) in cases {
        sweep.write("t.tera", template);
        for dry_run in [true, false] {
            let mut args = vec!["--config", "c.yaml", "--template", "t.tera"];
            if dry_run {
                args.push("--dry-run");
            }
            let output = sweep.launch(&args, Some(&path));
            assert_eq!(output.status.code(), Some(2), "{}", show(&output));
            assert!(stderr(&output).contains(words), "{}", show(&output));
            assert!(output.stdout.is_empty());
        }
    }
    assert!(
        !sweep.path().join("squeue-calls").exists(),
        "SLURM was contacted"
    );
    assert!(!sweep.path().join("results").exists());
    assert!(!sweep.path().join("data").exists());
}
