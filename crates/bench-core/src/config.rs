//! The sweep config file (`docs/config.md`): YAML -> top-level settings, the
//! `slurm:` section, `fixed_args` and the experiment entries, and the error type that lists
//! every problem of a config at once.
//!
//! Expansion into runs and the checks across keys and runs live in [`crate::sweep`] and
//! [`crate::validate`]; [`crate::sweep::load_sweep`] is the entry point.

mod yaml_error;

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::args::{closest, kebab_case};
use crate::json_kind::describe;
use crate::layout::{NameError, SegmentError};
use crate::numbers::thousands;
use crate::sbatch_options::{
    MemorySizeError, SbatchArgError, UnsafeDirectiveChar, check_directive_value, check_sbatch_arg,
    memory_size_kib,
};
use crate::slurm_time::SlurmTimeError;

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

/// The `slurm:` section of a sweep config (`docs/config.md`), defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    /// `--partition`, none by default.
    pub partition: Option<String>,
    /// `--account`, none by default.
    pub account: Option<String>,
    /// CPUs per GPU: `--cpus-per-task` = this x GPUs of the run (default 11; 1 to
    /// [`MAX_CPUS_PER_GPU`]).
    pub cpus_per_gpu: u32,
    /// `--mem-per-cpu` (default `22G`), validated against SLURM's size grammar
    /// ([`crate::sbatch_options::memory_size_kib`]).
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
    /// The most seconds one `squeue` call may take (default 30): a hung one ends a real
    /// launch with exit code 3.
    pub squeue_timeout: u32,
    /// The most seconds one `sbatch` call may take (default 60): a hung one is killed and
    /// its job looked up in the queue by its comment, never retried blind.
    pub sbatch_timeout: u32,
}

/// The most seconds a `squeue-timeout` or `sbatch-timeout` may be.
pub const MAX_SLURM_TIMEOUT: u32 = 3600;

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
            squeue_timeout: 30,
            sbatch_timeout: 60,
        }
    }
}

/// The top-level keys of a sweep config, spelled exactly so (`docs/config.md`).
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "script",
    "continue_on_failure",
    "strict_args",
    "slurm",
    "fixed_args",
    "experiments",
];

/// The most `slurm.cpus-per-gpu` accepted: no node has more CPUs per GPU, and a typo such as
/// `110000` would ask SLURM for an allocation no node can give.
pub const MAX_CPUS_PER_GPU: u32 = 1024;

/// The keys of an experiment entry.
pub const EXPERIMENT_KEYS: &[&str] = &["name", "from", "args"];

/// The keys of a stage's `from:` mapping (`docs/stages.md`).
pub const FROM_KEYS: &[&str] = &["experiment", "inherit", "top"];

/// The most winners per group a stage may take (`from.top`).
pub const MAX_TOP: u64 = 100;

/// The keys of the `slurm:` section (`docs/config.md`).
pub const SLURM_KEYS: &[&str] = &[
    "partition",
    "account",
    "cpus-per-gpu",
    "mem-per-cpu",
    "setup",
    "sbatch-args",
    "template",
    "python",
    "squeue-timeout",
    "sbatch-timeout",
];

/// Every problem of a sweep config, reported together (`docs/config.md`). Its message
/// lists them one per line, the first [`MAX_LISTED_PROBLEMS`] of them, then how many more.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigErrors {
    /// The config file, as the user named it.
    pub file: String,
    /// Every problem, in the order found; never empty.
    pub problems: Vec<ConfigProblem>,
}

/// The most problems the message of [`ConfigErrors`] lists; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 50;

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "invalid sweep config `{}`: {} problem{}",
            self.file,
            thousands(count as u128),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in self.problems.iter().take(MAX_LISTED_PROBLEMS) {
            write!(f, "\n  - {problem}")?;
        }
        if count > MAX_LISTED_PROBLEMS {
            let more = count - MAX_LISTED_PROBLEMS;
            write!(
                f,
                "\n  ... and {} more problem{} (fix the ones above and run again)",
                thousands(more as u128),
                if more == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// One problem of a sweep config: where, which key and value, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    /// Where in the file.
    pub location: Location,
    /// The key as written, when the problem is about one.
    pub key: Option<String>,
    /// The value, rendered short (strings raw, other values as JSON), when it matters.
    pub value: Option<String>,
    /// Why it is a problem, with the fix when known.
    pub kind: ProblemKind,
}

impl ConfigProblem {
    /// A problem at `location` about nothing more specific.
    pub fn new(location: Location, kind: ProblemKind) -> Self {
        ConfigProblem {
            location,
            key: None,
            value: None,
            kind,
        }
    }

    /// The same problem, about `key`.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The same problem, about `value`.
    #[must_use]
    pub fn value(mut self, value: &Value) -> Self {
        self.value = Some(render_value(value));
        self
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let location = self.location.to_string();
        if !location.is_empty() {
            parts.push(location);
        }
        if let Some(key) = &self.key {
            parts.push(format!("`{key}`"));
        }
        if let Some(value) = &self.value {
            parts.push(format!("value `{value}`"));
        }
        if parts.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", parts.join(", "), self.kind)
        }
    }
}

/// Where a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// The file as a whole (syntax).
    File,
    /// The top-level mapping.
    TopLevel,
    /// The `slurm:` section.
    Slurm,
    /// The `fixed_args` mapping.
    FixedArgs,
    /// An entry of `experiments`.
    Experiment {
        /// 1-based position in the `experiments` list.
        entry: usize,
        /// Its name, when it has a valid one.
        name: Option<String>,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File => Ok(()),
            Location::TopLevel => f.write_str("top level"),
            Location::Slurm => f.write_str("`slurm`"),
            Location::FixedArgs => f.write_str("`fixed_args`"),
            Location::Experiment {
                entry,
                name: Some(name),
            } => write!(f, "experiment `{name}` (entry {entry} of `experiments`)"),
            Location::Experiment { entry, name: None } => {
                write!(f, "entry {entry} of `experiments`")
            }
        }
    }
}

/// Why a config is refused (`docs/config.md`, 4 and 5).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProblemKind {
    /// The text is not YAML.
    #[error("malformed YAML{}: {message}", fmt_at(*line, *column))]
    Yaml {
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// The YAML parser's message.
        message: String,
    },
    /// An integer that does not fit in 64 bits (the key is the YAML path when known).
    #[error(
        "integer too {}{}: {}",
        if *negative { "small" } else { "large" },
        fmt_at(*line, *column),
        if *negative {
            "the smallest accepted is -9223372036854775808"
        } else {
            "the largest accepted is 18446744073709551615"
        }
    )]
    IntegerOutOfRange {
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// Whether it is below the smallest integer rather than above the largest.
        negative: bool,
    },
    /// A value of the wrong type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the key takes.
        expected: &'static str,
        /// What was given.
        found: &'static str,
    },
    /// A required key is absent.
    #[error("required key is missing{}", fmt_hint(hint))]
    MissingKey {
        /// How to fix it.
        hint: &'static str,
    },
    /// A key that does not exist here.
    #[error("unknown key{}", unknown_key_hint(suggestion.as_deref(), *arg))]
    UnknownKey {
        /// The closest known key.
        suggestion: Option<String>,
        /// Whether it is an arg key (then `strict_args: false` is a way out).
        arg: bool,
    },
    /// The same key twice, in two spellings.
    #[error("given twice in one mapping (also as `{other}`); keep one")]
    DuplicateKey {
        /// The other spelling.
        other: String,
    },
    /// `name` in `args` or `fixed_args`.
    #[error("`name` is reserved: run names are derived from the settings; remove it")]
    ReservedName,
    /// `local-execution: false`.
    #[error("`local-execution` is set by `launch` (jobs run in their own allocation); remove it")]
    LocalExecution,
    /// `tasks` or `workers` other than 1.
    #[error("must be 1: a job runs one task; sweep the setting instead, or remove it")]
    OneTask,
    /// A sweep list with no values.
    #[error("empty sweep list; give at least one value, or remove the key")]
    EmptySweep,
    /// `experiments` is empty.
    #[error("no experiments; add at least one entry with a `name` under `experiments`")]
    NoExperiments,
    /// A value outside its allowed range.
    #[error("{rule}")]
    OutOfRange {
        /// The rule, e.g. "must be at least 1".
        rule: &'static str,
    },
    /// More GPUs than the nodes hold, or not divisible by the nodes.
    #[error(
        "tp x pp x dp = {gpus} GPUs does not fit {nodes_per_task} node(s) of 8 GPUs \
         (it must be at most 8 x nodes-per-task and divisible by nodes-per-task)"
    )]
    GpuCount {
        /// tp x pp x dp.
        gpus: u64,
        /// nodes-per-task.
        nodes_per_task: u64,
    },
    /// pp > 1: the script's in-allocation mode forces pp 1.
    #[error(
        "pipeline parallel is not supported: jobs run the script in its own allocation, which \
         forces pp 1 and would write to a different directory; use tp"
    )]
    PipelineParallel,
    /// nodes-per-task > 1: a job holds one node.
    #[error(
        "multi-node runs are not supported: jobs run the script in its own allocation on one \
         node, which would write to a different directory"
    )]
    MultiNode,
    /// A prompt template without the placeholder.
    #[error(
        "the prompt template has no `[[DOCUMENT]]` placeholder, so no document reaches the model"
    )]
    MissingPlaceholder,
    /// A bad experiment name, prompt template name, model or output-dir.
    #[error("{0}")]
    Name(#[from] NameError),
    /// A bad kv-cache-dtype, quantization or speculative-config.
    #[error("{0}")]
    Segment(#[from] SegmentError),
    /// A `time` SLURM would refuse.
    #[error("{0}")]
    Time(#[from] SlurmTimeError),
    /// A value reaching an `#SBATCH` line with a character sbatch does not take literally
    /// there (whitespace, `#`, quotes, `\`, control characters).
    #[error("{0}")]
    SbatchValue(#[from] UnsafeDirectiveChar),
    /// An `sbatch-args` key that is not an option name, or is or abbreviates an option the
    /// template sets or contradicts.
    #[error("{0}")]
    SbatchArg(#[from] SbatchArgError),
    /// A `mem-per-cpu` SLURM would refuse.
    #[error("{0}")]
    MemorySize(#[from] MemorySizeError),
    /// Two runs with different settings would write into one directory.
    #[error(
        "run `{name}` has the same run directory `{run_dir}` as the run of {first}, with \
         different settings{}: the inference script would write {} into it; {}",
        if *more == 0 { String::new() } else {
            format!(", and so do {} more run{}", thousands(*more as u128), if *more == 1 { "" } else { "s" })
        },
        if *more == 0 { "both" } else { "them all" },
        match outside_dir {
            Some(key) => format!(
                "`{key}` has no place in the run directory, so runs differing only in it cannot \
                 share an experiment: sweep its values in separate experiments (one per value, \
                 each with its own name)"
            ),
            None => "make the values differ in the directory too (gpu-memory-utilization 0.56 \
                     and 0.57 are both `gmu_56`)".to_owned(),
        }
    )]
    DirectoryConflict {
        /// The run directory both runs map to.
        run_dir: String,
        /// The run name.
        name: String,
        /// Where the first run of that directory comes from, with its value.
        first: String,
        /// How many more runs with other settings map to the same directory (reported in
        /// this one problem).
        more: usize,
        /// The differing arg when it has no place in the run directory (an extra option
        /// passed through with `strict_args: false`, say).
        outside_dir: Option<String>,
    },
    /// The script file does not exist.
    #[error(
        "the script file does not exist (relative paths are relative to the current \
         directory); `--dry-run` previews a sweep without it"
    )]
    ScriptMissing,
    /// The script path names a directory.
    #[error(
        "the script is a directory, not a file; give the path of the inference script itself \
         (e.g. `examples/inference/generate_data.py`)"
    )]
    ScriptIsDirectory,
    /// The sweep has more runs than one config may have.
    #[error(
        "the sweep expands to {} runs, more than the limit of {} runs per config ({breakdown}); \
         narrow the sweep lists or split the config",
        thousands(*runs),
        thousands(u128::from(*limit))
    )]
    TooManyRuns {
        /// Runs of the whole config (before equal runs are merged).
        runs: u128,
        /// The limit, [`crate::sweep::MAX_RUNS`].
        limit: u64,
        /// The largest contributions, e.g. "entry 1, experiment `e`: 100 x 100 x 100 values of
        /// `block-size` x `max-num-batched-tokens` x `max-num-seqs`".
        breakdown: String,
    },
    /// `from.experiment` names the stage itself.
    #[error("names this stage itself; a stage takes the winners of an experiment listed before it")]
    StageSourceSelf,
    /// `from.experiment` names an experiment listed only after the stage.
    #[error(
        "names an experiment listed after this entry; a stage takes the winners of an \
         experiment listed before it (move this stage below it)"
    )]
    StageSourceLater,
    /// `from.experiment` names no experiment at all.
    #[error(
        "names no experiment listed before this entry{}",
        suggestion.as_ref().map_or(String::new(), |s| format!("; did you mean `{s}`?"))
    )]
    StageSourceUnknown {
        /// The closest name of an experiment listed before the stage.
        suggestion: Option<String>,
    },
    /// `from.inherit` is an empty list.
    #[error("empty list; name the keys that take the winners' values, e.g. `[tp, max-num-seqs]`")]
    EmptyInherit,
    /// `from.inherit` names `model-name-or-path` or `prompt-template`.
    #[error(
        "cannot be inherited: the source's runs are grouped by `model-name-or-path` and \
         `prompt-template`, and each group's stage runs keep the group's own"
    )]
    InheritGroupKey,
    /// `from.inherit` names a key outside the run directory.
    #[error(
        "is not part of the run directory, so the stage runs of two winners could share one \
         directory; inherit only {}",
        crate::layout::RUN_DIR_ARGS.join(", ")
    )]
    InheritOutsideRunDir,
    /// A stage's own `args` set a key its source gives.
    #[error("{}; remove it from the stage's `args`", if *inherited {
        "is inherited from the source's winners (`from.inherit`)"
    } else {
        "comes from the source: the stage runs each model and prompt template of its source"
    })]
    StageSetsSourceKey {
        /// Whether the key is inherited (else it is `model-name-or-path` or
        /// `prompt-template`).
        inherited: bool,
    },
    /// tp does not divide the model's attention heads.
    #[error(
        "tp does not divide the {heads} attention heads of `{model}` (from its local `config.json`)"
    )]
    AttentionHeads {
        /// The model.
        model: String,
        /// Its number of attention heads.
        heads: u64,
    },
}

fn fmt_at(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

fn fmt_hint(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

fn unknown_key_hint(suggestion: Option<&str>, arg: bool) -> String {
    let mut text = match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    };
    if arg {
        text.push_str(
            "\n    hint: for a script with extra options, set `strict_args: false` to pass \
             unknown keys through",
        );
    }
    text
}

/// A value as shown in messages: strings raw (escaped, no quotes), other values as JSON,
/// shortened to 60 characters.
pub fn render_value(value: &Value) -> String {
    let text = match value {
        Value::String(s) => {
            let json = serde_json::to_string(s).unwrap_or_default();
            json[1..json.len() - 1].to_owned()
        }
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let short: String = text.chars().take(57).collect();
        format!("{short}...")
    } else {
        text
    }
}

/// Problems collected while loading, each kept once.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<ConfigProblem>,
    seen: HashSet<String>,
}

impl Problems {
    pub(crate) fn push(&mut self, problem: ConfigProblem) {
        if self.seen.insert(problem.to_string()) {
            self.list.push(problem);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every problem of `other` too, each kept once.
    pub(crate) fn extend(&mut self, other: Problems) {
        for problem in other.list {
            self.push(problem);
        }
    }

    /// The problems as the error of `file`.
    pub(crate) fn into_errors(self, file: &str) -> ConfigErrors {
        ConfigErrors {
            file: file.to_owned(),
            problems: self.list,
        }
    }
}

/// One arg as written in `fixed_args` or an experiment's `args`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    /// Kebab-case key.
    pub key: String,
    /// The key as written (for messages).
    pub written: String,
    /// The value (a list for a sweep).
    pub value: Value,
    /// Where it is written.
    pub location: Location,
}

/// One entry of `experiments`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExperimentEntry {
    /// Its location (entry number and name).
    pub location: Location,
    /// The experiment name (empty when missing or invalid: a problem is recorded).
    pub name: String,
    /// Its args in file order.
    pub args: Vec<Arg>,
    /// `from:`, when the entry is a stage (`docs/stages.md`).
    pub from: Option<StageFrom>,
}

/// A stage's `from:` as read; parts that were refused are left empty (a problem is
/// recorded).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StageFrom {
    /// `experiment`: the source's name (empty when missing or not a string).
    pub experiment: String,
    /// `inherit`: each key in kebab case with its spelling as written.
    pub inherit: Vec<(String, String)>,
    /// `top`: winners per group (1 when absent or refused).
    pub top: usize,
}

/// A sweep config as written, before expansion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfigFile {
    pub settings: SweepSettings,
    pub fixed_args: Vec<Arg>,
    pub experiments: Vec<ExperimentEntry>,
}

/// Reads a sweep config. Every problem found is pushed to `problems`; the result holds what
/// could be read (defaults where a value was refused), or `None` when the text is not a YAML
/// mapping at all.
pub(crate) fn parse_config(yaml_text: &str, problems: &mut Problems) -> Option<ConfigFile> {
    // A leading byte order mark is not part of the document (PyYAML skips it too).
    let yaml_text = yaml_text.strip_prefix('\u{feff}').unwrap_or(yaml_text);
    if let Some((line, column)) = yaml_error::too_deep(yaml_text) {
        problems.push(ConfigProblem::new(
            Location::File,
            ProblemKind::Yaml {
                line: Some(line),
                column: Some(column),
                message: format!(
                    "`[` and `{{` nested more than {} levels deep; a sweep config needs a few",
                    yaml_error::MAX_FLOW_DEPTH
                ),
            },
        ));
        return None;
    }
    let mut document: Yaml = match serde_yaml::from_str(yaml_text) {
        Ok(document) => document,
        Err(error) => {
            problems.push(yaml_error::yaml_problem(yaml_text, &error));
            return None;
        }
    };
    if let Err(error) = document.apply_merge() {
        problems.push(ConfigProblem::new(
            Location::File,
            ProblemKind::Yaml {
                line: None,
                column: None,
                message: error.to_string(),
            },
        ));
        return None;
    }
    let top = match document {
        Yaml::Mapping(top) => top,
        Yaml::Null => serde_yaml::Mapping::new(),
        other => {
            problems.push(ConfigProblem::new(
                Location::File,
                ProblemKind::WrongType {
                    expected: "a mapping of top-level keys (`script`, `experiments`, ...)",
                    found: describe(&to_json(&other).unwrap_or(Value::Null)),
                },
            ));
            return None;
        }
    };

    let mut reader = Reader { problems };
    let top = reader.mapping_entries(&top, &Location::TopLevel, TOP_LEVEL_KEYS, false);
    let get = |key: &str| top.iter().find(|(k, _)| k == key).map(|(_, v)| v);

    let script = if let Some(value) = get("script") {
        reader.string(value, &Location::TopLevel, "script")
    } else {
        reader.problems.push(
            ConfigProblem::new(
                Location::TopLevel,
                ProblemKind::MissingKey {
                    hint: "set it to the inference script's path",
                },
            )
            .key("script"),
        );
        None
    };
    let bool_key = |reader: &mut Reader, key: &str| {
        get(key)
            .and_then(|v| reader.boolean(v, &Location::TopLevel, key))
            .unwrap_or(true)
    };
    let continue_on_failure = bool_key(&mut reader, "continue_on_failure");
    let strict_args = bool_key(&mut reader, "strict_args");
    let slurm = get("slurm").map_or_else(SlurmSettings::default, |v| reader.slurm(v));
    let fixed_args = get("fixed_args").map_or_else(Vec::new, |v| {
        reader.args(v, &Location::FixedArgs, "fixed_args")
    });
    let experiments = if let Some(value) = get("experiments") {
        reader.experiments(value)
    } else {
        reader.problems.push(
            ConfigProblem::new(
                Location::TopLevel,
                ProblemKind::MissingKey {
                    hint: "add a list of experiments, each with a `name` and `args`",
                },
            )
            .key("experiments"),
        );
        Vec::new()
    };
    Some(ConfigFile {
        settings: SweepSettings {
            script: script.unwrap_or_default(),
            continue_on_failure,
            strict_args,
            slurm,
        },
        fixed_args,
        experiments,
    })
}

/// Converts a YAML value to the JSON the script's keyword arguments carry; the error is
/// (what is expected, what was found).
fn to_json(value: &Yaml) -> Result<Value, (&'static str, &'static str)> {
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or(("a finite number", "NaN or infinity"))?
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut object = serde_json::Map::new();
            for (k, v) in map {
                let Yaml::String(k) = k else {
                    return Err(("string keys", "a mapping with other keys"));
                };
                object.insert(k.clone(), to_json(v)?);
            }
            Value::Object(object)
        }
        Yaml::Tagged(_) => {
            return Err((
                "a plain value (no YAML tags such as `!foo`)",
                "a tagged value",
            ));
        }
    })
}

/// Reads the parts of the document, pushing problems.
struct Reader<'p> {
    problems: &'p mut Problems,
}

impl Reader<'_> {
    fn push(&mut self, problem: ConfigProblem) {
        self.problems.push(problem);
    }

    /// The entries of a mapping with string keys; unknown keys (outside `known`, unless
    /// `known` is empty) and non-string keys are reported and dropped. With `kebab`, keys are
    /// normalized to kebab case and duplicates across spellings reported.
    fn mapping_entries(
        &mut self,
        map: &serde_yaml::Mapping,
        location: &Location,
        known: &[&str],
        kebab: bool,
    ) -> Vec<(String, Yaml)> {
        self.read_entries(map, location, known, kebab, "")
    }

    /// [`Reader::mapping_entries`] of a nested mapping whose keys are shown as
    /// `{path}{key}` (`from.top`).
    fn mapping_entries_in(
        &mut self,
        map: &serde_yaml::Mapping,
        location: &Location,
        known: &[&str],
        path: &str,
    ) -> Vec<(String, Yaml)> {
        self.read_entries(map, location, known, false, path)
    }

    fn read_entries(
        &mut self,
        map: &serde_yaml::Mapping,
        location: &Location,
        known: &[&str],
        kebab: bool,
        path: &str,
    ) -> Vec<(String, Yaml)> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        let mut written: Vec<String> = Vec::new();
        for (key, value) in map {
            let Yaml::String(key) = key else {
                let found = to_json(key).map_or("a complex key", |k| describe(&k));
                self.push(ConfigProblem::new(
                    location.clone(),
                    ProblemKind::WrongType {
                        expected: "a string key",
                        found,
                    },
                ));
                continue;
            };
            let normal = if kebab { kebab_case(key) } else { key.clone() };
            if !known.is_empty() && !known.contains(&normal.as_str()) {
                self.push(
                    ConfigProblem::new(
                        location.clone(),
                        ProblemKind::UnknownKey {
                            suggestion: closest(&normal, known.iter().copied()).map(Into::into),
                            arg: false,
                        },
                    )
                    .key(format!("{path}{key}")),
                );
                continue;
            }
            if let Some(i) = entries.iter().position(|(k, _)| *k == normal) {
                self.push(
                    ConfigProblem::new(
                        location.clone(),
                        ProblemKind::DuplicateKey {
                            other: written[i].clone(),
                        },
                    )
                    .key(format!("{path}{key}")),
                );
                continue;
            }
            entries.push((normal, value.clone()));
            written.push(key.clone());
        }
        entries
    }

    fn json(&mut self, value: &Yaml, location: &Location, key: &str) -> Option<Value> {
        match to_json(value) {
            Ok(json) => Some(json),
            Err((expected, found)) => {
                self.push(
                    ConfigProblem::new(
                        location.clone(),
                        ProblemKind::WrongType { expected, found },
                    )
                    .key(key),
                );
                None
            }
        }
    }

    fn wrong_type(
        &mut self,
        location: &Location,
        key: &str,
        expected: &'static str,
        found: &Value,
    ) {
        self.push(
            ConfigProblem::new(
                location.clone(),
                ProblemKind::WrongType {
                    expected,
                    found: describe(found),
                },
            )
            .key(key)
            .value(found),
        );
    }

    /// A time limit in whole seconds, from 1 to [`MAX_SLURM_TIMEOUT`].
    fn seconds(&mut self, value: &Yaml, location: &Location, key: &str) -> Option<u32> {
        match self.json(value, location, key)? {
            Value::Number(n) if !n.is_f64() => {
                if let Some(seconds @ 1..=MAX_SLURM_TIMEOUT) =
                    n.as_u64().and_then(|s| u32::try_from(s).ok())
                {
                    return Some(seconds);
                }
                self.push(
                    ConfigProblem::new(
                        location.clone(),
                        ProblemKind::OutOfRange {
                            rule: "must be from 1 to 3600 seconds",
                        },
                    )
                    .key(key)
                    .value(&Value::Number(n)),
                );
                None
            }
            other => {
                self.wrong_type(location, key, "an integer number of seconds", &other);
                None
            }
        }
    }

    fn string(&mut self, value: &Yaml, location: &Location, key: &str) -> Option<String> {
        match self.json(value, location, key)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong_type(location, key, "a string", &other);
                None
            }
        }
    }

    fn boolean(&mut self, value: &Yaml, location: &Location, key: &str) -> Option<bool> {
        match self.json(value, location, key)? {
            Value::Bool(b) => Some(b),
            other => {
                self.wrong_type(location, key, "`true` or `false`", &other);
                None
            }
        }
    }

    /// A string reaching an `#SBATCH` line: numbers are taken as their text; characters sbatch
    /// does not take literally there are refused ([`check_directive_value`]).
    fn sbatch_string(&mut self, value: &Yaml, location: &Location, key: &str) -> Option<String> {
        let text = match self.json(value, location, key)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => {
                self.wrong_type(location, key, "a string", &other);
                return None;
            }
        };
        if let Err(error) = check_directive_value(&text) {
            self.push(
                ConfigProblem::new(location.clone(), error.into())
                    .key(key)
                    .value(&Value::String(text)),
            );
            return None;
        }
        Some(text)
    }

    fn slurm(&mut self, value: &Yaml) -> SlurmSettings {
        let location = Location::Slurm;
        let mut slurm = SlurmSettings::default();
        let map = match value {
            Yaml::Mapping(map) => map,
            Yaml::Null => return slurm,
            other => {
                if let Some(json) = self.json(other, &location, "slurm") {
                    self.wrong_type(&Location::TopLevel, "slurm", "a mapping", &json);
                }
                return slurm;
            }
        };
        for (key, value) in self.mapping_entries(map, &location, SLURM_KEYS, false) {
            let key = key.as_str();
            if value.is_null() && matches!(key, "partition" | "account" | "template") {
                continue;
            }
            match key {
                "partition" => slurm.partition = self.sbatch_string(&value, &location, key),
                "account" => slurm.account = self.sbatch_string(&value, &location, key),
                "mem-per-cpu" => {
                    if let Some(mem) = self.sbatch_string(&value, &location, key) {
                        match memory_size_kib(&mem) {
                            Ok(_) => slurm.mem_per_cpu = mem,
                            Err(error) => self.push(
                                ConfigProblem::new(location.clone(), error.into())
                                    .key(key)
                                    .value(&Value::String(mem)),
                            ),
                        }
                    }
                }
                "squeue-timeout" | "sbatch-timeout" => {
                    if let Some(seconds) = self.seconds(&value, &location, key) {
                        if key == "squeue-timeout" {
                            slurm.squeue_timeout = seconds;
                        } else {
                            slurm.sbatch_timeout = seconds;
                        }
                    }
                }
                "cpus-per-gpu" => match self.json(&value, &location, key) {
                    Some(Value::Number(n)) if !n.is_f64() => {
                        match n.as_u64().and_then(|c| u32::try_from(c).ok()) {
                            Some(cpus @ 1..=MAX_CPUS_PER_GPU) => slurm.cpus_per_gpu = cpus,
                            _ => self.push(
                                ConfigProblem::new(
                                    location.clone(),
                                    ProblemKind::OutOfRange {
                                        rule: "must be from 1 to 1024 CPUs per GPU",
                                    },
                                )
                                .key(key)
                                .value(&Value::Number(n)),
                            ),
                        }
                    }
                    Some(other) => {
                        self.wrong_type(&location, key, "an integer from 1 to 1024", &other);
                    }
                    None => {}
                },
                "setup" => match self.json(&value, &location, key) {
                    Some(Value::Array(lines)) if lines.iter().all(Value::is_string) => {
                        slurm.setup = lines
                            .into_iter()
                            .filter_map(|l| l.as_str().map(str::to_owned))
                            .collect();
                    }
                    Some(Value::Null) | None => {}
                    Some(other) => {
                        self.wrong_type(&location, key, "a list of shell lines (strings)", &other);
                    }
                },
                "sbatch-args" => slurm.sbatch_args = self.sbatch_args(&value),
                "template" => slurm.template = self.string(&value, &location, key),
                "python" => {
                    if let Some(python) = self.string(&value, &location, key) {
                        if python.trim().is_empty() {
                            self.push(
                                ConfigProblem::new(
                                    location.clone(),
                                    ProblemKind::OutOfRange {
                                        rule: "must name an interpreter, e.g. `python`",
                                    },
                                )
                                .key(key),
                            );
                        } else {
                            slurm.python = python;
                        }
                    }
                }
                _ => {}
            }
        }
        slurm
    }

    fn sbatch_args(&mut self, value: &Yaml) -> Vec<(String, String)> {
        let location = Location::Slurm;
        let map = match value {
            Yaml::Mapping(map) => map,
            Yaml::Null => return Vec::new(),
            other => {
                if let Some(json) = self.json(other, &location, "sbatch-args") {
                    self.wrong_type(&location, "sbatch-args", "a mapping", &json);
                }
                return Vec::new();
            }
        };
        let mut directives = Vec::new();
        for (key, value) in self.mapping_entries(map, &location, &[], false) {
            let written = format!("sbatch-args.{key}");
            if let Err(error) = check_sbatch_arg(&key) {
                self.push(ConfigProblem::new(location.clone(), error.into()).key(written));
                continue;
            }
            if let Some(text) = self.sbatch_string(&value, &location, &written) {
                directives.push((key, text));
            }
        }
        directives
    }

    /// `fixed_args` or an experiment's `args`: keys in kebab case, values as JSON. Unknown
    /// keys are kept here; [`crate::validate`] judges them with `strict_args`.
    fn args(&mut self, value: &Yaml, location: &Location, key: &str) -> Vec<Arg> {
        let map = match value {
            Yaml::Mapping(map) => map,
            Yaml::Null => return Vec::new(),
            other => {
                if let Some(json) = self.json(other, location, key) {
                    self.wrong_type(location, key, "a mapping of arg keys to values", &json);
                }
                return Vec::new();
            }
        };
        let mut written_keys = Vec::new();
        for (k, _) in map {
            written_keys.push(k.as_str().map(str::to_owned));
        }
        let entries = self.mapping_entries(map, location, &[], true);
        let mut out = Vec::new();
        for (normal, value) in entries {
            let written = written_keys
                .iter()
                .flatten()
                .find(|w| kebab_case(w) == normal)
                .cloned()
                .unwrap_or_else(|| normal.clone());
            let Some(value) = self.json(&value, location, &written) else {
                continue;
            };
            out.push(Arg {
                key: normal,
                written,
                value,
                location: location.clone(),
            });
        }
        out
    }

    /// A stage's `from:` (`docs/stages.md`): its shape and values; whether the source
    /// exists and the inherited keys may be inherited is judged with the whole list
    /// ([`crate::stage`]).
    fn stage_from(&mut self, value: &Yaml, location: &Location) -> StageFrom {
        let mut from = StageFrom {
            experiment: String::new(),
            inherit: Vec::new(),
            top: 1,
        };
        let Yaml::Mapping(map) = value else {
            if let Some(json) = self.json(value, location, "from") {
                self.wrong_type(
                    location,
                    "from",
                    "a mapping with `experiment`, `inherit` and optionally `top`",
                    &json,
                );
            }
            return from;
        };
        let fields = self.mapping_entries_in(map, location, FROM_KEYS, "from.");
        let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        for (key, hint) in [
            (
                "experiment",
                "name the experiment whose winners this stage takes",
            ),
            (
                "inherit",
                "list the keys that take the winners' values, e.g. `[tp, max-num-seqs]`",
            ),
        ] {
            if get(key).is_none() {
                self.push(
                    ConfigProblem::new(location.clone(), ProblemKind::MissingKey { hint })
                        .key(format!("from.{key}")),
                );
            }
        }
        if let Some(value) = get("experiment") {
            from.experiment = self
                .string(value, location, "from.experiment")
                .unwrap_or_default();
            if from.experiment.is_empty() && value.as_str() == Some("") {
                self.push(
                    ConfigProblem::new(
                        location.clone(),
                        ProblemKind::StageSourceUnknown { suggestion: None },
                    )
                    .key("from.experiment")
                    .value(&Value::String(String::new())),
                );
            }
        }
        if let Some(value) = get("inherit") {
            match self.json(value, location, "from.inherit") {
                Some(Value::Array(keys)) if keys.iter().all(Value::is_string) => {
                    if keys.is_empty() {
                        self.push(
                            ConfigProblem::new(location.clone(), ProblemKind::EmptyInherit)
                                .key("from.inherit"),
                        );
                    }
                    for key in keys.iter().filter_map(Value::as_str) {
                        let normal = kebab_case(key);
                        if !from.inherit.iter().any(|(k, _)| *k == normal) {
                            from.inherit.push((normal, key.to_owned()));
                        }
                    }
                }
                Some(Value::Array(keys)) => {
                    for key in keys.iter().filter(|key| !key.is_string()) {
                        self.wrong_type(location, "from.inherit", "an arg key (a string)", key);
                    }
                }
                Some(other) => self.wrong_type(
                    location,
                    "from.inherit",
                    "a list of arg keys, e.g. `[tp, max-num-seqs]`",
                    &other,
                ),
                None => {}
            }
        }
        if let Some(value) = get("top") {
            match self.json(value, location, "from.top") {
                Some(Value::Number(n)) if !n.is_f64() => match n.as_u64() {
                    Some(top @ 1..=MAX_TOP) => from.top = usize::try_from(top).unwrap_or(1),
                    _ => self.push(
                        ConfigProblem::new(
                            location.clone(),
                            ProblemKind::OutOfRange {
                                rule: "must be from 1 to 100 winners per group",
                            },
                        )
                        .key("from.top")
                        .value(&Value::Number(n)),
                    ),
                },
                Some(other) => {
                    self.wrong_type(location, "from.top", "an integer from 1 to 100", &other);
                }
                None => {}
            }
        }
        from
    }

    fn experiments(&mut self, value: &Yaml) -> Vec<ExperimentEntry> {
        let items = match value {
            Yaml::Sequence(items) => items,
            other => {
                if let Some(json) = self.json(other, &Location::TopLevel, "experiments") {
                    self.wrong_type(
                        &Location::TopLevel,
                        "experiments",
                        "a list of experiments",
                        &json,
                    );
                }
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.push(
                ConfigProblem::new(Location::TopLevel, ProblemKind::NoExperiments)
                    .key("experiments"),
            );
        }
        let mut entries = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let entry = i + 1;
            let unnamed = Location::Experiment { entry, name: None };
            let Yaml::Mapping(map) = item else {
                if let Some(json) = self.json(item, &unnamed, "experiments") {
                    self.push(ConfigProblem::new(
                        unnamed.clone(),
                        ProblemKind::WrongType {
                            expected: "a mapping with `name` and `args`",
                            found: describe(&json),
                        },
                    ));
                }
                continue;
            };
            let fields = self.mapping_entries(map, &unnamed, EXPERIMENT_KEYS, false);
            let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
            let name = match get("name") {
                None => {
                    self.push(
                        ConfigProblem::new(
                            unnamed.clone(),
                            ProblemKind::MissingKey {
                                hint: "every experiment needs a `name`; it becomes a directory name",
                            },
                        )
                        .key("name"),
                    );
                    None
                }
                Some(value) => self.string(value, &unnamed, "name").and_then(|name| {
                    match crate::layout::check_dir_name(&name) {
                        Ok(()) => Some(name),
                        Err(error) => {
                            self.push(
                                ConfigProblem::new(unnamed.clone(), error.into())
                                    .key("name")
                                    .value(&Value::String(name)),
                            );
                            None
                        }
                    }
                }),
            };
            let location = Location::Experiment {
                entry,
                name: name.clone(),
            };
            let args = get("args").map_or_else(Vec::new, |v| self.args(v, &location, "args"));
            let from = get("from").map(|v| self.stage_from(v, &location));
            entries.push(ExperimentEntry {
                location,
                name: name.unwrap_or_default(),
                args,
                from,
            });
        }
        entries
    }
}
