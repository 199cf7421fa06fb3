//! Helpers for the unit tests that read the repository's fixtures (`tests/fixtures/`: real
//! log excerpts and stats files).

/// The fixtures directory, from this crate's manifest directory.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

/// The path of a file or directory below `tests/fixtures/` (e.g. `vllm/v1-plain-idle.log`).
pub fn fixture_path(rel: &str) -> String {
    format!("{FIXTURES}/{rel}")
}

fn missing(path: &str, err: &std::io::Error) -> ! {
    panic!("cannot read fixture `{path}`: {err}")
}

/// The bytes of a fixture file.
pub fn fixture(rel: &str) -> Vec<u8> {
    let path = fixture_path(rel);
    std::fs::read(&path).unwrap_or_else(|e| missing(&path, &e))
}

/// A fixture file, opened for reading.
pub fn open_fixture(rel: &str) -> std::fs::File {
    let path = fixture_path(rel);
    std::fs::File::open(&path).unwrap_or_else(|e| missing(&path, &e))
}

/// Assert that every file of a fixture directory but its README is in `tested`.
pub fn assert_every_fixture_tested(dir: &str, tested: &[&str]) {
    let path = fixture_path(dir);
    let entries = std::fs::read_dir(&path).unwrap_or_else(|e| missing(&path, &e));
    for entry in entries {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name == "README.md" || tested.contains(&name.as_str()),
            "no test for fixture `{dir}/{name}`"
        );
    }
}

/// The config columns of a baseline run (vLLM's defaults at tp 1, pp 1, dp 1) of `model` in
/// `experiment`, prompt `default`: change what a test needs with struct update syntax.
pub fn baseline_fields(experiment: &str, model: &str) -> crate::layout::RunFields {
    crate::layout::RunFields {
        experiment: experiment.into(),
        prompt_template_name: "default".into(),
        model: model.into(),
        tp: Some(1),
        pp: Some(1),
        dp: Some(1),
        max_num_seqs: Some(crate::layout::DEFAULT_MAX_NUM_SEQS),
        max_num_batched_tokens: Some(crate::layout::DEFAULT_MAX_NUM_BATCHED_TOKENS),
        gpu_memory_percent: Some(crate::layout::DEFAULT_GPU_MEMORY_PERCENT),
        block_size: Some(crate::layout::DEFAULT_BLOCK_SIZE),
        ..crate::layout::RunFields::default()
    }
}
