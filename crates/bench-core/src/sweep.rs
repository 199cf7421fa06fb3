//! Sweep expansion (shared contract 1 section 2): merged args -> one [`Run`] per combination.
//!
//! INTERFACE: the [`Run`] and [`Sweep`] types are fixed (launch and analyze build against
//! them); the expansion itself is owned by issue 2.

use serde_json::{Map, Value};

use crate::config::SweepSettings;

/// One run of a sweep: one sbatch job, one run directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The experiment name (contract 1 section 1), a directory name.
    pub experiment: String,
    /// The run name, also the SLURM job name (contract 1 section 3). Not unique.
    pub name: String,
    /// The run directory (contract 1 section 4), `/`-separated, relative to the current
    /// directory when `output-dir` is relative. Unique per run: a run is identified by it.
    pub run_dir: String,
    /// `{output-dir}/{experiment}`, the `output_dir` the inference script is given.
    pub output_dir: String,
    /// The merged args, keys in snake_case, values exactly as the config gives them
    /// (`"None"` strings and raw speculative-config strings included), with `tasks` and
    /// `workers` set to 1 when absent. Without `name`, `output_dir` and `local_execution`:
    /// [`Run::kwargs`] adds those.
    pub args: Map<String, Value>,
    /// GPUs the job holds: tp x pp x dp.
    pub gpus: u32,
    /// The `time` arg (SLURM `--time`), when given.
    pub time: Option<String>,
    /// The `qos` arg, when given.
    pub qos: Option<String>,
    /// The `reservation` arg, when given.
    pub reservation: Option<String>,
    /// The prompt template when it is a `[name, template]` pair.
    pub prompt_template: Option<(String, String)>,
}

impl Run {
    /// The keyword arguments the inference script's `main` receives (contract 2 section 1):
    /// [`Run::args`] plus `output_dir`, `name` and `local_execution: true`.
    pub fn kwargs(&self) -> Map<String, Value> {
        let mut kwargs = self.args.clone();
        kwargs.insert("output_dir".into(), Value::String(self.output_dir.clone()));
        kwargs.insert("name".into(), Value::String(self.name.clone()));
        kwargs.insert("local_execution".into(), Value::Bool(true));
        kwargs
    }
}

/// A validated, expanded sweep: what `launch` plans from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Top-level settings (script, `continue_on_failure`, `slurm:` section).
    pub settings: SweepSettings,
    /// Every run, experiments in file order, then the documented product order; runs whose
    /// settings are exactly equal appear once.
    pub runs: Vec<Run>,
    /// Warnings to show the user (unknown keys passed through, missing script in a dry run,
    /// models whose attention heads could not be checked).
    pub warnings: Vec<String>,
    /// Notes (runs listed twice in the config and merged).
    pub notes: Vec<String>,
}
