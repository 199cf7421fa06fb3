//! Streaming parser of vLLM server-log metric records (shared contract 3 section 5).
//!
//! INTERFACE (owned by issue 3; signatures fixed so other modules can build against them).

use std::io::Read;

/// Means over a server log's metric records. Each `avg_*` is `None` when no record carries
/// that field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogMetrics {
    /// Number of metric records seen.
    pub records: u64,
    /// Mean of `Running: N reqs`.
    pub avg_running_reqs: Option<f64>,
    /// Mean of `Waiting: N reqs` (or the old engine's `Pending: N reqs`).
    pub avg_waiting_reqs: Option<f64>,
    /// Mean of `GPU KV cache usage: P%`, percent (0-100).
    pub avg_gpu_kvc_usage: Option<f64>,
    /// Mean of `Prefix cache hit rate: P%`, percent (0-100).
    pub avg_prefix_cache_hit_rate: Option<f64>,
}

/// Parse a whole server log from a reader, in constant memory whatever its size.
pub fn parse_reader<R: Read>(reader: R) -> std::io::Result<LogMetrics> {
    let _ = reader;
    unimplemented!("issue 3")
}
