//! What `analyze` tells and leaves behind beyond the rows: outputs of an earlier analyze that
//! are not written again are removed (and only those), a `--root` at the wrong level, an empty
//! tree, runs submitted without output yet, models without a baseline.

use std::fs;

use crate::common::{Stats, Tree, analyze_in, fixture, run_path};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A completed run of `model` in `experiment` at tp 1 with `mns` (mnbt 8192: mns 256 is the
/// baseline).
fn completed(tree: &Tree, experiment: &str, model: &str, mns: u64) {
    tree.run(&run_path(
        experiment,
        model,
        "tp1-pp1-dp1",
        mns,
        8192,
        "spec_none",
    ))
    .out("10_0.out", "")
    .stats(&Stats::BASE.merged_json());
}

#[test]
fn an_experiment_gone_since_the_last_analyze_loses_its_csv_and_nothing_else_is_touched() {
    let tree = Tree::new();
    completed(&tree, "tier0", "Smol", 256);
    completed(&tree, "tier1", "Smol", 512);
    let first = tree.analyze(&["--quiet"]);
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert!(tree.root().join("tier1.csv").is_file());
    // The user's own files in --out, one of them a CSV.
    tree.file("data/mine.csv", "a,b\n1,2\n");
    tree.file("data/notes.txt", "keep");

    fs::remove_dir_all(tree.root().join("tier1")).unwrap();
    let second = tree.analyze(&["--quiet"]);
    assert!(second.status.success());
    let stderr = stderr_of(&second);
    assert!(
        stderr.contains(
            "note: removed `data/tier1.csv`, written by an earlier analyze: experiment `tier1` \
             has no rows this time"
        ),
        "{stderr}"
    );
    assert!(!tree.root().join("tier1.csv").exists());
    assert!(tree.root().join("tier0.csv").is_file());
    assert_eq!(
        fs::read_to_string(tree.root().join("mine.csv")).unwrap(),
        "a,b\n1,2\n"
    );
    assert!(tree.root().join("notes.txt").is_file());
    // Said once: a third analyze has nothing more to remove.
    let third = tree.analyze(&["--quiet"]);
    assert!(
        !stderr_of(&third).contains("removed"),
        "{}",
        stderr_of(&third)
    );
}

#[test]
fn a_summary_without_baselines_is_removed_and_the_models_are_named() {
    let tree = Tree::new();
    completed(&tree, "tier0", "Smol", 256);
    completed(&tree, "tier0", "Smol", 512);
    assert!(tree.analyze(&["--quiet"]).status.success());
    assert!(tree.root().join("optimization_summary.csv").is_file());

    // The baseline run is gone: Smol has no baseline now.
    fs::remove_dir_all(tree.root().join(run_path(
        "tier0",
        "Smol",
        "tp1-pp1-dp1",
        256,
        8192,
        "spec_none",
    )))
    .unwrap();
    let output = tree.analyze(&[]);
    assert!(output.status.success());
    let stderr = stderr_of(&output);
    assert!(!tree.root().join("optimization_summary.csv").exists());
    assert!(
        stderr.contains("written by an earlier analyze: no model has a baseline run"),
        "{stderr}"
    );
    assert!(
        stderr.contains("note: no baseline run (tp 1, 2, 4 or 8 with vLLM's defaults"),
        "{stderr}"
    );
    assert!(
        stderr.contains("completed for `Smol`: not in optimization_summary.csv"),
        "{stderr}"
    );
    // 1,000,000 completion tokens over 100 s on 1 GPU: 10,000 tokens/s per GPU.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "## Models without a baseline\n\n\
             Not in the optimization summary: no baseline run (vLLM's defaults) completed. Their best runs:\n\n\
             | Model | Best tps/gpu | Best run's parameters |\n\
             | :-- | --: | :-- |\n\
             | Smol | 10000 | tp=1, pp=1, dp=1, mns=512, mnbt=8192, gmu=90, bs=16, kvc=auto, spec=none, quant=none |\n"
        ),
        "{stdout}"
    );
}

#[test]
fn a_root_one_level_too_deep_or_too_shallow_names_the_root_that_fits() {
    let tree = Tree::new();
    completed(&tree, "tier0", "Smol", 256);
    // One level too deep: an experiment's folder.
    let deep = analyze_in(&tree, &["--root", "data/tier0", "--quiet"]);
    let stderr = stderr_of(&deep);
    assert!(
        stderr.contains(
            "warning: `--root` `data/tier0` looks 1 level deeper than a results tree: \
             `tp1-pp1-dp1` is at depth 3 below it"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: `--root data`\n"), "{stderr}");
    // One level too shallow: the folder holding the output-dir.
    let shallow = analyze_in(&tree, &["--root", ".", "--out", "reports", "--quiet"]);
    let stderr = stderr_of(&shallow);
    assert!(
        stderr.contains("looks 1 level shallower than a results tree: `tp1-pp1-dp1` is at depth 5"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: `--root ./data`\n"), "{stderr}");
    // The right level: no warning.
    let right = tree.analyze(&["--quiet"]);
    assert!(
        !stderr_of(&right).contains("level"),
        "{}",
        stderr_of(&right)
    );
}

#[test]
fn a_tree_without_runs_says_nothing_was_found_and_writes_nothing() {
    let tree = Tree::new();
    tree.file("data/tier0/README", "no runs yet");
    let output = tree.analyze(&["--out", "reports"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "error: no run directory (a folder holding `inference_logs/`) found below `data`: \
             nothing analyzed, nothing written"
        ),
        "{stderr}"
    );
    assert!(!tree.base().join("reports").exists());
    assert_eq!(fs::read_dir(tree.root()).unwrap().count(), 1);
}

#[test]
fn a_root_inside_a_run_names_the_root_that_fits() {
    let tree = Tree::new();
    completed(&tree, "tier0", "Smol", 256);
    let run = run_path("tier0", "Smol", "tp1-pp1-dp1", 256, 8192, "spec_none");
    let below_tp = format!("data/{}", run.split("/mns_").next().unwrap());
    let output = analyze_in(&tree, &["--root", &below_tp, "--out", "reports", "--quiet"]);
    let stderr = stderr_of(&output);
    let base = fs::canonicalize(tree.base()).unwrap();
    assert!(
        stderr.contains(&format!(
            "warning: `--root` `{below_tp}` looks 4 levels deeper than a results tree: it is \
             inside the run folder `tp1-pp1-dp1`, so the columns are read from the wrong levels\n\
             hint: `--root {}`\n",
            base.join("data").display()
        )),
        "{stderr}"
    );
}

#[test]
fn another_roots_outputs_in_a_shared_out_are_never_removed() {
    let first = Tree::new();
    completed(&first, "tier0", "Smol", 256);
    let second = Tree::new();
    completed(&second, "tier1", "Gemma", 256);
    let shared = first.base().join("shared");
    let shared_arg = shared.to_str().unwrap();
    assert!(
        first
            .analyze(&["--out", shared_arg, "--quiet"])
            .status
            .success()
    );
    let output = second.analyze(&["--out", shared_arg, "--quiet"]);
    assert!(output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("holds the outputs of `analyze --root "),
        "{stderr}"
    );
    assert!(!stderr.contains("note: removed"), "{stderr}");
    assert!(shared.join("tier0.csv").is_file());
    assert!(shared.join("tier1.csv").is_file());
}

#[test]
fn a_removal_is_said_only_when_something_was_removed() {
    let tree = Tree::new();
    completed(&tree, "tier0", "Smol", 256);
    assert!(tree.analyze(&["--quiet"]).status.success());
    let manifest = tree.root().join(".analyze-outputs");
    let mut listed = fs::read_to_string(&manifest).unwrap();
    listed.push_str("gone.csv\n");
    fs::write(&manifest, listed).unwrap();
    let output = tree.analyze(&["--quiet"]);
    assert!(
        !stderr_of(&output).contains("removed"),
        "{}",
        stderr_of(&output)
    );
    // --no-report removes the report it wrote, and says so.
    let output = tree.analyze(&["--quiet", "--no-report"]);
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "note: removed `data/report.html`, written by an earlier analyze: --no-report"
        ),
        "{stderr}"
    );
}

#[test]
fn a_run_submitted_without_output_yet_is_said_and_the_csvs_do_not_change() {
    let tree = Tree::new();
    completed(&tree, "tier0", "Smol", 256);
    // Submitted, its job not started: no .out at all.
    let queued = run_path("tier0", "Smol", "tp1-pp1-dp1", 512, 8192, "spec_none");
    tree.run(&queued).file(
        "inference_logs/launch/submissions.jsonl",
        "{\"token\":\"t1\",\"submitted_at\":\"2026-12-04T10:00:00Z\",\"command\":[],\"job_id\":null}\n\
         {\"token\":\"t1\",\"submitted_at\":\"2026-12-04T10:00:00Z\",\"command\":[],\"job_id\":\"91\"}\n",
    );
    // Failed as job 50, resubmitted as job 92 that has not started: the row stays job 50's.
    let resubmitted = run_path("tier0", "Smol", "tp1-pp1-dp1", 1024, 8192, "spec_none");
    tree.run(&resubmitted)
        .out("50_0.out", fixture("failures/timeout.out"))
        .file(
            "inference_logs/launch/submissions.jsonl",
            "{\"token\":\"t0\",\"job_id\":\"50\"}\n{\"token\":\"t2\",\"job_id\":\"92\"}\n",
        );
    let output = tree.analyze(&["--quiet"]);
    assert!(output.status.success());
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(&format!(
            "note: run `data/{queued}`: submitted as job 91, no output yet\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "note: run `data/{resubmitted}`: submitted as job 92, no output yet\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("`launch --config CONFIG --status`"),
        "{stderr}"
    );
    assert!(!stderr.contains("without a .out file"), "{stderr}");
    let (_, rows) = tree.csv("benchmarking_results.csv");
    assert_eq!(rows.len(), 2, "the completed run and job 50's row");
    assert_eq!(rows[1]["comment"], "timeout");
}
