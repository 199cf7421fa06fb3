//! Properties of sweep expansion (`docs/config.md`, 4, 5) over random small configs:
//! the run count is the product of the sweep list lengths, and two runs share a run
//! directory only when they share every path field (otherwise the config is refused).
//!
//! The expected directory components are written out by hand per pool value, so the oracle
//! does not reuse the code under test.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use bench_core::config::ProblemKind;
use proptest::prelude::*;

/// (YAML value, expected directory component) per sweepable key, in sorted key order.
const GMU: &[(&str, &str)] = &[
    ("0.5", "gmu_50"),
    ("0.56", "gmu_56"),
    ("0.57", "gmu_56"),
    ("0.58", "gmu_57"),
    ("0.9", "gmu_90"),
];
const KVC: &[(&str, &str)] = &[
    ("auto", "kvc_auto"),
    ("fp8_e4m3", "kvc_fp8e4m3"),
    ("FP8_E5M2", "kvc_fp8e5m2"),
];
const MNS: &[(&str, &str)] = &[("64", "mns_64"), ("256", "mns_256"), ("4096", "mns_4096")];
const MODEL: &[(&str, &str)] = &[
    ("org/a-1", "a_1"),
    ("org/a_1", "a_1"),
    ("x/b.c", "b.c"),
    ("/m/x-y", "m/x_y"),
];
const PROMPT: &[(&str, &str)] = &[
    ("[\"a\", \"A [[DOCUMENT]]\"]", "a"),
    ("[\"b.v2\", \"B [[DOCUMENT]]\"]", "b.v2"),
];
const TP: &[(&str, &str)] = &[("1", "tp1"), ("2", "tp2"), ("4", "tp4")];

/// The keys in byte order, with their pools.
const KEYS: [(&str, &[(&str, &str)]); 6] = [
    ("gpu-memory-utilization", GMU),
    ("kv-cache-dtype", KVC),
    ("max-num-seqs", MNS),
    ("model-name-or-path", MODEL),
    ("prompt-template", PROMPT),
    ("tp", TP),
];

/// One generated key: distinct pool indices, in `fixed_args` or not, scalar when single.
#[derive(Debug, Clone)]
struct KeyChoice {
    indices: Vec<usize>,
    in_fixed_args: bool,
    scalar_when_single: bool,
}

fn key_choice(pool_len: usize, max_len: usize) -> impl Strategy<Value = KeyChoice> {
    (
        proptest::sample::subsequence((0..pool_len).collect::<Vec<_>>(), 1..=max_len)
            .prop_shuffle(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(indices, in_fixed_args, scalar_when_single)| KeyChoice {
            indices,
            in_fixed_args,
            scalar_when_single,
        })
}

fn config_yaml(choices: &[KeyChoice]) -> String {
    let mut fixed = String::new();
    let mut args = String::new();
    for ((key, pool), choice) in KEYS.iter().zip(choices) {
        let values: Vec<&str> = choice.indices.iter().map(|&i| pool[i].0).collect();
        let value = if values.len() == 1 && choice.scalar_when_single {
            values[0].to_owned()
        } else {
            format!("[{}]", values.join(", "))
        };
        let line = format!("{key}: {value}\n");
        if choice.in_fixed_args {
            fixed += "  ";
            fixed += &line;
        } else {
            args += "      ";
            args += &line;
        }
    }
    format!("script: s.py\nfixed_args:\n{fixed}experiments:\n  - name: p\n    args:\n{args}")
}

/// The expected run directories, in product order (sorted keys, last fastest).
fn expected_dirs(choices: &[KeyChoice]) -> Vec<String> {
    let mut dirs = vec![Vec::<&str>::new()];
    for ((_, pool), choice) in KEYS.iter().zip(choices) {
        dirs = dirs
            .into_iter()
            .flat_map(|prefix| {
                choice.indices.iter().map(move |&i| {
                    let mut next = prefix.clone();
                    next.push(pool[i].1);
                    next
                })
            })
            .collect();
    }
    dirs.into_iter()
        .map(|c| {
            let [gmu, kvc, mns, model, prompt, tp] = c[..] else {
                unreachable!("six keys")
            };
            format!(
                "data/p/{prompt}/{model}/{tp}-pp1-dp1/{mns}/mnbt_8192/{gmu}/bs_16/{kvc}/spec_none/quant_none"
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn run_count_is_the_product_and_directories_follow_the_path_fields(
        choices in (
            key_choice(GMU.len(), 3),
            key_choice(KVC.len(), 3),
            key_choice(MNS.len(), 2),
            key_choice(MODEL.len(), 3),
            key_choice(PROMPT.len(), 2),
            key_choice(TP.len(), 3),
        ).prop_map(|(a, b, c, d, e, f)| vec![a, b, c, d, e, f])
    ) {
        let yaml = config_yaml(&choices);
        let expected = expected_dirs(&choices);
        let product: usize = choices.iter().map(|c| c.indices.len()).product();
        prop_assert_eq!(expected.len(), product);

        let mut combos_per_dir: BTreeMap<&str, usize> = BTreeMap::new();
        for dir in &expected {
            *combos_per_dir.entry(dir).or_default() += 1;
        }
        let shared: BTreeSet<&str> = combos_per_dir
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(d, _)| *d)
            .collect();

        match common::load(&yaml) {
            Ok(sweep) => {
                // Distinct values in distinct directories: one run per combination.
                prop_assert!(shared.is_empty(), "accepted although {shared:?} are shared\n{yaml}");
                let dirs: Vec<String> = sweep.runs.iter().map(|r| r.run_dir.to_string()).collect();
                prop_assert_eq!(dirs, expected);
                prop_assert!(sweep.notes.is_empty());
            }
            Err(errors) => {
                // Refused only because combinations with different values share a directory.
                let mut conflicting = BTreeSet::new();
                for problem in &errors.problems {
                    match &problem.kind {
                        ProblemKind::DirectoryConflict { run_dir, .. } => {
                            conflicting.insert(run_dir.clone());
                        }
                        other => prop_assert!(false, "unexpected problem {other:?}\n{yaml}"),
                    }
                }
                let shared: BTreeSet<String> = shared.iter().map(|d| (*d).to_owned()).collect();
                prop_assert_eq!(conflicting, shared);
            }
        }
    }
}
