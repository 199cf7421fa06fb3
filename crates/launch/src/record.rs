//! `submissions.jsonl`: what `launch` keeps per run (`docs/launch.md`).
//!
//! Before sbatch runs, an intent line with the token and `job_id: null`; once sbatch
//! answers, a second line with the same token and the job id. An interrupt between the two
//! still leaves the token, which the queue's comment column matches.
//!
//! A real submission holds an exclusive lock on the file from before it re-reads the run's
//! latest submission until the job id line is written, so two `launch` processes started
//! together never both submit a run (README: a run is never submitted twice).

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::Path;
use std::time::SystemTime;

use bench_core::state::{SubmissionRecord, latest_submission};

/// The file name under `{run_dir}/inference_logs/launch/`.
pub const FILE_NAME: &str = "submissions.jsonl";

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

/// The latest submission recorded in the file at `path` (see
/// [`bench_core::state::latest_submission`]); `None` when the file is missing or holds none.
///
/// Errors: reading the file failed for another reason than its absence.
pub fn read_latest(path: &Path) -> io::Result<Option<SubmissionRecord>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(latest_submission(&bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
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
    /// Errors: opening, locking or reading failed.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        loop {
            match file.lock() {
                Ok(()) => break,
                // A signal (an interrupt is handled after this submission) cut the wait.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(LockedRecords {
            file,
            latest: latest_submission(&bytes),
            needs_line_break: bytes.last().is_some_and(|&b| b != b'\n'),
        })
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
        let mut records = LockedRecords::open(&path).unwrap();
        assert_eq!(records.latest().map(|r| r.token.as_str()), Some("old"));
        records.append(&record("new", None)).unwrap();
        // The intent line is a record of its own (an interrupt could come now).
        assert_eq!(read_latest(&path).unwrap(), Some(record("new", None)));
        records.append(&record("new", Some("4242"))).unwrap();
        drop(records);
        assert_eq!(
            read_latest(&path).unwrap(),
            Some(record("new", Some("4242")))
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(text.ends_with("\"job_id\":\"4242\"}\n"), "{text}");
    }

    #[test]
    fn the_file_stays_locked_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launch").join(FILE_NAME);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        assert_eq!(read_latest(&path).unwrap(), None);
        let mut records = LockedRecords::open(&path).unwrap();
        assert_eq!(records.latest(), None);
        records.append(&record("a", None)).unwrap();
        // Another open file description (as another `launch` would have) cannot lock it.
        let other = File::open(&path).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(records);
        other.try_lock().unwrap();
    }
}
