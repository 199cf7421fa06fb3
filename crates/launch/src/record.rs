//! `submissions.jsonl`: what `launch` keeps per run (`docs/launch.md`).
//!
//! Before sbatch runs, an intent line with the token and `job_id: null`; once sbatch
//! answers, a second line with the same token and the job id. An interrupt between the two
//! still leaves the token, which the queue's comment column matches.
//!
//! A real submission holds an exclusive lock on the file from before it re-reads the run's
//! latest submission until the job id line is written, so two `launch` processes started
//! together never both submit a run (README: a run is never submitted twice).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use bench_core::state::{SubmissionRecord, latest_submission};

/// The most bytes of a `submissions.jsonl` read (two lines of about 200 bytes per
/// submission).
pub const MAX_RECORDS_BYTES: u64 = 64 * 1024 * 1024;

/// How long a launch waits for the lock of a run's `submissions.jsonl` before deciding that
/// another sbatch call for the run is still running.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The file name under `{run_dir}/inference_logs/launch/`.
pub const FILE_NAME: &str = "submissions.jsonl";

/// Whether another process holds the lock of the `submissions.jsonl` at `path` right now
/// (an sbatch call for the run under way); `false` when the file is absent.
///
/// Errors: the file is not a regular file, or cannot be opened.
pub fn is_locked(path: &Path) -> io::Result<bool> {
    check_regular_or_absent(path)?;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(err)) => Err(err),
    }
}

/// `Ok` when nothing is at `path` or it is a regular file (after following links): opening
/// a FIFO would block, and a device such as `/dev/zero` never ends.
fn check_regular_or_absent(path: &Path) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}, not a regular file",
                bench_io::bounded::file_kind(&meta)
            ),
        )),
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

/// Write `bytes` as the file at `path`, replacing it whole: a temporary file beside it is
/// written and renamed over it, so a symbolic link or a special file standing there (a link
/// to `/dev/zero`, to someone's own file) is replaced, never written through, and a reader
/// never sees half a file.
///
/// Errors: the directory cannot be written, or the rename failed.
pub fn write_replacing(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".launch-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // As a plain new file (the umask applies), not tempfile's private 0600.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// A fresh random submission token (16 hexadecimal digits).
pub fn new_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Now, as `2026-11-29T13:14:05Z`.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A run's `submissions.jsonl`, open for appending under an exclusive lock (released when
/// dropped, or when the process ends however it ends).
#[derive(Debug)]
pub struct LockedRecords {
    file: File,
    /// The latest submission when the lock was taken (see [`latest_submission`]).
    latest: Option<SubmissionRecord>,
    /// Whether the file ends without a line break (a line cut short by a crash).
    needs_line_break: bool,
}

impl LockedRecords {
    /// Open (create when missing) the file at `path`, wait for an exclusive lock on it, and
    /// read the latest submission.
    ///
    /// Errors: the file is not a regular file, is larger than 64 MiB, or opening, locking
    /// or reading it failed. `Ok(None)` when another process still holds the lock after
    /// `wait`: an sbatch call for this run is still running (the sbatch child holds the lock
    /// until it ends, whatever happened to the `launch` that started it).
    pub fn open(path: &Path, wait: Duration) -> io::Result<Option<Self>> {
        check_regular_or_absent(path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(err)) => return Err(err),
            }
        }
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_RECORDS_BYTES + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_RECORDS_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "larger than 64 MiB: not read",
            ));
        }
        Ok(Some(LockedRecords {
            file,
            latest: latest_submission(&bytes),
            needs_line_break: bytes.last().is_some_and(|&b| b != b'\n'),
        }))
    }

    /// The locked file, for an sbatch child to inherit (as its standard input): the lock
    /// then lasts as long as the child, even when `launch` is killed.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The run's latest submission as read under the lock.
    pub fn latest(&self) -> Option<&SubmissionRecord> {
        self.latest.as_ref()
    }

    /// Append `record` as one JSON line and flush it to disk before returning, so that a
    /// crash right after still leaves the line. A last line cut short (no line break) is
    /// ended first, so it cannot swallow this record.
    ///
    /// Errors: writing or flushing failed.
    pub fn append(&mut self, record: &SubmissionRecord) -> io::Result<()> {
        let mut line = Vec::with_capacity(160);
        if self.needs_line_break {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, record).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.needs_line_break = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The latest record of the file at `path`.
    fn read_latest(path: &Path) -> Option<SubmissionRecord> {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| latest_submission(&bytes))
    }

    fn record(token: &str, job_id: Option<&str>) -> SubmissionRecord {
        SubmissionRecord {
            token: token.into(),
            submitted_at: "2026-11-29T13:14:05Z".into(),
            command: vec!["sbatch".into(), "--parsable".into(), "x/sbatch.sh".into()],
            job_id: job_id.map(Into::into),
        }
    }

    #[test]
    fn a_line_cut_short_does_not_swallow_the_next_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        // An intent line, then a job id line cut short by a crash.
        std::fs::write(
            &path,
            "{\"token\": \"old\", \"submitted_at\": \"x\", \"command\": [], \"job_id\": null}\n\
             {\"token\": \"old\", \"submitted_at\": \"x\", \"comm",
        )
        .unwrap();
        let mut records = LockedRecords::open(&path, Duration::ZERO).unwrap().unwrap();
        assert_eq!(records.latest().map(|r| r.token.as_str()), Some("old"));
        records.append(&record("new", None)).unwrap();
        // The intent line is a record of its own (an interrupt could come now).
        assert_eq!(read_latest(&path), Some(record("new", None)));
        records.append(&record("new", Some("4242"))).unwrap();
        drop(records);
        assert_eq!(read_latest(&path), Some(record("new", Some("4242"))));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.ends_with("\"job_id\":\"4242\"}\n"), "{text}");
    }

    #[test]
    fn the_file_stays_locked_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launch").join(FILE_NAME);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        assert_eq!(read_latest(&path), None);
        let mut records = LockedRecords::open(&path, Duration::ZERO).unwrap().unwrap();
        assert_eq!(records.latest(), None);
        records.append(&record("a", None)).unwrap();
        // Another open file description (as another `launch` would have) cannot lock it.
        let other = File::open(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        // A launch asking for it waits at most its bound, then reports the holder.
        assert!(is_locked(&path).unwrap());
        assert!(
            LockedRecords::open(&path, Duration::from_millis(200))
                .unwrap()
                .is_none()
        );
        // A process that inherited the file (the sbatch child) keeps the lock after the
        // launch's own handle is gone.
        let inherited = records.file().try_clone().unwrap();
        drop(records);
        assert!(is_locked(&path).unwrap());
        drop(inherited);
        assert!(!is_locked(&path).unwrap());
        other.try_lock().unwrap();
    }

    #[test]
    fn special_files_are_refused_before_they_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        let err = LockedRecords::open(&path, Duration::ZERO).unwrap_err();
        assert_eq!(err.to_string(), "a character device, not a regular file");
        assert!(is_locked(&path).is_err());
    }
}
