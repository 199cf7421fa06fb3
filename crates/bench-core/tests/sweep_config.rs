//! `docs/config.md` end to end through `load_sweep`: names and run directories, the sample config,
//! and every rejection of issue 2's "Must show" list.

use crate::common;

use bench_core::model_config::NoModelConfigs;
use bench_core::slurm_time::SlurmTime;
use bench_core::sweep::SweepCost;
use common::{exists, load, load_with, missing, one_experiment, problems, runs, sample_config};
use serde_json::{Value, json};

/// The run directory of experiment `e` under `data` with the given components after the model.
fn dir(model_and_rest: &str) -> String {
    format!("data/e/default/{model_and_rest}")
}

// ---------------------------------------------------------------- names and run directories

#[test]
fn qwen3_4b_tp2_mns512_ngram6() {
    let yaml = one_experiment(
        "model-name-or-path: Qwen/Qwen3-4B\ntp: 2\nmax-num-seqs: 512\n\
         speculative-config: '{\"method\": \"ngram\", \"num_speculative_tokens\": 6}'",
    );
    assert_eq!(
        runs(&yaml),
        [(
            "Qwen3_4B-tp2-mns_512-spec_ngram_6".to_owned(),
            dir(
                "Qwen3_4B/tp2-pp1-dp1/mns_512/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_ngram_6/quant_none"
            )
        )]
    );
}

#[test]
fn gpu_memory_utilization_truncates() {
    let yaml = one_experiment("gpu-memory-utilization: [0.58, 0.95]");
    assert_eq!(
        runs(&yaml),
        [
            (
                "Qwen3_0.6B-gmu_57".to_owned(),
                dir(
                    "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_57/bs_16/kvc_auto/spec_none/quant_none"
                )
            ),
            (
                "Qwen3_0.6B-gmu_95".to_owned(),
                dir(
                    "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_95/bs_16/kvc_auto/spec_none/quant_none"
                )
            ),
        ]
    );
    let yaml = one_experiment("gpu-memory-utilization: 0.57");
    assert_eq!(
        runs(&yaml),
        [(
            "Qwen3_0.6B-gmu_56".to_owned(),
            dir(
                "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_56/bs_16/kvc_auto/spec_none/quant_none"
            )
        )]
    );
}

#[test]
fn draft_model_speculative_config() {
    let yaml = one_experiment(
        "speculative-config: '{\"model\": \"org/draft-1b\", \"num_speculative_tokens\": 5}'",
    );
    assert_eq!(
        runs(&yaml),
        [(
            "Qwen3_0.6B-spec_org_draft_1b_5".to_owned(),
            dir(
                "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_org_draft_1b_5/quant_none"
            )
        )]
    );
}

#[test]
fn method_upper_case_and_tokens_as_python_int() {
    let expected = [(
        "Qwen3_0.6B-spec_ngram_6".to_owned(),
        dir(
            "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_ngram_6/quant_none",
        ),
    )];
    let yaml = one_experiment(
        "speculative-config: '{\"method\": \"NGRAM\", \"num_speculative_tokens\": \"6\"}'",
    );
    assert_eq!(runs(&yaml), expected);
    let yaml = one_experiment(
        "speculative-config: '{\"method\": \"ngram\", \"num_speculative_tokens\": 6.7}'",
    );
    assert_eq!(runs(&yaml), expected);
}

#[test]
fn kv_cache_dtype_upper_case() {
    let yaml = one_experiment("kv-cache-dtype: FP8_E4M3");
    assert_eq!(
        runs(&yaml),
        [(
            "Qwen3_0.6B-kvc_fp8e4m3".to_owned(),
            dir(
                "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_fp8e4m3/spec_none/quant_none"
            )
        )]
    );
}

#[test]
fn quantization_bitsandbytes() {
    let yaml = one_experiment("quantization: bitsandbytes");
    assert_eq!(
        runs(&yaml),
        [(
            "Qwen3_0.6B-quant_bnb".to_owned(),
            dir(
                "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_bnb"
            )
        )]
    );
}

#[test]
fn one_prompt_pair_versus_a_list_of_pairs() {
    let single = one_experiment("prompt-template: [\"qa+=short\", \"Answer: [[DOCUMENT]]\"]");
    let sweep = load(&single).unwrap();
    assert_eq!(sweep.runs.len(), 1);
    // The run name sanitizes the template name; the directory keeps it raw. (Characters
    // the shell reads as syntax, such as `(`, are refused in names.)
    assert_eq!(sweep.runs[0].name, "qa_short-Qwen3_0.6B");
    assert_eq!(
        sweep.runs[0].run_dir,
        "data/e/qa+=short/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
    assert_eq!(
        sweep.runs[0].prompt_template,
        Some(("qa+=short".to_owned(), "Answer: [[DOCUMENT]]".to_owned()))
    );
    assert_eq!(
        sweep.runs[0].args["prompt_template"],
        json!(["qa+=short", "Answer: [[DOCUMENT]]"])
    );

    let list = one_experiment(
        "prompt-template:\n  - [\"a\", \"A [[DOCUMENT]]\"]\n  - [\"b.v2\", \"B [[DOCUMENT]]\"]",
    );
    assert_eq!(
        runs(&list),
        [
            (
                "a-Qwen3_0.6B".to_owned(),
                "data/e/a/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
            (
                "b.v2-Qwen3_0.6B".to_owned(),
                "data/e/b.v2/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
        ]
    );

    // A plain template string runs under `default/` and adds nothing to the name.
    let plain = one_experiment("prompt-template: \"Translate: [[DOCUMENT]]\"");
    assert_eq!(
        runs(&plain),
        [(
            "Qwen3_0.6B".to_owned(),
            dir(
                "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
            )
        )]
    );
}

#[test]
fn no_output_dir_means_data_and_the_experiment_is_always_inserted() {
    let sweep = load(&one_experiment("model-name-or-path: google/gemma-3-1b-it")).unwrap();
    assert_eq!(sweep.runs[0].experiment_dir, "data/e");
    assert_eq!(
        sweep.runs[0].run_dir,
        "data/e/default/gemma_3_1b_it/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
    let sweep = load(&one_experiment("output-dir: /scratch/results/")).unwrap();
    assert_eq!(sweep.runs[0].experiment_dir, "/scratch/results/e");
    assert_eq!(
        sweep.runs[0].run_dir,
        "/scratch/results/e/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
    assert_eq!(
        sweep.runs[0].kwargs()["output_dir"],
        json!("/scratch/results/e")
    );
}

#[test]
fn an_experiment_overrides_a_fixed_args_list_with_a_scalar() {
    let yaml = "\
script: s.py
fixed_args:
  tp: [1, 2]
experiments:
  - name: swept
  - name: pinned
    args:
      tp: 4
";
    assert_eq!(
        runs(yaml),
        [
            (
                "Qwen3_0.6B".to_owned(),
                "data/swept/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
            (
                "Qwen3_0.6B-tp2".to_owned(),
                "data/swept/default/Qwen3_0.6B/tp2-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
            (
                "Qwen3_0.6B-tp4".to_owned(),
                "data/pinned/default/Qwen3_0.6B/tp4-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
        ]
    );
}

#[test]
fn local_model_path_keeps_its_remaining_slashes() {
    let yaml = one_experiment("model-name-or-path: /models/Qwen3-4B");
    assert_eq!(
        runs(&yaml),
        [(
            "models/Qwen3_4B".to_owned(),
            dir(
                "models/Qwen3_4B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
            )
        )]
    );
}

#[test]
fn four_entries_sharing_a_name_are_one_experiment() {
    let mut yaml = String::from("script: s.py\nfixed_args:\n  output-dir: out\nexperiments:\n");
    for model in ["org/a-1", "org/b-2", "org/c-3", "org/d-4"] {
        yaml += "  - name: tier1-tiny\n    args:\n      model-name-or-path: ";
        yaml += model;
        yaml += "\n      gpu-memory-utilization: [0.9, 0.95]\n";
    }
    let sweep = load(&yaml).unwrap();
    assert_eq!(sweep.runs.len(), 8);
    assert!(sweep.runs.iter().all(|r| r.experiment == "tier1-tiny"));
    assert!(
        sweep
            .runs
            .iter()
            .all(|r| r.experiment_dir == "out/tier1-tiny")
    );
    let names: Vec<&str> = sweep.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "a_1",
            "a_1-gmu_95",
            "b_2",
            "b_2-gmu_95",
            "c_3",
            "c_3-gmu_95",
            "d_4",
            "d_4-gmu_95"
        ]
    );
    assert_eq!(
        sweep.runs[7].run_dir,
        "out/tier1-tiny/default/d_4/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_95/bs_16/kvc_auto/spec_none/quant_none"
    );
}

#[test]
fn exactly_equal_runs_are_merged_once_with_a_note() {
    // Across two entries of one experiment; `None` and an absent key are the same setting,
    // and so are an absent tp and tp 1.
    let yaml = "\
script: s.py
experiments:
  - name: e
    args:
      max-num-seqs: [256, 512]
  - name: e
    args:
      max-num-seqs: 512
      tp: 1
      speculative-config: None
";
    let sweep = load(yaml).unwrap();
    let names: Vec<&str> = sweep.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Qwen3_0.6B", "Qwen3_0.6B-mns_512"]);
    assert_eq!(
        sweep.notes,
        [
            "run `Qwen3_0.6B-mns_512` (`data/e/default/Qwen3_0.6B/tp1-pp1-dp1/mns_512/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none`) \
             is listed 2 times with the same settings (experiment `e` (entry 1 of `experiments`), \
             experiment `e` (entry 2 of `experiments`)): it is counted and submitted once"
        ]
    );
}

#[test]
fn repeated_values_give_one_run_with_a_note() {
    let sweep = load(&one_experiment("tp: [2, 1, 2]")).unwrap();
    let names: Vec<&str> = sweep.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Qwen3_0.6B-tp2", "Qwen3_0.6B"]);
    assert_eq!(sweep.notes.len(), 1);
    assert!(
        sweep.notes[0].starts_with("run `Qwen3_0.6B-tp2` (`data/e/default/Qwen3_0.6B/tp2-pp1-dp1/")
    );
}

#[test]
fn values_json_cannot_carry_are_refused() {
    assert_eq!(
        problems(&one_experiment("temperature: .nan\nseed: !int 5\n1: x")),
        [
            format!("{E}: expected a string key, found an integer"),
            format!("{E}, `temperature`: expected a finite number, found NaN or infinity"),
            format!(
                "{E}, `seed`: expected a plain value (no YAML tags such as `!foo`), found a \
                 tagged value"
            ),
        ]
    );
}

#[test]
fn yaml_anchors_and_merge_keys() {
    let yaml = "\
script: s.py
experiments:
  - name: a
    args: &common {tp: 2, max-num-seqs: 512}
  - name: b
    args:
      <<: *common
      max-num-seqs: 1024
";
    assert_eq!(
        runs(yaml),
        [
            (
                "Qwen3_0.6B-tp2-mns_512".to_owned(),
                "data/a/default/Qwen3_0.6B/tp2-pp1-dp1/mns_512/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
            (
                "Qwen3_0.6B-tp2-mns_1024".to_owned(),
                "data/b/default/Qwen3_0.6B/tp2-pp1-dp1/mns_1024/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".to_owned()
            ),
        ]
    );
}

// ---------------------------------------------------------------- the sample config

#[test]
fn sample_config_expands_to_759_runs_with_741_names() {
    let sweep = load(&sample_config()).unwrap();
    assert_eq!(sweep.runs.len(), 759);
    assert_eq!(sweep.distinct_names(), 741);
    let mut dirs: Vec<&str> = sweep.runs.iter().map(|r| r.run_dir.as_str()).collect();
    dirs.sort_unstable();
    dirs.dedup();
    assert_eq!(dirs.len(), 759, "a run is identified by its directory");
    assert!(sweep.notes.is_empty());
    assert!(sweep.settings.continue_on_failure);
    assert!(sweep.settings.strict_args);
    assert_eq!(sweep.settings.script, "examples/inference/generate_data.py");
}

#[test]
fn sample_config_tier0_small_order() {
    let sweep = load(&sample_config()).unwrap();
    let small: Vec<&str> = sweep
        .runs
        .iter()
        .filter(|r| r.experiment == "tier0-small")
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(small.len(), 180);
    assert_eq!(
        small[..3],
        [
            "tutorial-SmolLM2_1.7B_Instruct",
            "tutorial-SmolLM2_1.7B_Instruct-tp2",
            "tutorial-gemma_3_1b_it"
        ]
    );
    assert_eq!(
        small[177..],
        [
            "tutorial-Qwen3_4B-tp2-mns_4096-mnbt_32768",
            "tutorial-Qwen3_8B-mns_4096-mnbt_32768",
            "tutorial-Qwen3_8B-tp2-mns_4096-mnbt_32768"
        ]
    );
    let first = sweep
        .runs
        .iter()
        .find(|r| r.experiment == "tier0-small")
        .unwrap();
    assert_eq!(
        first.run_dir,
        "examples/inference/benchmark/results/tier0-small/tutorial/SmolLM2_1.7B_Instruct/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
}

#[test]
fn sample_config_first_run_kwargs_as_documented() {
    let sweep = load(&sample_config()).unwrap();
    let expected: Value = serde_json::from_str(
        r#"{"benchmark_mode": true, "qos": "high", "time": "1:59:00", "model_max_context": 8192, "max_tokens": 4096, "input_dataset_name": "HuggingFaceFW/fineweb-edu", "input_dataset_config": "sample-10BT", "input_dataset_split": "train", "prompt_column": "text", "prompt_template": ["tutorial", "Rewrite the document as a clear, step-by-step tutorial or instructional guide. Use numbered steps or bullet points where appropriate to enhance clarity. Preserve all essential information while ensuring the style feels didactic and easy to follow. Output only the tutorial, nothing else.\n\nDocument: [[DOCUMENT]]"], "max_examples": 10000, "output_dataset_name": "fineweb-edu-benchmark", "output_dir": "examples/inference/benchmark/results/tier0-tiny", "seed": 42, "temperature": 0.0, "max_concurrent_generations": 5000, "max_concurrent_documents": 5000, "workers": 1, "tasks": 1, "trust_remote_code": true, "model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "tp": 1, "max_num_seqs": 256, "max_num_batched_tokens": 8192, "name": "tutorial-SmolLM2_135M_Instruct", "local_execution": true}"#,
    )
    .unwrap();
    let run = &sweep.runs[0];
    assert_eq!(Value::Object(run.kwargs()), expected);
    // Types as shown: the time stays a string, the temperature a float.
    assert!(run.kwargs()["time"].is_string());
    assert!(run.kwargs()["temperature"].is_f64());
    assert_eq!(
        run.run_dir,
        "examples/inference/benchmark/results/tier0-tiny/tutorial/SmolLM2_135M_Instruct/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
    assert_eq!(run.time.as_deref(), Some("1:59:00"));
    assert_eq!(run.qos.as_deref(), Some("high"));
    assert_eq!(run.reservation, None);
    assert_eq!(run.gpus, 1);
}

#[test]
fn sample_config_cost_759_jobs_1514_gpus_3002_8_gpu_hours() {
    let sweep = load(&sample_config()).unwrap();
    let gpus: u32 = sweep.runs.iter().map(|r| r.gpus).sum();
    let gpu_hours: f64 = sweep
        .runs
        .iter()
        .map(|r| {
            let time = SlurmTime::parse(r.time.as_deref().unwrap()).unwrap();
            f64::from(r.gpus) * time.hours().unwrap()
        })
        .sum();
    assert_eq!(sweep.runs.len(), 759);
    assert_eq!(gpus, 1514);
    assert_eq!(format!("{gpu_hours:.1}"), "3002.8");
    let cost = SweepCost::of(&sweep.runs);
    assert_eq!(
        (cost.jobs, cost.gpus, cost.without_time_limit),
        (759, 1514, 0)
    );
    assert_eq!(format!("{:.1}", cost.gpu_hours), "3002.8");
}

#[test]
fn cost_counts_runs_without_a_time_limit_separately() {
    let yaml = "\
script: s.py
fixed_args:
  tp: [1, 2]
experiments:
  - name: limited
    args: {time: \"90\"}
  - name: unlimited
    args: {time: UNLIMITED}
";
    let cost = SweepCost::of(&load(yaml).unwrap().runs);
    // tp 1 and tp 2 for 90 minutes: 1.5 + 3 GPU-hours; the two unlimited runs apart.
    assert_eq!(cost.jobs, 4);
    assert_eq!(cost.gpus, 6);
    assert!((cost.gpu_hours - 4.5).abs() < 1e-9, "{}", cost.gpu_hours);
    assert_eq!(cost.without_time_limit, 2);
}

#[test]
fn sample_config_tier1_none_is_the_string_and_stays_in_kwargs() {
    let sweep = load(&sample_config()).unwrap();
    let run = sweep
        .runs
        .iter()
        .find(|r| r.experiment == "tier1-tiny")
        .unwrap();
    assert_eq!(run.args["speculative_config"], json!("None"));
    assert_eq!(
        run.name,
        "tutorial-SmolLM2_135M_Instruct-mns_512-mnbt_32768"
    );
    assert_eq!(
        run.run_dir,
        "examples/inference/benchmark/results/tier1-tiny/tutorial/SmolLM2_135M_Instruct/tp1-pp1-dp1/mns_512/mnbt_32768/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    );
}

// ---------------------------------------------------------------- YAML reading

#[test]
fn unquoted_time_stays_a_string_and_none_is_a_string() {
    let yaml = one_experiment("time: 1:59:00\nspeculative-config: None\nquantization: null");
    let sweep = load(&yaml).unwrap();
    let args = &sweep.runs[0].args;
    assert_eq!(args["time"], json!("1:59:00"));
    assert_eq!(args["speculative_config"], json!("None"));
    assert_eq!(args["quantization"], Value::Null);
    assert_eq!(sweep.runs[0].time.as_deref(), Some("1:59:00"));
}

#[test]
fn underscore_keys_mean_the_kebab_key_and_tasks_workers_default_to_1() {
    let sweep = load(&one_experiment("max_num_seqs: 512")).unwrap();
    assert_eq!(sweep.runs[0].name, "Qwen3_0.6B-mns_512");
    assert_eq!(
        Value::Object(sweep.runs[0].args.clone()),
        json!({"max_num_seqs": 512, "tasks": 1, "workers": 1})
    );
}

#[test]
fn slurm_section_defaults_and_values() {
    let sweep = load(&one_experiment("tp: 1")).unwrap();
    assert_eq!(
        sweep.settings.slurm,
        bench_core::config::SlurmSettings::default()
    );
    let yaml = format!(
        "slurm:\n  partition: hopper-prod\n  account: my-project\n  cpus-per-gpu: 4\n  mem-per-cpu: 2G\n  \
         setup:\n    - source .venv/bin/activate\n    - export A=1\n  sbatch-args:\n    constraint: h100\n    \
         exclusive: \"\"\n  template: templates/my.sh.tera\n  python: uv run python\n{}",
        one_experiment("tp: 1")
    );
    let slurm = load(&yaml).unwrap().settings.slurm;
    assert_eq!(slurm.partition.as_deref(), Some("hopper-prod"));
    assert_eq!(slurm.account.as_deref(), Some("my-project"));
    assert_eq!(slurm.cpus_per_gpu, 4);
    assert_eq!(slurm.mem_per_cpu, "2G");
    assert_eq!(slurm.setup, ["source .venv/bin/activate", "export A=1"]);
    assert_eq!(
        slurm.sbatch_args,
        [
            ("constraint".to_owned(), "h100".to_owned()),
            ("exclusive".to_owned(), String::new())
        ]
    );
    assert_eq!(slurm.template.as_deref(), Some("templates/my.sh.tera"));
    assert_eq!(slurm.python, "uv run python");
}

#[test]
fn strict_args_false_passes_unknown_keys_through_with_a_warning() {
    let yaml = "\
script: s.py
strict_args: false
fixed_args:
  my-extra-flag: 3
experiments:
  - name: e
    args:
      max-num-seq: 7
      max-num-seqs: [256, 512]
";
    let sweep = load(yaml).unwrap();
    assert_eq!(sweep.runs.len(), 2);
    assert_eq!(
        Value::Object(sweep.runs[1].args.clone()),
        json!({"my_extra_flag": 3, "max_num_seq": 7, "max_num_seqs": 512, "tasks": 1, "workers": 1})
    );
    assert_eq!(
        sweep.warnings,
        [
            "unknown args passed through to the script (`strict_args: false`): `my-extra-flag` \
          (`fixed_args`), `max-num-seq` (experiment `e` (entry 1 of `experiments`))"
        ]
    );
    // An unknown key's list is a sweep like any other, but it does not reach the run
    // directory: its runs would share one directory.
    let swept = yaml.replace("max-num-seq: 7", "max-num-seq: [7, 8]");
    let conflicts = problems(&swept);
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    assert!(conflicts[0].starts_with(&format!(
        "{E}, `max-num-seq`, value `8`: run `Qwen3_0.6B` has the same run directory"
    )));
    // Known keys are still checked.
    let yaml = yaml.replace("max-num-seq: 7", "tp: 0");
    assert_eq!(
        problems(&yaml),
        [
            "experiment `e` (entry 1 of `experiments`), `tp`, value `0`: must be a positive integer (at least 1)"
        ]
    );
}

// ---------------------------------------------------------------- rejections

const E: &str = "experiment `e` (entry 1 of `experiments`)";

#[test]
fn rejects_malformed_yaml_with_line_and_column() {
    let yaml = "script: s.py\nexperiments:\n  - name: e\n   args: {tp: 1}\n";
    assert_eq!(
        problems(yaml),
        [
            "malformed YAML at line 4, column 4: did not find expected '-' indicator at line 4 \
          column 4, while parsing a block collection at line 3 column 3"
        ]
    );
    let errors = load(yaml).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "invalid sweep config `test.yaml`: 1 problem\n  - malformed YAML at line 4, column 4: \
         did not find expected '-' indicator at line 4 column 4, while parsing a block \
         collection at line 3 column 3"
    );
}

#[test]
fn rejects_unknown_arg_key_and_unknown_top_level_key_suggesting_the_closest() {
    let yaml = "\
script: s.py
continue_on_faillure: true
experiments:
  - name: e
    args:
      max-num-seq: 512
";
    assert_eq!(
        problems(yaml),
        [
            "top level, `continue_on_faillure`: unknown key; did you mean `continue_on_failure`?"
                .to_owned(),
            format!(
                "{E}, `max-num-seq`: unknown key; did you mean `max-num-seqs`?\n    hint: for a \
                 script with extra options, set `strict_args: false` to pass unknown keys through"
            ),
        ]
    );
}

#[test]
fn rejects_name_inside_args_and_fixed_args() {
    let yaml = "script: s.py\nfixed_args:\n  name: x\nexperiments:\n  - name: e\n    args:\n      name: y\n";
    assert_eq!(
        problems(yaml),
        [
            "`fixed_args`, `name`: `name` is reserved: run names are derived from the settings; remove it".to_owned(),
            format!("{E}, `name`: `name` is reserved: run names are derived from the settings; remove it"),
        ]
    );
}

#[test]
fn rejects_an_empty_sweep_list() {
    assert_eq!(
        problems(&one_experiment("max-num-seqs: []")),
        [format!(
            "{E}, `max-num-seqs`: empty sweep list; give at least one value, or remove the key"
        )]
    );
}

#[test]
fn rejects_tp_0_and_tp_2_0() {
    assert_eq!(
        problems(&one_experiment("tp: [0, 2.0]")),
        [
            format!("{E}, `tp`, value `0`: must be a positive integer (at least 1)"),
            format!("{E}, `tp`, value `2.0`: expected an integer, found a float"),
        ]
    );
    assert_eq!(
        problems(&one_experiment("tp: \"2\"")),
        [format!(
            "{E}, `tp`, value `2`: expected an integer, found a string"
        )]
    );
}

#[test]
fn rejects_16_gpus_on_one_node() {
    assert_eq!(
        problems(&one_experiment("tp: 8\ndp: 2\nnodes-per-task: 1")),
        [format!(
            "{E}: tp x pp x dp = 16 GPUs does not fit 1 node(s) of 8 GPUs (it must be at most 8 \
             x nodes-per-task and divisible by nodes-per-task)"
        )]
    );
}

#[test]
fn rejects_pp_2_and_multi_node() {
    assert_eq!(
        problems(&one_experiment("pp: 2")),
        [format!(
            "{E}, `pp`, value `2`: pipeline parallel is not supported: jobs run the script in its \
             own allocation, which forces pp 1 and would write to a different directory; use tp"
        )]
    );
    assert_eq!(
        problems(&one_experiment("tp: 16\nnodes-per-task: 2")),
        [format!(
            "{E}, `nodes-per-task`, value `2`: multi-node runs are not supported: jobs run the \
             script in its own allocation on one node, which would write to a different directory"
        )]
    );
}

#[test]
fn rejects_tasks_4_and_local_execution_false() {
    assert_eq!(
        problems(&one_experiment("tasks: 4\nlocal-execution: false")),
        [
            format!(
                "{E}, `tasks`, value `4`: must be 1: a job runs one task; sweep the setting instead, or remove it"
            ),
            format!(
                "{E}, `local-execution`, value `false`: `local-execution` is set by `launch` (jobs run in their own allocation); remove it"
            ),
        ]
    );
}

#[test]
fn rejects_gpu_memory_utilization_1_5() {
    assert_eq!(
        problems(&one_experiment("gpu-memory-utilization: [1.5, 0, 1]")),
        [
            format!(
                "{E}, `gpu-memory-utilization`, value `1.5`: must be a fraction in (0, 1], e.g. 0.9 for 90%"
            ),
            format!(
                "{E}, `gpu-memory-utilization`, value `0`: must be a fraction in (0, 1], e.g. 0.9 for 90%"
            ),
        ]
    );
}

#[test]
fn rejects_kv_cache_dtype_fp16_and_8() {
    assert_eq!(
        problems(&one_experiment("kv-cache-dtype: [fp16, 8]")),
        [
            format!(
                "{E}, `kv-cache-dtype`, value `fp16`: unsupported KV cache dtype; use `auto`, `fp8_e4m3` or `fp8_e5m2`"
            ),
            format!(
                "{E}, `kv-cache-dtype`, value `8`: expected a string (or `None` for not set), found an integer"
            ),
        ]
    );
    assert_eq!(
        problems(&one_experiment("kv-cache-dtype: '8'")),
        [format!(
            "{E}, `kv-cache-dtype`, value `8`: unsupported KV cache dtype; use `auto`, `fp8_e4m3` or `fp8_e5m2`"
        )]
    );
}

#[test]
fn rejects_quantization_awq() {
    assert_eq!(
        problems(&one_experiment("quantization: awq")),
        [format!(
            "{E}, `quantization`, value `awq`: unsupported quantization; the only accepted method is `bitsandbytes` (or `None`)"
        )]
    );
}

#[test]
fn rejects_speculative_config_not_json_and_not_an_object() {
    assert_eq!(
        problems(&one_experiment("speculative-config: [ngram, '[6]']")),
        [
            format!(
                "{E}, `speculative-config`, value `ngram`: speculative-config is not JSON (expected ident at line 1 column 2); \
                 write it as a JSON object in a string, e.g. '{{\"method\": \"ngram\", \"num_speculative_tokens\": 6}}'"
            ),
            format!(
                "{E}, `speculative-config`, value `[6]`: speculative-config must be a JSON object, not a list"
            ),
        ]
    );
}

#[test]
fn rejects_a_prompt_template_without_the_placeholder() {
    assert_eq!(
        problems(&one_experiment(
            "prompt-template: [tutorial, \"Rewrite: {doc}\"]"
        )),
        [format!(
            "{E}, `prompt-template`, value `[\"tutorial\",\"Rewrite: {{doc}}\"]`: the prompt template has no \
             `[[DOCUMENT]]` placeholder, so no document reaches the model"
        )]
    );
}

#[test]
fn rejects_experiment_name_dot_dot_slash_x() {
    let yaml = "script: s.py\nexperiments:\n  - name: ../x\n";
    assert_eq!(
        problems(yaml),
        [
            "entry 1 of `experiments`, `name`, value `../x`: must not contain `/` (it is one directory name)"
        ]
    );
}

#[test]
fn rejects_prompt_names_with_a_space_or_percent() {
    let yaml = one_experiment(
        "prompt-template:\n  - [\"my prompt\", \"A [[DOCUMENT]]\"]\n  - [\"50%\", \"B [[DOCUMENT]]\"]",
    );
    assert_eq!(
        problems(&yaml),
        [
            format!(
                "{E}, `prompt-template`, value `[\"my prompt\",\"A [[DOCUMENT]]\"]`: must not \
                 contain a space: it reaches an `#SBATCH` line, where sbatch ends the value at \
                 whitespace (it cannot be quoted)"
            ),
            format!(
                "{E}, `prompt-template`, value `[\"50%\",\"B [[DOCUMENT]]\"]`: must not contain \
                 `%`: it reaches an `#SBATCH` line, where `%` starts a file-name pattern in \
                 `--output` (`%j` is the job id)"
            ),
        ]
    );
}

#[test]
fn rejects_an_output_dir_with_a_space() {
    assert_eq!(
        problems(&one_experiment("output-dir: my results")),
        [format!(
            "{E}, `output-dir`, value `my results`: must not contain a space: it reaches an \
             `#SBATCH` line, where sbatch ends the value at whitespace (it cannot be quoted)"
        )]
    );
}

#[test]
fn rejects_two_settings_in_one_directory() {
    let run_dir = "data/e/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_56/bs_16/kvc_auto/spec_none/quant_none";
    let expected = |second: &str| {
        vec![format!(
            "{second}, `gpu-memory-utilization`, value `0.57`: run `Qwen3_0.6B-gmu_56` has the same \
             run directory `{run_dir}` as the run of {E} (`gpu-memory-utilization` = `0.56`), with \
             different settings: the inference script would write both into it; make the values \
             differ in the directory too (gpu-memory-utilization 0.56 and 0.57 are both `gmu_56`)"
        )]
    };
    assert_eq!(
        problems(&one_experiment("gpu-memory-utilization: [0.56, 0.57]")),
        expected(E)
    );
    let across = "\
script: s.py
experiments:
  - name: e
    args: {gpu-memory-utilization: 0.56}
  - name: e
    args: {gpu-memory-utilization: 0.57}
";
    assert_eq!(
        problems(across),
        expected("experiment `e` (entry 2 of `experiments`)")
    );
    // Different experiments are different directories: no conflict.
    let apart = across.replacen("name: e", "name: f", 1);
    assert_eq!(load(&apart).unwrap().runs.len(), 2);
}

#[test]
fn rejects_a_time_slurm_would_not_accept() {
    assert_eq!(
        problems(&one_experiment("time: 2h")),
        [format!(
            "{E}, `time`, value `2h`: `2h` is not a SLURM time limit; use `M`, `M:S`, `H:M:S`, \
             `D-H`, `D-H:M`, `D-H:M:S` or `UNLIMITED` (e.g. `1:59:00`)"
        )]
    );
    // An integer is minutes, as sbatch reads it.
    assert_eq!(
        load(&one_experiment("time: 90")).unwrap().runs[0]
            .time
            .as_deref(),
        Some("90")
    );
}

#[test]
fn missing_script_is_an_error_when_submitting_and_a_warning_in_a_dry_run() {
    let yaml = one_experiment("tp: 1");
    let errors = load_with(&yaml, false, &missing, &NoModelConfigs).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "invalid sweep config `test.yaml`: 1 problem\n  - top level, `script`, value `s.py`: the \
         script file does not exist (relative paths are relative to the current directory); \
         `--dry-run` previews a sweep without it"
    );
    let sweep = load_with(&yaml, true, &missing, &NoModelConfigs).unwrap();
    assert_eq!(sweep.runs.len(), 1);
    assert_eq!(
        sweep.warnings,
        [
            "script `s.py` not found (relative to the current directory); a real submission would \
          refuse this config"
        ]
    );
    assert!(
        load_with(&yaml, true, &exists, &NoModelConfigs)
            .unwrap()
            .warnings
            .is_empty()
    );
}

#[test]
fn rejects_no_experiments() {
    assert_eq!(
        problems("script: s.py\nexperiments: []\n"),
        [
            "top level, `experiments`: no experiments; add at least one entry with a `name` under `experiments`"
        ]
    );
    assert_eq!(
        problems("script: s.py\n"),
        [
            "top level, `experiments`: required key is missing; add a list of experiments, each with a `name` and `args`"
        ]
    );
    assert_eq!(
        problems(""),
        [
            "top level, `script`: required key is missing; set it to the inference script's path",
            "top level, `experiments`: required key is missing; add a list of experiments, each with a `name` and `args`",
        ]
    );
}

#[test]
fn rejects_sbatch_args_repeating_template_directives_and_unsafe_values() {
    let yaml = format!(
        "slurm:\n  partition: a b\n  sbatch-args:\n    time: \"10\"\n    gpus: 2\n    --exclusive: \"\"\n    \
         constraint: \"h100\\nx\"\n{}",
        one_experiment("qos: \"high prio\"\nreservation: \"r\\tx\"")
    );
    let sbatch = |shown: &str| {
        format!(
            "must not contain {shown}: it reaches an `#SBATCH` line, where sbatch ends the value \
             at whitespace (it cannot be quoted)"
        )
    };
    let space = sbatch("a space");
    assert_eq!(
        problems(&yaml),
        [
            format!("`slurm`, `partition`, value `a b`: {space}"),
            "`slurm`, `sbatch-args.time`: `--time` is set by the template; give it as a run arg (`fixed_args` or `args`)".to_owned(),
            "`slurm`, `sbatch-args.gpus`: `--gpus` is set by the template; remove it".to_owned(),
            "`slurm`, `sbatch-args.--exclusive`: not an sbatch option name: write it without dashes, e.g. `constraint`".to_owned(),
            format!(
                "`slurm`, `sbatch-args.constraint`, value `h100\\nx`: {}",
                sbatch("`\\n`")
            ),
            format!("{E}, `qos`, value `high prio`: {space}"),
            format!("{E}, `reservation`, value `r\\tx`: {}", sbatch("`\\t`")),
        ]
    );
}

#[test]
fn rejects_what_sbatchs_directive_parser_does_not_take_literally() {
    // sbatch 22.05 reads `#SBATCH --job-name=a#b` as `a`, `a"b"c` and `a'b'c` as `abc`, and
    // `x\y` as `xy` (checked on the test cluster). An experiment `tier0#a` wrote every
    // attempt's .out to `.../tier0`; a `#` in a partition silently chose another partition.
    let yaml = "\
script: s.py
slurm:
  partition: \"gpu#a\"
  account: \"acc'x\"
  mem-per-cpu: \"22G#x\"
  sbatch-args:
    constraint: 'h100\\x'
experiments:
  - name: \"tier0#a\"
  - name: e
    args:
      prompt-template: [\"p'1\", \"A [[DOCUMENT]]\"]
      model-name-or-path: \"org/m#1\"
      output-dir: 'out\"x'
      qos: \"high#x\"
      reservation: 'r\\1'
      time: \"1:00:00#x\"
";
    let hash = "`#`: it reaches an `#SBATCH` line, where sbatch reads an unquoted `#` as the start \
                of a comment and drops the rest of the line (`tier0#a` would become `tier0`)";
    let quote = |q: &str| {
        format!("`{q}`: it reaches an `#SBATCH` line, where sbatch removes quotes as quoting")
    };
    let backslash = "`\\`: it reaches an `#SBATCH` line, where sbatch removes `\\` as an escape";
    assert_eq!(
        problems(yaml),
        [
            format!("`slurm`, `partition`, value `gpu#a`: must not contain {hash}"),
            format!(
                "`slurm`, `account`, value `acc'x`: must not contain {}",
                quote("'")
            ),
            format!("`slurm`, `mem-per-cpu`, value `22G#x`: must not contain {hash}"),
            format!(
                "`slurm`, `sbatch-args.constraint`, value `h100\\\\x`: must not contain {backslash}"
            ),
            format!("entry 1 of `experiments`, `name`, value `tier0#a`: must not contain {hash}"),
            format!(
                "{E_2}, `prompt-template`, value `[\"p'1\",\"A [[DOCUMENT]]\"]`: must not \
                 contain {}",
                quote("'")
            ),
            format!("{E_2}, `model-name-or-path`, value `org/m#1`: must not contain {hash}"),
            format!(
                "{E_2}, `output-dir`, value `out\\\"x`: must not contain {}",
                quote("\"")
            ),
            format!("{E_2}, `qos`, value `high#x`: must not contain {hash}"),
            format!("{E_2}, `reservation`, value `r\\\\1`: must not contain {backslash}"),
            format!("{E_2}, `time`, value `1:00:00#x`: must not contain {hash}"),
        ]
    );
}

#[test]
fn conflicts_in_one_directory_are_one_problem_and_the_message_is_capped() {
    // 9 values of gpu-memory-utilization that are all `gmu_56`, for each of 200
    // max-num-seqs: 200 directories, each with 8 runs conflicting with its first. The
    // reviewer's 18,000-problem config of this shape gave an 8.5 MB message.
    let gmu: Vec<String> = (1..=9).map(|i| format!("0.56{i}")).collect();
    let mns: Vec<String> = (1..=200).map(|n| n.to_string()).collect();
    let yaml = one_experiment(&format!(
        "gpu-memory-utilization: [{}]\nmax-num-seqs: [{}]",
        gmu.join(", "),
        mns.join(", ")
    ));
    let errors = load(&yaml).unwrap_err();
    assert_eq!(errors.problems.len(), 200);
    let run_dir = "data/e/default/Qwen3_0.6B/tp1-pp1-dp1/mns_1/mnbt_8192/gmu_56/bs_16/kvc_auto/spec_none/quant_none";
    assert_eq!(
        errors.problems[0].to_string(),
        format!(
            "{E}, `gpu-memory-utilization`, value `0.562`: run `Qwen3_0.6B-mns_1-gmu_56` has the \
             same run directory `{run_dir}` as the run of {E} (`gpu-memory-utilization` = \
             `0.561`), with different settings, and so do 7 more runs: the inference script \
             would write them all into it; make the values differ in the directory too \
             (gpu-memory-utilization 0.56 and 0.57 are both `gmu_56`)"
        )
    );
    let message = errors.to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], "invalid sweep config `test.yaml`: 200 problems");
    assert_eq!(lines.len(), 1 + 50 + 1, "{message}");
    assert_eq!(lines[1], format!("  - {}", errors.problems[0]));
    assert_eq!(lines[50], format!("  - {}", errors.problems[49]));
    assert_eq!(
        lines[51],
        "  ... and 150 more problems (fix the ones above and run again)"
    );
}

#[test]
fn notes_about_repeated_runs_are_capped() {
    // One run listed 30 times in one place: the place is named once.
    let values = vec!["256"; 30].join(", ");
    let sweep = load(&one_experiment(&format!("max-num-seqs: [{values}]"))).unwrap();
    assert_eq!(
        sweep.notes,
        [format!(
            "run `Qwen3_0.6B` (`{}`) is listed 30 times with the same settings ({E}): it is \
             counted and submitted once",
            dir(
                "Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
            )
        )]
    );
    // 25 runs each listed in two entries: 20 notes, then one counting the other 5.
    let mns: Vec<String> = (1..=25).map(|n| n.to_string()).collect();
    let entry = format!(
        "  - name: e\n    args: {{max-num-seqs: [{}]}}\n",
        mns.join(", ")
    );
    let sweep = load(&format!("script: s.py\nexperiments:\n{entry}{entry}")).unwrap();
    assert_eq!(sweep.runs.len(), 25);
    assert_eq!(sweep.notes.len(), 21);
    assert!(sweep.notes[19].starts_with("run `Qwen3_0.6B-mns_20` "));
    assert_eq!(
        sweep.notes[20],
        "5 more runs are listed more than once with the same settings: each is counted and \
         submitted once"
    );
}

#[test]
fn every_problem_is_listed_in_one_message() {
    let yaml = "\
script: s.py
experimnts: []
fixed_args:
  tp: [0, 2.0]
  kv-cache-dtype: fp16
experiments:
  - name: ../x
  - name: e
    args:
      quantization: awq
      time: 2h
";
    let errors = load_with(yaml, false, &missing, &NoModelConfigs).unwrap_err();
    assert_eq!(errors.file, "test.yaml");
    let lines: Vec<String> = errors.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "top level, `experimnts`: unknown key; did you mean `experiments`?".to_owned(),
            "entry 1 of `experiments`, `name`, value `../x`: must not contain `/` (it is one directory name)".to_owned(),
            "`fixed_args`, `tp`, value `0`: must be a positive integer (at least 1)".to_owned(),
            "`fixed_args`, `kv-cache-dtype`, value `fp16`: unsupported KV cache dtype; use `auto`, `fp8_e4m3` or `fp8_e5m2`".to_owned(),
            "`fixed_args`, `tp`, value `2.0`: expected an integer, found a float".to_owned(),
            format!("{E_2}, `quantization`, value `awq`: unsupported quantization; the only accepted method is `bitsandbytes` (or `None`)"),
            format!("{E_2}, `time`, value `2h`: `2h` is not a SLURM time limit; use `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S` or `UNLIMITED` (e.g. `1:59:00`)"),
            "top level, `script`, value `s.py`: the script file does not exist (relative paths are relative to the current directory); `--dry-run` previews a sweep without it".to_owned(),
        ]
    );
    assert!(
        errors
            .to_string()
            .starts_with("invalid sweep config `test.yaml`: 8 problems\n  - ")
    );
}

const E_2: &str = "experiment `e` (entry 2 of `experiments`)";
