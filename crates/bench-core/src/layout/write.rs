//! Writing the run directory: where the inference script writes a run's results, computed
//! exactly as the script computes it (`docs/run-directory.md`).

use serde_json::Value;

use super::{
    DEFAULT_BLOCK_SIZE, DEFAULT_GPU_MEMORY_UTILIZATION, DEFAULT_KV_CACHE_DTYPE,
    DEFAULT_MAX_NUM_BATCHED_TOKENS, DEFAULT_MAX_NUM_SEQS, INFERENCE_LOGS, RunDir, Segment,
    parallelism_segment, parse_parallelism,
};
use crate::sbatch_options::{UnsafeDirectiveChar, check_output_path_value};

/// `output-dir` when the config does not set it.
pub const DEFAULT_OUTPUT_DIR: &str = "data";
/// `model-name-or-path` when the config does not set it (the inference script's default).
pub const DEFAULT_MODEL: &str = "Qwen/Qwen3-0.6B";
/// The `{prompt}` component when the prompt template is not a `[name, template]` pair.
pub const DEFAULT_PROMPT_DIR: &str = "default";

/// Whether a string means "not set" for speculative-config, quantization and kv-cache-dtype:
/// `None`, `none`, `null` or the empty string (`docs/config.md`).
pub fn is_unset_string(text: &str) -> bool {
    matches!(text, UNSET | "none" | "null" | "")
}

/// The "not set" string a config writes (Python's `None`), one of [`is_unset_string`]'s.
pub const UNSET: &str = "None";

/// The value when it is set: `None` for an absent or null value and the "not set" strings.
fn set_value(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !is_unset_string(v))
}

/// The settings a run directory is made of, already validated and typed.
#[derive(Debug, Clone, PartialEq)]
pub struct PathFields {
    /// `output-dir` as given (default [`DEFAULT_OUTPUT_DIR`]).
    pub output_dir: String,
    /// The experiment name.
    pub experiment: String,
    /// The template name when the prompt template is a `[name, template]` pair, raw.
    pub prompt_template_name: Option<String>,
    /// `model-name-or-path` as given (default [`DEFAULT_MODEL`]).
    pub model: String,
    /// Tensor parallel size.
    pub tp: u32,
    /// Pipeline parallel size.
    pub pp: u32,
    /// Data parallel size.
    pub dp: u32,
    /// `max-num-seqs`.
    pub max_num_seqs: u64,
    /// `max-num-batched-tokens`.
    pub max_num_batched_tokens: u64,
    /// `gpu-memory-utilization`, a fraction in (0, 1].
    pub gpu_memory_utilization: f64,
    /// `block-size`, in tokens.
    pub block_size: u64,
    /// `kv-cache-dtype`.
    pub kv_cache_dtype: KvCacheDtype,
    /// `speculative-config`.
    pub speculative: SpeculativeDecoding,
    /// `quantization`.
    pub quantization: Quantization,
}

impl Default for PathFields {
    /// The inference script's defaults, in experiment `default` (useful as a base in tests).
    fn default() -> Self {
        PathFields {
            output_dir: DEFAULT_OUTPUT_DIR.into(),
            experiment: "default".into(),
            prompt_template_name: None,
            model: DEFAULT_MODEL.into(),
            tp: 1,
            pp: 1,
            dp: 1,
            max_num_seqs: DEFAULT_MAX_NUM_SEQS,
            max_num_batched_tokens: DEFAULT_MAX_NUM_BATCHED_TOKENS,
            gpu_memory_utilization: DEFAULT_GPU_MEMORY_UTILIZATION,
            block_size: DEFAULT_BLOCK_SIZE,
            kv_cache_dtype: KvCacheDtype::Auto,
            speculative: SpeculativeDecoding::None,
            quantization: Quantization::None,
        }
    }
}

impl PathFields {
    /// `{output-dir}/{experiment}`: the `output_dir` the inference script is given (trailing
    /// `/` of `output-dir` dropped, so no `//` appears).
    pub fn experiment_dir(&self) -> String {
        join_dir(&self.output_dir, &self.experiment)
    }

    /// The run directory, `/`-separated.
    pub fn run_dir(&self) -> RunDir {
        use std::fmt::Write as _;
        let mut dir = self.experiment_dir();
        let _ = write!(
            dir,
            "/{}/{}/{}/{}{}/{}{}/{}{}/{}{}/{}/{}/{}",
            self.prompt_template_name
                .as_deref()
                .unwrap_or(DEFAULT_PROMPT_DIR),
            model_safe(&self.model),
            parallelism_segment(self.tp, self.pp, self.dp),
            Segment::MaxNumSeqs.prefix(),
            self.max_num_seqs,
            Segment::MaxNumBatchedTokens.prefix(),
            self.max_num_batched_tokens,
            Segment::GpuMemoryUtilization.prefix(),
            gmu_percent(self.gpu_memory_utilization),
            Segment::BlockSize.prefix(),
            self.block_size,
            self.kv_cache_dtype.segment(),
            self.speculative.segment(),
            self.quantization.segment(),
        );
        RunDir::new(dir)
    }

    /// What the run directory says of one of [`super::RUN_DIR_ARGS`] (`tp2`, `mns_512`,
    /// `gmu_90`, `spec_ngram_6`); `None` for an arg the directory does not spell. Two runs
    /// agree on an arg exactly when these are equal.
    pub fn arg_segment(&self, arg: &str) -> Option<String> {
        Some(match arg {
            "tp" => format!("tp{}", self.tp),
            "pp" => format!("pp{}", self.pp),
            "dp" => format!("dp{}", self.dp),
            arg => match Segment::ALL.into_iter().find(|s| s.arg() == arg)? {
                Segment::MaxNumSeqs => Segment::MaxNumSeqs.with(self.max_num_seqs),
                Segment::MaxNumBatchedTokens => {
                    Segment::MaxNumBatchedTokens.with(self.max_num_batched_tokens)
                }
                Segment::GpuMemoryUtilization => {
                    Segment::GpuMemoryUtilization.with(gmu_percent(self.gpu_memory_utilization))
                }
                Segment::BlockSize => Segment::BlockSize.with(self.block_size),
                Segment::KvCacheDtype => self.kv_cache_dtype.segment(),
                Segment::Speculative => self.speculative.segment(),
                Segment::Quantization => self.quantization.segment(),
            },
        })
    }

    /// GPUs the run holds: tp x pp x dp.
    pub fn gpus(&self) -> u32 {
        self.tp.saturating_mul(self.pp).saturating_mul(self.dp)
    }
}

/// Joins a directory and one more component with a single `/`.
fn join_dir(dir: &str, component: &str) -> String {
    format!("{}/{component}", dir.trim_end_matches('/'))
}

/// The model as a path: everything up to and including the first `/` dropped, then every `-`
/// replaced with `_` (dots and the remaining `/` stay): `Qwen/Qwen3-0.6B` -> `Qwen3_0.6B`,
/// `/models/Qwen3-4B` -> `models/Qwen3_4B`.
pub fn model_safe(model: &str) -> String {
    let rest = model.split_once('/').map_or(model, |(_, rest)| rest);
    rest.replace('-', "_")
}

/// `gpu-memory-utilization` as the directory's percent: the fraction times 100 in IEEE-754
/// doubles, truncated toward zero, exactly as Python's `int(x * 100)` (0.58 -> 57, 0.57 ->
/// 56). Do not round: the inference script writes `gmu_57` for 0.58.
pub fn gmu_percent(fraction: f64) -> i64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "truncation toward zero is the rule (Python's int())"
    )]
    let percent = (fraction * 100.0).trunc() as i64;
    percent
}

/// Why a kv-cache-dtype, quantization or speculative-config value has no run directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// kv-cache-dtype outside `auto`, `fp8_e4m3`, `fp8_e5m2`.
    #[error("unsupported KV cache dtype; use `auto`, `fp8_e4m3` or `fp8_e5m2`")]
    KvCacheDtype,
    /// kv-cache-dtype `fp8`: vLLM's alias, which the inference script refuses.
    #[error(
        "unsupported KV cache dtype `fp8` (the inference script refuses vLLM's alias): did you \
         mean `fp8_e4m3`?"
    )]
    KvCacheDtypeFp8,
    /// quantization other than `bitsandbytes`.
    #[error("unsupported quantization; the only accepted method is `bitsandbytes` (or `None`)")]
    Quantization,
    /// speculative-config text that is not JSON.
    #[error(
        "speculative-config is not JSON ({error}); write it as a JSON object in a string, e.g. '{{\"method\": \"ngram\", \"num_speculative_tokens\": 6}}'"
    )]
    SpecNotJson {
        /// The JSON parser's message.
        error: String,
    },
    /// speculative-config JSON that is not an object.
    #[error("speculative-config must be a JSON object, not {kind}")]
    SpecNotObject {
        /// What the JSON is instead (`a list`, `an integer`, ...).
        kind: &'static str,
    },
    /// A `method` that is neither a string nor null.
    #[error("speculative-config `method` must be a string")]
    SpecMethodNotString,
    /// A method or draft model that would add directory levels or break `#SBATCH` lines.
    #[error(
        "speculative-config gives the directory component `{segment}`, which contains `/` or a \
         character the run directory's `#SBATCH --output` line cannot carry (whitespace, `%`, \
         `#`, quotes, `\\` or control characters)"
    )]
    SpecBadSegment {
        /// The refused component.
        segment: String,
    },
}

/// `kv-cache-dtype`, as its run-directory component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KvCacheDtype {
    /// `auto` or not set: the model's own dtype (`kvc_auto`).
    Auto,
    /// `fp8_e4m3` (`kvc_fp8e4m3`).
    Fp8E4m3,
    /// `fp8_e5m2` (`kvc_fp8e5m2`).
    Fp8E5m2,
}

impl KvCacheDtype {
    /// Reads the config value (`None` when absent or null); compared case-insensitively after
    /// trimming. The "not set" strings mean [`KvCacheDtype::Auto`].
    pub fn parse(value: Option<&str>) -> Result<Self, SegmentError> {
        let Some(value) = set_value(value) else {
            return Ok(KvCacheDtype::Auto);
        };
        let value = value.trim().to_ascii_lowercase();
        if value == "fp8" {
            return Err(SegmentError::KvCacheDtypeFp8);
        }
        Self::ALL
            .into_iter()
            .find(|dtype| dtype.config_value() == value)
            .ok_or(SegmentError::KvCacheDtype)
    }

    /// Every dtype.
    pub const ALL: [KvCacheDtype; 3] = [
        KvCacheDtype::Auto,
        KvCacheDtype::Fp8E4m3,
        KvCacheDtype::Fp8E5m2,
    ];

    /// The value a config gives for it (`fp8_e4m3`).
    pub fn config_value(self) -> &'static str {
        match self {
            KvCacheDtype::Auto => DEFAULT_KV_CACHE_DTYPE,
            KvCacheDtype::Fp8E4m3 => "fp8_e4m3",
            KvCacheDtype::Fp8E5m2 => "fp8_e5m2",
        }
    }

    /// The dtype whose run-directory component is `segment` (`kvc_fp8e4m3`).
    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|dtype| dtype.segment() == segment)
    }

    /// The run-directory component: `kvc_auto`, `kvc_fp8e4m3` or `kvc_fp8e5m2`.
    pub fn segment(self) -> String {
        Segment::KvCacheDtype.with(match self {
            KvCacheDtype::Auto => DEFAULT_KV_CACHE_DTYPE,
            KvCacheDtype::Fp8E4m3 => "fp8e4m3",
            KvCacheDtype::Fp8E5m2 => "fp8e5m2",
        })
    }
}

/// `quantization`, as its run-directory component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantization {
    /// Not set (`quant_none`).
    None,
    /// `bitsandbytes`, any case (`quant_bnb`).
    BitsAndBytes,
}

impl Quantization {
    /// Reads the config value (`None` when absent or null); the "not set" strings mean
    /// [`Quantization::None`].
    pub fn parse(value: Option<&str>) -> Result<Self, SegmentError> {
        let Some(value) = set_value(value) else {
            return Ok(Quantization::None);
        };
        if value.trim().eq_ignore_ascii_case("bitsandbytes") {
            Ok(Quantization::BitsAndBytes)
        } else {
            Err(SegmentError::Quantization)
        }
    }

    /// Every value.
    pub const ALL: [Quantization; 2] = [Quantization::None, Quantization::BitsAndBytes];

    /// The value a config gives for it (`None`, `bitsandbytes`).
    pub fn config_value(self) -> &'static str {
        match self {
            Quantization::None => UNSET,
            Quantization::BitsAndBytes => "bitsandbytes",
        }
    }

    /// The value whose run-directory component is `segment` (`quant_bnb`).
    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|value| value.segment() == segment)
    }

    /// The run-directory component: `quant_none` or `quant_bnb`.
    pub fn segment(self) -> String {
        Segment::Quantization.with(match self {
            Quantization::None => "none",
            Quantization::BitsAndBytes => "bnb",
        })
    }
}

/// `speculative-config`, as its run-directory component.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpeculativeDecoding {
    /// Not set, or a method that is empty, `none`, `null` or missing (`spec_none`).
    None,
    /// A draft model (`spec_org_draft_1b_5`).
    DraftModel {
        /// The `model` key, as given.
        model: String,
        /// `num_speculative_tokens` as Python's `int()` reads it, in decimal.
        tokens: String,
    },
    /// A method such as `ngram` or `suffix` (`spec_ngram_6`).
    Method {
        /// The `method` key, lower-cased.
        method: String,
        /// `num_speculative_tokens` as Python's `int()` reads it, in decimal.
        tokens: String,
    },
}

impl SpeculativeDecoding {
    /// Reads the config value, a string holding a JSON object (`None` when absent or null;
    /// the "not set" strings mean [`SpeculativeDecoding::None`]). A string `model` key (a
    /// draft model) is checked first, then `method`; see `docs/run-directory.md`.
    pub fn parse(value: Option<&str>) -> Result<Self, SegmentError> {
        let Some(text) = set_value(value) else {
            return Ok(SpeculativeDecoding::None);
        };
        let json: Value = serde_json::from_str(text).map_err(|e| SegmentError::SpecNotJson {
            error: e.to_string(),
        })?;
        let Value::Object(object) = json else {
            return Err(SegmentError::SpecNotObject {
                kind: crate::json_kind::describe(&json),
            });
        };
        let tokens = object
            .get("num_speculative_tokens")
            .map_or_else(|| "0".to_owned(), python_int);
        let spec = if let Some(Value::String(model)) = object.get("model") {
            SpeculativeDecoding::DraftModel {
                model: model.clone(),
                tokens,
            }
        } else {
            let method = match object.get("method") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(method)) => method.to_lowercase(),
                Some(_) => return Err(SegmentError::SpecMethodNotString),
            };
            match method.as_str() {
                "" | "none" | "null" => SpeculativeDecoding::None,
                _ => SpeculativeDecoding::Method { method, tokens },
            }
        };
        let segment = spec.segment();
        if segment.contains('/') || check_output_path_value(&segment).is_err() {
            return Err(SegmentError::SpecBadSegment { segment });
        }
        Ok(spec)
    }

    /// The run-directory component: `spec_none`, `spec_{model}_{N}` (`/` and `-` of the model
    /// to `_`) or `spec_{method}_{N}`.
    pub fn segment(&self) -> String {
        match self {
            SpeculativeDecoding::None => Segment::Speculative.with("none"),
            SpeculativeDecoding::DraftModel { model, tokens } => Segment::Speculative
                .with(format_args!("{}_{tokens}", model.replace(['/', '-'], "_"))),
            SpeculativeDecoding::Method { method, tokens } => {
                Segment::Speculative.with(format_args!("{method}_{tokens}"))
            }
        }
    }

    /// Whether speculative decoding is on (the segment is not `spec_none`).
    pub fn is_set(&self) -> bool {
        !matches!(self, SpeculativeDecoding::None)
    }
}

/// `num_speculative_tokens` as Python's `int()` takes it, in decimal: an integer as is; a
/// boolean as 0/1; a float truncated toward zero; a string of ASCII digits, optionally signed,
/// surrounded by whitespace, with single `_` between digits; anything else 0.
fn python_int(value: &Value) -> String {
    match value {
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                // Every finite double is an integer after trunc(); `{:.0}` writes it exactly,
                // as Python's int() does.
                let t = n.as_f64().unwrap_or(0.0).trunc();
                let text = format!("{t:.0}");
                if text == "-0" { "0".into() } else { text }
            }
        }
        Value::String(s) => python_int_str(s).unwrap_or_else(|| "0".into()),
        _ => "0".into(),
    }
}

/// Python's `int(str)` for ASCII digits: `" 6 "` -> 6, `"+6"` -> 6, `"6_0"` -> 60, `"007"` -> 7;
/// `None` for anything else (`"6.7"`, `"_6"`, `"6__0"`, `""`).
fn python_int_str(text: &str) -> Option<String> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let mut clean = String::with_capacity(digits.len());
    let mut previous_digit = false;
    for c in digits.chars() {
        match c {
            '0'..='9' => {
                clean.push(c);
                previous_digit = true;
            }
            '_' if previous_digit => previous_digit = false,
            _ => return None,
        }
    }
    if clean.is_empty() || !previous_digit {
        return None;
    }
    let trimmed = clean.trim_start_matches('0');
    Some(match (trimmed.is_empty(), negative) {
        (true, _) => "0".into(),
        (false, true) => format!("-{trimmed}"),
        (false, false) => trimmed.into(),
    })
}

/// Why a name or path value cannot be part of a run directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// An empty value.
    #[error("must not be empty")]
    Empty,
    /// Longer than a directory name can be.
    #[error(
        "is {bytes} bytes long: a directory name holds at most {MAX_NAME_BYTES} bytes, so every \
         run's directory would fail to be created"
    )]
    TooLong {
        /// The name's length in bytes.
        bytes: usize,
    },
    /// `.` or `..` as a whole name.
    #[error("must not be `.` or `..`")]
    Dots,
    /// A `/` in a single directory name.
    #[error("must not contain `/` (it is one directory name)")]
    Slash,
    /// A `..` component in a path.
    #[error("must not contain a `..` component")]
    ParentComponent,
    /// An empty component in a path (`a//b`, a trailing `/`).
    #[error("must not contain an empty component (`//` or a trailing `/`)")]
    EmptyComponent,
    /// A component that reads as the `tp{T}-pp{P}-dp{D}` segment: read back, the run
    /// directory would be cut there and every column after it would shift.
    #[error(
        "it gives the directory name `{component}`, which reads as the run directory's \
         `tp{{T}}-pp{{P}}-dp{{D}}` segment: `analyze` finds the model and the settings by that \
         segment, so the columns read back would shift; rename it"
    )]
    LooksLikeParallelism {
        /// The component.
        component: String,
    },
    /// A `.` component: `a/./b` is the directory `a/b`, so two spellings would share one run
    /// directory, and `org/.` would give no model directory at all.
    #[error(
        "must not contain a `.` component (`a/./b` is the directory `a/b`, so two runs could \
         share it); write the path without `./`"
    )]
    DotComponent,
    /// `inference_logs` as a component: it marks a run directory.
    #[error(
        "the component `inference_logs` marks a run directory, so `analyze` would take the \
         directory above it for a run; rename it"
    )]
    InferenceLogs,
    /// A character `#SBATCH --output` cannot carry: whitespace, `%`, `#`, quotes, `\` or a
    /// control character ([`check_output_path_value`]).
    #[error("{0}")]
    UnsafeCharacter(#[from] UnsafeDirectiveChar),
}

/// Checks an experiment name or a prompt template name: one directory name, not empty, `.` or
/// `..`, no `/`, and no character `#SBATCH --output` cannot carry ([`check_output_path_value`]:
/// whitespace, `%`, `#`, quotes, `\`, control characters; `docs/run-directory.md`).
pub fn check_dir_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > MAX_NAME_BYTES {
        Err(NameError::TooLong { bytes: name.len() })
    } else if name == "." || name == ".." {
        Err(NameError::Dots)
    } else if name.contains('/') {
        Err(NameError::Slash)
    } else if name == INFERENCE_LOGS {
        Err(NameError::InferenceLogs)
    } else {
        Ok(check_output_path_value(name)?)
    }
}

/// The most bytes of one directory name (Linux's `NAME_MAX`, and most file systems').
pub const MAX_NAME_BYTES: usize = 255;

/// Checks a prompt template name: as [`check_dir_name`], and not a name that reads as the
/// `tp{T}-pp{P}-dp{D}` segment (the run directory is read back by finding that segment).
pub fn check_prompt_name(name: &str) -> Result<(), NameError> {
    check_dir_name(name)?;
    check_not_parallelism(name)
}

/// `Err` when `component` reads as a `tp{T}-pp{P}-dp{D}` segment.
fn check_not_parallelism(component: &str) -> Result<(), NameError> {
    if parse_parallelism(component).is_some() {
        Err(NameError::LooksLikeParallelism {
            component: component.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// Checks `output-dir`: not empty, no `..` components, and no character `#SBATCH --output`
/// cannot carry ([`check_output_path_value`]; `docs/run-directory.md`).
pub fn check_output_dir(path: &str) -> Result<(), NameError> {
    if path.is_empty() {
        return Err(NameError::Empty);
    }
    // `x//y` is the directory `x/y`: two spellings would share run directories.
    if path.trim_end_matches('/').contains("//") {
        return Err(NameError::EmptyComponent);
    }
    check_path_chars(path)
}

/// Checks `model-name-or-path`: as [`check_output_dir`], and the part that becomes the model
/// directory (after the first `/`) has no empty components.
pub fn check_model(model: &str) -> Result<(), NameError> {
    if model.is_empty() {
        return Err(NameError::Empty);
    }
    check_path_chars(model)?;
    for component in model_safe(model).split('/') {
        if component.is_empty() {
            return Err(NameError::EmptyComponent);
        }
        if component == INFERENCE_LOGS {
            return Err(NameError::InferenceLogs);
        }
        check_not_parallelism(component)?;
    }
    Ok(())
}

fn check_path_chars(path: &str) -> Result<(), NameError> {
    check_output_path_value(path)?;
    if path.split('/').any(|c| c == "..") {
        Err(NameError::ParentComponent)
    } else if path.split('/').any(|c| c == ".") {
        Err(NameError::DotComponent)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_safe_drops_the_org_and_replaces_dashes() {
        assert_eq!(model_safe("Qwen/Qwen3-0.6B"), "Qwen3_0.6B");
        assert_eq!(model_safe("google/gemma-3-1b-it"), "gemma_3_1b_it");
        assert_eq!(model_safe("/models/Qwen3-4B"), "models/Qwen3_4B");
        assert_eq!(model_safe("gpt2"), "gpt2");
    }

    #[test]
    fn gmu_truncates_like_python_int() {
        let cases = [
            (0.9, 90),
            (0.95, 95),
            (0.58, 57),
            (0.57, 56),
            (0.56, 56),
            (0.29, 28),
            (1.0, 100),
            (0.5, 50),
        ];
        for (fraction, percent) in cases {
            assert_eq!(gmu_percent(fraction), percent, "{fraction}");
        }
    }

    #[test]
    fn kv_cache_dtype_segments() {
        let ok = [
            (None, "kvc_auto"),
            (Some("auto"), "kvc_auto"),
            (Some("None"), "kvc_auto"),
            (Some(""), "kvc_auto"),
            (Some("fp8_e4m3"), "kvc_fp8e4m3"),
            (Some("FP8_E4M3"), "kvc_fp8e4m3"),
            (Some(" fp8_e5m2 "), "kvc_fp8e5m2"),
        ];
        for (value, segment) in ok {
            assert_eq!(KvCacheDtype::parse(value).unwrap().segment(), segment);
        }
        for value in ["fp16", "8", "NULL"] {
            assert_eq!(
                KvCacheDtype::parse(Some(value)),
                Err(SegmentError::KvCacheDtype)
            );
        }
        for value in ["fp8", " FP8 "] {
            assert_eq!(
                KvCacheDtype::parse(Some(value)),
                Err(SegmentError::KvCacheDtypeFp8)
            );
        }
    }

    #[test]
    fn quantization_segments() {
        assert_eq!(Quantization::parse(None).unwrap().segment(), "quant_none");
        assert_eq!(
            Quantization::parse(Some("null")).unwrap().segment(),
            "quant_none"
        );
        assert_eq!(
            Quantization::parse(Some("bitsandbytes")).unwrap().segment(),
            "quant_bnb"
        );
        assert_eq!(
            Quantization::parse(Some("BitsAndBytes")).unwrap().segment(),
            "quant_bnb"
        );
        assert_eq!(
            Quantization::parse(Some("awq")),
            Err(SegmentError::Quantization)
        );
    }

    fn spec(text: &str) -> String {
        SpeculativeDecoding::parse(Some(text)).unwrap().segment()
    }

    #[test]
    fn speculative_config_segments() {
        assert_eq!(
            SpeculativeDecoding::parse(None).unwrap().segment(),
            "spec_none"
        );
        assert_eq!(spec("None"), "spec_none");
        assert_eq!(
            spec(r#"{"method": "ngram", "num_speculative_tokens": 6}"#),
            "spec_ngram_6"
        );
        assert_eq!(
            spec(r#"{"method": "suffix", "num_speculative_tokens": 32}"#),
            "spec_suffix_32"
        );
        assert_eq!(
            spec(r#"{"model": "org/draft-1b", "num_speculative_tokens": 5}"#),
            "spec_org_draft_1b_5"
        );
        // The draft model is checked before the method.
        assert_eq!(
            spec(r#"{"method": "eagle", "model": "a/b-c", "num_speculative_tokens": 3}"#),
            "spec_a_b_c_3"
        );
        assert_eq!(
            spec(r#"{"method": "NGRAM", "num_speculative_tokens": "6"}"#),
            "spec_ngram_6"
        );
        assert_eq!(
            spec(r#"{"method": "ngram", "num_speculative_tokens": 6.7}"#),
            "spec_ngram_6"
        );
        assert_eq!(
            spec(r#"{"method": "eagle3", "num_speculative_tokens": 4}"#),
            "spec_eagle3_4"
        );
        for method in [r#""""#, r#""none""#, r#""NULL""#, "null"] {
            assert_eq!(spec(&format!(r#"{{"method": {method}}}"#)), "spec_none");
        }
        assert_eq!(spec("{}"), "spec_none");
    }

    #[test]
    fn num_speculative_tokens_as_python_int() {
        let cases = [
            ("6", "6"),
            ("-3", "-3"),
            ("true", "1"),
            ("false", "0"),
            ("6.7", "6"),
            ("-6.7", "-6"),
            ("-0.5", "0"),
            ("1e20", "100000000000000000000"),
            (r#"" 6 ""#, "6"),
            (r#""6_0""#, "60"),
            (r#""+6""#, "6"),
            (r#""-06""#, "-6"),
            (r#""007""#, "7"),
            (r#""6.7""#, "0"),
            (r#""6__0""#, "0"),
            (r#""_6""#, "0"),
            (r#""6_""#, "0"),
            (r#""""#, "0"),
            (r#""-""#, "0"),
            ("null", "0"),
            ("[6]", "0"),
        ];
        for (tokens, n) in cases {
            let text = format!(r#"{{"method": "ngram", "num_speculative_tokens": {tokens}}}"#);
            assert_eq!(spec(&text), format!("spec_ngram_{n}"), "{tokens}");
        }
        assert_eq!(spec(r#"{"method": "ngram"}"#), "spec_ngram_0");
    }

    #[test]
    fn speculative_config_errors() {
        assert!(matches!(
            SpeculativeDecoding::parse(Some("ngram")),
            Err(SegmentError::SpecNotJson { .. })
        ));
        assert_eq!(
            SpeculativeDecoding::parse(Some("[1, 2]")),
            Err(SegmentError::SpecNotObject { kind: "a list" })
        );
        assert_eq!(
            SpeculativeDecoding::parse(Some(r#""ngram""#)),
            Err(SegmentError::SpecNotObject { kind: "a string" })
        );
        assert_eq!(
            SpeculativeDecoding::parse(Some(r#"{"method": 5}"#)),
            Err(SegmentError::SpecMethodNotString)
        );
        assert_eq!(
            SpeculativeDecoding::parse(Some(r#"{"method": "a/b"}"#)),
            Err(SegmentError::SpecBadSegment {
                segment: "spec_a/b_0".into()
            })
        );
        assert_eq!(
            SpeculativeDecoding::parse(Some(r#"{"model": "my draft"}"#)),
            Err(SegmentError::SpecBadSegment {
                segment: "spec_my draft_0".into()
            })
        );
    }

    #[test]
    fn run_dir_of_defaults_and_output_dir_joining() {
        let fields = PathFields {
            experiment: "e".into(),
            ..PathFields::default()
        };
        assert_eq!(
            fields.run_dir(),
            "data/e/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
        );
        let fields = PathFields {
            output_dir: "/scratch/results/".into(),
            ..fields
        };
        assert_eq!(fields.experiment_dir(), "/scratch/results/e");
    }

    #[test]
    fn name_checks() {
        assert_eq!(check_dir_name("tier0-tiny"), Ok(()));
        assert_eq!(check_dir_name(""), Err(NameError::Empty));
        assert_eq!(check_dir_name("."), Err(NameError::Dots));
        assert_eq!(check_dir_name(".."), Err(NameError::Dots));
        assert_eq!(check_dir_name("../x"), Err(NameError::Slash));
        // 255 bytes is a directory name's limit: 255 pass, 256 (or 128 two-byte
        // characters and one more) do not.
        assert_eq!(check_dir_name(&"a".repeat(255)), Ok(()));
        assert_eq!(
            check_dir_name(&"a".repeat(256)),
            Err(NameError::TooLong { bytes: 256 })
        );
        assert_eq!(
            check_dir_name(&"é".repeat(128)),
            Err(NameError::TooLong { bytes: 256 })
        );
        let unsafe_char = |c| Err(NameError::UnsafeCharacter(UnsafeDirectiveChar(c)));
        assert_eq!(check_dir_name("my prompt"), unsafe_char(' '));
        assert_eq!(check_dir_name("50%"), unsafe_char('%'));
        assert_eq!(check_dir_name("a\tb"), unsafe_char('\t'));
        assert_eq!(check_output_dir("my results"), unsafe_char(' '));
        // What sbatch's `#SBATCH` parser does not take literally: `#` starts a comment (an
        // experiment `tier0#a` wrote its .out files to `.../tier0`), quotes and `\` are
        // removed.
        for (text, c) in [
            ("tier0#a", '#'),
            ("it's", '\''),
            ("\"q\"", '"'),
            ("a\\b", '\\'),
        ] {
            assert_eq!(check_dir_name(text), unsafe_char(c), "{text}");
            assert_eq!(
                check_output_dir(&format!("/x/{text}")),
                unsafe_char(c),
                "{text}"
            );
            assert_eq!(
                check_model(&format!("org/{text}")),
                unsafe_char(c),
                "{text}"
            );
        }
        assert_eq!(
            SpeculativeDecoding::parse(Some(r#"{"model": "org/d#1"}"#)),
            Err(SegmentError::SpecBadSegment {
                segment: "spec_org_d#1_0".into()
            })
        );
        assert_eq!(check_output_dir("a/../b"), Err(NameError::ParentComponent));
        assert_eq!(check_output_dir(""), Err(NameError::Empty));
        assert_eq!(check_output_dir("/abs/ok.d"), Ok(()));
        assert_eq!(check_model("/models/Qwen3-4B"), Ok(()));
        assert_eq!(check_model("org/name/"), Err(NameError::EmptyComponent));
        assert_eq!(check_model("../m"), Err(NameError::ParentComponent));
    }
}
