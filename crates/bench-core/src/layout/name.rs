//! Run names, also the SLURM job names (`docs/run-directory.md`).
//!
//! Names are not unique (the sample config has 759 runs and 741 names): a run is identified
//! by its directory ([`super::RunDir`]).

use super::{
    DEFAULT_BLOCK_SIZE, DEFAULT_GPU_MEMORY_UTILIZATION, DEFAULT_MAX_NUM_BATCHED_TOKENS,
    DEFAULT_MAX_NUM_SEQS, KvCacheDtype, PathFields, Quantization, Segment, gmu_percent, model_safe,
};

/// The run name: only the parts that differ from the inference script's defaults, joined
/// with `-`, in this order: the sanitized prompt template name (for a `[name, template]`
/// pair), the model (always, as [`model_safe`]), `tp{N}`/`pp{N}`/`dp{N}` when not 1,
/// `mns_{N}` when not 256, `mnbt_{N}` when not 8192, `gmu_{P}` when the fraction is not 0.9,
/// `bs_{N}` when not 16, then the kvc segment when not auto, the spec segment and the quant
/// segment when set.
///
/// Example: Qwen/Qwen3-4B, tp 2, mns 512, spec ngram 6 -> `Qwen3_4B-tp2-mns_512-spec_ngram_6`.
pub fn run_name(fields: &PathFields) -> String {
    let mut parts = Vec::new();
    if let Some(prompt) = &fields.prompt_template_name {
        let prompt = sanitize_prompt_name(prompt);
        if !prompt.is_empty() {
            parts.push(prompt);
        }
    }
    parts.push(model_safe(&fields.model));
    for (prefix, size) in [("tp", fields.tp), ("pp", fields.pp), ("dp", fields.dp)] {
        if size != 1 {
            parts.push(format!("{prefix}{size}"));
        }
    }
    if fields.max_num_seqs != DEFAULT_MAX_NUM_SEQS {
        parts.push(Segment::MaxNumSeqs.with(fields.max_num_seqs));
    }
    if fields.max_num_batched_tokens != DEFAULT_MAX_NUM_BATCHED_TOKENS {
        parts.push(Segment::MaxNumBatchedTokens.with(fields.max_num_batched_tokens));
    }
    // The rule compares the fraction as given with vLLM's default, exactly.
    if fields.gpu_memory_utilization != DEFAULT_GPU_MEMORY_UTILIZATION {
        parts.push(Segment::GpuMemoryUtilization.with(gmu_percent(fields.gpu_memory_utilization)));
    }
    if fields.block_size != DEFAULT_BLOCK_SIZE {
        parts.push(Segment::BlockSize.with(fields.block_size));
    }
    if fields.kv_cache_dtype != KvCacheDtype::Auto {
        parts.push(fields.kv_cache_dtype.segment());
    }
    if fields.speculative.is_set() {
        parts.push(fields.speculative.segment());
    }
    if fields.quantization != Quantization::None {
        parts.push(fields.quantization.segment());
    }
    parts.join("-")
}

/// A prompt template name as it appears in run names: `/` to `-`, each run of characters
/// outside `[A-Za-z0-9._-]` to `_`, repeated `_` collapsed, `_` trimmed at both ends.
pub fn sanitize_prompt_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match c {
            '/' => '-',
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.trim_matches('_').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::SpeculativeDecoding;

    #[test]
    fn documented_example() {
        let fields = PathFields {
            model: "Qwen/Qwen3-4B".into(),
            tp: 2,
            max_num_seqs: 512,
            speculative: SpeculativeDecoding::Method {
                method: "ngram".into(),
                tokens: "6".into(),
            },
            ..PathFields::default()
        };
        assert_eq!(run_name(&fields), "Qwen3_4B-tp2-mns_512-spec_ngram_6");
    }

    #[test]
    fn every_part_in_order() {
        let fields = PathFields {
            prompt_template_name: Some("my/prompt v2".into()),
            model: "org/m-1".into(),
            tp: 2,
            pp: 3,
            dp: 4,
            max_num_seqs: 1,
            max_num_batched_tokens: 2,
            gpu_memory_utilization: 0.58,
            block_size: 32,
            kv_cache_dtype: KvCacheDtype::Fp8E5m2,
            speculative: SpeculativeDecoding::DraftModel {
                model: "org/d-1".into(),
                tokens: "5".into(),
            },
            quantization: Quantization::BitsAndBytes,
            ..PathFields::default()
        };
        assert_eq!(
            run_name(&fields),
            "my-prompt_v2-m_1-tp2-pp3-dp4-mns_1-mnbt_2-gmu_57-bs_32-kvc_fp8e5m2-spec_org_d_1_5-quant_bnb"
        );
    }

    #[test]
    fn default_settings_give_the_model_alone() {
        assert_eq!(run_name(&PathFields::default()), "Qwen3_0.6B");
    }

    #[test]
    fn prompt_names_are_sanitized() {
        let cases = [
            ("tutorial", "tutorial"),
            ("a/b", "a-b"),
            ("__a  b__", "a_b"),
            ("a_+_b", "a_b"),
            ("é.x", ".x"),
            ("été 2", "t_2"),
            ("___", ""),
        ];
        for (name, sanitized) in cases {
            assert_eq!(sanitize_prompt_name(name), sanitized, "{name}");
        }
    }
}
