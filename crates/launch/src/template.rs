//! Rendering sbatch scripts with Tera 1.x (`docs/launch.md`).
//!
//! The built-in template (`templates/sbatch.sh.tera`) is embedded in the binary; a user
//! template (`--template`, or the config's `slurm.template`) replaces it and gets exactly the
//! same variables, [`SweepVars`] and [`RunVars`]. Values that reach `#SBATCH` lines are validated (sbatch
//! reads them, not bash, so they cannot be quoted); values that reach the shell arrive
//! already shell-quoted.

use std::collections::HashMap;
use std::fmt::Write as _;

use bench_core::config::SweepSettings;
use bench_core::layout::{RunDir, job_comment};
use bench_core::run::Run;
use serde::Serialize;
use serde_json::Value;

use crate::directives::{self, Directive, ScriptProblem};

/// The built-in template, embedded at build time.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/sbatch.sh.tera");

/// The name the template is registered under in Tera (also used in messages).
const TEMPLATE_NAME: &str = "sbatch";

/// Arg keys whose strings `None`, `none`, `null` and `""` mean "not set" (`docs/config.md`
/// section 1).
const NOT_SET_KEYS: [&str; 3] = ["speculative_config", "quantization", "kv_cache_dtype"];

/// A template problem: the config or the template cannot produce a script (exit 2).
/// What went wrong is [`TemplateError::kind`]; the template and the run it concerns are
/// shared by every kind.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
pub struct TemplateError {
    /// Where the template came from (`built-in` or its path); `None` for a value that
    /// cannot reach any template.
    pub template: Option<String>,
    /// The run concerned; `None` for a value every run shares (the `slurm:` section).
    pub run: Option<Box<RunLabel>>,
    /// What went wrong.
    pub kind: TemplateErrorKind,
}

/// The run a [`TemplateError`] concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLabel {
    /// The run name.
    pub name: String,
    /// The run directory.
    pub run_dir: RunDir,
}

/// What went wrong in a [`TemplateError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template text does not parse (Tera's words, sources included).
    Parse {
        /// Tera's words.
        message: String,
    },
    /// The rendered script is one sbatch refuses outright (no `#!` first line, DOS line
    /// breaks): every submission would fail.
    NotABatchScript {
        /// What sbatch objects to.
        problem: ScriptProblem,
    },
    /// sbatch would not read `#SBATCH --comment=bench:<token>` from the rendered script, so
    /// the job could not be found in the queue by its token.
    MissingComment {
        /// The comment this submission must carry (`bench:<token>`).
        comment: String,
        /// What sbatch reads instead.
        why: String,
    },
    /// Rendering failed for a run (an unknown variable, a bad filter argument, ...).
    Render {
        /// Tera's words, sources included.
        message: String,
    },
    /// The template uses `cli_args`, which cannot express this run's args.
    CliArgsRefused {
        /// The arg (`snake_case` key) that has no command-line form.
        key: String,
        /// Why (`a [name, template] prompt pair`, `a list`, ...).
        why: String,
    },
    /// sbatch would read a directive from the rendered script that undoes what the template
    /// sets: a directive the template owns set again, an abbreviation of one, an option that
    /// contradicts them, or a `slurm.setup` line starting with `#SBATCH`.
    RefusedDirective {
        /// The script line (1-based).
        line: usize,
        /// The line as rendered (at most 120 characters).
        text: Box<str>,
        /// Why it is refused.
        reason: String,
    },
    /// A value that reaches an `#SBATCH` line holds whitespace or control characters.
    UnsafeDirectiveValue {
        /// The template variable.
        variable: String,
        /// The offending value (debug-escaped).
        value: String,
    },
    /// `slurm.python` does not split into shell words.
    BadPython {
        /// The value as written.
        python: String,
    },
    /// The template uses `{% include %}`, `{% import %}`, `{% extends %}` or `{% macro %}`.
    Unsupported {
        /// The tag's keyword.
        tag: String,
    },
    /// The rendered script is larger than [`MAX_SCRIPT_BYTES`].
    TooLarge,
    /// The rendered script sends SLURM's output where `analyze` does not look (or nowhere).
    OutputElsewhere {
        /// The `--output` sbatch reads from the script, if any.
        output: Option<String>,
        /// The directory it must be in: the run's `inference_logs/slurm_logs`.
        expected: String,
    },
    /// A path or word cannot be shell-quoted (it holds a NUL byte).
    Unquotable {
        /// The template variable.
        variable: String,
    },
}

impl TemplateError {
    /// A problem of `kind`, not yet tied to a template or a run.
    fn new(kind: TemplateErrorKind) -> Self {
        TemplateError {
            template: None,
            run: None,
            kind,
        }
    }

    /// The same problem, in the template `origin`.
    fn in_template(mut self, origin: &str) -> Self {
        self.template.get_or_insert_with(|| origin.to_owned());
        self
    }

    /// The same problem, for `run`.
    fn for_run(mut self, run: &Run) -> Self {
        self.run = Some(Box::new(RunLabel {
            name: run.name.clone(),
            run_dir: run.run_dir.clone(),
        }));
        self
    }

    /// The message, in one place for every kind.
    fn message(&self) -> String {
        let template = self.template.as_deref().unwrap_or("built-in");
        let (name, run_dir) = self
            .run
            .as_ref()
            .map_or(("", ""), |run| (run.name.as_str(), run.run_dir.as_str()));
        let for_run = format!("for run `{name}` (`{run_dir}`)");
        let of_run = if self.run.is_some() {
            format!(" of run `{name}`")
        } else {
            String::new()
        };
        match &self.kind {
            TemplateErrorKind::Parse { message } => {
                format!("template `{template}` does not parse: {message}")
            }
            TemplateErrorKind::NotABatchScript { problem } => format!(
                "template `{template}` renders a script {for_run} that sbatch refuses: {problem}"
            ),
            TemplateErrorKind::MissingComment { comment, why } => format!(
                "template `{template}` renders a script {for_run} from which sbatch does not \
                 read `--comment={comment}`: {why}"
            ),
            TemplateErrorKind::Render { message } => {
                format!("template `{template}` cannot be rendered {for_run}: {message}")
            }
            TemplateErrorKind::CliArgsRefused { key, why } => format!(
                "template `{template}` uses `cli_args`, which cannot express `{key}` of run \
                 `{name}` (`{run_dir}`): {why}"
            ),
            TemplateErrorKind::RefusedDirective { line, text, reason } => format!(
                "template `{template}` renders a script {for_run} with line {line} `{text}`: \
                 {reason}"
            ),
            TemplateErrorKind::UnsafeDirectiveValue { variable, value } => format!(
                "`{variable}`{of_run} is `{value}`, which cannot appear on an `#SBATCH` line: \
                 it holds whitespace or control characters"
            ),
            TemplateErrorKind::BadPython { python } => format!(
                "`slurm.python` is `{python}`, which does not split into shell words \
                 (unbalanced quotes, or empty)"
            ),
            TemplateErrorKind::Unsupported { tag } => format!(
                "template `{template}` uses `{{% {tag} %}}`: a template is one file, without \
                 include, import, extends or macros (they are the ways a template can recurse \
                 without end)"
            ),
            TemplateErrorKind::TooLarge => format!(
                "template `{template}` renders a script {for_run} larger than 4 MiB, which \
                 SLURM refuses (its `max_script_size`): rendering stopped there"
            ),
            TemplateErrorKind::OutputElsewhere { output, expected } => match output {
                Some(output) => format!(
                    "template `{template}` renders a script {for_run} whose `--output` is \
                     `{output}`, not a `.out` file in `{expected}/`: `analyze` would not find \
                     the job's output and could not tell how the run ended"
                ),
                None => format!(
                    "template `{template}` renders a script {for_run} without `--output`: \
                     SLURM would write the job's output into the submission directory, where \
                     `analyze` does not look"
                ),
            },
            TemplateErrorKind::Unquotable { variable } => {
                format!("`{variable}`{of_run} cannot be shell-quoted: it holds a NUL byte")
            }
        }
    }

    /// How to fix it, when there is a general answer.
    pub fn hint(&self) -> Option<String> {
        match &self.kind {
            TemplateErrorKind::MissingComment { .. } => Some(
                "`launch` finds its own jobs in the queue by that comment; put \
                 `#SBATCH --comment={{ comment }}` among the other `#SBATCH` lines, before the \
                 first command: sbatch ignores `#SBATCH` lines after it"
                    .to_owned(),
            ),
            TemplateErrorKind::NotABatchScript { .. } => Some(
                "start the template with its interpreter line, such as `#!/bin/bash`, with \
                 nothing before it (not even a Tera comment's line break), and save it with \
                 Unix line breaks"
                    .to_owned(),
            ),
            TemplateErrorKind::RefusedDirective { .. } => Some(format!(
                "a script sets each directive the template owns ({}) once, and other sbatch \
                 options only as `slurm.sbatch-args` allows them; `slurm.setup` lines are \
                 shell commands run by the job, not directives: give sbatch options in \
                 `slurm.sbatch-args`",
                bench_core::sbatch_options::TEMPLATE_DIRECTIVES.join(", ")
            )),
            TemplateErrorKind::CliArgsRefused { .. } => Some(
                "pass the args through `kwargs_json` as the built-in template does: the \
                 inference script takes a prompt pair only through its Python API"
                    .to_owned(),
            ),
            TemplateErrorKind::OutputElsewhere { .. } => Some(
                "put `#SBATCH --output={{ slurm_logs }}/%j_0.out` (and the same `--error`) \
                 among the `#SBATCH` lines, as the built-in template does"
                    .to_owned(),
            ),
            TemplateErrorKind::Render { .. } => Some(format!(
                "a template gets exactly these variables: {}",
                template_variables().join(", ")
            )),
            _ => None,
        }
    }
}

/// Every variable a template gets, in the order [`SweepVars`] and [`RunVars`] declare them
/// (run variables first): derived from their serialized form, so the list cannot go stale.
pub fn template_variables() -> Vec<String> {
    let run = RunVars {
        cli_args: Some(String::new()),
        ..RunVars::default()
    };
    [
        serde_json::to_value(&run),
        serde_json::to_value(SweepVars::default()),
    ]
    .into_iter()
    .filter_map(Result::ok)
    .filter_map(|value| match value {
        Value::Object(map) => Some(map.into_iter().map(|(key, _)| key)),
        _ => None,
    })
    .flatten()
    .collect()
}

/// The variables every run of a sweep shares (`docs/launch.md`, table "Template
/// variables"; [`RunVars`] holds the rest). The Tera context holds them once per launch.
///
/// Raw strings are validated (no whitespace or control characters) where they reach
/// `#SBATCH` lines; `python` and `script` hold shell-quoted text.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SweepVars {
    /// Always 1: a run is one task on one node.
    pub nodes: u32,
    /// `slurm.mem-per-cpu`. Raw.
    pub mem_per_cpu: String,
    /// `slurm.partition`, empty when unset. Raw.
    pub partition: String,
    /// `slurm.account`, empty when unset. Raw.
    pub account: String,
    /// `slurm.sbatch-args` as `[key, value]` pairs; value `""` means `--key` alone. Raw.
    pub sbatch_args: Vec<(String, String)>,
    /// `slurm.setup` lines, verbatim.
    pub setup: Vec<String>,
    /// `slurm.python` split into shell words, each shell-quoted.
    pub python: Vec<String>,
    /// The inference script's path, shell-quoted.
    pub script: String,
}

/// The variables of one run (`docs/launch.md`, table "Template variables"; the ones
/// every run shares are in [`SweepVars`]).
///
/// Raw strings are validated (no whitespace or control characters) where they reach
/// `#SBATCH` lines; `kwargs_json` and `cli_args` hold shell-quoted text.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunVars {
    /// The run name (also the job name). Raw.
    pub job_name: String,
    /// The experiment name. Raw.
    pub experiment: String,
    /// The run directory. Raw.
    pub run_dir: String,
    /// `{run_dir}/inference_logs`. Raw.
    pub log_dir: String,
    /// `{run_dir}/inference_logs/slurm_logs`, where `--output` must point for `analyze`
    /// to find the job's `.out`. Raw.
    pub slurm_logs: String,
    /// `bench:<token>` of this submission. Raw.
    pub comment: String,
    /// GPUs of the job: tp x pp x dp.
    pub gpus: u32,
    /// `slurm.cpus-per-gpu` x GPUs.
    pub cpus_per_task: u32,
    /// The run's `time` arg, empty when absent. Raw.
    pub time: String,
    /// The run's `qos` arg, empty when absent. Raw.
    pub qos: String,
    /// The run's `reservation` arg, empty when absent. Raw.
    pub reservation: String,
    /// The path of the run's kwargs JSON file, shell-quoted.
    pub kwargs_json: String,
    /// The kwargs as `--kebab-key value` words, each shell-quoted, joined by spaces; absent
    /// when the run has an arg with no command-line form (a list, such as a prompt pair),
    /// and not computed for a template that does not mention `cli_args`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cli_args: Option<String>,
    /// Why `cli_args` is absent: `(key, why)`.
    #[serde(skip)]
    cli_args_refusal: Option<(String, String)>,
}

/// `word` as one shell word.
fn quote(variable: &str, word: &str) -> Result<String, TemplateError> {
    shlex::try_quote(word)
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| {
            TemplateError::new(TemplateErrorKind::Unquotable {
                variable: variable.to_owned(),
            })
        })
}

/// `Err` for the first value that holds a character sbatch does not take literally on an
/// `#SBATCH` line (whitespace, control characters, `#`, quotes, `\`): the same rule as the
/// config's validation, [`bench_core::sbatch_options::check_directive_value`] (`docs/launch.md`
/// section 1).
fn check_directive_values<'v>(
    values: impl IntoIterator<Item = (String, &'v str)>,
) -> Result<(), TemplateError> {
    for (variable, value) in values {
        if bench_core::sbatch_options::check_directive_value(value).is_err() {
            return Err(TemplateError::new(
                TemplateErrorKind::UnsafeDirectiveValue {
                    variable,
                    value: format!("{value:?}"),
                },
            ));
        }
    }
    Ok(())
}

impl SweepVars {
    /// The shared variables of `settings`.
    ///
    /// Errors when a raw value would reach an `#SBATCH` line with whitespace or control
    /// characters, when `slurm.python` does not split into words, or a word holds a NUL.
    pub fn new(settings: &SweepSettings) -> Result<Self, TemplateError> {
        let slurm = &settings.slurm;
        let python = shlex::split(&slurm.python)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| {
                TemplateError::new(TemplateErrorKind::BadPython {
                    python: slurm.python.clone(),
                })
            })?
            .iter()
            .map(|word| quote("python", word))
            .collect::<Result<Vec<_>, _>>()?;
        let vars = SweepVars {
            nodes: 1,
            mem_per_cpu: slurm.mem_per_cpu.clone(),
            partition: slurm.partition.clone().unwrap_or_default(),
            account: slurm.account.clone().unwrap_or_default(),
            sbatch_args: slurm.sbatch_args.clone(),
            setup: slurm.setup.clone(),
            python,
            script: quote("script", &settings.script)?,
        };
        let mut raw: Vec<(String, &str)> = vec![
            ("mem_per_cpu".into(), &vars.mem_per_cpu),
            ("partition".into(), &vars.partition),
            ("account".into(), &vars.account),
        ];
        for (key, value) in &vars.sbatch_args {
            raw.push((format!("sbatch_args.{key}"), key));
            raw.push((format!("sbatch_args.{key}"), value));
        }
        check_directive_values(raw)?;
        Ok(vars)
    }
}

impl RunVars {
    /// The variables of `run` under `settings`, with `token` as the submission token;
    /// `cli_args` is computed only `with_cli_args`.
    ///
    /// Errors when a raw value would reach an `#SBATCH` line with whitespace or control
    /// characters, or a path holds a NUL; the error names the run.
    pub fn new(
        run: &Run,
        settings: &SweepSettings,
        token: &str,
        with_cli_args: bool,
    ) -> Result<Self, TemplateError> {
        Self::unchecked(run, settings, token, with_cli_args).map_err(|err| err.for_run(run))
    }

    fn unchecked(
        run: &Run,
        settings: &SweepSettings,
        token: &str,
        with_cli_args: bool,
    ) -> Result<Self, TemplateError> {
        let (cli_args, cli_args_refusal) = if with_cli_args {
            match cli_words(&run.kwargs()) {
                Ok(words) => (
                    Some(
                        shlex::try_join(words.iter().map(String::as_str)).map_err(|_| {
                            TemplateError::new(TemplateErrorKind::Unquotable {
                                variable: "cli_args".into(),
                            })
                        })?,
                    ),
                    None,
                ),
                Err(refusal) => (None, Some(refusal)),
            }
        } else {
            (None, None)
        };
        let kwargs_json = quote("kwargs_json", &run.run_dir.kwargs_json())?;
        let vars = RunVars {
            job_name: run.name.clone(),
            experiment: run.experiment.clone(),
            run_dir: run.run_dir.to_string(),
            log_dir: run.run_dir.inference_logs(),
            slurm_logs: run.run_dir.slurm_logs(),
            comment: job_comment(token, &run.run_dir.key()),
            gpus: run.gpus,
            cpus_per_task: settings.slurm.cpus_per_gpu.saturating_mul(run.gpus),
            time: run.time.clone().unwrap_or_default(),
            qos: run.qos.clone().unwrap_or_default(),
            reservation: run.reservation.clone().unwrap_or_default(),
            kwargs_json,
            cli_args,
            cli_args_refusal,
        };
        check_directive_values(
            [
                ("job_name", &vars.job_name),
                ("experiment", &vars.experiment),
                ("run_dir", &vars.run_dir),
                ("comment", &vars.comment),
                ("time", &vars.time),
                ("qos", &vars.qos),
                ("reservation", &vars.reservation),
            ]
            .map(|(variable, value)| (variable.to_owned(), value.as_str())),
        )?;
        Ok(vars)
    }
}

/// The kwargs as command-line words (`--kebab-key value`): true -> `--key`, false ->
/// `--no-key`, null or a "not set" string -> left out, numbers and strings as text. A list
/// or an object has no command-line form: `Err((key, why))`.
fn cli_words(kwargs: &serde_json::Map<String, Value>) -> Result<Vec<String>, (String, String)> {
    let mut words = Vec::new();
    for (key, value) in kwargs {
        let flag = key.replace('_', "-");
        match value {
            Value::Null => {}
            Value::Bool(true) => words.push(format!("--{flag}")),
            Value::Bool(false) => words.push(format!("--no-{flag}")),
            Value::Number(number) => {
                words.push(format!("--{flag}"));
                words.push(number.to_string());
            }
            Value::String(text) => {
                let not_set = text == "None"
                    || (NOT_SET_KEYS.contains(&key.as_str())
                        && matches!(text.trim(), "none" | "null" | ""));
                if !not_set {
                    words.push(format!("--{flag}"));
                    words.push(text.clone());
                }
            }
            Value::Array(items) => {
                let why = if key == "prompt_template" && items.len() == 2 {
                    "a `[name, template]` prompt pair has no command-line form"
                } else {
                    "a list has no command-line form"
                };
                return Err((key.clone(), why.into()));
            }
            Value::Object(_) => {
                return Err((key.clone(), "a mapping has no command-line form".into()));
            }
        }
    }
    Ok(words)
}

/// A rendered script with the directives sbatch reads from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The script, as written to `sbatch.sh`.
    pub script: String,
    /// The `#SBATCH` directives sbatch applies (the comment included).
    pub directives: Vec<Directive>,
}

/// A compiled template, ready to render scripts.
pub struct Template {
    tera: tera::Tera,
    /// `built-in` or the user template's path.
    origin: String,
    /// Whether the text mentions `cli_args` (or the whole context): otherwise the per-run
    /// command-line words are not computed.
    uses_cli_args: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// The built-in template.
    pub fn builtin() -> Result<Self, TemplateError> {
        Self::parse("built-in", BUILTIN_TEMPLATE)
    }

    /// A user template's text; `origin` names it in messages (its path).
    ///
    /// Errors when it does not parse. Whether sbatch reads the comment from it is checked
    /// on each rendered script ([`Renderer::render`]).
    pub fn parse(origin: &str, text: &str) -> Result<Self, TemplateError> {
        if let Some(tag) = unsupported_tag(text) {
            return Err(
                TemplateError::new(TemplateErrorKind::Unsupported { tag }).in_template(origin)
            );
        }
        let mut tera = tera::Tera::default();
        tera.autoescape_on(Vec::new());
        tera.register_filter("shell_quote", shell_quote);
        tera.add_raw_template(TEMPLATE_NAME, text).map_err(|err| {
            TemplateError::new(TemplateErrorKind::Parse {
                message: error_chain(&err),
            })
            .in_template(origin)
        })?;
        Ok(Template {
            tera,
            origin: origin.to_owned(),
            uses_cli_args: text.contains("cli_args") || text.contains("__tera_context"),
        })
    }

    /// Where the template came from: `built-in` or its path.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A renderer for the runs of a sweep under `settings`: the shared variables
    /// ([`SweepVars`]) go into the Tera context once.
    ///
    /// Errors as [`SweepVars::new`].
    pub fn renderer<'a>(
        &'a self,
        settings: &'a SweepSettings,
    ) -> Result<Renderer<'a>, TemplateError> {
        let shared = SweepVars::new(settings).map_err(|err| err.in_template(&self.origin))?;
        let context = tera::Context::from_serialize(&shared).map_err(|err| {
            TemplateError::new(TemplateErrorKind::Parse {
                message: error_chain(&err),
            })
            .in_template(&self.origin)
        })?;
        // A setup line sbatch could read as a directive (an entry may hold several lines).
        let setup_directives = settings
            .slurm
            .setup
            .iter()
            .flat_map(|entry| entry.split('\n'))
            .filter(|line| is_directive_line(line))
            .map(str::to_owned)
            .collect();
        Ok(Renderer {
            template: self,
            settings,
            context,
            setup_directives,
        })
    }
}

/// The first `{% include %}`, `{% import %}`, `{% extends %}` or `{% macro %}` tag of a
/// template: a template is one file, and these are the only ways Tera can recurse (a
/// template including itself, a macro calling itself), which would overflow the stack.
fn unsupported_tag(text: &str) -> Option<String> {
    text.match_indices("{%").find_map(|(start, _)| {
        let rest = text[start + 2..].trim_start_matches(['-', ' ', '\t', '\n', '\r']);
        let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        matches!(word.as_str(), "include" | "import" | "extends" | "macro").then_some(word)
    })
}

/// The most bytes of a rendered script: 4 MiB, SLURM's default `max_script_size`.
pub const MAX_SCRIPT_BYTES: usize = 4 * 1024 * 1024;

/// A writer that keeps at most [`MAX_SCRIPT_BYTES`] bytes and fails past them, so a template
/// that renders without end stops there instead of filling the memory.
#[derive(Default)]
struct CappedScript {
    bytes: Vec<u8>,
    /// Whether a write was refused for going past the cap.
    overflowed: bool,
}

impl std::io::Write for CappedScript {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + bytes.len() > MAX_SCRIPT_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "the script exceeds 4 MiB",
            ));
        }
        self.bytes.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether sbatch would read `line` as a directive line when it comes before the first
/// command (see [`directives`]).
fn is_directive_line(line: &str) -> bool {
    line.starts_with("#SBATCH") || line.starts_with("#SLURM")
}

/// Renders the scripts of a sweep's runs with one template (see [`Template::renderer`]).
pub struct Renderer<'a> {
    template: &'a Template,
    settings: &'a SweepSettings,
    /// The shared variables ([`SweepVars`]), and the last rendered run's ([`RunVars`]).
    context: tera::Context,
    /// The `slurm.setup` lines that start with `#SBATCH` or `#SLURM`.
    setup_directives: Vec<String>,
}

impl std::fmt::Debug for Renderer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("template", &self.template)
            .finish_non_exhaustive()
    }
}

impl Renderer<'_> {
    /// Render the script for `run` with `token` as its submission token, and read its
    /// directives as sbatch will.
    ///
    /// Errors, naming the run: a value that cannot reach the script ([`RunVars::new`]); a
    /// template that uses `cli_args` for a run whose args have no command-line form
    /// ([`TemplateErrorKind::CliArgsRefused`]); a script sbatch refuses outright
    /// ([`TemplateErrorKind::NotABatchScript`]); a script from which sbatch does not read
    /// `--comment=bench:<token>` ([`TemplateErrorKind::MissingComment`]); a directive that undoes
    /// the template's, or a `slurm.setup` line sbatch would read as one
    /// ([`TemplateErrorKind::RefusedDirective`], see [`directives::check`]).
    pub fn render(&mut self, run: &Run, token: &str) -> Result<Rendered, TemplateError> {
        self.render_checked(run, token)
            .map_err(|err| err.in_template(&self.template.origin).for_run(run))
    }

    /// [`Renderer::render`], with errors not yet naming the template and the run.
    #[expect(
        clippy::case_sensitive_file_extension_comparisons,
        reason = "the `.out` suffix analyze looks for is case-sensitive"
    )]
    fn render_checked(&mut self, run: &Run, token: &str) -> Result<Rendered, TemplateError> {
        let vars = RunVars::new(run, self.settings, token, self.template.uses_cli_args)?;
        let script = self.render_text(&vars)?;
        let read = directives::read(&script).map_err(|problem| {
            TemplateError::new(TemplateErrorKind::NotABatchScript { problem })
        })?;
        let refused = |line: usize, reason: String| {
            let text: Box<str> = script
                .split('\n')
                .nth(line - 1)
                .unwrap_or_default()
                .chars()
                .take(120)
                .collect::<String>()
                .into();
            TemplateError::new(TemplateErrorKind::RefusedDirective { line, text, reason })
        };
        if !self.setup_directives.is_empty() {
            let setup_line = script.split('\n').enumerate().find(|(_, line)| {
                self.setup_directives
                    .iter()
                    .any(|setup| setup.as_str() == *line)
            });
            if let Some((index, _)) = setup_line {
                return Err(refused(
                    index + 1,
                    "it comes from `slurm.setup`, whose lines are the job's shell commands, \
                     not directives; sbatch reads a line starting with `#SBATCH` as a \
                     directive when no command comes before it"
                        .to_owned(),
                ));
            }
        }
        let comment = directives::value(&read.directives, "comment");
        if comment != Some(vars.comment.as_str()) {
            let mut why = match comment {
                Some(other) => format!("the comment it reads is `{other}`"),
                None => "it reads no `--comment` directive".to_owned(),
            };
            if let Some((line, command)) = &read.first_command {
                let _ = write!(
                    why,
                    " (it stops reading `#SBATCH` lines at line {line}, the first command \
                     `{command}`)"
                );
            }
            return Err(TemplateError::new(TemplateErrorKind::MissingComment {
                comment: vars.comment,
                why,
            }));
        }
        directives::check(&read.directives)
            .map_err(|refusal| refused(refusal.line, refusal.reason))?;
        let mut directives = read.directives;
        directives::expand_abbreviations(&mut directives);
        // `analyze` reads `*.out` case-sensitively, as the original's glob did.
        let output = directives::value(&directives, "output");
        let expected = &vars.slurm_logs;
        if !output.is_some_and(|output| {
            output
                .strip_prefix(expected.as_str())
                .and_then(|name| name.strip_prefix('/'))
                .is_some_and(|name| !name.contains('/') && name.ends_with(".out"))
        }) {
            return Err(TemplateError::new(TemplateErrorKind::OutputElsewhere {
                output: output.map(str::to_owned),
                expected: expected.clone(),
            }));
        }
        Ok(Rendered { script, directives })
    }

    /// The rendered text, unchecked: the context is the shared variables and the run's,
    /// serialized (each run's replace the previous run's; `cli_args` is the one variable a
    /// run may lack).
    fn render_text(&mut self, vars: &RunVars) -> Result<String, TemplateError> {
        let render_error = |err: &tera::Error| {
            let message = error_chain(err);
            TemplateError::new(match &vars.cli_args_refusal {
                Some((key, why)) if message.contains("`cli_args`") => {
                    TemplateErrorKind::CliArgsRefused {
                        key: key.clone(),
                        why: why.clone(),
                    }
                }
                _ => TemplateErrorKind::Render { message },
            })
        };
        self.context.remove("cli_args");
        match serde_json::to_value(vars) {
            Ok(Value::Object(fields)) => {
                for (name, value) in fields {
                    self.context.insert(name, &value);
                }
            }
            Ok(_) => {}
            Err(err) => return Err(render_error(&tera::Error::json(err))),
        }
        let mut script = CappedScript::default();
        match self
            .template
            .tera
            .render_to(TEMPLATE_NAME, &self.context, &mut script)
        {
            Ok(()) => {}
            Err(_) if script.overflowed => {
                return Err(TemplateError::new(TemplateErrorKind::TooLarge));
            }
            Err(err) => return Err(render_error(&err)),
        }
        String::from_utf8(script.bytes).map_err(|err| {
            TemplateError::new(TemplateErrorKind::Render {
                message: format!("the rendered script is not UTF-8: {err}"),
            })
        })
    }
}

/// Tera's error with its sources, joined by `: `.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

/// The `shell_quote` filter: a string (or number, or boolean) as one shell word; a list as
/// its items quoted and joined by spaces.
fn shell_quote(value: &Value, _args: &HashMap<String, Value>) -> tera::Result<Value> {
    fn word(value: &Value) -> tera::Result<String> {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            other => {
                return Err(tera::Error::msg(format!(
                    "`shell_quote` takes strings, numbers or lists of them, not `{other}`"
                )));
            }
        };
        shlex::try_quote(&text)
            .map(std::borrow::Cow::into_owned)
            .map_err(|_| tera::Error::msg("`shell_quote` cannot quote a string holding NUL"))
    }
    match value {
        Value::Array(items) => Ok(Value::String(
            items
                .iter()
                .map(word)
                .collect::<tera::Result<Vec<_>>>()?
                .join(" "),
        )),
        other => Ok(Value::String(word(other)?)),
    }
}

#[cfg(test)]
mod tests {
    use bench_core::config::SlurmSettings;
    use serde_json::json;

    use super::*;

    fn settings() -> SweepSettings {
        SweepSettings {
            script: "examples/inference/generate_data.py".into(),
            continue_on_failure: true,
            strict_args: true,
            slurm: SlurmSettings::default(),
        }
    }

    fn run(args: Value) -> Run {
        let Value::Object(args) = args else {
            panic!("args must be an object")
        };
        Run {
            experiment: "exp".into(),
            entry: 0,
            name: "Qwen3_0.6B".into(),
            run_dir: RunDir::new(
                "data/exp/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none",
            ),
            experiment_dir: "data/exp".into(),
            args,
            gpus: 1,
            time: None,
            qos: None,
            reservation: None,
            prompt_template: None,
            fields: bench_core::layout::PathFields {
                experiment: "exp".into(),
                ..Default::default()
            },
        }
    }

    fn render(
        template: &str,
        run: &Run,
        settings: &SweepSettings,
    ) -> Result<String, TemplateError> {
        Template::parse("t.tera", template)?
            .renderer(settings)?
            .render(run, "abc")
            .map(|rendered| rendered.script)
    }

    /// The built-in template's text for `slurm.setup`: each line, an empty line, and the
    /// check of its exit status.
    fn setup_block(lines: &[&str]) -> String {
        let mut block = String::new();
        for (i, line) in lines.iter().enumerate() {
            let _ = write!(
                block,
                "{line}\n\nlaunch_setup_status=$?; if [ \"$launch_setup_status\" -ne 0 ]; then \
                 echo \"launch: slurm.setup line {} failed with exit status \
                 $launch_setup_status; the inference script was not run\" >&2; exit \
                 \"$launch_setup_status\"; fi\n",
                i + 1
            );
        }
        block
    }

    #[test]
    fn a_failing_setup_line_stops_the_job_before_the_script() {
        let mut settings = settings();
        settings.slurm.python = "echo script-ran".into();
        settings.slurm.setup = vec![
            "true".into(),
            // A trailing backslash does not swallow the check.
            "test -d / \\".into(),
            "false".into(),
            "echo after-the-failure".into(),
        ];
        let script = render(BUILTIN_TEMPLATE, &run(json!({})), &settings).unwrap();
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("bash runs");
        assert_eq!(output.status.code(), Some(1), "{script}");
        assert_eq!(String::from_utf8_lossy(&output.stdout), "");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "launch: slurm.setup line 3 failed with exit status 1; the inference script was not \
             run\n"
        );
        // Every line succeeding, the script runs.
        settings.slurm.setup.remove(2);
        let script = render(BUILTIN_TEMPLATE, &run(json!({})), &settings).unwrap();
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("bash runs");
        assert!(output.status.success(), "{script}");
        assert!(
            String::from_utf8_lossy(&output.stdout).starts_with("after-the-failure\nscript-ran"),
            "{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }

    #[test]
    fn builtin_quotes_the_shell_words_and_keeps_setup_verbatim() {
        let mut settings = settings();
        settings.script = "my scripts/gen data.py".into();
        settings.slurm.python = "uv run 'python3'".into();
        settings.slurm.setup = vec!["source .venv/bin/activate".into(), "echo \"$HOME\"".into()];
        settings.slurm.partition = Some("hopper-prod".into());
        settings.slurm.sbatch_args = vec![
            ("constraint".into(), "h100".into()),
            ("exclusive".into(), String::new()),
        ];
        let mut run = run(json!({"tp": 2}));
        run.gpus = 2;
        run.time = Some("1:59:00".into());
        run.qos = Some("high".into());
        let script = render(BUILTIN_TEMPLATE, &run, &settings).unwrap();
        let directives: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("#SBATCH"))
            .collect();
        assert_eq!(
            directives[3..],
            [
                "#SBATCH --nodes=1",
                "#SBATCH --gpus=2",
                "#SBATCH --cpus-per-task=22",
                "#SBATCH --mem-per-cpu=22G",
                "#SBATCH --time=1:59:00",
                "#SBATCH --qos=high",
                "#SBATCH --partition=hopper-prod",
                "#SBATCH --comment=bench:abc:76e892d2c99ad0f6",
                "#SBATCH --constraint=h100",
                "#SBATCH --exclusive",
            ]
        );
        assert!(
            script.contains(&format!(
                "\n{}set -euo pipefail\n",
                setup_block(&["source .venv/bin/activate", "echo \"$HOME\""])
            )),
            "{script}"
        );
        assert!(
            script.contains(
                "\nuv run python3 - 'my scripts/gen data.py' data/exp/default/Qwen3_0.6B/"
            ),
            "{script}"
        );
    }

    /// The `MissingComment` reason for `template`, rendered with the token `abc`.
    fn missing_comment(template: &str) -> String {
        match render(template, &run(json!({})), &settings()) {
            Err(TemplateError {
                run: Some(run),
                kind: TemplateErrorKind::MissingComment { why, .. },
                ..
            }) => {
                assert_eq!(run.name, "Qwen3_0.6B");
                why
            }
            other => panic!("not refused for its comment: {other:?}"),
        }
    }

    #[test]
    fn a_script_without_the_comment_directive_is_refused() {
        assert_eq!(
            missing_comment("#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n"),
            "it reads no `--comment` directive"
        );
    }

    #[test]
    fn a_comment_directive_after_the_first_command_is_refused() {
        // sbatch ignores it: the job ran with comment `(null)` on the project's cluster.
        let why = missing_comment(
            "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\nsleep 30\n#SBATCH --comment={{ comment }}\n",
        );
        assert_eq!(
            why,
            "it reads no `--comment` directive (it stops reading `#SBATCH` lines at line 3, \
             the first command `sleep 30`)"
        );
        // Indented, it is a comment to sbatch.
        missing_comment("#!/bin/bash\n  #SBATCH --comment={{ comment }}\n");
    }

    #[test]
    fn the_comment_sbatch_applies_must_carry_this_submissions_token() {
        assert_eq!(
            missing_comment(
                "#!/bin/bash\n#SBATCH --comment={{ comment }}\n#SBATCH --comment=mine\n"
            ),
            "the comment it reads is `mine`"
        );
        missing_comment("#!/bin/bash\n#SBATCH --comment={{ comment | upper }}\n");
        // sbatch removes quotes and reads several options per line.
        let script = render(
            "#!/bin/bash\n#SBATCH -J {{ job_name }} --comment \"{{ comment }}\" # ours\n#SBATCH --output={{ slurm_logs }}/%j_0.out\necho\n",
            &run(json!({})),
            &settings(),
        )
        .unwrap();
        assert!(
            script.contains("--comment \"bench:abc:76e892d2c99ad0f6\""),
            "{script}"
        );
    }

    #[test]
    fn a_script_sbatch_refuses_outright_is_refused_naming_the_run() {
        for template in [
            // A Tera comment's line break before the interpreter line.
            "{# my template #}\n#!/bin/bash\n#SBATCH --comment={{ comment }}\n",
            "#SBATCH --comment={{ comment }}\necho\n",
            "#!/bin/bash\r\n#SBATCH --comment={{ comment }}\r\n",
        ] {
            let err = render(template, &run(json!({})), &settings()).unwrap_err();
            let TemplateError {
                run: Some(run),
                template: Some(template),
                kind: TemplateErrorKind::NotABatchScript { .. },
            } = &err
            else {
                panic!("wrong error for {template:?}: {err}");
            };
            assert_eq!(
                (run.name.as_str(), template.as_str()),
                ("Qwen3_0.6B", "t.tera")
            );
        }
    }

    /// The line and reason of the `RefusedDirective` error for `template` and `run`.
    fn refused(template: &str, run: &Run, settings: &SweepSettings) -> (usize, Box<str>, String) {
        match render(template, run, settings) {
            Err(TemplateError {
                run: Some(run),
                kind: TemplateErrorKind::RefusedDirective { line, text, reason },
                ..
            }) => {
                assert_eq!(run.name, "Qwen3_0.6B");
                (line, text, reason)
            }
            other => panic!("not refused for a directive: {other:?}"),
        }
    }

    #[test]
    fn setup_lines_sbatch_would_read_as_directives_are_refused() {
        let mut timed = run(json!({}));
        timed.time = Some("1:59:00".into());
        let untimed = run(json!({}));
        for setup in [
            "#SBATCH --time=600",
            "#SBATCH --comm=zzz",
            "#SBATCH --constraint=h100",
            "#SLURM --time=600",
        ] {
            for run in [&timed, &untimed] {
                let mut settings = settings();
                settings.slurm.setup = vec!["module load cuda".into(), setup.into()];
                let (line, text, reason) = refused(BUILTIN_TEMPLATE, run, &settings);
                // The built-in template keeps `docs/launch.md`'s order: the setup lines come
                // after the directives, where a harmless line lands.
                settings.slurm.setup[1] = "echo marker".into();
                let script = render(BUILTIN_TEMPLATE, run, &settings).unwrap();
                let expected_line = script.lines().position(|l| l == "echo marker").unwrap() + 1;
                assert!(
                    script.contains(&format!(
                        "\n{}set -euo pipefail\n",
                        setup_block(&["module load cuda", "echo marker"])
                    )),
                    "{script}"
                );
                assert_eq!((line, &*text), (expected_line, setup), "{setup}");
                assert!(
                    reason.starts_with("it comes from `slurm.setup`"),
                    "{reason}"
                );
            }
        }
        // An entry may hold several lines.
        let mut settings = settings();
        settings.slurm.setup = vec!["# hi\n#SBATCH --gres=gpu:8".into()];
        let (_, text, _) = refused(BUILTIN_TEMPLATE, &timed, &settings);
        assert_eq!(&*text, "#SBATCH --gres=gpu:8");
        // An indented one is a comment to sbatch.
        settings.slurm.setup = vec!["  #SBATCH --time=600".into()];
        assert!(render(BUILTIN_TEMPLATE, &timed, &settings).is_ok());
    }

    #[test]
    fn a_user_templates_directives_may_not_undo_the_templates() {
        let settings = settings();
        let run = run(json!({}));
        let (line, text, reason) = refused(
            "#!/bin/bash\n#SBATCH --comment={{ comment }}\n#SBATCH --comm=x\necho\n",
            &run,
            &settings,
        );
        assert_eq!((line, &*text), (3, "#SBATCH --comm=x"));
        assert!(
            reason.starts_with("`--comm` abbreviates `--comment`"),
            "{reason}"
        );
        let (line, _, reason) = refused(
            "#!/bin/bash\n#SBATCH -J {{ job_name }} -t 5\n#SBATCH --comment={{ comment }}\n\
             #SBATCH --time=10\n",
            &run,
            &settings,
        );
        assert_eq!(line, 4);
        assert!(
            reason.starts_with("`--time` is already set at line 2"),
            "{reason}"
        );
        // Short options and other allowed options are fine, once each.
        let rendered = Template::parse(
            "t.tera",
            "#!/bin/bash\n#SBATCH -J myname -t 5 -o {{ slurm_logs }}/%j_0.out\n\
             #SBATCH --comment={{ comment }} --exclusive\n",
        )
        .unwrap()
        .renderer(&settings)
        .unwrap()
        .render(&run, "abc")
        .unwrap();
        assert_eq!(
            serde_json::to_value(directives::json_object(&rendered.directives)).unwrap(),
            json!({
                "job-name": "myname",
                "time": "5",
                "output": format!("{}/inference_logs/slurm_logs/%j_0.out", run.run_dir),
                "exclusive": ""
            })
        );
    }

    #[test]
    fn unknown_variables_and_bad_syntax_are_errors() {
        let run = run(json!({}));
        let err = render(
            "#!/bin/sh\n#SBATCH --comment={{ comment }}\n{{ gpu_count }}\n",
            &run,
            &settings(),
        )
        .unwrap_err();
        assert!(
            matches!(err.kind, TemplateErrorKind::Render { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("gpu_count"), "{err}");
        let err = Template::parse(
            "t.tera",
            "#!/bin/sh\n#SBATCH --comment={{ comment }}\n{% if %}\n",
        )
        .unwrap_err();
        assert!(matches!(err.kind, TemplateErrorKind::Parse { .. }), "{err}");
    }

    #[test]
    fn cli_args_are_quoted_words() {
        let run = run(json!({
            "model_name_or_path": "Qwen/Qwen3-0.6B",
            "trust_remote_code": true,
            "output_private": false,
            "speculative_config": "None",
            "quantization": "none",
            "system_prompt": "be 'brief'",
            "temperature": 0.0,
            "seed": null,
        }));
        let script = render(
            "#!/bin/sh\n#SBATCH --comment={{ comment }}\n#SBATCH --output={{ slurm_logs }}/%j_0.out\nrun {{ cli_args }}\n",
            &run,
            &settings(),
        )
        .unwrap();
        // Read back with shell-word rules, the words are exactly the args.
        let words = shlex::split(script.lines().nth(3).unwrap()).unwrap();
        assert_eq!(
            words,
            [
                "run",
                "--model-name-or-path",
                "Qwen/Qwen3-0.6B",
                "--trust-remote-code",
                "--no-output-private",
                "--system-prompt",
                "be 'brief'",
                "--temperature",
                "0.0",
                "--output-dir",
                "data/exp",
                "--name",
                "Qwen3_0.6B",
                "--local-execution",
            ]
        );
    }

    #[test]
    fn cli_args_are_refused_for_a_prompt_pair_naming_the_run() {
        let run = run(json!({"prompt_template": ["tutorial", "Say [[DOCUMENT]]"]}));
        let err = render(
            "#!/bin/sh\n#SBATCH --comment={{ comment }}\n{{ cli_args }}\n",
            &run,
            &settings(),
        )
        .unwrap_err();
        let (Some(label), TemplateErrorKind::CliArgsRefused { key, .. }) = (&err.run, &err.kind)
        else {
            panic!("wrong error: {err}");
        };
        assert_eq!(
            (label.name.as_str(), key.as_str()),
            ("Qwen3_0.6B", "prompt_template")
        );
        // The built-in template does not use `cli_args`: the pair travels in the JSON file.
        assert!(render(BUILTIN_TEMPLATE, &run, &settings()).is_ok());
    }

    #[test]
    fn directive_values_with_whitespace_are_refused() {
        let mut run = run(json!({}));
        run.qos = Some("high\n#SBATCH --account=other".into());
        let err = render(BUILTIN_TEMPLATE, &run, &settings()).unwrap_err();
        assert!(
            matches!((&err.run, &err.kind), (Some(run), TemplateErrorKind::UnsafeDirectiveValue { variable, .. })
                if variable == "qos" && run.name == "Qwen3_0.6B"),
            "{err}"
        );
        let mut settings = settings();
        settings.slurm.sbatch_args = vec![("constraint".into(), "a b".into())];
        let err = render(BUILTIN_TEMPLATE, &self::run(json!({})), &settings).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sbatch_args.constraint` is `\"a b\"`, which cannot appear on an `#SBATCH` line: \
             it holds whitespace or control characters"
        );
        settings.slurm.sbatch_args.clear();
        settings.slurm.python = "'unbalanced".into();
        assert!(matches!(
            render(BUILTIN_TEMPLATE, &self::run(json!({})), &settings),
            Err(TemplateError {
                kind: TemplateErrorKind::BadPython { .. },
                ..
            })
        ));
    }

    #[test]
    fn the_shell_quote_filter() {
        let run = run(json!({}));
        let script = render(
            "#!/bin/sh\n#SBATCH --comment={{ comment }}\n#SBATCH --output={{ slurm_logs }}/%j_0.out\n{{ run_dir | shell_quote }} {{ [\"a b\", \"c\"] | shell_quote }} {{ \"$(x)\" | shell_quote }}\n",
            &run,
            &settings(),
        )
        .unwrap();
        assert_eq!(
            script.lines().nth(3).unwrap(),
            format!("{} 'a b' c '$(x)'", run.run_dir)
        );
    }
}
