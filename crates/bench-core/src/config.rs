//! The sweep config (shared contract 1 section 1): YAML -> validated settings.
//!
//! INTERFACE: [`SweepSettings`] and [`SlurmSettings`] are fixed (launch builds against
//! them); parsing and validation are owned by issue 2.

/// Top-level settings of a sweep config.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    /// The inference script to run (relative to the current directory, as in the original).
    pub script: String,
    /// Whether `launch` goes on after a failed submission (default true).
    pub continue_on_failure: bool,
    /// Whether unknown arg keys are errors (default true).
    pub strict_args: bool,
    /// The `slurm:` section (our extension).
    pub slurm: SlurmSettings,
}

/// The `slurm:` section of a sweep config (contract 1 section 1), defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    /// `--partition`, none by default.
    pub partition: Option<String>,
    /// `--account`, none by default.
    pub account: Option<String>,
    /// CPUs per GPU: `--cpus-per-task` = this x GPUs of the run (default 11).
    pub cpus_per_gpu: u32,
    /// `--mem-per-cpu` (default `22G`).
    pub mem_per_cpu: String,
    /// Shell lines run before the script, verbatim, in order.
    pub setup: Vec<String>,
    /// Extra `#SBATCH --key=value` directives in file order (value `""` -> `--key`).
    pub sbatch_args: Vec<(String, String)>,
    /// A template replacing the built-in one (the CLI's `--template` wins).
    pub template: Option<String>,
    /// The interpreter the built-in template runs, as written (split into shell words by
    /// `launch`; default `python`).
    pub python: String,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        SlurmSettings {
            partition: None,
            account: None,
            cpus_per_gpu: 11,
            mem_per_cpu: "22G".into(),
            setup: Vec::new(),
            sbatch_args: Vec::new(),
            template: None,
            python: "python".into(),
        }
    }
}
