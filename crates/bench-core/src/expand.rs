//! Expansion of experiment entries into runs (`docs/config.md`): merged args -> one
//! [`Run`] per combination, checked; then the identity rule across runs (a run listed twice
//! is one, two settings in one directory are a problem). Used for the config's entries
//! ([`crate::sweep`]) and for stages built from their source's winners ([`crate::stage`]).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::config::{
    Arg, ConfigProblem, ExperimentEntry, Location, ProblemKind, Problems, render_value,
};
use crate::numbers::thousands;
use crate::run::Run;
use crate::validate::{Choice, RunDraft, build_run, canonical_settings, is_prompt_pair};

/// The most runs one config may expand to (all experiments together, before equal runs are
/// merged). Far above what a cluster queues at once (SLURM's default `MaxJobCount` is
/// 10,000), and small enough that expanding and validating stays within a few hundred
/// megabytes; the count is computed from the list lengths before anything is expanded.
pub const MAX_RUNS: u64 = 100_000;

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
pub(crate) struct EntrySweep<'f> {
    pub(crate) entry: &'f ExperimentEntry,
    /// `{**fixed_args, **args}`, empty lists left out (they are reported by `check_keys`).
    merged: Vec<Arg>,
    /// Indices into `merged` of the swept keys, in sorted key order (bytes of the kebab-case
    /// key).
    swept: Vec<usize>,
}

impl<'f> EntrySweep<'f> {
    pub(crate) fn new(fixed_args: &[Arg], entry: &'f ExperimentEntry) -> Self {
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
pub(crate) struct Expanded {
    pub(crate) draft: RunDraft,
    /// Index of its experiment entry.
    entry: usize,
    /// Its number within the entry's sweep.
    combination: usize,
}

impl Expanded {
    pub(crate) fn location<'s>(&self, sweeps: &'s [EntrySweep<'_>]) -> &'s Location {
        &sweeps[self.entry].entry.location
    }

    fn canonical(&self, sweeps: &[EntrySweep<'_>]) -> BTreeMap<String, Value> {
        canonical_settings(&sweeps[self.entry].choices(self.combination))
    }
}

/// Every run of every experiment entry that is not a stage, in file order then product
/// order; nothing when the sweep has more than [`MAX_RUNS`] runs (a problem is pushed).
pub(crate) fn expand(
    sweeps: &[EntrySweep<'_>],
    strict: bool,
    problems: &mut Problems,
) -> Vec<Expanded> {
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
pub(crate) fn identify_runs(
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
                outside_dir: (!crate::layout::reaches_run_dir(&key)).then(|| key.clone()),
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
