//! The Markdown tables printed on stdout (`docs/results.md`): one per experiment,
//! then the optimization summary in the seed README's layout.

use std::fmt::Write as _;

use bench_core::failure::FailureClass;
use bench_core::layout::{RunFields, Segment};
use bench_core::metrics::Comment;
use bench_core::report::{BestRun, WITHOUT_BASELINE_HEADERS, WITHOUT_BASELINE_NUMERIC};
use bench_core::rows::{Row, int_cell};
use bench_core::server_log::SpecDecoding;
use bench_core::summary::{ModelSummary, SUMMARY_TABLE_HEADERS, round_half_even};
use itertools::Itertools;

/// A config column of the experiment tables: its short name, how a row shows it, and
/// whether it is a number (right-aligned).
struct ConfigColumn {
    name: &'static str,
    show: Show,
    numeric: bool,
}

/// How a [`ConfigColumn`] shows a row's value.
enum Show {
    /// A field as is.
    Field(fn(&RunFields) -> String),
    /// A run-directory segment without its prefix.
    Segment(Segment),
}

impl ConfigColumn {
    /// The value of this column for `fields`.
    fn value(&self, fields: &RunFields) -> String {
        match self.show {
            Show::Field(show) => show(fields),
            Show::Segment(segment) => fields.segment_value(segment),
        }
    }
}

/// A [`ConfigColumn`].
const fn column(name: &'static str, show: fn(&RunFields) -> String, numeric: bool) -> ConfigColumn {
    ConfigColumn {
        name,
        show: Show::Field(show),
        numeric,
    }
}

/// The column of a run-directory segment, named as its CSV column (`mns`), showing the
/// value without its prefix.
const fn segment_column(segment: Segment) -> ConfigColumn {
    ConfigColumn {
        name: segment.column(),
        show: Show::Segment(segment),
        numeric: segment.is_integer(),
    }
}

/// The config columns, in the CSV's order.
const CONFIG_COLUMNS: [ConfigColumn; 12] = [
    column("prompt", |f| f.prompt_template_name.clone(), false),
    column("model", |f| f.model.clone(), false),
    column("tp", |f| int_cell(f.tp), true),
    column("pp", |f| int_cell(f.pp), true),
    column("dp", |f| int_cell(f.dp), true),
    segment_column(Segment::MaxNumSeqs),
    segment_column(Segment::MaxNumBatchedTokens),
    segment_column(Segment::GpuMemoryUtilization),
    segment_column(Segment::BlockSize),
    segment_column(Segment::KvCacheDtype),
    segment_column(Segment::Speculative),
    segment_column(Segment::Quantization),
];

/// The metric columns of the experiment tables (all right-aligned but `comment`).
const METRIC_HEADERS: [&str; 10] = [
    "gpus/1b/h",
    "out tps/gpu",
    "mean_in",
    "mean_out",
    "kvc%",
    "prefix%",
    "inf/1k/gpu",
    "spec acc%",
    "log tps/gpu",
    "comment",
];

/// Which columns of [`SUMMARY_TABLE_HEADERS`] hold numbers (right-aligned).
pub const SUMMARY_NUMERIC: [bool; 6] = [false, true, true, true, true, false];

/// A number rounded to an integer (half to even), empty when missing.
fn integer(value: Option<f64>) -> String {
    value.map(round_half_even).unwrap_or_default()
}

/// A percentage with one decimal, empty when missing.
fn one_decimal(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.1}")).unwrap_or_default()
}

/// Seconds as `H:MM:SS`, the seconds truncated (`12.9` -> `0:00:12`); empty when missing.
pub fn hms(seconds: Option<f64>) -> String {
    seconds.map_or_else(String::new, |seconds| {
        // Truncation toward zero is the rule; negative times do not occur.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "truncating non-negative seconds to whole seconds"
        )]
        let total = seconds.max(0.0) as u64;
        format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
    })
}

/// One Markdown table line: `| a | b |`, an empty cell as `| |`, `|` in a cell escaped.
pub fn table_line<S: AsRef<str>>(cells: impl IntoIterator<Item = S>) -> String {
    let mut line = String::from("|");
    for cell in cells {
        let cell = cell.as_ref();
        if cell.is_empty() {
            line.push_str(" |");
        } else {
            let _ = write!(line, " {} |", cell.replace('|', "\\|"));
        }
    }
    line
}

/// The alignment line: `:--` for text, `--:` for numbers.
pub fn alignment_line(numeric: impl IntoIterator<Item = bool>) -> String {
    table_line(
        numeric
            .into_iter()
            .map(|numeric| if numeric { "--:" } else { ":--" }),
    )
}

/// One experiment's section: the header line with the constant config columns, then the
/// table of its rows (in their order) with the varying ones.
fn experiment_section(experiment: &str, rows: &[&Row]) -> String {
    let (constant, varying): (Vec<&ConfigColumn>, Vec<&ConfigColumn>) = CONFIG_COLUMNS
        .iter()
        .partition(|column| rows.iter().map(|row| column.value(&row.fields)).all_equal());
    let mut text = format!("## {experiment}");
    if let Some(first) = rows.first()
        && !constant.is_empty()
    {
        let settings = constant
            .iter()
            .map(|column| format!("{}={}", column.name, column.value(&first.fields)))
            .join(", ");
        let _ = write!(text, "  ({settings})");
    }
    text.push_str("\n\n");
    let headers = varying
        .iter()
        .map(|column| column.name)
        .chain(METRIC_HEADERS);
    text.push_str(&table_line(headers));
    text.push('\n');
    let numeric = varying
        .iter()
        .map(|column| column.numeric)
        .chain(METRIC_HEADERS.map(|header| header != "comment"));
    text.push_str(&alignment_line(numeric));
    text.push('\n');
    for row in rows {
        let m = &row.metrics;
        let cells = varying
            .iter()
            .map(|column| column.value(&row.fields))
            .chain([
                integer(m.gpus_for_1b_tokens_per_hour),
                integer(m.output_tps_per_gpu),
                integer(m.mean_input_tokens),
                integer(m.mean_output_tokens),
                one_decimal(m.avg_gpu_kvc_usage),
                one_decimal(m.avg_prefix_cache_hit_rate),
                hms(m.inference_per_1k_per_gpu),
                // Acceptance of the runs with speculative decoding.
                one_decimal(row.spec().and_then(SpecDecoding::acceptance_rate)),
                // The throughput the server log showed, for a run that timed out.
                if row.comment == Comment::Failure(FailureClass::Timeout) {
                    integer(row.log_output_tps_per_gpu())
                } else {
                    String::new()
                },
                row.comment.to_string(),
            ]);
        text.push_str(&table_line(cells));
        text.push('\n');
    }
    text
}

/// The optimization summary's section (empty text when no model has a baseline).
fn summary_section(summary: &[ModelSummary]) -> String {
    if summary.is_empty() {
        return String::new();
    }
    let mut text = String::from("## Optimization summary\n\n");
    text.push_str(&table_line(SUMMARY_TABLE_HEADERS));
    text.push('\n');
    text.push_str(&alignment_line(SUMMARY_NUMERIC));
    text.push('\n');
    for model in summary {
        text.push_str(&table_line(model.table_cells()));
        text.push('\n');
    }
    text
}

/// The models without a baseline run, with their best run (empty text when there are none).
fn without_baseline_section(models: &[BestRun]) -> String {
    if models.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "## Models without a baseline\n\nNot in the optimization summary: no baseline run (vLLM's defaults) completed. Their best runs:\n\n",
    );
    text.push_str(&table_line(WITHOUT_BASELINE_HEADERS));
    text.push('\n');
    text.push_str(&alignment_line(WITHOUT_BASELINE_NUMERIC));
    text.push('\n');
    for best in models {
        text.push_str(&table_line(best.table_cells()));
        text.push('\n');
    }
    text
}

/// Everything printed on stdout: one section per experiment (rows in `docs/results.md`
/// order), then the optimization summary, then the models without a baseline, separated by
/// blank lines.
pub fn render(rows: &[Row], summary: &[ModelSummary], without_baseline: &[BestRun]) -> String {
    let mut sections: Vec<String> = rows
        .iter()
        .chunk_by(|row| row.fields.experiment.as_str())
        .into_iter()
        .map(|(experiment, rows)| experiment_section(experiment, &rows.collect::<Vec<_>>()))
        .collect();
    sections.push(summary_section(summary));
    sections.push(without_baseline_section(without_baseline));
    sections.retain(|section| !section.is_empty());
    sections.join("\n")
}

#[cfg(test)]
mod tests {
    use bench_core::metrics::{Comment, RowMetrics};

    use super::*;

    #[test]
    fn hms_truncates_seconds() {
        // 122.31 s / 10,000 requests x 1000 x 1 GPU = 12.231 s.
        assert_eq!(hms(Some(12.231)), "0:00:12");
        assert_eq!(hms(Some(59.999)), "0:00:59");
        assert_eq!(hms(Some(3_725.0)), "1:02:05");
        assert_eq!(hms(Some(36_000.0 + 59.0)), "10:00:59");
        assert_eq!(hms(None), "");
    }

    #[test]
    fn table_lines_show_empty_cells_as_a_bar() {
        assert_eq!(table_line(["a", "", "b|c"]), "| a | | b\\|c |");
        assert_eq!(alignment_line([false, true]), "| :-- | --: |");
    }

    /// The documented example row (`docs/results.md`): 10,000 requests, 557 output tokens each (5,567,916 in
    /// all), 122.31 s of inference on 1 GPU.
    #[test]
    fn documented_example_row() {
        let fields = RunFields {
            experiment: "tier0-tiny".into(),
            prompt_template_name: "tutorial".into(),
            model: "SmolLM2_135M_Instruct".into(),
            tp: Some(1),
            pp: Some(1),
            dp: Some(1),
            max_num_seqs: Some(512),
            max_num_batched_tokens: Some(32768),
            gpu_memory_percent: Some(90),
            block_size: Some(16),
            ..RunFields::default()
        };
        let metrics = RowMetrics {
            // 5,567,916 / 122.31 = 45,522.98 tokens/s; 1e9 / (45,522.98 x 3600) = 6.10.
            output_tps_per_gpu: Some(5_567_916.0 / 122.31),
            gpus_for_1b_tokens_per_hour: Some(1e9 / (5_567_916.0 / 122.31 * 3600.0)),
            mean_input_tokens: Some(982.398),
            mean_output_tokens: Some(556.7916),
            avg_gpu_kvc_usage: Some(91.36),
            avg_prefix_cache_hit_rate: Some(2.5),
            inference_per_1k_per_gpu: Some(122.31 / 10_000.0 * 1000.0),
            ..RowMetrics::default()
        };
        let row = |model: &str, mns: u64| Row {
            fields: RunFields {
                model: model.into(),
                max_num_seqs: Some(mns),
                ..fields.clone()
            },
            metrics: metrics.clone(),
            path: String::new(),
            comment: Comment::Empty,
            job_id: 1,
            task_index: 0,
            log: None,
        };
        let rows = [
            row("SmolLM2_135M_Instruct", 512),
            row("SmolLM2_135M_Instruct", 256),
        ];
        assert_eq!(
            render(&rows, &[], &[]),
            "## tier0-tiny  (prompt=tutorial, model=SmolLM2_135M_Instruct, tp=1, pp=1, dp=1, mnbt=32768, gmu=90, bs=16, kvc=auto, spec=none, quant=none)\n\
             \n\
             | mns | gpus/1b/h | out tps/gpu | mean_in | mean_out | kvc% | prefix% | inf/1k/gpu | spec acc% | log tps/gpu | comment |\n\
             | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | :-- |\n\
             | 512 | 6 | 45523 | 982 | 557 | 91.4 | 2.5 | 0:00:12 | | | |\n\
             | 256 | 6 | 45523 | 982 | 557 | 91.4 | 2.5 | 0:00:12 | | | |\n"
        );
    }
}
