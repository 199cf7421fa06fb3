//! Sweep expansion (`docs/config.md`): merged args -> one [`Run`] per combination,
//! then the checks across runs (`docs/config.md`). [`load_sweep`] is the entry point:
//! YAML text in, a validated [`Sweep`] or every problem out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::{
    Arg, ConfigErrors, ConfigProblem, Location, ProblemKind, Problems, SweepSettings, parse_config,
};
use crate::expand::{EntrySweep, Expanded, expand, identify_runs};
use crate::model_config::{AttentionHeadsError, ModelConfigSource, attention_heads};
pub use crate::run::{Run, SweepCost};
use crate::stage::{Outcome, Resolution, Stage, check_stages};
use crate::validate::check_keys;

pub use crate::expand::MAX_RUNS;

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
    /// Resolves the stages (`docs/stages.md` sections 2 to 4) from what the caller knows of
    /// each source run ([`crate::stage::resolve`]); `file_name` names the config in errors.
    ///
    /// # Errors
    /// [`ConfigErrors`] when a stage run built from a winner is refused.
    pub fn resolve_stages(
        &self,
        file_name: &str,
        outcome: &mut dyn FnMut(&Run) -> Outcome,
    ) -> Result<Resolution, ConfigErrors> {
        let sources = crate::stage::Sources {
            runs: &self.runs,
            stages: &self.stages,
            fixed_args: &self.fixed_args,
            strict: self.settings.strict_args,
        };
        crate::stage::resolve(&sources, file_name, outcome)
    }

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
        let key = (
            draft.run.fields.model.as_str(),
            draft.model_revision.as_str(),
        );
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
