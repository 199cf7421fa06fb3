//! Per-row metrics and the `comment` column (`docs/results.md`).
//!
//! The inputs are already parsed: a valid `stats.json` ([`StatsTotals`]), the server log's
//! means ([`LogMetrics`]) and the number of GPUs the run held. A run that did not complete
//! has every metric empty ([`RowMetrics::default`]).

use std::fmt;

use crate::failure::FailureClass;
use crate::server_log::LogMetrics;
use crate::stats::StatsTotals;

/// GPUs per node, for `node_days_to_process_1b_tokens`.
pub const GPUS_PER_NODE: f64 = 8.0;

/// Seconds per day.
const SECONDS_PER_DAY: f64 = 86_400.0;

/// Seconds per hour.
const SECONDS_PER_HOUR: f64 = 3_600.0;

/// One billion output tokens, the unit of the `*_1b_tokens` columns.
const ONE_BILLION: f64 = 1e9;

/// The GPUs a run held: tp x pp x dp, an empty value counting as 1 (`docs/results.md`;
/// the original divided by tp x pp only).
pub fn gpu_count(tp: Option<u64>, pp: Option<u64>, dp: Option<u64>) -> u64 {
    [tp, pp, dp]
        .into_iter()
        .map(|size| size.unwrap_or(1))
        .fold(1, u64::saturating_mul)
}

/// Output (completion) tokens/s per GPU of a completed run: completion tokens /
/// `inference_time` / GPUs, the `output_tps_per_gpu` column; `None` without a positive
/// inference time. The one definition of the figure runs are ranked by, in `analyze`'s
/// tables and in a stage's winners (`docs/stages.md`). It may come out infinite (an
/// `inference_time` of 1e-320 s): callers drop what is not finite.
pub fn output_tps_per_gpu(totals: &StatsTotals, gpus: u64) -> Option<f64> {
    let inference_time = totals.inference_time.filter(|&t| t > 0.0)?;
    Some(totals.completion_tokens_total as f64 / inference_time / gpus.max(1) as f64)
}

/// The metric columns of one row; `None` is an empty CSV cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowMetrics {
    /// GPUs needed to generate 1e9 output tokens in an hour: 1e9 / (`output_tps_per_gpu` x 3600).
    pub gpus_for_1b_tokens_per_hour: Option<f64>,
    /// `gpu_days_to_process_1b_tokens` / 8 (8 GPUs per node).
    pub node_days_to_process_1b_tokens: Option<f64>,
    /// GPU-days to generate 1e9 output tokens: 1e9 / `output_tps_per_gpu` / 86400.
    pub gpu_days_to_process_1b_tokens: Option<f64>,
    /// Prompt tokens/s per GPU.
    pub input_tps_per_gpu: Option<f64>,
    /// Output (completion) tokens/s per GPU.
    pub output_tps_per_gpu: Option<f64>,
    /// Prompt tokens/s of the whole run: prompt tokens / `inference_time`.
    pub tokens_input_per_sec: Option<f64>,
    /// Output tokens/s of the whole run: completion tokens / `inference_time`.
    pub tokens_output_per_sec: Option<f64>,
    /// Mean running requests over the server log's metrics records.
    pub avg_running_reqs: Option<f64>,
    /// Mean waiting requests over the server log's metrics records.
    pub avg_waiting_reqs: Option<f64>,
    /// Mean GPU KV cache usage, percent (0-100).
    pub avg_gpu_kvc_usage: Option<f64>,
    /// Mean prefix cache hit rate, percent (0-100).
    pub avg_prefix_cache_hit_rate: Option<f64>,
    /// Total prompt tokens.
    pub prompt_tokens_total: Option<u64>,
    /// Total completion tokens.
    pub completion_tokens_total: Option<u64>,
    /// Mean prompt tokens per request.
    pub mean_input_tokens: Option<f64>,
    /// Mean completion tokens per request.
    pub mean_output_tokens: Option<f64>,
    /// Requests that succeeded.
    pub successful_requests: Option<u64>,
    /// Sum of the pipeline steps' mean times, seconds.
    pub e2e_time: Option<f64>,
    /// Inference time, seconds.
    pub inference_time: Option<f64>,
    /// Seconds of the whole pipeline per 1,000 requests on one GPU.
    pub e2e_per_1k_per_gpu: Option<f64>,
    /// Seconds of inference per 1,000 requests on one GPU.
    pub inference_per_1k_per_gpu: Option<f64>,
}

impl RowMetrics {
    /// The metrics of a completed run from its stats, its server log's means (`None` when the
    /// run has no server log) and the GPUs it held ([`gpu_count`]). A value that comes out
    /// infinite or NaN (an `inference_time` of 1e-320 s, say) is left empty: see
    /// [`RowMetrics::completed_checked`] for which.
    pub fn completed(totals: &StatsTotals, log: Option<&LogMetrics>, gpus: u64) -> Self {
        Self::completed_checked(totals, log, gpus).0
    }

    /// [`RowMetrics::completed`], and the columns left empty because their value came out
    /// infinite or NaN (for a warning).
    pub fn completed_checked(
        totals: &StatsTotals,
        log: Option<&LogMetrics>,
        gpus: u64,
    ) -> (Self, Vec<&'static str>) {
        let mut metrics = Self::computed(totals, log, gpus);
        let non_finite = metrics.drop_non_finite();
        (metrics, non_finite)
    }

    /// Empty every value that is not finite; their column names, in column order.
    fn drop_non_finite(&mut self) -> Vec<&'static str> {
        let mut dropped = Vec::new();
        for (name, value) in [
            (
                "gpus_for_1b_tokens_per_hour",
                &mut self.gpus_for_1b_tokens_per_hour,
            ),
            (
                "node_days_to_process_1b_tokens",
                &mut self.node_days_to_process_1b_tokens,
            ),
            (
                "gpu_days_to_process_1b_tokens",
                &mut self.gpu_days_to_process_1b_tokens,
            ),
            ("input_tps_per_gpu", &mut self.input_tps_per_gpu),
            ("output_tps_per_gpu", &mut self.output_tps_per_gpu),
            ("tokens_input_per_sec", &mut self.tokens_input_per_sec),
            ("tokens_output_per_sec", &mut self.tokens_output_per_sec),
            ("avg_running_reqs", &mut self.avg_running_reqs),
            ("avg_waiting_reqs", &mut self.avg_waiting_reqs),
            ("avg_gpu_kvc_usage", &mut self.avg_gpu_kvc_usage),
            (
                "avg_prefix_cache_hit_rate",
                &mut self.avg_prefix_cache_hit_rate,
            ),
            ("mean_input_tokens", &mut self.mean_input_tokens),
            ("mean_output_tokens", &mut self.mean_output_tokens),
            ("e2e_time", &mut self.e2e_time),
            ("inference_time", &mut self.inference_time),
            ("e2e_per_1k_per_gpu", &mut self.e2e_per_1k_per_gpu),
            (
                "inference_per_1k_per_gpu",
                &mut self.inference_per_1k_per_gpu,
            ),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                *value = None;
                dropped.push(name);
            }
        }
        dropped
    }

    /// The values as computed, finite or not.
    fn computed(totals: &StatsTotals, log: Option<&LogMetrics>, gpu_count: u64) -> Self {
        let gpus = gpu_count.max(1) as f64;
        let successful = totals.successful_requests as f64;
        let inference_time = totals.inference_time.filter(|&t| t > 0.0);
        let per_second = |tokens: u64| inference_time.map(|t| tokens as f64 / t);
        let tokens_input_per_sec = per_second(totals.prompt_tokens_total);
        let tokens_output_per_sec = per_second(totals.completion_tokens_total);
        let output_tps_per_gpu = output_tps_per_gpu(totals, gpu_count);
        let per_1k_per_gpu =
            |time: f64| (successful > 0.0).then(|| time / successful * 1000.0 * gpus);
        // Derived only from a positive, finite throughput (an infinite one is dropped below).
        let usable_tps = output_tps_per_gpu.filter(|&tps| tps > 0.0 && tps.is_finite());
        let gpu_days = usable_tps.map(|tps| ONE_BILLION / tps / SECONDS_PER_DAY);
        RowMetrics {
            gpus_for_1b_tokens_per_hour: usable_tps
                .map(|tps| ONE_BILLION / (tps * SECONDS_PER_HOUR)),
            node_days_to_process_1b_tokens: gpu_days.map(|days| days / GPUS_PER_NODE),
            gpu_days_to_process_1b_tokens: gpu_days,
            input_tps_per_gpu: tokens_input_per_sec.map(|tps| tps / gpus),
            output_tps_per_gpu,
            tokens_input_per_sec,
            tokens_output_per_sec,
            avg_running_reqs: log.and_then(|l| l.avg_running_reqs),
            avg_waiting_reqs: log.and_then(|l| l.avg_waiting_reqs),
            avg_gpu_kvc_usage: log.and_then(|l| l.avg_gpu_kvc_usage),
            avg_prefix_cache_hit_rate: log.and_then(|l| l.avg_prefix_cache_hit_rate),
            prompt_tokens_total: Some(totals.prompt_tokens_total),
            completion_tokens_total: Some(totals.completion_tokens_total),
            mean_input_tokens: totals.mean_input_tokens,
            mean_output_tokens: totals.mean_output_tokens,
            successful_requests: Some(totals.successful_requests),
            e2e_time: totals.e2e_time,
            inference_time: totals.inference_time,
            e2e_per_1k_per_gpu: totals
                .e2e_time
                .filter(|&t| t > 0.0)
                .and_then(per_1k_per_gpu),
            inference_per_1k_per_gpu: inference_time.and_then(per_1k_per_gpu),
        }
    }

    /// The eight values de-duplication counts (`docs/results.md`), in its order.
    pub fn completeness_values(&self) -> [Option<f64>; 8] {
        [
            self.node_days_to_process_1b_tokens,
            self.gpu_days_to_process_1b_tokens,
            self.input_tps_per_gpu,
            self.output_tps_per_gpu,
            self.e2e_time,
            self.inference_time,
            self.e2e_per_1k_per_gpu,
            self.inference_per_1k_per_gpu,
        ]
    }
}

/// The `comment` column (`docs/results.md`), one value per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comment {
    /// Completed from merged per-task stats files: `merged N per-task stats files`.
    Merged {
        /// Number of per-task files merged.
        files: usize,
    },
    /// Completed with failed requests: `failed_requests=N`.
    FailedRequests(u64),
    /// Completed, nothing to say: empty.
    Empty,
    /// Not completed, with the failure class found in the logs (`OOM`, `timeout`, ...).
    Failure(FailureClass),
    /// Not completed, no class, `stats.json` present but not valid: `stats.json unreadable`.
    StatsUnreadable,
    /// Not completed, no class, no `stats.json`: `stats.json not found`.
    StatsNotFound,
}

impl Comment {
    /// The comment of a completed run: merged, else failed requests, else empty.
    pub fn completed(merged_tasks: Option<usize>, failed_requests: u64) -> Self {
        match merged_tasks {
            Some(files) => Comment::Merged { files },
            None if failed_requests > 0 => Comment::FailedRequests(failed_requests),
            None => Comment::Empty,
        }
    }

    /// Whether the row's run completed (its metrics are filled).
    pub fn is_completed(&self) -> bool {
        matches!(
            self,
            Comment::Merged { .. } | Comment::FailedRequests(_) | Comment::Empty
        )
    }

    /// The failure class of a run that did not complete, when the logs named one.
    pub fn failure_class(&self) -> Option<FailureClass> {
        match self {
            Comment::Failure(class) => Some(*class),
            _ => None,
        }
    }

    /// The comment of a run that did not complete: the highest failure class among
    /// `classes` (any order), else whether `stats.json` was present but invalid.
    pub fn not_completed(classes: &[FailureClass], stats_present: bool) -> Self {
        match classes.iter().min() {
            Some(&class) => Comment::Failure(class),
            None if stats_present => Comment::StatsUnreadable,
            None => Comment::StatsNotFound,
        }
    }
}

impl fmt::Display for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comment::Merged { files } => write!(f, "merged {files} per-task stats files"),
            Comment::FailedRequests(n) => write!(f, "failed_requests={n}"),
            Comment::Empty => Ok(()),
            Comment::Failure(class) => f.write_str(class.as_str()),
            Comment::StatsUnreadable => f.write_str("stats.json unreadable"),
            Comment::StatsNotFound => f.write_str("stats.json not found"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals() -> StatsTotals {
        StatsTotals {
            prompt_tokens_total: 2_000_000,
            completion_tokens_total: 1_000_000,
            successful_requests: 10_000,
            failed_requests: 0,
            mean_input_tokens: Some(200.0),
            mean_output_tokens: Some(100.0),
            inference_time: Some(100.0),
            e2e_time: Some(125.0),
            malformed: Vec::new(),
        }
    }

    fn close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("a value");
        assert!(
            (actual - expected).abs() <= expected.abs() * 1e-12,
            "{actual} != {expected}"
        );
    }

    #[test]
    fn gpu_count_multiplies_and_counts_empty_as_one() {
        assert_eq!(gpu_count(Some(2), None, None), 2);
        assert_eq!(gpu_count(Some(2), Some(2), Some(2)), 8);
        assert_eq!(gpu_count(None, None, Some(2)), 2);
        assert_eq!(gpu_count(None, None, None), 1);
    }

    #[test]
    fn throughput_per_gpu_at_tp2() {
        let m = RowMetrics::completed(&totals(), None, 2);
        // 2,000,000 / 100 s = 20,000 tokens/s; 1,000,000 / 100 s = 10,000 tokens/s.
        close(m.tokens_input_per_sec, 20_000.0);
        close(m.tokens_output_per_sec, 10_000.0);
        close(m.input_tps_per_gpu, 10_000.0);
        close(m.output_tps_per_gpu, 5_000.0);
        // 1e9 / 5000 / 86400 = 2.3148148148...
        close(m.gpu_days_to_process_1b_tokens, 1e9 / 5000.0 / 86400.0);
        close(
            m.node_days_to_process_1b_tokens,
            1e9 / 5000.0 / 86400.0 / 8.0,
        );
        // 1e9 / (5000 x 3600) = 55.5555...
        close(m.gpus_for_1b_tokens_per_hour, 1e9 / 18e6);
        // 100 s / 10,000 requests x 1000 x 2 GPUs = 20 s; 125 s likewise = 25 s.
        close(m.inference_per_1k_per_gpu, 20.0);
        close(m.e2e_per_1k_per_gpu, 25.0);
        assert_eq!(m.prompt_tokens_total, Some(2_000_000));
        assert_eq!(m.completion_tokens_total, Some(1_000_000));
        assert_eq!(m.successful_requests, Some(10_000));
        assert_eq!(m.mean_input_tokens, Some(200.0));
        assert_eq!(m.mean_output_tokens, Some(100.0));
        assert_eq!(m.avg_running_reqs, None);
    }

    #[test]
    fn data_parallel_counts_every_gpu() {
        let m = RowMetrics::completed(&totals(), None, gpu_count(Some(1), None, Some(2)));
        close(m.output_tps_per_gpu, 5_000.0);
    }

    #[test]
    fn zero_or_missing_inference_time_leaves_time_metrics_empty() {
        for inference_time in [None, Some(0.0)] {
            let m = RowMetrics::completed(
                &StatsTotals {
                    inference_time,
                    ..totals()
                },
                None,
                1,
            );
            assert_eq!(m.tokens_input_per_sec, None);
            assert_eq!(m.output_tps_per_gpu, None);
            assert_eq!(m.gpu_days_to_process_1b_tokens, None);
            assert_eq!(m.gpus_for_1b_tokens_per_hour, None);
            assert_eq!(m.inference_per_1k_per_gpu, None);
            assert_eq!(m.inference_time, inference_time);
            close(m.e2e_per_1k_per_gpu, 12_500.0 / 1000.0);
        }
    }

    #[test]
    fn no_successful_requests_leaves_per_1k_empty() {
        let m = RowMetrics::completed(
            &StatsTotals {
                successful_requests: 0,
                ..totals()
            },
            None,
            1,
        );
        assert_eq!(m.e2e_per_1k_per_gpu, None);
        assert_eq!(m.inference_per_1k_per_gpu, None);
        close(m.output_tps_per_gpu, 10_000.0);
    }

    #[test]
    fn zero_output_leaves_gpu_days_empty() {
        let m = RowMetrics::completed(
            &StatsTotals {
                completion_tokens_total: 0,
                ..totals()
            },
            None,
            1,
        );
        assert_eq!(m.output_tps_per_gpu, Some(0.0));
        assert_eq!(m.gpu_days_to_process_1b_tokens, None);
        assert_eq!(m.node_days_to_process_1b_tokens, None);
        assert_eq!(m.gpus_for_1b_tokens_per_hour, None);
    }

    #[test]
    fn server_log_means_are_copied() {
        let log = LogMetrics {
            records: 3,
            avg_running_reqs: Some(106.666_666),
            avg_waiting_reqs: Some(63.0),
            avg_gpu_kvc_usage: Some(43.0),
            avg_prefix_cache_hit_rate: None,
            ..LogMetrics::default()
        };
        let m = RowMetrics::completed(&totals(), Some(&log), 1);
        assert_eq!(m.avg_running_reqs, Some(106.666_666));
        assert_eq!(m.avg_waiting_reqs, Some(63.0));
        assert_eq!(m.avg_gpu_kvc_usage, Some(43.0));
        assert_eq!(m.avg_prefix_cache_hit_rate, None);
    }

    #[test]
    fn every_comment_value() {
        let cases = [
            (
                Comment::completed(Some(2), 3),
                "merged 2 per-task stats files",
            ),
            (Comment::completed(None, 3), "failed_requests=3"),
            (Comment::completed(None, 0), ""),
            (
                Comment::not_completed(&[FailureClass::Timeout, FailureClass::Oom], true),
                "OOM",
            ),
            (Comment::not_completed(&[], true), "stats.json unreadable"),
            (Comment::not_completed(&[], false), "stats.json not found"),
        ];
        for (comment, text) in cases {
            assert_eq!(comment.to_string(), text);
        }
        let names = [
            "OOM",
            "host_oom",
            "timeout",
            "node_fail",
            "preempted",
            "server_fail",
            "cancelled",
            "error",
        ];
        for (class, name) in FailureClass::ALL.into_iter().zip(names) {
            assert_eq!(Comment::not_completed(&[class], false).to_string(), name);
        }
    }
}
