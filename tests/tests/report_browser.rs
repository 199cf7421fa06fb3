//! `report.html` in a real browser: Debian's chromium, headless, renders the page `analyze`
//! wrote for a small tree to a PNG and dumps its DOM. The page must draw something (the PNG
//! is not one colour) and its text must hold the results table.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::tools::Binaries;

/// A merged `stats.json` as datatrove writes it: `completion_tokens` over 100 s of inference,
/// 10,000 requests.
fn stats_json(completion_tokens: u64) -> String {
    serde_json::json!([
        {
            "name": "READER: Jsonl",
            "time_stats": {"total": 2.0, "global_mean": 1.0, "n": 2},
            "stats": {"documents": {"total": 10_000}}
        },
        {
            "name": "Model call: Inference",
            "time_stats": {"total": 202.0, "global_mean": 101.0, "n": 2},
            "stats": {
                "inference_time": {"total": 100.0, "mean": 100.0, "unit": "seconds"},
                "prompt_tokens": {"total": 1_000_000, "n": 10_000, "mean": 100.0},
                "completion_tokens": {"total": completion_tokens, "n": 10_000, "mean": 100.0},
                "successful_requests": {"total": 10_000},
                "failed_requests": 0
            }
        }
    ])
    .to_string()
}

/// A completed run of `model` at tp 1 with `mns` and `mnbt`: `completion_tokens` / 100 s
/// tokens/s per GPU.
fn completed(root: &Path, model: &str, mns: u64, mnbt: u64, completion_tokens: u64) {
    let run = root.join(format!(
        "tier0/tutorial/{model}/tp1-pp1-dp1/mns_{mns}/mnbt_{mnbt}/gmu_90/bs_16/kvc_auto/spec_none/quant_none"
    ));
    let logs = run.join("inference_logs/slurm_logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("7_0.out"), "").unwrap();
    fs::write(
        run.join("inference_logs/stats.json"),
        stats_json(completion_tokens),
    )
    .unwrap();
}

/// `chromium --headless --no-sandbox` with `args`, at most two minutes; its stdout.
fn chromium(args: &[&str]) -> String {
    let output = Command::new("timeout")
        .args([
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .args(["--user-data-dir=/tmp/bench-tests-chromium-profile"])
        .args(args)
        .output()
        .expect("`timeout` (coreutils) runs chromium; scripts/test.sh installs it");
    assert!(
        output.status.success(),
        "chromium {args:?} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[ignore = "needs Debian's chromium, installed by scripts/test.sh (as root); run with: bash scripts/test.sh report_in_a_real_browser"]
fn report_in_a_real_browser() {
    let dir = bench_tests::output_dir();
    let root = dir.path().join("results");
    // Smol: baseline 10,000 tokens/s per GPU, best 20,000 at mns 512 (2.00x).
    completed(&root, "Smol", 256, 8192, 1_000_000);
    completed(&root, "Smol", 512, 8192, 2_000_000);
    completed(&root, "Smol", 512, 16384, 1_500_000);
    Binaries::build().analyze(dir.path());
    let page = root.join("report.html");
    let url = format!("file://{}", page.display());

    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = fs::remove_file(&png);
    chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1280,2000",
        &url,
    ]);
    let decoder = png::Decoder::new(std::io::BufReader::new(fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut pixels).expect("a frame");
    let pixels = &pixels[..info.buffer_size()];
    let channels = info.color_type.samples();
    let first = &pixels[..channels];
    let differing = pixels
        .chunks(channels)
        .filter(|pixel| *pixel != first)
        .count();
    // Text, tables and charts: far more than 1 % of the pixels differ from the corner's.
    let total = pixels.len() / channels;
    assert!(
        differing * 100 > total,
        "the screenshot is blank: {differing} of {total} pixels differ from the first"
    );

    let dom = chromium(&["--dump-dom", &url]);
    let row = "<td>Smol</td><td class=\"num\">1</td><td class=\"num\">10000</td>\
               <td class=\"num\">20000</td><td class=\"num\">2.00x</td><td>mns=512</td>";
    assert!(
        dom.contains(row),
        "the results table is not in the DOM:\n{dom}"
    );
    assert!(dom.contains("<svg"), "no chart in the DOM");
    println!("report.html rendered by chromium: {}", png.display());
}
