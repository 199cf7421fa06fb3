//! What a large sweep costs in memory while it is expanded and validated: a few kilobytes per
//! run (it was about 12 KB per run, so that the million runs of three 100-value lists needed
//! 12 GB). Alone in its test binary, so that no other test allocates meanwhile; it reads the
//! process's memory from `/proc/self/status` (Linux).

mod common;

/// A field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status")
        .expect("this test reads /proc/self/status and runs on Linux only");
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no `{field}` in /proc/self/status"));
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable line `{line}`"));
    kib * 1024
}

#[test]
fn expanding_a_sweep_takes_a_few_kilobytes_per_run_at_most() {
    let list = |n: usize| {
        let values: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        format!("[{}]", values.join(", "))
    };
    // 100 x 10 x 10 = 10,000 runs, with the fixed args of a realistic config.
    let yaml = format!(
        "script: s.py\nfixed_args:\n  model-name-or-path: Qwen/Qwen3-4B\n  \
         input-dataset-name: HuggingFaceFW/fineweb-edu\n  temperature: 0.0\n  max-tokens: 4096\n  \
         seed: 42\nexperiments:\n  - name: e\n    args:\n      max-num-seqs: {}\n      \
         max-num-batched-tokens: {}\n      block-size: {}\n",
        list(100),
        list(10),
        list(10)
    );
    let before = status_bytes("VmRSS");
    let sweep = common::load(&yaml).expect("the sweep loads");
    let peak = status_bytes("VmHWM");
    assert_eq!(sweep.runs.len(), 10_000);
    let per_run = peak.saturating_sub(before) / sweep.runs.len();
    assert!(
        per_run < 6 * 1024,
        "expanding took {per_run} bytes per run at its peak; expected under 6 KiB"
    );
}
