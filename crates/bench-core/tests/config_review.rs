//! Config loading problems a review found: sbatch option abbreviations in `slurm.sbatch-args`,
//! sweeps too large to expand, a leading byte order mark, `mem-per-cpu` sizes, and messages
//! that named the wrong line or the wrong cause.

use crate::common;

use bench_core::model_config::NoModelConfigs;
use bench_core::sweep::MAX_RUNS;
use common::{directory, load, load_with, one_experiment, problems, runs};

/// A config with the given `slurm:` section lines (indented by two spaces) and one run.
fn with_slurm(lines: &str) -> String {
    let mut yaml = String::from("slurm:\n");
    for line in lines.lines() {
        yaml.push_str("  ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml + &one_experiment("tp: 1")
}

// ------------------------------------------------------------------- slurm.sbatch-args

#[test]
fn sbatch_args_may_not_abbreviate_template_directives() {
    let yaml = with_slurm(
        "sbatch-args:\n  comm: x\n  job: renamed\n  tim: \"5\"\n  outp: o.out\n  constraint: h100\n  \
         exclusive: \"\"\n  hold: \"\"\n  export: ALL\n  nice: \"10\"\n  dependency: afterok:1",
    );
    let why = "(sbatch takes an unambiguous prefix of an option name as that option)";
    assert_eq!(
        problems(&yaml),
        [
            format!(
                "`slurm`, `sbatch-args.comm`: `--comm` abbreviates `--comment` {why}, which is set \
                 by the template; remove it"
            ),
            format!(
                "`slurm`, `sbatch-args.job`: `--job` abbreviates `--job-name` {why}, which is set \
                 by the template; remove it"
            ),
            // sbatch 22.05: "option '--tim=5' is ambiguous; possibilities: '--time'
            // '--time-min'".
            "`slurm`, `sbatch-args.tim`: `--tim` is ambiguous for sbatch, which refuses it: it \
             begins `--time`, `--time-min`; write a full option name"
                .to_owned(),
            format!(
                "`slurm`, `sbatch-args.outp`: `--outp` abbreviates `--output` {why}, which is set \
                 by the template; remove it"
            ),
        ]
    );
    // The options that do not touch the template's stay allowed, in file order.
    let allowed = with_slurm(
        "sbatch-args:\n  constraint: h100\n  exclusive: \"\"\n  hold: \"\"\n  export: ALL\n  \
         nice: \"10\"\n  dependency: afterok:1",
    );
    let keys: Vec<String> = load(&allowed)
        .unwrap()
        .settings
        .slurm
        .sbatch_args
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(
        keys,
        [
            "constraint",
            "exclusive",
            "hold",
            "export",
            "nice",
            "dependency"
        ]
    );
}

#[test]
fn sbatch_args_may_not_contradict_the_template_and_are_lower_case() {
    let yaml = with_slurm(
        "sbatch-args:\n  gres: gpu:2\n  mem: 4G\n  cpus-per-gpu: \"4\"\n  ntasks: \"2\"\n  \
         chdir: /tmp\n  arr: 0-3\n  clusters: other\n  Constraint: h100\n  J: renamed\n  \
         n: \"2\"",
    );
    assert_eq!(
        problems(&yaml),
        [
            "`slurm`, `sbatch-args.gres`: `--gres` is not allowed: the template already requests \
             the run's GPUs with `--gpus` (tp x pp x dp)",
            "`slurm`, `sbatch-args.mem`: `--mem` is not allowed: the template already sets \
             `--mem-per-cpu` and SLURM refuses both; set `slurm.mem-per-cpu` instead",
            "`slurm`, `sbatch-args.cpus-per-gpu`: `--cpus-per-gpu` is not allowed: the template \
             already sets `--cpus-per-task`; set `slurm.cpus-per-gpu` instead",
            "`slurm`, `sbatch-args.ntasks`: `--ntasks` is not allowed: a job runs one task",
            "`slurm`, `sbatch-args.chdir`: `--chdir` is not allowed: run directories and the \
             script are relative to the directory `launch` runs in",
            "`slurm`, `sbatch-args.arr`: `--arr` abbreviates `--array` (sbatch takes an \
             unambiguous prefix of an option name as that option), which is not allowed: every \
             array task would run the same run into one directory",
            "`slurm`, `sbatch-args.clusters`: `--clusters` is not allowed: the job would run on \
             another cluster, whose jobs `squeue` does not list here, so a later launch would \
             submit the run again",
            "`slurm`, `sbatch-args.Constraint`: sbatch option names are lower case: write \
             `constraint`",
            // Not "write `j`" (which abbreviates `--job-name`): the short option's long name.
            "`slurm`, `sbatch-args.J`: `--J` is not sbatch's short option `-J` (`--job-name`): \
             sbatch reads it as an unknown option; `--job-name` is set by the template; remove it",
            "`slurm`, `sbatch-args.n`: `--n` is ambiguous for sbatch, which refuses it: it begins \
             `--network`, `--nice`, `--no-kill`, `--no-requeue`, `--nodefile`, `--nodelist` and \
             7 more; write a full option name (`-n`, sbatch's short option, is `--ntasks`)",
        ]
    );
}

// ------------------------------------------------------------------- slurm.mem-per-cpu

#[test]
fn mem_per_cpu_follows_slurms_size_grammar() {
    let grammar = "not a SLURM memory size: a positive integer of megabytes, optionally with the \
                   unit `K`, `M`, `G` or `T` (e.g. `22G`, `4096`)";
    for (value, why) in [
        ("\"\"", grammar.to_owned()),
        ("abc", grammar.to_owned()),
        ("1.5G", grammar.to_owned()),
        ("22GB", grammar.to_owned()),
        ("\"0\"", "must be more than zero, e.g. `22G`".to_owned()),
    ] {
        let shown = value.trim_matches('"');
        assert_eq!(
            problems(&with_slurm(&format!("mem-per-cpu: {value}"))),
            [format!("`slurm`, `mem-per-cpu`, value `{shown}`: {why}")],
            "{value}"
        );
    }
    for (value, kept) in [
        ("22g", "22g"),
        ("4096", "4096"),
        ("512M", "512M"),
        ("1T", "1T"),
    ] {
        let sweep = load(&with_slurm(&format!("mem-per-cpu: {value}"))).unwrap();
        assert_eq!(sweep.settings.slurm.mem_per_cpu, kept);
    }
}

// ------------------------------------------------------------------- slurm.cpus-per-gpu

#[test]
fn cpus_per_gpu_is_from_1_to_1024() {
    // `0` used to say "expected a positive integer, found an integer"; any size was taken.
    let range = "must be from 1 to 1024 CPUs per GPU";
    for value in ["0", "-2", "1025", "110000", "99999999999"] {
        assert_eq!(
            problems(&with_slurm(&format!("cpus-per-gpu: {value}"))),
            [format!("`slurm`, `cpus-per-gpu`, value `{value}`: {range}")],
            "{value}"
        );
    }
    assert_eq!(
        problems(&with_slurm("cpus-per-gpu: 2.5")),
        ["`slurm`, `cpus-per-gpu`, value `2.5`: expected an integer from 1 to 1024, found a float"]
    );
    for (value, cpus) in [("1", 1), ("11", 11), ("1024", 1024)] {
        let sweep = load(&with_slurm(&format!("cpus-per-gpu: {value}"))).unwrap();
        assert_eq!(sweep.settings.slurm.cpus_per_gpu, cpus);
    }
}

// ------------------------------------------------------------------- sweep size

/// `[1, 2, ..., n]`.
fn list(n: usize) -> String {
    let values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    format!("[{}]", values.join(", "))
}

#[test]
fn a_sweep_of_a_million_runs_is_refused_before_it_is_expanded() {
    assert_eq!(MAX_RUNS, 100_000);
    let yaml = one_experiment(&format!(
        "max-num-seqs: {0}\nmax-num-batched-tokens: {0}\nblock-size: {0}",
        list(100)
    ));
    assert_eq!(
        problems(&yaml),
        [
            "top level, `experiments`: the sweep expands to 1,000,000 runs, more than the limit \
             of 100,000 runs per config (experiment `e` (entry 1 of `experiments`): `block-size` \
             100 x `max-num-batched-tokens` 100 x `max-num-seqs` 100 = 1,000,000); narrow the \
             sweep lists or split the config"
        ]
    );
}

#[test]
fn the_run_limit_counts_every_experiment_of_the_config() {
    // 50,000 + 50,001 runs: each entry alone is within the limit, the config is not.
    let yaml = format!(
        "script: s.py\nexperiments:\n  - name: a\n    args: {{max-num-seqs: {}, block-size: {}}}\n  \
         - name: b\n    args: {{max-num-seqs: {}}}\n",
        list(500),
        list(100),
        list(50_001)
    );
    assert_eq!(
        problems(&yaml),
        [
            "top level, `experiments`: the sweep expands to 100,001 runs, more than the limit \
             of 100,000 runs per config (experiment `b` (entry 2 of `experiments`): \
             `max-num-seqs` 50001 = 50,001; experiment `a` (entry 1 of `experiments`): \
             `block-size` 100 x `max-num-seqs` 500 = 50,000); narrow the sweep lists or split \
             the config"
        ]
    );
}

// ------------------------------------------------------------------- byte order mark

#[test]
fn a_leading_byte_order_mark_is_skipped() {
    let yaml = format!("\u{feff}{}", one_experiment("tp: 2"));
    assert_eq!(
        runs(&yaml),
        [(
            "Qwen3_0.6B-tp2".to_owned(),
            "data/e/default/Qwen3_0.6B/tp2-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
                .to_owned()
        )]
    );
}

// ------------------------------------------------------------------- messages

#[test]
fn a_duplicate_key_is_reported_at_its_own_line() {
    let yaml = "script: a.py\nexperiments:\n  - name: e\n# script: c.py\nscript: b.py\n";
    assert_eq!(
        problems(yaml),
        ["malformed YAML at line 5, column 1: duplicate key `script` (first at line 1); keep one"]
    );
    let yaml = "script: a.py\nfixed_args:\n  tp: 1\n  model-name-or-path:\n    x\n  tp: 2\nexperiments:\n  - name: e\n";
    assert_eq!(
        problems(yaml),
        [
            "malformed YAML at line 6, column 3: duplicate key `tp` in `fixed_args` (first at \
             line 3); keep one"
        ]
    );
    let yaml = "script: a.py\nexperiments:\n  - name: e\n    args: {tp: 1}\n    name: f\n";
    assert_eq!(
        problems(yaml),
        [
            "malformed YAML at line 5, column 5: duplicate key `name` in `experiments[0]` (first \
             at line 3); keep one"
        ]
    );
}

#[test]
fn an_integer_beyond_64_bits_is_too_large_not_a_wrong_type() {
    assert_eq!(
        problems(&one_experiment("tp: 99999999999999999999999")),
        [
            "`experiments[0].args.tp`, value `99999999999999999999999`: integer too large at \
             line 5, column 11: the largest accepted is 18446744073709551615"
        ]
    );
    assert_eq!(
        problems(
            "script: s.py\nfixed_args: {seed: -99999999999999999999999}\nexperiments: [{name: e}]\n"
        ),
        [
            "`fixed_args.seed`, value `-99999999999999999999999`: integer too small at line 2, \
             column 20: the smallest accepted is -9223372036854775808"
        ]
    );
}

#[test]
fn a_script_path_that_is_a_directory_says_so() {
    let yaml = one_experiment("tp: 1").replace("script: s.py", "script: examples");
    let expected = [
        "top level, `script`, value `examples`: the script is a directory, not a file; give the \
         path of the inference script itself (e.g. `examples/inference/generate_data.py`)",
    ];
    for dry_run in [false, true] {
        let errors = load_with(&yaml, dry_run, &directory, &NoModelConfigs).unwrap_err();
        let lines: Vec<String> = errors.problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines, expected, "dry run: {dry_run}");
    }
}

#[test]
fn keys_in_another_case_get_the_lower_case_suggestion() {
    let yaml = format!(
        "Script: s.py\n{}",
        one_experiment("MAX-NUM-SEQS: 3").replace("script: s.py\n", "")
    );
    assert_eq!(
        problems(&yaml),
        [
            "top level, `Script`: unknown key; did you mean `script`?",
            "top level, `script`: required key is missing; set it to the inference script's path",
            "experiment `e` (entry 1 of `experiments`), `MAX-NUM-SEQS`: unknown key; did you mean \
             `max-num-seqs`?\n    hint: for a script with extra options, set `strict_args: \
             false` to pass unknown keys through",
        ]
    );
}
