//! `launch` against the project's real one-node SLURM cluster (`scripts/local-slurm.sh`):
//! the "Must show" items of issue 5.

use crate::common;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Config, SweepDir, cancel_submitted, fixture, lines_by_name, path_with, run_name, show, which,
};
use serde_json::Value;

/// How long a real test job may wait and run before the test gives up (a guard against a
/// hung test, not a measure: other tests' jobs may hold the node for a while).
const JOB_LIMIT: Duration = Duration::from_mins(10);

fn unique(prefix: &str) -> String {
    bench_tests::unique_name(prefix)
}

fn exit_code(output: &std::process::Output) -> i32 {
    output.status.code().expect("launch exited, not killed")
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_hostile_prompt_template_arrives_byte_identical_and_nothing_runs() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let pwned = sweep.path().join("pwned");
    let pwned_backticks = sweep.path().join("pwned-backticks");
    let template = format!(
        "It's \"quoted\", 'single' and\nmulti-line $(touch {}) `touch {}` $HOME \\n [[DOCUMENT]]",
        pwned.display(),
        pwned_backticks.display()
    );
    let model = unique("hostile");
    let mut config = Config::new(&unique("prompt"), &[&model]);
    config.hold = false;
    config.prompt_template = ("hostile".into(), template.clone());
    sweep.write("sweep.yaml", &config.yaml(&cluster));

    let output = sweep.launch(&["--config", "sweep.yaml", "--json"], None);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    let name = format!("hostile-{}", model.replace('-', "_"));
    let line = &lines[&name];
    assert_eq!(line["decision"], "submitted", "{}", show(&output));
    let job_id = bench_tests::parse_parsable(line["job_id"].as_str().unwrap()).unwrap();
    bench_tests::wait_until_gone(&job_id, JOB_LIMIT).unwrap();

    let run_dir = line["run_dir"].as_str().unwrap();
    let out_file = sweep
        .path()
        .join(run_dir)
        .join(format!("inference_logs/slurm_logs/{job_id}_0.out"));
    let out = std::fs::read_to_string(&out_file)
        .unwrap_or_else(|err| panic!("no `{}`: {err}", out_file.display()));
    assert!(out.contains("fake inference done"), "job output: {out}");

    let output_dir = sweep.path().join("results").join(&config.experiment);
    let received = std::fs::read(output_dir.join(format!("received-{name}.prompt"))).unwrap();
    assert_eq!(
        received,
        template.as_bytes(),
        "the template changed on its way"
    );
    assert!(!pwned.exists(), "`$(...)` in the template was executed");
    assert!(
        !pwned_backticks.exists(),
        "backticks in the template were executed"
    );

    // The job received exactly the kwargs file launch wrote.
    let kwargs: Value = serde_json::from_slice(
        &std::fs::read(
            sweep
                .path()
                .join(run_dir)
                .join("inference_logs/launch/kwargs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let received: Value = serde_json::from_slice(
        &std::fs::read(output_dir.join(format!("received-{name}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(received, kwargs);
    assert_eq!(
        kwargs["prompt_template"],
        serde_json::json!(["hostile", template])
    );
    assert_eq!(kwargs["local_execution"], true);
    assert_eq!(kwargs["name"], name.as_str());
}

/// The runs of the skip tests: model -> what its run directory holds before the launch.
const SKIP_RUNS: [&str; 6] = ["done", "oom", "timeout", "serverfail", "preempted", "fresh"];

/// Launch (for real, jobs held) a sweep whose runs hold a completed run, runs whose latest
/// attempt failed with `OOM`, `timeout`, `server_fail` and `preempted`, and a fresh run; returns
/// each model's decision and reason.
fn skip_case(skip: Option<&str>) -> BTreeMap<&'static str, (String, Value)> {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let tag = unique("skip");
    let models: Vec<String> = SKIP_RUNS.iter().map(|m| format!("{m}-{tag}")).collect();
    let model_refs: Vec<&str> = models.iter().map(String::as_str).collect();
    let config = Config::new(&unique("skips"), &model_refs);
    sweep.write("sweep.yaml", &config.yaml(&cluster));

    // Where each run lives, from the dry run.
    let dry = sweep.launch(&["--config", "sweep.yaml", "--dry-run", "--json"], None);
    assert_eq!(exit_code(&dry), 0, "{}", show(&dry));
    let dry = lines_by_name(&dry);
    let run_dir = |model: &str| {
        dry[&run_name(model)]["run_dir"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    sweep.write_in_run(
        &run_dir(&models[0]),
        "inference_logs/stats.json",
        &fixture("stats/one-task-dummy-server.json"),
    );
    // An older attempt that timed out, then the latest one ran out of GPU memory.
    sweep.write_in_run(
        &run_dir(&models[1]),
        "inference_logs/slurm_logs/900001_0.out",
        &fixture("failures/timeout.out"),
    );
    sweep.write_in_run(
        &run_dir(&models[1]),
        "inference_logs/slurm_logs/900002_0.out",
        b"starting inference\n",
    );
    sweep.write_in_run(
        &run_dir(&models[1]),
        "inference_logs/server_logs/server_rank_0_node_0.log",
        &fixture("failures/oom-torch.log"),
    );
    sweep.write_in_run(
        &run_dir(&models[2]),
        "inference_logs/slurm_logs/900003_0.out",
        &fixture("failures/timeout.out"),
    );
    sweep.write_in_run(
        &run_dir(&models[3]),
        "inference_logs/slurm_logs/900004_0.out",
        &fixture("failures/server-fail.out"),
    );
    sweep.write_in_run(
        &run_dir(&models[4]),
        "inference_logs/slurm_logs/900005_0.out",
        &fixture("failures/preempted.out"),
    );

    let mut args = vec!["--config", "sweep.yaml", "--json"];
    if let Some(skip) = skip {
        args.extend(["--skip-failure-reasons", skip]);
    }
    let output = sweep.launch(&args, None);
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    SKIP_RUNS
        .iter()
        .zip(&models)
        .map(|(key, model)| {
            let line = &lines[&run_name(model)];
            (
                *key,
                (
                    line["decision"].as_str().unwrap().to_owned(),
                    line["reason"].clone(),
                ),
            )
        })
        .collect()
}

fn decision(decision: &str, reason: Option<&str>) -> (String, Value) {
    (
        decision.to_owned(),
        reason.map_or(Value::Null, |r| Value::String(r.to_owned())),
    )
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn default_skip_set_skips_oom_timeout_and_server_fail_and_resubmits_preempted() {
    let decisions = skip_case(None);
    let expected: BTreeMap<_, _> = [
        ("done", decision("skipped_completed", None)),
        ("oom", decision("skipped_failure", Some("OOM"))),
        ("timeout", decision("skipped_failure", Some("timeout"))),
        (
            "serverfail",
            decision("skipped_failure", Some("server_fail")),
        ),
        ("preempted", decision("submitted", None)),
        ("fresh", decision("submitted", None)),
    ]
    .into();
    assert_eq!(decisions, expected);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn skip_failure_reasons_oom_only() {
    let decisions = skip_case(Some("OOM"));
    let expected: BTreeMap<_, _> = [
        ("done", decision("skipped_completed", None)),
        ("oom", decision("skipped_failure", Some("OOM"))),
        ("timeout", decision("submitted", None)),
        ("serverfail", decision("submitted", None)),
        ("preempted", decision("submitted", None)),
        ("fresh", decision("submitted", None)),
    ]
    .into();
    assert_eq!(decisions, expected);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn skip_failure_reasons_none() {
    let decisions = skip_case(Some("none"));
    let expected: BTreeMap<_, _> = [
        ("done", decision("skipped_completed", None)),
        ("oom", decision("submitted", None)),
        ("timeout", decision("submitted", None)),
        ("serverfail", decision("submitted", None)),
        ("preempted", decision("submitted", None)),
        ("fresh", decision("submitted", None)),
    ]
    .into();
    assert_eq!(decisions, expected);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn skip_failure_reasons_timeout_and_server_fail() {
    let decisions = skip_case(Some("timeout,server_fail"));
    let expected: BTreeMap<_, _> = [
        ("done", decision("skipped_completed", None)),
        ("oom", decision("submitted", None)),
        ("timeout", decision("skipped_failure", Some("timeout"))),
        (
            "serverfail",
            decision("skipped_failure", Some("server_fail")),
        ),
        ("preempted", decision("submitted", None)),
        ("fresh", decision("submitted", None)),
    ]
    .into();
    assert_eq!(decisions, expected);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn launching_twice_while_held_submits_nothing_and_a_cancelled_job_is_submitted_again() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (a, b) = (unique("twice-a"), unique("twice-b"));
    let config = Config::new(&unique("twice"), &[&a, &b]);
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let args = ["--config", "sweep.yaml", "--json"];

    let first = sweep.launch(&args, None);
    let first_lines = lines_by_name(&first);
    let _cancel_first = cancel_submitted(&first_lines);
    assert_eq!(exit_code(&first), 0, "{}", show(&first));
    let job = |lines: &BTreeMap<String, Value>, model: &str| {
        lines[&run_name(model)]["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no job id for {model}: {lines:?}"))
            .to_owned()
    };
    for model in [&a, &b] {
        assert_eq!(first_lines[&run_name(model)]["decision"], "submitted");
    }
    let stderr = String::from_utf8_lossy(&first.stderr);
    let (job_a, job_b) = (job(&first_lines, &a), job(&first_lines, &b));
    assert!(
        stderr.contains(&format!("squeue --me -j {job_a},{job_b}\n")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("scancel {job_a} {job_b}\n")),
        "{stderr}"
    );

    let second = sweep.launch(&args, None);
    assert_eq!(exit_code(&second), 0, "{}", show(&second));
    let second_lines = lines_by_name(&second);
    for model in [&a, &b] {
        assert_eq!(
            second_lines[&run_name(model)]["decision"],
            "skipped_in_flight",
            "{}",
            show(&second)
        );
        assert_eq!(job(&second_lines, model), job(&first_lines, model));
    }

    // Cancel a's job before it ever started: no attempt left a .out, so it goes again.
    let a_job = bench_tests::parse_parsable(&job(&first_lines, &a)).unwrap();
    bench_tests::scancel(&a_job).unwrap();
    bench_tests::wait_until_gone(&a_job, JOB_LIMIT).unwrap();
    let third = sweep.launch(&args, None);
    let third_lines = lines_by_name(&third);
    let _cancel_third = cancel_submitted(&third_lines);
    assert_eq!(exit_code(&third), 0, "{}", show(&third));
    assert_eq!(third_lines[&run_name(&a)]["decision"], "submitted");
    assert_ne!(job(&third_lines, &a), a_job.as_str());
    assert_eq!(third_lines[&run_name(&b)]["decision"], "skipped_in_flight");
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn two_launches_at_once_submit_each_run_once() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "together", 3);
    // The real sbatch, a second late: both launches have read the queue (empty of these
    // runs) before either has submitted anything, so only the lock can keep them apart.
    let slow = sweep.bin_dir(
        "slow-sbatch",
        &[(
            "sbatch",
            &format!(
                "#!/bin/sh\nsleep 1\nexec '{}' \"$@\"\n",
                which("sbatch").display()
            ),
        )],
    );
    let path = path_with(&slow);
    let args = ["--config", "sweep.yaml", "--json"];
    let spawn = || {
        sweep
            .launch_command(&args, Some(&path))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("launch starts")
    };
    let (first, second) = (spawn(), spawn());
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let lines: Vec<BTreeMap<String, Value>> = outputs.iter().map(lines_by_name).collect();
    let _cancel: Vec<_> = lines.iter().flat_map(cancel_submitted).collect();
    let shown = || format!("{}\n{}", show(&outputs[0]), show(&outputs[1]));
    for output in &outputs {
        assert_eq!(exit_code(output), 0, "{}", shown());
    }
    let queue = bench_tests::squeue_me().unwrap();
    for name in &names {
        let mut decisions: Vec<(&str, &str)> = lines
            .iter()
            .map(|lines| {
                let line = &lines[name];
                (
                    line["decision"].as_str().unwrap(),
                    line["job_id"].as_str().unwrap_or("-"),
                )
            })
            .collect();
        decisions.sort_unstable();
        let queued: Vec<&str> = queue
            .iter()
            .filter(|job| &job.name == name)
            .map(|job| job.job_id.as_str())
            .collect();
        assert_eq!(queued.len(), 1, "{name}: {queued:?}\n{}", shown());
        // The other launch saw its job, or its sbatch call still running (no job id yet).
        assert!(
            decisions == [("skipped_in_flight", queued[0]), ("submitted", queued[0])]
                || decisions == [("skipped_in_flight", "-"), ("submitted", queued[0])],
            "{name}: {decisions:?}\n{}",
            shown()
        );
    }
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn directives_that_would_undo_the_templates_are_refused_before_slurm_is_contacted() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let model = unique("undo");
    let name = run_name(&model);
    let config = Config::new(&unique("undo"), &[&model]);
    let yaml = config.yaml(&cluster);
    let with_setup =
        |line: &str| yaml.replace("slurm:\n", &format!("slurm:\n  setup: [\"{line}\"]\n"));
    // Where the built-in template puts a setup line: after the directives.
    sweep.write("sweep.yaml", &with_setup("echo marker"));
    let shown = sweep.launch(
        &["--config", "sweep.yaml", "--dry-run", "--show-script"],
        None,
    );
    assert_eq!(exit_code(&shown), 0, "{}", show(&shown));
    let script: Vec<String> = String::from_utf8_lossy(&shown.stderr)
        .lines()
        .filter_map(|line| line.strip_prefix("    | "))
        .map(str::to_owned)
        .collect();
    let setup_line = script.iter().position(|l| l == "echo marker").unwrap() + 1;
    assert!(
        script[..setup_line].iter().all(|l| !l.starts_with("set ")),
        "the setup lines come first: {script:?}"
    );
    std::fs::remove_file(sweep.path().join("sweep.yaml")).unwrap();

    let before = common::tree_listing(sweep.path());
    for setup in ["#SBATCH --time=600", "#SBATCH --comm=zzz"] {
        sweep.write("sweep.yaml", &with_setup(setup));
        for dry_run in [false, true] {
            let mut args = vec!["--config", "sweep.yaml", "--json"];
            if dry_run {
                args.push("--dry-run");
            }
            let output = sweep.launch(&args, None);
            let _cancel = cancel_submitted(&lines_by_name(&output));
            assert_eq!(exit_code(&output), 2, "{}", show(&output));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!(
                    "template `built-in` renders a script for run `{name}`"
                )) && stderr.contains(&format!(
                    "with line {setup_line} `{setup}`: it comes from `slurm.setup`"
                )),
                "{stderr}"
            );
        }
    }
    sweep.write("sweep.yaml", &yaml);
    sweep.write(
        "comm.sh.tera",
        &user_template("#SBATCH --comment={{ comment }}\n#SBATCH --comm=x\n"),
    );
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--template", "comm.sh.tera"],
        None,
    );
    assert_eq!(exit_code(&output), 2, "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "template `comm.sh.tera` renders a script for run `{name}`"
        )) && stderr.contains("with line 3 `#SBATCH --comm=x`: `--comm` abbreviates `--comment`"),
        "{stderr}"
    );
    std::fs::remove_file(sweep.path().join("comm.sh.tera")).unwrap();
    std::fs::remove_file(sweep.path().join("sweep.yaml")).unwrap();
    assert_nothing_done(&sweep, &before, &name);

    // Why: sbatch itself takes `--comm` for `--comment`, the last one winning, so the job
    // would carry no token for `launch` to find.
    let job = bench_tests::BatchJob::new("undo")
        .directive("--hold")
        .directive(format!("--comment=bench:{}", unique("token")))
        .directive("--comm=zzz");
    let submitted = job.submit("true").unwrap();
    let queue = bench_tests::squeue_me().unwrap();
    let queued = queue
        .iter()
        .find(|entry| &entry.job_id == submitted.job_id())
        .expect("the held job is queued");
    assert_eq!(queued.comment, "zzz");
}

/// A config with `n` held runs, and the names of its runs.
fn held_sweep(sweep: &SweepDir, prefix: &str, n: usize) -> (Config, Vec<String>) {
    let cluster = bench_tests::cluster();
    let models: Vec<String> = (0..n).map(|i| unique(&format!("{prefix}{i}"))).collect();
    let refs: Vec<&str> = models.iter().map(String::as_str).collect();
    let config = Config::new(&unique(prefix), &refs);
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let names = models.iter().map(|m| run_name(m)).collect();
    (config, names)
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn sbatch_missing_from_path_is_reported_for_the_run() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "nosbatch", 1);
    let bin = sweep.bin_dir("squeue-only", &[]);
    symlink(which("squeue"), bin.join("squeue")).unwrap();
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--json"],
        Some(&bin.into_os_string()),
    );
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    let lines = lines_by_name(&output);
    let line = &lines[&names[0]];
    assert_eq!(line["decision"], "failed");
    let reason = line["reason"].as_str().unwrap();
    assert!(reason.starts_with("`sbatch` not found on PATH"), "{reason}");
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn sbatch_refusing_the_job_is_reported_in_its_own_words() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let model = unique("badpart");
    let mut config = Config::new(&unique("badpart"), &[&model]);
    config.partition = Some("no-such-partition".into());
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let output = sweep.launch(&["--config", "sweep.yaml", "--json"], None);
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    let line = &lines[&run_name(&model)];
    assert_eq!(line["decision"], "failed");
    // sbatch's own words, e.g. `sbatch: error: invalid partition specified: no-such-partition`.
    let reason = line["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("sbatch: error:") && reason.contains("partition"),
        "{reason}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(reason), "{stderr}");
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn sbatch_printing_something_else_is_reported_verbatim() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "unparsable", 1);
    let bin = sweep.bin_dir(
        "chatty",
        &[(
            "sbatch",
            "#!/bin/sh\necho 'Submitted batch job 4242'\nexit 0\n",
        )],
    );
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--json"],
        Some(&path_with(&bin)),
    );
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    let lines = lines_by_name(&output);
    let line = &lines[&names[0]];
    assert_eq!(line["decision"], "failed");
    assert_eq!(
        line["reason"],
        "sbatch answered `Submitted batch job 4242`, not a job id"
    );
}

/// Three runs of a config whose partition does not exist, launched with `--json` (PATH
/// `path`, when given): the models, the output and its lines; checked to exit 1 with the
/// first run `failed` and the other two `not_attempted`.
fn three_runs_on_a_missing_partition(
    sweep: &SweepDir,
    prefix: &str,
    continue_on_failure: bool,
    path: Option<&std::ffi::OsString>,
) -> (Vec<String>, std::process::Output, BTreeMap<String, Value>) {
    let cluster = bench_tests::cluster();
    let models: Vec<String> = (0..3).map(|i| unique(&format!("{prefix}{i}"))).collect();
    let refs: Vec<&str> = models.iter().map(String::as_str).collect();
    let mut config = Config::new(&unique(prefix), &refs);
    config.partition = Some("no-such-partition".into());
    config.continue_on_failure = continue_on_failure;
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let output = sweep.launch(&["--config", "sweep.yaml", "--json"], path);
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    let decisions: Vec<&str> = models
        .iter()
        .map(|m| lines[&run_name(m)]["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["failed", "not_attempted", "not_attempted"]);
    (models, output, lines)
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn continue_on_failure_false_stops_after_the_first_failure() {
    let sweep = SweepDir::new();
    let (models, output, lines) = three_runs_on_a_missing_partition(&sweep, "stop", false, None);
    // Nothing was prepared for the runs not attempted.
    for model in &models[1..] {
        let run_dir = lines[&run_name(model)]["run_dir"].as_str().unwrap();
        assert!(
            !sweep.path().join(run_dir).exists(),
            "{run_dir} was created"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("1 failed, 2 not_attempted"), "{stderr}");
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn an_invalid_partition_is_said_once_and_the_other_runs_are_not_tried() {
    let sweep = SweepDir::new();
    let calls = sweep.path().join("sbatch-calls");
    let spy = format!(
        "#!/bin/sh\necho call >> '{}'\nexec '{}' \"$@\"\n",
        calls.display(),
        which("sbatch").display()
    );
    let bin = sweep.bin_dir("spy", &[("sbatch", &spy)]);
    // Every run would be refused the same way: not tried, whatever `continue_on_failure`
    // says.
    let (models, output, lines) =
        three_runs_on_a_missing_partition(&sweep, "part", true, Some(&path_with(&bin)));
    // SLURM 22.05's words.
    assert_eq!(
        lines[&run_name(&models[0])]["reason"],
        "sbatch: error: invalid partition specified: no-such-partition; sbatch: error: Batch \
         job submission failed: Invalid partition name specified"
    );
    for model in &models[1..] {
        assert_eq!(
            lines[&run_name(model)]["reason"],
            "not tried: sbatch refused `--partition=no-such-partition` for an earlier run"
        );
    }
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "call\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message = "sbatch refused `--partition=no-such-partition` (sbatch: error: invalid \
                   partition specified: no-such-partition; sbatch: error: Batch job submission \
                   failed: Invalid partition name specified): the 2 runs after it with the same \
                   value were not tried (they would be refused the same way); fix the value and \
                   run `launch` again";
    assert_eq!(stderr.matches(message).count(), 1, "{stderr}");
    assert!(stderr.contains("1 failed, 2 not_attempted"), "{stderr}");
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_job_accepted_despite_a_timeout_is_adopted_not_submitted_twice() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "adopt", 1);
    let calls = sweep.path().join("sbatch-calls");
    let wrapper = format!(
        "#!/bin/sh\necho call >> '{}'\n'{}' \"$@\" > /dev/null || exit 1\necho 'sbatch: error: \
         Batch job submission failed: Socket timed out on send/recv operation' >&2\nexit 1\n",
        calls.display(),
        which("sbatch").display()
    );
    let bin = sweep.bin_dir("timeout", &[("sbatch", &wrapper)]);
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--json"],
        Some(&path_with(&bin)),
    );
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    let line = &lines[&names[0]];
    assert_eq!(line["decision"], "submitted", "{}", show(&output));
    let job_id = line["job_id"].as_str().unwrap();

    assert_eq!(std::fs::read_to_string(&calls).unwrap(), "call\n");
    let run_dir = line["run_dir"].as_str().unwrap();
    let records = sweep.submissions(run_dir);
    let token = records[0]["token"].as_str().unwrap();
    let queue = bench_tests::squeue_me().unwrap();
    let ours: Vec<_> = queue
        .iter()
        .filter(|job| job.name == names[0] || job.comment == format!("bench:{token}"))
        .collect();
    assert_eq!(ours.len(), 1, "{queue:?}");
    assert_eq!(ours[0].job_id.as_str(), job_id);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1]["token"], token);
    assert_eq!(records[1]["job_id"], job_id);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn an_interrupted_launch_leaves_a_record_the_next_launch_sees_in_flight() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "sigint", 2);
    let started = sweep.path().join("sbatch-started");
    let wrapper = format!(
        "#!/bin/sh\ntouch '{}'\nsleep 3\nexec '{}' \"$@\"\n",
        started.display(),
        which("sbatch").display()
    );
    let bin = sweep.bin_dir("slow", &[("sbatch", &wrapper)]);
    let child = Command::new(env!("CARGO_BIN_EXE_launch"))
        .args(["--config", "sweep.yaml", "--json"])
        .current_dir(sweep.path())
        .env("PATH", path_with(&bin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the slow sbatch to start (a guard limit only), then interrupt launch.
    let waiting = Instant::now();
    while !started.exists() {
        assert!(waiting.elapsed() < JOB_LIMIT, "sbatch never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 130, "{}", show(&output));
    let first = &lines[&names[0]];
    assert_eq!(first["decision"], "submitted", "{}", show(&output));
    assert_eq!(lines[&names[1]]["decision"], "not_attempted");
    let job_id = first["job_id"].as_str().unwrap();
    let records = sweep.submissions(first["run_dir"].as_str().unwrap());
    assert_eq!(records.last().unwrap()["job_id"], job_id);

    let next = sweep.launch(&["--config", "sweep.yaml", "--json", "--dry-run"], None);
    assert_eq!(exit_code(&next), 0, "{}", show(&next));
    let next = lines_by_name(&next);
    assert_eq!(next[&names[0]]["decision"], "skipped_in_flight");
    assert_eq!(next[&names[0]]["job_id"], job_id);
    assert_eq!(next[&names[1]]["decision"], "would_submit");
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn squeue_failing_stops_a_real_launch_and_makes_a_dry_run_say_so() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let config = Config::new(&unique("noqueue"), &[&unique("noqueue")]);
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let broken = sweep.bin_dir(
        "broken-squeue",
        &[(
            "squeue",
            "#!/bin/sh\necho 'squeue: error: Unable to contact slurm controller' >&2\nexit 1\n",
        )],
    );
    let before = common::tree_listing(sweep.path());
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--json"],
        Some(&path_with(&broken)),
    );
    assert_eq!(exit_code(&output), 3, "{}", show(&output));
    assert!(output.stdout.is_empty(), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Unable to contact slurm controller"),
        "{stderr}"
    );
    assert_eq!(
        common::tree_listing(sweep.path()),
        before,
        "a file was written"
    );

    let dry = sweep.launch(
        &["--config", "sweep.yaml", "--json", "--dry-run"],
        Some(&path_with(&broken)),
    );
    assert_eq!(exit_code(&dry), 0, "{}", show(&dry));
    let lines = lines_by_name(&dry);
    let line = lines.values().next().unwrap();
    assert_eq!(line["decision"], "would_submit");
    assert_eq!(line["in_flight_unknown"], true);
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(stderr.contains("in_flight_unknown"), "{stderr}");
}

/// No file changed in the sweep folder since `before`, and no job named `name` is queued.
fn assert_nothing_done(
    sweep: &SweepDir,
    before: &BTreeMap<std::path::PathBuf, Option<(u64, u64)>>,
    name: &str,
) {
    assert_eq!(
        &common::tree_listing(sweep.path()),
        before,
        "a file was written"
    );
    let queue = bench_tests::squeue_me().unwrap();
    assert!(
        queue.iter().all(|job| job.name != name),
        "a job was submitted: {queue:?}"
    );
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn squeue_printing_something_else_stops_a_real_launch_and_makes_a_dry_run_say_so() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let model = unique("garbage");
    let config = Config::new(&unique("garbage"), &[&model]);
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    // Exit 0, but a banner and a listing in another format: no job line to trust.
    let odd = sweep.bin_dir(
        "odd-squeue",
        &[(
            "squeue",
            "#!/bin/sh
echo 'Welcome to the cluster!'
echo '77 p-x_inference RUNNING'
",
        )],
    );
    let before = common::tree_listing(sweep.path());
    let output = sweep.launch(
        &["--config", "sweep.yaml", "--json"],
        Some(&path_with(&odd)),
    );
    let _cancel = cancel_submitted(&lines_by_name(&output));
    assert_eq!(exit_code(&output), 3, "{}", show(&output));
    assert!(output.stdout.is_empty(), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: the queue could not be read, so nothing was submitted: `squeue` printed \
             `Welcome to the cluster!`, which is not a `%i|%j|%T|%k` job line"
        ),
        "{stderr}"
    );
    assert_nothing_done(&sweep, &before, &run_name(&model));

    let dry = sweep.launch(
        &["--config", "sweep.yaml", "--json", "--dry-run"],
        Some(&path_with(&odd)),
    );
    assert_eq!(exit_code(&dry), 0, "{}", show(&dry));
    let lines = lines_by_name(&dry);
    let line = &lines[&run_name(&model)];
    assert_eq!(line["decision"], "would_submit");
    assert_eq!(line["in_flight_unknown"], true);
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(
        stderr.contains("warning: the queue could not be read: `squeue` printed `Welcome"),
        "{stderr}"
    );
    assert!(stderr.contains("in_flight_unknown"), "{stderr}");
}

/// A user template for the test cluster; `body` goes after the interpreter line.
fn user_template(body: &str) -> String {
    format!(
        "#!/bin/bash\n{body}#SBATCH --output={{{{ log_dir }}}}/slurm_logs/%j_0.out\n\
         #SBATCH --gpus={{{{ gpus }}}} --cpus-per-task={{{{ cpus_per_task }}}} \
         --mem-per-cpu={{{{ mem_per_cpu }}}}\n\
         {{% for arg in sbatch_args %}}#SBATCH --{{{{ arg.0 }}}}\n{{% endfor %}}\
         #SBATCH --time={{{{ time }}}}\necho never run: held\n"
    )
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn the_comment_sbatch_reads_is_the_one_launch_checks() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let model = unique("comment");
    let config = Config::new(&unique("comment"), &[&model]);
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let name = run_name(&model);

    // After a command, sbatch ignores the line (the job would get comment `(null)`):
    // refused for the run before SLURM is contacted.
    sweep.write(
        "late.sh.tera",
        &user_template(
            "#SBATCH --job-name={{ job_name }}\nsleep 30\n#SBATCH --comment={{ comment }}\n",
        ),
    );
    let before = common::tree_listing(sweep.path());
    let output = sweep.launch(
        &[
            "--config",
            "sweep.yaml",
            "--json",
            "--template",
            "late.sh.tera",
        ],
        None,
    );
    let _cancel_late = cancel_submitted(&lines_by_name(&output));
    assert_eq!(exit_code(&output), 2, "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "template `late.sh.tera` renders a script for run `{name}`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("at line 3, the first command `sleep 30`"),
        "{stderr}"
    );
    assert_nothing_done(&sweep, &before, &name);

    // Quoted, with another option on the line and a trailing comment: sbatch reads it,
    // and so does launch; the queue shows the token of the record.
    sweep.write(
        "quoted.sh.tera",
        &user_template("#SBATCH --job-name={{ job_name }} --comment \"{{ comment }}\" # token\n"),
    );
    let output = sweep.launch(
        &[
            "--config",
            "sweep.yaml",
            "--json",
            "--template",
            "quoted.sh.tera",
        ],
        None,
    );
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    let line = &lines[&name];
    assert_eq!(line["decision"], "submitted", "{}", show(&output));
    let job_id = line["job_id"].as_str().unwrap();
    let run_dir = line["run_dir"].as_str().unwrap();
    let log = format!("{run_dir}/inference_logs/slurm_logs/%j_0.out");
    assert_eq!(
        line["sbatch"],
        serde_json::json!({
            "job-name": name,
            "output": log,
            "gpus": "1",
            "cpus-per-task": "1",
            "mem-per-cpu": format!("{}M", cluster.mem_per_cpu_mb()),
            "hold": "",
            "time": "0:05:00",
        })
    );
    let token = sweep.submissions(run_dir)[0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue = bench_tests::squeue_me().unwrap();
    let job = queue
        .iter()
        .find(|job| job.job_id.as_str() == job_id)
        .unwrap_or_else(|| panic!("job {job_id} is not queued: {queue:?}"));
    let key = bench_core::layout::RunDir::new(run_dir).key();
    assert_eq!(job.comment, format!("bench:{token}:{key}"));
    assert_eq!(job.name, name);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn dry_run_of_the_sample_config_writes_nothing_and_costs_3002_gpu_hours() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let sample = common::repo_root().join("configs/sample_benchmark_config.yaml");
    std::fs::copy(&sample, sweep.path().join("sample.yaml")).unwrap();
    // Any sbatch call would leave a trace.
    let calls = sweep.path().join("sbatch-calls");
    let bin = sweep.bin_dir(
        "spy",
        &[(
            "sbatch",
            &format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", calls.display()),
        )],
    );
    let path = path_with(&bin);
    let before = common::tree_listing(sweep.path());

    let started = Instant::now();
    let output = sweep.launch(
        &["--config", "sample.yaml", "--dry-run", "--json"],
        Some(&path),
    );
    let wall = started.elapsed();
    eprintln!("dry run of the sample config (--json): {wall:?}");
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 759);
    assert!(lines.iter().all(|line| line["decision"] == "would_submit"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("759 jobs, 1,514 GPUs, 3,002.8 GPU-hours"),
        "{stderr}"
    );
    assert!(
        stderr.contains("759 runs (741 distinct names): 759 would_submit"),
        "{stderr}"
    );
    // The first line is exactly the documented example (`docs/launch.md`).
    let example = common::json_fixture("launch/sample-first-run-dry-run-line.json");
    assert_eq!(lines[0], example);

    let started = Instant::now();
    let human = sweep.launch(&["--config", "sample.yaml", "--dry-run"], Some(&path));
    eprintln!(
        "dry run of the sample config (human): {:?}",
        started.elapsed()
    );
    assert_eq!(exit_code(&human), 0, "{}", show(&human));
    assert!(human.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(!stderr.contains("#SBATCH"), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.starts_with("  would_submit  "))
            .count(),
        759
    );
    assert!(stderr.contains("759 jobs, 1,514 GPUs, 3,002.8 GPU-hours"));
    let verbose = sweep.launch(
        &["--config", "sample.yaml", "--dry-run", "--verbose"],
        Some(&path),
    );
    assert_eq!(exit_code(&verbose), 0, "{}", show(&verbose));
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert_eq!(stderr.matches("    #SBATCH --gpus=").count(), 759);

    assert_eq!(
        common::tree_listing(sweep.path()),
        before,
        "the dry run wrote"
    );
    assert!(!calls.exists(), "a dry run called sbatch");
}

/// The run directories of a config, from its dry run, in order.
fn run_dirs(sweep: &SweepDir) -> Vec<String> {
    let dry = sweep.launch(&["--config", "sweep.yaml", "--dry-run", "--json"], None);
    assert_eq!(exit_code(&dry), 0, "{}", show(&dry));
    String::from_utf8_lossy(&dry.stdout)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            value["run_dir"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The job id each run directory's `submissions.jsonl` records (`None`: no record).
fn recorded_jobs(sweep: &SweepDir, run_dirs: &[String]) -> Vec<Option<String>> {
    run_dirs
        .iter()
        .map(|run_dir| {
            let path = sweep
                .path()
                .join(run_dir)
                .join("inference_logs/launch/submissions.jsonl");
            path.exists().then(|| {
                let lines = sweep.submissions(run_dir);
                lines.last().unwrap()["job_id"].as_str().unwrap().to_owned()
            })
        })
        .collect()
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_closed_stdout_stops_a_real_launch_at_the_next_run_with_exit_1() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "closedout", 3);
    let dirs = run_dirs(&sweep);
    // The read end is gone before launch starts: its first JSON line (after the first
    // submission) fails to write.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = sweep
        .launch_command(&["--config", "sweep.yaml", "--json"], None)
        .stdout(writer)
        .output()
        .unwrap();
    let jobs = recorded_jobs(&sweep, &dirs);
    let _cancel: Vec<_> = jobs
        .iter()
        .flatten()
        .filter_map(|job| bench_tests::parse_parsable(job))
        .map(bench_tests::CancelOnDrop::new)
        .collect();
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: failed to write to stdout: Broken pipe"),
        "{stderr}"
    );
    // The first run was submitted and recorded, once; the others were not attempted.
    assert!(jobs[0].is_some(), "{}", show(&output));
    assert_eq!(&jobs[1..], [None, None], "{}", show(&output));
    let not_attempted: Vec<&str> = stderr
        .lines()
        .filter(|line| line.trim_start().starts_with("not_attempted"))
        .collect();
    assert_eq!(not_attempted.len(), 2, "{names:?}\n{stderr}");
    let queued = bench_tests::squeue_me().unwrap();
    let job = bench_tests::parse_parsable(jobs[0].as_deref().unwrap()).unwrap();
    assert_eq!(queued.iter().filter(|entry| entry.job_id == job).count(), 1);
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_failed_stderr_write_stops_a_real_launch_at_the_next_run_with_exit_1() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "fullerr", 2);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = sweep
        .launch_command(&["--config", "sweep.yaml", "--json"], None)
        .stderr(full)
        .output()
        .unwrap();
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    assert_eq!(lines[&names[0]]["decision"], "submitted");
    assert_eq!(lines[&names[1]]["decision"], "not_attempted");
    let reason = lines[&names[1]]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("failed to write to stderr: No space left on device"),
        "{reason}"
    );
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_closed_stdout_fails_a_dry_run_with_exit_1() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    held_sweep(&sweep, "closeddry", 1);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = sweep
        .launch_command(&["--config", "sweep.yaml", "--dry-run", "--json"], None)
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 1, "{}", show(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("failed to write to stdout"),
        "{}",
        show(&output)
    );
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn kwargs_and_sbatch_files_that_are_links_are_replaced_not_written_through() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "links", 1);
    let dirs = run_dirs(&sweep);
    let launch_dir = sweep.path().join(&dirs[0]).join("inference_logs/launch");
    std::fs::create_dir_all(&launch_dir).unwrap();
    let mine = sweep.write("my-notes.txt", "keep me\n");
    symlink("/dev/zero", launch_dir.join("kwargs.json")).unwrap();
    symlink(&mine, launch_dir.join("sbatch.sh")).unwrap();
    let output = sweep.launch(&["--config", "sweep.yaml", "--json"], None);
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    assert_eq!(lines[&names[0]]["decision"], "submitted");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "keep me\n");
    for file in ["kwargs.json", "sbatch.sh"] {
        let meta = std::fs::symlink_metadata(launch_dir.join(file)).unwrap();
        assert!(meta.is_file(), "{file} is still a link");
    }
    let kwargs: Value =
        serde_json::from_slice(&std::fs::read(launch_dir.join("kwargs.json")).unwrap()).unwrap();
    assert_eq!(kwargs["name"], names[0].as_str());
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn sigkill_during_a_slow_real_sbatch_never_submits_a_run_twice() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (_, names) = held_sweep(&sweep, "killed", 2);
    // The real sbatch, two seconds late: the window in which `launch` is killed.
    let real = which("sbatch");
    let calls = sweep.path().join("sbatch-calls");
    let bin = sweep.bin_dir(
        "slow-sbatch",
        &[(
            "sbatch",
            &format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\nsleep 2\nexec '{}' \"$@\"\n",
                calls.display(),
                real.display()
            ),
        )],
    );
    let path = path_with(&bin);
    let mut first = sweep
        .launch_command(&["--config", "sweep.yaml", "--json"], Some(&path))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !calls.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sbatch never called"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // At once, and again once the killed launch's sbatch call has ended.
    let again = sweep.launch(&["--config", "sweep.yaml", "--json"], Some(&path));
    let lines = lines_by_name(&again);
    let _cancel_again = cancel_submitted(&lines);
    assert_ne!(
        lines[&names[0]]["decision"],
        "submitted",
        "{}",
        show(&again)
    );
    std::thread::sleep(Duration::from_secs(3));
    let last = sweep.launch(&["--config", "sweep.yaml", "--json"], Some(&path));
    let lines = lines_by_name(&last);
    let jobs: Vec<String> = lines
        .values()
        .filter_map(|line| line["job_id"].as_str().map(str::to_owned))
        .collect();
    let _cancel: Vec<_> = jobs
        .iter()
        .filter_map(|job| bench_tests::parse_parsable(job))
        .map(bench_tests::CancelOnDrop::new)
        .collect();
    assert_eq!(exit_code(&last), 0, "{}", show(&last));
    for name in &names {
        assert_eq!(
            lines[name]["decision"],
            "skipped_in_flight",
            "{}",
            show(&last)
        );
    }
    // Exactly one job per run in the real queue.
    let queue = bench_tests::squeue_me().unwrap();
    for name in &names {
        assert_eq!(
            queue.iter().filter(|job| &job.name == name).count(),
            1,
            "{name}: {queue:?}"
        );
    }
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_failing_setup_line_ends_the_job_before_the_script_and_is_an_error() {
    let cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let model = unique("setupfail");
    let mut config = Config::new(&unique("setupfail"), &[&model]);
    config.hold = false;
    // The virtual environment is missing: before, the job ran on whatever Python was on
    // PATH and could complete with numbers from the wrong vLLM.
    let yaml = config.yaml(&cluster).replace(
        "slurm:\n",
        "slurm:\n  setup: [\"source /nonexistent/venv/bin/activate\"]\n",
    );
    sweep.write("sweep.yaml", &yaml);
    let output = sweep.launch(&["--config", "sweep.yaml", "--json"], None);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    let lines = lines_by_name(&output);
    let _cancel = cancel_submitted(&lines);
    let out = out_after_the_job(&sweep, &lines[&run_name(&model)]);
    assert!(
        out.contains(
            "launch: slurm.setup line 1 failed with exit status 1; the inference script was not \
             run"
        ),
        "{out}"
    );
    assert!(
        !out.contains("fake inference done"),
        "the script ran: {out}"
    );
    // Its class is `error`: skipped when `error` is in the skip set.
    let again = sweep.launch(
        &[
            "--config",
            "sweep.yaml",
            "--json",
            "--dry-run",
            "--skip-failure-reasons",
            "error",
        ],
        None,
    );
    let line = &lines_by_name(&again)[&run_name(&model)];
    assert_eq!(
        (line["decision"].as_str(), line["reason"].as_str()),
        (Some("skipped_failure"), Some("error")),
        "{}",
        show(&again)
    );
    // analyze gives the row the class `error` too.
    let analyze = sibling_binary("analyze");
    let analyzed = std::process::Command::new(&analyze)
        .args(["--root", "results", "--quiet"])
        .current_dir(sweep.path())
        .output()
        .expect("run analyze");
    assert!(analyzed.status.success(), "{}", show(&analyzed));
    let rows = std::fs::read_to_string(sweep.path().join("results/benchmarking_results.csv"))
        .expect("the CSV");
    // The model column holds the name made safe for a path.
    let model_safe = model.replace('-', "_");
    let row = rows
        .lines()
        .find(|row| row.contains(&model_safe))
        .unwrap_or_else(|| panic!("no row of {model_safe}:\n{rows}"));
    assert!(row.contains(",error,"), "{row}");
    // The config fixed (no setup line), the run is submitted again and completes.
    sweep.write("sweep.yaml", &config.yaml(&cluster));
    let fixed = sweep.launch(&["--config", "sweep.yaml", "--json"], None);
    assert_eq!(exit_code(&fixed), 0, "{}", show(&fixed));
    let lines = lines_by_name(&fixed);
    let _cancel_fixed = cancel_submitted(&lines);
    let line = &lines[&run_name(&model)];
    assert_eq!(
        line["decision"].as_str(),
        Some("submitted"),
        "{}",
        show(&fixed)
    );
    let out = out_after_the_job(&sweep, line);
    assert!(
        out.contains("fake inference done"),
        "the script did not run: {out}"
    );
}

/// Wait for the job of a `--json` line to leave the queue; its `.out` file.
fn out_after_the_job(sweep: &SweepDir, line: &serde_json::Value) -> String {
    let job_id =
        bench_tests::parse_parsable(line["job_id"].as_str().expect("a job id")).expect("digits");
    bench_tests::wait_until_gone(&job_id, JOB_LIMIT).expect("the job ends");
    let path = sweep
        .path()
        .join(line["run_dir"].as_str().expect("a run directory"))
        .join(format!(
            "inference_logs/slurm_logs/{}_0.out",
            job_id.as_str()
        ));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("the job's .out `{}`: {err}", path.display()))
}

/// A binary of the workspace built beside this test (`cargo test --workspace` builds every
/// binary into `target/<profile>/`).
fn sibling_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let path = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test executable lives in target/<profile>/deps")
        .join(name);
    assert!(
        path.is_file(),
        "`{}` is missing: run the whole workspace's tests (`cargo test --workspace`), which \
         builds it",
        path.display()
    );
    path
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn status_counts_a_job_held_in_the_real_queue_with_the_failed_and_completed_runs() {
    let _cluster = bench_tests::cluster();
    let sweep = SweepDir::new();
    let (config, names) = held_sweep(&sweep, "status", 5);
    let dry = sweep.launch(&["--config", "sweep.yaml", "--dry-run", "--json"], None);
    let run_dirs: Vec<String> = names
        .iter()
        .map(|name| {
            lines_by_name(&dry)[name]["run_dir"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // The first run is submitted, held: PENDING in the real queue.
    let only = format!("^{}$", names[0]);
    let submitted = sweep.launch(&["--config", "sweep.yaml", "--json", "--only", &only], None);
    let lines = lines_by_name(&submitted);
    let _cancel = cancel_submitted(&lines);
    assert_eq!(exit_code(&submitted), 0, "{}", show(&submitted));
    let job_id = lines[&names[0]]["job_id"].as_str().unwrap().to_owned();
    // The second failed with OOM, the third timed out, the fourth was never submitted, the
    // fifth completed.
    sweep.write_in_run(
        &run_dirs[1],
        "inference_logs/slurm_logs/12_0.out",
        &fixture("failures/oom-torch.log"),
    );
    sweep.write_in_run(
        &run_dirs[2],
        "inference_logs/slurm_logs/13_0.out",
        &fixture("failures/timeout.out"),
    );
    sweep.write_in_run(
        &run_dirs[4],
        "inference_logs/stats.json",
        &fixture("stats/one-task-dummy-server.json"),
    );

    let output = sweep.launch(&["--config", "sweep.yaml", "--status"], None);
    assert_eq!(exit_code(&output), 0, "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let experiment = &config.experiment;
    let counts = "1 completed, 1 in flight (1 PENDING), 0 waiting, 2 failed (1 OOM, 1 timeout), \
                  1 not submitted";
    assert_eq!(
        lines[..3],
        [
            "status (from the run files and the queue; nothing submitted):",
            &format!("  {experiment}: {counts}"),
            &format!("5 runs: {counts}"),
        ],
        "{stderr}"
    );
    let out =
        |run: usize, job: u64| format!("{}/inference_logs/slurm_logs/{job}_0.out", run_dirs[run]);
    assert_eq!(
        lines[3..],
        [
            "not completed:".to_owned(),
            format!(
                "  in flight      {}  [{experiment}]  job {job_id}  PENDING 0:00  no .out yet",
                names[0]
            ),
            format!(
                "  failed         {}  [{experiment}]  job 12  OOM (skipped)  {}",
                names[1],
                out(1, 12)
            ),
            format!(
                "  failed         {}  [{experiment}]  job 13  timeout (skipped)  {}",
                names[2],
                out(2, 13)
            ),
            format!("  not submitted  {}  [{experiment}]", names[3]),
            "to submit skipped failures again:".to_owned(),
            "  the 1 run failed with OOM: launch --config sweep.yaml --skip-failure-reasons \
             timeout,server_fail"
                .to_owned(),
            "  the 1 run failed with timeout: launch --config sweep.yaml --skip-failure-reasons \
             OOM,server_fail"
                .to_owned(),
        ],
        "{stderr}"
    );
    // Nothing more was submitted.
    let queued = bench_tests::squeue_me()
        .unwrap()
        .iter()
        .filter(|job| names.iter().any(|name| &job.name == name))
        .count();
    assert_eq!(queued, 1);
}
