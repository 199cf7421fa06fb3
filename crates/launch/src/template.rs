//! Rendering sbatch scripts with Tera 1.x (contract 2 section 1).
//!
//! The built-in template (`templates/sbatch.sh.tera`) is embedded in the binary; a user
//! template (`--template`, or the config's `slurm.template`) replaces it and gets exactly the
//! same variables, [`TemplateVars`]. Values that reach `#SBATCH` lines are validated (sbatch
//! reads them, not bash, so they cannot be quoted); values that reach the shell arrive
//! already shell-quoted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use bench_core::config::SweepSettings;
use bench_core::sweep::Run;
use regex::Regex;
use serde::Serialize;
use serde_json::Value;

/// The built-in template, embedded at build time.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/sbatch.sh.tera");

/// The name the template is registered under in Tera (also used in messages).
const TEMPLATE_NAME: &str = "sbatch";

/// Arg keys whose strings `None`, `none`, `null` and `""` mean "not set" (contract 1
/// section 1).
const NOT_SET_KEYS: [&str; 3] = ["speculative_config", "quantization", "kv_cache_dtype"];

/// A template problem: the config or the template cannot produce a script (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template text does not parse.
    #[error("template `{template}` does not parse: {message}")]
    Parse {
        /// Where the template came from (`built-in` or its path).
        template: String,
        /// Tera's words, sources included.
        message: String,
    },
    /// The template lacks the `#SBATCH --comment={{ comment }}` line adoption relies on.
    #[error("template `{template}` has no `#SBATCH --comment={{{{ comment }}}}` line")]
    MissingComment {
        /// Where the template came from.
        template: String,
    },
    /// Rendering failed for a run (an unknown variable, a bad filter argument, ...).
    #[error("template `{template}` cannot be rendered for run `{run}` (`{run_dir}`): {message}")]
    Render {
        /// Where the template came from.
        template: String,
        /// The run name.
        run: String,
        /// The run directory.
        run_dir: String,
        /// Tera's words, sources included.
        message: String,
    },
    /// The template uses `cli_args`, which cannot express this run's args.
    #[error(
        "template `{template}` uses `cli_args`, which cannot express `{key}` of run `{run}` \
         (`{run_dir}`): {why}"
    )]
    CliArgsRefused {
        /// Where the template came from.
        template: String,
        /// The run name.
        run: String,
        /// The run directory.
        run_dir: String,
        /// The arg (`snake_case` key) that has no command-line form.
        key: String,
        /// Why (`a [name, template] prompt pair`, `a list`, ...).
        why: String,
    },
    /// A value that reaches an `#SBATCH` line holds whitespace or control characters.
    #[error(
        "`{variable}` of run `{run}` is `{value}`, which cannot appear on an `#SBATCH` line: \
         it holds whitespace or control characters"
    )]
    UnsafeDirectiveValue {
        /// The template variable.
        variable: String,
        /// The run name.
        run: String,
        /// The offending value (debug-escaped).
        value: String,
    },
    /// `slurm.python` does not split into shell words.
    #[error(
        "`slurm.python` is `{python}`, which does not split into shell words (unbalanced quotes, or empty)"
    )]
    BadPython {
        /// The value as written.
        python: String,
    },
    /// A path or word cannot be shell-quoted (it holds a NUL byte).
    #[error("`{variable}` of run `{run}` cannot be shell-quoted: it holds a NUL byte")]
    Unquotable {
        /// The template variable.
        variable: String,
        /// The run name.
        run: String,
    },
}

impl TemplateError {
    /// How to fix it, when there is a general answer.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            TemplateError::MissingComment { .. } => Some(
                "`launch` finds its own jobs in the queue by that comment (contract 2 section \
                 4); add the line among the other `#SBATCH` lines",
            ),
            TemplateError::CliArgsRefused { .. } => Some(
                "pass the args through `kwargs_json` as the built-in template does: the \
                 inference script takes a prompt pair only through its Python API",
            ),
            TemplateError::Render { .. } => Some(
                "a template gets exactly the variables of contract 2 section 1: job_name, \
                 experiment, run_dir, log_dir, comment, gpus, cpus_per_task, nodes, \
                 mem_per_cpu, time, qos, partition, account, reservation, sbatch_args, setup, \
                 python, script, kwargs_json, cli_args",
            ),
            _ => None,
        }
    }
}

/// The variables every template gets (contract 2 section 1, table "Template variables").
///
/// Raw strings are validated (no whitespace or control characters) where they reach
/// `#SBATCH` lines; `python`, `script`, `kwargs_json` and `cli_args` hold shell-quoted text.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateVars {
    /// The run name (also the job name). Raw.
    pub job_name: String,
    /// The experiment name. Raw.
    pub experiment: String,
    /// The run directory. Raw.
    pub run_dir: String,
    /// `{run_dir}/inference_logs`. Raw.
    pub log_dir: String,
    /// `bench:<token>` of this submission. Raw.
    pub comment: String,
    /// GPUs of the job: tp x pp x dp.
    pub gpus: u32,
    /// `slurm.cpus-per-gpu` x GPUs.
    pub cpus_per_task: u32,
    /// Always 1: a run is one task on one node.
    pub nodes: u32,
    /// `slurm.mem-per-cpu`. Raw.
    pub mem_per_cpu: String,
    /// The run's `time` arg, empty when absent. Raw.
    pub time: String,
    /// The run's `qos` arg, empty when absent. Raw.
    pub qos: String,
    /// `slurm.partition`, empty when unset. Raw.
    pub partition: String,
    /// `slurm.account`, empty when unset. Raw.
    pub account: String,
    /// The run's `reservation` arg, empty when absent. Raw.
    pub reservation: String,
    /// `slurm.sbatch-args` as `[key, value]` pairs; value `""` means `--key` alone. Raw.
    pub sbatch_args: Vec<(String, String)>,
    /// `slurm.setup` lines, verbatim.
    pub setup: Vec<String>,
    /// `slurm.python` split into shell words, each shell-quoted.
    pub python: Vec<String>,
    /// The inference script's path, shell-quoted.
    pub script: String,
    /// The path of the run's kwargs JSON file, shell-quoted.
    pub kwargs_json: String,
    /// The kwargs as `--kebab-key value` words, each shell-quoted, joined by spaces; absent
    /// when the run has an arg with no command-line form (a list, such as a prompt pair).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cli_args: Option<String>,
    /// Why `cli_args` is absent: `(key, why)`.
    #[serde(skip)]
    cli_args_refusal: Option<(String, String)>,
}

/// Where a run's launch files go: `{run_dir}/inference_logs/launch/`.
pub fn launch_dir(run: &Run) -> String {
    format!("{}/launch", log_dir(run))
}

/// A run's `inference_logs` directory.
pub fn log_dir(run: &Run) -> String {
    format!("{}/inference_logs", run.run_dir)
}

/// The path of a run's kwargs JSON file.
pub fn kwargs_path(run: &Run) -> String {
    format!("{}/kwargs.json", launch_dir(run))
}

impl TemplateVars {
    /// The variables for `run` under `settings`, with `token` as the submission token.
    ///
    /// Errors when a raw value would reach an `#SBATCH` line with whitespace or control
    /// characters, when `slurm.python` does not split into words, or a path holds a NUL.
    pub fn new(run: &Run, settings: &SweepSettings, token: &str) -> Result<Self, TemplateError> {
        let slurm = &settings.slurm;
        let python = shlex::split(&slurm.python)
            .filter(|words| !words.is_empty())
            .ok_or_else(|| TemplateError::BadPython {
                python: slurm.python.clone(),
            })?;
        let quote = |variable: &str, word: &str| {
            shlex::try_quote(word)
                .map(std::borrow::Cow::into_owned)
                .map_err(|_| TemplateError::Unquotable {
                    variable: variable.to_owned(),
                    run: run.name.clone(),
                })
        };
        let python = python
            .iter()
            .map(|word| quote("python", word))
            .collect::<Result<Vec<_>, _>>()?;
        let (cli_args, cli_args_refusal) = match cli_words(&run.kwargs()) {
            Ok(words) => (
                Some(
                    shlex::try_join(words.iter().map(String::as_str)).map_err(|_| {
                        TemplateError::Unquotable {
                            variable: "cli_args".into(),
                            run: run.name.clone(),
                        }
                    })?,
                ),
                None,
            ),
            Err(refusal) => (None, Some(refusal)),
        };
        let vars = TemplateVars {
            job_name: run.name.clone(),
            experiment: run.experiment.clone(),
            run_dir: run.run_dir.clone(),
            log_dir: log_dir(run),
            comment: format!("bench:{token}"),
            gpus: run.gpus,
            cpus_per_task: slurm.cpus_per_gpu.saturating_mul(run.gpus),
            nodes: 1,
            mem_per_cpu: slurm.mem_per_cpu.clone(),
            time: run.time.clone().unwrap_or_default(),
            qos: run.qos.clone().unwrap_or_default(),
            partition: slurm.partition.clone().unwrap_or_default(),
            account: slurm.account.clone().unwrap_or_default(),
            reservation: run.reservation.clone().unwrap_or_default(),
            sbatch_args: slurm.sbatch_args.clone(),
            setup: slurm.setup.clone(),
            python,
            script: quote("script", &settings.script)?,
            kwargs_json: quote("kwargs_json", &kwargs_path(run))?,
            cli_args,
            cli_args_refusal,
        };
        vars.check_directive_values(&run.name)?;
        Ok(vars)
    }

    /// Every raw value that reaches an `#SBATCH` line must be free of whitespace and
    /// control characters (contract 2 section 1).
    fn check_directive_values(&self, run: &str) -> Result<(), TemplateError> {
        let mut raw: Vec<(String, &str)> = vec![
            ("job_name".into(), &self.job_name),
            ("experiment".into(), &self.experiment),
            ("run_dir".into(), &self.run_dir),
            ("comment".into(), &self.comment),
            ("mem_per_cpu".into(), &self.mem_per_cpu),
            ("time".into(), &self.time),
            ("qos".into(), &self.qos),
            ("partition".into(), &self.partition),
            ("account".into(), &self.account),
            ("reservation".into(), &self.reservation),
        ];
        for (key, value) in &self.sbatch_args {
            raw.push((format!("sbatch_args.{key}"), key));
            raw.push((format!("sbatch_args.{key}"), value));
        }
        for (variable, value) in raw {
            if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(TemplateError::UnsafeDirectiveValue {
                    variable,
                    run: run.to_owned(),
                    value: format!("{value:?}"),
                });
            }
        }
        Ok(())
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

/// `#SBATCH --comment={{ comment }}` on a line of its own (Tera's whitespace forms allowed).
static COMMENT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^#SBATCH[ \t]+--comment=\{\{-?[ \t]*comment[ \t]*-?\}\}[ \t]*\r?$")
        .expect("valid regex")
});

/// A compiled template, ready to render scripts.
pub struct Template {
    tera: tera::Tera,
    /// `built-in` or the user template's path.
    origin: String,
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
    /// Errors when it does not parse or lacks the `#SBATCH --comment={{ comment }}` line.
    pub fn parse(origin: &str, text: &str) -> Result<Self, TemplateError> {
        if !COMMENT_LINE.is_match(text) {
            return Err(TemplateError::MissingComment {
                template: origin.to_owned(),
            });
        }
        let mut tera = tera::Tera::default();
        tera.autoescape_on(Vec::new());
        tera.register_filter("shell_quote", shell_quote);
        tera.add_raw_template(TEMPLATE_NAME, text)
            .map_err(|err| TemplateError::Parse {
                template: origin.to_owned(),
                message: error_chain(&err),
            })?;
        Ok(Template {
            tera,
            origin: origin.to_owned(),
        })
    }

    /// Where the template came from: `built-in` or its path.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Render the script for `run` with `vars`.
    ///
    /// A template that uses `cli_args` for a run whose args have no command-line form is
    /// refused, naming the run ([`TemplateError::CliArgsRefused`]).
    pub fn render(&self, run: &Run, vars: &TemplateVars) -> Result<String, TemplateError> {
        let context = tera::Context::from_serialize(vars).map_err(|err| TemplateError::Render {
            template: self.origin.clone(),
            run: run.name.clone(),
            run_dir: run.run_dir.clone(),
            message: error_chain(&err),
        })?;
        self.tera.render(TEMPLATE_NAME, &context).map_err(|err| {
            let message = error_chain(&err);
            match &vars.cli_args_refusal {
                Some((key, why)) if message.contains("`cli_args`") => {
                    TemplateError::CliArgsRefused {
                        template: self.origin.clone(),
                        run: run.name.clone(),
                        run_dir: run.run_dir.clone(),
                        key: key.clone(),
                        why: why.clone(),
                    }
                }
                _ => TemplateError::Render {
                    template: self.origin.clone(),
                    run: run.name.clone(),
                    run_dir: run.run_dir.clone(),
                    message,
                },
            }
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
            name: "Qwen3_0.6B".into(),
            run_dir: "data/exp/default/Qwen3_0.6B/tp1-pp1-dp1/mns_256/mnbt_8192/gmu_90/bs_16/kvc_auto/spec_none/quant_none".into(),
            output_dir: "data/exp".into(),
            args,
            gpus: 1,
            time: None,
            qos: None,
            reservation: None,
            prompt_template: None,
        }
    }

    fn render(
        template: &str,
        run: &Run,
        settings: &SweepSettings,
    ) -> Result<String, TemplateError> {
        let vars = TemplateVars::new(run, settings, "abc")?;
        Template::parse("t.tera", template)?.render(run, &vars)
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
                "#SBATCH --comment=bench:abc",
                "#SBATCH --constraint=h100",
                "#SBATCH --exclusive",
            ]
        );
        assert!(
            script.contains("\nsource .venv/bin/activate\necho \"$HOME\"\nset -euo pipefail\n")
        );
        assert!(
            script.contains(
                "\nuv run python3 - 'my scripts/gen data.py' data/exp/default/Qwen3_0.6B/"
            ),
            "{script}"
        );
    }

    #[test]
    fn a_template_without_the_comment_line_is_refused() {
        let err = Template::parse("t.tera", "#!/bin/bash\n#SBATCH --job-name={{ job_name }}\n")
            .unwrap_err();
        assert!(matches!(err, TemplateError::MissingComment { .. }), "{err}");
        assert!(Template::parse("t.tera", "#SBATCH --comment={{comment}}\n").is_ok());
    }

    #[test]
    fn unknown_variables_and_bad_syntax_are_errors() {
        let run = run(json!({}));
        let err = render(
            "#SBATCH --comment={{ comment }}\n{{ gpu_count }}\n",
            &run,
            &settings(),
        )
        .unwrap_err();
        assert!(matches!(err, TemplateError::Render { .. }), "{err}");
        assert!(err.to_string().contains("gpu_count"), "{err}");
        let err =
            Template::parse("t.tera", "#SBATCH --comment={{ comment }}\n{% if %}\n").unwrap_err();
        assert!(matches!(err, TemplateError::Parse { .. }), "{err}");
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
            "#SBATCH --comment={{ comment }}\nrun {{ cli_args }}\n",
            &run,
            &settings(),
        )
        .unwrap();
        // Read back with shell-word rules, the words are exactly the args.
        let words = shlex::split(script.lines().nth(1).unwrap()).unwrap();
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
            "#SBATCH --comment={{ comment }}\n{{ cli_args }}\n",
            &run,
            &settings(),
        )
        .unwrap_err();
        let TemplateError::CliArgsRefused { run: name, key, .. } = &err else {
            panic!("wrong error: {err}");
        };
        assert_eq!(
            (name.as_str(), key.as_str()),
            ("Qwen3_0.6B", "prompt_template")
        );
        // The built-in template does not use `cli_args`: the pair travels in the JSON file.
        assert!(render(BUILTIN_TEMPLATE, &run, &settings()).is_ok());
    }

    #[test]
    fn directive_values_with_whitespace_are_refused() {
        let mut run = run(json!({}));
        run.qos = Some("high\n#SBATCH --account=other".into());
        let err = TemplateVars::new(&run, &settings(), "abc").unwrap_err();
        assert!(
            matches!(&err, TemplateError::UnsafeDirectiveValue { variable, .. } if variable == "qos"),
            "{err}"
        );
        let mut settings = settings();
        settings.slurm.sbatch_args = vec![("constraint".into(), "a b".into())];
        assert!(TemplateVars::new(&self::run(json!({})), &settings, "abc").is_err());
        settings.slurm.sbatch_args.clear();
        settings.slurm.python = "'unbalanced".into();
        assert!(matches!(
            TemplateVars::new(&self::run(json!({})), &settings, "abc"),
            Err(TemplateError::BadPython { .. })
        ));
    }

    #[test]
    fn the_shell_quote_filter() {
        let run = run(json!({}));
        let script = render(
            "#SBATCH --comment={{ comment }}\n{{ run_dir | shell_quote }} {{ [\"a b\", \"c\"] | shell_quote }} {{ \"$(x)\" | shell_quote }}\n",
            &run,
            &settings(),
        )
        .unwrap();
        assert_eq!(
            script.lines().nth(1).unwrap(),
            format!("{} 'a b' c '$(x)'", run.run_dir)
        );
    }
}
