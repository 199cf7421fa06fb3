//! datatrove's `stats.json` (shared contract 3 section 4).
//!
//! INTERFACE (owned by issue 3; signatures fixed so other modules can build against them).

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
}

/// Why a stats file could not be read as valid stats.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatsError {
    /// Not JSON (e.g. truncated).
    #[error("not valid JSON: {0}")]
    Json(String),
    /// JSON, but not a list of steps, or no `Model call` step with a `stats` object.
    #[error("{0}")]
    Shape(String),
}

/// Read a merged `stats.json`.
pub fn parse_stats(bytes: &[u8]) -> Result<StatsTotals, StatsError> {
    let _ = bytes;
    unimplemented!("issue 3")
}

/// Merge per-task stats files (`inference_logs/stats/*.json`) as datatrove's `merge_stats`
/// does, and read the result like [`parse_stats`].
pub fn merge_task_stats(files: &[&[u8]]) -> Result<StatsTotals, StatsError> {
    let _ = files;
    unimplemented!("issue 3")
}

/// The number of tasks an `executor.json` names (`"tasks": N`), if any.
pub fn executor_tasks(bytes: &[u8]) -> Option<usize> {
    let _ = bytes;
    unimplemented!("issue 3")
}
