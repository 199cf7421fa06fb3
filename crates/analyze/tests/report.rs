//! The report (`report.html`, `report.md`, `report_files/`) on trees built here with known
//! values: every number below is derived by hand from the runs' stats.

use std::fs;

use crate::common::{Stats, Tree, analyze_unprivileged, fixture, read_csv, run_path, set_mode};

/// A completed run of `model` at tp 1 with `mns` and `mnbt`: 1,000,000 x `millions`
/// completion tokens in 100 s of inference on 1 GPU, so 10,000 x `millions` tokens/s per GPU.
fn completed(tree: &Tree, model: &str, mns: u64, mnbt: u64, millions: f64) {
    let stats = Stats {
        // Whole tokens: `millions` has at most one decimal.
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        completion_tokens: (millions * 1_000_000.0) as u64,
        ..Stats::BASE
    };
    tree.run(&run_path(
        "tier0",
        model,
        "tp1-pp1-dp1",
        mns,
        mnbt,
        "spec_none",
    ))
    .out("10_0.out", "")
    .stats(&stats.merged_json());
}

/// A run of `model` that failed with the `.out` fixture `out`.
fn failed(tree: &Tree, model: &str, mns: u64, mnbt: u64, out: &str) {
    tree.run(&run_path(
        "tier0",
        model,
        "tp1-pp1-dp1",
        mns,
        mnbt,
        "spec_none",
    ))
    .out("11_0.out", fixture(out));
}

/// Two models:
/// - `Smol`: baseline (256, 8192) 10,000; (512, 8192) 15,000; (2048, 8192) 12,000;
///   (1024, 32768) 20,000, the best, at the largest mnbt tried (32768) but not the largest
///   mns (2048); (512, 32768) OOM; (256, 32768) timed out; (1024, 8192) never run.
/// - `Gemma`: baseline 5,000; (512, 8192) 6,000, the best, interior (mns up to 1024, mnbt up
///   to 16384); (1024, 16384) 5,500.
fn known_tree() -> Tree {
    let tree = Tree::new();
    completed(&tree, "Smol", 256, 8192, 1.0);
    completed(&tree, "Smol", 512, 8192, 1.5);
    completed(&tree, "Smol", 2048, 8192, 1.2);
    completed(&tree, "Smol", 1024, 32768, 2.0);
    failed(&tree, "Smol", 512, 32768, "failures/oom-torch.log");
    failed(&tree, "Smol", 256, 32768, "failures/timeout.out");
    completed(&tree, "Gemma", 256, 8192, 0.5);
    completed(&tree, "Gemma", 512, 8192, 0.6);
    completed(&tree, "Gemma", 1024, 16384, 0.55);
    // Speculative decoding in tier1: 18,000 tokens/s per GPU, 150 of 387 drafted tokens
    // accepted (38.8 %).
    tree.run(&run_path(
        "tier1",
        "Smol",
        "tp1-pp1-dp1",
        256,
        8192,
        "spec_ngram_6",
    ))
    .out("12_0.out", "")
    .stats(
        &Stats {
            completion_tokens: 1_800_000,
            ..Stats::BASE
        }
        .merged_json(),
    )
    .server_log(
        "INFO 11-02 10:00:10 [metrics.py:98] SpecDecoding metrics: Draft acceptance rate: 38.8%, \
             Mean acceptance length: 2.16, Accepted: 150 tokens, Drafted: 387 tokens, \
             Per-position acceptance rate: 0.543, 0.357, 0.264\n",
    );
    // The Smol winner's kwargs, as launch writes them.
    tree.run(&run_path("tier0", "Smol", "tp1-pp1-dp1", 1024, 32768, "spec_none"))
        .file(
            "inference_logs/launch/kwargs.json",
            r#"{"model_name_or_path":"HuggingFaceTB/SmolLM2-135M-Instruct","tp":1,"max_num_seqs":1024,"max_num_batched_tokens":32768,"output_dir":"data/tier0","name":"tutorial-Smol-mns_1024-mnbt_32768","local_execution":true}"#,
        );
    tree
}

/// `analyze --root data --quiet`, which must succeed; the `report.md` it wrote.
fn report_md(tree: &Tree) -> String {
    let out = tree.analyze(&["--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::read_to_string(tree.root().join("report.md")).unwrap()
}

/// The texts of an SVG's `<text>` elements, trimmed.
fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|element| {
            let content = element.split_once('>')?.1.split_once("</text>")?.0;
            Some(content.trim().to_owned())
        })
        .collect()
}

/// The lines of `text` from the one equal to `heading` up to the next heading of any level
/// (lines in code blocks are no headings), without blank lines.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|line| *line != heading);
    assert!(lines.next().is_some(), "no `{heading}` in:\n{text}");
    let mut in_code = false;
    lines
        .take_while(|line| {
            in_code ^= line.starts_with("```");
            in_code || !line.starts_with('#')
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_report_shows_the_summary_heatmaps_sweep_further_failures_and_winners() {
    let tree = known_tree();
    let md = report_md(&tree);

    // Overview: 10 runs, 8 completed (each 102 s of e2e time on 1 GPU: 816 s = 0.2267 h).
    assert_eq!(
        section(&md, "# Benchmark report"),
        [
            "- Root: data",
            "- Runs: 10",
            "- Completed: 8",
            "- Failed: 2 (OOM 1, timeout 1)",
            "- GPU-hours of the completed runs (GPUs x e2e_time): 0.23",
        ]
    );

    // The results table is the summary CSV, row for row: Smol 20,000 / 10,000 = 2.00x.
    let (_, summary) = read_csv(&tree.root().join("optimization_summary.csv"));
    let results = section(&md, "## Results");
    assert_eq!(
        results,
        [
            "| Model | Base TP | Base tps/gpu | Best tps/gpu | Speedup | Best Parameters |",
            "| :-- | --: | --: | --: | --: | :-- |",
            "| Gemma | 1 | 5000 | 6000 | 1.20x | mns=512 |",
            "| Smol | 1 | 10000 | 20000 | 2.00x | mns=1024, mnbt=32768 |",
        ]
    );
    for (line, row) in results[2..].iter().zip(&summary) {
        let speedup: f64 = row["overall_speedup"].parse().unwrap();
        let expected = format!(
            "| {} | {} | {} | {} | {speedup:.2}x | {} |",
            row["model"],
            row["baseline_tp"],
            row["baseline_tps"],
            row["overall_tps"],
            row["overall_params"]
        );
        assert_eq!(*line, expected);
    }

    // Smol's heatmap, cell by cell: rows mnbt 8192 and 32768, columns mns 256..2048.
    let heatmap = section(
        &md,
        "### Smol at tp 1: output tokens/s per GPU by max-num-seqs and max-num-batched-tokens",
    );
    assert!(
        heatmap[0].starts_with("![Heatmap of output tokens/s per GPU for Smol at tp 1"),
        "{heatmap:?}"
    );
    assert!(
        heatmap[0].ends_with("](report_files/heatmap-002-Smol-tp1.svg)"),
        "{heatmap:?}"
    );
    assert_eq!(
        heatmap[1..],
        [
            "| mnbt ↓ / mns → | 256 | 512 | 1024 | 2048 |",
            "| --: | --: | --: | --: | --: |",
            "| 8192 | 10000 (baseline) | 15000 | | 12000 |",
            "| 32768 | timeout | OOM | 20000 (best) | |",
        ]
    );
    let svg =
        fs::read_to_string(tree.root().join("report_files/heatmap-002-Smol-tp1.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..100.min(svg.len())]);
    let texts = svg_texts(&svg);
    for text in [
        "20000",
        "best",
        "baseline",
        "OOM",
        "timeout",
        "max-num-seqs (sequences)",
        "output tokens/s per GPU",
    ] {
        assert!(
            texts.iter().any(|t| t == text),
            "no {text} in the heatmap's SVG: {texts:?}"
        );
    }

    // Speculative decoding: the bar with its acceptance, against Smol's best without.
    let spec = section(
        &md,
        "### Smol: speculative decoding x gpu-memory-utilization, output tokens/s per GPU",
    );
    assert!(
        spec[0].ends_with("](report_files/spec-001-Smol.svg)"),
        "{spec:?}"
    );
    assert_eq!(
        spec[1..],
        [
            "| spec ↓ / gmu → | 90 |",
            "| --: | --: |",
            "| ngram_6 | 18000 (acceptance 38.8%) |",
            "| none (best of all runs without speculative decoding) | 20000 |",
        ]
    );

    // Sweep further: Smol (mnbt 32768), not Gemma.
    assert_eq!(
        section(&md, "## Sweep further")[1..],
        [
            "| Model | Key | Largest value tried (the best run's) |",
            "| :-- | :-- | --: |",
            "| Smol | max-num-batched-tokens | 32768 |",
        ]
    );

    // Failures: per experiment and class, then each run.
    let failures = section(&md, "## Failures");
    assert_eq!(
        failures[..4],
        [
            "| Experiment | Class | Runs |",
            "| :-- | :-- | --: |",
            "| tier0 | OOM | 1 |",
            "| tier0 | timeout | 1 |",
        ]
    );
    assert_eq!(
        failures[6..],
        [
            format!(
                "| tier0 | Smol | timeout | data/{}/inference_logs/slurm_logs/11_0.out |",
                run_path("tier0", "Smol", "tp1-pp1-dp1", 256, 32768, "spec_none")
            ),
            format!(
                "| tier0 | Smol | OOM | data/{}/inference_logs/slurm_logs/11_0.out |",
                run_path("tier0", "Smol", "tp1-pp1-dp1", 512, 32768, "spec_none")
            ),
        ]
    );

    // Smol's winner from its kwargs.json, Gemma's from its run directory.
    let smol = section(&md, "### Smol");
    assert_eq!(
        smol[1..],
        [
            "```yaml",
            "args:",
            "  model-name-or-path: HuggingFaceTB/SmolLM2-135M-Instruct",
            "  tp: 1",
            "  max-num-seqs: 1024",
            "  max-num-batched-tokens: 32768",
            "```",
        ]
    );
    assert_eq!(
        section(&md, "### Gemma")[2..5],
        [
            "# from the run directory (no kwargs.json): fill in what is marked TO FILL IN",
            "args:",
            "  model-name-or-path: TO FILL IN (Gemma)",
        ]
    );

    // The page holds the same table and every chart inline, and nothing from elsewhere.
    let html = fs::read_to_string(tree.root().join("report.html")).unwrap();
    assert!(html.contains("<td>Smol</td><td class=\"num\">1</td><td class=\"num\">10000</td><td class=\"num\">20000</td><td class=\"num\">2.00x</td><td>mns=1024, mnbt=32768</td>"));
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "a speedup chart, two heatmaps, a speculative-decoding chart"
    );
    for outside in ["<script", "http://", "https://", "@import", "url("] {
        let svg_namespace = html.matches("http://www.w3.org/2000/svg").count();
        let count = html.matches(outside).count();
        let allowed = if outside == "http://" {
            svg_namespace
        } else {
            0
        };
        assert_eq!(count, allowed, "`{outside}` in the page");
    }
    let files: Vec<String> = fs::read_dir(tree.root().join("report_files"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
}

#[test]
fn report_md_snapshot() {
    let tree = known_tree();
    let out = tree.analyze(&["--quiet"]);
    assert!(out.status.success());
    let md = fs::read_to_string(tree.root().join("report.md")).unwrap();
    insta::assert_snapshot!(md);
}

#[test]
fn no_completed_run_says_so_without_charts() {
    let tree = Tree::new();
    failed(&tree, "Smol", 512, 32768, "failures/oom-torch.log");
    let md = report_md(&tree);
    assert!(
        md.contains("**No run completed: there is nothing to compare or chart yet.**"),
        "{md}"
    );
    assert!(!md.contains("!["), "a chart in:\n{md}");
    let html = fs::read_to_string(tree.root().join("report.html")).unwrap();
    assert!(html.contains("No run completed: there is nothing to compare or chart yet."));
    assert!(!html.contains("<svg"));
    assert_eq!(
        fs::read_dir(tree.root().join("report_files"))
            .unwrap()
            .count(),
        0
    );
    // The failure is still listed, its heatmap as a table.
    assert!(md.contains("| tier0 | OOM | 1 |"), "{md}");
    assert!(md.contains("| 32768 | OOM |"), "{md}");
}

#[test]
fn model_names_are_escaped_in_html_and_markdown() {
    let tree = Tree::new();
    let model = r#"a<b>&"c"'d"#;
    completed(&tree, model, 256, 8192, 1.0);
    completed(&tree, model, 512, 8192, 2.0);
    let out = tree.analyze(&["--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = fs::read_to_string(tree.root().join("report.html")).unwrap();
    assert!(!html.contains("a<b>"), "the name unescaped in the page");
    assert!(
        html.contains("<td>a&lt;b&gt;&amp;&quot;c&quot;&#x27;d</td>"),
        "the table cell"
    );
    let md = fs::read_to_string(tree.root().join("report.md")).unwrap();
    // Outside code blocks (where text is shown as is) the name is escaped.
    let mut in_code = false;
    for line in md.lines() {
        in_code ^= line.starts_with("```");
        assert!(in_code || !line.contains("a<b>"), "unescaped: {line}");
    }
    assert!(
        md.contains("  model-name-or-path: TO FILL IN (a<b>&\"c\"'d)\n"),
        "{md}"
    );
    assert!(
        md.contains("| a&lt;b&gt;&amp;\"c\"'d | 1 | 10000 | 20000 | 2.00x | mns=512 |"),
        "{md}"
    );
    for entry in fs::read_dir(tree.root().join("report_files")).unwrap() {
        let svg = fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!svg.contains("a<b>"), "the name unescaped in a chart");
    }
}

#[test]
fn unwritable_out_is_exit_1_without_a_partial_report() {
    let tree = known_tree();
    // `--out` is read-only (as root the test runs analyze as user 65534: root writes
    // anywhere).
    let out_dir = tree.base().join("reports");
    fs::create_dir(&out_dir).unwrap();
    set_mode(&out_dir, 0o555);
    let out = analyze_unprivileged(&tree, &["--quiet", "--out", "reports"]);
    set_mode(&out_dir, 0o755);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed to write"), "{stderr}");
    assert_eq!(
        fs::read_dir(&out_dir).unwrap().count(),
        0,
        "something was written"
    );
}

#[test]
fn a_file_in_the_way_of_report_files_is_exit_1_and_nothing_changes() {
    let tree = known_tree();
    tree.file("data/report_files", "mine");
    let out = tree.analyze(&["--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is there and is not a directory"),
        "{stderr}"
    );
    assert!(!tree.root().join("report.html").exists());
    assert!(!tree.root().join("benchmarking_results.csv").exists());
    assert_eq!(
        fs::read_to_string(tree.root().join("report_files")).unwrap(),
        "mine"
    );
}

#[test]
fn no_report_removes_an_earlier_report_only() {
    let tree = known_tree();
    assert!(tree.analyze(&["--quiet"]).status.success());
    assert!(tree.root().join("report_files").is_dir());
    tree.file("data/report_files.keep", "mine");
    let out = tree.analyze(&["--quiet", "--no-report"]);
    assert!(out.status.success());
    for gone in ["report.html", "report.md", "report_files"] {
        assert!(!tree.root().join(gone).exists(), "{gone} is still there");
    }
    assert!(tree.root().join("benchmarking_results.csv").exists());
    assert!(tree.root().join("report_files.keep").exists());
}

#[test]
fn report_files_are_replaced_whole() {
    let tree = known_tree();
    assert!(tree.analyze(&["--quiet"]).status.success());
    tree.file("data/report_files/stale.svg", "<svg/>");
    assert!(tree.analyze(&["--quiet"]).status.success());
    assert!(!tree.root().join("report_files/stale.svg").exists());
    assert_eq!(
        fs::read_dir(tree.root().join("report_files"))
            .unwrap()
            .count(),
        4
    );
    // No temporary files or directories are left behind.
    let leftovers: Vec<String> = fs::read_dir(tree.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert_eq!(leftovers, [".analyze-outputs"], "only the outputs list");
}

#[test]
fn a_heatmap_of_one_cell_is_drawn() {
    let tree = Tree::new();
    completed(&tree, "Smol", 256, 8192, 1.0);
    let out = tree.analyze(&["--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg =
        fs::read_to_string(tree.root().join("report_files/heatmap-001-Smol-tp1.svg")).unwrap();
    // Every rectangle has an area: the one cell is not drawn zero high or wide.
    for attribute in ["width=\"0\"", "height=\"0\""] {
        assert!(!svg.contains(attribute), "{attribute} in:\n{svg}");
    }
    let texts = svg_texts(&svg);
    for text in ["10000", "best, baseline", "256", "8192"] {
        assert!(texts.iter().any(|t| t == text), "no {text}: {texts:?}");
    }
    // A one-value colour scale still has distinct labels (5 % either side: 9500..10500).
    assert!(texts.iter().any(|t| t == "9600"), "{texts:?}");
    // The GPU-hours of nothing failed are 0.00, not -0.00.
    let failed_only = Tree::new();
    failed(&failed_only, "Smol", 512, 32768, "failures/oom-torch.log");
    assert!(failed_only.analyze(&["--quiet"]).status.success());
    let md = fs::read_to_string(failed_only.root().join("report.md")).unwrap();
    assert!(md.contains("(GPUs x e2e_time): 0.00\n"), "{md}");
}

#[test]
fn a_directory_named_report_html_fails_before_anything_changes() {
    let tree = known_tree();
    fs::create_dir_all(tree.root().join("report.html/mine")).unwrap();
    let out = tree.analyze(&["--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("report.html`: a directory has that name; move it away"),
        "{stderr}"
    );
    for absent in [
        "benchmarking_results.csv",
        "report.md",
        "report_files",
        ".analyze-outputs",
    ] {
        assert!(!tree.root().join(absent).exists(), "{absent} was written");
    }
    assert!(tree.root().join("report.html/mine").is_dir());
}

#[test]
fn no_report_leaves_report_names_it_did_not_write() {
    let tree = known_tree();
    tree.file("data/report.html/important", "mine");
    tree.file("data/report.md", "my notes");
    let out = tree.analyze(&["--quiet", "--no-report"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read_to_string(tree.root().join("report.html/important")).unwrap(),
        "mine"
    );
    assert_eq!(
        fs::read_to_string(tree.root().join("report.md")).unwrap(),
        "my notes"
    );
}

#[test]
fn a_line_break_in_a_name_keeps_each_markdown_row_on_one_line() {
    let tree = Tree::new();
    completed(&tree, "new\nline", 256, 8192, 1.0);
    completed(&tree, "new\nline", 512, 8192, 2.0);
    let md = report_md(&tree);
    assert!(
        md.contains("| new line | 1 | 10000 | 20000 | 2.00x | mns=512 |\n"),
        "{md}"
    );
    assert!(md.contains("\n### new line\n"), "{md}");
}
