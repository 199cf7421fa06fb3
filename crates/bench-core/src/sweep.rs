//! Sweep expansion (shared contract 1 section 2): merged args -> one [`Run`] per combination,
//! then the checks across runs (contract 1 section 5). [`load_sweep`] is the entry point:
//! YAML text in, a validated [`Sweep`] or every problem out.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::config::{
    Arg, ConfigErrors, ConfigFile, ConfigProblem, Location, ProblemKind, Problems, SweepSettings,
    parse_config, render_value,
};
use crate::model_config::{ModelConfigSource, attention_heads};
use crate::slurm_time::SlurmTime;
use crate::validate::{Choice, RunDraft, build_run, check_keys, is_prompt_pair};

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

impl Sweep {
    /// How many distinct run names the sweep has (names are not unique: contract 1 section 3).
    pub fn distinct_names(&self) -> usize {
        let mut names: Vec<&str> = self.runs.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }
}

/// What a set of runs costs on the cluster (contract 2 section 5): jobs, GPUs, and GPU-hours
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

/// What loading a sweep needs from the outside world, supplied by the binary.
pub struct LoadContext<'a> {
    /// A dry run: a missing script file is a warning instead of an error.
    pub dry_run: bool,
    /// Whether the script file exists (relative paths are relative to the current directory).
    pub script_exists: &'a dyn Fn(&str) -> bool,
    /// Local model configs for the attention-heads check (never the network).
    pub model_configs: &'a dyn ModelConfigSource,
}

/// Reads, expands and validates a sweep config (contract 1): `yaml_text` is the file's text,
/// `source_name` how the user named it (for messages).
///
/// # Errors
/// [`ConfigErrors`] listing every problem found (contract 1 section 5); then nothing may be
/// submitted.
pub fn load_sweep(
    yaml_text: &str,
    source_name: &str,
    ctx: &LoadContext<'_>,
) -> Result<Sweep, ConfigErrors> {
    let mut problems = Problems::default();
    let mut warnings = Vec::new();
    // `None` comes with a problem pushed.
    let Some(file) = parse_config(yaml_text, &mut problems) else {
        return Err(problems.into_errors(source_name));
    };
    let strict = file.settings.strict_args;

    let mut passed_through = check_keys(&file.fixed_args, strict, &mut problems);
    for entry in &file.experiments {
        passed_through.extend(check_keys(&entry.args, strict, &mut problems));
    }
    if !passed_through.is_empty() {
        warnings.push(format!(
            "unknown args passed through to the script (`strict_args: false`): {}",
            passed_through.join(", ")
        ));
    }

    let drafts = expand(&file, &mut problems);
    let (runs, notes) = identify_runs(drafts, &mut problems);
    warnings.extend(check_attention_heads(
        &runs,
        ctx.model_configs,
        &mut problems,
    ));
    if !file.settings.script.is_empty() && !(ctx.script_exists)(&file.settings.script) {
        if ctx.dry_run {
            warnings.push(format!(
                "script `{}` not found (relative to the current directory); a real submission \
                 would refuse this config",
                file.settings.script
            ));
        } else {
            problems.push(
                ConfigProblem::new(Location::TopLevel, ProblemKind::ScriptMissing)
                    .key("script")
                    .value(&Value::String(file.settings.script.clone())),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems.into_errors(source_name));
    }
    Ok(Sweep {
        settings: file.settings,
        runs: runs.into_iter().map(|d| d.run).collect(),
        warnings,
        notes,
    })
}

/// Every run of every experiment entry, in file order then product order.
fn expand(file: &ConfigFile, problems: &mut Problems) -> Vec<RunDraft> {
    let mut drafts = Vec::new();
    for entry in &file.experiments {
        let mut merged = merge(&file.fixed_args, &entry.args);
        // An empty list is reported by `check_keys`; read it as absent here.
        merged.retain(|arg| !arg.value.as_array().is_some_and(Vec::is_empty));
        // Each arg's alternatives: a sweep list's elements, or the value itself.
        let is_sweep = |arg: &Arg| {
            arg.value.is_array() && !(arg.key == "prompt-template" && is_prompt_pair(&arg.value))
        };
        let alternatives: Vec<&[Value]> = merged
            .iter()
            .map(|arg| match &arg.value {
                Value::Array(items) if is_sweep(arg) => items.as_slice(),
                value => std::slice::from_ref(value),
            })
            .collect();
        // Swept keys in sorted order (bytes of the kebab-case key), the last varying fastest.
        let mut swept: Vec<usize> = (0..merged.len())
            .filter(|&i| is_sweep(&merged[i]))
            .collect();
        swept.sort_by(|&a, &b| merged[a].key.cmp(&merged[b].key));
        let lengths: Vec<usize> = swept.iter().map(|&i| alternatives[i].len()).collect();
        for combination in product(&lengths) {
            let mut pick = vec![0; merged.len()];
            for (&arg, &choice) in swept.iter().zip(&combination) {
                pick[arg] = choice;
            }
            let choices: Vec<Choice<'_>> = merged
                .iter()
                .zip(&alternatives)
                .zip(&pick)
                .map(|((arg, values), &i)| Choice {
                    arg,
                    value: &values[i],
                })
                .collect();
            if let Some(draft) = build_run(entry, &choices, file.settings.strict_args, problems) {
                drafts.push(draft);
            }
        }
    }
    drafts
}

/// `{**fixed_args, **args}`: the experiment wins per key, keeping the key's first position;
/// new keys come after.
fn merge(fixed_args: &[Arg], args: &[Arg]) -> Vec<Arg> {
    let mut merged: Vec<Arg> = fixed_args.to_vec();
    for arg in args {
        match merged.iter_mut().find(|a| a.key == arg.key) {
            Some(slot) => *slot = arg.clone(),
            None => merged.push(arg.clone()),
        }
    }
    merged
}

/// Every combination of indices into lists of the given lengths, the last varying fastest.
fn product(lengths: &[usize]) -> Vec<Vec<usize>> {
    let mut combinations = vec![Vec::with_capacity(lengths.len())];
    for &length in lengths {
        combinations = combinations
            .into_iter()
            .flat_map(|prefix| {
                (0..length).map(move |i| {
                    let mut next = prefix.clone();
                    next.push(i);
                    next
                })
            })
            .collect();
    }
    combinations
}

/// A run is identified by its directory (contract 1 section 5): runs with exactly equal
/// settings are merged into the first (with a note); different settings in one directory are
/// an error.
fn identify_runs(drafts: Vec<RunDraft>, problems: &mut Problems) -> (Vec<RunDraft>, Vec<String>) {
    let mut first_of_dir: HashMap<String, usize> = HashMap::new();
    let mut kept: Vec<RunDraft> = Vec::new();
    let mut repeats: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for draft in drafts {
        let Some(&index) = first_of_dir.get(&draft.run.run_dir) else {
            first_of_dir.insert(draft.run.run_dir.clone(), kept.len());
            kept.push(draft);
            continue;
        };
        let first = &kept[index];
        if first.canonical == draft.canonical {
            repeats
                .entry(index)
                .or_default()
                .push(draft.entry.to_string());
            continue;
        }
        let (key, first_value, value) = first_difference(&first.canonical, &draft.canonical);
        problems.push(ConfigProblem {
            location: draft.entry.clone(),
            key: Some(key.clone()),
            value: Some(render_value(&value)),
            kind: ProblemKind::DirectoryConflict {
                run_dir: draft.run.run_dir.clone(),
                name: draft.run.name.clone(),
                first: format!(
                    "{} (`{key}` = `{}`)",
                    first.entry,
                    render_value(&first_value)
                ),
            },
        });
    }
    let notes = repeats
        .into_iter()
        .map(|(index, others)| {
            let run = &kept[index];
            format!(
                "run `{}` (`{}`) is listed {} times with the same settings ({}, {}): it is \
                 counted and submitted once",
                run.run.name,
                run.run.run_dir,
                others.len() + 1,
                run.entry,
                others.join(", ")
            )
        })
        .collect();
    (kept, notes)
}

/// The first key (in key order) whose values differ, with both values.
fn first_difference(
    a: &BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
) -> (String, Value, Value) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if x != y {
            let value = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
            return (key.clone(), value(x), value(y));
        }
    }
    (String::new(), Value::Null, Value::Null)
}

/// The attention-heads check (contract 1 section 5): for each model run with tp > 1, tp must
/// divide the heads in its local `config.json`. Returns a warning naming the models that
/// could not be checked, if any.
fn check_attention_heads(
    runs: &[RunDraft],
    source: &dyn ModelConfigSource,
    problems: &mut Problems,
) -> Option<String> {
    let mut heads_of: BTreeMap<(&str, &str), Option<u64>> = BTreeMap::new();
    for draft in runs.iter().filter(|d| d.fields.tp > 1) {
        let key = (draft.fields.model.as_str(), draft.model_revision.as_str());
        let heads = *heads_of.entry(key).or_insert_with(|| {
            source
                .config_json(key.0, key.1)
                .and_then(|text| attention_heads(&text))
        });
        if let Some(heads) = heads
            && heads % u64::from(draft.fields.tp) != 0
        {
            problems.push(ConfigProblem {
                location: draft.entry.clone(),
                key: Some("tp".into()),
                value: Some(draft.fields.tp.to_string()),
                kind: ProblemKind::AttentionHeads {
                    model: draft.fields.model.clone(),
                    heads,
                },
            });
        }
    }
    let unchecked: Vec<String> = heads_of
        .iter()
        .filter(|(_, heads)| heads.is_none())
        .map(|((model, revision), _)| {
            if *revision == "main" {
                format!("`{model}`")
            } else {
                format!("`{model}` (revision `{revision}`)")
            }
        })
        .collect();
    (!unchecked.is_empty()).then(|| {
        format!(
            "attention heads not checked against tp for {} model(s) without a local \
             `config.json` (local directory or Hugging Face cache; never downloaded): {}",
            unchecked.len(),
            unchecked.join(", ")
        )
    })
}
