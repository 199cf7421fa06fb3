//! Reading the run directory: the config fields of a run, from its directory's path below
//! `--root` (`docs/run-directory.md`).
//!
//! Reading is tolerant: a missing component gives an empty (or default) value, the
//! prefixed components may come in any order, and an unknown component is reported rather
//! than shifting the others.

use std::cmp::Ordering;

use super::{KvCacheDtype, Quantization, Segment, SpeculativeDecoding};

/// The thirteen config columns of a row (`docs/results.md`). Integer fields are
/// `None` when the path does not give them (an empty CSV cell).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunFields {
    /// 1st path component below `--root`.
    pub experiment: String,
    /// 2nd path component below `--root`.
    pub prompt_template_name: String,
    /// The component before the `tp{N}...` segment (else the 3rd component); empty if none.
    pub model: String,
    /// Tensor parallel size, from `tp{N}`.
    pub tp: Option<u64>,
    /// Pipeline parallel size, from `-pp{N}`.
    pub pp: Option<u64>,
    /// Data parallel size, from `-dp{N}`.
    pub dp: Option<u64>,
    /// `max-num-seqs`, from `mns_{N}`.
    pub max_num_seqs: Option<u64>,
    /// `max-num-batched-tokens`, from `mnbt_{N}`.
    pub max_num_batched_tokens: Option<u64>,
    /// GPU memory utilization in percent, from `gmu_{N}`.
    pub gpu_memory_percent: Option<u64>,
    /// KV cache block size, from `bs_{N}`.
    pub block_size: Option<u64>,
    /// KV cache dtype component with its prefix (`kvc_auto`, `kvc_fp8e4m3`).
    pub kv_cache_dtype: String,
    /// Speculative decoding component with its prefix (`spec_none`, `spec_ngram_6`).
    pub speculative: String,
    /// Quantization component with its prefix (`quant_none`, `quant_bnb`).
    pub quantization: String,
}

impl Default for RunFields {
    fn default() -> Self {
        RunFields {
            experiment: String::new(),
            prompt_template_name: String::new(),
            model: String::new(),
            tp: None,
            pp: None,
            dp: None,
            max_num_seqs: None,
            max_num_batched_tokens: None,
            gpu_memory_percent: None,
            block_size: None,
            kv_cache_dtype: KvCacheDtype::Auto.segment(),
            speculative: SpeculativeDecoding::None.segment(),
            quantization: Quantization::None.segment(),
        }
    }
}

/// The fields read from one run directory's path, and the components that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFields {
    /// The config columns.
    pub fields: RunFields,
    /// Components after the `tp` segment that match no known prefix (or repeat one), in
    /// path order; the caller reports them as warnings.
    pub unknown: Vec<String>,
}

/// The parallelism read from a `tp{N}[-pp{N}][-dp{N}]` component (`_` separators too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Tensor parallel size.
    pub tp: u64,
    /// Pipeline parallel size, when given.
    pub pp: Option<u64>,
    /// Data parallel size, when given.
    pub dp: Option<u64>,
}

/// Read `tp{N}[-pp{N}][-dp{N}]` (separators `-` or `_`); `None` unless the whole component
/// matches (`tp2-sweep` does not).
pub fn parse_parallelism(component: &str) -> Option<Parallelism> {
    let rest = component.strip_prefix("tp")?;
    let (tp, mut rest) = leading_int(rest)?;
    let mut take = |name: &str| -> Option<Option<u64>> {
        let Some(after_sep) = rest.strip_prefix(['-', '_']) else {
            return Some(None);
        };
        let Some(after_name) = after_sep.strip_prefix(name) else {
            return Some(None);
        };
        let (value, after) = leading_int(after_name)?;
        rest = after;
        Some(Some(value))
    };
    let pp = take("pp")?;
    let dp = take("dp")?;
    rest.is_empty().then_some(Parallelism { tp, pp, dp })
}

/// Split a leading run of ASCII digits off `text` and read it; `None` when there is none or
/// it does not fit a `u64`.
fn leading_int(text: &str) -> Option<(u64, &str)> {
    let end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// Read the config fields from the components of a run directory's path relative to
/// `--root` (everything before `inference_logs`), as `docs/results.md` says.
///
/// Components between the prompt and the model (a local model path's extra level) are
/// neither fields nor warnings.
pub fn fields_from_components<S: AsRef<str>>(components: &[S]) -> ParsedFields {
    let component = |i: usize| components.get(i).map_or("", AsRef::as_ref);
    let mut fields = RunFields {
        experiment: component(0).to_owned(),
        prompt_template_name: component(1).to_owned(),
        ..RunFields::default()
    };
    let tp_index = (2..components.len())
        .find_map(|i| parse_parallelism(component(i)).map(|parallelism| (i, parallelism)));
    let first_prefixed = if let Some((i, parallelism)) = tp_index {
        component(i - 1).clone_into(&mut fields.model);
        fields.tp = Some(parallelism.tp);
        fields.pp = parallelism.pp;
        fields.dp = parallelism.dp;
        i + 1
    } else {
        component(2).clone_into(&mut fields.model);
        3
    };
    let mut unknown = Vec::new();
    let mut seen = [false; 7];
    for text in components.iter().skip(first_prefixed).map(AsRef::as_ref) {
        if !read_prefixed(&mut fields, &mut seen, text) {
            unknown.push(text.to_owned());
        }
    }
    ParsedFields { fields, unknown }
}

/// Store one prefixed component into `fields`; `false` when it is unknown, not an integer
/// where one is needed, or a prefix already seen.
fn read_prefixed(fields: &mut RunFields, seen: &mut [bool; 7], text: &str) -> bool {
    let Some((slot, segment)) = Segment::ALL
        .into_iter()
        .enumerate()
        .find(|(_, segment)| text.starts_with(segment.prefix()))
    else {
        return false;
    };
    if segment.is_integer() {
        let Some((value, "")) = leading_int(segment.strip(text)) else {
            return false;
        };
        if std::mem::replace(&mut seen[slot], true) {
            return false;
        }
        *fields.integer_mut(segment) = Some(value);
    } else {
        if std::mem::replace(&mut seen[slot], true) {
            return false;
        }
        text.clone_into(fields.name_mut(segment));
    }
    true
}

impl RunFields {
    /// A segment's value as the tables show it: an integer in decimal (empty when the path
    /// does not give it), a name without its prefix (`kvc_fp8e4m3` -> `fp8e4m3`).
    pub fn segment_value(&self, segment: Segment) -> String {
        match segment {
            Segment::MaxNumSeqs => int_text(self.max_num_seqs),
            Segment::MaxNumBatchedTokens => int_text(self.max_num_batched_tokens),
            Segment::GpuMemoryUtilization => int_text(self.gpu_memory_percent),
            Segment::BlockSize => int_text(self.block_size),
            Segment::KvCacheDtype => segment.strip(&self.kv_cache_dtype).to_owned(),
            Segment::Speculative => segment.strip(&self.speculative).to_owned(),
            Segment::Quantization => segment.strip(&self.quantization).to_owned(),
        }
    }

    /// The integer field of an integer segment (`mns_`, `mnbt_`, `gmu_`, `bs_`).
    fn integer_mut(&mut self, segment: Segment) -> &mut Option<u64> {
        match segment {
            Segment::MaxNumSeqs => &mut self.max_num_seqs,
            Segment::MaxNumBatchedTokens => &mut self.max_num_batched_tokens,
            Segment::GpuMemoryUtilization => &mut self.gpu_memory_percent,
            _ => &mut self.block_size,
        }
    }

    /// The text field of a named segment (`kvc_`, `spec_`, `quant_`), prefix included.
    fn name_mut(&mut self, segment: Segment) -> &mut String {
        match segment {
            Segment::KvCacheDtype => &mut self.kv_cache_dtype,
            Segment::Speculative => &mut self.speculative,
            _ => &mut self.quantization,
        }
    }
}

/// An integer in decimal, empty when missing.
fn int_text(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Order of the config columns (`docs/results.md`): column by column, integers
/// numerically, strings by byte order, empty values last.
pub fn compare_config(a: &RunFields, b: &RunFields) -> Ordering {
    compare_text(&a.experiment, &b.experiment)
        .then_with(|| compare_text(&a.prompt_template_name, &b.prompt_template_name))
        .then_with(|| compare_text(&a.model, &b.model))
        .then_with(|| compare_int(a.tp, b.tp))
        .then_with(|| compare_int(a.pp, b.pp))
        .then_with(|| compare_int(a.dp, b.dp))
        .then_with(|| compare_int(a.max_num_seqs, b.max_num_seqs))
        .then_with(|| compare_int(a.max_num_batched_tokens, b.max_num_batched_tokens))
        .then_with(|| compare_int(a.gpu_memory_percent, b.gpu_memory_percent))
        .then_with(|| compare_int(a.block_size, b.block_size))
        .then_with(|| compare_text(&a.kv_cache_dtype, &b.kv_cache_dtype))
        .then_with(|| compare_text(&a.speculative, &b.speculative))
        .then_with(|| compare_text(&a.quantization, &b.quantization))
}

/// Byte order, the empty string last.
fn compare_text(a: &str, b: &str) -> Ordering {
    (a.is_empty(), a.as_bytes()).cmp(&(b.is_empty(), b.as_bytes()))
}

/// Numeric order, `None` last.
fn compare_int(a: Option<u64>, b: Option<u64>) -> Ordering {
    (a.is_none(), a).cmp(&(b.is_none(), b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> ParsedFields {
        let components: Vec<&str> = path.split('/').collect();
        fields_from_components(&components)
    }

    #[test]
    fn full_layout_gives_every_field() {
        let parsed = parse(
            "tier0-tiny/tutorial/SmolLM2_135M_Instruct/tp2-pp1-dp1/mns_512/mnbt_32768/gmu_95/bs_32/kvc_fp8e4m3/spec_ngram_6/quant_bnb",
        );
        assert_eq!(
            parsed.fields,
            RunFields {
                experiment: "tier0-tiny".into(),
                prompt_template_name: "tutorial".into(),
                model: "SmolLM2_135M_Instruct".into(),
                tp: Some(2),
                pp: Some(1),
                dp: Some(1),
                max_num_seqs: Some(512),
                max_num_batched_tokens: Some(32768),
                gpu_memory_percent: Some(95),
                block_size: Some(32),
                kv_cache_dtype: "kvc_fp8e4m3".into(),
                speculative: "spec_ngram_6".into(),
                quantization: "quant_bnb".into(),
            }
        );
        assert!(parsed.unknown.is_empty());
    }

    #[test]
    fn experiment_named_like_tp_is_not_parallelism() {
        let parsed = parse("tp2-sweep/default/Qwen3_4B/tp4-pp1-dp1/mns_256");
        assert_eq!(parsed.fields.experiment, "tp2-sweep");
        assert_eq!(parsed.fields.model, "Qwen3_4B");
        assert_eq!(parsed.fields.tp, Some(4));
        assert_eq!(parsed.fields.max_num_seqs, Some(256));
    }

    #[test]
    fn a_prompt_named_like_tp_is_not_parallelism() {
        let parsed = parse("exp/tp8/Qwen3_4B/tp1/mns_256");
        assert_eq!(parsed.fields.prompt_template_name, "tp8");
        assert_eq!(parsed.fields.model, "Qwen3_4B");
        assert_eq!(parsed.fields.tp, Some(1));
    }

    #[test]
    fn tp_without_pp_and_dp_leaves_them_empty() {
        let parsed = parse("exp/default/m/tp2/mns_256");
        assert_eq!(
            (parsed.fields.tp, parsed.fields.pp, parsed.fields.dp),
            (Some(2), None, None)
        );
        let parsed = parse("exp/default/m/tp2_dp4/mns_256");
        assert_eq!(
            (parsed.fields.tp, parsed.fields.pp, parsed.fields.dp),
            (Some(2), None, Some(4))
        );
        let parsed = parse("exp/default/m/tp1_pp2_dp3");
        assert_eq!(
            (parsed.fields.tp, parsed.fields.pp, parsed.fields.dp),
            (Some(1), Some(2), Some(3))
        );
    }

    #[test]
    fn parallelism_segment_must_match_whole() {
        for text in [
            "tp",
            "tp2-",
            "tp2-sweep",
            "tp2-pp",
            "tp2-dp1-pp1",
            "xtp2",
            "tp2pp1",
            "tp-2",
        ] {
            assert_eq!(parse_parallelism(text), None, "{text}");
        }
        assert_eq!(
            parse_parallelism("tp8-pp2"),
            Some(Parallelism {
                tp: 8,
                pp: Some(2),
                dp: None
            })
        );
    }

    #[test]
    fn missing_bs_keeps_the_others() {
        let parsed = parse(
            "exp/default/m/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/kvc_auto/spec_suffix_32/quant_none",
        );
        let f = &parsed.fields;
        assert_eq!(
            (
                f.max_num_seqs,
                f.max_num_batched_tokens,
                f.gpu_memory_percent,
                f.block_size
            ),
            (Some(256), Some(8192), Some(90), None)
        );
        assert_eq!(f.speculative, "spec_suffix_32");
        assert!(parsed.unknown.is_empty());
    }

    #[test]
    fn prefixed_components_in_any_order_with_defaults() {
        let parsed = parse("exp/default/m/tp1/bs_16/gmu_90/mns_256");
        let f = &parsed.fields;
        assert_eq!(
            (
                f.max_num_seqs,
                f.max_num_batched_tokens,
                f.gpu_memory_percent,
                f.block_size
            ),
            (Some(256), None, Some(90), Some(16))
        );
        assert_eq!(
            (
                f.kv_cache_dtype.as_str(),
                f.speculative.as_str(),
                f.quantization.as_str()
            ),
            ("kvc_auto", "spec_none", "quant_none")
        );
    }

    #[test]
    fn unknown_components_are_reported_and_shift_nothing() {
        let parsed = parse("exp/default/m/tp1/mns_256/extra/mns_512/gmu_x/bs_16");
        assert_eq!(parsed.fields.max_num_seqs, Some(256));
        assert_eq!(parsed.fields.gpu_memory_percent, None);
        assert_eq!(parsed.fields.block_size, Some(16));
        assert_eq!(parsed.unknown, ["extra", "mns_512", "gmu_x"]);
    }

    #[test]
    fn local_model_path_takes_the_component_before_tp() {
        let parsed = parse("exp/default/models/Qwen3_4B/tp1-pp1-dp1/mns_256");
        assert_eq!(parsed.fields.model, "Qwen3_4B");
        assert!(parsed.unknown.is_empty());
    }

    #[test]
    fn without_tp_segment_the_third_component_is_the_model() {
        let parsed = parse("exp/default/Qwen3_4B/mns_256");
        assert_eq!(parsed.fields.model, "Qwen3_4B");
        assert_eq!(parsed.fields.tp, None);
        assert_eq!(parsed.fields.max_num_seqs, Some(256));
    }

    #[test]
    fn short_paths_give_empty_fields() {
        let parsed = fields_from_components::<&str>(&[]);
        assert_eq!(parsed.fields, RunFields::default());
        let parsed = parse("exp");
        assert_eq!(parsed.fields.experiment, "exp");
        assert_eq!(parsed.fields.model, "");
    }

    #[test]
    fn config_order_is_numeric_byte_order_empty_last() {
        let base = RunFields::default();
        let with = |f: fn(&mut RunFields)| {
            let mut fields = base.clone();
            f(&mut fields);
            fields
        };
        let qwen = with(|f| f.model = "Qwen3_4B".into());
        let gemma = with(|f| f.model = "gemma_3_1b_it".into());
        let empty_model = with(|f| f.model = String::new());
        assert_eq!(compare_config(&qwen, &gemma), Ordering::Less);
        assert_eq!(compare_config(&gemma, &empty_model), Ordering::Less);
        let mns_9 = with(|f| f.max_num_seqs = Some(9));
        let mns_10 = with(|f| f.max_num_seqs = Some(10));
        let mns_none = with(|f| f.max_num_seqs = None);
        assert_eq!(compare_config(&mns_9, &mns_10), Ordering::Less);
        assert_eq!(compare_config(&mns_10, &mns_none), Ordering::Less);
    }
}
