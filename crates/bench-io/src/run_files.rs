//! A run directory on disk, as the run-state rule ([`RunFiles`], `docs/launch.md`)
//! sees it.
//!
//! Only regular files are opened: a FIFO would block the reader forever and a device such as
//! `/dev/zero` (through a symbolic link) never ends. A whole-file [`RunFiles::read`] is capped
//! at [`MAX_READ_BYTES`], read through [`Read::take`] so that a file still growing cannot pass
//! the cap either. Every error names the file.

use std::collections::BTreeSet;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use bench_core::failure::{FailureClass, classes_in_reader};
use bench_core::state::RunFiles;

use crate::bounded::{file_kind, size_text};
use crate::path_text::shown;

/// The most bytes [`RunFiles::read`] reads of one file: 64 MiB. The files read whole
/// (`stats.json`, per-task stats, `executor.json`, `submissions.jsonl`) are kilobytes; a
/// larger one is refused as unreadable rather than filling the memory.
pub const MAX_READ_BYTES: u64 = 64 * 1024 * 1024;

/// The files below one run directory; relative paths use `/` separators.
#[derive(Debug)]
pub struct DirRunFiles {
    dir: PathBuf,
    max_read: u64,
    /// Entries [`RunFiles::list`] skipped because their names are not UTF-8 (full paths).
    non_utf8: Mutex<BTreeSet<PathBuf>>,
}

impl DirRunFiles {
    /// The files below `dir`, a run directory (it need not exist: a run never submitted has
    /// none, and every file then reads as absent).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        DirRunFiles {
            dir: dir.as_ref().to_path_buf(),
            max_read: MAX_READ_BYTES,
            non_utf8: Mutex::default(),
        }
    }

    /// The same with another cap for [`RunFiles::read`], in bytes (default [`MAX_READ_BYTES`]).
    #[must_use]
    pub fn with_read_limit(mut self, bytes: u64) -> Self {
        self.max_read = bytes;
        self
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The full path of `rel_path` below the run directory.
    pub fn path(&self, rel_path: &str) -> PathBuf {
        self.dir.join(rel_path)
    }

    /// Open `rel_path` for streaming (a server log of many GB, say); `Ok(None)` when absent.
    ///
    /// Errors: the file is not a regular file (after following symbolic links), or cannot be
    /// opened; the message names the file.
    pub fn open(&self, rel_path: &str) -> io::Result<Option<File>> {
        let path = self.path(rel_path);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(with_path(&err, &path)),
        };
        // Checked before opening: opening a FIFO blocks until someone writes to it.
        check_regular(&meta, &path)?;
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(with_path(&err, &path)),
        };
        // And again on what was opened, in case the name was replaced in between.
        check_regular(
            &file.metadata().map_err(|err| with_path(&err, &path))?,
            &path,
        )?;
        Ok(Some(file))
    }

    /// The entries [`RunFiles::list`] left out so far because their names are not valid
    /// UTF-8 (full paths, sorted): the run-state rule only knows names as text, so these
    /// files are not looked at; a binary should warn about them.
    pub fn non_utf8_names(&self) -> Vec<PathBuf> {
        self.non_utf8
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

/// The same error with the file's path in front, so a message on stderr or in a comment
/// says which file it was.
fn with_path(err: &io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("`{}`: {err}", shown(path)))
}

/// An error unless `meta` is that of a regular file.
fn check_regular(meta: &Metadata, path: &Path) -> io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "`{}`: {}, not a regular file: not read",
            shown(path),
            file_kind(meta)
        ),
    ))
}

impl RunFiles for DirRunFiles {
    /// The whole file, at most the read limit ([`MAX_READ_BYTES`] by default). Errors: not a
    /// regular file, larger than the limit (`... larger than 64 MiB ...`), or an I/O error.
    fn read(&self, rel_path: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = self.open(rel_path)? else {
            return Ok(None);
        };
        let path = self.path(rel_path);
        let mut bytes = Vec::new();
        file.take(self.max_read.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|err| with_path(&err, &path))?;
        if bytes.len() as u64 > self.max_read {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "`{}`: larger than {}, the most read of such a file: not read",
                    shown(&path),
                    size_text(self.max_read)
                ),
            ));
        }
        Ok(Some(bytes))
    }

    /// The names of the entries of `rel_dir` that are not folders (after following symbolic
    /// links; broken links are left out), sorted. Special files are listed, so that reading
    /// them reports them. Names that are not UTF-8 are left out and remembered
    /// ([`DirRunFiles::non_utf8_names`]).
    fn list(&self, rel_dir: &str) -> io::Result<Vec<String>> {
        let path = self.path(rel_dir);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(with_path(&err, &path)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| with_path(&err, &path))?;
            let file_type = entry.file_type().map_err(|err| with_path(&err, &path))?;
            let target_is_dir_or_missing = || match entry.path().metadata() {
                Ok(meta) => meta.is_dir(),
                Err(err) => err.kind() == io::ErrorKind::NotFound,
            };
            if file_type.is_dir() || (file_type.is_symlink() && target_is_dir_or_missing()) {
                continue;
            }
            match entry.file_name().into_string() {
                Ok(name) => names.push(name),
                Err(_) => {
                    self.non_utf8
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(entry.path());
                }
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// [`classes_in_reader`] of a regular file (its first and last 100,000 bytes); empty when
    /// absent. Errors: not a regular file, or an I/O error; the message names the file.
    fn failure_classes(&self, rel_path: &str) -> io::Result<Vec<FailureClass>> {
        match self.open(rel_path)? {
            Some(file) => {
                classes_in_reader(file).map_err(|err| with_path(&err, &self.path(rel_path)))
            }
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use bench_core::state::{self, Completion};

    use super::*;

    fn write(run: &Path, rel: &str, bytes: &[u8]) {
        let path = run.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    #[test]
    fn reads_lists_and_tells_absent_files() {
        let temp = tempfile::tempdir().unwrap();
        let run = temp.path();
        fs::create_dir_all(run.join("inference_logs/slurm_logs/sub")).unwrap();
        write(run, "inference_logs/slurm_logs/2_0.out", b"b");
        write(run, "inference_logs/slurm_logs/10_0.out", b"a");
        let files = DirRunFiles::new(run);
        assert_eq!(
            files.list("inference_logs/slurm_logs").unwrap(),
            ["10_0.out", "2_0.out"]
        );
        assert!(files.list("inference_logs/stats").unwrap().is_empty());
        assert_eq!(
            files.read("inference_logs/slurm_logs/2_0.out").unwrap(),
            Some(b"b".to_vec())
        );
        assert_eq!(files.read("inference_logs/stats.json").unwrap(), None);
        let err = files.read("inference_logs/slurm_logs").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("slurm_logs`: a directory, not a regular file: not read"),
            "{err}"
        );
        // A run directory that does not exist: everything absent.
        let never = DirRunFiles::new(run.join("never-submitted"));
        assert_eq!(never.read("inference_logs/stats.json").unwrap(), None);
        assert!(never.list("inference_logs/slurm_logs").unwrap().is_empty());
        assert!(never.failure_classes("x.out").unwrap().is_empty());
    }

    #[test]
    fn read_is_capped_and_a_larger_file_is_unreadable() {
        let temp = tempfile::tempdir().unwrap();
        write(temp.path(), "inference_logs/stats.json", b"0123456789");
        let at_limit = DirRunFiles::new(temp.path()).with_read_limit(10);
        assert_eq!(
            at_limit.read("inference_logs/stats.json").unwrap(),
            Some(b"0123456789".to_vec())
        );
        let below = DirRunFiles::new(temp.path()).with_read_limit(9);
        let err = below.read("inference_logs/stats.json").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(
            err.to_string().ends_with(
                "stats.json`: larger than 9 bytes, the most read of such a file: not read"
            ),
            "{err}"
        );
        // The default limit, as it reads in a message.
        assert_eq!(size_text(MAX_READ_BYTES), "64 MiB");
    }

    /// `mkfifo` (coreutils): the standard library cannot make a FIFO.
    #[cfg(unix)]
    fn mkfifo(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("`mkfifo` (coreutils) runs");
        assert!(status.success(), "mkfifo `{}`", path.display());
    }

    /// A writer that waits for a reader of the FIFO, writes `[]` and closes: a reader that
    /// opens the FIFO then gets `[]` and an end, instead of blocking. Returns it with a
    /// function that lets it finish when nobody opened the FIFO.
    #[cfg(unix)]
    fn fifo_writer(path: &Path) -> impl FnOnce() {
        let writer_path = path.to_path_buf();
        let writer = thread::spawn(move || {
            let _ = fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .and_then(|mut fifo| io::Write::write_all(&mut fifo, b"[]"));
        });
        let path = path.to_path_buf();
        move || {
            // Opening for reading and writing never blocks on Linux, and lets a writer still
            // waiting in `open` go on.
            let unblock = fs::OpenOptions::new().read(true).write(true).open(&path);
            writer.join().unwrap();
            drop(unblock);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused() {
        // (That it is refused before being opened, which would block without a writer, is
        // shown by `analyze`'s end-to-end test, whose FIFOs have no writer.)
        let temp = tempfile::tempdir().unwrap();
        let run = temp.path();
        let stats = run.join("inference_logs/stats.json");
        let out = run.join("inference_logs/slurm_logs/1_0.out");
        mkfifo(&stats);
        mkfifo(&out);
        let files = DirRunFiles::new(run);

        let finish = fifo_writer(&stats);
        let read = files.read("inference_logs/stats.json");
        finish();
        let err = read.unwrap_err();
        assert!(
            err.to_string()
                .ends_with("stats.json`: a FIFO (named pipe), not a regular file: not read"),
            "{err}"
        );
        // The run-state rule sees an error, not a missing or invalid stats file.
        let finish = fifo_writer(&stats);
        let completion = state::completion(&files);
        finish();
        assert!(completion.is_err(), "{completion:?}");

        // Listed (so that it is reported), but its classes are not read.
        assert_eq!(
            files.list("inference_logs/slurm_logs").unwrap(),
            ["1_0.out"]
        );
        let finish = fifo_writer(&out);
        let classes = files.failure_classes("inference_logs/slurm_logs/1_0.out");
        finish();
        let err = classes.unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_through_a_symbolic_link_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let run = temp.path();
        fs::create_dir_all(run.join("inference_logs/server_logs")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", run.join("inference_logs/stats.json")).unwrap();
        std::os::unix::fs::symlink(
            "/dev/zero",
            run.join("inference_logs/server_logs/server_rank_0.log"),
        )
        .unwrap();
        // A small limit, so that a reader that only counts bytes fails fast rather than
        // filling the memory.
        let files = DirRunFiles::new(run).with_read_limit(16);
        let err = files.read("inference_logs/stats.json").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("stats.json`: a character device, not a regular file: not read"),
            "{err}"
        );
        let err = files
            .failure_classes("inference_logs/server_logs/server_rank_0.log")
            .unwrap_err();
        assert!(err.to_string().contains("a character device"), "{err}");
        assert!(
            files
                .open("inference_logs/server_logs/server_rank_0.log")
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn list_skips_folders_and_broken_links_and_remembers_non_utf8_names() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("inference_logs/slurm_logs");
        fs::create_dir_all(dir.join("folder.out")).unwrap();
        fs::write(dir.join("3_0.out"), "").unwrap();
        let bad = dir.join(OsStr::from_bytes(b"4_\xff.out"));
        fs::write(&bad, "").unwrap();
        std::os::unix::fs::symlink("3_0.out", dir.join("link.out")).unwrap();
        std::os::unix::fs::symlink("folder.out", dir.join("link-dir.out")).unwrap();
        std::os::unix::fs::symlink("missing", dir.join("broken.out")).unwrap();
        let files = DirRunFiles::new(temp.path());
        assert!(files.non_utf8_names().is_empty());
        assert_eq!(
            files.list("inference_logs/slurm_logs").unwrap(),
            ["3_0.out", "link.out"]
        );
        // Listing twice remembers the name once.
        files.list("inference_logs/slurm_logs").unwrap();
        assert_eq!(files.non_utf8_names(), [bad]);
    }

    #[test]
    fn completion_of_a_run_on_disk() {
        let temp = tempfile::tempdir().unwrap();
        let files = DirRunFiles::new(temp.path());
        assert_eq!(state::completion(&files).unwrap(), Completion::NotFound);
        write(
            temp.path(),
            "inference_logs/stats.json",
            br#"[{"name": "Model call", "stats": {"prompt_tokens": 3}}]"#,
        );
        let Completion::Completed { totals, .. } = state::completion(&files).unwrap() else {
            panic!("a valid stats.json completes the run");
        };
        assert_eq!(totals.prompt_tokens_total, 3);
        // A count written as a string is missing, the run still completed (so `launch`
        // does not submit it again).
        write(
            temp.path(),
            "inference_logs/stats.json",
            br#"[{"name": "Model call", "stats": {"prompt_tokens": "10", "completion_tokens": 4}}]"#,
        );
        let Completion::Completed { totals, .. } = state::completion(&files).unwrap() else {
            panic!("a stats.json with a malformed count completes the run");
        };
        assert_eq!(
            (totals.prompt_tokens_total, totals.completion_tokens_total),
            (0, 4)
        );
    }
}
