//! What `analyze`'s report shows (`docs/report.md`), worked out from the result rows and the
//! optimization summary: the overview, the results table, the speedups, the heatmaps of
//! max-num-seqs x max-num-batched-tokens, speculative decoding x gpu-memory-utilization,
//! the models to sweep further, the failures and each model's winner. Rendering (charts,
//! HTML, Markdown) and reading the winners' `kwargs.json` are `analyze`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::failure::FailureClass;
use crate::layout::{
    DEFAULT_MAX_NUM_BATCHED_TOKENS, DEFAULT_MAX_NUM_SEQS, RunFields, Segment, SpeculativeDecoding,
};
use crate::metrics::gpu_count;
use crate::rows::{Row, int_cell};
use crate::run::KWARGS_ADDED;
use crate::server_log::SpecDecoding;
use crate::summary::{ModelSummary, has_default_memory_and_decoding};

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

impl BestRun {
    /// The run's parameters as `tp=2, pp=1, dp=1, mns=512, ...`.
    pub fn params(&self) -> String {
        all_params(&self.fields)
    }
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
    let with_baseline: BTreeSet<&str> = summary.iter().map(|s| s.model.as_str()).collect();
    let winners = best_runs(rows);
    let mut speedups: Vec<(String, f64)> = summary
        .iter()
        .filter_map(|s| Some((s.model.clone(), s.speedup(&s.overall)?)))
        .collect();
    speedups.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Report {
        overview: overview(root, rows),
        results: summary.to_vec(),
        without_baseline: winners
            .iter()
            .filter(|best| !with_baseline.contains(best.model.as_str()))
            .cloned()
            .collect(),
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
                    .map_or(Value::Null, |percent| (percent as f64 / 100.0).into()),
                _ if segment.is_integer() => value
                    .parse::<u64>()
                    .map_or(Value::String(value), Value::from),
                Segment::Speculative
                    if fields.speculative != SpeculativeDecoding::None.segment() =>
                {
                    Value::String(format!("{MODEL_TO_FILL_IN} (spec_{value})"))
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
