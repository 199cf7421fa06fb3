//! A staged sweep on the project's one-node SLURM cluster (`docs/stages.md`), run by
//! repeated launches to its end with the simulated inference script
//! (`tests/fixtures/simulated_inference/`, whose README gives the performance surface).
//!
//! Three stages over two models: `tier0-sim` sweeps max-num-seqs, `tier0b-sim` takes its
//! winner's tp and max-num-seqs and sweeps max-num-batched-tokens, `tier1-sim` takes those
//! three and sweeps gpu-memory-utilization x speculative decoding. `Qwen/Qwen3-235B-A22B`
//! (470 GB of weights) goes out of memory on one GPU in every run, so it has no winner.
//!
//! Every expected value below is derived by hand from the surface: tokens/s per GPU =
//! 2000 (SmolLM2-135M's peak) x `f_mns` x `f_mnbt` x `f_gmu` x `f_spec`, with
//! `f_mns = 1 - 0.1 x log2(mns / 1024)^2`, `f_mnbt = 1 - 0.05 x log2(mnbt / 16384)^2`,
//! `f_gmu = 1 + 2 x (gmu - 0.9)`, `f_spec = 1 + 0.02 x ngram tokens`.

use std::path::Path;
use std::time::Instant;

use bench_core::summary::SUMMARY_COLUMNS;
use bench_tests::repo_root;

use crate::tools::{
    Binaries, ClusterSweep, RunLine, cancel_on_drop, cluster_sweep, read_csv, wait_until_ended,
    yaml_string,
};

pub(crate) const SMOL: &str = "SmolLM2_135M_Instruct";
pub(crate) const BIG: &str = "Qwen3_235B_A22B";

/// The directory below an experiment of a run of `model` (prompt `tutorial`).
pub(crate) fn run_dir(
    experiment: &str,
    model: &str,
    mns: u64,
    mnbt: u64,
    gmu: u64,
    spec: &str,
) -> String {
    format!(
        "results/{experiment}/tutorial/{model}/tp1-pp1-dp1/mns_{mns}/mnbt_{mnbt}/gmu_{gmu}/bs_16/\
         kvc_auto/{spec}/quant_none"
    )
}

#[test]
#[ignore = "needs the local SLURM cluster, started by scripts/test.sh (as root)"]
fn a_three_stage_sweep_runs_itself_to_the_answer() {
    let started = Instant::now();
    let ClusterSweep {
        lease: _lease,
        binaries,
        dir,
    } = cluster_sweep(staged_config);

    // 1. Only the first stage can run; both later stages wait, per model.
    let first = binaries.launch(dir.path(), &[]);
    let _first_jobs = cancel_on_drop(&first);
    let mut expected: Vec<(String, String, String)> = [SMOL, BIG]
        .iter()
        .flat_map(|model| {
            [256, 1024, 2048].map(|mns| {
                (
                    "submitted".to_owned(),
                    run_dir("tier0-sim", model, mns, 8192, 90, "spec_none"),
                    String::new(),
                )
            })
        })
        .collect();
    for model in [SMOL, BIG] {
        expected.push((
            "waiting".into(),
            format!("tier0b-sim tutorial-{model} 3 runs"),
            format!("waits for tier0-sim ({model}, tutorial): 3 of 3 runs not finished"),
        ));
    }
    for model in [SMOL, BIG] {
        expected.push((
            "waiting".into(),
            format!("tier1-sim tutorial-{model} 4 runs"),
            format!(
                "waits for tier0b-sim ({model}, tutorial): its source tier0-sim is not finished"
            ),
        ));
    }
    assert_eq!(summarized(&first), sorted(expected), "{first:#?}");
    wait_until_ended(&first);

    // 2. tier0-sim: SmolLM2's best is mns 1024 (`f_mns` 1.0 against 0.6 and 0.9), so its
    // tier0b-sim runs carry tp 1 and mns 1024; Qwen3-235B went out of memory in all three.
    let second = binaries.launch(dir.path(), &[]);
    let _second_jobs = cancel_on_drop(&second);
    let mut expected = Vec::new();
    for mns in [256, 1024, 2048] {
        expected.push((
            "skipped_completed".to_owned(),
            run_dir("tier0-sim", SMOL, mns, 8192, 90, "spec_none"),
            String::new(),
        ));
        expected.push((
            "skipped_failure".to_owned(),
            run_dir("tier0-sim", BIG, mns, 8192, 90, "spec_none"),
            "OOM".to_owned(),
        ));
    }
    for mnbt in [8192, 16384, 32768] {
        expected.push((
            "submitted".into(),
            run_dir("tier0b-sim", SMOL, 1024, mnbt, 90, "spec_none"),
            String::new(),
        ));
    }
    expected.extend([
        (
            "skipped_no_winner".into(),
            format!("tier0b-sim tutorial-{BIG} 3 runs"),
            "tier0-sim: 3 OOM".into(),
        ),
        (
            "waiting".into(),
            format!("tier1-sim tutorial-{SMOL} 4 runs"),
            format!("waits for tier0b-sim ({SMOL}, tutorial): 3 of 3 runs not finished"),
        ),
        (
            "skipped_no_winner".into(),
            format!("tier1-sim tutorial-{BIG} 4 runs"),
            "its source tier0b-sim has no winner: tier0-sim: 3 OOM".into(),
        ),
    ]);
    assert_eq!(summarized(&second), sorted(expected), "{second:#?}");
    wait_until_ended(&second);

    // 3. tier0b-sim: mnbt 16384 wins (`f_mnbt` 1.0 against 0.95 twice): tier1-sim's runs carry
    // tp 1, mns 1024 and mnbt 16384.
    let third = binaries.launch(dir.path(), &[]);
    let _third_jobs = cancel_on_drop(&third);
    let tier1: Vec<String> = [
        (90, "spec_none"),
        (90, "spec_ngram_6"),
        (95, "spec_none"),
        (95, "spec_ngram_6"),
    ]
    .iter()
    .map(|(gmu, spec)| run_dir("tier1-sim", SMOL, 1024, 16384, *gmu, spec))
    .collect();
    let submitted: Vec<&str> = third
        .iter()
        .filter(|line| line.decision == "submitted")
        .map(RunLine::dir)
        .collect();
    assert_eq!(submitted, tier1, "{third:#?}");
    wait_until_ended(&third);

    // 4. The sweep is at its end: a relaunch submits nothing.
    let fourth = binaries.launch(dir.path(), &[]);
    let resubmitted = cancel_on_drop(&fourth);
    assert!(resubmitted.is_empty(), "{fourth:#?}");
    let completed = fourth
        .iter()
        .filter(|line| line.decision == "skipped_completed")
        .count();
    assert_eq!(completed, 3 + 3 + 4, "{fourth:#?}");

    // 5. analyze reports the fastest run over all stages as SmolLM2's best.
    check_summary(&binaries, dir.path());
    eprintln!("staged: {} s in all", started.elapsed().as_secs());
}

/// analyze: `SmolLM2`'s overall best is tier1-sim's gmu 0.95 with ngram 6: 2000 x 1.1 x 1.12 =
/// 2464 tokens/s per GPU, against the baseline (mns 256, mnbt 8192): 2000 x 0.6 x 0.95 = 1140;
/// tier 0's best is tier0b-sim's mnbt 16384 at 2000.
pub(crate) fn check_summary(binaries: &Binaries, dir: &Path) {
    binaries.analyze(dir);
    let summary = read_csv(&dir.join("results/optimization_summary.csv"))
        .unwrap_or_else(|error| panic!("{error:#}"));
    assert_eq!(
        summary.len(),
        1,
        "only SmolLM2 has a baseline: {summary:#?}"
    );
    let row = &summary[0];
    let cells: Vec<&str> = SUMMARY_COLUMNS
        .iter()
        .map(|column| row[*column].as_str())
        .collect();
    assert_eq!(
        cells,
        [
            SMOL,
            "1",
            "1140",
            "2000",
            "1.754386",
            "mns=1024, mnbt=16384",
            "2464",
            "2.161404",
            "mns=1024, mnbt=16384, gmu=95, spec=ngram_6",
            "2464",
            "2.161404",
            "mns=1024, mnbt=16384, gmu=95, spec=ngram_6",
        ]
    );
}

/// Each line as (decision, run directory or `stage name N runs`, reason), sorted.
fn summarized(lines: &[RunLine]) -> Vec<(String, String, String)> {
    sorted(
        lines
            .iter()
            .map(|line| {
                let what = match (&line.run_dir, line.runs) {
                    (Some(dir), _) => dir.clone(),
                    (None, Some(runs)) => format!("{} {} {runs} runs", line.experiment, line.name),
                    (None, None) => panic!("neither a run nor a group: {line:#?}"),
                };
                let reason = match line.decision.as_str() {
                    "submitted" | "skipped_completed" => String::new(),
                    _ => line.reason.clone().unwrap_or_default(),
                };
                (line.decision.clone(), what, reason)
            })
            .collect(),
    )
}

fn sorted(mut lines: Vec<(String, String, String)>) -> Vec<(String, String, String)> {
    lines.sort();
    lines
}

/// The sweep: `python3` runs the simulated script (standard library only).
pub(crate) fn staged_config(mem_per_cpu_mb: u64) -> String {
    let script = repo_root().join("tests/fixtures/simulated_inference/generate_data.py");
    format!(
        r#"script: {script}
slurm:
  cpus-per-gpu: 1
  mem-per-cpu: "{mem_per_cpu_mb}M"
  python: python3
fixed_args:
  output-dir: results
  prompt-template: ["tutorial", "Rewrite the document as a tutorial.\n\nDocument: [[DOCUMENT]]"]
  time: "5"
experiments:
  - name: tier0-sim
    args:
      model-name-or-path: ["HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen3-235B-A22B"]
      max-num-seqs: [256, 1024, 2048]
  - name: tier0b-sim
    from: {{experiment: tier0-sim, inherit: [tp, max-num-seqs]}}
    args:
      max-num-batched-tokens: [8192, 16384, 32768]
  - name: tier1-sim
    from:
      experiment: tier0b-sim
      inherit: [tp, max-num-seqs, max-num-batched-tokens]
    args:
      gpu-memory-utilization: [0.9, 0.95]
      speculative-config: [None, '{{"method": "ngram", "num_speculative_tokens": 6}}']
"#,
        script = yaml_string(&script),
    )
}
