//! The report (`docs/report.md`): `report.html`, one self-contained page (inline SVG and
//! CSS, no script, nothing fetched), and `report.md`, the same tables in Markdown with the
//! charts as SVG files in `report_files/`. What they show is `bench_core::report`'s; this
//! module draws the charts ([`charts`]), fills the page's Tera template and writes the
//! Markdown.

pub mod charts;

use std::fmt::Write as _;
use std::path::Path;

use bench_core::layout::rel::{KWARGS_JSON, SLURM_LOGS_DIR};
use bench_core::report::{
    Cell, Heatmap, Report, SpecChart, WITHOUT_BASELINE_HEADERS, WITHOUT_BASELINE_NUMERIC,
    winner_args_yaml,
};
use bench_core::summary::{SUMMARY_TABLE_HEADERS, round_half_even};
use bench_io::bounded::{Accept, MAX_KWARGS_BYTES, read_text};
use rayon::prelude::*;
use serde::Serialize;

use crate::tables::{SUMMARY_NUMERIC, alignment_line, table_line};
use charts::Chart;

/// The page's file name.
pub const HTML_FILE: &str = "report.html";
/// The Markdown report's file name.
pub const MARKDOWN_FILE: &str = "report.md";
/// The directory of the Markdown report's charts, beside it.
pub const FILES_DIR: &str = "report_files";

/// Every name the report takes in `--out`.
pub const NAMES: [&str; 3] = [HTML_FILE, MARKDOWN_FILE, FILES_DIR];

/// The page's template.
const TEMPLATE: &str = include_str!("report.html.tera");

/// The report, rendered: the page, the Markdown, and the charts' SVG files (name, text)
/// for `report_files/`.
#[derive(Debug)]
pub struct Rendered {
    /// `report.html`.
    pub html: String,
    /// `report.md`.
    pub markdown: String,
    /// `(file name, SVG)` of each chart.
    pub charts: Vec<(String, String)>,
}

/// A table: headers, which columns are numbers (right-aligned), rows of text cells.
#[derive(Debug, Serialize)]
struct Table {
    headers: Vec<String>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>, numeric: &[bool]) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            numeric: numeric.to_vec(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, cells: impl IntoIterator<Item = String>) {
        self.rows.push(cells.into_iter().collect());
    }
}

/// A chart as the page and the Markdown show it.
#[derive(Debug, Serialize)]
struct ChartView {
    title: String,
    alt: String,
    svg: String,
    /// Its file in `report_files/`.
    file: String,
}

/// A section of charts: per model (and tp), a chart when there is something to draw, and
/// its data as a table (the chart's text alternative in full).
#[derive(Debug, Serialize)]
struct Figure {
    title: String,
    chart: Option<ChartView>,
    /// Why there is no chart.
    note: Option<String>,
    data: Table,
}

/// Everything the page and the Markdown show, as text.
#[derive(Debug, Serialize)]
struct View {
    root: String,
    runs: usize,
    completed: usize,
    failed: Vec<(String, usize)>,
    failed_total: usize,
    gpu_hours: String,
    results: Table,
    without_baseline: Table,
    speedup: Option<ChartView>,
    heatmaps: Vec<Figure>,
    spec: Vec<Figure>,
    sweep_further: Table,
    failure_counts: Table,
    failed_runs: Table,
    winners: Vec<Winner>,
}

/// A model's winner as an `args:` block.
#[derive(Debug, Serialize)]
struct Winner {
    model: String,
    tps: String,
    path: String,
    yaml: String,
}

/// A file name safe anywhere: the index, then the name's ASCII letters, digits, `-`, `_`
/// and `.` (others as `_`), at most 80 of them.
fn chart_file(kind: &str, index: usize, name: &str) -> String {
    let safe: String = name
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}-{index:03}-{safe}.svg")
}

fn chart_view(chart: Chart, file: String) -> ChartView {
    ChartView {
        title: chart.title,
        alt: chart.alt,
        svg: chart.svg,
        file,
    }
}

/// A heatmap's cells as a table: a row per max-num-batched-tokens, a column per
/// max-num-seqs, the best and baseline cells marked.
fn heatmap_table(map: &Heatmap) -> Table {
    let headers = std::iter::once("mnbt ↓ / mns →".to_owned())
        .chain(map.max_num_seqs.iter().map(ToString::to_string));
    let mut table = Table::new(headers, &vec![true; map.max_num_seqs.len() + 1]);
    for (y, line) in map.cells.iter().enumerate() {
        let cells = line.iter().enumerate().map(|(x, cell)| {
            let marks = map.marks(x, y);
            let text = charts::cell_text(cell);
            if marks.is_empty() || *cell == Cell::Blank {
                text
            } else {
                format!("{text} ({})", marks.join(", "))
            }
        });
        table.push(std::iter::once(map.max_num_batched_tokens[y].to_string()).chain(cells));
    }
    table
}

/// A speculative-decoding chart's bars as a table: a row per speculative config, a column
/// per gpu-memory-utilization, then the best without speculative decoding.
fn spec_table(spec: &SpecChart) -> Table {
    let headers = std::iter::once("spec ↓ / gmu →".to_owned())
        .chain(spec.gpu_memory_percents.iter().map(ToString::to_string));
    let mut table = Table::new(headers, &vec![true; spec.gpu_memory_percents.len() + 1]);
    for group in &spec.groups {
        table.push(
            std::iter::once(group.spec.clone()).chain(group.bars.iter().map(|bar| {
                bar.as_ref().map_or_else(String::new, |bar| {
                    charts::bar_label(bar.output_tps_per_gpu, bar.acceptance_rate)
                })
            })),
        );
    }
    if let Some(best) = spec.without_spec {
        let mut cells = vec![
            "none (best of all runs without speculative decoding)".to_owned(),
            round_half_even(best),
        ];
        cells.resize(spec.gpu_memory_percents.len() + 1, String::new());
        table.push(cells);
    }
    table
}

/// The run directory of a row's `.out` path (`{run}/inference_logs/slurm_logs/{name}`).
fn run_dir_of(out_path: &str) -> Option<&Path> {
    let logs = Path::new(out_path).parent()?;
    logs.ends_with(SLURM_LOGS_DIR)
        .then(|| {
            logs.ancestors()
                .nth(Path::new(SLURM_LOGS_DIR).iter().count())
        })
        .flatten()
}

/// The winner's `kwargs.json` as written by `launch`; `None` when it is absent (warnings
/// for a file that is there but cannot be used go to `problems`).
fn read_kwargs(
    out_path: &str,
    problems: &mut Vec<String>,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let path = run_dir_of(out_path)?.join(KWARGS_JSON);
    if !path.exists() {
        return None;
    }
    let text = read_text(&path, MAX_KWARGS_BYTES, Accept::Regular, "kwargs file")
        .map_err(|err| problems.push(format!("{err}: the winner's args come from its path")))
        .ok()?;
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&text) {
        Some(map)
    } else {
        problems.push(format!(
            "`{}` is not a JSON object: the winner's args come from its path",
            path.display()
        ));
        None
    }
}

/// Lay out what the page and the Markdown show, reading each winner's `kwargs.json`.
fn view(
    report: &Report,
    problems: &mut Vec<String>,
) -> anyhow::Result<(View, Vec<(String, String)>)> {
    let mut files = Vec::new();
    let mut keep = |chart: Chart, file: String| {
        files.push((file.clone(), chart.svg.clone()));
        chart_view(chart, file)
    };
    let overview = &report.overview;
    let mut results = Table::new(SUMMARY_TABLE_HEADERS, &SUMMARY_NUMERIC);
    for model in &report.results {
        results.push(model.table_cells());
    }
    let mut without_baseline = Table::new(WITHOUT_BASELINE_HEADERS, &WITHOUT_BASELINE_NUMERIC);
    for best in &report.without_baseline {
        without_baseline.push(best.table_cells());
    }
    let speedup = if report.speedups.is_empty() {
        None
    } else {
        let chart = charts::speedup_chart(&report.speedups)?;
        Some(keep(chart, "speedup.svg".to_owned()))
    };
    let mut heatmaps = Vec::new();
    // The charts are drawn in parallel (each is independent), then laid out in order.
    let heatmap_charts: Vec<anyhow::Result<Option<Chart>>> = report
        .heatmaps
        .par_iter()
        .map(charts::heatmap_chart)
        .collect();
    let spec_charts: Vec<anyhow::Result<Chart>> = report
        .spec_charts
        .par_iter()
        .map(charts::spec_chart)
        .collect();
    for ((index, map), chart) in report.heatmaps.iter().enumerate().zip(heatmap_charts) {
        let chart = chart?;
        let note = chart.is_none().then(|| {
            "No run completed here: no colours to show, the table lists the failures.".to_owned()
        });
        heatmaps.push(Figure {
            title: charts::heatmap_title(map),
            chart: chart.map(|chart| {
                keep(
                    chart,
                    chart_file("heatmap", index + 1, &format!("{}-tp{}", map.model, map.tp)),
                )
            }),
            note,
            data: heatmap_table(map),
        });
    }
    let mut spec = Vec::new();
    for ((index, chart), drawn) in report.spec_charts.iter().enumerate().zip(spec_charts) {
        let drawn = drawn?;
        spec.push(Figure {
            title: charts::spec_title(chart),
            chart: Some(keep(drawn, chart_file("spec", index + 1, &chart.model))),
            note: None,
            data: spec_table(chart),
        });
    }
    let mut sweep_further = Table::new(
        ["Model", "Key", "Largest value tried (the best run's)"],
        &[false, false, true],
    );
    for entry in &report.sweep_further {
        sweep_further.push([
            entry.model.clone(),
            entry.key.arg().to_owned(),
            entry.value.to_string(),
        ]);
    }
    let mut failure_counts = Table::new(["Experiment", "Class", "Runs"], &[false, false, true]);
    for (experiment, comment, count) in &report.failures.counts {
        failure_counts.push([experiment.clone(), comment.clone(), count.to_string()]);
    }
    let mut failed_runs = Table::new(
        ["Experiment", "Model", "Class", ".out file"],
        &[false, false, false, false],
    );
    for run in &report.failures.runs {
        failed_runs.push([
            run.experiment.clone(),
            run.model.clone(),
            run.comment.clone(),
            run.path.clone(),
        ]);
    }
    let winners = report
        .winners
        .iter()
        .map(|best| Winner {
            model: best.model.clone(),
            tps: round_half_even(best.output_tps_per_gpu),
            path: best.path.clone(),
            yaml: winner_args_yaml(read_kwargs(&best.path, problems).as_ref(), &best.fields),
        })
        .collect();
    let view = View {
        root: overview.root.clone(),
        runs: overview.runs,
        completed: overview.completed,
        failed: overview.failed.clone(),
        failed_total: overview.failed.iter().map(|(_, count)| count).sum(),
        // Two decimals: a few short runs still show; `+ 0.0` turns an empty sum's -0 into 0.
        gpu_hours: format!("{:.2}", overview.gpu_hours + 0.0),
        results,
        without_baseline,
        speedup,
        heatmaps,
        spec,
        sweep_further,
        failure_counts,
        failed_runs,
        winners,
    };
    Ok((view, files))
}

/// Render the report; problems reading the winners' `kwargs.json` go to `problems`.
pub fn render(report: &Report, problems: &mut Vec<String>) -> anyhow::Result<Rendered> {
    let (view, charts) = view(report, problems)?;
    let mut tera = tera::Tera::default();
    // A name ending in `.html` turns on HTML escaping of every value.
    tera.add_raw_template("report.html", TEMPLATE)?;
    let mut context = tera::Context::from_serialize(&view)?;
    context.insert("heatmap_intro", HEATMAP_INTRO);
    context.insert("sweep_further_intro", SWEEP_FURTHER_INTRO);
    let html = tera.render("report.html", &context)?;
    Ok(Rendered {
        html,
        markdown: markdown(&view),
        charts,
    })
}

/// Text made safe for Markdown, shown as it is: `&`, `<` and `>` as entities (a name is
/// never taken for HTML); `\\`, `` ` ``, `*`, `[` and `]` escaped with a backslash, and `_`
/// where it could start or end emphasis (not inside a word: `Qwen3_8B` stays readable); line
/// breaks and other control characters as spaces (a table row stays one line). `|` in table
/// cells is escaped by the table.
fn md(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (index, &c) in chars.iter().enumerate() {
        let word = |at: Option<&char>| at.is_some_and(|c| c.is_alphanumeric());
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '_' if !(word(index.checked_sub(1).and_then(|i| chars.get(i)))
                && word(chars.get(index + 1))) =>
            {
                out.push_str("\\_");
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn md_table(out: &mut String, table: &Table) {
    let _ = writeln!(out, "{}", table_line(table.headers.iter().map(|h| md(h))));
    let _ = writeln!(out, "{}", alignment_line(table.numeric.iter().copied()));
    for row in &table.rows {
        let _ = writeln!(out, "{}", table_line(row.iter().map(|c| md(c))));
    }
    out.push('\n');
}

fn md_figure(out: &mut String, figure: &Figure) {
    let _ = writeln!(out, "### {}\n", md(&figure.title));
    if let Some(chart) = &figure.chart {
        md_chart(out, chart);
    }
    if let Some(note) = &figure.note {
        let _ = writeln!(out, "{}\n", md(note));
    }
    md_table(out, &figure.data);
}

fn md_chart(out: &mut String, chart: &ChartView) {
    let alt = md(&chart.alt);
    let _ = writeln!(out, "![{alt}]({FILES_DIR}/{})\n", chart.file);
}

/// A fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// `report.md`: the page's sections in Markdown.
fn markdown(view: &View) -> String {
    let mut out = String::from("# Benchmark report\n\n");
    let _ = writeln!(out, "- Root: {}", md(&view.root));
    let _ = writeln!(out, "- Runs: {}", view.runs);
    let _ = writeln!(out, "- Completed: {}", view.completed);
    let failed = view.failed_total;
    let classes = view
        .failed
        .iter()
        .map(|(class, n)| format!("{} {n}", md(class)))
        .collect::<Vec<_>>()
        .join(", ");
    if failed == 0 {
        out.push_str("- Failed: 0\n");
    } else {
        let _ = writeln!(out, "- Failed: {failed} ({classes})");
    }
    let _ = writeln!(
        out,
        "- GPU-hours of the completed runs (GPUs x e2e_time): {}\n",
        view.gpu_hours
    );
    if view.completed == 0 {
        out.push_str("**No run completed: there is nothing to compare or chart yet.**\n\n");
    }
    out.push_str("## Results\n\n");
    if view.results.rows.is_empty() {
        out.push_str("No model has a baseline run (vLLM's defaults) that completed.\n\n");
    } else {
        md_table(&mut out, &view.results);
    }
    if !view.without_baseline.rows.is_empty() {
        out.push_str(
            "Models without a baseline run (not in the table above), with their best run:\n\n",
        );
        md_table(&mut out, &view.without_baseline);
    }
    if let Some(chart) = &view.speedup {
        let _ = writeln!(out, "## Speedup per model\n");
        md_chart(&mut out, chart);
    }
    if !view.heatmaps.is_empty() {
        out.push_str("## Max-num-seqs x max-num-batched-tokens\n\n");
        out.push_str(HEATMAP_INTRO);
        out.push_str("\n\n");
        for figure in &view.heatmaps {
            md_figure(&mut out, figure);
        }
    }
    if !view.spec.is_empty() {
        out.push_str("## Speculative decoding x gpu-memory-utilization\n\n");
        for figure in &view.spec {
            md_figure(&mut out, figure);
        }
    }
    out.push_str("## Sweep further\n\n");
    if view.sweep_further.rows.is_empty() {
        out.push_str("No model's best run sits at the largest max-num-seqs or max-num-batched-tokens tried.\n\n");
    } else {
        out.push_str(SWEEP_FURTHER_INTRO);
        out.push_str("\n\n");
        md_table(&mut out, &view.sweep_further);
    }
    out.push_str("## Failures\n\n");
    if view.failed_runs.rows.is_empty() {
        out.push_str("No run failed.\n\n");
    } else {
        md_table(&mut out, &view.failure_counts);
        md_table(&mut out, &view.failed_runs);
    }
    if !view.winners.is_empty() {
        out.push_str("## Winners as config args\n\n");
        for winner in &view.winners {
            let _ = writeln!(
                out,
                "### {}\n\n{} tokens/s per GPU, run: {}\n",
                md(&winner.model),
                winner.tps,
                md(&winner.path)
            );
            let fence = fence(&winner.yaml);
            let _ = writeln!(out, "{fence}yaml\n{}{fence}\n", winner.yaml);
        }
    }
    out
}

/// What the heatmaps hold, said above them.
const HEATMAP_INTRO: &str = "Each cell: the best output tokens/s per GPU of the completed runs at \
gpu-memory-utilization 0.9, block size 16, KV cache dtype auto, without speculative decoding \
or quantization; a failure class when none of them completed; blank when never run.";

/// What "Sweep further" means, said above its table.
const SWEEP_FURTHER_INTRO: &str = "These models' best runs use the largest value of the key that \
any of the model's runs tried: the optimum may lie beyond it.";

#[cfg(test)]
mod tests {
    use super::md;

    #[test]
    fn markdown_text_is_shown_as_it_is() {
        assert_eq!(md("Qwen3_8B"), "Qwen3_8B");
        assert_eq!(
            md("_x_ *y* [l](u) `c` a\\b"),
            "\\_x\\_ \\*y\\* \\[l\\](u) \\`c\\` a\\\\b"
        );
        assert_eq!(md("a<b>&\"c\"'d"), "a&lt;b&gt;&amp;\"c\"'d");
        assert_eq!(md("new\nline\r\t"), "new line  ");
    }
}
