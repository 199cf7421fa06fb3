//! `gen-results` writes the same tree for the same seed, with the shape its help promises.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bench_core::server_log::parse_bytes;

/// Run `gen-results` into `out` with `args`; panics with its stderr when it fails.
fn generate(out: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_gen-results"))
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every file below `root`: path relative to it -> bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

const ARGS: [&str; 10] = [
    "--runs",
    "40",
    "--log-bytes",
    "50000",
    "--failure-percent",
    "25",
    "--duplicate-percent",
    "25",
    "--seed",
    "7",
];

#[test]
fn the_same_seed_writes_the_same_bytes_and_another_seed_does_not() {
    let temp = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        temp.path().join("a"),
        temp.path().join("b"),
        temp.path().join("c"),
    );
    generate(&a, &ARGS);
    generate(&b, &ARGS);
    let mut other = ARGS;
    other[9] = "8";
    generate(&c, &other);
    let (a, b, c) = (files(&a), files(&b), files(&c));
    assert!(a == b, "two trees of seed 7 differ");
    assert!(a != c, "seeds 7 and 8 gave the same tree");
}

#[test]
fn runs_logs_failures_and_attempts_as_asked() {
    let temp = tempfile::tempdir().unwrap();
    generate(temp.path(), &ARGS);
    let files = files(temp.path());
    let runs: Vec<&String> = files
        .keys()
        .filter(|rel| rel.ends_with("inference_logs/server_logs/server_rank_0.log"))
        .collect();
    assert_eq!(runs.len(), 40);
    let outs = files
        .keys()
        .filter(|rel| Path::new(rel).extension().is_some_and(|ext| ext == "out"))
        .count();
    let stats = files
        .keys()
        .filter(|rel| rel.ends_with("stats.json"))
        .count();
    // 25% of 40 runs, give or take the dice: some, not all.
    assert!((41..80).contains(&outs), "{outs} .out files");
    assert!((20..40).contains(&stats), "{stats} completed runs");
    for log in runs {
        let bytes = &files[log];
        // The log ends with the ten-second interval that reaches the size: at most 1,198
        // request lines of 107 bytes, a health check, the record and the shutdown: < 130 KB.
        assert!(
            (50_000..50_000 + 140_000).contains(&bytes.len()),
            "`{log}`: {} bytes",
            bytes.len()
        );
        // vLLM's coloured prefix on every line, and metrics records among the requests.
        assert!(bytes.starts_with(b"\x1b[1;36m(APIServer pid="), "{log}");
        let metrics = parse_bytes(bytes);
        assert!(metrics.records > 0, "`{log}` has no metrics record");
        let running = metrics.avg_running_reqs.unwrap();
        assert!((0.0..512.0).contains(&running), "{running}");
    }
}
