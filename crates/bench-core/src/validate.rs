//! The checks of `docs/config.md`, 4 and 5 on one run's merged args, and their
//! reading into a [`Run`] with its [`PathFields`].
//!
//! Problems are pushed, never returned early: a config is refused with every problem listed.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::args::{self, ArgDefault, ArgKind, ArgSpec, closest_arg, snake_case};
use crate::config::{Arg, ConfigProblem, ExperimentEntry, ProblemKind, Problems};
use crate::json_kind::describe;
use crate::layout::{
    self, DEFAULT_MODEL, DEFAULT_OUTPUT_DIR, KvCacheDtype, PathFields, Quantization,
    SpeculativeDecoding, check_model, check_output_dir, check_prompt_name, run_name,
};
use crate::run::Run;
use crate::sbatch_options::check_directive_value;
use crate::slurm_time::SlurmTime;

/// The placeholder every prompt template must contain.
pub const DOCUMENT_PLACEHOLDER: &str = "[[DOCUMENT]]";

/// One arg of a run with the value chosen for it (an element of a sweep list, or the value).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Choice<'a> {
    pub arg: &'a Arg,
    pub value: &'a Value,
}

/// A run with what the checks across runs need. Kept small: a sweep holds one per run (the
/// settings compared by the identity rule are rebuilt from the choices only when two runs
/// share a directory: see [`canonical_settings`]).
#[derive(Debug, Clone)]
pub(crate) struct RunDraft {
    pub run: Run,
    /// `model-revision` (default `main`).
    pub model_revision: String,
}

/// Whether an arg value is a `[name, template]` prompt pair.
pub(crate) fn is_prompt_pair(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.len() == 2 && items.iter().all(Value::is_string))
}

/// The checks on keys alone, done once per written arg whether or not a run uses it: unknown
/// keys (errors, or passed through with a warning when `strict_args` is false), `name`, and
/// empty sweep lists. Returns the unknown keys passed through, as `key` (where).
pub(crate) fn check_keys(args: &[Arg], strict: bool, problems: &mut Problems) -> Vec<String> {
    let mut passed_through = Vec::new();
    for arg in args {
        let problem =
            |kind| ConfigProblem::new(arg.location.clone(), kind).key(arg.written.clone());
        match args::spec(&arg.key) {
            None if strict => problems.push(problem(ProblemKind::UnknownKey {
                suggestion: closest_arg(&arg.key).map(Into::into),
                arg: true,
            })),
            None => passed_through.push(format!("`{}` ({})", arg.written, arg.location)),
            Some(spec) if spec.key == "name" => problems.push(problem(ProblemKind::ReservedName)),
            Some(_) => {}
        }
        if arg.value.as_array().is_some_and(Vec::is_empty) {
            problems.push(problem(ProblemKind::EmptySweep));
        }
    }
    passed_through
}

/// Checks one run's args and builds it. `None` when a value is refused (the problems are
/// pushed) or a key is unknown in strict mode.
pub(crate) fn build_run(
    entry: &ExperimentEntry,
    entry_index: usize,
    choices: &[Choice<'_>],
    strict: bool,
    problems: &mut Problems,
) -> Option<RunDraft> {
    let mut ok = true;
    let mut known: HashMap<&str, &Value> = HashMap::new();
    for choice in choices {
        match args::spec(&choice.arg.key) {
            Some(spec) => {
                if check_value(spec, choice, problems) {
                    known.insert(spec.key, choice.value);
                } else {
                    ok = false;
                }
            }
            None => ok &= !strict,
        }
    }
    let int = |key: &str, default: u64| known.get(key).and_then(|v| v.as_u64()).unwrap_or(default);
    let size = |key: &str| u32::try_from(int(key, 1)).unwrap_or(u32::MAX);
    let text = |key: &str| known.get(key).and_then(|v| v.as_str());

    // The GPU count rule, on the values as given (pp and nodes-per-task > 1 are refused on
    // their own): only when all four are positive integers.
    let raw = |key: &str| match choices.iter().find(|c| c.arg.key == key) {
        None => Some(1),
        Some(choice) => choice.value.as_u64().filter(|&v| v >= 1),
    };
    if let (Some(tp), Some(pp), Some(dp), Some(nodes_per_task)) =
        (raw("tp"), raw("pp"), raw("dp"), raw("nodes-per-task"))
    {
        let gpus = tp.saturating_mul(pp).saturating_mul(dp);
        if gpus > nodes_per_task.saturating_mul(8) || gpus % nodes_per_task != 0 {
            problems.push(ConfigProblem::new(
                entry.location.clone(),
                ProblemKind::GpuCount {
                    gpus,
                    nodes_per_task,
                },
            ));
            ok = false;
        }
    }
    if !ok || entry.name.is_empty() {
        return None;
    }

    let (tp, pp, dp) = (size("tp"), size("pp"), size("dp"));
    let prompt_template = match known.get("prompt-template").map(|v| v.as_array()) {
        Some(Some(pair)) => match pair.as_slice() {
            [Value::String(name), Value::String(template)] => {
                Some((name.clone(), template.clone()))
            }
            _ => None,
        },
        _ => None,
    };
    let fields = PathFields {
        output_dir: text("output-dir").unwrap_or(DEFAULT_OUTPUT_DIR).to_owned(),
        experiment: entry.name.clone(),
        prompt_template_name: prompt_template.as_ref().map(|(name, _)| name.clone()),
        model: text("model-name-or-path")
            .unwrap_or(DEFAULT_MODEL)
            .to_owned(),
        tp,
        pp,
        dp,
        max_num_seqs: int("max-num-seqs", layout::DEFAULT_MAX_NUM_SEQS),
        max_num_batched_tokens: int(
            "max-num-batched-tokens",
            layout::DEFAULT_MAX_NUM_BATCHED_TOKENS,
        ),
        gpu_memory_utilization: known
            .get("gpu-memory-utilization")
            .and_then(|v| v.as_f64())
            .unwrap_or(layout::DEFAULT_GPU_MEMORY_UTILIZATION),
        block_size: int("block-size", layout::DEFAULT_BLOCK_SIZE),
        kv_cache_dtype: KvCacheDtype::parse(text("kv-cache-dtype")).ok()?,
        speculative: SpeculativeDecoding::parse(text("speculative-config")).ok()?,
        quantization: Quantization::parse(text("quantization")).ok()?,
    };

    let mut run_args = Map::new();
    for choice in choices {
        run_args.insert(snake_case(&choice.arg.key), choice.value.clone());
    }
    for key in ["tasks", "workers"] {
        run_args.entry(key).or_insert(Value::from(1));
    }
    let sbatch_text = |key: &str| -> Option<String> {
        match known.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let run = Run {
        experiment: entry.name.clone(),
        entry: entry_index,
        name: run_name(&fields),
        run_dir: fields.run_dir(),
        experiment_dir: fields.experiment_dir(),
        args: run_args,
        gpus: fields.gpus(),
        time: sbatch_text("time"),
        qos: sbatch_text("qos"),
        reservation: sbatch_text("reservation"),
        prompt_template,
        fields,
    };
    Some(RunDraft {
        model_revision: text("model-revision").unwrap_or("main").to_owned(),
        run,
    })
}

/// Every setting of a run that [`build_run`] accepted, for the identity rule (`docs/config.md`
/// section 5): each known key's value or default (kvc, quantization and speculative-config by
/// their meaning, numbers as floats), and unknown keys as given. Runs with equal maps are the
/// same run.
pub(crate) fn canonical_settings(choices: &[Choice<'_>]) -> BTreeMap<String, Value> {
    let known: HashMap<&str, &Value> = choices
        .iter()
        .filter_map(|c| args::spec(&c.arg.key).map(|spec| (spec.key, c.value)))
        .collect();
    let text = |key: &str| known.get(key).and_then(|v| v.as_str());
    let mut canonical = BTreeMap::new();
    for spec in args::KNOWN_ARGS {
        if spec.kind == ArgKind::Reserved {
            continue;
        }
        let value = match spec.key {
            "kv-cache-dtype" => KvCacheDtype::parse(text(spec.key))
                .map_or(Value::Null, |k| Value::from(k.segment())),
            "quantization" => Quantization::parse(text(spec.key))
                .map_or(Value::Null, |q| Value::from(q.segment())),
            "speculative-config" => match text(spec.key) {
                Some(text) if SpeculativeDecoding::parse(Some(text)).is_ok_and(|s| s.is_set()) => {
                    serde_json::from_str(text).unwrap_or(Value::Null)
                }
                _ => Value::Null,
            },
            key => {
                let given = known.get(key).map(|v| (*v).clone());
                let value = given
                    .or_else(|| spec.default.and_then(ArgDefault::value))
                    .unwrap_or(Value::Null);
                match (spec.kind, value.as_f64()) {
                    (ArgKind::Number, Some(f)) => Value::from(f),
                    _ => value,
                }
            }
        };
        canonical.insert(spec.key.to_owned(), value);
    }
    for choice in choices {
        if args::spec(&choice.arg.key).is_none() {
            canonical.insert(choice.arg.key.clone(), choice.value.clone());
        }
    }
    canonical
}

/// Checks one value against its key's rules; pushes every problem; true when valid.
fn check_value(spec: &ArgSpec, choice: &Choice<'_>, problems: &mut Problems) -> bool {
    let value = choice.value;
    let mut push = |kind: ProblemKind| {
        problems.push(
            ConfigProblem::new(choice.arg.location.clone(), kind)
                .key(choice.arg.written.clone())
                .value(value),
        );
        false
    };
    let wrong = |expected: &'static str| ProblemKind::WrongType {
        expected,
        found: describe(value),
    };
    let is_int = matches!(value, Value::Number(n) if !n.is_f64());
    match spec.kind {
        ArgKind::Int | ArgKind::PositiveInt if !is_int => push(wrong("an integer")),
        ArgKind::PositiveInt if value.as_u64().is_none_or(|v| v < 1) => {
            push(ProblemKind::OutOfRange {
                rule: "must be a positive integer (at least 1)",
            })
        }
        ArgKind::Number if !value.is_number() => push(wrong("a number")),
        ArgKind::Bool if !value.is_boolean() => push(wrong("`true` or `false`")),
        ArgKind::Str if !value.is_string() => push(wrong("a string")),
        ArgKind::OptStr if !(value.is_string() || value.is_null()) => {
            push(wrong("a string (or `None` for not set)"))
        }
        ArgKind::SbatchStr => match value {
            Value::Null => true,
            Value::String(s) => check_directive_value(s).map_or_else(|e| push(e.into()), |()| true),
            _ => push(wrong("a string")),
        },
        ArgKind::Time => match value {
            Value::Null => true,
            Value::String(s) => match check_directive_value(s) {
                Err(e) => push(e.into()),
                Ok(()) => SlurmTime::parse(s).map_or_else(|e| push(e.into()), |_| true),
            },
            Value::Number(n) if is_int => {
                SlurmTime::parse(&n.to_string()).map_or_else(|e| push(e.into()), |_| true)
            }
            _ => push(wrong("a SLURM time limit such as \"1:59:00\"")),
        },
        ArgKind::PromptTemplate => check_prompt_template(value, push),
        ArgKind::Reserved => match (spec.key, value) {
            ("local-execution", Value::Bool(true)) => true,
            ("local-execution", _) => push(ProblemKind::LocalExecution),
            // `name` is reported once per written key by `check_keys`.
            _ => false,
        },
        _ => check_key_rules(spec.key, value, push),
    }
}

/// The rules of single keys beyond their type.
fn check_key_rules(key: &str, value: &Value, mut push: impl FnMut(ProblemKind) -> bool) -> bool {
    let int = value.as_i64();
    match key {
        "pp" if int.is_some_and(|v| v > 1) => push(ProblemKind::PipelineParallel),
        "nodes-per-task" if int.is_some_and(|v| v > 1) => push(ProblemKind::MultiNode),
        "tasks" | "workers" if int != Some(1) => push(ProblemKind::OneTask),
        "optimization-level" if !int.is_some_and(|v| (0..=3).contains(&v)) => {
            push(ProblemKind::OutOfRange {
                rule: "must be 0, 1, 2 or 3",
            })
        }
        "gpu-memory-utilization" if !value.as_f64().is_some_and(|f| f > 0.0 && f <= 1.0) => {
            push(ProblemKind::OutOfRange {
                rule: "must be a fraction in (0, 1], e.g. 0.9 for 90%",
            })
        }
        "kv-cache-dtype" => {
            KvCacheDtype::parse(value.as_str()).map_or_else(|e| push(e.into()), |_| true)
        }
        "quantization" => {
            Quantization::parse(value.as_str()).map_or_else(|e| push(e.into()), |_| true)
        }
        "speculative-config" => {
            SpeculativeDecoding::parse(value.as_str()).map_or_else(|e| push(e.into()), |_| true)
        }
        "output-dir" => value
            .as_str()
            .is_none_or(|d| check_output_dir(d).map_or_else(|e| push(e.into()), |()| true)),
        "model-name-or-path" => value
            .as_str()
            .is_none_or(|m| check_model(m).map_or_else(|e| push(e.into()), |()| true)),
        _ => true,
    }
}

/// A prompt template: a string or a `[name, template]` pair (or null), the template holding
/// [`DOCUMENT_PLACEHOLDER`], the name a valid directory name.
fn check_prompt_template(value: &Value, mut push: impl FnMut(ProblemKind) -> bool) -> bool {
    let wrong = ProblemKind::WrongType {
        expected: "a template string or a `[name, template]` pair",
        found: describe(value),
    };
    let (name, template) = match value {
        Value::Null => return true,
        Value::String(template) => (None, template),
        Value::Array(pair) => match pair.as_slice() {
            [Value::String(name), Value::String(template)] => (Some(name), template),
            _ => return push(wrong),
        },
        _ => return push(wrong),
    };
    let mut ok = true;
    if let Some(name) = name
        && let Err(error) = check_prompt_name(name)
    {
        ok = push(error.into());
    }
    if !template.contains(DOCUMENT_PLACEHOLDER) {
        ok = push(ProblemKind::MissingPlaceholder);
    }
    ok
}
