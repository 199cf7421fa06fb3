//! The run layout read back: for any run the config validation accepts, the directory
//! `launch` computes parses back (as `analyze` reads it) to the same config columns.

use bench_core::layout::{
    KvCacheDtype, PathFields, Quantization, RunFields, SpeculativeDecoding, check_dir_name,
    check_model, check_output_dir, check_prompt_name, fields_from_components,
};
use proptest::prelude::*;

/// Names mixing ordinary words with ones that look like layout segments.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => "[A-Za-z0-9][A-Za-z0-9._-]{0,12}",
        1 => Just("tp2".to_owned()),
        1 => Just("tp1-pp1-dp1".to_owned()),
        1 => Just("tp4_dp2".to_owned()),
        1 => Just("tp2-sweep".to_owned()),
        1 => Just("mns_512".to_owned()),
        1 => Just("spec_none".to_owned()),
        1 => Just("inference_logs".to_owned()),
        1 => Just("default".to_owned()),
        1 => Just(".".to_owned()),
    ]
}

/// A model: `org/name`, a deeper hub-like path, or a local path.
fn model() -> impl Strategy<Value = String> {
    prop_oneof![
        (name(), name()).prop_map(|(org, name)| format!("{org}/{name}")),
        (name(), name(), name()).prop_map(|(org, a, b)| format!("{org}/{a}/{b}")),
        (name(), name()).prop_map(|(a, b)| format!("/models/{a}/{b}")),
        name(),
    ]
}

fn kv_cache_dtype() -> impl Strategy<Value = KvCacheDtype> {
    prop_oneof![
        Just(KvCacheDtype::Auto),
        Just(KvCacheDtype::Fp8E4m3),
        Just(KvCacheDtype::Fp8E5m2),
    ]
}

fn speculative() -> impl Strategy<Value = SpeculativeDecoding> {
    prop_oneof![
        Just(SpeculativeDecoding::None),
        ("[a-z]{1,8}", 0u32..10).prop_map(|(method, tokens)| SpeculativeDecoding::Method {
            method,
            tokens: tokens.to_string()
        }),
        ("[a-z]{1,5}/[a-z0-9-]{1,8}", 0u32..10).prop_map(|(model, tokens)| {
            SpeculativeDecoding::DraftModel {
                model,
                tokens: tokens.to_string(),
            }
        }),
    ]
}

prop_compose! {
    fn names()(
        output_dir in prop_oneof![Just("data".to_owned()), Just("/scratch/out/".to_owned()), name()],
        experiment in name(),
        prompt in proptest::option::of(name()),
        model in model(),
    ) -> (String, String, Option<String>, String) {
        (output_dir, experiment, prompt, model)
    }
}

prop_compose! {
    fn sizes()(
        tp in 1u32..=8, pp in 1u32..=2, dp in 1u32..=4,
        max_num_seqs in 1u64..100_000,
        max_num_batched_tokens in 1u64..1_000_000,
        gmu in 1u32..=100,
        block_size in 1u64..1000,
    ) -> (u32, u32, u32, u64, u64, f64, u64) {
        (tp, pp, dp, max_num_seqs, max_num_batched_tokens, f64::from(gmu) / 100.0, block_size)
    }
}

prop_compose! {
    fn path_fields()(
        (output_dir, experiment, prompt_template_name, model) in names(),
        (tp, pp, dp, max_num_seqs, max_num_batched_tokens, gpu_memory_utilization, block_size)
            in sizes(),
        kv_cache_dtype in kv_cache_dtype(),
        speculative in speculative(),
        bnb in any::<bool>(),
    ) -> PathFields {
        PathFields {
            output_dir,
            experiment,
            prompt_template_name,
            model,
            tp, pp, dp,
            max_num_seqs,
            max_num_batched_tokens,
            gpu_memory_utilization,
            block_size,
            kv_cache_dtype,
            speculative,
            quantization: if bnb { Quantization::BitsAndBytes } else { Quantization::None },
        }
    }
}

/// Whether the config validation accepts these names (the checks `launch` applies to them).
fn accepted(fields: &PathFields) -> bool {
    check_output_dir(&fields.output_dir).is_ok()
        && check_dir_name(&fields.experiment).is_ok()
        && fields
            .prompt_template_name
            .as_deref()
            .is_none_or(|name| check_prompt_name(name).is_ok())
        && check_model(&fields.model).is_ok()
}

/// The config columns a run should read back as, written from the documented layout: the
/// model column is the last directory of the model after its organisation, `-` as `_`.
fn expected_columns(fields: &PathFields) -> RunFields {
    let model_dir = fields
        .model
        .split_once('/')
        .map_or(fields.model.as_str(), |(_, rest)| rest)
        .replace('-', "_");
    let kvc = match fields.kv_cache_dtype {
        KvCacheDtype::Auto => "kvc_auto",
        KvCacheDtype::Fp8E4m3 => "kvc_fp8e4m3",
        KvCacheDtype::Fp8E5m2 => "kvc_fp8e5m2",
    };
    let spec = match &fields.speculative {
        SpeculativeDecoding::None => "spec_none".to_owned(),
        SpeculativeDecoding::Method { method, tokens } => format!("spec_{method}_{tokens}"),
        SpeculativeDecoding::DraftModel { model, tokens } => {
            format!("spec_{}_{tokens}", model.replace(['/', '-'], "_"))
        }
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0..=100"
    )]
    let percent = (fields.gpu_memory_utilization * 100.0).trunc() as u64;
    RunFields {
        experiment: fields.experiment.clone(),
        prompt_template_name: fields
            .prompt_template_name
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        model: model_dir.rsplit('/').next().unwrap_or_default().to_owned(),
        tp: Some(fields.tp.into()),
        pp: Some(fields.pp.into()),
        dp: Some(fields.dp.into()),
        max_num_seqs: Some(fields.max_num_seqs),
        max_num_batched_tokens: Some(fields.max_num_batched_tokens),
        gpu_memory_percent: Some(percent),
        block_size: Some(fields.block_size),
        kv_cache_dtype: kvc.to_owned(),
        speculative: spec,
        quantization: match fields.quantization {
            Quantization::None => "quant_none",
            Quantization::BitsAndBytes => "quant_bnb",
        }
        .to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_accepted_run_directory_reads_back_to_its_config_columns(fields in path_fields()) {
        prop_assume!(accepted(&fields));
        let run_dir = fields.run_dir();
        let below_root = run_dir
            .as_str()
            .strip_prefix(fields.output_dir.trim_end_matches('/'))
            .and_then(|rest| rest.strip_prefix('/'))
            .expect("the run directory starts with output-dir");
        let components: Vec<&str> = below_root.split('/').collect();
        let parsed = fields_from_components(&components);
        prop_assert_eq!(parsed.unknown, Vec::<String>::new());
        prop_assert_eq!(parsed.fields, expected_columns(&fields));
    }
}

#[test]
fn names_that_would_shift_the_columns_are_refused() {
    for model in [
        "org/tp2",
        "org/tp1-pp1-dp1/x",
        "org/a/tp4_dp2",
        "org/inference_logs",
    ] {
        assert!(check_model(model).is_err(), "{model}");
    }
    for prompt in ["tp2", "tp1-pp1-dp1", "inference_logs"] {
        assert!(check_prompt_name(prompt).is_err(), "{prompt}");
    }
    assert!(check_dir_name("inference_logs").is_err());
    // Two spellings of one directory.
    assert!(check_output_dir("results//a").is_err());
    assert!(check_output_dir("results/a/").is_ok());
    // Names that only start like a segment are fine.
    assert!(check_model("org/tp2-sweep").is_ok());
    assert!(check_prompt_name("tp2-sweep").is_ok());
    assert!(check_dir_name("tp2").is_ok());
}
