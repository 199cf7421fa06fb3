//! The `launch` binary's work (`docs/launch.md`): render one sbatch script per run, decide per run
//! from the run-state rule, and submit with `sbatch --parsable` (or, in a dry run, show what
//! would be submitted and what it would cost, writing nothing).

pub mod cli;
pub mod directives;
mod follow;
pub mod interrupt;
mod pass;
pub mod plan;
pub mod record;
pub mod report;
pub mod skip;
pub mod slurm;
mod status;
mod submit;
pub mod template;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use bench_core::model_config::{LocalModelConfigs, hub_cache_dir};
use bench_core::run::Run;
use bench_core::stage::StageGroup;
use bench_core::sweep::{LoadContext, ScriptFile, Sweep, SweepCost, load_sweep};
use bench_io::bounded::{
    Accept, MAX_CONFIG_BYTES, MAX_MODEL_CONFIG_BYTES, MAX_TEMPLATE_BYTES, ReadError, read_text,
};
use bench_io::{Console, OutputFailure};
use regex::Regex;

use crate::interrupt::Interrupt;
use crate::plan::{DecidedRun, Decision, PlannedRun};
use crate::slurm::CommandSlurm;
use crate::template::{Template, TemplateError};

/// Template problems listed one by one before the rest are only counted.
const SHOWN_PROBLEMS: usize = 5;

/// Why `launch` did not end with every run as decided; `main` prints it (when there is
/// something left to say) and exits with [`LaunchError::exit_code`].
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The command line, the config or the template is invalid: nothing was submitted.
    #[error("{0}")]
    Invalid(String),
    /// The queue could not be read for a real submission: nothing was submitted.
    #[error(
        "the queue could not be read, so nothing was submitted: {0}\nhint: without the \
         queue, `launch` cannot tell which runs are in flight and could submit them twice; \
         check that `squeue --me` works here"
    )]
    QueueUnreadable(String),
    /// At least one submission failed (each is in the summary).
    #[error("{failed} of {attempted} submissions failed (see the summary above)")]
    SubmissionsFailed {
        /// Failed submissions.
        failed: usize,
        /// Submissions tried.
        attempted: usize,
    },
    /// Interrupted by a signal; the sbatch call under way finished and was recorded.
    #[error("interrupted")]
    Interrupted,
    /// Writing to stdout or stderr failed: a real launch stopped at the next run boundary
    /// (the runs it did not reach are `not_attempted`, with this as their reason).
    #[error("{0}")]
    Output(#[from] OutputFailure),
}

impl LaunchError {
    /// The documented exit code: 1 a submission failed or the output could not be written,
    /// 2 invalid input, 3 the queue could not be read, 130 interrupted.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            LaunchError::SubmissionsFailed { .. } | LaunchError::Output(_) => 1,
            LaunchError::Invalid(_) => 2,
            LaunchError::QueueUnreadable(_) => 3,
            LaunchError::Interrupted => 130,
        })
    }

    /// Whether `main` still has to print it (an interrupt has been said where it happened).
    pub fn is_reported(&self) -> bool {
        matches!(self, LaunchError::Interrupted)
    }
}

impl From<TemplateError> for LaunchError {
    fn from(err: TemplateError) -> Self {
        LaunchError::Invalid(with_hint(&err.to_string(), err.hint().as_deref()))
    }
}

/// `message`, then `hint: ...` on its own line when there is one.
fn with_hint(message: &str, hint: Option<&str>) -> String {
    match hint {
        Some(hint) => format!("{message}\nhint: {hint}"),
        None => message.to_owned(),
    }
}

/// Phase 1: the config, validated and expanded, with the template and the selection.
pub(crate) struct Loaded {
    /// The config file as the user named it.
    file_name: String,
    sweep: Sweep,
    template: Template,
    only: Option<Regex>,
}

impl Loaded {
    /// Whether `--only` selects `run`: by its name, its experiment or its run directory.
    fn selects(&self, run: &Run) -> bool {
        self.only.as_ref().is_none_or(|only| {
            only.is_match(&run.name)
                || only.is_match(&run.experiment)
                || only.is_match(run.run_dir.as_str())
        })
    }

    /// Whether `--only` selects a stage group: its name as far as known, or its stage.
    fn selects_group(&self, group: &StageGroup) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.is_match(&group.name) || only.is_match(&group.stage))
    }
}

/// Run `launch` with parsed arguments, printing to `console`.
///
/// Errors: see [`LaunchError`]; every error ends here, and `main` maps it to its exit code.
pub fn run(args: &cli::Args, console: &mut Console) -> Result<(), LaunchError> {
    args.check().map_err(LaunchError::Invalid)?;
    if args.no_warnings {
        console.silence_warnings();
    }
    // From the start: a signal while the queue is read is handled too (exit 130, no child
    // left), not only while submitting.
    let interrupt = Interrupt::install().map_err(|err| {
        LaunchError::Invalid(format!("failed to install the signal handlers: {err}"))
    })?;
    let loaded = load(args, console)?;
    let mut scripts = loaded.template.renderer(&loaded.sweep.settings)?;
    let planned = plan(&loaded, &mut scripts)?;
    let timeouts = &loaded.sweep.settings.slurm;
    let mut slurm = CommandSlurm {
        squeue_timeout: Duration::from_secs(timeouts.squeue_timeout.into()),
        sbatch_timeout: Duration::from_secs(timeouts.sbatch_timeout.into()),
        interrupt: Some(interrupt.flag()),
    };
    if interrupt.is_raised() {
        return Err(LaunchError::Interrupted);
    }
    if args.follow {
        return follow::follow(
            args,
            &loaded,
            &mut scripts,
            &planned,
            &mut slurm,
            console,
            &interrupt,
        );
    }
    let session = pass::Session::default();
    pass::with_pass(
        args,
        &loaded,
        &mut scripts,
        &planned,
        &mut slurm,
        console,
        &session,
        |pass, slurm, console| {
            if args.status {
                status::status(args, &loaded.file_name, &pass, slurm, console)
            } else if args.dry_run {
                dry_run(args, &pass, console)
            } else {
                let mut submitted = submit::submit_runs(
                    args,
                    &loaded.sweep,
                    slurm,
                    pass.decided,
                    console,
                    &interrupt,
                    true,
                );
                for group in &pass.groups {
                    group_json_line(args, group, console);
                }
                console.err(report::summary(
                    &submitted.decided,
                    &pass.groups,
                    pass.config_runs,
                    None,
                    true,
                ));
                finish(&mut submitted, console)
            }
        },
    )
}

/// The end of a real launch: interrupted, output failed, submissions failed, or all went
/// as decided.
fn finish(submitted: &mut submit::Submitted<'_>, console: &mut Console) -> Result<(), LaunchError> {
    if submitted.interrupted {
        return Err(LaunchError::Interrupted);
    }
    if let Some(failure) = submitted
        .output_failure
        .take()
        .or_else(|| console.take_failure())
    {
        return Err(failure.into());
    }
    match submitted.failed() {
        0 => Ok(()),
        failed => Err(LaunchError::SubmissionsFailed {
            failed,
            attempted: submitted.attempted,
        }),
    }
}

/// Phase 1: read and validate the config, supplying the outside world (whether the script
/// exists, model configs from the local Hugging Face cache), then the template and `--only`.
fn load(args: &cli::Args, console: &mut Console) -> Result<Loaded, LaunchError> {
    let text = read_text(
        &args.config,
        MAX_CONFIG_BYTES,
        Accept::RegularOrPipe,
        "the config",
    )
    .map_err(|err| LaunchError::Invalid(err.to_string()))?;
    let hub_cache = hub_cache_dir(|name| std::env::var(name).ok());
    let model_configs = LocalModelConfigs::new(hub_cache, |path: &Path| {
        read_text(
            path,
            MAX_MODEL_CONFIG_BYTES,
            Accept::Regular,
            "a model's config.json",
        )
        .ok()
    });
    let script_file = |script: &str| match fs::metadata(script) {
        Ok(meta) if meta.is_dir() => ScriptFile::Directory,
        Ok(_) => ScriptFile::File,
        Err(_) => ScriptFile::Missing,
    };
    let ctx = LoadContext {
        dry_run: args.dry_run || args.status,
        script_file: &script_file,
        model_configs: &model_configs,
    };
    let sweep = load_sweep(&text, &args.config.display().to_string(), &ctx)
        .map_err(|errors| LaunchError::Invalid(errors.to_string()))?;
    for warning in &sweep.warnings {
        console.warn(warning);
    }
    for note in &sweep.notes {
        console.err_line(format_args!("note: {note}"));
    }
    let template = select_template(args, &sweep)?;
    let only = args
        .only
        .as_deref()
        .map(Regex::new)
        .transpose()
        .map_err(|err| {
            LaunchError::Invalid(format!("`--only` is not a valid regular expression: {err}"))
        })?;
    let loaded = Loaded {
        file_name: args.config.display().to_string(),
        sweep,
        template,
        only,
    };
    // With stages, what `--only` selects is known once the stages are resolved (the pass
    // says it then).
    if let (Some(only), true, false) = (
        &loaded.only,
        loaded.sweep.stages.is_empty(),
        loaded.sweep.runs.iter().any(|run| loaded.selects(run)),
    ) {
        console.warn(format_args!(
            "`--only {only}` matches neither the name, the experiment nor the run directory \
             of any of the config's {} runs: nothing to do",
            loaded.sweep.runs.len()
        ));
    }
    Ok(loaded)
}

/// The template: `--template`, else the config's `slurm.template`, else the built-in one.
fn select_template(args: &cli::Args, sweep: &Sweep) -> Result<Template, LaunchError> {
    let path = args
        .template
        .clone()
        .or_else(|| sweep.settings.slurm.template.as_ref().map(Into::into));
    let Some(path) = path else {
        return Ok(Template::builtin()?);
    };
    let text = read_text(
        &path,
        MAX_TEMPLATE_BYTES,
        Accept::RegularOrPipe,
        "the template",
    )
    .map_err(|err| match err {
        ReadError::Io {
            what,
            path: shown,
            error,
        } if path.is_relative() && error.kind() == std::io::ErrorKind::NotFound => {
            let origin = if args.template.is_some() {
                "`--template`"
            } else {
                "the config's `slurm.template`"
            };
            let cwd = std::env::current_dir().map_or_else(
                |_| "the current directory".to_owned(),
                |dir| format!("the current directory `{}`", dir.display()),
            );
            LaunchError::Invalid(format!(
                "failed to read {what} `{shown}` ({origin} is relative to {cwd}, where `launch` \
                 runs, not to the config file): {error}"
            ))
        }
        other => LaunchError::Invalid(other.to_string()),
    })?;
    Ok(Template::parse(&path.display().to_string(), &text)?)
}

/// Phase 2: render every run of the config (selected or not) and the probe runs of every
/// stage (what its runs will look like), and keep the selected runs; any template problem
/// stops everything before SLURM is contacted.
fn plan<'a>(
    loaded: &'a Loaded,
    scripts: &mut template::Renderer<'_>,
) -> Result<Vec<PlannedRun<'a>>, LaunchError> {
    // Per stage, one probe run per GPU count (what the built-in template's directives
    // depend on): the others are rendered when their winner wins.
    let probes = loaded
        .sweep
        .stages
        .iter()
        .flat_map(|stage| one_per_gpu_count(&stage.probe));
    let mut planned = plan_runs(loaded, scripts, loaded.sweep.runs.iter().chain(probes))?;
    // The probes only check the template: their runs are not the stage's yet.
    planned.retain(|p| loaded.sweep.stages.iter().all(|s| s.entry != p.run.entry));
    Ok(planned)
}

/// The first of `runs` with each GPU count.
fn one_per_gpu_count(runs: &[Run]) -> Vec<&Run> {
    let mut seen = Vec::new();
    let mut first = Vec::new();
    for run in runs {
        if !seen.contains(&run.gpus) {
            seen.push(run.gpus);
            first.push(run);
        }
    }
    first
}

/// Render `runs`, each with a fresh token, and keep the selected ones; every template
/// problem is reported together.
pub(crate) fn plan_runs<'a>(
    loaded: &Loaded,
    scripts: &mut template::Renderer<'_>,
    runs: impl IntoIterator<Item = &'a Run>,
) -> Result<Vec<PlannedRun<'a>>, LaunchError> {
    let mut count = 0;
    let mut planned = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    let mut failed_runs = 0;
    for run in runs {
        count += 1;
        let token = record::new_token();
        match scripts.render(run, &token) {
            Ok(rendered) => {
                if loaded.selects(run) {
                    planned.push(PlannedRun {
                        run,
                        token,
                        directives: rendered.directives,
                        script: rendered.script,
                    });
                }
            }
            Err(err) => {
                failed_runs += 1;
                let message = err.to_string();
                if problems.len() < SHOWN_PROBLEMS && !problems.contains(&message) {
                    problems.push(message);
                }
                if let Some(hint) = err.hint().filter(|hint| !hints.contains(hint)) {
                    hints.push(hint);
                }
            }
        }
    }
    if failed_runs > 0 {
        let mut message = format!(
            "the template cannot be rendered for {failed_runs} of {count} runs; nothing was \
             submitted:\n  - {}",
            problems.join("\n  - ")
        );
        if failed_runs > problems.len() {
            let _ = write!(message, "\n  ... and {} more", failed_runs - problems.len());
        }
        for hint in hints {
            let _ = write!(message, "\nhint: {hint}");
        }
        return Err(LaunchError::Invalid(message));
    }
    Ok(planned)
}

/// `--json` lines go to stdout, one per run.
fn json_line(args: &cli::Args, decided: &DecidedRun<'_>, console: &mut Console) {
    if args.json {
        console.out_line(report::json_line(decided));
    }
}

/// `--json` lines of stage groups without runs, one per group and stage.
fn group_json_line(args: &cli::Args, group: &StageGroup, console: &mut Console) {
    if args.json {
        console.out_line(report::group_json_line(group));
    }
}

/// Phase 4 of a dry run: one line per run (or, with `--verbose` or `--show-script`, one
/// block per run), the counts and the cost; nothing written anywhere.
fn dry_run(
    args: &cli::Args,
    pass: &pass::Pass<'_>,
    console: &mut Console,
) -> Result<(), LaunchError> {
    let (decided, groups) = (&pass.decided, &pass.groups);
    // The blocks go to stderr, so `--json` (stdout) does not exclude them.
    let with_blocks = args.verbose || (!args.json && args.show_script);
    let mut blocks = String::new();
    for line in report::lines(decided, groups) {
        let d = match line {
            report::Line::Run(d) => d,
            report::Line::Group(group) => {
                group_json_line(args, group, console);
                if with_blocks {
                    blocks.push_str(&report::group_block(group));
                }
                continue;
            }
        };
        json_line(args, d, console);
        if with_blocks {
            blocks.push_str(&report::run_block(d, args.verbose, args.show_script));
        } else if args.json && args.show_script {
            let _ = writeln!(
                blocks,
                "# {} ({})\n{}",
                d.run().name,
                d.run().run_dir,
                d.planned.script
            );
        }
    }
    let cost = SweepCost::of(
        decided
            .iter()
            .filter(|d| d.decision == Decision::WouldSubmit)
            .map(DecidedRun::run),
    );
    blocks.push_str(&report::summary(
        decided,
        groups,
        pass.config_runs,
        Some(&cost),
        !with_blocks,
    ));
    console.err(blocks);
    match console.take_failure() {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}
