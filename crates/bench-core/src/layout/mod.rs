//! Where a run's files live and what its directory's path says: the one owner of the run
//! layout (`docs/run-directory.md`).
//!
//! ```text
//! {output-dir}/{experiment}/{prompt}/{model_safe}/tp{T}-pp{P}-dp{D}/mns_{N}/mnbt_{M}/gmu_{G}/bs_{B}/{kvc}/{spec}/{quant}
//!     inference_logs/
//!         stats.json  executor.json  stats/*.json        datatrove's results
//!         slurm_logs/{job id}_{task}.out                 SLURM's output of each attempt
//!         server_logs/server_rank_*.log                  the vLLM server's log
//!         launch/sbatch.sh  kwargs.json  submissions.jsonl   what `launch` keeps per run
//! ```
//!
//! The path is written by [`PathFields::run_dir`] (as the inference script computes it) and
//! read back by [`fields_from_components`]; both use the segment table ([`Segment`]) and
//! vLLM's defaults defined here. Nothing else spells a directory name, a file name below
//! `inference_logs/`, a segment prefix or the job comment.

mod name;
mod read;
mod write;

pub use name::{run_name, sanitize_prompt_name};
pub use read::{
    Parallelism, ParsedFields, RunFields, compare_config, fields_from_components, parse_parallelism,
};
pub use write::{
    DEFAULT_MODEL, DEFAULT_OUTPUT_DIR, DEFAULT_PROMPT_DIR, KvCacheDtype, NameError, PathFields,
    Quantization, SegmentError, SpeculativeDecoding, UNSET, check_dir_name, check_model,
    check_output_dir, check_prompt_name, gmu_percent, is_unset_string, model_safe,
};

/// vLLM's default `max-num-seqs` (the inference script passes it on).
pub const DEFAULT_MAX_NUM_SEQS: u64 = 256;
/// vLLM's default `max-num-batched-tokens`.
pub const DEFAULT_MAX_NUM_BATCHED_TOKENS: u64 = 8192;
/// vLLM's default `gpu-memory-utilization`, a fraction.
pub const DEFAULT_GPU_MEMORY_UTILIZATION: f64 = 0.9;
/// [`DEFAULT_GPU_MEMORY_UTILIZATION`] as the directory's percent.
pub const DEFAULT_GPU_MEMORY_PERCENT: u64 = 90;
/// vLLM's default KV cache `block-size`, in tokens.
pub const DEFAULT_BLOCK_SIZE: u64 = 16;
/// vLLM's default `kv-cache-dtype`.
pub const DEFAULT_KV_CACHE_DTYPE: &str = "auto";

/// The directory below a run directory that holds everything of the run; its presence
/// marks a run directory.
pub const INFERENCE_LOGS: &str = "inference_logs";

/// Builds a path below the run directory, inside [`INFERENCE_LOGS`], at compile time.
macro_rules! below_inference_logs {
    ($rest:literal) => {
        concat!("inference_logs/", $rest)
    };
}

/// Paths relative to a run directory.
pub mod rel {
    /// datatrove's merged stats (`docs/results.md`).
    pub const STATS_JSON: &str = below_inference_logs!("stats.json");
    /// datatrove's executor description, naming the number of tasks.
    pub const EXECUTOR_JSON: &str = below_inference_logs!("executor.json");
    /// The directory of datatrove's per-task stats files (`*.json`).
    pub const TASK_STATS_DIR: &str = below_inference_logs!("stats");
    /// The directory of SLURM's `{job id}_{task}.out` files.
    pub const SLURM_LOGS_DIR: &str = below_inference_logs!("slurm_logs");
    /// The directory of the inference server's logs.
    pub const SERVER_LOGS_DIR: &str = below_inference_logs!("server_logs");
    /// The directory of what `launch` keeps per run.
    pub const LAUNCH_DIR: &str = below_inference_logs!("launch");
    /// The sbatch script `launch` submitted last.
    pub const SBATCH_SH: &str = below_inference_logs!("launch/sbatch.sh");
    /// The keyword arguments the inference script gets, as JSON.
    pub const KWARGS_JSON: &str = below_inference_logs!("launch/kwargs.json");
    /// `launch`'s submission records, one JSON object per line.
    pub const SUBMISSIONS_JSONL: &str = below_inference_logs!("launch/submissions.jsonl");
}

/// What a job's `--comment` starts with; the submission token follows.
pub const COMMENT_PREFIX: &str = "bench:";

/// The job comment of a submission: `bench:<token>:<run key>`, the token of this submission
/// and the key of the run directory ([`RunDir::key`]), so the queue tells which run a job
/// belongs to even when the run's `submissions.jsonl` is lost.
pub fn job_comment(token: &str, run_key: &str) -> String {
    format!("{COMMENT_PREFIX}{token}:{run_key}")
}

/// The token and the run key of a job comment written by [`job_comment`] (`bench:<token>`
/// alone, as earlier versions wrote it, gives no run key); `None` for any other comment.
pub fn parse_job_comment(comment: &str) -> Option<(&str, Option<&str>)> {
    let rest = comment.trim().strip_prefix(COMMENT_PREFIX)?;
    let (token, key) = match rest.split_once(':') {
        Some((token, key)) => (token, Some(key).filter(|key| !key.is_empty())),
        None => (rest, None),
    };
    (!token.is_empty()).then_some((token, key))
}

/// A run directory, `/`-separated as the config spells it (relative to the current
/// directory when `output-dir` is relative). It identifies a run: run names are not unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunDir(String);

impl RunDir {
    /// The run directory at `path`.
    pub fn new(path: impl Into<String>) -> Self {
        RunDir(path.into())
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short key of this run directory for job comments: 16 hexadecimal digits of the
    /// 64-bit FNV-1a hash of the path as written (stable across versions and machines).
    pub fn key(&self) -> String {
        let hash = self
            .0
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
            });
        format!("{hash:016x}")
    }

    /// A path below the run directory, e.g. `run.join(rel::STATS_JSON)`.
    pub fn join(&self, rel: &str) -> String {
        format!("{}/{rel}", self.0)
    }

    /// `{run_dir}/inference_logs`.
    pub fn inference_logs(&self) -> String {
        self.join(INFERENCE_LOGS)
    }

    /// `{run_dir}/inference_logs/slurm_logs`, where SLURM writes each attempt's `.out`.
    pub fn slurm_logs(&self) -> String {
        self.join(rel::SLURM_LOGS_DIR)
    }

    /// `{run_dir}/inference_logs/server_logs`.
    pub fn server_logs(&self) -> String {
        self.join(rel::SERVER_LOGS_DIR)
    }

    /// `{run_dir}/inference_logs/stats.json`.
    pub fn stats_json(&self) -> String {
        self.join(rel::STATS_JSON)
    }

    /// `{run_dir}/inference_logs/launch`, what `launch` keeps per run.
    pub fn launch_dir(&self) -> String {
        self.join(rel::LAUNCH_DIR)
    }

    /// `{run_dir}/inference_logs/launch/sbatch.sh`.
    pub fn sbatch_sh(&self) -> String {
        self.join(rel::SBATCH_SH)
    }

    /// `{run_dir}/inference_logs/launch/kwargs.json`.
    pub fn kwargs_json(&self) -> String {
        self.join(rel::KWARGS_JSON)
    }

    /// `{run_dir}/inference_logs/launch/submissions.jsonl`.
    pub fn submissions_jsonl(&self) -> String {
        self.join(rel::SUBMISSIONS_JSONL)
    }
}

impl std::fmt::Display for RunDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for RunDir {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl AsRef<str> for RunDir {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for RunDir {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl serde::Serialize for RunDir {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A prefixed segment of the run directory below `tp{T}-pp{P}-dp{D}`: its CSV column, its
/// prefix in the path and its config arg, in path order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment {
    /// `mns_{N}`: max-num-seqs.
    MaxNumSeqs,
    /// `mnbt_{N}`: max-num-batched-tokens.
    MaxNumBatchedTokens,
    /// `gmu_{P}`: gpu-memory-utilization in percent.
    GpuMemoryUtilization,
    /// `bs_{N}`: KV cache block size.
    BlockSize,
    /// `kvc_{dtype}`: KV cache dtype.
    KvCacheDtype,
    /// `spec_{method}_{N}`: speculative decoding.
    Speculative,
    /// `quant_{method}`: quantization.
    Quantization,
}

/// Whether config arg `key` (kebab case) has a place in the run directory: `output-dir`,
/// `prompt-template`, `model-name-or-path`, `tp`, `pp`, `dp` and each [`Segment`]'s arg.
/// Runs that differ only in other args share a directory.
pub fn reaches_run_dir(key: &str) -> bool {
    [
        "output-dir",
        "prompt-template",
        "model-name-or-path",
        "tp",
        "pp",
        "dp",
    ]
    .contains(&key)
        || Segment::ALL.iter().any(|segment| segment.arg() == key)
}

impl Segment {
    /// Every segment, in path order.
    pub const ALL: [Segment; 7] = [
        Segment::MaxNumSeqs,
        Segment::MaxNumBatchedTokens,
        Segment::GpuMemoryUtilization,
        Segment::BlockSize,
        Segment::KvCacheDtype,
        Segment::Speculative,
        Segment::Quantization,
    ];

    /// `(CSV column, path prefix, config arg)`: the one table of these names.
    const fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Segment::MaxNumSeqs => ("mns", "mns_", "max-num-seqs"),
            Segment::MaxNumBatchedTokens => ("mnbt", "mnbt_", "max-num-batched-tokens"),
            Segment::GpuMemoryUtilization => ("gmu", "gmu_", "gpu-memory-utilization"),
            Segment::BlockSize => ("bs", "bs_", "block-size"),
            Segment::KvCacheDtype => ("kvc", "kvc_", "kv-cache-dtype"),
            Segment::Speculative => ("spec", "spec_", "speculative-config"),
            Segment::Quantization => ("quant", "quant_", "quantization"),
        }
    }

    /// The CSV column (`mns`).
    pub const fn column(self) -> &'static str {
        self.names().0
    }

    /// The prefix in the path (`mns_`).
    pub const fn prefix(self) -> &'static str {
        self.names().1
    }

    /// The config arg (`max-num-seqs`).
    pub const fn arg(self) -> &'static str {
        self.names().2
    }

    /// Whether the segment holds an integer (`mns_512`) rather than a name (`kvc_auto`).
    pub const fn is_integer(self) -> bool {
        matches!(
            self,
            Segment::MaxNumSeqs
                | Segment::MaxNumBatchedTokens
                | Segment::GpuMemoryUtilization
                | Segment::BlockSize
        )
    }

    /// The segment for `value`: `mns_512`.
    pub fn with(self, value: impl std::fmt::Display) -> String {
        format!("{}{value}", self.prefix())
    }

    /// A segment's value without its prefix (`spec_ngram_6` -> `ngram_6`); a value without
    /// the prefix as is.
    pub fn strip(self, segment: &str) -> &str {
        segment.strip_prefix(self.prefix()).unwrap_or(segment)
    }
}

/// The config args the run directory spells, in path order: tp, pp and dp (the
/// parallelism segment), then each [`Segment`]'s. A stage may inherit only these
/// (`docs/stages.md`).
pub const RUN_DIR_ARGS: [&str; 10] = [
    "tp",
    "pp",
    "dp",
    Segment::ALL[0].arg(),
    Segment::ALL[1].arg(),
    Segment::ALL[2].arg(),
    Segment::ALL[3].arg(),
    Segment::ALL[4].arg(),
    Segment::ALL[5].arg(),
    Segment::ALL[6].arg(),
];

/// `tp{T}-pp{P}-dp{D}`, the parallelism segment.
pub fn parallelism_segment(tp: u32, pp: u32, dp: u32) -> String {
    format!("tp{tp}-pp{pp}-dp{dp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_key_is_fnv1a_64_of_the_path() {
        // FNV-1a 64's published values: the offset basis for "", and "a".
        assert_eq!(RunDir::new("").key(), "cbf29ce484222325");
        assert_eq!(RunDir::new("a").key(), "af63dc4c8601ec8c");
        assert_ne!(RunDir::new("data/a").key(), RunDir::new("data/b").key());
    }
}
