//! datatrove's `stats.json` (`docs/results.md`).
//!
//! The file is a JSON list of pipeline steps `{name, time_stats, stats}`. It is valid when
//! it parses and one step's name contains `Model call` and carries a `stats` object; that
//! step gives the token and request counts, and the sum of every step's time gives the
//! end-to-end time. A stat whose value is malformed (not a non-negative number, nor an object
//! with one as `total`; a count that is not an integer below 2^64) counts as missing and is
//! listed in [`StatsTotals::malformed`] for a warning: it never makes a finished run's file
//! invalid, which would have `launch` submit the run again. When datatrove's separate merge job never ran, the per-task files
//! `inference_logs/stats/*.json` are merged here the way datatrove's `merge_stats` does.

use std::fmt;

use serde_json::{Map, Value};

/// The values a row takes from a valid `stats.json` (the `Model call` step and the sum of
/// the steps' times).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsTotals {
    /// Total prompt (input) tokens.
    pub prompt_tokens_total: u64,
    /// Total completion (output) tokens.
    pub completion_tokens_total: u64,
    /// Requests that succeeded.
    pub successful_requests: u64,
    /// Requests that failed (0 when missing).
    pub failed_requests: u64,
    /// Mean prompt tokens per request; `None` when the stat is a bare number or missing.
    pub mean_input_tokens: Option<f64>,
    /// Mean completion tokens per request; `None` when the stat is a bare number or missing.
    pub mean_output_tokens: Option<f64>,
    /// `inference_time` total, seconds; `None` when missing.
    pub inference_time: Option<f64>,
    /// Sum over steps of `time_stats.global_mean` (else `time_stats.total`), seconds.
    pub e2e_time: Option<f64>,
    /// The `Model call` step's stats whose values were malformed and counted as missing, in
    /// the order read (empty for a well-formed file). Not part of `docs/results.md`'s columns: for a
    /// warning.
    pub malformed: Vec<MalformedStat>,
}

/// A value of the `Model call` step's stats that is not what datatrove writes, counted as
/// missing: a count (`prompt_tokens`, `completion_tokens`, `successful_requests`,
/// `failed_requests`) that is not an integer in 0..2^64, or an `inference_time` or a `mean`
/// that is not a non-negative number (`-3`, `"12"`, `1e30` or `1.5` as a count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedStat {
    /// The stat's key, with `.total`, `.mean` or `.n` for a field of datatrove's object form
    /// (`successful_requests.total`).
    pub stat: String,
    /// The value as JSON, shortened to 40 characters.
    pub value: String,
    /// For per-task files being merged: the file's position among them (from 1).
    pub task_file: Option<usize>,
}

impl fmt::Display for MalformedStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` = `{}`", self.stat, self.value)?;
        if let Some(task) = self.task_file {
            write!(f, " (task file {task})")?;
        }
        Ok(())
    }
}

/// Why a stats file could not be read as valid stats.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StatsError {
    /// Not JSON (e.g. truncated).
    #[error("not valid JSON: {0}")]
    Json(String),
    /// JSON, but not a list of steps, or no `Model call` step with a `stats` object.
    /// (A malformed value inside that object is not an error: see [`parse_stats`].)
    #[error("{0}")]
    Shape(String),
}

/// The text a step's name contains when it is the inference step.
const MODEL_CALL: &str = "Model call";

/// Read a merged `stats.json` (valid as `docs/results.md` says: it parses and a step
/// named `Model call` has a `stats` object).
///
/// A stat there whose value is malformed ([`MalformedStat`]: `"prompt_tokens": "10"`, `-3`,
/// `{"total": null}`, a count of `1.5` or `1e30`) is treated as missing: a count of 0, an
/// empty mean or time; it is listed in [`StatsTotals::malformed`]. The run still completed.
///
/// Errors: [`StatsError::Json`] when the bytes are not JSON (a truncated file);
/// [`StatsError::Shape`] when they are not a list of steps or no step named `Model call`
/// has a `stats` object.
pub fn parse_stats(bytes: &[u8]) -> Result<StatsTotals, StatsError> {
    let steps = parse_steps(bytes)?;
    let model = steps
        .iter()
        .find_map(|step| step.model_call_stats())
        .ok_or_else(no_model_call)?;
    let mut malformed = Vec::new();
    let mut metric = |key| Metric::read(model, key, None, &mut malformed);
    let prompt = metric("prompt_tokens");
    let completion = metric("completion_tokens");
    let successful = metric("successful_requests");
    let failed = metric("failed_requests");
    let inference_time = metric("inference_time");
    Ok(StatsTotals {
        prompt_tokens_total: count_of(prompt),
        completion_tokens_total: count_of(completion),
        successful_requests: count_of(successful),
        failed_requests: count_of(failed),
        mean_input_tokens: prompt.and_then(Metric::mean),
        mean_output_tokens: completion.and_then(Metric::mean),
        inference_time: inference_time.map(Metric::total),
        e2e_time: sum_present(steps.iter().filter_map(|step| step.time)),
        malformed,
    })
}

/// Merge per-task stats files (`inference_logs/stats/*.json`) as datatrove's `merge_stats`
/// does, and read the result like [`parse_stats`].
///
/// Steps are matched by position and must carry the same names in every file. Counts and
/// `inference_time` are summed over tasks; means are weighted by each task's `n` (a task
/// whose stat has no mean makes the merged mean unknown, as a bare number does in a single
/// file); a step's time is the mean over tasks of each task's `time_stats.global_mean`,
/// else `time_stats.total`. A malformed stat counts as missing in its file, as in
/// [`parse_stats`] (listed with the file's position). Errors name the file by its position
/// in `files` (from 1).
pub fn merge_task_stats(files: &[&[u8]]) -> Result<StatsTotals, StatsError> {
    let tasks = files
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            parse_steps(bytes).map_err(|err| match err {
                StatsError::Json(msg) => StatsError::Json(format!("task file {}: {msg}", i + 1)),
                StatsError::Shape(msg) => StatsError::Shape(format!("task file {}: {msg}", i + 1)),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some((first, others)) = tasks.split_first() else {
        return Err(StatsError::Shape("no per-task stats files to merge".into()));
    };
    for (i, other) in others.iter().enumerate() {
        let same =
            other.len() == first.len() && other.iter().zip(first).all(|(a, b)| a.name == b.name);
        if !same {
            return Err(StatsError::Shape(format!(
                "task file {} does not have the pipeline steps of task file 1 ({})",
                i + 2,
                step_names(first)
            )));
        }
    }
    let model_index = (0..first.len())
        .find(|&i| {
            tasks
                .iter()
                .any(|steps| steps[i].model_call_stats().is_some())
        })
        .ok_or_else(no_model_call)?;
    let mut merged = MergedStats::default();
    for (i, steps) in tasks.iter().enumerate() {
        if let Some(stats) = steps[model_index].model_call_stats() {
            merged.add(stats, i + 1);
        }
    }
    let step_time = |i: usize| {
        let times: Vec<f64> = tasks.iter().filter_map(|steps| steps[i].time).collect();
        (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64)
    };
    Ok(StatsTotals {
        e2e_time: sum_present((0..first.len()).filter_map(step_time)),
        ..merged.totals()
    })
}

/// The number of tasks an `executor.json` names (`"tasks": N`, N > 0), if any.
pub fn executor_tasks(bytes: &[u8]) -> Option<usize> {
    let executor: Value = serde_json::from_slice(bytes).ok()?;
    let tasks = usize::try_from(executor.get("tasks")?.as_u64()?).ok()?;
    (tasks > 0).then_some(tasks)
}

/// One pipeline step, as far as the totals need it.
struct Step {
    name: String,
    /// The step's time: `time_stats.global_mean`, else `time_stats.total`, seconds.
    time: Option<f64>,
    stats: Option<Map<String, Value>>,
}

impl Step {
    /// The step's `stats` object when it is the `Model call` step.
    fn model_call_stats(&self) -> Option<&Map<String, Value>> {
        self.stats
            .as_ref()
            .filter(|_| self.name.contains(MODEL_CALL))
    }
}

fn no_model_call() -> StatsError {
    StatsError::Shape(format!(
        "no `{MODEL_CALL}` step with a `stats` object (the inference step never ran)"
    ))
}

fn step_names(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|step| format!("`{}`", step.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_steps(bytes: &[u8]) -> Result<Vec<Step>, StatsError> {
    let value: Value = serde_json::from_slice(&non_finite_as_null(bytes))
        .map_err(|err| StatsError::Json(err.to_string()))?;
    let Value::Array(items) = value else {
        return Err(StatsError::Shape(format!(
            "not a list of pipeline steps (found {})",
            json_kind(&value)
        )));
    };
    Ok(items
        .into_iter()
        .map(|item| {
            let Value::Object(mut step) = item else {
                return Step {
                    name: String::new(),
                    time: None,
                    stats: None,
                };
            };
            let name = match step.remove("name") {
                Some(Value::String(name)) => name,
                _ => String::new(),
            };
            let time = match step.get("time_stats") {
                Some(Value::Object(time)) => time
                    .get("global_mean")
                    .and_then(Value::as_f64)
                    .or_else(|| time.get("total").and_then(Value::as_f64)),
                Some(bare) => bare.as_f64(),
                None => None,
            };
            let stats = match step.remove("stats") {
                Some(Value::Object(stats)) => Some(stats),
                _ => None,
            };
            Step { name, time, stats }
        })
        .collect())
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The JSON text with Python's non-finite floats, which `json.dump` writes as the bare
/// tokens `NaN`, `Infinity` and `-Infinity` (not JSON), read as `null`: a stat holding one is
/// then malformed like any other missing value, and the rest of the file stays valid.
/// Tokens inside strings are left alone; without such a token the bytes are not copied.
fn non_finite_as_null(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if let Some(token) = TOKENS.iter().find(|token| bytes[i..].starts_with(token)) {
            let out = out.get_or_insert_with(|| bytes[..i].to_vec());
            out.extend_from_slice(b"null");
            i += token.len();
            continue;
        }
        if let Some(out) = &mut out {
            out.push(byte);
        }
        i += 1;
    }
    out.map_or(std::borrow::Cow::Borrowed(bytes), std::borrow::Cow::Owned)
}

/// `None` when the iterator is empty, else the sum.
fn sum_present(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |sum, x| Some(sum.unwrap_or(0.0) + x))
}

/// One stat of a step's `stats`: a bare number, or datatrove's object form.
#[derive(Debug, Clone, Copy)]
enum Metric {
    Bare(f64, Exact),
    Object {
        total: f64,
        exact: Exact,
        n: Option<f64>,
        mean: Option<f64>,
    },
}

/// The total as an exact integer when JSON wrote one (counts up to 2^64-1 do not fit an
/// `f64` exactly).
type Exact = Option<u64>;

/// The stats that count things (tokens, requests): their totals must be integers.
const COUNT_STATS: &[&str] = &[
    "prompt_tokens",
    "completion_tokens",
    "successful_requests",
    "failed_requests",
];

impl Metric {
    /// The stat `key` of a `stats` object; `None` when missing or malformed (neither a
    /// non-negative number nor an object with one as `total`; for a count, not an integer
    /// below 2^64). A malformed total, `mean` or `n` is pushed to `malformed` (the latter two
    /// are then unknown).
    fn read(
        stats: &Map<String, Value>,
        key: &str,
        task_file: Option<usize>,
        malformed: &mut Vec<MalformedStat>,
    ) -> Option<Metric> {
        let is_count = COUNT_STATS.contains(&key);
        let mut checked = |value: &Value, stat: String, count: bool| {
            let amount = value.as_f64().filter(|x| {
                *x >= 0.0 && (!count || value.as_u64().is_some() || to_count(*x).is_some())
            });
            if amount.is_none() {
                malformed.push(MalformedStat {
                    stat,
                    value: short_json(value),
                    task_file,
                });
            }
            amount
        };
        match stats.get(key)? {
            Value::Object(object) => {
                // A missing `total` is malformed too (shown as `null`).
                let total = checked(
                    object.get("total").unwrap_or(&Value::Null),
                    format!("{key}.total"),
                    is_count,
                );
                let mut field = |name: &str| {
                    object
                        .get(name)
                        .and_then(|value| checked(value, format!("{key}.{name}"), false))
                };
                let (n, mean) = (field("n"), field("mean"));
                Some(Metric::Object {
                    total: total?,
                    exact: object.get("total").and_then(Value::as_u64),
                    n,
                    mean,
                })
            }
            bare => checked(bare, key.to_owned(), is_count).map(|x| Metric::Bare(x, bare.as_u64())),
        }
    }

    fn total(self) -> f64 {
        match self {
            Metric::Bare(total, _) | Metric::Object { total, .. } => total,
        }
    }

    /// The total as a count: exact when JSON wrote an integer.
    fn count(self) -> Option<u64> {
        match self {
            Metric::Bare(_, exact) | Metric::Object { exact, .. } => exact,
        }
        .or_else(|| to_count(self.total()))
    }

    fn mean(self) -> Option<f64> {
        match self {
            Metric::Bare(..) => None,
            Metric::Object { mean, .. } => mean,
        }
    }

    /// How many values the stat holds and their mean, for weighting: `(0, _)` when the
    /// total is 0 (datatrove writes an empty stat as a bare 0), `None` when unknown.
    /// datatrove leaves `n` out when it is 1 or equals the total, so `n` = total / mean.
    fn weighted_mean(self) -> Option<(f64, f64)> {
        match self {
            _ if self.total() == 0.0 => Some((0.0, 0.0)),
            Metric::Bare(..) => None,
            Metric::Object { total, n, mean, .. } => {
                let mean = mean?;
                let n = n.or_else(|| (mean != 0.0).then(|| total / mean))?;
                Some((n, mean))
            }
        }
    }
}

/// A count (tokens or requests) from an optional stat: a missing one (or a sum too large for
/// a count) counts 0.
fn count_of(metric: Option<Metric>) -> u64 {
    metric.and_then(Metric::count).unwrap_or(0)
}

/// `x` as a count: an integer in 0..2^64 (`1.5` and `1e30` are not counts).
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the value is checked to be an integer in 0..2^64 first"
)]
fn to_count(x: f64) -> Option<u64> {
    ((0.0..18_446_744_073_709_551_616.0).contains(&x) && x.fract() == 0.0).then_some(x as u64)
}

/// A JSON value as text for a message, shortened to 40 characters.
fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let short: String = text.chars().take(37).collect();
        format!("{short}...")
    } else {
        text
    }
}

/// Per-task `Model call` stats summed as datatrove's `MetricStats.__add__` does.
#[derive(Default)]
struct MergedStats {
    prompt: MergedMetric,
    completion: MergedMetric,
    successful: MergedMetric,
    failed: MergedMetric,
    inference_time: MergedMetric,
    malformed: Vec<MalformedStat>,
}

#[derive(Default)]
struct MergedMetric {
    /// Whether any task carried the stat.
    present: bool,
    total: f64,
    /// The exact sum of the counts; `None` once a task's count is unknown or the sum
    /// overflows.
    count: Option<u64>,
    /// Sum of `n` and of `mean * n`; `None` once a task's mean is unknown.
    weights: Option<(f64, f64)>,
    /// Whether a task's mean was unknown (so the merged mean is too).
    mean_unknown: bool,
}

impl MergedMetric {
    fn add(&mut self, metric: Option<Metric>) {
        let Some(metric) = metric else { return };
        let before = if self.present { self.count } else { Some(0) };
        self.count = before
            .zip(metric.count())
            .and_then(|(a, b)| a.checked_add(b));
        self.present = true;
        self.total += metric.total();
        match metric.weighted_mean() {
            Some((n, mean)) => {
                let (sum_n, sum) = self.weights.unwrap_or_default();
                self.weights = Some((sum_n + n, sum + mean * n));
            }
            None => self.mean_unknown = true,
        }
    }

    fn mean(&self) -> Option<f64> {
        let (n, sum) = self.weights.filter(|_| !self.mean_unknown)?;
        (n > 0.0).then(|| sum / n)
    }

    fn count(&self) -> u64 {
        if self.present {
            self.count.unwrap_or(0)
        } else {
            0
        }
    }
}

impl MergedStats {
    /// Adds the stats of task file `task_file` (from 1).
    fn add(&mut self, stats: &Map<String, Value>, task_file: usize) {
        let malformed = &mut self.malformed;
        let mut read = |key| Metric::read(stats, key, Some(task_file), malformed);
        self.prompt.add(read("prompt_tokens"));
        self.completion.add(read("completion_tokens"));
        self.successful.add(read("successful_requests"));
        self.failed.add(read("failed_requests"));
        self.inference_time.add(read("inference_time"));
    }

    fn totals(self) -> StatsTotals {
        StatsTotals {
            prompt_tokens_total: self.prompt.count(),
            completion_tokens_total: self.completion.count(),
            successful_requests: self.successful.count(),
            failed_requests: self.failed.count(),
            mean_input_tokens: self.prompt.mean(),
            mean_output_tokens: self.completion.mean(),
            inference_time: self
                .inference_time
                .present
                .then_some(self.inference_time.total),
            e2e_time: None,
            malformed: self.malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_non_finite_tokens_read_as_null_outside_strings() {
        let text = br#"[NaN, -Infinity, Infinity, "NaN \" Infinity", {"a": NaN}]"#;
        assert_eq!(
            String::from_utf8(non_finite_as_null(text).into_owned()).unwrap(),
            r#"[null, null, null, "NaN \" Infinity", {"a": null}]"#
        );
        // Nothing to replace: the bytes are not copied.
        assert!(matches!(
            non_finite_as_null(b"[1, 2]"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    fn fixture(name: &str) -> Vec<u8> {
        crate::test_support::fixture(&format!("stats/{name}"))
    }

    /// The README's columns (`e2e_time` to `failed_requests`), six decimals as in the CSV.
    fn readme_row(t: &StatsTotals) -> [String; 8] {
        let six = |x: Option<f64>| x.map(|x| format!("{x:.6}")).unwrap_or_default();
        [
            six(t.e2e_time),
            six(t.inference_time),
            t.prompt_tokens_total.to_string(),
            t.completion_tokens_total.to_string(),
            six(t.mean_input_tokens),
            six(t.mean_output_tokens),
            t.successful_requests.to_string(),
            t.failed_requests.to_string(),
        ]
    }

    #[test]
    fn fixture_one_task_dummy_server() {
        let totals = parse_stats(&fixture("one-task-dummy-server.json")).unwrap();
        assert_eq!(
            readme_row(&totals),
            [
                "0.190319",
                "0.187466",
                "308",
                "600",
                "51.333333",
                "100.000000",
                "6",
                "0"
            ]
        );
    }

    #[test]
    fn fixture_two_tasks_merged() {
        let totals = parse_stats(&fixture("two-tasks-merged.json")).unwrap();
        assert_eq!(
            readme_row(&totals),
            [
                "559.535424",
                "909.949542",
                "9823980",
                "5567916",
                "982.398000",
                "556.791600",
                "10000",
                "0"
            ]
        );
    }

    #[test]
    fn every_stats_fixture_has_a_test() {
        crate::test_support::assert_every_fixture_tested(
            "stats",
            &["one-task-dummy-server.json", "two-tasks-merged.json"],
        );
    }

    #[test]
    fn truncated_file_is_not_json() {
        let whole = fixture("one-task-dummy-server.json");
        let err = parse_stats(&whole[..whole.len() / 2]).unwrap_err();
        assert!(matches!(err, StatsError::Json(_)), "{err:?}");
        assert!(matches!(parse_stats(b""), Err(StatsError::Json(_))));
    }

    #[test]
    fn not_a_list_is_a_shape_error() {
        let err = parse_stats(br#"{"name": "Model call", "stats": {}}"#).unwrap_err();
        assert_eq!(
            err,
            StatsError::Shape("not a list of pipeline steps (found an object)".into())
        );
    }

    #[test]
    fn without_a_model_call_step_is_a_shape_error() {
        let json =
            br#"[{"name": "READER", "time_stats": {"total": 1.0}, "stats": {"documents": 6}},
                        {"name": "Model call: Inference", "time_stats": {"total": 1.0}}]"#;
        let err = parse_stats(json).unwrap_err();
        assert!(
            matches!(&err, StatsError::Shape(msg) if msg.contains("`Model call`")),
            "{err:?}"
        );
        assert!(matches!(parse_stats(b"[]"), Err(StatsError::Shape(_))));
    }

    #[test]
    fn bare_number_stats_give_totals_without_means() {
        let json = br#"[{"name": "Model call", "time_stats": 2.5,
            "stats": {"prompt_tokens": 308, "completion_tokens": 600, "successful_requests": 6,
                      "failed_requests": 2, "inference_time": 1.75}}]"#;
        assert_eq!(
            parse_stats(json).unwrap(),
            StatsTotals {
                prompt_tokens_total: 308,
                completion_tokens_total: 600,
                successful_requests: 6,
                failed_requests: 2,
                mean_input_tokens: None,
                mean_output_tokens: None,
                inference_time: Some(1.75),
                e2e_time: Some(2.5),
                malformed: Vec::new(),
            }
        );
    }

    #[test]
    fn missing_counts_are_zero_and_missing_times_empty() {
        let json = br#"[{"name": "Model call", "stats": {"prompt_tokens": {"total": 10, "n": 2, "mean": 5.0}}}]"#;
        assert_eq!(
            parse_stats(json).unwrap(),
            StatsTotals {
                prompt_tokens_total: 10,
                mean_input_tokens: Some(5.0),
                ..StatsTotals::default()
            }
        );
    }

    #[test]
    fn without_failed_requests_counts_zero() {
        let json = br#"[{"name": "Model call: Inference", "time_stats": {"total": 4.0},
            "stats": {"prompt_tokens": {"total": 40, "n": 4, "mean": 10.0},
                      "completion_tokens": {"total": 80, "n": 4, "mean": 20.0},
                      "successful_requests": {"total": 4, "unit": "request"},
                      "inference_time": {"total": 3.5, "unit": "seconds"}}}]"#;
        let totals = parse_stats(json).unwrap();
        assert_eq!(totals.failed_requests, 0);
        assert_eq!(totals.successful_requests, 4);
        assert_eq!(totals.inference_time, Some(3.5));
    }

    #[test]
    fn emoji_step_names() {
        // Raw UTF-8 emoji, and the JSON escapes Python writes for them.
        let json = "[{\"name\": \"📖 - READER: 🐿 Jsonl\", \"time_stats\": {\"total\": 0.5}},\
            {\"name\": \"🔍 Model call: Inference 🔍\", \"time_stats\": {\"total\": 1.5},\
             \"stats\": {\"prompt_tokens\": {\"total\": 7, \"mean\": 7.0}}},\
            {\"name\": \"\\ud83d\\udcbd - WRITER: \\ud83d\\udc3f Jsonl\", \"time_stats\": {\"total\": 0.25}}]";
        let totals = parse_stats(json.as_bytes()).unwrap();
        assert_eq!(totals.prompt_tokens_total, 7);
        assert_eq!(totals.mean_input_tokens, Some(7.0));
        assert_eq!(totals.e2e_time, Some(2.25));
    }

    #[test]
    fn global_mean_wins_over_total() {
        let json = br#"[{"name": "Model call", "time_stats": {"total": 10.0, "global_mean": 5.0}, "stats": {}},
                        {"name": "writer", "time_stats": {"total": 3.0}}]"#;
        assert_eq!(parse_stats(json).unwrap().e2e_time, Some(8.0));
    }

    fn malformed(stat: &str, value: &str, task_file: Option<usize>) -> MalformedStat {
        MalformedStat {
            stat: stat.into(),
            value: value.into(),
            task_file,
        }
    }

    #[test]
    fn a_malformed_stat_is_missing_and_the_file_stays_valid() {
        // `docs/results.md`: valid = parses and a `Model call` step has a `stats` object.
        // A string, a negative number, an object without a numeric `total`, a count beyond
        // 2^64: that stat alone is missing (count 0, empty mean and time), and listed for a
        // warning; the others count.
        let json = br#"[{"name": "Model call", "time_stats": {"total": 4.0},
            "stats": {"prompt_tokens": "10",
                      "completion_tokens": {"total": -5, "n": 1, "mean": -5.0},
                      "successful_requests": {"total": "3"},
                      "failed_requests": 1e30,
                      "inference_time": -2.0}},
            {"name": "writer", "time_stats": {"total": 1.0},
             "stats": {"documents": "bad"}}]"#;
        assert_eq!(
            parse_stats(json).unwrap(),
            StatsTotals {
                e2e_time: Some(5.0),
                malformed: vec![
                    malformed("prompt_tokens", "\"10\"", None),
                    malformed("completion_tokens.total", "-5", None),
                    malformed("completion_tokens.mean", "-5.0", None),
                    malformed("successful_requests.total", "\"3\"", None),
                    malformed("failed_requests", "1e+30", None),
                    malformed("inference_time", "-2.0", None),
                ],
                ..StatsTotals::default()
            }
        );
        let json = br#"[{"name": "Model call", "stats": {"prompt_tokens": -3,
            "completion_tokens": {"total": 20, "n": 2, "mean": 10.0}, "successful_requests": 2,
            "inference_time": {"total": "4"}}}]"#;
        assert_eq!(
            parse_stats(json).unwrap(),
            StatsTotals {
                completion_tokens_total: 20,
                mean_output_tokens: Some(10.0),
                successful_requests: 2,
                malformed: vec![
                    malformed("prompt_tokens", "-3", None),
                    malformed("inference_time.total", "\"4\"", None),
                ],
                ..StatsTotals::default()
            }
        );
        // Merging: the malformed stat counts as missing in its task only.
        let bad = br#"[{"name": "Model call", "stats": {"prompt_tokens": "7", "successful_requests": 1}}]"#;
        let good = br#"[{"name": "Model call", "stats": {"prompt_tokens": {"total": 30, "n": 3, "mean": 10.0}, "successful_requests": 3}}]"#;
        let merged = merge_task_stats(&[good, bad]).unwrap();
        assert_eq!(merged.prompt_tokens_total, 30);
        assert_eq!(merged.mean_input_tokens, Some(10.0));
        assert_eq!(merged.successful_requests, 4);
        assert_eq!(
            merged.malformed,
            [malformed("prompt_tokens", "\"7\"", Some(2))]
        );
        assert_eq!(
            merged.malformed[0].to_string(),
            "`prompt_tokens` = `\"7\"` (task file 2)"
        );
    }

    #[test]
    fn a_fractional_count_is_malformed_not_rounded() {
        // 1.5 successful requests used to show as `2`; a whole number written as a float
        // (datatrove sums counts in Python floats) is a count.
        let json = br#"[{"name": "Model call", "stats": {"successful_requests": 1.5,
            "prompt_tokens": {"total": 2.5, "n": 2, "mean": 1.25},
            "completion_tokens": {"total": 600.0, "n": 6, "mean": 100.0},
            "failed_requests": 2.0, "inference_time": 1.5}}]"#;
        let totals = parse_stats(json).unwrap();
        assert_eq!(totals.successful_requests, 0);
        assert_eq!(totals.prompt_tokens_total, 0);
        assert_eq!(totals.mean_input_tokens, None);
        assert_eq!(totals.completion_tokens_total, 600);
        assert_eq!(totals.failed_requests, 2);
        assert_eq!(totals.inference_time, Some(1.5));
        assert_eq!(
            totals.malformed,
            [
                malformed("prompt_tokens.total", "2.5", None),
                malformed("successful_requests", "1.5", None),
            ]
        );
        assert_eq!(
            totals.malformed[1].to_string(),
            "`successful_requests` = `1.5`"
        );
    }

    /// Two per-task files as datatrove's SLURM mode writes them (no `global_mean`).
    const TASK_A: &[u8] = br#"[
        {"name": "READER", "time_stats": {"total": 1.0, "n": 3, "mean": 0.333}, "stats": {"documents": 3}},
        {"name": "Model call: Inference", "time_stats": {"total": 12.0, "unit": "total"},
         "stats": {"prompt_tokens": {"total": 300, "n": 3, "mean": 100.0},
                   "completion_tokens": {"total": 60, "n": 3, "mean": 20.0},
                   "successful_requests": {"total": 3, "unit": "request"},
                   "failed_requests": 1,
                   "inference_time": {"total": 10.0, "unit": "seconds"}}}]"#;
    const TASK_B: &[u8] = br#"[
        {"name": "READER", "time_stats": {"total": 3.0, "n": 7, "mean": 0.43}, "stats": {"documents": 7}},
        {"name": "Model call: Inference", "time_stats": {"total": 16.0, "unit": "total"},
         "stats": {"prompt_tokens": {"total": 1400, "n": 7, "mean": 200.0},
                   "completion_tokens": {"total": 210, "n": 7, "mean": 30.0},
                   "successful_requests": {"total": 7, "unit": "request"},
                   "inference_time": {"total": 20.0, "unit": "seconds"}}}]"#;

    #[test]
    fn two_tasks_merge_as_datatrove_does() {
        // By hand: counts summed; means weighted by n: (3*100 + 7*200) / 10 = 170 and
        // (3*20 + 7*30) / 10 = 27; inference time summed: 30; each step's time is the mean
        // over tasks of the task totals: (1 + 3) / 2 + (12 + 16) / 2 = 16.
        assert_eq!(
            merge_task_stats(&[TASK_A, TASK_B]).unwrap(),
            StatsTotals {
                prompt_tokens_total: 1700,
                completion_tokens_total: 270,
                successful_requests: 10,
                failed_requests: 1,
                mean_input_tokens: Some(170.0),
                mean_output_tokens: Some(27.0),
                inference_time: Some(30.0),
                e2e_time: Some(16.0),
                malformed: Vec::new(),
            }
        );
    }

    #[test]
    fn merge_infers_a_missing_n_from_the_mean() {
        // datatrove leaves `n` out when it is 1: (1*50 + 3*10) / 4 = 20.
        let one =
            br#"[{"name": "Model call", "stats": {"prompt_tokens": {"total": 50, "mean": 50.0}}}]"#;
        let three = br#"[{"name": "Model call", "stats": {"prompt_tokens": {"total": 30, "n": 3, "mean": 10.0}}}]"#;
        let totals = merge_task_stats(&[one, three]).unwrap();
        assert_eq!(totals.prompt_tokens_total, 80);
        assert_eq!(totals.mean_input_tokens, Some(20.0));
        // A task with no tokens (written as a bare 0) does not weigh; a bare count does
        // not have a mean, so the merged mean is unknown.
        let empty = br#"[{"name": "Model call", "stats": {"prompt_tokens": 0}}]"#;
        assert_eq!(
            merge_task_stats(&[three, empty]).unwrap().mean_input_tokens,
            Some(10.0)
        );
        let bare = br#"[{"name": "Model call", "stats": {"prompt_tokens": 5}}]"#;
        assert_eq!(
            merge_task_stats(&[three, bare]).unwrap().mean_input_tokens,
            None
        );
    }

    #[test]
    fn merge_errors() {
        assert!(matches!(merge_task_stats(&[]), Err(StatsError::Shape(_))));
        let err = merge_task_stats(&[TASK_A, b"[{"]).unwrap_err();
        assert!(
            matches!(&err, StatsError::Json(msg) if msg.starts_with("task file 2:")),
            "{err:?}"
        );
        let other = br#"[{"name": "Model call: Inference", "stats": {}}]"#;
        assert!(matches!(
            merge_task_stats(&[TASK_A, other]),
            Err(StatsError::Shape(_))
        ));
    }

    #[test]
    fn executor_task_counts() {
        assert_eq!(
            executor_tasks(br#"{"pipeline": [], "tasks": 2, "workers": -1}"#),
            Some(2)
        );
        assert_eq!(executor_tasks(br#"{"tasks": 0}"#), None);
        assert_eq!(executor_tasks(br#"{"workers": 1}"#), None);
        assert_eq!(executor_tasks(br#"{"tasks": "2"}"#), None);
        assert_eq!(executor_tasks(b"{\"tasks\": 2"), None);
    }
}
