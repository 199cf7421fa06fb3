//! Sweep expansion (`docs/config.md`): merged args -> one [`Run`] per combination,
//! then the checks across runs (`docs/config.md`). [`load_sweep`] is the entry point:
//! YAML text in, a validated [`Sweep`] or every problem out.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::config::{
    Arg, ConfigErrors, ConfigProblem, ExperimentEntry, Location, ProblemKind, Problems,
    SweepSettings, parse_config, render_value,
};
use crate::stage::{Stage, check_stages};
use crate::model_config::{AttentionHeadsError, ModelConfigSource, attention_heads};
use crate::numbers::thousands;
pub use crate::run::{Run, SweepCost};
use crate::validate::{
    Choice, RunDraft, build_run, canonical_settings, check_keys, is_prompt_pair,
};

/// The most runs one config may expand to (all experiments together, before equal runs are
/// merged). Far above what a cluster queues at once (SLURM's default `MaxJobCount` is
/// 10,000), and small enough that expanding and validating stays within a few hundred
/// megabytes; the count is computed from the list lengths before anything is expanded.
pub const MAX_RUNS: u64 = 100_000;

/// A validated, expanded sweep: what `launch` plans from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Top-level settings (script, `continue_on_failure`, `slurm:` section).
    pub settings: SweepSettings,
    /// Every run of the experiments that are not stages, experiments in file order, then the
    /// documented product order; runs whose settings are exactly equal appear once.
    pub runs: Vec<Run>,
    /// The stages (`docs/stages.md`), in file order: their runs are known once their
    /// source's groups resolve ([`crate::stage::resolve`]).
    pub stages: Vec<Stage>,
    /// `fixed_args`, from which every stage run starts.
    pub(crate) fixed_args: Vec<Arg>,
    /// Warnings to show the user (unknown keys passed through, missing script in a dry run,
    /// models whose attention heads could not be checked).
    pub warnings: Vec<String>,
    /// Notes (runs listed twice in the config and merged).
    pub notes: Vec<String>,
}

impl Sweep {
    /// How many distinct run names the sweep has (names are not unique: `docs/run-directory.md`).
    pub fn distinct_names(&self) -> usize {
        let mut names: Vec<&str> = self.runs.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }
}

/// What is at the script's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptFile {
    /// A file (or a link to one).
    File,
    /// A directory.
    Directory,
    /// Nothing (or nothing that can be reached).
    Missing,
}

/// What loading a sweep needs from the outside world, supplied by the binary.
pub struct LoadContext<'a> {
    /// A dry run: a missing script file is a warning instead of an error.
    pub dry_run: bool,
    /// What is at the script's path (relative paths are relative to the current directory).
    pub script_file: &'a dyn Fn(&str) -> ScriptFile,
    /// Local model configs for the attention-heads check (never the network).
    pub model_configs: &'a dyn ModelConfigSource,
}

/// Reads, expands and validates a sweep config (`docs/config.md`): `yaml_text` is the file's text,
/// `source_name` how the user named it (for messages).
///
/// # Errors
/// [`ConfigErrors`] listing every problem found (`docs/config.md`); then nothing may be
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

    let sweeps: Vec<EntrySweep<'_>> = file
        .experiments
        .iter()
        .map(|entry| EntrySweep::new(&file.fixed_args, entry))
        .collect();
    let drafts = expand(&sweeps, file.settings.strict_args, &mut problems);
    let (runs, notes) = identify_runs(drafts, &sweeps, &mut problems);
    warnings.extend(check_attention_heads(
        &runs,
        &sweeps,
        ctx.model_configs,
        &mut problems,
    ));
    let plain_runs: Vec<Run> = runs.into_iter().map(|e| e.draft.run).collect();
    let stages = check_stages(&file, &plain_runs, &mut problems);
    if !file.settings.script.is_empty() {
        let problem = match (ctx.script_file)(&file.settings.script) {
            ScriptFile::File => None,
            ScriptFile::Directory => Some(ProblemKind::ScriptIsDirectory),
            ScriptFile::Missing if ctx.dry_run => {
                warnings.push(format!(
                    "script `{}` not found (relative to the current directory); a real \
                     submission would refuse this config",
                    file.settings.script
                ));
                None
            }
            ScriptFile::Missing => Some(ProblemKind::ScriptMissing),
        };
        if let Some(kind) = problem {
            problems.push(
                ConfigProblem::new(Location::TopLevel, kind)
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
        runs: plain_runs,
        stages,
        fixed_args: file.fixed_args,
        warnings,
        notes,
    })
}

/// The runs of one experiment entry (`entry_index` in the file), checked and identified as
/// a config's are (a run listed twice is one; two settings in one directory are a
/// problem); for stages, whose entries are built from their source's groups and winners.
pub(crate) fn expand_entry(
    fixed_args: &[Arg],
    entry: &ExperimentEntry,
    entry_index: usize,
    strict: bool,
    problems: &mut Problems,
) -> Vec<Run> {
    let sweeps = [EntrySweep::new(fixed_args, entry)];
    let drafts = expand_entries(&sweeps, &[entry_index], strict, problems);
    let (runs, _notes) = identify_runs(drafts, &sweeps, problems);
    runs.into_iter().map(|e| e.draft.run).collect()
}

/// How many runs one experiment entry expands to (saturating), from its list lengths.
pub(crate) fn entry_runs(fixed_args: &[Arg], entry: &ExperimentEntry) -> u128 {
    EntrySweep::new(fixed_args, entry).runs()
}

/// One experiment entry's merged args and what it sweeps. Its runs are numbered
/// `0..runs()` in product order: swept keys in sorted key order, the last varying fastest.
struct EntrySweep<'f> {
    entry: &'f ExperimentEntry,
    /// `{**fixed_args, **args}`, empty lists left out (they are reported by `check_keys`).
    merged: Vec<Arg>,
    /// Indices into `merged` of the swept keys, in sorted key order (bytes of the kebab-case
    /// key).
    swept: Vec<usize>,
}

impl<'f> EntrySweep<'f> {
    fn new(fixed_args: &[Arg], entry: &'f ExperimentEntry) -> Self {
        let mut merged = merge(fixed_args, &entry.args);
        merged.retain(|arg| !arg.value.as_array().is_some_and(Vec::is_empty));
        let mut swept: Vec<usize> = (0..merged.len())
            .filter(|&i| is_sweep(&merged[i]))
            .collect();
        swept.sort_by(|&a, &b| merged[a].key.cmp(&merged[b].key));
        EntrySweep {
            entry,
            merged,
            swept,
        }
    }

    /// The values arg `i` of `merged` takes: a sweep list's elements, or the value itself.
    fn values(&self, i: usize) -> &[Value] {
        let arg = &self.merged[i];
        match &arg.value {
            Value::Array(items) if is_sweep(arg) => items,
            value => std::slice::from_ref(value),
        }
    }

    /// How many runs the entry expands to (saturating), from the list lengths alone.
    fn runs(&self) -> u128 {
        self.swept.iter().fold(1u128, |runs, &i| {
            runs.saturating_mul(self.values(i).len() as u128)
        })
    }

    /// The choices of run number `combination` (below [`EntrySweep::runs`]).
    fn choices(&self, mut combination: usize) -> Vec<Choice<'_>> {
        let mut pick = vec![0; self.merged.len()];
        for &i in self.swept.iter().rev() {
            let length = self.values(i).len();
            pick[i] = combination % length;
            combination /= length;
        }
        self.merged
            .iter()
            .zip(pick)
            .enumerate()
            .map(|(i, (arg, choice))| Choice {
                arg,
                value: &self.values(i)[choice],
            })
            .collect()
    }

    /// `block-size` 100 x `max-num-seqs` 100, for the too-many-runs message.
    fn describe_lists(&self) -> String {
        self.swept
            .iter()
            .map(|&i| format!("`{}` {}", self.merged[i].key, self.values(i).len()))
            .collect::<Vec<_>>()
            .join(" x ")
    }
}

/// Whether an arg is swept: a list, except one `[name, template]` prompt pair.
fn is_sweep(arg: &Arg) -> bool {
    arg.value.is_array() && !(arg.key == "prompt-template" && is_prompt_pair(&arg.value))
}

/// A run as expanded: its draft and where it comes from.
struct Expanded {
    draft: RunDraft,
    /// Index of its experiment entry.
    entry: usize,
    /// Its number within the entry's sweep.
    combination: usize,
}

impl Expanded {
    fn location<'s>(&self, sweeps: &'s [EntrySweep<'_>]) -> &'s Location {
        &sweeps[self.entry].entry.location
    }

    fn canonical(&self, sweeps: &[EntrySweep<'_>]) -> BTreeMap<String, Value> {
        canonical_settings(&sweeps[self.entry].choices(self.combination))
    }
}

/// Every run of every experiment entry that is not a stage, in file order then product
/// order; nothing when the sweep has more than [`MAX_RUNS`] runs (a problem is pushed).
fn expand(sweeps: &[EntrySweep<'_>], strict: bool, problems: &mut Problems) -> Vec<Expanded> {
    let indices: Vec<usize> = (0..sweeps.len()).collect();
    expand_entries(sweeps, &indices, strict, problems)
}

/// [`expand`], the entry of `sweeps[i]` standing at `entry_indices[i]` in the file.
fn expand_entries(
    sweeps: &[EntrySweep<'_>],
    entry_indices: &[usize],
    strict: bool,
    problems: &mut Problems,
) -> Vec<Expanded> {
    let counts: Vec<u128> = sweeps
        .iter()
        .map(|sweep| {
            if sweep.entry.from.is_some() {
                0
            } else {
                sweep.runs()
            }
        })
        .collect();
    let total = counts.iter().fold(0u128, |sum, &n| sum.saturating_add(n));
    if total > u128::from(MAX_RUNS) {
        let mut largest: Vec<usize> = (0..sweeps.len()).collect();
        largest.sort_by(|&a, &b| counts[b].cmp(&counts[a]));
        let mut breakdown: Vec<String> = largest
            .iter()
            .take(3)
            .map(|&i| {
                format!(
                    "{}: {} = {}",
                    sweeps[i].entry.location,
                    sweeps[i].describe_lists(),
                    thousands(counts[i])
                )
            })
            .collect();
        if sweeps.len() > 3 {
            breakdown.push(format!("{} more entries", sweeps.len() - 3));
        }
        problems.push(
            ConfigProblem::new(
                Location::TopLevel,
                ProblemKind::TooManyRuns {
                    runs: total,
                    limit: MAX_RUNS,
                    breakdown: breakdown.join("; "),
                },
            )
            .key("experiments"),
        );
        return Vec::new();
    }
    let mut runs = Vec::new();
    for (index, sweep) in sweeps.iter().enumerate() {
        // At most `MAX_RUNS`, checked above.
        let count = usize::try_from(counts[index]).unwrap_or(usize::MAX);
        for combination in 0..count {
            let choices = sweep.choices(combination);
            let entry_index = entry_indices[index];
            if let Some(draft) = build_run(sweep.entry, entry_index, &choices, strict, problems) {
                runs.push(Expanded {
                    draft,
                    entry: index,
                    combination,
                });
            }
        }
    }
    runs
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

/// A run is identified by its directory (`docs/config.md`): runs with exactly equal
/// settings are merged into the first (with a note); different settings in one directory are
/// an error.
fn identify_runs(
    runs: Vec<Expanded>,
    sweeps: &[EntrySweep<'_>],
    problems: &mut Problems,
) -> (Vec<Expanded>, Vec<String>) {
    let mut first_of_dir: HashMap<&str, usize> = HashMap::with_capacity(runs.len());
    // The settings of the first run of each directory that is repeated, built on demand.
    let mut first_settings: HashMap<usize, BTreeMap<String, Value>> = HashMap::new();
    let mut repeats: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut repeated = vec![false; runs.len()];
    // One problem per conflicting directory (the first conflict, with a count of the others),
    // keyed by the directory's first run: a sweep can make thousands.
    let mut conflicts: Vec<ConfigProblem> = Vec::new();
    let mut conflict_of_dir: HashMap<usize, usize> = HashMap::new();
    for (index, expanded) in runs.iter().enumerate() {
        let first_index = match first_of_dir.entry(expanded.draft.run.run_dir.as_str()) {
            Entry::Vacant(slot) => {
                slot.insert(index);
                continue;
            }
            Entry::Occupied(slot) => *slot.get(),
        };
        let first = &runs[first_index];
        let first_canonical = first_settings
            .entry(first_index)
            .or_insert_with(|| first.canonical(sweeps));
        let canonical = expanded.canonical(sweeps);
        if *first_canonical == canonical {
            repeated[index] = true;
            repeats
                .entry(first_index)
                .or_default()
                .push(expanded.location(sweeps).to_string());
            continue;
        }
        if let Some(&slot) = conflict_of_dir.get(&first_index) {
            if let ProblemKind::DirectoryConflict { more, .. } = &mut conflicts[slot].kind {
                *more += 1;
            }
            continue;
        }
        let (key, first_value, value) = first_difference(first_canonical, &canonical);
        let run = &expanded.draft.run;
        conflict_of_dir.insert(first_index, conflicts.len());
        conflicts.push(ConfigProblem {
            location: expanded.location(sweeps).clone(),
            key: Some(key.clone()),
            value: Some(render_value(&value)),
            kind: ProblemKind::DirectoryConflict {
                run_dir: run.run_dir.to_string(),
                name: run.name.clone(),
                first: format!(
                    "{} (`{key}` = `{}`)",
                    first.location(sweeps),
                    render_value(&first_value)
                ),
                more: 0,
            },
        });
    }
    drop(first_of_dir);
    for conflict in conflicts {
        problems.push(conflict);
    }
    let repeated_runs = repeats.len();
    let mut notes: Vec<String> = repeats
        .into_iter()
        .take(MAX_REPEAT_NOTES)
        .map(|(index, others)| {
            let first = &runs[index];
            let mut places = vec![first.location(sweeps).to_string()];
            for place in &others {
                if !places.contains(place) {
                    places.push(place.clone());
                }
            }
            format!(
                "run `{}` (`{}`) is listed {} times with the same settings ({}): it is counted \
                 and submitted once",
                first.draft.run.name,
                first.draft.run.run_dir,
                thousands(others.len() as u128 + 1),
                capped_list(&places, MAX_LISTED_PLACES, "places")
            )
        })
        .collect();
    if repeated_runs > MAX_REPEAT_NOTES {
        notes.push(format!(
            "{} more runs are listed more than once with the same settings: each is \
             counted and submitted once",
            thousands((repeated_runs - MAX_REPEAT_NOTES) as u128)
        ));
    }
    let kept = runs
        .into_iter()
        .zip(repeated)
        .filter_map(|(run, repeated)| (!repeated).then_some(run))
        .collect();
    (kept, notes)
}

/// The most notes about repeated runs; the others are counted in one more note.
const MAX_REPEAT_NOTES: usize = 20;

/// The most places a note about a repeated run lists.
const MAX_LISTED_PLACES: usize = 5;

/// The items joined by `, `; beyond `max`, the first `max` and `and N more {what}`.
fn capped_list(items: &[String], max: usize, what: &str) -> String {
    if items.len() <= max {
        return items.join(", ");
    }
    format!(
        "{}, and {} more {what}",
        items[..max].join(", "),
        thousands((items.len() - max) as u128)
    )
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

/// The attention-heads check (`docs/config.md`): for each model run with tp > 1, tp must
/// divide the heads in its local `config.json`. Returns warnings naming the models that could
/// not be checked, and why.
fn check_attention_heads(
    runs: &[Expanded],
    sweeps: &[EntrySweep<'_>],
    source: &dyn ModelConfigSource,
    problems: &mut Problems,
) -> Vec<String> {
    /// Why a model could not be checked.
    enum Unchecked {
        NoConfig,
        Broken(String, AttentionHeadsError),
    }
    let mut heads_of: BTreeMap<(&str, &str), Result<u64, Unchecked>> = BTreeMap::new();
    for expanded in runs.iter().filter(|e| e.draft.run.fields.tp > 1) {
        let draft = &expanded.draft;
        let key = (draft.run.fields.model.as_str(), draft.model_revision.as_str());
        let heads = heads_of.entry(key).or_insert_with(|| {
            let config = source
                .config_json(key.0, key.1)
                .ok_or(Unchecked::NoConfig)?;
            attention_heads(&config.text)
                .map_err(|e| Unchecked::Broken(config.path.display().to_string(), e))
        });
        if let Ok(heads) = *heads
            && heads % u64::from(draft.run.fields.tp) != 0
        {
            problems.push(ConfigProblem {
                location: expanded.location(sweeps).clone(),
                key: Some("tp".into()),
                value: Some(draft.run.fields.tp.to_string()),
                kind: ProblemKind::AttentionHeads {
                    model: draft.run.fields.model.clone(),
                    heads,
                },
            });
        }
    }
    let name = |model: &str, revision: &str| {
        if revision == "main" {
            format!("`{model}`")
        } else {
            format!("`{model}` (revision `{revision}`)")
        }
    };
    let mut warnings = Vec::new();
    let mut without: Vec<String> = Vec::new();
    for ((model, revision), heads) in &heads_of {
        match heads {
            Ok(_) => {}
            Err(Unchecked::NoConfig) => without.push(name(model, revision)),
            Err(Unchecked::Broken(path, why)) => warnings.push(format!(
                "attention heads not checked against tp for {}: its local `config.json` \
                 (`{path}`) {why}",
                name(model, revision)
            )),
        }
    }
    if !without.is_empty() {
        warnings.insert(
            0,
            format!(
                "attention heads not checked against tp for {} model(s) without a local \
                 `config.json` (local directory or Hugging Face cache; never downloaded): {}",
                without.len(),
                without.join(", ")
            ),
        );
    }
    warnings
}
