//! One run of a sweep and what runs cost (`docs/config.md`).

use serde_json::{Map, Value};

use crate::layout::{PathFields, RunDir};
use crate::slurm_time::SlurmTime;

/// One run of a sweep: one sbatch job, one run directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The experiment name (`docs/config.md`), a directory name.
    pub experiment: String,
    /// Index of the experiment entry it comes from (0-based, in file order).
    pub entry: usize,
    /// The run name, also the SLURM job name (`docs/run-directory.md`). Not unique.
    pub name: String,
    /// The run directory. Unique per run: a run is identified by it.
    pub run_dir: RunDir,
    /// `{output-dir}/{experiment}`, the `output_dir` keyword argument the inference script is
    /// given (it appends the rest of the run directory itself).
    pub experiment_dir: String,
    /// The merged args, keys in `snake_case`, values exactly as the config gives them
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
    /// What its directory says: the values of the run-directory keys, defaults applied.
    pub fields: PathFields,
}

/// The keys [`Run::kwargs`] adds to the run's args: `output_dir`, `name`,
/// `local_execution`.
pub const KWARGS_ADDED: [&str; 3] = ["output_dir", "name", "local_execution"];

impl Run {
    /// The keyword arguments the inference script's `main` receives (`docs/launch.md`):
    /// [`Run::args`] plus `output_dir`, `name` and `local_execution: true`.
    pub fn kwargs(&self) -> Map<String, Value> {
        let [output_dir, name, local_execution] = KWARGS_ADDED;
        let mut kwargs = self.args.clone();
        kwargs.insert(
            output_dir.into(),
            Value::String(self.experiment_dir.clone()),
        );
        kwargs.insert(name.into(), Value::String(self.name.clone()));
        kwargs.insert(local_execution.into(), Value::Bool(true));
        kwargs
    }
}

/// What a set of runs costs on the cluster (`docs/launch.md`): jobs, GPUs, and GPU-hours
/// = the sum over runs of GPUs x time limit (SLURM's `--time`, rounded up to whole minutes).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SweepCost {
    /// Number of jobs (one per run).
    pub jobs: usize,
    /// GPUs held by all jobs together.
    pub gpus: u64,
    /// GPU-hours of the runs with a time limit.
    pub gpu_hours: f64,
    /// Runs without a time limit (`time` absent, `UNLIMITED`, `INFINITE` or 0): not in
    /// [`SweepCost::gpu_hours`].
    pub without_time_limit: usize,
}

impl SweepCost {
    /// The cost of `runs`.
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Self {
        let mut cost = SweepCost::default();
        for run in runs {
            cost.jobs += 1;
            cost.gpus += u64::from(run.gpus);
            let hours = run
                .time
                .as_deref()
                .and_then(|t| SlurmTime::parse(t).ok())
                .and_then(SlurmTime::hours);
            match hours {
                Some(hours) => cost.gpu_hours += f64::from(run.gpus) * hours,
                None => cost.without_time_limit += 1,
            }
        }
        cost
    }
}
