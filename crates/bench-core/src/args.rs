//! The inference script's parameters (`docs/config.md`): which arg keys exist,
//! the type each needs in the script's keyword arguments, and its default.

use serde_json::Value;

/// The type an arg needs (`docs/config.md`, "Types").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// An integer (not `2.0`, not a string, not null).
    Int,
    /// An integer of at least 1.
    PositiveInt,
    /// An integer or a float (not a boolean).
    Number,
    /// `true` or `false`.
    Bool,
    /// A string.
    Str,
    /// A string, or null for "not set".
    OptStr,
    /// A string that reaches an `#SBATCH` line (`qos`, `reservation`), or null.
    SbatchStr,
    /// A SLURM `--time` value: a string in SLURM's grammar, or an integer (minutes).
    Time,
    /// A template string, a `[name, template]` pair, or null.
    PromptTemplate,
    /// Set by `launch` itself (`name`, `local-execution`).
    Reserved,
}

/// One parameter of the inference script.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArgSpec {
    /// The kebab-case key.
    pub key: &'static str,
    /// The type the script needs.
    pub kind: ArgKind,
    /// The script's default (`None`: no default, the script gets `None`).
    pub default: Option<ArgDefault>,
}

/// The default of an arg.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArgDefault {
    /// JSON text.
    Json(&'static str),
    /// An integer (vLLM's defaults, owned by [`crate::layout`]).
    Int(u64),
    /// A number.
    Float(f64),
    /// A string.
    Str(&'static str),
}

impl ArgDefault {
    /// The default as a JSON value; `None` for JSON text that does not parse.
    pub fn value(self) -> Option<Value> {
        match self {
            ArgDefault::Json(text) => serde_json::from_str(text).ok(),
            ArgDefault::Int(n) => Some(Value::from(n)),
            ArgDefault::Float(f) => Some(Value::from(f)),
            ArgDefault::Str(text) => Some(Value::from(text)),
        }
    }
}

const fn arg(key: &'static str, kind: ArgKind, default: Option<&'static str>) -> ArgSpec {
    let default = match default {
        Some(text) => Some(ArgDefault::Json(text)),
        None => None,
    };
    ArgSpec { key, kind, default }
}

const fn vllm_arg(key: &'static str, kind: ArgKind, default: ArgDefault) -> ArgSpec {
    ArgSpec {
        key,
        kind,
        default: Some(default),
    }
}

/// Every parameter of the inference script (`generate_data.py`), in its own order.
pub const KNOWN_ARGS: &[ArgSpec] = {
    use crate::layout;
    use ArgDefault as D;
    use ArgKind::{
        Bool, Int, Number, OptStr, PositiveInt, PromptTemplate, Reserved, SbatchStr, Str, Time,
    };
    &[
        arg("input-dataset-name", OptStr, None),
        arg("input-dataset-config", OptStr, None),
        arg("input-dataset-split", Str, Some(r#""train""#)),
        arg("prompt-column", Str, Some(r#""question""#)),
        arg("prompt-template", PromptTemplate, None),
        arg("max-examples", Int, Some("-1")),
        arg("output-dataset-name", OptStr, None),
        arg("output-private", Bool, Some("true")),
        arg("output-dir", Str, Some(r#""data""#)),
        arg("server-type", Str, Some(r#""vllm""#)),
        arg("model-name-or-path", Str, Some(r#""Qwen/Qwen3-0.6B""#)),
        arg("model-revision", Str, Some(r#""main""#)),
        arg("model-max-context", Int, Some("32768")),
        arg("system-prompt", OptStr, None),
        arg("trust-remote-code", Bool, Some("false")),
        arg("tp", PositiveInt, Some("1")),
        arg("pp", PositiveInt, Some("1")),
        arg("dp", PositiveInt, Some("1")),
        arg("nodes-per-task", PositiveInt, Some("1")),
        arg("max-concurrent-generations", Int, Some("500")),
        arg("max-concurrent-documents", Int, Some("500")),
        vllm_arg(
            "max-num-seqs",
            PositiveInt,
            D::Int(layout::DEFAULT_MAX_NUM_SEQS),
        ),
        vllm_arg(
            "max-num-batched-tokens",
            PositiveInt,
            D::Int(layout::DEFAULT_MAX_NUM_BATCHED_TOKENS),
        ),
        vllm_arg(
            "gpu-memory-utilization",
            Number,
            D::Float(layout::DEFAULT_GPU_MEMORY_UTILIZATION),
        ),
        vllm_arg(
            "block-size",
            PositiveInt,
            D::Int(layout::DEFAULT_BLOCK_SIZE),
        ),
        arg("gdn-prefill-backend", OptStr, None),
        arg("speculative-config", OptStr, None),
        arg("quantization", OptStr, None),
        vllm_arg(
            "kv-cache-dtype",
            OptStr,
            D::Str(layout::DEFAULT_KV_CACHE_DTYPE),
        ),
        arg("optimization-level", Int, Some("3")),
        arg("metric-interval", Number, Some("120")),
        arg("temperature", Number, None),
        arg("top-k", Int, None),
        arg("top-p", Number, None),
        arg("max-tokens", Int, Some("16384")),
        arg("rollouts-per-document", Int, Some("1")),
        arg("seed", Int, None),
        arg("examples-per-chunk", Int, Some("500")),
        // `launch` sets 1 when absent; the script's own default (10) would start ten servers.
        arg("tasks", Int, Some("1")),
        arg("workers", Int, Some("1")),
        arg("local-execution", Reserved, Some("true")),
        arg("enable-monitoring", Bool, Some("false")),
        arg("benchmark-mode", Bool, Some("false")),
        arg("name", Reserved, None),
        arg("time", Time, Some(r#""12:00:00""#)),
        arg("qos", SbatchStr, Some(r#""low""#)),
        arg("reservation", SbatchStr, None),
    ]
};

/// The spec of a kebab-case key, `None` for an unknown key.
pub fn spec(key: &str) -> Option<&'static ArgSpec> {
    KNOWN_ARGS.iter().find(|a| a.key == key)
}

/// The key's kebab-case form: an underscore spelling means the same key (`max_num_seqs` ->
/// `max-num-seqs`).
pub fn kebab_case(key: &str) -> String {
    key.replace('_', "-")
}

/// The key's snake-case form, as the script's keyword arguments spell it.
pub fn snake_case(key: &str) -> String {
    key.replace('-', "_")
}

/// The closest of `candidates` to `word`, when close enough to be a likely typo. Case is
/// ignored (`MAX-NUM-SEQS` -> `max-num-seqs`): keys are compared exactly, so a key in another
/// case is unknown, and its lower-case form is the likely fix.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&word, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The closest known arg key to an unknown one.
pub fn closest_arg(key: &str) -> Option<&'static str> {
    closest(key, KNOWN_ARGS.iter().map(|a| a.key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(closest_arg("max-num-seq"), Some("max-num-seqs"));
        assert_eq!(
            closest_arg("gpu-mem-utilization"),
            Some("gpu-memory-utilization")
        );
        assert_eq!(closest_arg("model-name"), Some("model-name-or-path"));
        assert_eq!(closest_arg("zzzzzz"), None);
        assert_eq!(closest_arg("MAX-NUM-SEQS"), Some("max-num-seqs"));
        assert_eq!(closest_arg("Max-Num-Seq"), Some("max-num-seqs"));
        assert_eq!(closest("Script", ["script", "slurm"]), Some("script"));
    }

    #[test]
    fn defaults_are_json() {
        for arg in KNOWN_ARGS {
            if let Some(default) = arg.default {
                assert!(default.value().is_some(), "{}", arg.key);
            }
        }
    }
}
