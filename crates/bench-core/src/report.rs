//! What `analyze`'s report shows (`docs/report.md`), worked out from the result rows and the
//! optimization summary: the overview, the results table, the speedups, the heatmaps of
//! max-num-seqs x max-num-batched-tokens, speculative decoding x gpu-memory-utilization,
//! the models to sweep further, the failures and each model's winner. Rendering (charts,
//! HTML, Markdown) and reading the winners' `kwargs.json` are `analyze`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::failure::FailureClass;
use crate::layout::{
    DEFAULT_MAX_NUM_BATCHED_TOKENS, DEFAULT_MAX_NUM_SEQS, KvCacheDtype, Quantization, RunFields,
    Segment, SpeculativeDecoding, UNSET, gmu_percent,
};
use crate::metrics::gpu_count;
use crate::rows::{Row, int_cell};
use crate::run::KWARGS_ADDED;
use crate::server_log::SpecDecoding;
use crate::summary::{ModelSummary, has_default_memory_and_decoding, round_half_even};

/// Everything the report shows, in its order.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was analyzed.
    pub overview: Overview,
    /// The results table: the optimization summary's rows, in its order.
    pub results: Vec<ModelSummary>,
    /// Models without a defaults baseline (not in the results table), with their best run.
    pub without_baseline: Vec<BestRun>,
    /// The overall speedup per model with a baseline, highest first.
    pub speedups: Vec<(String, f64)>,
    /// One heatmap per model and tp.
    pub heatmaps: Vec<Heatmap>,
    /// One chart per model that has completed runs with speculative decoding.
    pub spec_charts: Vec<SpecChart>,
    /// Models whose best run sits at the largest value tried of a key.
    pub sweep_further: Vec<SweepFurther>,
    /// The runs that did not complete.
    pub failures: Failures,
    /// Each model's best run, for its `args:` block.
    pub winners: Vec<BestRun>,
}

/// What was analyzed.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    /// `--root` as given.
    pub root: String,
    /// Rows (one per run and `.out` file, after de-duplication).
    pub runs: usize,
    /// Rows of runs that completed.
    pub completed: usize,
    /// Rows of runs that did not complete, per comment (failure classes in priority
    /// order, then `stats.json unreadable` and `stats.json not found`).
    pub failed: Vec<(String, usize)>,
    /// GPU-hours of the completed runs: GPUs (tp x pp x dp) x `e2e_time`.
    pub gpu_hours: f64,
}

/// A model's best run: its highest `output_tps_per_gpu` over its completed rows (the
/// first in row order on ties, as the summary's overall best).
#[derive(Debug, Clone, PartialEq)]
pub struct BestRun {
    /// The `model` column.
    pub model: String,
    /// Its output tokens/s per GPU.
    pub output_tps_per_gpu: f64,
    /// Its config columns.
    pub fields: RunFields,
    /// Its `.out` path (the `path` column).
    pub path: String,
}

/// The columns of the table of models without a baseline (stdout and the report), then
/// [`BestRun::table_cells`] per model.
pub const WITHOUT_BASELINE_HEADERS: [&str; 3] = ["Model", "Best tps/gpu", "Best run's parameters"];

/// Which columns of [`WITHOUT_BASELINE_HEADERS`] hold numbers (right-aligned).
pub const WITHOUT_BASELINE_NUMERIC: [bool; 3] = [false, true, false];

impl BestRun {
    /// The run's parameters as `tp=2, pp=1, dp=1, mns=512, ...`.
    pub fn params(&self) -> String {
        all_params(&self.fields)
    }

    /// The cells of [`WITHOUT_BASELINE_HEADERS`]: the model, its tokens/s per GPU rounded
    /// half to even, all its parameters.
    pub fn table_cells(&self) -> [String; 3] {
        [
            self.model.clone(),
            round_half_even(self.output_tps_per_gpu),
            self.params(),
        ]
    }
}

/// The best runs of the models that have no baseline (not in `summary`), by model.
pub fn without_baseline(rows: &[Row], summary: &[ModelSummary]) -> Vec<BestRun> {
    keep_without_baseline(best_runs(rows), summary)
}

/// Those of `winners` whose model is not in `summary`.
fn keep_without_baseline(winners: Vec<BestRun>, summary: &[ModelSummary]) -> Vec<BestRun> {
    let with_baseline: BTreeSet<&str> = summary.iter().map(|s| s.model.as_str()).collect();
    winners
        .into_iter()
        .filter(|best| !with_baseline.contains(best.model.as_str()))
        .collect()
}

/// Every config parameter of a run: `tp=1, pp=1, dp=1, mns=512, mnbt=8192, gmu=90, bs=16,
/// kvc=auto, spec=none, quant=none`.
pub fn all_params(fields: &RunFields) -> String {
    let parallel = [("tp", fields.tp), ("pp", fields.pp), ("dp", fields.dp)]
        .map(|(name, value)| format!("{name}={}", int_cell(value)));
    let segments = Segment::ALL
        .map(|segment| format!("{}={}", segment.column(), fields.segment_value(segment)));
    parallel
        .into_iter()
        .chain(segments)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a heatmap cell holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// The best output tokens/s per GPU among the completed runs of the cell.
    Value(f64),
    /// No run of the cell completed: the comment of its failed runs, the failure class
    /// first in priority order (`OOM` before `timeout`), else `stats.json unreadable` or
    /// `stats.json not found`.
    Failed(String),
    /// Never run.
    Blank,
}

/// Output tokens/s per GPU over max-num-seqs (x) by max-num-batched-tokens (y), for one
/// model and tp, over the runs at gpu-memory-utilization 0.9, block size 16, KV cache
/// `auto`, without speculative decoding or quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// The `model` column.
    pub model: String,
    /// The tensor parallel size.
    pub tp: u64,
    /// The max-num-seqs values of its runs, ascending (the columns).
    pub max_num_seqs: Vec<u64>,
    /// The max-num-batched-tokens values of its runs, ascending (the rows).
    pub max_num_batched_tokens: Vec<u64>,
    /// `cells[y][x]`: row `y` of [`Heatmap::max_num_batched_tokens`], column `x` of
    /// [`Heatmap::max_num_seqs`].
    pub cells: Vec<Vec<Cell>>,
    /// `(x, y)` of the highest value (the first in row order on ties); `None` when no cell
    /// has a value.
    pub best: Option<(usize, usize)>,
    /// `(x, y)` of vLLM's defaults (max-num-seqs 256, max-num-batched-tokens 8192) when
    /// they were run.
    pub baseline: Option<(usize, usize)>,
}

impl Heatmap {
    /// What the cell at `(x, y)` is besides its value: `best`, `baseline`, both or neither.
    pub fn marks(&self, x: usize, y: usize) -> Vec<&'static str> {
        [(self.best, "best"), (self.baseline, "baseline")]
            .into_iter()
            .filter(|(at, _)| *at == Some((x, y)))
            .map(|(_, mark)| mark)
            .collect()
    }

    /// The lowest and highest value of its cells; `None` when none has a value.
    pub fn value_range(&self) -> Option<(f64, f64)> {
        self.cells
            .iter()
            .flatten()
            .filter_map(|cell| match cell {
                Cell::Value(value) => Some(*value),
                _ => None,
            })
            .fold(None, |range, value| match range {
                None => Some((value, value)),
                Some((low, high)) => Some((f64::min(low, value), f64::max(high, value))),
            })
    }
}

/// One model's speculative-decoding results: per speculative config, a bar per
/// gpu-memory-utilization, against the model's best without speculative decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecChart {
    /// The `model` column.
    pub model: String,
    /// The model's best output tokens/s per GPU without speculative decoding.
    pub without_spec: Option<f64>,
    /// The gpu-memory-utilization values (percent) of the bars, ascending.
    pub gpu_memory_percents: Vec<u64>,
    /// One group per speculative config (the `spec` column), in byte order.
    pub groups: Vec<SpecGroup>,
}

/// The bars of one speculative config.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecGroup {
    /// The `spec` value (`ngram_6`).
    pub spec: String,
    /// One per [`SpecChart::gpu_memory_percents`]: the best completed run there, if any.
    pub bars: Vec<Option<SpecBar>>,
}

/// A bar: the best completed run of a speculative config and gpu-memory-utilization.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecBar {
    /// Its output tokens/s per GPU.
    pub output_tps_per_gpu: f64,
    /// Its draft acceptance rate, percent, from its server log.
    pub acceptance_rate: Option<f64>,
}

/// A model whose best run uses the largest value tried of a key: the optimum may lie
/// beyond.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFurther {
    /// The `model` column.
    pub model: String,
    /// The key (`max-num-batched-tokens`).
    pub key: Segment,
    /// The largest value tried, which the best run uses.
    pub value: u64,
}

/// The runs that did not complete.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Failures {
    /// `(experiment, comment, rows)`, by experiment, then comment as
    /// [`Overview::failed`] orders them.
    pub counts: Vec<(String, String, usize)>,
    /// Each failed row, in row order.
    pub runs: Vec<FailedRun>,
}

/// A row of a run that did not complete.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRun {
    /// The `experiment` column.
    pub experiment: String,
    /// The `model` column.
    pub model: String,
    /// The `comment` column: the failure class, or why no stats were read.
    pub comment: String,
    /// The `.out` path (the `path` column).
    pub path: String,
}

/// The sort key of a failed row's comment: failure classes in priority order, then the
/// comments without a class.
fn comment_rank(row: &Row) -> usize {
    row.comment
        .failure_class()
        .and_then(|class| FailureClass::ALL.iter().position(|c| *c == class))
        .unwrap_or(FailureClass::ALL.len())
}

/// Build the report of `rows` (in `docs/results.md` order) and their `summary`.
pub fn build(root: &str, rows: &[Row], summary: &[ModelSummary]) -> Report {
    let winners = best_runs(rows);
    let mut speedups: Vec<(String, f64)> = summary
        .iter()
        .filter_map(|s| Some((s.model.clone(), s.speedup(&s.overall)?)))
        .collect();
    speedups.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Report {
        overview: overview(root, rows),
        results: summary.to_vec(),
        without_baseline: keep_without_baseline(winners.clone(), summary),
        speedups,
        heatmaps: heatmaps(rows),
        spec_charts: spec_charts(rows),
        sweep_further: sweep_further(rows, &winners),
        failures: failures(rows),
        winners,
    }
}

/// The failed rows' comments with their counts, in [`comment_rank`] order.
fn count_comments<'a>(rows: impl Iterator<Item = &'a Row>) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<(usize, String), usize> = BTreeMap::new();
    for row in rows.filter(|row| !row.comment.is_completed()) {
        *counts
            .entry((comment_rank(row), row.comment.to_string()))
            .or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((_, comment), count)| (comment, count))
        .collect()
}

fn overview(root: &str, rows: &[Row]) -> Overview {
    let completed: Vec<&Row> = rows.iter().filter(|r| r.comment.is_completed()).collect();
    let gpu_hours = completed
        .iter()
        .filter_map(|row| {
            let gpus = gpu_count(row.fields.tp, row.fields.pp, row.fields.dp);
            row.metrics.e2e_time.map(|seconds| gpus as f64 * seconds)
        })
        .sum::<f64>()
        / 3600.0;
    Overview {
        root: root.to_owned(),
        runs: rows.len(),
        completed: completed.len(),
        failed: count_comments(rows.iter()),
        gpu_hours,
    }
}

/// The completed rows with their output tokens/s per GPU.
fn completed_tps(rows: &[Row]) -> impl Iterator<Item = (&Row, f64)> {
    rows.iter().filter_map(|row| {
        row.metrics
            .output_tps_per_gpu
            .filter(|_| row.comment.is_completed())
            .map(|tps| (row, tps))
    })
}

/// Each model's best run, by model in byte order.
fn best_runs(rows: &[Row]) -> Vec<BestRun> {
    let mut best: BTreeMap<&str, (&Row, f64)> = BTreeMap::new();
    for (row, tps) in completed_tps(rows) {
        let entry = best.entry(row.fields.model.as_str()).or_insert((row, tps));
        if tps > entry.1 {
            *entry = (row, tps);
        }
    }
    best.into_iter()
        .map(|(model, (row, tps))| BestRun {
            model: model.to_owned(),
            output_tps_per_gpu: tps,
            fields: row.fields.clone(),
            path: row.path.clone(),
        })
        .collect()
}

fn heatmaps(rows: &[Row]) -> Vec<Heatmap> {
    // (model, tp) -> (mnbt, mns) -> the cell's rows.
    type Cells<'a> = BTreeMap<(u64, u64), Vec<&'a Row>>;
    let mut maps: BTreeMap<(&str, u64), Cells> = BTreeMap::new();
    for row in rows {
        let f = &row.fields;
        let (Some(tp), Some(mns), Some(mnbt)) = (f.tp, f.max_num_seqs, f.max_num_batched_tokens)
        else {
            continue;
        };
        if has_default_memory_and_decoding(f) {
            maps.entry((f.model.as_str(), tp))
                .or_default()
                .entry((mnbt, mns))
                .or_default()
                .push(row);
        }
    }
    maps.into_iter()
        .map(|((model, tp), cells)| heatmap(model, tp, &cells))
        .collect()
}

fn heatmap(model: &str, tp: u64, runs: &BTreeMap<(u64, u64), Vec<&Row>>) -> Heatmap {
    let xs: Vec<u64> = runs
        .keys()
        .map(|(_, mns)| *mns)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ys: Vec<u64> = runs
        .keys()
        .map(|(mnbt, _)| *mnbt)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cell = |rows: &[&Row]| {
        let best = rows
            .iter()
            .filter(|row| row.comment.is_completed())
            .filter_map(|row| row.metrics.output_tps_per_gpu)
            .fold(None, |best: Option<f64>, tps| {
                Some(best.map_or(tps, |b| b.max(tps)))
            });
        match best {
            Some(tps) => Cell::Value(tps),
            None => rows
                .iter()
                .filter(|row| !row.comment.is_completed())
                .min_by_key(|row| comment_rank(row))
                .map_or(Cell::Blank, |row| Cell::Failed(row.comment.to_string())),
        }
    };
    let cells: Vec<Vec<Cell>> = ys
        .iter()
        .map(|mnbt| {
            xs.iter()
                .map(|mns| {
                    runs.get(&(*mnbt, *mns))
                        .map_or(Cell::Blank, |rows| cell(rows))
                })
                .collect()
        })
        .collect();
    let mut best: Option<((usize, usize), f64)> = None;
    for (y, line) in cells.iter().enumerate() {
        for (x, cell) in line.iter().enumerate() {
            if let Cell::Value(value) = cell
                && best.is_none_or(|(_, b)| *value > b)
            {
                best = Some(((x, y), *value));
            }
        }
    }
    let baseline = xs
        .iter()
        .position(|mns| *mns == DEFAULT_MAX_NUM_SEQS)
        .zip(
            ys.iter()
                .position(|mnbt| *mnbt == DEFAULT_MAX_NUM_BATCHED_TOKENS),
        )
        .filter(|(x, y)| cells[*y][*x] != Cell::Blank);
    Heatmap {
        model: model.to_owned(),
        tp,
        max_num_seqs: xs,
        max_num_batched_tokens: ys,
        cells,
        best: best.map(|(at, _)| at),
        baseline,
    }
}

fn spec_charts(rows: &[Row]) -> Vec<SpecChart> {
    let none = SpeculativeDecoding::None.segment();
    // model -> (spec, gmu) -> best (tps, acceptance); model -> best without spec.
    let mut bars: BTreeMap<&str, BTreeMap<(String, u64), SpecBar>> = BTreeMap::new();
    let mut without: BTreeMap<&str, f64> = BTreeMap::new();
    for (row, tps) in completed_tps(rows) {
        let model = row.fields.model.as_str();
        if row.fields.speculative == none {
            let best = without.entry(model).or_insert(tps);
            *best = best.max(tps);
            continue;
        }
        let Some(gmu) = row.fields.gpu_memory_percent else {
            continue;
        };
        let spec = row.fields.segment_value(Segment::Speculative);
        let bar = SpecBar {
            output_tps_per_gpu: tps,
            acceptance_rate: row.spec().and_then(SpecDecoding::acceptance_rate),
        };
        let slot = bars.entry(model).or_default().entry((spec, gmu));
        slot.and_modify(|kept| {
            if tps > kept.output_tps_per_gpu {
                *kept = bar.clone();
            }
        })
        .or_insert(bar);
    }
    bars.into_iter()
        .map(|(model, bars)| {
            let gmus: Vec<u64> = bars
                .keys()
                .map(|(_, gmu)| *gmu)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let specs: BTreeSet<&String> = bars.keys().map(|(spec, _)| spec).collect();
            let groups = specs
                .into_iter()
                .map(|spec| SpecGroup {
                    spec: spec.clone(),
                    bars: gmus
                        .iter()
                        .map(|gmu| bars.get(&(spec.clone(), *gmu)).cloned())
                        .collect(),
                })
                .collect();
            SpecChart {
                model: model.to_owned(),
                without_spec: without.get(model).copied(),
                gpu_memory_percents: gmus,
                groups,
            }
        })
        .collect()
}

/// The keys "Sweep further" looks at.
pub const SWEEP_FURTHER_KEYS: [Segment; 2] = [Segment::MaxNumSeqs, Segment::MaxNumBatchedTokens];

fn sweep_further(rows: &[Row], winners: &[BestRun]) -> Vec<SweepFurther> {
    let value = |fields: &RunFields, key: Segment| match key {
        Segment::MaxNumSeqs => fields.max_num_seqs,
        _ => fields.max_num_batched_tokens,
    };
    let mut largest: BTreeMap<(&str, usize), u64> = BTreeMap::new();
    for row in rows {
        for (index, key) in SWEEP_FURTHER_KEYS.into_iter().enumerate() {
            if let Some(v) = value(&row.fields, key) {
                let entry = largest
                    .entry((row.fields.model.as_str(), index))
                    .or_insert(v);
                *entry = (*entry).max(v);
            }
        }
    }
    winners
        .iter()
        .flat_map(|best| {
            SWEEP_FURTHER_KEYS
                .into_iter()
                .enumerate()
                .filter_map(|(index, key)| {
                    let largest = *largest.get(&(best.model.as_str(), index))?;
                    (value(&best.fields, key) == Some(largest)).then(|| SweepFurther {
                        model: best.model.clone(),
                        key,
                        value: largest,
                    })
                })
        })
        .collect()
}

fn failures(rows: &[Row]) -> Failures {
    let mut by_experiment: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().filter(|row| !row.comment.is_completed()) {
        by_experiment
            .entry(row.fields.experiment.as_str())
            .or_default()
            .push(row);
    }
    let counts = by_experiment
        .into_iter()
        .flat_map(|(experiment, rows)| {
            count_comments(rows.into_iter())
                .into_iter()
                .map(move |(comment, count)| (experiment.to_owned(), comment, count))
        })
        .collect();
    let runs = rows
        .iter()
        .filter(|row| !row.comment.is_completed())
        .map(|row| FailedRun {
            experiment: row.fields.experiment.clone(),
            model: row.fields.model.clone(),
            comment: row.comment.to_string(),
            path: row.path.clone(),
        })
        .collect();
    Failures { counts, runs }
}

/// What a winner's `args:` block says in place of the model's name when the run has no
/// `kwargs.json`: the run directory only holds the name made safe for a path.
pub const MODEL_TO_FILL_IN: &str = "TO FILL IN";

/// The shortest gpu-memory-utilization fraction whose run directory is `gmu_{percent}`: the
/// directory truncates the fraction x 100, so `0.57` (56.99...) would give `gmu_56`; then
/// `0.571` or `0.575` is given instead.
fn gmu_fraction(percent: u64) -> f64 {
    let percent_f = percent as f64;
    [
        percent_f / 100.0,
        (percent_f * 10.0 + 1.0) / 1000.0,
        (percent_f * 10.0 + 5.0) / 1000.0,
    ]
    .into_iter()
    .find(|fraction| u64::try_from(gmu_percent(*fraction)).ok() == Some(percent))
    .unwrap_or(percent_f / 100.0)
}

/// A value the run directory does not spell as the config does, to be filled in.
fn to_fill_in(segment: Segment, value: &str) -> Value {
    Value::String(format!("{MODEL_TO_FILL_IN} ({})", segment.with(value)))
}

/// A winner as a ready-to-paste YAML `args:` block: the args the inference script got,
/// from the run's `kwargs.json` (`kwargs`; keys in the config's `kebab-case`, without
/// what `launch` adds), or else from its run directory with `model-name-or-path` marked
/// as to be filled in.
pub fn winner_args_yaml(kwargs: Option<&Map<String, Value>>, fields: &RunFields) -> String {
    let mut args = Map::new();
    let from_kwargs = kwargs.is_some();
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs {
            if !KWARGS_ADDED.contains(&key.as_str()) {
                args.insert(key.replace('_', "-"), value.clone());
            }
        }
    } else {
        args.insert(
            "model-name-or-path".into(),
            Value::String(format!("{MODEL_TO_FILL_IN} ({})", fields.model)),
        );
        for (name, value) in [("tp", fields.tp), ("pp", fields.pp), ("dp", fields.dp)] {
            if let Some(value) = value {
                args.insert(name.into(), value.into());
            }
        }
        for segment in Segment::ALL {
            let value = fields.segment_value(segment);
            if value.is_empty() {
                continue;
            }
            let value = match segment {
                Segment::GpuMemoryUtilization => fields
                    .gpu_memory_percent
                    .map_or(Value::Null, |percent| gmu_fraction(percent).into()),
                _ if segment.is_integer() => value
                    .parse::<u64>()
                    .map_or(Value::String(value), Value::from),
                Segment::KvCacheDtype => KvCacheDtype::from_segment(&fields.kv_cache_dtype)
                    .map_or_else(|| to_fill_in(segment, &value), |d| d.config_value().into()),
                Segment::Quantization => Quantization::from_segment(&fields.quantization)
                    .map_or_else(|| to_fill_in(segment, &value), |q| q.config_value().into()),
                Segment::Speculative => {
                    if fields.speculative == SpeculativeDecoding::None.segment() {
                        UNSET.into()
                    } else {
                        to_fill_in(segment, &value)
                    }
                }
                _ => Value::String(value),
            };
            args.insert(segment.arg().into(), value);
        }
    }
    let mut block = Map::new();
    block.insert("args".into(), Value::Object(args));
    let yaml = serde_yaml::to_string(&Value::Object(block)).unwrap_or_default();
    if from_kwargs {
        yaml
    } else {
        format!(
            "# from the run directory (no kwargs.json): fill in what is marked {MODEL_TO_FILL_IN}\n{yaml}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Comment, RowMetrics};
    use crate::rows::dedup_and_sort;
    use crate::server_log::LogMetrics;
    use crate::summary::summarize;
    use crate::test_support::baseline_fields;

    /// A row of `model` at tp 1 with vLLM's defaults but `mns` and `mnbt`; completed with
    /// `tps` output tokens/s per GPU and 100 s of e2e time, or failed with `class`.
    fn row(
        experiment: &str,
        model: &str,
        mns: u64,
        mnbt: u64,
        outcome: Result<f64, FailureClass>,
    ) -> Row {
        let (metrics, comment) = match outcome {
            Ok(tps) => (
                RowMetrics {
                    output_tps_per_gpu: Some(tps),
                    e2e_time: Some(100.0),
                    ..RowMetrics::default()
                },
                Comment::Empty,
            ),
            Err(class) => (RowMetrics::default(), Comment::Failure(class)),
        };
        Row {
            fields: RunFields {
                max_num_seqs: Some(mns),
                max_num_batched_tokens: Some(mnbt),
                ..baseline_fields(experiment, model)
            },
            metrics,
            path: format!(
                "data/{experiment}/{model}/{mns}-{mnbt}/inference_logs/slurm_logs/1_0.out"
            ),
            comment,
            job_id: 1,
            task_index: 0,
            log: None,
        }
    }

    fn sample() -> Vec<Row> {
        use FailureClass::{Oom, Timeout};
        let mut rows = vec![
            row("tier0", "M", 256, 8192, Ok(1000.0)),
            row("tier0", "M", 512, 8192, Ok(1500.0)),
            row("tier0", "M", 512, 16384, Err(Timeout)),
            row("tier1", "M", 512, 16384, Err(Oom)),
            row("tier0", "M", 1024, 16384, Ok(2000.0)),
            row("tier0", "M", 256, 16384, Err(Timeout)),
            // Interior best: mns 512 of 256..1024, mnbt 8192 of 4096..16384.
            row("tier0", "N", 256, 8192, Ok(700.0)),
            row("tier0", "N", 512, 8192, Ok(900.0)),
            row("tier0", "N", 1024, 16384, Ok(800.0)),
            row("tier0", "N", 256, 4096, Err(Oom)),
            // No baseline; only run: at the largest of both keys.
            row("tier0", "X", 128, 2048, Ok(50.0)),
        ];
        // M's overall best, outside the heatmap (gmu 95, speculative decoding), at the
        // largest mnbt M tried (32768) but not the largest mns (1024).
        let mut spec = row("tier1", "M", 256, 32768, Ok(2500.0));
        spec.fields.gpu_memory_percent = Some(95);
        spec.fields.speculative = "spec_ngram_6".into();
        spec.log = Some(LogMetrics {
            spec: Some(SpecDecoding {
                accepted: 150,
                drafted: 400,
                mean_acceptance_length: None,
            }),
            ..LogMetrics::default()
        });
        rows.push(spec);
        dedup_and_sort(rows)
    }

    #[test]
    fn the_heatmap_holds_the_best_value_else_the_first_class_else_blank() {
        let rows = sample();
        let report = build("data", &rows, &summarize(&rows));
        let m = &report.heatmaps[0];
        assert_eq!((m.model.as_str(), m.tp), ("M", 1));
        assert_eq!(m.max_num_seqs, [256, 512, 1024]);
        assert_eq!(m.max_num_batched_tokens, [8192, 16384]);
        assert_eq!(
            m.cells,
            [
                vec![Cell::Value(1000.0), Cell::Value(1500.0), Cell::Blank],
                // (512, 16384) timed out in tier0 and went OOM in tier1: OOM ranks first.
                vec![
                    Cell::Failed("timeout".into()),
                    Cell::Failed("OOM".into()),
                    Cell::Value(2000.0)
                ],
            ]
        );
        assert_eq!(m.best, Some((2, 1)));
        assert_eq!(m.baseline, Some((0, 0)));
        assert_eq!(m.marks(2, 1), ["best"]);
        assert_eq!(m.marks(0, 0), ["baseline"]);
        assert_eq!(m.value_range(), Some((1000.0, 2000.0)));
        // N and X get one each; the gmu-95 run is in none.
        let names: Vec<&str> = report.heatmaps.iter().map(|h| h.model.as_str()).collect();
        assert_eq!(names, ["M", "N", "X"]);
        // X has no baseline cell.
        assert_eq!(report.heatmaps[2].baseline, None);
    }

    #[test]
    fn overview_results_speedups_and_failures() {
        let rows = sample();
        let summary = summarize(&rows);
        let report = build("data", &rows, &summary);
        let o = &report.overview;
        assert_eq!((o.runs, o.completed), (12, 8));
        // Failures: 2 OOM (M tier1, N), 2 timeouts (M tier0), in class order.
        assert_eq!(o.failed, [("OOM".to_owned(), 2), ("timeout".to_owned(), 2)]);
        // 8 completed runs x 1 GPU x 100 s = 800 GPU-s = 0.2222 GPU-h.
        assert!((o.gpu_hours - 800.0 / 3600.0).abs() < 1e-12);
        // M: 2500 / 1000 = 2.5; N: 900 / 700 = 1.2857. X has no baseline.
        assert_eq!(report.results, summary);
        assert_eq!(report.speedups.len(), 2);
        assert_eq!(report.speedups[0], ("M".to_owned(), 2.5));
        assert_eq!(report.speedups[1].0, "N");
        assert!((report.speedups[1].1 - 900.0 / 700.0).abs() < 1e-12);
        assert_eq!(report.without_baseline.len(), 1);
        assert_eq!(report.without_baseline[0].model, "X");
        assert_eq!(
            report.without_baseline[0].params(),
            "tp=1, pp=1, dp=1, mns=128, mnbt=2048, gmu=90, bs=16, kvc=auto, spec=none, quant=none"
        );
        assert_eq!(
            report.failures.counts,
            [
                ("tier0".to_owned(), "OOM".to_owned(), 1),
                ("tier0".to_owned(), "timeout".to_owned(), 2),
                ("tier1".to_owned(), "OOM".to_owned(), 1),
            ]
        );
        assert_eq!(report.failures.runs.len(), 4);
        assert!(
            report
                .failures
                .runs
                .iter()
                .all(|run| run.path.ends_with("1_0.out"))
        );
    }

    #[test]
    fn sweep_further_names_best_runs_at_the_largest_value_tried() {
        let rows = sample();
        let report = build("data", &rows, &summarize(&rows));
        let named: Vec<(&str, &str, u64)> = report
            .sweep_further
            .iter()
            .map(|s| (s.model.as_str(), s.key.arg(), s.value))
            .collect();
        // M's best (mns 256, mnbt 32768): mnbt only. N's best is interior. X tried one
        // value of each: both.
        assert_eq!(
            named,
            [
                ("M", "max-num-batched-tokens", 32768),
                ("X", "max-num-seqs", 128),
                ("X", "max-num-batched-tokens", 2048),
            ]
        );
    }

    #[test]
    fn spec_chart_bars_with_acceptance_against_the_best_without() {
        let rows = sample();
        let report = build("data", &rows, &summarize(&rows));
        assert_eq!(report.spec_charts.len(), 1);
        let chart = &report.spec_charts[0];
        assert_eq!(chart.model, "M");
        assert_eq!(chart.without_spec, Some(2000.0));
        assert_eq!(chart.gpu_memory_percents, [95]);
        assert_eq!(chart.groups.len(), 1);
        assert_eq!(chart.groups[0].spec, "ngram_6");
        // 150 / 400 = 37.5 %.
        assert_eq!(
            chart.groups[0].bars,
            [Some(SpecBar {
                output_tps_per_gpu: 2500.0,
                acceptance_rate: Some(37.5)
            })]
        );
    }

    #[test]
    fn the_gmu_fraction_gives_back_its_directory() {
        // 0.57 x 100 = 56.99999999999999: `gmu_56`; 0.571 gives `gmu_57`.
        assert_eq!(gmu_fraction(57).to_string(), "0.571");
        assert_eq!(gmu_fraction(90).to_string(), "0.9");
        assert_eq!(gmu_fraction(95).to_string(), "0.95");
        for percent in 1..=100 {
            assert_eq!(
                gmu_percent(gmu_fraction(percent)),
                i64::try_from(percent).unwrap()
            );
        }
    }

    #[test]
    fn winner_args_from_kwargs_or_from_the_run_directory() {
        let rows = sample();
        let report = build("data", &rows, &summarize(&rows));
        let n = report.winners.iter().find(|w| w.model == "N").unwrap();
        let kwargs: Map<String, Value> = serde_json::from_str(
            r#"{"model_name_or_path":"org/N-1B","tp":1,"max_num_seqs":512,
                "prompt_template":["qa","Q: [[DOCUMENT]]"],"output_dir":"data/tier0",
                "name":"qa-N-mns_512","local_execution":true}"#,
        )
        .unwrap();
        assert_eq!(
            winner_args_yaml(Some(&kwargs), &n.fields),
            "args:\n  model-name-or-path: org/N-1B\n  tp: 1\n  max-num-seqs: 512\n  \
             prompt-template:\n  - qa\n  - 'Q: [[DOCUMENT]]'\n"
        );
        let m = report.winners.iter().find(|w| w.model == "M").unwrap();
        assert_eq!(
            winner_args_yaml(None, &m.fields),
            "# from the run directory (no kwargs.json): fill in what is marked TO FILL IN\n\
             args:\n  model-name-or-path: TO FILL IN (M)\n  tp: 1\n  pp: 1\n  dp: 1\n  \
             max-num-seqs: 256\n  max-num-batched-tokens: 32768\n  gpu-memory-utilization: 0.95\n  \
             block-size: 16\n  kv-cache-dtype: auto\n  speculative-config: TO FILL IN (spec_ngram_6)\n  \
             quantization: None\n"
        );
    }
}
