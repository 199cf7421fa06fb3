//! End-to-end tests of `analyze` over results trees built in the test (`docs/results.md`).
//! Every expected cell is derived by hand from the inputs written here.

use crate::common;

use std::collections::HashMap;
use std::fs;

use common::{METRIC_COLUMNS, Stats, Tree, fixture, metrics_line, read_csv, run_path, set_mode};

/// Column -> cell of the row whose `path` ends with `suffix` (exactly one such row).
fn row<'a>(rows: &'a [HashMap<String, String>], suffix: &str) -> &'a HashMap<String, String> {
    let found: Vec<_> = rows
        .iter()
        .filter(|r| r["path"].ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "rows ending with `{suffix}`: {found:?}");
    found[0]
}

/// Assert the given cells of a row.
fn assert_cells(row: &HashMap<String, String>, expected: &[(&str, &str)]) {
    for (column, value) in expected {
        assert_eq!(
            row[*column], *value,
            "column `{column}` of `{}`",
            row["path"]
        );
    }
}

/// Assert that every metric column of a row is empty.
fn assert_no_metrics(row: &HashMap<String, String>) {
    for column in METRIC_COLUMNS {
        assert_eq!(row[column], "", "column `{column}` of `{}`", row["path"]);
    }
}

/// The big tree of issue 6's "Must show" list.
fn build_main_tree() -> Tree {
    let tree = Tree::new();
    let clean = fixture("failures/clean-run.out");
    let idle_log = fixture("vllm/v1-plain-idle.log");

    // A: tier0 baseline of SmolA, complete, two attempts (two .out files).
    // 800,100 output tokens in 200 s on 1 GPU -> 4000.5 tokens/s per GPU.
    tree.run(&run_path(
        "tier0-tiny",
        "SmolA",
        "tp1-pp1-dp1",
        256,
        8192,
        "spec_none",
    ))
    .out("100_0.out", &clean)
    .out("205_0.out", &clean)
    .server_log(&idle_log)
    .stats(
        &Stats {
            prompt_tokens: 2_000_000,
            completion_tokens: 800_100,
            mean_input: 200.0,
            mean_output: 80.01,
            inference_time: 200.0,
            step_times: [10.0, 230.0],
            ..Stats::BASE
        }
        .merged_json(),
    );

    // B: complete although its server log mentions `CUDA out of memory` (recovered).
    // 1,000,300 output tokens in 100 s on tp 2 -> 5001.5 per GPU.
    let mut log = metrics_line(10, 2, 50.0, 10.0);
    log.push_str(&String::from_utf8(fixture("failures/oom-torch.log")).unwrap());
    tree.run(&run_path(
        "tier0-tiny",
        "SmolA",
        "tp2-pp1-dp1",
        512,
        8192,
        "spec_none",
    ))
    .out("300_0.out", &clean)
    .server_log(log)
    .stats(
        &Stats {
            completion_tokens: 1_000_300,
            successful: 5_000,
            mean_output: 200.06,
            step_times: [5.0, 120.0],
            ..Stats::BASE
        }
        .merged_json(),
    );

    // C1 and C2: equal config columns (`tp1-pp1-dp1` and `tp1_pp1_dp1`), one row: the faster.
    // C1: 1,000,000 tokens in 125 s -> 8000; C2: 1,000,050 tokens in 100 s -> 10000.5.
    tree.run(&run_path(
        "tier1-tiny",
        "SmolA",
        "tp1-pp1-dp1",
        512,
        32768,
        "spec_ngram_6",
    ))
    .out("400_0.out", &clean)
    .stats(
        &Stats {
            inference_time: 125.0,
            ..Stats::BASE
        }
        .merged_json(),
    );
    tree.run(&run_path(
        "tier1-tiny",
        "SmolA",
        "tp1_pp1_dp1",
        512,
        32768,
        "spec_ngram_6",
    ))
    .out("401_0.out", &clean)
    .stats(
        &Stats {
            completion_tokens: 1_000_050,
            ..Stats::BASE
        }
        .merged_json(),
    );

    // D: experiment `tp2-sweep`, segment `tp2` without pp and dp; SmolB's only baseline.
    // 600,000 tokens in 100 s on 2 GPUs -> 3000. D2: tp 1 but mns 512 -> 4000.
    tree.run(&run_path(
        "tp2-sweep",
        "SmolB",
        "tp2",
        256,
        8192,
        "spec_none",
    ))
    .out("500_0.out", &clean)
    .stats(
        &Stats {
            completion_tokens: 600_000,
            ..Stats::BASE
        }
        .merged_json(),
    );
    tree.run(&run_path(
        "tp2-sweep",
        "SmolB",
        "tp1",
        512,
        8192,
        "spec_none",
    ))
    .out("501_0.out", &clean)
    .stats(
        &Stats {
            completion_tokens: 400_000,
            ..Stats::BASE
        }
        .merged_json(),
    );

    // E: no `bs_` component; SmolC has no baseline. 500,000 tokens in 100 s -> 5000.
    tree.run("tier0-tiny/tutorial/SmolC/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/kvc_auto/spec_none/quant_none")
        .out("600_0.out", &clean)
        .stats(
            &Stats {
                completion_tokens: 500_000,
                ..Stats::BASE
            }
            .merged_json(),
        );

    // J: dp 2, baseline config for SmolD, a server log without metric lines.
    // 1,000,000 output tokens in 100 s on tp 1 x dp 2 = 2 GPUs -> 5000 per GPU.
    tree.run(&run_path(
        "tier0-tiny",
        "SmolD",
        "tp1-pp1-dp2",
        256,
        8192,
        "spec_none",
    ))
    .out("700_0.out", &clean)
    .server_log(fixture("vllm/v1-no-records.log"))
    .stats(&Stats::BASE.merged_json());

    // Failures of SmolF, one mns per case. Every failed run has a server log with metric
    // lines, which must not give averages.
    let failures = [
        (1, "failures/clean-run.out", Some("failures/oom-torch.log")),
        (2, "failures/host-oom-then-cancelled.out", None),
        (3, "failures/timeout.out", None),
        (4, "failures/node-fail.out", None),
        (5, "failures/preempted.out", None),
        (6, "failures/server-fail.out", None),
        (7, "failures/cancelled.out", None),
        (8, "failures/error-traceback.out", None),
        (9, "failures/clean-run.out", None),
    ];
    for (mns, out, server_extra) in failures {
        let mut log = idle_log.clone();
        if let Some(extra) = server_extra {
            log.extend(fixture(extra));
        }
        tree.run(&run_path(
            "failures",
            "SmolF",
            "tp1-pp1-dp1",
            mns,
            8192,
            "spec_none",
        ))
        .out(&format!("{}_0.out", 800 + mns), fixture(out))
        .server_log(log);
    }
    // mns 10: a truncated stats.json, no failure line.
    let full = Stats::BASE.merged_json();
    tree.run(&run_path(
        "failures",
        "SmolF",
        "tp1-pp1-dp1",
        10,
        8192,
        "spec_none",
    ))
    .out("810_0.out", &clean)
    .stats(&full[..full.len() / 2]);
    // mns 11: complete with 3 failed requests: 100 tokens in 10 s -> 10 tokens/s.
    tree.run(&run_path(
        "failures",
        "SmolF",
        "tp1-pp1-dp1",
        11,
        8192,
        "spec_none",
    ))
    .out("811_0.out", &clean)
    .stats(
        &Stats {
            prompt_tokens: 70,
            completion_tokens: 100,
            successful: 7,
            failed: 3,
            inference_time: 10.0,
            step_times: [1.0, 11.0],
            ..Stats::BASE
        }
        .merged_json(),
    );
    // mns 12: an empty .out, no stats.json.
    tree.run(&run_path(
        "failures",
        "SmolF",
        "tp1-pp1-dp1",
        12,
        8192,
        "spec_none",
    ))
    .out("812_0.out", "");
    // mns 13: no stats.json, but executor.json names 2 tasks and both per-task files exist.
    let task = |prompt, completion, successful, inference_time, step_times| Stats {
        prompt_tokens: prompt,
        completion_tokens: completion,
        successful,
        mean_input: prompt as f64 / successful as f64,
        mean_output: completion as f64 / successful as f64,
        inference_time,
        step_times,
        ..Stats::BASE
    };
    tree.run(&run_path(
        "failures",
        "SmolF",
        "tp1-pp1-dp1",
        13,
        8192,
        "spec_none",
    ))
    .out("813_0.out", &clean)
    .file(
        "inference_logs/executor.json",
        r#"{"tasks": 2, "workers": -1}"#,
    )
    .file(
        "inference_logs/stats/00000.json",
        task(100, 200, 2, 1.0, [0.5, 1.5]).task_json(),
    )
    .file(
        "inference_logs/stats/00001.json",
        task(300, 400, 3, 3.0, [1.5, 2.5]).task_json(),
    );
    // mns 14: outputs but no .out file: no row.
    tree.run(&run_path(
        "failures",
        "SmolF",
        "tp1-pp1-dp1",
        14,
        8192,
        "spec_none",
    ))
    .stats(&Stats::BASE.merged_json());
    // mns 15: an unknown component below quant: warned, the other fields kept.
    tree.run(&format!(
        "{}/extra_dir",
        run_path("failures", "SmolF", "tp1-pp1-dp1", 15, 8192, "spec_none")
    ))
    .out("815_0.out", &clean);

    // A symlinked experiment folder (stored outside `data`): 200,000 tokens in 100 s -> 2000.
    tree.file(
        "elsewhere/store/tutorial/SmolL/tp1-pp1-dp1/mns_512/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none/inference_logs/slurm_logs/900_0.out",
        &clean,
    );
    tree.file(
        "elsewhere/store/tutorial/SmolL/tp1-pp1-dp1/mns_512/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none/inference_logs/stats.json",
        Stats {
            completion_tokens: 200_000,
            ..Stats::BASE
        }
        .merged_json(),
    );
    std::os::unix::fs::symlink("../elsewhere/store", tree.root().join("linked")).unwrap();
    // A symbolic link loop: back to the experiment folder that contains it.
    std::os::unix::fs::symlink("..", tree.root().join("tier0-tiny/tutorial/loop")).unwrap();
    tree
}

#[test]
fn main_tree_rows_cells_summary_and_tables() {
    let tree = build_main_tree();
    let output = tree.analyze(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );

    let (header, rows) = tree.csv("benchmarking_results.csv");
    assert_eq!(
        header.join(","),
        "experiment,prompt_template_name,model,tp,pp,dp,mns,mnbt,gmu,bs,kvc,spec,quant,\
         gpus_for_1b_tokens_per_hour,node_days_to_process_1b_tokens,gpu_days_to_process_1b_tokens,\
         input_tps_per_gpu,output_tps_per_gpu,tokens_input_per_sec,tokens_output_per_sec,\
         avg_running_reqs,avg_waiting_reqs,avg_gpu_kvc_usage,avg_prefix_cache_hit_rate,\
         prompt_tokens_total,completion_tokens_total,mean_input_tokens,mean_output_tokens,\
         successful_requests,e2e_time,inference_time,e2e_per_1k_per_gpu,inference_per_1k_per_gpu,\
         path,comment,spec_acceptance_rate,spec_mean_acceptance_length,spec_accepted_tokens,\
         spec_drafted_tokens,vllm_version,log_output_tps_per_gpu"
    );

    // Order: by experiment (byte order), then model, tp, ..., mns numerically.
    let order: Vec<&str> = rows
        .iter()
        .map(|r| r["path"].rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "801_0.out",
            "802_0.out",
            "803_0.out",
            "804_0.out",
            "805_0.out",
            "806_0.out",
            "807_0.out",
            "808_0.out",
            "809_0.out",
            "810_0.out",
            "811_0.out",
            "812_0.out",
            "813_0.out",
            "815_0.out", // failures, mns 1..15 (14 has no .out)
            "900_0.out", // linked
            "205_0.out",
            "300_0.out",
            "600_0.out",
            "700_0.out", // tier0-tiny: SmolA tp1, tp2, SmolC, SmolD
            "401_0.out", // tier1-tiny: C1 and C2 collapsed
            "501_0.out",
            "500_0.out", // tp2-sweep: SmolB tp1, tp2
        ]
    );

    // A: every cell. 2,000,000 prompt tokens / 200 s = 10000 per s; 800,100 / 200 = 4000.5;
    // 1e9 / 4000.5 / 86400 = 2.893157 GPU-days, / 8 = 0.361645 node-days;
    // 1e9 / (4000.5 x 3600) = 69.435765 GPUs; e2e 10 + 230 = 240 s (global means);
    // 240 / 10,000 x 1000 = 24; 200 / 10,000 x 1000 = 20; server log v1-plain-idle.log
    // (fixture README: 106.666667, 63.333333, 43.000000, 2.500000).
    let a = row(&rows, "205_0.out");
    let expected_a = [
        "tier0-tiny",
        "tutorial",
        "SmolA",
        "1",
        "1",
        "1",
        "256",
        "8192",
        "90",
        "16",
        "kvc_auto",
        "spec_none",
        "quant_none",
        "69.435765",
        "0.361645",
        "2.893157",
        "10000.000000",
        "4000.500000",
        "10000.000000",
        "4000.500000",
        "106.666667",
        "63.333333",
        "43.000000",
        "2.500000",
        "2000000",
        "800100",
        "200.000000",
        "80.010000",
        "10000",
        "240.000000",
        "200.000000",
        "24.000000",
        "20.000000",
        "data/tier0-tiny/tutorial/SmolA/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none/inference_logs/slurm_logs/205_0.out",
        "",
        // No speculative-decoding line and no version line in this log.
        "",
        "",
        "",
        "",
        "",
        // Its records with requests running: (310.5 + 2875.3) / 2 on 1 GPU.
        "1592.900000",
    ];
    let actual_a: Vec<&str> = header.iter().map(|c| a[c].as_str()).collect();
    assert_eq!(actual_a, expected_a);

    // B: recovered OOM in the server log, complete with metrics. tp 2: 1,000,000 prompt
    // tokens / 100 s = 10000 per s, 5000 per GPU; 1,000,300 / 100 = 10003, 5001.5 per GPU;
    // 1e9 / 5001.5 / 86400 = 2.314121; / 8 = 0.289265; 1e9 / (5001.5 x 3600) = 55.538894;
    // e2e 5 + 120 = 125 s, / 5,000 x 1000 x 2 = 50; 100 / 5,000 x 1000 x 2 = 40.
    assert_cells(
        row(&rows, "300_0.out"),
        &[
            ("tp", "2"),
            ("mns", "512"),
            ("gpus_for_1b_tokens_per_hour", "55.538894"),
            ("node_days_to_process_1b_tokens", "0.289265"),
            ("gpu_days_to_process_1b_tokens", "2.314121"),
            ("input_tps_per_gpu", "5000.000000"),
            ("output_tps_per_gpu", "5001.500000"),
            ("tokens_input_per_sec", "10000.000000"),
            ("tokens_output_per_sec", "10003.000000"),
            ("avg_running_reqs", "10.000000"),
            ("avg_waiting_reqs", "2.000000"),
            ("avg_gpu_kvc_usage", "50.000000"),
            ("avg_prefix_cache_hit_rate", "10.000000"),
            ("successful_requests", "5000"),
            ("e2e_time", "125.000000"),
            ("e2e_per_1k_per_gpu", "50.000000"),
            ("inference_per_1k_per_gpu", "40.000000"),
            ("comment", ""),
        ],
    );

    // C2 kept (10000.5 beats 8000), with its own path.
    assert_cells(
        row(&rows, "401_0.out"),
        &[
            ("experiment", "tier1-tiny"),
            ("tp", "1"),
            ("pp", "1"),
            ("dp", "1"),
            ("spec", "spec_ngram_6"),
            ("output_tps_per_gpu", "10000.500000"),
            (
                "path",
                "data/tier1-tiny/tutorial/SmolA/tp1_pp1_dp1/mns_512/mnbt_32768/gmu_90/bs_16/kvc_auto/spec_ngram_6/quant_none/inference_logs/slurm_logs/401_0.out",
            ),
        ],
    );

    // D: `tp2-sweep` is the experiment; `tp2` gives tp 2 and empty pp and dp; 600,000 / 100
    // = 6000 per s on 2 GPUs = 3000; 1e9 / 3000 / 86400 = 3.858025.
    assert_cells(
        row(&rows, "500_0.out"),
        &[
            ("experiment", "tp2-sweep"),
            ("model", "SmolB"),
            ("tp", "2"),
            ("pp", ""),
            ("dp", ""),
            ("mns", "256"),
            ("output_tps_per_gpu", "3000.000000"),
            ("gpu_days_to_process_1b_tokens", "3.858025"),
        ],
    );

    // E: no bs component; the others keep their values.
    assert_cells(
        row(&rows, "600_0.out"),
        &[
            ("model", "SmolC"),
            ("tp", "1"),
            ("mns", "256"),
            ("mnbt", "8192"),
            ("gmu", "90"),
            ("bs", ""),
            ("kvc", "kvc_auto"),
            ("spec", "spec_none"),
            ("quant", "quant_none"),
            ("output_tps_per_gpu", "5000.000000"),
        ],
    );

    // J: dp 2 -> 2 GPUs: 1,000,000 tokens in 100 s -> 5000 per GPU; 1e9 / 5000 / 86400 =
    // 2.314815 GPU-days, / 8 = 0.289352; 1e9 / (5000 x 3600) = 55.555556; per 1k: 100 s /
    // 10,000 x 1000 x 2 = 20; e2e 1 + 101 = 102 s -> 20.4. No metric lines: empty averages.
    assert_cells(
        row(&rows, "700_0.out"),
        &[
            ("dp", "2"),
            ("output_tps_per_gpu", "5000.000000"),
            ("input_tps_per_gpu", "5000.000000"),
            ("tokens_output_per_sec", "10000.000000"),
            ("gpu_days_to_process_1b_tokens", "2.314815"),
            ("node_days_to_process_1b_tokens", "0.289352"),
            ("gpus_for_1b_tokens_per_hour", "55.555556"),
            ("inference_per_1k_per_gpu", "20.000000"),
            ("e2e_per_1k_per_gpu", "20.400000"),
            ("avg_running_reqs", ""),
            ("avg_waiting_reqs", ""),
            ("avg_gpu_kvc_usage", ""),
            ("avg_prefix_cache_hit_rate", ""),
            ("comment", ""),
        ],
    );

    // Failed runs: the class as comment, no metrics (not even the server log's averages).
    for (job, class) in [
        ("801_0.out", "OOM"),
        ("802_0.out", "host_oom"),
        ("803_0.out", "timeout"),
        ("804_0.out", "node_fail"),
        ("805_0.out", "preempted"),
        ("806_0.out", "server_fail"),
        ("807_0.out", "cancelled"),
        ("808_0.out", "error"),
        ("809_0.out", "stats.json not found"),
        ("810_0.out", "stats.json unreadable"),
        ("812_0.out", "stats.json not found"),
        ("815_0.out", "stats.json not found"),
    ] {
        let r = row(&rows, job);
        assert_eq!(r["comment"], class, "{job}");
        assert_no_metrics(r);
    }
    assert_cells(
        row(&rows, "815_0.out"),
        &[("mns", "15"), ("quant", "quant_none")],
    );

    // failed_requests 3: 100 tokens in 10 s -> 10 per s; 1e9 / 10 / 86400 = 1157.407407.
    assert_cells(
        row(&rows, "811_0.out"),
        &[
            ("comment", "failed_requests=3"),
            ("successful_requests", "7"),
            ("output_tps_per_gpu", "10.000000"),
            ("gpu_days_to_process_1b_tokens", "1157.407407"),
        ],
    );

    // Merged per-task stats: 100 + 300 prompt tokens, 200 + 400 completion tokens, 2 + 3
    // requests; means weighted by n: (50 x 2 + 100 x 3) / 5 = 80, (100 x 2 + 133.33 x 3) / 5
    // = 120; inference 1 + 3 = 4 s; e2e = mean(0.5, 1.5) + mean(1.5, 2.5) = 3 s.
    // 600 / 4 = 150 per s; 1e9 / 150 / 86400 = 77.160494; per 1k: 3 / 5 x 1000 = 600, 4 / 5 x
    // 1000 = 800.
    assert_cells(
        row(&rows, "813_0.out"),
        &[
            ("comment", "merged 2 per-task stats files"),
            ("prompt_tokens_total", "400"),
            ("completion_tokens_total", "600"),
            ("successful_requests", "5"),
            ("mean_input_tokens", "80.000000"),
            ("mean_output_tokens", "120.000000"),
            ("inference_time", "4.000000"),
            ("e2e_time", "3.000000"),
            ("tokens_input_per_sec", "100.000000"),
            ("output_tps_per_gpu", "150.000000"),
            ("gpu_days_to_process_1b_tokens", "77.160494"),
            ("e2e_per_1k_per_gpu", "600.000000"),
            ("inference_per_1k_per_gpu", "800.000000"),
        ],
    );

    // The symlinked experiment: its rows under the link's name, its path through the link.
    assert_cells(
        row(&rows, "900_0.out"),
        &[
            ("experiment", "linked"),
            ("model", "SmolL"),
            ("output_tps_per_gpu", "2000.000000"),
            (
                "path",
                "data/linked/tutorial/SmolL/tp1-pp1-dp1/mns_512/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none/inference_logs/slurm_logs/900_0.out",
            ),
        ],
    );

    // Per-experiment files hold that experiment's rows, same columns.
    for (experiment, count) in [
        ("failures", 14),
        ("linked", 1),
        ("tier0-tiny", 4),
        ("tier1-tiny", 1),
        ("tp2-sweep", 2),
    ] {
        let (exp_header, exp_rows) = tree.csv(&format!("{experiment}.csv"));
        assert_eq!(exp_header, header);
        assert_eq!(exp_rows.len(), count, "{experiment}");
        assert!(exp_rows.iter().all(|r| r["experiment"] == experiment));
    }

    // The summary. SmolA: baseline tp 1 = A (4000.5 -> 4000, half to even); tier0 = B
    // (5001.5 -> 5002; 5001.5 / 4000.5 = 1.250219; tp 2 and mns 512 differ); tier1 = C2
    // (10000.5 -> 10000; 10000.5 / 4000.5 = 2.499813). SmolB: tp-1 run is not a baseline,
    // baseline tp 2 = D (3000); no tier rows; overall D2 (4000 / 3000 = 1.333333). SmolC and
    // SmolF: no baseline, no row. SmolD: J is baseline and best.
    let summary = fs::read_to_string(tree.root().join("optimization_summary.csv")).unwrap();
    assert_eq!(
        summary,
        "model,baseline_tp,baseline_tps,tier0_tps,tier0_speedup,tier0_params,tier1_tps,tier1_speedup,tier1_params,overall_tps,overall_speedup,overall_params\n\
         SmolA,1,4000,5002,1.250219,\"tp=2, mns=512\",10000,2.499813,\"mns=512, mnbt=32768, spec=ngram_6\",10000,2.499813,\"mns=512, mnbt=32768, spec=ngram_6\"\n\
         SmolB,2,3000,,,-,,,-,4000,1.333333,\"tp=1, mns=512\"\n\
         SmolD,1,5000,5000,1.000000,(baseline is optimal),,,-,5000,1.000000,(baseline is optimal)\n"
    );

    // stderr: the loop, the unknown component (once), the run without a .out file.
    assert!(
        stderr.contains("symbolic link loop: `data/tier0-tiny/tutorial/loop`"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("unknown path component `extra_dir`").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("1 run directory without a .out file"),
        "{stderr}"
    );
    // The run whose stats.json is cut (mns 10), once, with the reason; not the runs whose
    // comment is a failure class.
    assert_eq!(
        stderr.matches("stats.json unreadable").count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: stats.json unreadable in run `data/{}`: not valid JSON: EOF while parsing",
            run_path("failures", "SmolF", "tp1-pp1-dp1", 10, 8192, "spec_none")
        )),
        "{stderr}"
    );

    insta::assert_snapshot!(
        "main_tree_stdout",
        String::from_utf8(output.stdout).unwrap()
    );
}

#[test]
fn quiet_prints_nothing_and_out_writes_elsewhere() {
    let tree = build_small_tree("tier0", "SmolA", 1);
    let output = tree.analyze(&["--quiet", "--out", "reports", "--jobs", "1"]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let reports = tree.base().join("reports");
    let (_, rows) = read_csv(&reports.join("benchmarking_results.csv"));
    assert_eq!(rows.len(), 1);
    assert!(reports.join("tier0.csv").is_file());
    assert!(reports.join("optimization_summary.csv").is_file());
    assert!(!tree.root().join("benchmarking_results.csv").exists());
}

/// A tree with one complete run of `model`: 1,000,000 tokens in 100 s at tp `tp`.
fn build_small_tree(experiment: &str, model: &str, tp: u64) -> Tree {
    let tree = Tree::new();
    tree.run(&run_path(
        experiment,
        model,
        &format!("tp{tp}-pp1-dp1"),
        256,
        8192,
        "spec_none",
    ))
    .out("1_0.out", "")
    .stats(&Stats::BASE.merged_json());
    tree
}

#[test]
fn each_attempt_is_classified_by_its_own_out_and_the_latest_is_kept() {
    let tree = Tree::new();
    // Two attempts of one run, no stats.json: the older ran out of GPU memory, the newer hit
    // its time limit. Per row, the classes are its own .out's plus the server log's (clean
    // here); the newer attempt (job 20 > 10) is the row kept.
    tree.run(&run_path("tier0", "SmolA", "tp1", 256, 8192, "spec_none"))
        .out("10_0.out", fixture("failures/oom-torch.log"))
        .out("20_0.out", fixture("failures/timeout.out"))
        .server_log(fixture("vllm/v1-plain-idle.log"));
    // A second run whose server log has the OOM: it outranks the .out's timeout.
    tree.run(&run_path("tier0", "SmolA", "tp1", 512, 8192, "spec_none"))
        .out("30_0.out", fixture("failures/timeout.out"))
        .server_log(fixture("failures/oom-torch.log"));
    let output = tree.analyze(&[]);
    assert!(output.status.success());
    let (_, rows) = tree.csv("benchmarking_results.csv");
    assert_eq!(rows.len(), 2);
    assert!(
        rows[0]["path"].ends_with("/20_0.out"),
        "{}",
        rows[0]["path"]
    );
    assert_eq!(rows[0]["comment"], "timeout");
    assert_eq!(rows[1]["comment"], "OOM");
}

#[test]
fn out_that_is_a_file_is_a_usage_error() {
    let tree = build_small_tree("tier0", "SmolA", 1);
    tree.file("reports", "a file");
    let output = tree.analyze(&["--out", "reports"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`--out` `reports` is not a directory"),
        "{stderr}"
    );
    assert!(!tree.root().join("benchmarking_results.csv").exists());
}

#[test]
fn no_baseline_anywhere_writes_no_summary() {
    // tp 3 is not a baseline tp (1, 2, 4, 8).
    let tree = build_small_tree("tier0", "SmolA", 3);
    let output = tree.analyze(&[]);
    assert!(output.status.success());
    let (_, rows) = tree.csv("benchmarking_results.csv");
    // 1,000,000 tokens / 100 s / 3 GPUs = 3333.333333.
    assert_eq!(rows[0]["output_tps_per_gpu"], "3333.333333");
    assert!(!tree.root().join("optimization_summary.csv").exists());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains("Optimization summary"), "{stdout}");
}

#[test]
fn entries_without_out_files_give_header_only_csvs() {
    let tree = Tree::new();
    tree.file("data/notes.txt", "not a run");
    tree.run("exp/p/m/tp1/mns_256")
        .stats(&Stats::BASE.merged_json());
    let output = tree.analyze(&[]);
    assert!(output.status.success());
    let text = fs::read_to_string(tree.root().join("benchmarking_results.csv")).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("experiment,prompt_template_name,model,tp,"));
    assert!(!tree.root().join("exp.csv").exists());
    assert!(!tree.root().join("optimization_summary.csv").exists());
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_root_is_a_clear_error_with_exit_2_and_nothing_written() {
    let tree = Tree::new();
    // Missing.
    let output = tree.analyze(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`--root` `data` does not exist"),
        "{stderr}"
    );
    // A file.
    tree.file("data", "x");
    let output = tree.analyze(&[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`--root` `data` is not a directory"),
        "{stderr}"
    );
    fs::remove_file(tree.root()).unwrap();
    // Empty: nothing may be written into it, nor into --out.
    fs::create_dir(tree.root()).unwrap();
    let output = tree.analyze(&["--out", "reports"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`--root` `data` is empty"), "{stderr}");
    assert_eq!(fs::read_dir(tree.root()).unwrap().count(), 0);
    assert!(!tree.base().join("reports").exists());
    assert!(output.stdout.is_empty());
}

/// `analyze --root data` with stdout and stderr going to the given places.
fn analyze_with_streams(
    tree: &Tree,
    stdout: impl Into<std::process::Stdio>,
    stderr: impl Into<std::process::Stdio>,
) -> std::process::ExitStatus {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("analyze"))
        .current_dir(tree.base())
        .args(["--root", "data"])
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .unwrap()
}

#[test]
fn a_closed_stdout_pipe_is_exit_1_after_the_csvs_are_written() {
    let tree = build_small_tree("tier0", "SmolA", 1);
    // The read end is closed before analyze starts: every write to stdout fails (EPIPE).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let (err_reader, err_writer) = std::io::pipe().unwrap();
    let status = analyze_with_streams(&tree, writer, err_writer);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut { err_reader }, &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: failed to write to stdout: Broken pipe"),
        "{stderr}"
    );
    assert!(tree.root().join("benchmarking_results.csv").is_file());
}

#[test]
fn a_failed_stderr_write_is_exit_1_not_a_panic() {
    // A warning goes to stderr: an unknown path component.
    let tree = build_small_tree("tier0", "SmolA", 1);
    tree.run("tier0/tutorial/SmolA/tp1/extra_level")
        .out("1_0.out", "")
        .stats(&Stats::BASE.merged_json());
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let status = analyze_with_streams(&tree, std::process::Stdio::null(), full);
    assert_eq!(status.code(), Some(1));
    assert!(tree.root().join("benchmarking_results.csv").is_file());
}

#[test]
fn unreadable_run_directory_is_reported_and_the_rest_analyzed() {
    let tree = Tree::new();
    let readable = run_path("tier0", "SmolA", "tp1-pp1-dp1", 256, 8192, "spec_none");
    let locked_run = run_path("tier0", "SmolA", "tp1-pp1-dp1", 512, 8192, "spec_none");
    let locked_logs = run_path("tier0", "SmolA", "tp1-pp1-dp1", 1024, 8192, "spec_none");
    let locked_stats = run_path("tier0", "SmolA", "tp1-pp1-dp1", 2048, 8192, "spec_none");
    for path in [&readable, &locked_run, &locked_logs, &locked_stats] {
        tree.run(path)
            .out("1_0.out", "")
            .stats(&Stats::BASE.merged_json());
    }
    // The whole tree belongs to the unprivileged user, so only the modes below deny.
    for entry in walkdir::WalkDir::new(tree.root()) {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(65534), Some(65534)).unwrap();
    }
    set_mode(&tree.root().join(&locked_run), 0o000);
    set_mode(
        &tree.root().join(&locked_logs).join("inference_logs"),
        0o000,
    );
    set_mode(
        &tree
            .root()
            .join(&locked_stats)
            .join("inference_logs/stats.json"),
        0o000,
    );

    let output = common::analyze_unprivileged(&tree, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read `data/{locked_run}`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot read run `data/{locked_logs}`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot read run `data/{locked_stats}`")),
        "{stderr}"
    );
    let (_, rows) = tree.csv("benchmarking_results.csv");
    let mns: Vec<&str> = rows.iter().map(|r| r["mns"].as_str()).collect();
    assert_eq!(mns, ["256", "2048"]);
    // 1,000,000 tokens in 100 s on 1 GPU.
    assert_eq!(rows[0]["output_tps_per_gpu"], "10000.000000");
    // Present but not readable as stats (`docs/results.md`); stderr names the file.
    assert_eq!(rows[1]["comment"], "stats.json unreadable");
    assert!(
        stderr.contains(&format!(
            "cannot read run `data/{locked_stats}`: `data/{locked_stats}/inference_logs/stats.json`: "
        )),
        "{stderr}"
    );
    assert_no_metrics(&rows[1]);
    // Let the temporary folder be removed.
    set_mode(&tree.root().join(&locked_run), 0o755);
    set_mode(
        &tree.root().join(&locked_logs).join("inference_logs"),
        0o755,
    );
}
