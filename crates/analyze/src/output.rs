//! Writing the CSV files, each whole or not at all (`docs/results.md`).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use bench_core::rows::{Row, csv_header};
use bench_core::summary::{ModelSummary, SUMMARY_COLUMNS};
use itertools::Itertools;
use tempfile::NamedTempFile;

/// The CSV with every row.
pub const ALL_ROWS_FILE: &str = "benchmarking_results.csv";
/// The optimization summary's CSV.
pub const SUMMARY_FILE: &str = "optimization_summary.csv";

/// The CSV files to write: file name and records (the header first).
#[derive(Debug, Default)]
pub struct CsvFiles {
    /// `(file name, records)`, in writing order.
    pub files: Vec<(String, Vec<Vec<String>>)>,
    /// Experiments whose own CSV is not written, with the reason, for stderr.
    pub skipped: Vec<String>,
}

/// Lay out the CSV files for `rows` (in `docs/results.md` order) and the summary:
/// `{experiment}.csv` per experiment, `benchmarking_results.csv`, and
/// `optimization_summary.csv` unless the summary is empty. An experiment in `clashing`
/// (one name for several folders) gets no CSV of its own, so that no two experiments write
/// one file; its rows stay in `benchmarking_results.csv`.
pub fn csv_files(rows: &[Row], summary: &[ModelSummary], clashing: &BTreeSet<String>) -> CsvFiles {
    let header = csv_header;
    let mut out = CsvFiles::default();
    for (experiment, group) in &rows.iter().chunk_by(|row| row.fields.experiment.as_str()) {
        let name = format!("{experiment}.csv");
        if experiment.is_empty() || name == ALL_ROWS_FILE || name == SUMMARY_FILE {
            out.skipped.push(format!(
                "experiment `{experiment}` has no CSV of its own (its name is empty or that of \
                 another output); its rows are in `{ALL_ROWS_FILE}`"
            ));
            continue;
        }
        if clashing.contains(experiment) {
            out.skipped.push(format!(
                "experiment `{experiment}` stands for several directories (names that are not \
                 valid UTF-8 are shown with `\\xNN`): none gets `{name}`, so none overwrites \
                 another; their rows are in `{ALL_ROWS_FILE}`"
            ));
            continue;
        }
        let mut records = vec![header()];
        records.extend(group.map(Row::csv_record));
        out.files.push((name, records));
    }
    let mut all = vec![header()];
    all.extend(rows.iter().map(Row::csv_record));
    out.files.push((ALL_ROWS_FILE.to_owned(), all));
    if !summary.is_empty() {
        let mut records = vec![SUMMARY_COLUMNS.iter().map(|c| (*c).to_owned()).collect()];
        records.extend(summary.iter().map(ModelSummary::csv_record));
        out.files.push((SUMMARY_FILE.to_owned(), records));
    }
    out
}

/// Write each file into `dir`: every file to a temporary file in `dir` first, then all are
/// renamed into place, so a failure leaves no partial file. Returns the paths written.
pub fn write_files(
    dir: &Path,
    files: &[(String, Vec<Vec<String>>)],
) -> anyhow::Result<Vec<PathBuf>> {
    let mut staged = Vec::with_capacity(files.len());
    for (name, records) in files {
        let target = dir.join(name);
        let temp = write_temp(dir, name, records)
            .with_context(|| format!("failed to write `{}`", target.display()))?;
        staged.push((target, temp));
    }
    let mut written = Vec::with_capacity(staged.len());
    for (target, temp) in staged {
        temp.persist(&target)
            .with_context(|| format!("failed to write `{}`", target.display()))?;
        written.push(target);
    }
    Ok(written)
}

/// One CSV into a new temporary file next to its target.
fn write_temp(dir: &Path, name: &str, records: &[Vec<String>]) -> anyhow::Result<NamedTempFile> {
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // As a plain new file (the umask applies), not tempfile's private 0600.
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(dir)?;
    {
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(BufWriter::new(temp.as_file_mut()));
        for record in records {
            csv.write_record(record)?;
        }
        csv.into_inner()
            .map_err(csv::IntoInnerError::into_error)?
            .flush()?;
    }
    Ok(temp)
}

#[cfg(test)]
mod tests {
    use bench_core::layout::RunFields;
    use bench_core::metrics::{Comment, RowMetrics};

    use super::*;

    fn row(experiment: &str) -> Row {
        Row {
            fields: RunFields {
                experiment: experiment.into(),
                ..RunFields::default()
            },
            metrics: RowMetrics::default(),
            path: format!("{experiment}/a,b.out"),
            comment: Comment::StatsNotFound,
            job_id: 0,
            task_index: 0,
            log: None,
        }
    }

    #[test]
    fn one_file_per_experiment_and_all_rows() {
        let rows = [
            row("a"),
            row("a"),
            row("b"),
            row("benchmarking_results"),
            row(""),
        ];
        let files = csv_files(&rows, &[], &BTreeSet::new());
        let names: Vec<&str> = files.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a.csv", "b.csv", "benchmarking_results.csv"]);
        assert_eq!(files.files[0].1.len(), 3);
        assert_eq!(files.files[2].1.len(), 6);
        assert_eq!(files.skipped.len(), 2);
        // An experiment name that stands for two folders: no file of its own.
        let clashing = BTreeSet::from(["b".to_owned()]);
        let files = csv_files(&rows, &[], &clashing);
        let names: Vec<&str> = files.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a.csv", "benchmarking_results.csv"]);
        assert_eq!(files.files[1].1.len(), 6);
        assert!(
            files.skipped[0].starts_with("experiment `b` stands for several directories"),
            "{:?}",
            files.skipped
        );
    }

    #[test]
    fn writes_whole_files_with_quoting() {
        let dir = tempfile::tempdir().unwrap();
        let files = csv_files(&[row("a")], &[], &BTreeSet::new());
        let written = write_files(dir.path(), &files.files).unwrap();
        assert_eq!(
            written,
            [dir.path().join("a.csv"), dir.path().join(ALL_ROWS_FILE)]
        );
        let text = fs::read_to_string(dir.path().join("a.csv")).unwrap();
        let expected_header = csv_header().join(",");
        assert_eq!(
            text,
            format!(
                "{expected_header}\na,,,,,,,,,,kvc_auto,spec_none,quant_none,{}\"a/a,b.out\",stats.json not found,,,,,,\n",
                ",".repeat(20)
            )
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn header_only_without_rows() {
        let files = csv_files(&[], &[], &BTreeSet::new());
        assert_eq!(files.files.len(), 1);
        assert_eq!(files.files[0].0, ALL_ROWS_FILE);
        assert_eq!(files.files[0].1.len(), 1);
    }
}
