//! The optimization summary: per model, the baseline and the best rows of tier 0, tier 1 and
//! overall (`docs/results.md`, `optimization_summary.csv`).

use std::collections::BTreeMap;

use crate::layout::{
    DEFAULT_BLOCK_SIZE, DEFAULT_GPU_MEMORY_PERCENT, DEFAULT_MAX_NUM_BATCHED_TOKENS,
    DEFAULT_MAX_NUM_SEQS, KvCacheDtype, Quantization, RunFields, Segment, SpeculativeDecoding,
};
use crate::rows::{Row, float_cell, int_cell};

/// Tensor parallel sizes tried for the baseline, in order; the first with a baseline row wins.
pub const BASELINE_TPS: [u64; 4] = [1, 2, 4, 8];

/// `*_params` when the best row has the baseline's parameters.
pub const BASELINE_IS_OPTIMAL: &str = "(baseline is optimal)";
/// `*_params` of a tier without rows.
pub const NO_ROWS: &str = "-";

/// The columns of `optimization_summary.csv`, in order.
pub const SUMMARY_COLUMNS: [&str; 12] = [
    "model",
    "baseline_tp",
    "baseline_tps",
    "tier0_tps",
    "tier0_speedup",
    "tier0_params",
    "tier1_tps",
    "tier1_speedup",
    "tier1_params",
    "overall_tps",
    "overall_speedup",
    "overall_params",
];

/// The best row of one section (tier 0, tier 1 or overall).
#[derive(Debug, Clone, PartialEq)]
pub struct Best {
    /// Its `output_tps_per_gpu`, tokens/s per GPU, unrounded.
    pub output_tps_per_gpu: f64,
    /// The parameters where it differs from the baseline row (`mns=512, spec=ngram_6`), or
    /// [`BASELINE_IS_OPTIMAL`].
    pub params: String,
}

/// One row of the optimization summary: a model that has a baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    /// The model column of the rows.
    pub model: String,
    /// The baseline's tensor parallel size (1, 2, 4 or 8).
    pub baseline_tp: u64,
    /// The best `output_tps_per_gpu` among the baseline rows, tokens/s per GPU, unrounded.
    pub baseline_tps: f64,
    /// Best row of experiments whose name starts with `tier0`; `None` when there is none.
    pub tier0: Option<Best>,
    /// Best row of experiments whose name starts with `tier1`; `None` when there is none.
    pub tier1: Option<Best>,
    /// Best row of all the model's rows.
    pub overall: Best,
}

impl ModelSummary {
    /// `best` tokens/s over the baseline's (unrounded values); `None` when the baseline
    /// throughput is 0.
    pub fn speedup(&self, best: &Best) -> Option<f64> {
        (self.baseline_tps > 0.0).then(|| best.output_tps_per_gpu / self.baseline_tps)
    }

    /// The cells in [`SUMMARY_COLUMNS`] order: tps rounded half to even, speedups with six
    /// decimals, a tier without rows as empty tps and speedup and `-` params.
    pub fn csv_record(&self) -> Vec<String> {
        let mut record = vec![
            self.model.clone(),
            int_cell(Some(self.baseline_tp)),
            round_half_even(self.baseline_tps),
        ];
        for best in [
            self.tier0.as_ref(),
            self.tier1.as_ref(),
            Some(&self.overall),
        ] {
            match best {
                Some(best) => record.extend([
                    round_half_even(best.output_tps_per_gpu),
                    float_cell(self.speedup(best)),
                    best.params.clone(),
                ]),
                None => record.extend([String::new(), String::new(), NO_ROWS.to_owned()]),
            }
        }
        record
    }
}

/// The optimization summary's table as the seed README shows it (stdout and the report):
/// the column headers, then [`ModelSummary::table_cells`] per model.
pub const SUMMARY_TABLE_HEADERS: [&str; 6] = [
    "Model",
    "Base TP",
    "Base tps/gpu",
    "Best tps/gpu",
    "Speedup",
    "Best Parameters",
];

impl ModelSummary {
    /// The cells of [`SUMMARY_TABLE_HEADERS`]: the model, the baseline's tp, the baseline's
    /// and the overall best tokens/s per GPU rounded half to even, the overall speedup to
    /// two decimals followed by `x` (empty when the baseline is 0), the best parameters.
    pub fn table_cells(&self) -> [String; 6] {
        [
            self.model.clone(),
            self.baseline_tp.to_string(),
            round_half_even(self.baseline_tps),
            round_half_even(self.overall.output_tps_per_gpu),
            self.speedup(&self.overall)
                .map(|s| format!("{s:.2}x"))
                .unwrap_or_default(),
            self.overall.params.clone(),
        ]
    }
}

/// Round to an integer, ties to even as Python's `round` (`2.5` -> `2`, `3.5` -> `4`).
pub fn round_half_even(value: f64) -> String {
    // Adding 0.0 turns -0 into 0.
    format!("{:.0}", value.round_ties_even() + 0.0)
}

/// Whether a row has the baseline's parameters, vLLM's defaults, apart from tp (pp and dp
/// are not looked at, as in the original).
fn is_baseline_config(fields: &RunFields) -> bool {
    fields.max_num_seqs == Some(DEFAULT_MAX_NUM_SEQS)
        && fields.max_num_batched_tokens == Some(DEFAULT_MAX_NUM_BATCHED_TOKENS)
        && has_default_memory_and_decoding(fields)
}

/// Whether a row has vLLM's defaults for everything the run directory holds below
/// max-num-batched-tokens: gpu-memory-utilization 0.9, block size 16, KV cache dtype
/// `auto`, no speculative decoding, no quantization (the report's heatmaps hold these rows).
pub fn has_default_memory_and_decoding(fields: &RunFields) -> bool {
    fields.gpu_memory_percent == Some(DEFAULT_GPU_MEMORY_PERCENT)
        && fields.block_size == Some(DEFAULT_BLOCK_SIZE)
        && fields.kv_cache_dtype == KvCacheDtype::Auto.segment()
        && fields.speculative == SpeculativeDecoding::None.segment()
        && fields.quantization == Quantization::None.segment()
}

/// The first row with the highest `output_tps_per_gpu` among `rows`.
fn best_row<'a>(rows: impl IntoIterator<Item = (&'a Row, f64)>) -> Option<(&'a Row, f64)> {
    rows.into_iter().fold(None, |best, (row, tps)| match best {
        Some((_, best_tps)) if tps <= best_tps => best,
        _ => Some((row, tps)),
    })
}

/// The parameters where `best` differs from `baseline`, tp first, then mns, mnbt, gmu, bs,
/// kvc, spec, quant, with the `kvc_`/`spec_`/`quant_` prefixes dropped.
pub fn differing_params(best: &RunFields, baseline: &RunFields) -> String {
    let mut parts = Vec::new();
    if best.tp != baseline.tp {
        parts.push(format!("tp={}", int_cell(best.tp)));
    }
    for segment in Segment::ALL {
        let value = best.segment_value(segment);
        if value != baseline.segment_value(segment) {
            parts.push(format!("{}={value}", segment.column()));
        }
    }
    if parts.is_empty() {
        BASELINE_IS_OPTIMAL.to_owned()
    } else {
        parts.join(", ")
    }
}

/// The optimization summary of `rows` (in `docs/results.md` order, so ties go to the
/// first row): one entry per model with a baseline, sorted by model in byte order. Empty
/// when no model has a baseline (then `optimization_summary.csv` is not written).
pub fn summarize(rows: &[Row]) -> Vec<ModelSummary> {
    let mut by_model: BTreeMap<&str, Vec<(&Row, f64)>> = BTreeMap::new();
    for row in rows {
        if let Some(tps) = row.metrics.output_tps_per_gpu {
            by_model
                .entry(row.fields.model.as_str())
                .or_default()
                .push((row, tps));
        }
    }
    by_model
        .into_iter()
        .filter_map(|(model, rows)| summarize_model(model, &rows))
        .collect()
}

/// One model's summary; `None` without a baseline.
fn summarize_model(model: &str, rows: &[(&Row, f64)]) -> Option<ModelSummary> {
    let (baseline_tp, (baseline, baseline_tps)) = BASELINE_TPS.into_iter().find_map(|tp| {
        let candidates = rows
            .iter()
            .copied()
            .filter(|(row, _)| row.fields.tp == Some(tp) && is_baseline_config(&row.fields));
        best_row(candidates).map(|best| (tp, best))
    })?;
    let best_of = |prefix: Option<&str>| {
        let section = rows.iter().copied().filter(|(row, _)| {
            prefix.is_none_or(|prefix| row.fields.experiment.starts_with(prefix))
        });
        best_row(section).map(|(row, tps)| Best {
            output_tps_per_gpu: tps,
            params: differing_params(&row.fields, &baseline.fields),
        })
    };
    Some(ModelSummary {
        model: model.to_owned(),
        baseline_tp,
        baseline_tps,
        tier0: best_of(Some("tier0")),
        tier1: best_of(Some("tier1")),
        overall: best_of(None)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Comment, RowMetrics};
    use crate::test_support::baseline_fields;

    /// A row of `experiment` for `model` with the baseline config except what `change` sets,
    /// and the given output tokens/s per GPU.
    fn row(experiment: &str, model: &str, tps: Option<f64>, change: fn(&mut RunFields)) -> Row {
        let mut fields = baseline_fields(experiment, model);
        change(&mut fields);
        Row {
            fields,
            metrics: RowMetrics {
                output_tps_per_gpu: tps,
                ..RowMetrics::default()
            },
            path: String::new(),
            comment: Comment::Empty,
            job_id: 0,
            task_index: 0,
            log: None,
        }
    }

    #[test]
    fn tier0_and_tier1_winners_over_a_tp1_baseline() {
        let rows = [
            row("tier0-tiny", "SmolLM2", Some(28_391.0), |_| {}),
            row("tier0-tiny", "SmolLM2", Some(30_000.0), |f| {
                f.max_num_seqs = Some(512);
            }),
            row("tier0-tiny", "SmolLM2", Some(29_000.0), |f| f.tp = Some(2)),
            row("tier1-tiny", "SmolLM2", Some(45_540.0), |f| {
                f.max_num_seqs = Some(512);
                f.max_num_batched_tokens = Some(32768);
                f.speculative = "spec_ngram_6".into();
            }),
            row("other", "SmolLM2", Some(1.0), |f| {
                f.gpu_memory_percent = Some(95);
            }),
        ];
        let summary = summarize(&rows);
        assert_eq!(summary.len(), 1);
        let s = &summary[0];
        assert_eq!(
            s.csv_record(),
            [
                "SmolLM2",
                "1",
                "28391",
                "30000",
                // 30000 / 28391 = 1.0566729...
                "1.056673",
                "mns=512",
                "45540",
                // 45540 / 28391 = 1.6040294...
                "1.604029",
                "mns=512, mnbt=32768, spec=ngram_6",
                "45540",
                "1.604029",
                "mns=512, mnbt=32768, spec=ngram_6",
            ]
        );
    }

    #[test]
    fn non_baseline_tp1_falls_back_to_tp2() {
        let rows = [
            row("tier0", "Qwen3_32B", Some(900.0), |f| {
                f.max_num_seqs = Some(512);
            }),
            row("tier0", "Qwen3_32B", Some(800.0), |f| f.tp = Some(2)),
            row("tier0", "Qwen3_32B", Some(700.0), |f| f.tp = Some(4)),
        ];
        let s = &summarize(&rows)[0];
        assert_eq!(s.baseline_tp, 2);
        assert_eq!(
            s.csv_record(),
            [
                "Qwen3_32B",
                "2",
                "800",
                "900",
                // 900 / 800
                "1.125000",
                "tp=1, mns=512",
                "",
                "",
                "-",
                "900",
                "1.125000",
                "tp=1, mns=512",
            ]
        );
    }

    #[test]
    fn baseline_ignores_rows_without_throughput_and_pp_dp() {
        let rows = [
            row("tier0", "m", None, |_| {}),
            row("tier0", "m", Some(50.0), |f| {
                f.tp = Some(2);
                f.pp = Some(2);
                f.dp = None;
            }),
        ];
        let s = &summarize(&rows)[0];
        assert_eq!((s.baseline_tp, s.baseline_tps), (2, 50.0));
        assert_eq!(s.overall.params, BASELINE_IS_OPTIMAL);
        assert_eq!(s.tier0.as_ref().unwrap().params, BASELINE_IS_OPTIMAL);
    }

    #[test]
    fn model_without_baseline_has_no_row_and_none_gives_empty() {
        let rows = [
            row("tier0", "a_model", Some(10.0), |f| f.block_size = Some(32)),
            row("tier0", "b_model", Some(10.0), |_| {}),
            row("tier0", "c_model", Some(10.0), |f| f.tp = Some(3)),
        ];
        let models: Vec<String> = summarize(&rows).into_iter().map(|s| s.model).collect();
        assert_eq!(models, ["b_model"]);
        assert!(summarize(&rows[..1]).is_empty());
        assert!(summarize(&[rows[0].clone(), rows[2].clone()]).is_empty());
    }

    #[test]
    fn models_sorted_by_byte_order() {
        let rows = [
            row("tier0", "gemma_3_1b_it", Some(10.0), |_| {}),
            row("tier0", "Qwen3_4B", Some(10.0), |_| {}),
        ];
        let models: Vec<String> = summarize(&rows).into_iter().map(|s| s.model).collect();
        assert_eq!(models, ["Qwen3_4B", "gemma_3_1b_it"]);
    }

    #[test]
    fn ties_go_to_the_first_row() {
        let rows = [
            row("tier0", "m", Some(10.0), |_| {}),
            row("tier0", "m", Some(20.0), |f| f.max_num_seqs = Some(512)),
            row("tier0", "m", Some(20.0), |f| f.max_num_seqs = Some(1024)),
        ];
        assert_eq!(summarize(&rows)[0].overall.params, "mns=512");
    }

    #[test]
    fn tps_round_half_to_even_speedup_unrounded() {
        assert_eq!(round_half_even(2.5), "2");
        assert_eq!(round_half_even(3.5), "4");
        assert_eq!(round_half_even(28_390.5), "28390");
        assert_eq!(round_half_even(28_391.5), "28392");
        assert_eq!(round_half_even(0.4), "0");
        let rows = [
            row("tier0", "m", Some(100.5), |_| {}),
            row("tier1", "m", Some(201.5), |f| {
                f.kv_cache_dtype = "kvc_fp8e4m3".into();
            }),
        ];
        let record = summarize(&rows)[0].csv_record();
        // Baseline 100.5 -> 100; tier1 201.5 -> 202; speedup 201.5 / 100.5 = 2.0049751...
        assert_eq!(record[2], "100");
        assert_eq!(record[6], "202");
        assert_eq!(record[7], "2.004975");
        assert_eq!(record[8], "kvc=fp8e4m3");
        // The baseline row is tier0's only row.
        assert_eq!(record[4], "1.000000");
        assert_eq!(record[5], BASELINE_IS_OPTIMAL);
    }

    #[test]
    fn every_differing_parameter_in_order() {
        let base = row("tier0", "m", None, |_| {}).fields;
        let best = row("tier0", "m", None, |f| {
            f.quantization = "quant_bnb".into();
            f.speculative = "spec_suffix_32".into();
            f.kv_cache_dtype = "kvc_fp8e5m2".into();
            f.block_size = Some(32);
            f.gpu_memory_percent = Some(95);
            f.max_num_batched_tokens = None;
            f.max_num_seqs = Some(2048);
            f.tp = Some(8);
            f.pp = Some(4);
        })
        .fields;
        assert_eq!(
            differing_params(&best, &base),
            "tp=8, mns=2048, mnbt=, gmu=95, bs=32, kvc=fp8e5m2, spec=suffix_32, quant=bnb"
        );
    }
}
