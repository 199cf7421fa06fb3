//! Hostile inputs `launch` must refuse or survive: special and huge files, templates that
//! recurse or never end, names that would run commands on a template's shell line, and
//! paths that alias one directory. Dry runs with a fake `squeue` listing no job (no job is
//! submitted by these tests).

use crate::common;

use std::ffi::OsString;
use std::process::{Command, Output};

use common::{SweepDir, path_with, show};
use serde_json::Value;

/// A sweep directory with a fake `squeue` that lists no job.
fn sweep() -> (SweepDir, OsString) {
    let sweep = SweepDir::new();
    let bin = sweep.bin_dir("fake-squeue", &[("squeue", "#!/bin/sh\nexit 0\n")]);
    let path = path_with(&bin);
    (sweep, path)
}

/// A one-experiment config over `models`, with `extra` appended to the `slurm:` section.
fn config(models: &[&str], slurm_extra: &str) -> String {
    let models: Vec<String> = models
        .iter()
        .map(|m| serde_json::to_string(m).unwrap())
        .collect();
    format!(
        "script: \"scripts/gen.py\"\nslurm:\n  mem-per-cpu: \"1000M\"\n{slurm_extra}\
         fixed_args:\n  time: \"1:00:00\"\n  prompt-template: [\"p\", \"Say [[DOCUMENT]]\"]\n\
         experiments:\n  - name: e\n    args:\n      model-name-or-path: [{}]\n",
        models.join(", ")
    )
}

/// `launch ARGS` in `sweep`, under `ulimit -v` (1 GiB of address space): a read that grew
/// without bound would fail there instead of filling the machine.
fn launch_bounded(sweep: &SweepDir, path: &OsString, args: &[&str]) -> Output {
    sweep.launch_bounded(args, path)
}

/// The one `--json` line of `launch --config c.yaml --dry-run --json` (exit 0).
fn dry_run_line(sweep: &SweepDir, path: &OsString) -> Value {
    let output = launch_bounded(sweep, path, &["--config", "c.yaml", "--dry-run", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}: {}", show(&output)))
}

/// The stderr of `launch ARGS` (under `ulimit -v`), which must refuse the input: exit 2.
fn refusal(sweep: &SweepDir, path: &OsString, args: &[&str]) -> String {
    let output = launch_bounded(sweep, path, args);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    stderr(&output)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn dev_zero_as_config_or_template_is_refused_in_bounded_memory() {
    let (sweep, path) = sweep();
    let output = launch_bounded(&sweep, &path, &["--config", "/dev/zero", "--dry-run"]);
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(
        stderr(&output),
        "error: the config `/dev/zero` is a character device, not a regular file: not read\n"
    );
    sweep.write("c.yaml", &config(&["org/a"], ""));
    let output = launch_bounded(
        &sweep,
        &path,
        &["--config", "c.yaml", "--dry-run", "--template", "/dev/zero"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    assert_eq!(
        stderr(&output),
        "error: the template `/dev/zero` is a character device, not a regular file: not read\n"
    );
}

#[test]
fn a_config_through_a_pipe_works_and_a_huge_one_is_refused() {
    let (sweep, path) = sweep();
    let yaml = config(&["org/a"], "");
    // `--config <(cat c.yaml)`: a pipe, as bash's process substitution gives.
    let binary = assert_cmd::cargo::cargo_bin!("launch");
    let output = Command::new("bash")
        .arg("-c")
        .arg("exec \"$0\" --config <(printf '%s' \"$1\") --dry-run --json")
        .arg(binary)
        .arg(&yaml)
        .current_dir(sweep.path())
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["decision"], "would_submit");
    // 17 MiB of comments through a pipe: over the 16 MiB cap, refused in bounded memory.
    let output = Command::new("bash")
        .arg("-c")
        .arg(
            "ulimit -v 1048576 && exec \"$0\" --config <(head -c 17825792 /dev/zero | tr '\\0' '#') \
             --dry-run",
        )
        .arg(binary)
        .current_dir(sweep.path())
        .env("PATH", &path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let text = stderr(&output);
    assert!(
        text.starts_with("error: the config `/dev/fd/")
            && text.ends_with("` is larger than 16 MiB, the most read of such a file: not read\n"),
        "{text}"
    );
}

#[test]
fn an_executor_json_naming_a_trillion_tasks_is_a_run_not_completed() {
    let (sweep, path) = sweep();
    sweep.write("c.yaml", &config(&["org/a"], ""));
    let run_dir = dry_run_line(&sweep, &path)["run_dir"]
        .as_str()
        .unwrap()
        .to_owned();
    sweep.write_in_run(
        &run_dir,
        "inference_logs/executor.json",
        br#"{"tasks": 1000000000000, "workers": -1}"#,
    );
    sweep.write_in_run(&run_dir, "inference_logs/stats/00000.json", b"[]");
    assert_eq!(dry_run_line(&sweep, &path)["decision"], "would_submit");
}

#[test]
fn a_stats_json_with_python_nan_in_a_stat_we_do_not_use_is_completed() {
    let (sweep, path) = sweep();
    sweep.write("c.yaml", &config(&["org/a"], ""));
    let run_dir = dry_run_line(&sweep, &path)["run_dir"]
        .as_str()
        .unwrap()
        .to_owned();
    // As Python's json.dump writes a reader's non-finite float.
    sweep.write_in_run(
        &run_dir,
        "inference_logs/stats.json",
        br#"[{"name": "Reader", "stats": {"doc_len": NaN, "ratio": -Infinity}},
             {"name": "Model call", "time_stats": {"total": 10.0},
              "stats": {"prompt_tokens": 100, "completion_tokens": 50, "successful_requests": 2,
                        "inference_time": 10.0, "load": Infinity}}]"#,
    );
    assert_eq!(dry_run_line(&sweep, &path)["decision"], "skipped_completed");
}

/// A user template that puts `{{ run_dir }}` on a shell line, unquoted.
const SHELL_LINE_TEMPLATE: &str = "#!/bin/bash\n\
    #SBATCH --job-name={{ job_name }}\n\
    #SBATCH --output={{ slurm_logs }}/%j_0.out\n\
    #SBATCH --comment={{ comment }}\n\
    echo {{ run_dir }} > \"$SEEN\"\n";

#[test]
fn names_with_shell_syntax_are_refused_naming_the_character() {
    let (sweep, path) = sweep();
    sweep.write("t.tera", SHELL_LINE_TEMPLATE);
    for c in [
        ';', '$', '`', '|', '&', '<', '>', '(', ')', '{', '}', '\\', '"', '\'', '*', '?',
    ] {
        let model = format!("org/x{c}touch${{IFS}}pwned{c}y");
        sweep.write("c.yaml", &config(&[&model], ""));
        let output = launch_bounded(
            &sweep,
            &path,
            &["--config", "c.yaml", "--dry-run", "--template", "t.tera"],
        );
        assert_eq!(output.status.code(), Some(2), "{c}: {}", show(&output));
        let text = stderr(&output);
        let shown = if c == '\\' {
            "`\\`".to_owned()
        } else {
            format!("`{c}`")
        };
        assert!(
            text.contains(&format!("must not contain {shown}")),
            "{c}: {text}"
        );
        assert!(text.contains("model-name-or-path"), "{c}: {text}");
    }
    // A bidirectional override reads as nothing at all.
    sweep.write("c.yaml", &config(&["org/abc\u{202e}fed"], ""));
    let text = refusal(&sweep, &path, &["--config", "c.yaml", "--dry-run"]);
    assert!(text.contains("must not contain `\\u{202e}`"), "{text}");
}

#[test]
fn an_accepted_odd_name_on_a_shell_line_runs_nothing_but_the_line() {
    let (sweep, path) = sweep();
    sweep.write("t.tera", SHELL_LINE_TEMPLATE);
    let model = "org/a+b=c,d@e^f!g~h[i]j";
    sweep.write("c.yaml", &config(&[model], ""));
    let output = launch_bounded(
        &sweep,
        &path,
        &[
            "--config",
            "c.yaml",
            "--dry-run",
            "--json",
            "--show-script",
            "--template",
            "t.tera",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    let run_dir = line["run_dir"].as_str().unwrap();
    let text = stderr(&output);
    let script = text
        .split_once("#!/bin/bash\n")
        .map(|(_, rest)| format!("#!/bin/bash\n{}", rest.split("\nsummary:").next().unwrap()))
        .expect("the script is shown");
    // Run the rendered script with bash in an empty directory: it writes the run directory,
    // word for word, and nothing else appears.
    let scratch = tempfile::tempdir().unwrap();
    let seen = scratch.path().join("seen");
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(scratch.path())
        .env("SEEN", &seen)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        format!("{run_dir}\n")
    );
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 1);
}

#[test]
fn recursive_endless_and_outputless_templates_are_refused_with_exit_2() {
    let (sweep, path) = sweep();
    sweep.write("c.yaml", &config(&["org/a"], ""));
    let header = "#!/bin/bash\n#SBATCH --output={{ slurm_logs }}/%j_0.out\n\
                  #SBATCH --comment={{ comment }}\n";
    let cases = [
        (
            format!("{header}{{% include \"sbatch\" %}}\n"),
            "uses `{% include %}`: a template is one file",
        ),
        (
            format!(
                "{header}{{% macro f(n) %}}{{{{ self::f(n=n) }}}}{{% endmacro f %}}{{{{ self::f(n=1) }}}}\n"
            ),
            "uses `{% macro %}`: a template is one file",
        ),
        (
            format!("{header}{{% for i in range(end=6000000) %}}x{{% endfor %}}\n"),
            "larger than 4 MiB, which SLURM refuses",
        ),
        (
            "#!/bin/bash\n#SBATCH --comment={{ comment }}\necho\n".to_owned(),
            "without `--output`",
        ),
        (
            "#!/bin/bash\n#SBATCH --output=/tmp/x-%j.out\n#SBATCH --comment={{ comment }}\n"
                .to_owned(),
            "whose `--output` is `/tmp/x-%j.out`, not a `.out` file in",
        ),
    ];
    for (template, expected) in cases {
        sweep.write("t.tera", &template);
        let output = launch_bounded(
            &sweep,
            &path,
            &["--config", "c.yaml", "--dry-run", "--template", "t.tera"],
        );
        assert_eq!(
            output.status.code(),
            Some(2),
            "{template}: {}",
            show(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{template}: {}",
            show(&output)
        );
    }
}

#[test]
fn a_dot_component_in_a_model_or_output_dir_is_refused() {
    let (sweep, path) = sweep();
    sweep.write("c.yaml", &config(&["org/a/b", "org/a/./b"], ""));
    let text = refusal(&sweep, &path, &["--config", "c.yaml", "--dry-run"]);
    assert!(
        text.contains("`org/a/./b`") && text.contains("must not contain a `.` component"),
        "{text}"
    );
    sweep.write(
        "c.yaml",
        &config(&["org/a"], "").replace("fixed_args:\n", "fixed_args:\n  output-dir: ./out\n"),
    );
    let text = refusal(&sweep, &path, &["--config", "c.yaml", "--dry-run"]);
    assert!(text.contains("write the path without `./`"), "{text}");
}

#[test]
fn a_config_nested_100000_levels_deep_is_refused_before_it_is_parsed() {
    let (sweep, path) = sweep();
    sweep.write(
        "c.yaml",
        &format!(
            "experiments: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
    );
    let text = refusal(&sweep, &path, &["--config", "c.yaml", "--dry-run"]);
    assert!(
        text.contains(
            "malformed YAML at line 1, column 142: `[` and `{` nested more than 128 levels deep"
        ),
        "{text}"
    );
}
