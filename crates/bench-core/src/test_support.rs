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
