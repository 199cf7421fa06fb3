//! Helpers shared by the bench-core integration tests.
use bench_core::config::ConfigErrors;
use bench_core::model_config::{ModelConfigSource, NoModelConfigs};
use bench_core::sweep::{LoadContext, ScriptFile, Sweep, load_sweep};

/// A script that exists.
pub fn exists(_: &str) -> ScriptFile {
    ScriptFile::File
}

/// A script that does not exist.
pub fn missing(_: &str) -> ScriptFile {
    ScriptFile::Missing
}

/// A script path that is a directory.
pub fn directory(_: &str) -> ScriptFile {
    ScriptFile::Directory
}

/// Loads `yaml` as `test.yaml` for a real submission, the script present, no model configs.
pub fn load(yaml: &str) -> Result<Sweep, ConfigErrors> {
    load_with(yaml, false, &exists, &NoModelConfigs)
}

/// Loads `yaml` as `test.yaml` with the given context.
pub fn load_with(
    yaml: &str,
    dry_run: bool,
    script_file: &dyn Fn(&str) -> ScriptFile,
    model_configs: &dyn ModelConfigSource,
) -> Result<Sweep, ConfigErrors> {
    let ctx = LoadContext {
        dry_run,
        script_file,
        model_configs,
    };
    load_sweep(yaml, "test.yaml", &ctx)
}

/// The (name, run directory) of every run; panics with the message when the config is refused.
pub fn runs(yaml: &str) -> Vec<(String, String)> {
    match load(yaml) {
        Ok(sweep) => sweep
            .runs
            .into_iter()
            .map(|r| (r.name, r.run_dir.to_string()))
            .collect(),
        Err(errors) => panic!("config refused:\n{errors}"),
    }
}

/// Every problem line of a refused config; panics when the config is accepted.
pub fn problems(yaml: &str) -> Vec<String> {
    match load(yaml) {
        Ok(sweep) => panic!("config accepted with {} runs", sweep.runs.len()),
        Err(errors) => errors.problems.iter().map(ToString::to_string).collect(),
    }
}

/// A config with one experiment `e` whose args are the given YAML lines (indented by the
/// caller-free form `key: value`, one per line).
pub fn one_experiment(args: &str) -> String {
    let mut yaml = String::from("script: s.py\nexperiments:\n  - name: e\n    args:\n");
    for line in args.lines() {
        yaml.push_str("      ");
        yaml.push_str(line);
        yaml.push('\n');
    }
    yaml
}

/// The path of a file of the repository's `configs/` folder.
pub fn repo_config(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs")
        .join(name)
}

/// The sample config's text (`configs/sample_benchmark_config.yaml`).
pub fn sample_config() -> String {
    let path = repo_config("sample_benchmark_config.yaml");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the sample config `{}`: {e}", path.display()))
}
