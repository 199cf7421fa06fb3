//! `submissions.jsonl`: what `launch` keeps per run (contract 2 section 2).
//!
//! Before sbatch runs, an intent line with the token and `job_id: null`; once sbatch
//! answers, a second line with the same token and the job id. An interrupt between the two
//! still leaves the token, which the queue's comment column matches.

use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::path::Path;
use std::time::SystemTime;

use bench_core::state::SubmissionRecord;

/// The file name under `{run_dir}/inference_logs/launch/`.
pub const FILE_NAME: &str = "submissions.jsonl";

/// A fresh random submission token (16 hexadecimal digits).
pub fn new_token() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Now, as `2026-11-29T13:14:05Z`.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Append `record` as one JSON line to `path` (created when missing) and flush it to disk
/// before returning, so that a crash right after still leaves the line.
pub fn append(path: &Path, record: &SubmissionRecord) -> io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(io::Error::other)?;
    line.push(b'\n');
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(&line)?;
    file.sync_data()
}
