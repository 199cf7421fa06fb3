//! What `launch` supplies to the config checks from the outside world, and its messages about
//! it: a `script:` that is a directory, a relative `slurm.template` that is not found, a
//! cached `config.json` that cannot be read for its attention heads. Everything here stops
//! before SLURM would be contacted.

use crate::common;

use std::process::Output;

use common::SweepDir;

/// `launch ARGS` in `sweep`, with `hub` as the Hugging Face cache (never the user's own).
fn launch(sweep: &SweepDir, args: &[&str]) -> Output {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("launch"))
        .args(args)
        .current_dir(sweep.path())
        .env("HF_HUB_CACHE", sweep.path().join("hub"))
        .env_remove("HF_HOME")
        .output()
        .expect("launch runs")
}

#[test]
fn a_directory_as_script_an_sbatch_abbreviation_and_a_zero_memory_are_one_message() {
    let sweep = SweepDir::new();
    sweep.write(
        "c.yaml",
        "script: scripts\nslurm:\n  mem-per-cpu: \"0\"\n  sbatch-args:\n    comm: mine\n\
         experiments:\n  - name: e\n",
    );
    for dry_run in [false, true] {
        let mut args = vec!["--config", "c.yaml"];
        if dry_run {
            args.push("--dry-run");
        }
        let output = launch(&sweep, &args);
        assert_eq!(output.status.code(), Some(2), "dry run: {dry_run}");
        assert!(output.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "error: invalid sweep config `c.yaml`: 3 problems\n  \
             - `slurm`, `mem-per-cpu`, value `0`: must be more than zero, e.g. `22G`\n  \
             - `slurm`, `sbatch-args.comm`: `--comm` abbreviates `--comment` (sbatch takes an \
             unambiguous prefix of an option name as that option), which is set by the \
             template; remove it\n  \
             - top level, `script`, value `scripts`: the script is a directory, not a file; give \
             the path of the inference script itself (e.g. \
             `examples/inference/generate_data.py`)\n",
            "dry run: {dry_run}"
        );
    }
}

#[test]
fn a_missing_relative_template_is_said_to_be_relative_to_the_current_directory() {
    let sweep = SweepDir::new();
    sweep.write(
        "configs/c.yaml",
        "script: scripts/gen.py\nslurm:\n  template: my.sh.tera\nexperiments:\n  - name: e\n",
    );
    // The template sits beside the config, but relative paths are the current directory's.
    sweep.write("configs/my.sh.tera", "#!/bin/bash\n");
    let output = launch(&sweep, &["--config", "configs/c.yaml", "--dry-run"]);
    assert_eq!(output.status.code(), Some(2));
    let cwd = sweep.path().canonicalize().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "error: failed to read the template `my.sh.tera` (the config's `slurm.template` is \
             relative to the current directory `{}`, where `launch` runs, not to the config \
             file): No such file or directory (os error 2)\n",
            cwd.display()
        )
    );
    let output = launch(
        &sweep,
        &[
            "--config",
            "configs/c.yaml",
            "--dry-run",
            "--template",
            "t.tera",
        ],
    );
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with(
            "error: failed to read the template `t.tera` (`--template` is relative to the \
             current directory"
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_cached_config_json_that_is_not_json_is_named_with_what_is_wrong() {
    let sweep = SweepDir::new();
    sweep.write("hub/models--org--m/refs/main", "abc");
    let config_json = sweep.write("hub/models--org--m/snapshots/abc/config.json", "<html>");
    sweep.write(
        "c.yaml",
        "script: scripts/gen.py\nslurm:\n  template: absent.tera\nexperiments:\n  - name: e\n    \
         args: {model-name-or-path: org/m, tp: 2}\n",
    );
    let output = launch(&sweep, &["--config", "c.yaml", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "warning: attention heads not checked against tp for `org/m`: its local \
             `config.json` (`{}`) is not JSON (expected value at line 1 column 1)\n",
            config_json.display()
        )),
        "{stderr}"
    );
}

#[test]
fn kv_cache_dtype_fp8_is_refused_with_the_name_the_script_takes() {
    let sweep = SweepDir::new();
    sweep.write(
        "c.yaml",
        "script: scripts/gen.py\nexperiments:\n  - name: e\n    args:\n      kv-cache-dtype: fp8\n",
    );
    let output = launch(&sweep, &["--config", "c.yaml", "--dry-run"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: invalid sweep config `c.yaml`: 1 problem\n  - experiment `e` (entry 1 of `experiments`), \
         `kv-cache-dtype`, value `fp8`: unsupported KV cache dtype `fp8` (the inference script \
         refuses vLLM's alias): did you mean `fp8_e4m3`?\n"
    );
}

#[test]
fn an_extra_option_swept_outside_the_run_directory_says_to_use_separate_experiments() {
    let sweep = SweepDir::new();
    sweep.write(
        "c.yaml",
        "script: scripts/gen.py\nstrict_args: false\nexperiments:\n  - name: e\n    args:\n      \
         my-option: [1, 2]\n",
    );
    let output = launch(&sweep, &["--config", "c.yaml", "--dry-run"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.ends_with(
            ", with different settings: the inference script would write both into it; \
             `my-option` has no place in the run directory, so runs differing only in it cannot \
             share an experiment: sweep its values in separate experiments (one per value, each \
             with its own name)\n"
        ),
        "{stderr}"
    );
}
