//! Result rows: the reference CSV columns and their formats (`docs/results.md`),
//! de-duplication and order (section 6).

use std::cmp::Ordering;

use crate::layout::{RunFields, Segment, compare_config};
use crate::metrics::{Comment, RowMetrics, gpu_count};
use crate::server_log::{LogMetrics, SpecDecoding};

/// One row: one SLURM `.out` file of a run (`docs/results.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The config columns, from the run directory's path.
    pub fields: RunFields,
    /// The metric columns (all empty for a run that did not complete).
    pub metrics: RowMetrics,
    /// The `--root` argument as given joined with the `.out` file's path below it.
    pub path: String,
    /// The `comment` column.
    pub comment: Comment,
    /// SLURM job id from the `.out` file name `{jobid}_{n}.out` (0 for other names).
    pub job_id: u64,
    /// Task index from the `.out` file name `{jobid}_{n}.out` (0 for other names).
    pub task_index: u64,
    /// What the run's server log holds (`None` without a server log), for the columns
    /// after `comment`.
    pub log: Option<LogMetrics>,
}

impl Row {
    /// The run's speculative-decoding counters, from its server log.
    pub fn spec(&self) -> Option<&SpecDecoding> {
        self.log.as_ref().and_then(|log| log.spec.as_ref())
    }

    /// The generation throughput the server log shows while requests ran, per GPU of the
    /// run (tp x pp x dp): the one number a timed-out run has.
    pub fn log_output_tps_per_gpu(&self) -> Option<f64> {
        let gpus = gpu_count(self.fields.tp, self.fields.pp, self.fields.dp).max(1);
        self.log
            .as_ref()
            .and_then(|log| log.generation_tps_while_running)
            .map(|tps| tps / gpus as f64)
            .filter(|tps| tps.is_finite())
    }
}

/// A float CSV cell: exactly six decimals (`100.000000`), empty when missing; never `inf`
/// or `NaN` (such a value is empty too), and never `-0.000000`.
pub fn float_cell(value: Option<f64>) -> String {
    value
        .filter(|v| v.is_finite())
        .map(|v| format!("{:.6}", v + 0.0))
        .unwrap_or_default()
}

/// An integer CSV cell, empty when missing.
pub fn int_cell(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One column of `benchmarking_results.csv` and `{experiment}.csv`: its name and how a row
/// fills its cell. [`CSV_COLUMNS`] is the one list of them (`docs/results.md`).
pub struct Column {
    /// The header.
    pub name: &'static str,
    /// The row's cell.
    pub cell: fn(&Row) -> String,
}

const fn column(name: &'static str, cell: fn(&Row) -> String) -> Column {
    Column { name, cell }
}

/// The columns, in order. Users' notebooks read them by name and by position: a new
/// column is appended after `comment`.
pub const CSV_COLUMNS: &[Column] = &[
    column("experiment", |r| r.fields.experiment.clone()),
    column("prompt_template_name", |r| {
        r.fields.prompt_template_name.clone()
    }),
    column("model", |r| r.fields.model.clone()),
    column("tp", |r| int_cell(r.fields.tp)),
    column("pp", |r| int_cell(r.fields.pp)),
    column("dp", |r| int_cell(r.fields.dp)),
    column(Segment::MaxNumSeqs.column(), |r| {
        int_cell(r.fields.max_num_seqs)
    }),
    column(Segment::MaxNumBatchedTokens.column(), |r| {
        int_cell(r.fields.max_num_batched_tokens)
    }),
    column(Segment::GpuMemoryUtilization.column(), |r| {
        int_cell(r.fields.gpu_memory_percent)
    }),
    column(Segment::BlockSize.column(), |r| {
        int_cell(r.fields.block_size)
    }),
    column(Segment::KvCacheDtype.column(), |r| {
        r.fields.kv_cache_dtype.clone()
    }),
    column(Segment::Speculative.column(), |r| {
        r.fields.speculative.clone()
    }),
    column(Segment::Quantization.column(), |r| {
        r.fields.quantization.clone()
    }),
    column("gpus_for_1b_tokens_per_hour", |r| {
        float_cell(r.metrics.gpus_for_1b_tokens_per_hour)
    }),
    column("node_days_to_process_1b_tokens", |r| {
        float_cell(r.metrics.node_days_to_process_1b_tokens)
    }),
    column("gpu_days_to_process_1b_tokens", |r| {
        float_cell(r.metrics.gpu_days_to_process_1b_tokens)
    }),
    column("input_tps_per_gpu", |r| {
        float_cell(r.metrics.input_tps_per_gpu)
    }),
    column("output_tps_per_gpu", |r| {
        float_cell(r.metrics.output_tps_per_gpu)
    }),
    column("tokens_input_per_sec", |r| {
        float_cell(r.metrics.tokens_input_per_sec)
    }),
    column("tokens_output_per_sec", |r| {
        float_cell(r.metrics.tokens_output_per_sec)
    }),
    column("avg_running_reqs", |r| {
        float_cell(r.metrics.avg_running_reqs)
    }),
    column("avg_waiting_reqs", |r| {
        float_cell(r.metrics.avg_waiting_reqs)
    }),
    column("avg_gpu_kvc_usage", |r| {
        float_cell(r.metrics.avg_gpu_kvc_usage)
    }),
    column("avg_prefix_cache_hit_rate", |r| {
        float_cell(r.metrics.avg_prefix_cache_hit_rate)
    }),
    column("prompt_tokens_total", |r| {
        int_cell(r.metrics.prompt_tokens_total)
    }),
    column("completion_tokens_total", |r| {
        int_cell(r.metrics.completion_tokens_total)
    }),
    column("mean_input_tokens", |r| {
        float_cell(r.metrics.mean_input_tokens)
    }),
    column("mean_output_tokens", |r| {
        float_cell(r.metrics.mean_output_tokens)
    }),
    column("successful_requests", |r| {
        int_cell(r.metrics.successful_requests)
    }),
    column("e2e_time", |r| float_cell(r.metrics.e2e_time)),
    column("inference_time", |r| float_cell(r.metrics.inference_time)),
    column("e2e_per_1k_per_gpu", |r| {
        float_cell(r.metrics.e2e_per_1k_per_gpu)
    }),
    column("inference_per_1k_per_gpu", |r| {
        float_cell(r.metrics.inference_per_1k_per_gpu)
    }),
    column("path", |r| r.path.clone()),
    column("comment", |r| r.comment.to_string()),
    // Appended after `comment`: every column before keeps its position.
    column("spec_acceptance_rate", |r| {
        float_cell(r.spec().and_then(SpecDecoding::acceptance_rate))
    }),
    column("spec_mean_acceptance_length", |r| {
        float_cell(r.spec().and_then(|spec| spec.mean_acceptance_length))
    }),
    column("spec_accepted_tokens", |r| {
        int_cell(r.spec().map(|spec| spec.accepted))
    }),
    column("spec_drafted_tokens", |r| {
        int_cell(r.spec().map(|spec| spec.drafted))
    }),
    column("vllm_version", |r| {
        r.log
            .as_ref()
            .and_then(|log| log.vllm_version.clone())
            .unwrap_or_default()
    }),
    column("log_output_tps_per_gpu", |r| {
        float_cell(r.log_output_tps_per_gpu())
    }),
];

/// The header of the CSV files: the names of [`CSV_COLUMNS`].
pub fn csv_header() -> Vec<String> {
    CSV_COLUMNS.iter().map(|c| c.name.to_owned()).collect()
}

impl Row {
    /// The row's cells in [`CSV_COLUMNS`] order.
    pub fn csv_record(&self) -> Vec<String> {
        CSV_COLUMNS.iter().map(|c| (c.cell)(self)).collect()
    }

    /// How many of the eight de-duplication values are present (`docs/results.md`).
    fn completeness(&self) -> usize {
        self.metrics
            .completeness_values()
            .iter()
            .filter(|value| value.is_some())
            .count()
    }

    /// Which of two rows with equal config columns to keep: `Greater` when `self` wins.
    /// Most present values, then the highest `output_tps_per_gpu`, the highest job id, the
    /// highest task index; a last tie goes to the smaller path so the result never depends
    /// on the order the runs were read in.
    fn preference(&self, other: &Row) -> Ordering {
        self.completeness()
            .cmp(&other.completeness())
            .then_with(|| {
                compare_optional_float(
                    self.metrics.output_tps_per_gpu,
                    other.metrics.output_tps_per_gpu,
                )
            })
            .then_with(|| self.job_id.cmp(&other.job_id))
            .then_with(|| self.task_index.cmp(&other.task_index))
            .then_with(|| other.path.cmp(&self.path))
    }
}

/// Compare optional floats, a missing value below every present one.
fn compare_optional_float(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// Collapse rows with equal config columns to the preferred one and sort by the config
/// columns (`docs/results.md`). The result does not depend on the input order.
pub fn dedup_and_sort(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| compare_config(&a.fields, &b.fields).then_with(|| b.preference(a)));
    rows.dedup_by(|later, kept| later.fields == kept.fields);
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_reference_columns_in_order() {
        assert_eq!(
            csv_header().join(","),
            "experiment,prompt_template_name,model,tp,pp,dp,mns,mnbt,gmu,bs,kvc,spec,quant,\
             gpus_for_1b_tokens_per_hour,node_days_to_process_1b_tokens,\
             gpu_days_to_process_1b_tokens,input_tps_per_gpu,output_tps_per_gpu,\
             tokens_input_per_sec,tokens_output_per_sec,avg_running_reqs,avg_waiting_reqs,\
             avg_gpu_kvc_usage,avg_prefix_cache_hit_rate,prompt_tokens_total,\
             completion_tokens_total,mean_input_tokens,mean_output_tokens,successful_requests,\
             e2e_time,inference_time,e2e_per_1k_per_gpu,inference_per_1k_per_gpu,path,comment,\
             spec_acceptance_rate,spec_mean_acceptance_length,spec_accepted_tokens,\
             spec_drafted_tokens,vllm_version,log_output_tps_per_gpu"
        );
    }
    use crate::stats::StatsTotals;

    fn fields(model: &str, mns: Option<u64>) -> RunFields {
        RunFields {
            experiment: "tier0".into(),
            prompt_template_name: "default".into(),
            model: model.into(),
            tp: Some(1),
            max_num_seqs: mns,
            ..RunFields::default()
        }
    }

    fn row(fields: RunFields, metrics: RowMetrics, job_id: u64, task_index: u64) -> Row {
        Row {
            fields,
            metrics,
            path: format!("root/{job_id}_{task_index}.out"),
            comment: Comment::Empty,
            job_id,
            task_index,
            log: None,
        }
    }

    fn completed(output_tokens: u64) -> RowMetrics {
        RowMetrics::completed(
            &StatsTotals {
                completion_tokens_total: output_tokens,
                successful_requests: 10,
                inference_time: Some(10.0),
                e2e_time: Some(20.0),
                ..StatsTotals::default()
            },
            None,
            1,
        )
    }

    #[test]
    fn formats_integers_and_six_decimals() {
        assert_eq!(float_cell(Some(100.0)), "100.000000");
        assert_eq!(float_cell(Some(2.314_814_814_8)), "2.314815");
        assert_eq!(float_cell(None), "");
        assert_eq!(int_cell(Some(32768)), "32768");
        assert_eq!(int_cell(None), "");
    }

    #[test]
    fn record_has_every_column_in_order() {
        let mut r = row(fields("Qwen3_4B", None), completed(1000), 7, 1);
        r.comment = Comment::FailedRequests(3);
        let record = r.csv_record();
        assert_eq!(record.len(), CSV_COLUMNS.len());
        let cell = |name: &str| &record[CSV_COLUMNS.iter().position(|c| c.name == name).unwrap()];
        assert_eq!(cell("experiment"), "tier0");
        assert_eq!(cell("model"), "Qwen3_4B");
        assert_eq!(cell("tp"), "1");
        assert_eq!(cell("pp"), "");
        assert_eq!(cell("mns"), "");
        assert_eq!(cell("kvc"), "kvc_auto");
        // 1000 tokens / 10 s on 1 GPU.
        assert_eq!(cell("output_tps_per_gpu"), "100.000000");
        assert_eq!(cell("completion_tokens_total"), "1000");
        assert_eq!(cell("successful_requests"), "10");
        assert_eq!(cell("mean_input_tokens"), "");
        assert_eq!(cell("path"), "root/7_1.out");
        assert_eq!(cell("comment"), "failed_requests=3");
        assert_eq!(CSV_COLUMNS[0].name, "experiment");
        assert_eq!(CSV_COLUMNS[34].name, "comment");
    }

    #[test]
    fn dedup_prefers_more_values_then_throughput_then_job_then_task() {
        let key = fields("m", Some(256));
        let empty = row(key.clone(), RowMetrics::default(), 900, 9);
        let slow = row(key.clone(), completed(1000), 800, 0);
        let fast_old = row(key.clone(), completed(2000), 100, 5);
        let fast_new = row(key.clone(), completed(2000), 200, 0);
        let fast_new_task = row(key.clone(), completed(2000), 200, 1);
        let cases: [(Vec<&Row>, &Row); 4] = [
            (vec![&empty, &slow], &slow),
            (vec![&slow, &fast_old], &fast_old),
            (vec![&fast_new, &fast_old, &slow], &fast_new),
            (vec![&fast_new_task, &fast_new, &empty], &fast_new_task),
        ];
        for (input, expected) in cases {
            for rotation in 0..input.len() {
                let mut rows: Vec<Row> = input.iter().map(|r| (*r).clone()).collect();
                rows.rotate_left(rotation);
                assert_eq!(dedup_and_sort(rows), std::slice::from_ref(expected));
            }
        }
    }

    #[test]
    fn sorts_by_config_with_empty_last() {
        let rows = vec![
            row(
                fields("gemma_3_1b_it", Some(256)),
                RowMetrics::default(),
                1,
                0,
            ),
            row(fields("Qwen3_4B", None), RowMetrics::default(), 2, 0),
            row(fields("Qwen3_4B", Some(1024)), RowMetrics::default(), 3, 0),
            row(fields("Qwen3_4B", Some(512)), RowMetrics::default(), 4, 0),
        ];
        let jobs: Vec<u64> = dedup_and_sort(rows).iter().map(|r| r.job_id).collect();
        assert_eq!(jobs, [4, 3, 2, 1]);
    }
}
