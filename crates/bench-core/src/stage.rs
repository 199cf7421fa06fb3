//! Staged sweeps (`docs/stages.md`): an experiment entry with `from:` takes the winners of
//! an experiment listed before it, per group of (model, prompt template), and runs its own
//! sweep with the winners' values of the inherited keys.
//!
//! Loading checks every stage up front (`check_stages`, called by
//! [`crate::sweep::load_sweep`]): its source, its inherited keys, its own args, and a probe
//! expansion that finds a stage sweeping a key outside the run directory. A launch then
//! resolves the stages from the state of each source run, which it supplies
//! ([`resolve`] with an [`Outcome`] per run): no file or queue is read here.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use crate::args::{self, ArgDefault, closest, closest_arg, snake_case};
use crate::config::{
    Arg, ConfigErrors, ConfigFile, ConfigProblem, ExperimentEntry, ProblemKind, Problems,
};
use crate::expand::{MAX_RUNS, entry_runs, expand_entry};
use crate::failure::FailureClass;
use crate::layout::{DEFAULT_MODEL, DEFAULT_PROMPT_DIR, RUN_DIR_ARGS, RunDir, model_safe};
use crate::numbers::thousands;
use crate::run::Run;

/// The keys that define a source's groups: a stage can neither inherit nor set them.
pub const GROUP_KEYS: [&str; 2] = ["model-name-or-path", "prompt-template"];

/// One stage of a sweep: an experiment entry with `from:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Index of its experiment entry (0-based, in file order).
    pub entry: usize,
    /// Its experiment name (the runs' experiment segment).
    pub name: String,
    /// `from.experiment`: the source's name.
    pub source: String,
    /// The entries forming the source: those of that name listed before the stage.
    pub source_entries: Vec<usize>,
    /// `from.inherit`, as the config's keys (kebab case).
    pub inherit: Vec<&'static str>,
    /// `from.top`: winners per group.
    pub top: usize,
    /// Runs one winner of one group gets (the stage's own expansion).
    pub runs_per_winner: u64,
    /// The stage's runs for one winner of each distinct tp, pp and dp the source can have
    /// (up to a bound), for checks that need whole runs (GPU counts, the sbatch template).
    pub probe: Vec<Run>,
    /// Per source group, the most runs the stage can give it: the stage's runs per winner x
    /// the winners the group can have (`top`, its distinct inherited values, its runs).
    group_runs: HashMap<GroupKey, u64>,
    /// The entry as written (its `args`).
    entry_args: ExperimentEntry,
}

/// What a launch knows of one source run, for judging its group (`docs/stages.md` section 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Completed, with its `output_tps_per_gpu` ([`crate::metrics::output_tps_per_gpu`];
    /// `None` without an inference time or when not finite).
    Completed(Option<f64>),
    /// Failed with a class the launch does not submit again (in the skip set).
    Failed(FailureClass),
    /// Would be submitted now, or is in flight: its group is not resolved.
    Unfinished,
    /// Will not run again although it has no result: submitted once by `launch --follow`
    /// and ended without stats or a failure class, or refused by sbatch while following.
    NotRun,
}

/// A group of a stage whose runs are not expanded (`docs/stages.md` section 4).
#[derive(Debug, Clone, PartialEq)]
pub struct StageGroup {
    /// The stage's entry index.
    pub entry: usize,
    /// The stage's name.
    pub stage: String,
    /// The run name as far as it is known: prompt template name and model (`tutorial-SmolLM2_135M_Instruct`).
    pub name: String,
    /// Whether it waits or has no winner.
    pub state: GroupState,
    /// The most runs the group can get: the stage's runs for one winner x `top`.
    pub runs: u64,
    /// Why, naming the source.
    pub reason: String,
}

/// The state of a stage group without runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// Its source group is not resolved yet.
    Waiting,
    /// Its source group is resolved without a winner.
    NoWinner,
}

/// One item of a resolved stage, in order: a run, or a group without runs.
#[derive(Debug, Clone, PartialEq)]
pub enum StageItem {
    /// A stage run: index into [`Resolution::runs`].
    Run(usize),
    /// A group that waits or has no winner.
    Group(StageGroup),
}

/// The stages of a sweep, resolved from the state of their sources' runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resolution {
    /// Every stage run, in stage order, then group and winner order, then product order;
    /// a directory already run by an earlier entry or stage is not repeated.
    pub runs: Vec<Run>,
    /// Every stage's items in file order.
    pub items: Vec<StageItem>,
}

/// What resolving the stages needs of a sweep ([`crate::sweep::Sweep::resolve_stages`]).
#[derive(Debug, Clone, Copy)]
pub struct Sources<'s> {
    /// The runs of the entries that are not stages.
    pub runs: &'s [Run],
    /// The stages, in file order.
    pub stages: &'s [Stage],
    /// `fixed_args`.
    pub(crate) fixed_args: &'s [Arg],
    /// `strict_args`.
    pub strict: bool,
}

/// A source group's identity: the model and prompt template values, as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    model: String,
    prompt: Option<String>,
}

impl GroupKey {
    fn of(run: &Run) -> Self {
        GroupKey {
            model: model_of(run).to_owned(),
            prompt: run.args.get("prompt_template").map(Value::to_string),
        }
    }
}

/// The model a run uses (the script's default when not set).
fn model_of(run: &Run) -> &str {
    run.args
        .get("model_name_or_path")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_MODEL)
}

/// `(SmolLM2_135M_Instruct, tutorial)`: a group as messages name it.
fn group_label(run: &Run) -> String {
    format!("({}, {})", model_safe(model_of(run)), prompt_dir(run))
}

/// The prompt template's directory name (`default` without a `[name, template]` pair).
fn prompt_dir(run: &Run) -> &str {
    run.fields
        .prompt_template_name
        .as_deref()
        .unwrap_or(DEFAULT_PROMPT_DIR)
}

/// A run reference during resolution: a plain run of the sweep or a stage run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RunRef {
    Plain(usize),
    Stage(usize),
}

/// A group of one experiment, as its stages see it.
#[derive(Debug, Clone)]
struct Group {
    key: GroupKey,
    /// A run of the group (for its model, prompt and label).
    example: RunRef,
    state: SourceState,
}

#[derive(Debug, Clone)]
enum SourceState {
    /// The group's runs.
    Runs(Vec<RunRef>),
    /// The group waits in a stage, for that stage's source (named).
    Waiting(String),
    /// No winner upstream: the reason of the stage that had none.
    NoWinner(String),
}

/// Resolves every stage of `sweep` (`docs/stages.md` sections 2 to 4): the source runs' state
/// comes from `outcome`, called once per source run (plain or stage run).
///
/// # Errors
/// [`ConfigErrors`] when a stage run built from a winner is refused (e.g. more GPUs than a
/// node holds): then nothing may be submitted.
pub fn resolve(
    sweep: &Sources<'_>,
    file_name: &str,
    outcome: &mut dyn FnMut(&Run) -> Outcome,
) -> Result<Resolution, ConfigErrors> {
    let mut resolver = Resolver {
        sweep,
        outcome,
        resolution: Resolution::default(),
        problems: Problems::default(),
        seen: sweep
            .runs
            .iter()
            .enumerate()
            .map(|(i, run)| (run.run_dir.clone(), RunRef::Plain(i)))
            .collect(),
        outcomes: HashMap::new(),
    };
    // The groups of every stage resolved so far, by entry index.
    let mut stage_groups: HashMap<usize, Vec<Group>> = HashMap::new();
    for stage in sweep.stages {
        let groups = source_groups(sweep, stage, &stage_groups)
            .into_iter()
            .map(|group| {
                let state = resolver.stage_group(stage, &group);
                Group { state, ..group }
            })
            .collect();
        stage_groups.insert(stage.entry, groups);
    }
    if resolver.problems.is_empty() {
        Ok(resolver.resolution)
    } else {
        Err(resolver.problems.into_errors(file_name))
    }
}

/// The state of a resolution under way.
struct Resolver<'s, 'o> {
    sweep: &'s Sources<'s>,
    outcome: &'o mut dyn FnMut(&Run) -> Outcome,
    resolution: Resolution,
    problems: Problems,
    /// Every run directory so far: two runs with one directory are one run.
    seen: HashMap<RunDir, RunRef>,
    /// What `outcome` said of each run asked about.
    outcomes: HashMap<RunRef, Outcome>,
}

impl Resolver<'_, '_> {
    fn run(&self, r: RunRef) -> &Run {
        run_of(self.sweep, &self.resolution.runs, r)
    }

    /// The stage's group for one source group: its runs (for its winners), or why it waits
    /// or has none; pushes its items.
    fn stage_group(&mut self, stage: &Stage, source: &Group) -> SourceState {
        let example = self.run(source.example).clone();
        let label = group_label(&example);
        let group_item = |state: GroupState, reason: String| {
            StageItem::Group(StageGroup {
                entry: stage.entry,
                stage: stage.name.clone(),
                name: format!(
                    "{}-{}",
                    prompt_dir(&example),
                    model_safe(model_of(&example))
                ),
                state,
                runs: stage.most_runs(&example),
                reason,
            })
        };
        let runs = match &source.state {
            SourceState::Waiting(upstream) => {
                let reason = format!(
                    "waits for {} {label}: its source {upstream} is not finished",
                    stage.source
                );
                self.resolution
                    .items
                    .push(group_item(GroupState::Waiting, reason));
                return SourceState::Waiting(stage.source.clone());
            }
            SourceState::NoWinner(root) => {
                let reason = format!("its source {} has no winner: {root}", stage.source);
                self.resolution
                    .items
                    .push(group_item(GroupState::NoWinner, reason));
                return SourceState::NoWinner(root.clone());
            }
            SourceState::Runs(runs) => runs,
        };
        let judged: Vec<(RunRef, Outcome)> = runs
            .iter()
            .map(|&r| {
                let known = self.outcomes.get(&r).copied();
                let outcome = known.unwrap_or_else(|| {
                    let outcome = (self.outcome)(run_of(self.sweep, &self.resolution.runs, r));
                    self.outcomes.insert(r, outcome);
                    outcome
                });
                (r, outcome)
            })
            .collect();
        let unfinished = judged
            .iter()
            .filter(|(_, o)| *o == Outcome::Unfinished)
            .count();
        if unfinished > 0 {
            let reason = format!(
                "waits for {} {label}: {unfinished} of {} runs not finished",
                stage.source,
                judged.len()
            );
            self.resolution
                .items
                .push(group_item(GroupState::Waiting, reason));
            return SourceState::Waiting(stage.source.clone());
        }
        let winners = winners(self.sweep, &self.resolution.runs, stage, &judged);
        if winners.is_empty() {
            let root = no_winner_reason(&stage.source, &judged);
            self.resolution
                .items
                .push(group_item(GroupState::NoWinner, root.clone()));
            return SourceState::NoWinner(root);
        }
        let mut refs = Vec::new();
        for winner in winners {
            let known = (self.sweep.runs.len() + self.resolution.runs.len()) as u128;
            let total = known + u128::from(stage.runs_per_winner);
            if total > u128::from(MAX_RUNS) {
                // Once per stage: the sweep is refused, nothing more of it is expanded.
                self.problems.push(
                    ConfigProblem::new(
                        stage.entry_args.location.clone(),
                        ProblemKind::TooManyRuns {
                            runs: total,
                            limit: MAX_RUNS,
                            breakdown: format!(
                                "{} runs known, and stage `{}` gets {} per winner, {} winner(s) \
                             per group",
                                thousands(known),
                                stage.name,
                                thousands(u128::from(stage.runs_per_winner)),
                                stage.top
                            ),
                        },
                    )
                    .key("from.top"),
                );
                break;
            }
            let entry = stage.entry_for(&example, self.run(winner));
            let runs = expand_entry(
                self.sweep.fixed_args,
                &entry,
                stage.entry,
                self.sweep.strict,
                &mut self.problems,
            );
            for run in runs {
                let r = self.add_run(run);
                if !refs.contains(&r) {
                    refs.push(r);
                }
            }
        }
        SourceState::Runs(refs)
    }

    /// A stage run, unless a run with its directory is known: then that one.
    fn add_run(&mut self, run: Run) -> RunRef {
        if let Some(&known) = self.seen.get(&run.run_dir) {
            return known;
        }
        let index = self.resolution.runs.len();
        self.seen.insert(run.run_dir.clone(), RunRef::Stage(index));
        self.resolution.runs.push(run);
        self.resolution.items.push(StageItem::Run(index));
        RunRef::Stage(index)
    }
}

fn run_of<'r>(sweep: &'r Sources<'_>, stage_runs: &'r [Run], r: RunRef) -> &'r Run {
    match r {
        RunRef::Plain(i) => &sweep.runs[i],
        RunRef::Stage(i) => &stage_runs[i],
    }
}

/// The groups of a stage's source, in the order their first run appears in the source
/// expansion: runs of plain entries, and the groups of stages (with their state).
fn source_groups(
    sweep: &Sources<'_>,
    stage: &Stage,
    stage_groups: &HashMap<usize, Vec<Group>>,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    let mut add = |key: GroupKey, example: RunRef, state: SourceState| {
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                key,
                example,
                state: SourceState::Runs(Vec::new()),
            });
            groups.len() - 1
        });
        let group = &mut groups[slot];
        let current = std::mem::replace(&mut group.state, SourceState::Runs(Vec::new()));
        group.state = match (current, state) {
            (SourceState::Waiting(upstream), _) | (_, SourceState::Waiting(upstream)) => {
                SourceState::Waiting(upstream)
            }
            (SourceState::Runs(mut runs), SourceState::Runs(more)) => {
                runs.extend(more);
                SourceState::Runs(runs)
            }
            // Some of its runs come from an entry that has them: they are the group's.
            (SourceState::Runs(runs), SourceState::NoWinner(_))
            | (SourceState::NoWinner(_), SourceState::Runs(runs))
                if !runs.is_empty() =>
            {
                SourceState::Runs(runs)
            }
            (_, SourceState::NoWinner(reason)) | (SourceState::NoWinner(reason), _) => {
                SourceState::NoWinner(reason)
            }
        };
    };
    for &entry in &stage.source_entries {
        if let Some(groups) = stage_groups.get(&entry) {
            for group in groups {
                add(group.key.clone(), group.example, group.state.clone());
            }
        } else {
            for (i, run) in sweep.runs.iter().enumerate() {
                if run.entry == entry {
                    add(
                        GroupKey::of(run),
                        RunRef::Plain(i),
                        SourceState::Runs(vec![RunRef::Plain(i)]),
                    );
                }
            }
        }
    }
    groups
}

/// The winners of a resolved group (`docs/stages.md` section 2): completed runs with a
/// throughput, highest first, ties in expansion order, one per distinct set of inherited
/// values (compared as the directory spells them), at most `top`.
fn winners(
    sweep: &Sources<'_>,
    stage_runs: &[Run],
    stage: &Stage,
    judged: &[(RunRef, Outcome)],
) -> Vec<RunRef> {
    let mut ranked: Vec<(RunRef, f64)> = judged
        .iter()
        .filter_map(|&(r, o)| match o {
            Outcome::Completed(Some(tps)) if tps.is_finite() => Some((r, tps)),
            _ => None,
        })
        .collect();
    // Stable: equal throughputs keep the expansion order.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut taken: Vec<Vec<Option<String>>> = Vec::new();
    let mut winners = Vec::new();
    for (r, _) in ranked {
        let run = run_of(sweep, stage_runs, r);
        let identity = stage.identity(run);
        if !taken.contains(&identity) {
            taken.push(identity);
            winners.push(r);
            if winners.len() == stage.top {
                break;
            }
        }
    }
    winners
}

/// `tier0-tiny: 3 OOM, 2 timeout`: why a resolved group has no winner.
fn no_winner_reason(source: &str, judged: &[(RunRef, Outcome)]) -> String {
    let mut classes: Vec<(FailureClass, usize)> = Vec::new();
    let mut without_figure = 0;
    let mut not_run = 0;
    for (_, o) in judged {
        match o {
            Outcome::Failed(class) => match classes.iter_mut().find(|(c, _)| c == class) {
                Some((_, n)) => *n += 1,
                None => classes.push((*class, 1)),
            },
            Outcome::Completed(_) => without_figure += 1,
            Outcome::NotRun => not_run += 1,
            Outcome::Unfinished => {}
        }
    }
    classes.sort_by_key(|(class, _)| *class);
    let mut parts: Vec<String> = classes
        .iter()
        .map(|(class, n)| format!("{n} {class}"))
        .collect();
    if without_figure > 0 {
        parts.push(format!(
            "{without_figure} completed without an inference time"
        ));
    }
    if not_run > 0 {
        parts.push(format!("{not_run} not run"));
    }
    if parts.is_empty() {
        parts.push("no runs".into());
    }
    format!("{source}: {}", parts.join(", "))
}

impl Stage {
    /// The values of the inherited keys as the run directory spells them: two runs with
    /// equal identities are one winner.
    fn identity(&self, run: &Run) -> Vec<Option<String>> {
        self.inherit
            .iter()
            .map(|key| run.fields.arg_segment(key))
            .collect()
    }

    /// The values of the inherited tp, pp and dp: what a winner decides of its stage runs'
    /// GPU count.
    fn gpu_identity(&self, run: &Run) -> Vec<Option<String>> {
        self.inherit
            .iter()
            .filter(|key| matches!(**key, "tp" | "pp" | "dp"))
            .map(|key| run.fields.arg_segment(key))
            .collect()
    }

    /// The most runs the group of `run` can get in this stage.
    fn most_runs(&self, run: &Run) -> u64 {
        self.group_runs
            .get(&GroupKey::of(run))
            .copied()
            .unwrap_or_else(|| self.runs_per_winner.saturating_mul(self.top as u64))
    }

    /// The stage's entry for one group (its model and prompt template from `example`) and
    /// one winner (its inherited values, written explicitly also when the winner took the
    /// script's default).
    fn entry_for(&self, example: &Run, winner: &Run) -> ExperimentEntry {
        let mut entry = self.entry_args.clone();
        entry.from = None;
        let location = entry.location.clone();
        let mut set = |key: &str, value: Value| {
            entry.args.push(Arg {
                key: key.to_owned(),
                written: key.to_owned(),
                value,
                location: location.clone(),
            });
        };
        set(
            "model-name-or-path",
            Value::String(model_of(example).to_owned()),
        );
        if let Some(prompt) = example.args.get("prompt_template") {
            set("prompt-template", prompt.clone());
        }
        for key in &self.inherit {
            let value = winner.args.get(&snake_case(key)).cloned().or_else(|| {
                args::spec(key)
                    .and_then(|spec| spec.default)
                    .and_then(ArgDefault::value)
            });
            set(key, value.unwrap_or(Value::Null));
        }
        entry
    }
}

/// Checks every stage of a config and builds them (`docs/stages.md` section 1): `plain_runs`
/// are the runs of the entries without `from:`. Problems are pushed; a stage with one is
/// still returned when it can be, so that later stages are checked against it.
pub(crate) fn check_stages(
    file: &ConfigFile,
    plain_runs: &[Run],
    problems: &mut Problems,
) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    // Stage runs of the probes so far, against MAX_PROBE_RUNS.
    let mut probed = 0usize;
    // The most runs of the whole config: plain runs, then each stage's most.
    let mut most_runs = plain_runs.len() as u128;
    let mut too_many = false;
    for (index, entry) in file.experiments.iter().enumerate() {
        let Some(from) = &entry.from else {
            continue;
        };
        let source_entries = check_source(file, index, problems);
        let mut ok = source_entries.is_some();
        let mut inherit = Vec::new();
        for (key, written) in &from.inherit {
            let value = Value::String(written.clone());
            let kind = match args::spec(key) {
                None => Some(ProblemKind::UnknownKey {
                    suggestion: closest_arg(key).map(Into::into),
                    arg: false,
                }),
                Some(spec) if GROUP_KEYS.contains(&spec.key) => Some(ProblemKind::InheritGroupKey),
                Some(spec) if !RUN_DIR_ARGS.contains(&spec.key) => {
                    Some(ProblemKind::InheritOutsideRunDir)
                }
                Some(spec) => {
                    inherit.push(spec.key);
                    None
                }
            };
            if let Some(kind) = kind {
                problems.push(
                    ConfigProblem::new(entry.location.clone(), kind)
                        .key("from.inherit")
                        .value(&value),
                );
                ok = false;
            }
        }
        if from.inherit.is_empty() {
            ok = false;
        }
        for arg in &entry.args {
            let inherited = inherit.contains(&arg.key.as_str());
            if inherited || GROUP_KEYS.contains(&arg.key.as_str()) {
                problems.push(
                    ConfigProblem::new(
                        arg.location.clone(),
                        ProblemKind::StageSetsSourceKey { inherited },
                    )
                    .key(arg.written.clone()),
                );
                ok = false;
            }
        }
        let (true, Some(source_entries)) = (ok && !entry.name.is_empty(), source_entries) else {
            continue;
        };
        let mut stage = Stage {
            entry: index,
            name: entry.name.clone(),
            source: from.experiment.clone(),
            source_entries,
            inherit,
            top: from.top,
            runs_per_winner: 0,
            probe: Vec::new(),
            group_runs: HashMap::new(),
            entry_args: entry.clone(),
        };
        // Per group of the source, how many distinct winners it can have; and the runs to
        // probe the stage with: one per distinct tp, pp and dp among the inherited keys (what
        // decides a stage run's GPU count), the source's first run among them.
        let source_is_stage = stage
            .source_entries
            .iter()
            .any(|&i| stages.iter().any(|s| s.entry == i));
        let source: Vec<&Run> = stage
            .source_entries
            .iter()
            .flat_map(|&i| possible_runs(i, plain_runs, &stages))
            .collect();
        let mut candidates: Vec<&Run> = Vec::new();
        let mut gpu_identities: HashSet<Vec<Option<String>>> = HashSet::new();
        let mut per_group: Vec<(GroupKey, HashSet<Vec<Option<String>>>)> = Vec::new();
        for run in source {
            let key = GroupKey::of(run);
            let identity = stage.identity(run);
            match per_group.iter_mut().find(|(k, _)| *k == key) {
                Some((_, identities)) => {
                    identities.insert(identity);
                }
                None => per_group.push((key, HashSet::from([identity]))),
            }
            if gpu_identities.insert(stage.gpu_identity(run)) {
                candidates.push(run);
            }
        }
        // The probe: the stage's runs for each candidate as group and winner. Two of them
        // in one directory means the stage sweeps a key outside it; a run refused (more GPUs
        // than a node) is refused now rather than when that winner wins.
        let mut probe: Vec<Run> = Vec::new();
        let mut probe_dirs: HashSet<RunDir> = HashSet::new();
        for candidate in candidates {
            let probe_entry = stage.entry_for(candidate, candidate);
            if stage.runs_per_winner == 0 {
                stage.runs_per_winner =
                    u64::try_from(entry_runs(&file.fixed_args, &probe_entry)).unwrap_or(u64::MAX);
            }
            if probed.saturating_add(probe.len()) >= MAX_PROBE_RUNS {
                break;
            }
            // The first winner whose runs are refused is reported: the others would repeat it.
            let mut refused = Problems::default();
            let runs = expand_entry(
                &file.fixed_args,
                &probe_entry,
                index,
                file.settings.strict_args,
                &mut refused,
            );
            if !refused.is_empty() {
                problems.extend(refused);
                break;
            }
            probe.extend(
                runs.into_iter()
                    .filter(|run| probe_dirs.insert(run.run_dir.clone())),
            );
        }
        probed += probe.len();
        stage.probe = probe;
        for (key, identities) in per_group {
            let source_most = source_group_runs(&stage.source_entries, &key, plain_runs, &stages);
            // A stage source's probe holds some of its runs only: its distinct values are
            // bounded by its runs.
            let distinct = if source_is_stage {
                source_most
            } else {
                identities.len() as u64
            };
            let winners = distinct.min(stage.top as u64).min(source_most);
            stage
                .group_runs
                .insert(key, winners.saturating_mul(stage.runs_per_winner));
        }
        most_runs = most_runs.saturating_add(u128::from(stage.group_runs.values().sum::<u64>()));
        if most_runs > u128::from(MAX_RUNS) && !too_many {
            too_many = true;
            problems.push(
                ConfigProblem::new(
                    entry.location.clone(),
                    ProblemKind::TooManyRuns {
                        runs: most_runs,
                        limit: MAX_RUNS,
                        breakdown: format!(
                            "counting each stage's runs for up to `top` winners per group; \
                             stage `{}` gets {} runs per winner",
                            stage.name,
                            thousands(u128::from(stage.runs_per_winner))
                        ),
                    },
                )
                .key("from.top"),
            );
        }
        stages.push(stage);
    }
    stages
}

/// The most stage runs probed at load time, over all stages: beyond it, a stage run
/// refused for a later winner is found when that winner wins.
const MAX_PROBE_RUNS: usize = 20_000;

/// The runs entry `entry` can have: its runs for a plain entry, its probe for a stage.
fn possible_runs<'r>(entry: usize, plain_runs: &'r [Run], stages: &'r [Stage]) -> Vec<&'r Run> {
    match stages.iter().find(|stage| stage.entry == entry) {
        Some(stage) => stage.probe.iter().collect(),
        None => plain_runs.iter().filter(|run| run.entry == entry).collect(),
    }
}

/// The most runs group `key` can have in the source entries.
fn source_group_runs(
    source_entries: &[usize],
    key: &GroupKey,
    plain_runs: &[Run],
    stages: &[Stage],
) -> u64 {
    source_entries
        .iter()
        .map(
            |&entry| match stages.iter().find(|stage| stage.entry == entry) {
                Some(stage) => stage.group_runs.get(key).copied().unwrap_or(0),
                None => plain_runs
                    .iter()
                    .filter(|run| run.entry == entry && GroupKey::of(run) == *key)
                    .count() as u64,
            },
        )
        .fold(0, u64::saturating_add)
}

/// The entries forming the source of the stage at `index` (those named `from.experiment`
/// before it); `None` when there are none (a problem is pushed, unless `from.experiment`
/// was already refused).
fn check_source(file: &ConfigFile, index: usize, problems: &mut Problems) -> Option<Vec<usize>> {
    let entry = &file.experiments[index];
    let source = entry.from.as_ref().map(|from| from.experiment.as_str())?;
    if source.is_empty() {
        return None;
    }
    let earlier = &file.experiments[..index];
    let entries: Vec<usize> = (0..index).filter(|&i| earlier[i].name == source).collect();
    if !entries.is_empty() {
        return Some(entries);
    }
    let kind = if source == entry.name {
        ProblemKind::StageSourceSelf
    } else if file.experiments[index + 1..]
        .iter()
        .any(|e| e.name == source)
    {
        ProblemKind::StageSourceLater
    } else {
        let names = earlier
            .iter()
            .map(|e| e.name.as_str())
            .filter(|name| !name.is_empty() && *name != entry.name);
        ProblemKind::StageSourceUnknown {
            suggestion: closest(source, names).map(Into::into),
        }
    };
    problems.push(
        ConfigProblem::new(entry.location.clone(), kind)
            .key("from.experiment")
            .value(&Value::String(source.to_owned())),
    );
    None
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupState::Waiting => "waiting",
            GroupState::NoWinner => "skipped_no_winner",
        })
    }
}
