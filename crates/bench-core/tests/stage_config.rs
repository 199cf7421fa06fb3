//! The checks of a stage's `from:` (`docs/stages.md` section 1), each with its exact
//! message, through `load_sweep`.

use crate::common::problems;

/// A config whose first experiment `tier0-tiny` sweeps max-num-seqs, then `entries` (YAML
/// list items, indented as under `experiments:`).
fn with_stages(entries: &str) -> String {
    format!(
        "script: s.py\nexperiments:\n  - name: tier0-tiny\n    args:\n      max-num-seqs: [256, 512]\n{entries}"
    )
}

/// The problems of one stage entry `b` (entry 2) with the given `from:` and `args:` lines.
fn stage_problems(from: &str, args: &str) -> Vec<String> {
    let mut entry = format!("  - name: b\n    from: {from}\n");
    if !args.is_empty() {
        entry = format!("{entry}    args:\n      {args}\n");
    }
    problems(&with_stages(&entry))
}

const AT: &str = "experiment `b` (entry 2 of `experiments`)";

#[test]
fn each_rule_of_from_has_its_message() {
    let cases: [(&str, &str, String); 14] = [
        (
            "{experiment: \"\", inherit: [tp]}",
            "",
            format!(
                "{AT}, `from.experiment`, value ``: names no experiment listed before this entry"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [tp, 3]}",
            "",
            format!(
                "{AT}, `from.inherit`, value `3`: expected an arg key (a string), found an integer"
            ),
        ),
        (
            "{experiment: tier0-tny, inherit: [tp]}",
            "",
            format!(
                "{AT}, `from.experiment`, value `tier0-tny`: names no experiment listed before \
                 this entry; did you mean `tier0-tiny`?"
            ),
        ),
        (
            "{experiment: b, inherit: [tp]}",
            "",
            format!(
                "{AT}, `from.experiment`, value `b`: names this stage itself; a stage takes the \
                 winners of an experiment listed before it"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: []}",
            "",
            format!(
                "{AT}, `from.inherit`: empty list; name the keys that take the winners' values, \
                 e.g. `[tp, max-num-seqs]`"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [model-name-or-path]}",
            "",
            format!(
                "{AT}, `from.inherit`, value `model-name-or-path`: cannot be inherited: the \
                 source's runs are grouped by `model-name-or-path` and `prompt-template`, and \
                 each group's stage runs keep the group's own"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [max_num_seq]}",
            "",
            format!(
                "{AT}, `from.inherit`, value `max_num_seq`: unknown key; did you mean \
                 `max-num-seqs`?"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [max-examples]}",
            "",
            format!(
                "{AT}, `from.inherit`, value `max-examples`: is not part of the run directory, \
                 so the stage runs of two winners could share one directory; inherit only tp, \
                 pp, dp, max-num-seqs, max-num-batched-tokens, gpu-memory-utilization, \
                 block-size, kv-cache-dtype, speculative-config, quantization"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [tp, max-num-seqs]}",
            "max_num_seqs: [1024]",
            format!(
                "{AT}, `max_num_seqs`: is inherited from the source's winners \
                 (`from.inherit`); remove it from the stage's `args`"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [tp], top: 0}",
            "",
            format!("{AT}, `from.top`, value `0`: must be from 1 to 100 winners per group"),
        ),
        (
            "{experiment: tier0-tiny, inherit: [tp], top: 101}",
            "",
            format!("{AT}, `from.top`, value `101`: must be from 1 to 100 winners per group"),
        ),
        (
            "{experiment: tier0-tiny, inherit: [tp], top: \"2\"}",
            "",
            format!(
                "{AT}, `from.top`, value `2`: expected an integer from 1 to 100, found a string"
            ),
        ),
        (
            "{experiment: tier0-tiny, inherit: [tp], tops: 2}",
            "",
            format!("{AT}, `from.tops`: unknown key; did you mean `top`?"),
        ),
        (
            "tier0-tiny",
            "",
            format!(
                "{AT}, `from`, value `tier0-tiny`: expected a mapping with `experiment`, \
                 `inherit` and optionally `top`, found a string"
            ),
        ),
    ];
    for (from, args, expected) in cases {
        assert_eq!(
            stage_problems(from, args),
            [expected],
            "from: {from}, args: {args}"
        );
    }
}

#[test]
fn a_source_named_later_and_the_group_keys_in_a_stage_are_refused() {
    let yaml = with_stages(
        "  - name: b\n    from: {experiment: c, inherit: [tp]}\n  - name: c\n    args:\n      \
         tp: [1]\n  - name: d\n    from: {experiment: c, inherit: [tp]}\n    args:\n      \
         model-name-or-path: org/other\n",
    );
    assert_eq!(
        problems(&yaml),
        [
            format!(
                "{AT}, `from.experiment`, value `c`: names an experiment listed after this \
                 entry; a stage takes the winners of an experiment listed before it (move this \
                 stage below it)"
            ),
            "experiment `d` (entry 4 of `experiments`), `model-name-or-path`: comes from the \
             source: the stage runs each model and prompt template of its source; remove it \
             from the stage's `args`"
                .to_owned(),
        ]
    );
}

#[test]
fn a_stage_sweeping_a_key_outside_the_run_directory_is_the_same_directory_error() {
    let found = stage_problems(
        "{experiment: tier0-tiny, inherit: [max-num-seqs]}",
        "max-examples: [10, 20]",
    );
    assert_eq!(
        found,
        [format!(
            "{AT}, `max-examples`, value `20`: run `Qwen3_0.6B` has the same run directory \
             `data/b/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/\
             spec_none/quant_none` as the run of {AT} (`max-examples` = `10`), with different \
             settings: the inference script would write both into it; `max-examples` has no \
             place in the run directory, so runs differing only in it cannot share an \
             experiment: sweep its values in separate experiments (one per value, each with its \
             own name)"
        )]
    );
}

#[test]
fn chains_load_with_their_probe_runs() {
    let yaml = with_stages(
        "  - name: b\n    from: {experiment: tier0-tiny, inherit: [tp, max-num-seqs], top: 2}\n    \
         args:\n      max-num-batched-tokens: [8192, 16384, 32768]\n  - name: c\n    from: \
         {experiment: b, inherit: [tp, max-num-seqs, max-num-batched-tokens]}\n    args:\n      \
         gpu-memory-utilization: [0.9, 0.95]\n",
    );
    let sweep = crate::common::load(&yaml).expect("a valid staged config");
    assert_eq!(
        sweep.runs.len(),
        2,
        "only the first experiment's runs are known"
    );
    let stages: Vec<(&str, &str, Vec<&str>, usize, u64)> = sweep
        .stages
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.source.as_str(),
                s.inherit.clone(),
                s.top,
                s.runs_per_winner,
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("b", "tier0-tiny", vec!["tp", "max-num-seqs"], 2, 3),
            (
                "c",
                "b",
                vec!["tp", "max-num-seqs", "max-num-batched-tokens"],
                1,
                2
            ),
        ]
    );
    // c's probe carries b's probe's first run: mns 256 from tier0-tiny, mnbt 8192 from b.
    assert_eq!(
        sweep.stages[1].probe[1].run_dir.as_str(),
        "data/c/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_95/bs_16/kvc_auto/spec_none/quant_none"
    );
}

#[test]
fn stage_runs_beyond_the_runs_limit_are_refused_not_expanded() {
    let yaml = with_stages(
        "  - name: b\n    from: {experiment: tier0-tiny, inherit: [max-num-seqs]}\n    args:\n      \
         block-size: [16, 32]\n",
    );
    let mut sweep = crate::common::load(&yaml).expect("a valid staged config");
    assert_eq!(sweep.stages[0].runs_per_winner, 2);
    // As if the stage swept 99,999 combinations: with the source's 2 runs, its first winner
    // would pass 100,000 runs. Refused before anything is expanded.
    sweep.stages[0].runs_per_winner = 99_999;
    let errors = sweep
        .resolve_stages("test.yaml", &mut |_| {
            bench_core::stage::Outcome::Completed(Some(1.0))
        })
        .expect_err("more than 100,000 runs");
    let messages: Vec<String> = errors.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [format!(
            "{AT}, `from.top`: the sweep expands to 100,001 runs, more than the limit of \
             100,000 runs per config (2 runs known, and stage `b` gets 99,999 per winner, 1 \
             winner(s) per group); narrow the sweep lists or split the config"
        )]
    );
}

#[test]
fn a_winner_whose_stage_runs_need_more_gpus_than_a_node_is_refused_up_front() {
    // tp 4 can win tier0-tiny; with dp 4 its stage run would hold 16 GPUs.
    let yaml = "script: s.py\nexperiments:\n  - name: tier0-tiny\n    args:\n      tp: [1, 4]\n  \
                - name: b\n    from: {experiment: tier0-tiny, inherit: [tp], top: 2}\n    args:\n      \
                dp: [1, 4]\n";
    assert_eq!(
        problems(yaml),
        [format!(
            "{AT}: tp x pp x dp = 16 GPUs does not fit 1 node(s) of 8 GPUs (it must be at most 8 \
             x nodes-per-task and divisible by nodes-per-task)"
        )]
    );
}

#[test]
fn the_most_runs_of_a_stage_count_against_the_limit_at_load() {
    // Two models x up to 2 winners (their 2 distinct max-num-seqs) x 30,000 stage runs.
    let values: Vec<String> = (1..=30_000).map(|n| n.to_string()).collect();
    let yaml = format!(
        "script: s.py\nexperiments:\n  - name: a\n    args:\n      model-name-or-path: [o/m1, \
         o/m2]\n      max-num-seqs: [256, 512]\n  - name: b\n    from: {{experiment: a, inherit: \
         [max-num-seqs], top: 100}}\n    args:\n      max-num-batched-tokens: [{}]\n",
        values.join(", ")
    );
    assert_eq!(
        problems(&yaml),
        [format!(
            "{AT}, `from.top`: the sweep expands to 120,004 runs, more than the limit of 100,000 \
             runs per config (counting each stage's runs for up to `top` winners per group; \
             stage `b` gets 30,000 runs per winner); narrow the sweep lists or split the config"
        )]
    );
}
