//! The sample config's first run, rendered with the built-in template: a snapshot of the
//! script (token fixed), `bash -n` and `shellcheck` on it, and its kwargs JSON exactly as
//! `docs/launch.md` shows.

use crate::common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use bench_core::model_config::NoModelConfigs;
use bench_core::sweep::{LoadContext, ScriptFile, Sweep, load_sweep};
use launch::template::Template;
use serde_json::Value;

fn sample() -> Sweep {
    let path = common::repo_root().join("configs/sample_benchmark_config.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read `{}`: {err}", path.display()));
    let ctx = LoadContext {
        dry_run: true,
        script_file: &|_| ScriptFile::File,
        model_configs: &NoModelConfigs,
    };
    load_sweep(&text, "configs/sample_benchmark_config.yaml", &ctx).expect("the sample loads")
}

fn first_script() -> String {
    let sweep = sample();
    let run = &sweep.runs[0];
    Template::builtin()
        .unwrap()
        .renderer(&sweep.settings)
        .unwrap()
        .render(run, "0123456789abcdef")
        .unwrap()
        .script
}

/// Feed `script` to `program args` on stdin; its exit status and output.
fn check_with(program: &str, args: &[&str], script: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("`{program}` must be installed for this test (`.ci/run` installs it): {err}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn the_sample_configs_first_run_renders_as_snapshotted() {
    insta::assert_snapshot!(first_script());
}

#[test]
#[ignore = "needs shellcheck, installed by scripts/test.sh"]
fn the_rendered_script_passes_bash_n_and_shellcheck() {
    let script = first_script();
    let (ok, words) = check_with("bash", &["-n"], &script);
    assert!(ok, "bash -n: {words}");
    let (ok, words) = check_with("shellcheck", &["-s", "bash", "-"], &script);
    assert!(ok, "shellcheck: {words}");
}

#[test]
fn the_kwargs_of_the_sample_configs_first_run_are_the_documented_ones() {
    let sweep = sample();
    let expected = common::json_fixture("launch/sample-first-run-kwargs.json");
    assert_eq!(Value::Object(sweep.runs[0].kwargs()), expected);
    // Types too: `temperature` is a float, `max_examples` an integer, `time` a string.
    let kwargs = sweep.runs[0].kwargs();
    assert!(kwargs["temperature"].is_f64());
    assert!(kwargs["max_examples"].is_u64());
    assert_eq!(kwargs["time"], "1:59:00");
}
