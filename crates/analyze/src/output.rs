//! Writing the CSV files, each whole or not at all (`docs/results.md`).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use bench_core::rows::{Row, csv_header};
use bench_core::summary::{ModelSummary, SUMMARY_COLUMNS};
use itertools::Itertools;
use tempfile::{NamedTempFile, TempDir};

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

/// The list of the outputs `analyze` wrote into `--out`, one name per line, so that the next
/// analyze removes those it does not write again (an experiment whose directory is gone, a
/// summary without baselines) and never touches other files.
pub const MANIFEST_FILE: &str = ".analyze-outputs";

/// The most bytes of the manifest read: 1 MiB (a name per experiment).
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Whether `name` is one `analyze` may have written into `--out`: one path component, a
/// `.csv` file or one of `report_names`. A manifest edited by hand cannot make `analyze`
/// remove anything else.
fn is_output_name(name: &str, report_names: &[&str]) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && (Path::new(name).extension().is_some_and(|ext| ext == "csv")
            || report_names.contains(&name))
}

/// The first line of the manifest: the `--root` its outputs came from, so that outputs of
/// another tree sharing the `--out` are never taken for this tree's.
const MANIFEST_ROOT: &str = "# analyze --root ";

/// The manifest's text: the root line, then one name per line.
pub fn manifest_text(root: &str, written: &BTreeSet<String>) -> String {
    let mut text = format!("{MANIFEST_ROOT}{root}\n");
    for name in written {
        text.push_str(name);
        text.push('\n');
    }
    text
}

/// The `--root` an earlier manifest names; `None` when it names none.
pub fn manifest_root(manifest: &str) -> Option<&str> {
    manifest.lines().next()?.strip_prefix(MANIFEST_ROOT)
}

/// The names of an earlier manifest (`manifest`, its text) that are not in `written` this
/// time: the outputs to remove, in the manifest's order, each once.
pub fn stale_outputs(
    manifest: &str,
    written: &BTreeSet<String>,
    report_names: &[&str],
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    manifest
        .lines()
        .filter(|name| !name.starts_with('#'))
        .filter(|name| is_output_name(name, report_names) && !written.contains(*name))
        .filter(|name| seen.insert(*name))
        .map(str::to_owned)
        .collect()
}

/// What [`Staging::commit`] did.
#[derive(Debug, Default)]
pub struct Committed {
    /// The paths written.
    pub written: Vec<PathBuf>,
    /// The paths removed (those staged for removal that were there).
    pub removed: Vec<PathBuf>,
}

/// Outputs prepared in temporary files and directories beside their targets, then put in
/// place together by [`Staging::commit`]: a failure while preparing leaves every target as
/// it was, and no target is ever seen half written.
#[derive(Debug)]
pub struct Staging<'a> {
    dir: &'a Path,
    files: Vec<(PathBuf, NamedTempFile)>,
    dirs: Vec<(PathBuf, TempDir)>,
    /// `(path, whether a directory there is removed too)`.
    removals: Vec<(PathBuf, bool)>,
}

impl<'a> Staging<'a> {
    /// Nothing staged yet, for outputs in `dir`.
    pub fn new(dir: &'a Path) -> Self {
        Staging {
            dir,
            files: Vec::new(),
            dirs: Vec::new(),
            removals: Vec::new(),
        }
    }

    /// Stage the CSV `name` with `records`.
    pub fn csv(&mut self, name: &str, records: &[Vec<String>]) -> anyhow::Result<()> {
        let target = self.dir.join(name);
        let temp = write_temp(self.dir, name, |out| {
            let mut csv = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(out);
            for record in records {
                csv.write_record(record)?;
            }
            csv.flush()?;
            Ok(())
        })
        .with_context(|| format!("failed to write `{}`", target.display()))?;
        self.files.push((target, temp));
        Ok(())
    }

    /// Stage the file `name` with `text`.
    pub fn text(&mut self, name: &str, text: &str) -> anyhow::Result<()> {
        let target = self.dir.join(name);
        let temp = write_temp(self.dir, name, |out| Ok(out.write_all(text.as_bytes())?))
            .with_context(|| format!("failed to write `{}`", target.display()))?;
        self.files.push((target, temp));
        Ok(())
    }

    /// Stage the directory `name` holding `files` (`(file name, text)`): it replaces the
    /// directory of that name whole.
    pub fn directory(&mut self, name: &str, files: &[(String, String)]) -> anyhow::Result<()> {
        let target = self.dir.join(name);
        let context = || format!("failed to write `{}`", target.display());
        if fs::symlink_metadata(&target).is_ok_and(|meta| !meta.is_dir()) {
            anyhow::bail!(
                "`{}` is there and is not a directory: move it away to let the report use that name",
                target.display()
            );
        }
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // As a plain new directory (the umask applies), not tempfile's private 0700.
            builder.permissions(fs::Permissions::from_mode(0o777));
        }
        let temp = builder.tempdir_in(self.dir).with_context(context)?;
        for (file, text) in files {
            fs::write(temp.path().join(file), text).with_context(context)?;
        }
        self.dirs.push((target, temp));
        Ok(())
    }

    /// Remove the file `name` at commit, when it is there; a directory of that name only
    /// when `directory` (else it is left alone).
    pub fn remove(&mut self, name: &str, directory: bool) {
        self.removals.push((self.dir.join(name), directory));
    }

    /// Put everything staged in place: files renamed over their targets, directories
    /// swapped in (the old one removed after), removals done.
    pub fn commit(self) -> anyhow::Result<Committed> {
        // Whatever can be seen to fail is checked before anything is put in place: a
        // directory where a file goes would fail its rename halfway through.
        for (target, _) in &self.files {
            if fs::symlink_metadata(target).is_ok_and(|meta| meta.is_dir()) {
                anyhow::bail!(
                    "failed to write `{}`: a directory has that name; move it away",
                    target.display()
                );
            }
        }
        let mut written = Vec::with_capacity(self.files.len() + self.dirs.len());
        let mut asides = Vec::new();
        // Directories first: the old one is renamed aside next to it (a rename in the same
        // directory, allowed even when the old one is read-only), the new one takes its
        // name, and the old one is removed at the end; when the new one cannot take the
        // name, the old one is put back and nothing else has changed.
        for (target, temp) in self.dirs {
            let context = || format!("failed to write `{}`", target.display());
            let aside = if fs::symlink_metadata(&target).is_ok() {
                let aside = self.dir.join(format!(
                    ".{}.old-{}-{}",
                    target
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |elapsed| elapsed.as_nanos())
                ));
                fs::rename(&target, &aside).with_context(context)?;
                Some(aside)
            } else {
                None
            };
            if let Err(err) = fs::rename(temp.path(), &target) {
                if let Some(aside) = &aside {
                    let _ = fs::rename(aside, &target);
                }
                return Err(err).with_context(context);
            }
            let _ = temp.keep();
            asides.extend(aside);
            written.push(target);
        }
        for (target, temp) in self.files {
            temp.persist(&target)
                .map_err(|err| err.error)
                .with_context(|| format!("failed to write `{}`", target.display()))?;
            written.push(target);
        }
        let mut removed = Vec::new();
        for (target, directory) in self.removals {
            let done = match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() && directory => {
                    fs::remove_dir_all(&target).map(|()| true)
                }
                Ok(meta) if meta.is_dir() => Ok(false),
                Ok(_) => fs::remove_file(&target).map(|()| true),
                Err(_) => Ok(false),
            };
            if done.with_context(|| format!("failed to remove `{}`", target.display()))? {
                removed.push(target);
            }
        }
        for aside in asides {
            remove_aside(&aside);
        }
        Ok(Committed { written, removed })
    }
}

/// Remove an old directory renamed aside; one left read-only is made writable first. What
/// still cannot be removed stays, hidden (its name starts with a dot).
fn remove_aside(aside: &Path) {
    if fs::remove_dir_all(aside).is_ok() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(aside, fs::Permissions::from_mode(0o700));
    }
    let _ = fs::remove_dir_all(aside);
}

/// One output into a new temporary file next to its target, written by `write`.
fn write_temp(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut BufWriter<&mut fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<NamedTempFile> {
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
        let mut out = BufWriter::new(temp.as_file_mut());
        write(&mut out)?;
        out.flush()?;
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
        let mut staging = Staging::new(dir.path());
        for (name, records) in &files.files {
            staging.csv(name, records).unwrap();
        }
        let written = staging.commit().unwrap().written;
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
    fn stale_outputs_are_earlier_outputs_not_written_again_and_nothing_else() {
        let written: BTreeSet<String> = ["a.csv", "benchmarking_results.csv"]
            .map(str::to_owned)
            .into();
        let manifest = "# analyze --root data\na.csv\nb.csv\noptimization_summary.csv\nb.csv\nreport_files\n\
                        ../x.csv\n/etc/passwd\nsub/c.csv\nnotes.txt\n.\n..\n\n";
        assert_eq!(
            stale_outputs(manifest, &written, &["report_files"]),
            ["b.csv", "optimization_summary.csv", "report_files"]
        );
        assert!(stale_outputs("", &written, &[]).is_empty());
        assert_eq!(manifest_root(manifest), Some("data"));
        assert_eq!(manifest_root("a.csv\n"), None);
        assert_eq!(
            manifest_text("/r", &written),
            "# analyze --root /r\na.csv\nbenchmarking_results.csv\n"
        );
    }

    #[test]
    fn header_only_without_rows() {
        let files = csv_files(&[], &[], &BTreeSet::new());
        assert_eq!(files.files.len(), 1);
        assert_eq!(files.files[0].0, ALL_ROWS_FILE);
        assert_eq!(files.files[0].1.len(), 1);
    }
}
