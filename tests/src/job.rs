//! A test's batch job in a few lines: a unique name, its own output folder, the script
//! written and submitted, cancelled if the test fails before the job ends.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use std::time::Duration;
//! let _cluster = bench_tests::cluster();
//! let job = bench_tests::BatchJob::new("gpus").directive("--gpus=2");
//! let submitted = job.submit("echo $SLURM_GPUS_ON_NODE")?;
//! submitted.wait_until_gone(Duration::from_mins(2))?;
//! assert_eq!(submitted.read_out()?, "2\n");
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::slurm::{CancelOnDrop, JobId, sbatch, wait_until_gone, write_batch_script};

/// A batch job about to be submitted: `#SBATCH --job-name` = a [`unique_name`](crate::unique_name),
/// `--output` and `--error` = `{dir}/%j.out` in a fresh [`output_dir`](crate::output_dir)
/// (or the pattern given to [`output`](Self::output)), then the extra directives.
/// The folder lives as long as this value.
#[derive(Debug)]
pub struct BatchJob {
    name: String,
    dir: tempfile::TempDir,
    output: String,
    directives: Vec<String>,
}

impl BatchJob {
    /// A job named `{prefix}-...` (unique) with its own output folder.
    pub fn new(prefix: &str) -> Self {
        let dir = crate::output_dir();
        let output = format!("{}/%j.out", dir.path().display());
        Self {
            name: crate::unique_name(prefix),
            dir,
            output,
            directives: Vec::new(),
        }
    }

    /// The job's unique name (its `--job-name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The job's output folder, where its script is written and submitted from.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the `--output`/`--error` pattern (`%j` = the job id), e.g. a path in a folder
    /// that does not exist.
    #[must_use]
    pub fn output(mut self, pattern: impl Into<String>) -> Self {
        self.output = pattern.into();
        self
    }

    /// Adds one `#SBATCH` directive, e.g. `--gpus=2` or `--time=1`.
    #[must_use]
    pub fn directive(mut self, directive: impl Into<String>) -> Self {
        self.directives.push(directive.into());
        self
    }

    /// Writes `{dir}/{name}.sh` with `body` after the directives and submits it with
    /// `sbatch --parsable`. Errors with sbatch's words when it refuses the job.
    pub fn submit(&self, body: &str) -> anyhow::Result<SubmittedJob> {
        let mut directives = vec![
            format!("--job-name={}", self.name),
            format!("--output={}", self.output),
            format!("--error={}", self.output),
        ];
        directives.extend(self.directives.iter().cloned());
        let script = write_batch_script(self.dir(), &self.name, &directives, body)?;
        let job_id = sbatch(&script)?;
        Ok(SubmittedJob {
            out_path: PathBuf::from(self.output.replace("%j", job_id.as_str())),
            _cancel: CancelOnDrop::new(job_id.clone()),
            job_id,
        })
    }
}

/// A submitted [`BatchJob`]; cancelled when dropped (a no-op once it has ended).
#[derive(Debug)]
pub struct SubmittedJob {
    job_id: JobId,
    out_path: PathBuf,
    _cancel: CancelOnDrop,
}

impl SubmittedJob {
    /// The job id `sbatch --parsable` answered.
    pub fn job_id(&self) -> &JobId {
        &self.job_id
    }

    /// Where the job's `.out` goes: the `--output` pattern with `%j` replaced by the job id.
    pub fn out_path(&self) -> &Path {
        &self.out_path
    }

    /// Waits until the job has left the queue; see [`wait_until_gone`].
    pub fn wait_until_gone(&self, limit: Duration) -> anyhow::Result<()> {
        wait_until_gone(&self.job_id, limit)
    }

    /// The job's `.out` (stdout and stderr); errors naming the path when it is missing.
    pub fn read_out(&self) -> anyhow::Result<String> {
        std::fs::read_to_string(&self.out_path)
            .with_context(|| format!("cannot read the job's `{}`", self.out_path.display()))
    }
}
