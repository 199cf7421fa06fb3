//! The `launch` binary's work: thin I/O around `bench-core`.
//!
//! Reads the config, supplies the outside world (the script's existence, the Hugging Face
//! cache on the local disk) to [`bench_core::sweep::load_sweep`], and reports.

pub mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use bench_core::model_config::{LocalModelConfigs, hub_cache_dir};
use bench_core::sweep::{LoadContext, Sweep, SweepCost, load_sweep};

/// Exit code for an invalid command line or config: nothing was submitted.
pub const EXIT_INVALID: u8 = 2;

/// Run `launch` with parsed arguments; returns the process exit code.
pub fn run(args: &cli::Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("failed to read the config `{}`", args.config.display()))?;
    let hub_cache = hub_cache_dir(|name| std::env::var(name).ok());
    let model_configs =
        LocalModelConfigs::new(hub_cache, |path: &Path| std::fs::read_to_string(path).ok());
    let script_exists = |script: &str| Path::new(script).is_file();
    let ctx = LoadContext {
        dry_run: args.dry_run,
        script_exists: &script_exists,
        model_configs: &model_configs,
    };
    let mut stderr = std::io::stderr().lock();
    let sweep = match load_sweep(&text, &args.config.display().to_string(), &ctx) {
        Ok(sweep) => sweep,
        Err(errors) => {
            writeln!(stderr, "error: {errors}")?;
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    };
    for warning in &sweep.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    for note in &sweep.notes {
        writeln!(stderr, "note: {note}")?;
    }
    if !args.dry_run {
        writeln!(
            stderr,
            "error: submitting is not available in this build yet; use `--dry-run` to preview"
        )?;
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    print_dry_run(&mut stderr, &sweep)?;
    Ok(ExitCode::SUCCESS)
}

/// Lists every run (name, then run directory) and the cost of submitting them all.
fn print_dry_run(out: &mut impl Write, sweep: &Sweep) -> std::io::Result<()> {
    for run in &sweep.runs {
        writeln!(out, "would submit {}\n    {}", run.name, run.run_dir)?;
    }
    let cost = SweepCost::of(&sweep.runs);
    writeln!(
        out,
        "dry run: {} runs ({} distinct names) would be submitted: {} jobs, {} GPUs, {} GPU-hours",
        sweep.runs.len(),
        sweep.distinct_names(),
        thousands(&cost.jobs.to_string()),
        thousands(&cost.gpus.to_string()),
        thousands(&format!("{:.1}", cost.gpu_hours)),
    )?;
    if cost.without_time_limit > 0 {
        writeln!(
            out,
            "{} runs without a time limit (not in the GPU-hours)",
            cost.without_time_limit
        )?;
    }
    Ok(())
}

/// A decimal number with `,` between thousands: `3002.8` -> `3,002.8`.
fn thousands(number: &str) -> String {
    let (int, frac) = number
        .split_once('.')
        .map_or((number, None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands("3002.8"), "3,002.8");
        assert_eq!(thousands("1514"), "1,514");
        assert_eq!(thousands("759"), "759");
        assert_eq!(thousands("1234567"), "1,234,567");
        assert_eq!(thousands("0.5"), "0.5");
    }
}
