//! `launch --help`: the four examples of issue 5, and a snapshot of the whole text.

#[test]
fn help_shows_the_examples() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_launch"))
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .expect("launch runs");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("UTF-8 help");
    for example in [
        "launch --config x.yaml --dry-run\n",
        "launch --config x.yaml\n",
        "launch --config x.yaml --skip-failure-reasons OOM\n",
        "launch --config x.yaml --skip-failure-reasons none",
    ] {
        assert!(help.contains(example), "missing `{example}` in:\n{help}");
    }
    insta::assert_snapshot!(help);
}

#[test]
fn a_misspelled_failure_class_is_refused_before_anything_happens() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_launch"))
        .args(["--config", "missing.yaml", "--skip-failure-reasons", "oom"])
        .output()
        .expect("launch runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown failure class `oom`; did you mean `OOM`?"),
        "{stderr}"
    );
}
