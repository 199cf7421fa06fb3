//! `analyze` over trees that break the usual assumptions: special files where logs or stats
//! should be, stats with malformed values, names that are not UTF-8, absurd `--jobs`.
//! Every expected cell is derived by hand from the inputs written here.

use crate::common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

use common::{METRIC_COLUMNS, Stats, Tree, run_path};

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn special_files_are_reported_not_read() {
    let tree = Tree::new();
    let fifo_run = run_path("tier0", "SmolA", "tp1", 256, 8192, "spec_none");
    let zero_run = run_path("tier0", "SmolA", "tp1", 512, 8192, "spec_none");
    let log_run = run_path("tier0", "SmolA", "tp1", 1024, 8192, "spec_none");
    // Not completed (no stats), two attempts, a server log that is a FIFO.
    let failed_log_run = run_path("tier0", "SmolA", "tp1", 2048, 8192, "spec_none");
    tree.run(&fifo_run).out("1_0.out", "");
    tree.run(&zero_run).out("2_0.out", "");
    // A complete run whose server log is a FIFO: its stats count, the log is reported.
    tree.run(&log_run)
        .out("3_0.out", "")
        .stats(&Stats::BASE.merged_json());
    tree.run(&failed_log_run)
        .out("4_0.out", "")
        .out("5_0.out", "");
    // FIFOs (`mkfifo` of coreutils: the standard library cannot make them) that nobody
    // writes to: a reader that opened them would wait forever.
    let server_log = |run: &str| {
        let dir = tree.root().join(run).join("inference_logs/server_logs");
        fs::create_dir_all(&dir).unwrap();
        dir.join("server_rank_0_node_0.log")
    };
    let status = std::process::Command::new("mkfifo")
        .arg(
            tree.root()
                .join(&fifo_run)
                .join("inference_logs/stats.json"),
        )
        .arg(server_log(&log_run))
        .arg(server_log(&failed_log_run))
        .status()
        .expect("`mkfifo` runs");
    assert!(status.success());
    std::os::unix::fs::symlink(
        "/dev/zero",
        tree.root()
            .join(&zero_run)
            .join("inference_logs/stats.json"),
    )
    .unwrap();

    let output = tree.analyze(&[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let (_, rows) = tree.csv("benchmarking_results.csv");
    let comments: Vec<&str> = rows.iter().map(|r| r["comment"].as_str()).collect();
    // `docs/results.md`: the comment is exactly one of its values. A stats.json that is
    // present but cannot be read as stats is `stats.json unreadable`; the completed run keeps
    // the completed rules (no failed requests: empty); the run without stats whose server log
    // cannot be searched is `stats.json not found`.
    assert_eq!(
        comments,
        [
            "stats.json unreadable",
            "stats.json unreadable",
            "",
            "stats.json not found"
        ]
    );
    for row in rows.iter().filter(|row| row["mns"] != "1024") {
        for column in METRIC_COLUMNS {
            assert_eq!(row[column], "", "{column}");
        }
    }
    // 1,000,000 tokens in 100 s on one GPU; no server log averages.
    assert_eq!(rows[2]["output_tps_per_gpu"], "10000.000000");
    assert_eq!(rows[2]["avg_running_reqs"], "");
    // Each file that could not be read is reported once, naming it, even when the run has
    // several rows.
    for (run, file, kind) in [
        (&fifo_run, "stats.json", "a FIFO (named pipe)"),
        (&zero_run, "stats.json", "a character device"),
        (
            &log_run,
            "server_logs/server_rank_0_node_0.log",
            "a FIFO (named pipe)",
        ),
        (
            &failed_log_run,
            "server_logs/server_rank_0_node_0.log",
            "a FIFO (named pipe)",
        ),
    ] {
        let line = format!(
            "warning: cannot read run `data/{run}`: `data/{run}/inference_logs/{file}`: {kind}, \
             not a regular file: not read\n"
        );
        assert_eq!(stderr.matches(&line).count(), 1, "{line}\n{stderr}");
        assert_eq!(
            stderr
                .matches(&format!("cannot read run `data/{run}`"))
                .count(),
            1,
            "{stderr}"
        );
    }
}

#[test]
fn malformed_counts_leave_the_run_completed() {
    // `docs/results.md`: valid = parses and a `Model call` step has a `stats` object.
    // `prompt_tokens` as a string, a negative `failed_requests` and a fractional
    // `successful_requests` are missing (0); the rest counts: 500,000 output tokens in 100 s on
    // one GPU = 5000 per GPU. Two attempts (two rows), one warning naming each bad value.
    let tree = Tree::new();
    let run = run_path("tier0", "SmolA", "tp1", 256, 8192, "spec_none");
    tree.run(&run).out("1_0.out", "").out("2_0.out", "").stats(
        r#"[{"name": "Model call: Inference", "time_stats": {"global_mean": 110.0},
             "stats": {"prompt_tokens": "10",
                       "completion_tokens": {"total": 500000, "n": 10000, "mean": 50.0},
                       "successful_requests": {"total": 1.5},
                       "failed_requests": -3,
                       "inference_time": {"total": 100.0}}}]"#,
    );
    let output = tree.analyze(&[]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    let (_, rows) = tree.csv("benchmarking_results.csv");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    for (column, value) in [
        ("comment", ""),
        ("prompt_tokens_total", "0"),
        ("mean_input_tokens", ""),
        ("completion_tokens_total", "500000"),
        ("mean_output_tokens", "50.000000"),
        ("successful_requests", "0"),
        ("e2e_per_1k_per_gpu", ""),
        ("output_tps_per_gpu", "5000.000000"),
        ("input_tps_per_gpu", "0.000000"),
        ("e2e_time", "110.000000"),
    ] {
        assert_eq!(row[column], value, "{column}");
    }
    let warning = format!(
        "warning: run `data/{run}`: malformed values in stats.json counted as missing: \
         `prompt_tokens` = `\"10\"`, `successful_requests.total` = `1.5`, \
         `failed_requests` = `-3` (a count must be a non-negative integer, a time or mean a \
         non-negative number)\n"
    );
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    assert_eq!(stderr.matches("malformed").count(), 1, "{stderr}");
}

#[test]
fn jobs_beyond_the_cpus_are_capped_and_zero_is_refused() {
    let tree = Tree::new();
    for mns in [256, 512, 1024] {
        tree.run(&run_path("tier0", "SmolA", "tp1", mns, 8192, "spec_none"))
            .out("1_0.out", "")
            .stats(&Stats::BASE.merged_json());
    }
    // Without the cap this starts 100,000 threads and does not finish.
    let output = tree.analyze(&["--jobs", "100000", "--quiet"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(tree.csv("benchmarking_results.csv").1.len(), 3);

    let output = Tree::new().analyze(&["--jobs", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("invalid value '0' for '--jobs <N>': must be at least 1"),
        "{stderr}"
    );
}

/// Create a run directory below `data` from raw bytes (`experiment` may be any bytes) with
/// one `.out` file and a complete `stats.json`; returns the run directory.
fn raw_run(tree: &Tree, experiment: &[u8], mns: u64, out_name: &[u8]) -> std::path::PathBuf {
    let below = run_path("EXP", "SmolA", "tp1", mns, 8192, "spec_none");
    let below = below.strip_prefix("EXP/").unwrap();
    let dir = tree.root().join(OsStr::from_bytes(experiment)).join(below);
    let logs = dir.join("inference_logs/slurm_logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join(OsStr::from_bytes(out_name)), "").unwrap();
    fs::write(
        dir.join("inference_logs/stats.json"),
        Stats::BASE.merged_json(),
    )
    .unwrap();
    dir
}

#[test]
fn names_that_are_not_utf8_are_escaped_warned_and_never_share_a_csv() {
    let tree = Tree::new();
    // Two experiments that a lossy conversion would both show as `bad\u{FFFD}name`, and one
    // whose literal (valid) name is the escaped form of the first.
    raw_run(&tree, b"bad\xffname", 256, b"1_0.out");
    raw_run(&tree, b"bad\xfename", 512, b"2_0.out");
    raw_run(&tree, br"bad\xffname", 1024, b"3_0.out");
    // A valid run directory with a second .out whose name is not UTF-8.
    let tier0 = raw_run(&tree, b"tier0", 256, b"4_0.out");
    fs::write(
        tier0.join(OsStr::from_bytes(b"inference_logs/slurm_logs/5_\xff.out")),
        "",
    )
    .unwrap();

    let output = tree.analyze(&["--quiet"]);
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    let tail = "tutorial/SmolA/tp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none";

    // Once per run directory whose path is not UTF-8.
    assert_eq!(
        stderr.matches("its path is not valid UTF-8").count(),
        2,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: run `data/bad\\xffname/{tail}`: its path is not valid UTF-8"
        )),
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("file names that are not valid UTF-8 were not read")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "`data/tier0/{tail}/inference_logs/slurm_logs/5_\\xff.out`"
        )),
        "{stderr}"
    );

    // Every row kept, each `path` telling the folders apart.
    let (_, rows) = tree.csv("benchmarking_results.csv");
    let paths: Vec<&str> = rows.iter().map(|r| r["path"].as_str()).collect();
    assert_eq!(
        paths,
        [
            format!(
                "data/bad\\xfename/{}/inference_logs/slurm_logs/2_0.out",
                tail.replace("mns_256", "mns_512")
            ),
            format!("data/bad\\xffname/{tail}/inference_logs/slurm_logs/1_0.out"),
            format!(
                "data/bad\\xffname/{}/inference_logs/slurm_logs/3_0.out",
                tail.replace("mns_256", "mns_1024")
            ),
            format!("data/tier0/{tail}/inference_logs/slurm_logs/4_0.out"),
        ]
    );
    // `bad\xfename` names one folder: its own CSV. `bad\xffname` names two: no CSV of its
    // own (neither overwrites the other), and a warning.
    assert_eq!(tree.csv("bad\\xfename.csv").1.len(), 1);
    assert!(!tree.root().join("bad\\xffname.csv").exists());
    assert!(
        stderr.contains("experiment `bad\\xffname` stands for several directories"),
        "{stderr}"
    );
    assert_eq!(tree.csv("tier0.csv").1.len(), 1);
}

/// A `stats.json` as datatrove writes it, with `model_call` as the `Model call` step's stats
/// and a reader step holding Python's non-finite floats (`json.dump` writes them bare).
fn stats_json(model_call: &str) -> String {
    format!(
        r#"[{{"name": "Reader", "time_stats": {{"total": 2.0}},
             "stats": {{"doc_len": {{"total": NaN, "mean": Infinity}}, "ratio": -Infinity}}}},
            {{"name": "Model call: Inference", "time_stats": {{"total": 100.0}},
             "stats": {model_call}}}]"#
    )
}

/// `analyze` over `tree`, which must exit 0, and the rows of `benchmarking_results.csv`.
fn analyze_ok(
    tree: &common::Tree,
) -> (
    std::process::Output,
    Vec<std::collections::HashMap<String, String>>,
) {
    let output = tree.analyze(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output, tree.csv("benchmarking_results.csv").1)
}

fn one_run_tree(stats: &str) -> common::Tree {
    let tree = common::Tree::new();
    tree.run("e/p/m/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none")
        .out("7_0.out", "")
        .stats(stats);
    tree
}

#[test]
fn python_nan_and_infinity_in_stats_we_do_not_use_leave_the_run_completed() {
    let tree = one_run_tree(&stats_json(
        r#"{"prompt_tokens": 2000, "completion_tokens": 1000, "successful_requests": 10,
            "inference_time": 100.0, "server_load": NaN, "note": "NaN is text here"}"#,
    ));
    let (_, rows) = analyze_ok(&tree);
    // 1,000 completion tokens / 100 s on 1 GPU.
    assert_eq!(rows[0]["output_tps_per_gpu"], "10.000000");
    assert_eq!(rows[0]["comment"], "");
    // e2e_time: the two steps' times, 2 + 100 s.
    assert_eq!(rows[0]["e2e_time"], "102.000000");
}

#[test]
fn token_counts_up_to_u64_max_are_exact() {
    let tree = one_run_tree(&stats_json(
        r#"{"prompt_tokens": {"total": 18446744073709551615, "n": 1},
            "completion_tokens": 18446744073709551615, "successful_requests": 1,
            "inference_time": 1.0}"#,
    ));
    let (output, rows) = analyze_ok(&tree);
    assert_eq!(rows[0]["prompt_tokens_total"], "18446744073709551615");
    assert_eq!(rows[0]["completion_tokens_total"], "18446744073709551615");
    // 18,446,744,073,709,551,615 tokens / 1 s, as a double printed with six decimals.
    assert_eq!(rows[0]["output_tps_per_gpu"], "18446744073709551616.000000");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("malformed"), "{stderr}");
}

#[test]
fn an_inference_time_of_1e_320_leaves_empty_cells_and_a_warning() {
    let tree = one_run_tree(&stats_json(
        r#"{"prompt_tokens": 2000, "completion_tokens": 1000, "successful_requests": 10,
            "inference_time": 1e-320}"#,
    ));
    let (output, rows) = analyze_ok(&tree);
    for (column, cell) in &rows[0] {
        assert!(
            !cell.parse::<f64>().is_ok_and(|value| !value.is_finite()),
            "{column}: {cell}"
        );
    }
    // The throughputs and what is computed from them: the first seven metric columns.
    for column in &common::METRIC_COLUMNS[..7] {
        assert_eq!(rows[0][*column], "", "{column}");
    }
    // What is finite stays: the time itself and the per-1k figure (1e-320 s / 10 x 1000).
    assert_eq!(rows[0]["inference_time"], "0.000000");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "input_tps_per_gpu, output_tps_per_gpu, tokens_input_per_sec, tokens_output_per_sec \
             came out infinite or not a number (inference_time 1e-320 s, e2e_time 1.02e2 s): \
             left empty, with what is computed from them"
        ),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("| inf |") && !stdout.contains("NaN"),
        "{stdout}"
    );
}

/// A timed-out run (no stats, slurmstepd's time-limit line in its `.out`) whose server log
/// holds `log`.
fn timed_out_run(tree: &common::Tree, run_dir: &str, log: &[u8]) {
    tree.run(run_dir)
        .out(
            "41_0.out",
            "slurmstepd: error: *** JOB 41 ON node07 CANCELLED AT 2026-12-04T12:00:00 DUE TO TIME LIMIT ***\n",
        )
        .server_log(log);
}

/// One metrics record of engine `engine` (`None`: no prefix).
fn metrics_record(engine: Option<u32>, generation: f64, running: u32) -> String {
    let prefix = engine
        .map(|e| format!("Engine {e:03}: "))
        .unwrap_or_default();
    format!(
        "(APIServer pid=5) INFO 12-04 11:00:00 [loggers.py:123] {prefix}Avg prompt throughput: \
         10.0 tokens/s, Avg generation throughput: {generation} tokens/s, Running: {running} \
         reqs, Waiting: 0 reqs, GPU KV cache usage: 5.0%, Prefix cache hit rate: 0.0%\n"
    )
}

#[test]
fn a_timed_out_run_gets_the_throughput_its_server_log_showed() {
    let tree = common::Tree::new();
    // tp 2: (900 + 1100) / 2 over the records with requests running (the idle one is out),
    // / 2 GPUs = 500.
    let log = [
        metrics_record(Some(0), 900.0, 12),
        metrics_record(Some(0), 0.0, 0),
        metrics_record(Some(0), 1100.0, 30),
    ]
    .concat();
    timed_out_run(
        &tree,
        "e/p/m/tp2-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none",
        log.as_bytes(),
    );
    let (output, rows) = analyze_ok(&tree);
    assert_eq!(rows[0]["comment"], "timeout");
    assert_eq!(rows[0]["output_tps_per_gpu"], "");
    assert_eq!(rows[0]["log_output_tps_per_gpu"], "500.000000");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| 500 | timeout |"), "{stdout}");
}

#[test]
fn two_engines_of_a_data_parallel_run_are_summed_then_divided_by_all_gpus() {
    let tree = common::Tree::new();
    // dp 2, tp 1: engine 0 averages (1000 + 1200) / 2 = 1100, engine 1 averages 800;
    // 1100 + 800 = 1900 over 2 GPUs = 950.
    let log = [
        metrics_record(Some(0), 1000.0, 4),
        metrics_record(Some(1), 800.0, 2),
        metrics_record(Some(0), 1200.0, 3),
        metrics_record(Some(1), 0.0, 0),
    ]
    .concat();
    timed_out_run(
        &tree,
        "e/p/m/tp1-pp1-dp2/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none",
        log.as_bytes(),
    );
    let (_, rows) = analyze_ok(&tree);
    assert_eq!(rows[0]["log_output_tps_per_gpu"], "950.000000");
}

#[test]
fn speculative_decoding_and_version_columns_come_from_the_server_log() {
    let tree = common::Tree::new();
    tree.run("e/p/m/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_ngram_6/quant_none")
        .out("7_0.out", "")
        .stats(&stats_json(
            r#"{"prompt_tokens": 2000, "completion_tokens": 1000, "successful_requests": 10,
                "inference_time": 100.0}"#,
        ))
        .server_log(common::fixture("vllm/spec-v1-mean-length.log"));
    let (output, rows) = analyze_ok(&tree);
    // (150 + 725) / (387 + 1488) = 46.666667%; (2.16 x 387 + 2.45 x 1488) / 1875 = 2.390144.
    let row = &rows[0];
    assert_eq!(row["spec_acceptance_rate"], "46.666667");
    assert_eq!(row["spec_mean_acceptance_length"], "2.390144");
    assert_eq!(row["spec_accepted_tokens"], "875");
    assert_eq!(row["spec_drafted_tokens"], "1875");
    assert_eq!(row["vllm_version"], "0.10.1");
    assert_eq!(row["log_output_tps_per_gpu"], "");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| 46.7 | | |"), "{stdout}");
    // Without a speculative-decoding line or a version line: empty.
    let tree = one_run_tree(&stats_json(
        r#"{"prompt_tokens": 2000, "completion_tokens": 1000, "successful_requests": 10,
            "inference_time": 100.0}"#,
    ));
    let (_, rows) = analyze_ok(&tree);
    for column in [
        "spec_acceptance_rate",
        "spec_mean_acceptance_length",
        "spec_accepted_tokens",
        "spec_drafted_tokens",
        "vllm_version",
        "log_output_tps_per_gpu",
    ] {
        assert_eq!(rows[0][column], "", "{column}");
    }
}

#[test]
fn an_executor_json_naming_a_trillion_tasks_is_a_run_not_completed_in_bounded_memory() {
    let tree = common::Tree::new();
    tree.run("e/p/m/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none")
        .out("7_0.out", "")
        .file(
            "inference_logs/executor.json",
            r#"{"tasks": 1000000000000, "workers": -1}"#,
        )
        .file("inference_logs/stats/00000.json", "[]");
    // Under 1 GiB of address space: allocating a name per task would abort.
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$@\"")
        .arg("sh")
        .arg(assert_cmd::cargo::cargo_bin!("analyze"))
        .args(["--root", "data"])
        .current_dir(tree.base())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (_, rows) = tree.csv("benchmarking_results.csv");
    assert_eq!(rows[0]["comment"], "stats.json not found");
    assert_eq!(rows[0]["output_tps_per_gpu"], "");
}
