//! Snapshots of the expansion of every config in the repository's `configs/` folder, so that
//! the examples cannot rot: each must load, and its runs (name, run directory, GPUs, time)
//! are pinned.

use crate::common;

use std::fmt::Write as _;

use bench_core::sweep::Sweep;

fn describe(sweep: &Sweep) -> String {
    let mut out = String::new();
    let settings = &sweep.settings;
    let gpus: u32 = sweep.runs.iter().map(|r| r.gpus).sum();
    writeln!(out, "script: {}", settings.script).unwrap();
    writeln!(out, "continue_on_failure: {}", settings.continue_on_failure).unwrap();
    writeln!(out, "strict_args: {}", settings.strict_args).unwrap();
    writeln!(out, "slurm: {:?}", settings.slurm).unwrap();
    writeln!(
        out,
        "{} runs, {} distinct names, {gpus} GPUs",
        sweep.runs.len(),
        sweep.distinct_names()
    )
    .unwrap();
    for warning in &sweep.warnings {
        writeln!(out, "warning: {warning}").unwrap();
    }
    for note in &sweep.notes {
        writeln!(out, "note: {note}").unwrap();
    }
    for run in &sweep.runs {
        writeln!(
            out,
            "{}  {}  gpus={} time={}",
            run.name,
            run.run_dir,
            run.gpus,
            run.time.as_deref().unwrap_or("-")
        )
        .unwrap();
    }
    for stage in &sweep.stages {
        writeln!(
            out,
            "stage {} from {} inherit {:?} top {}: {} runs per winner, {} probe runs",
            stage.name,
            stage.source,
            stage.inherit,
            stage.top,
            stage.runs_per_winner,
            stage.probe.len()
        )
        .unwrap();
    }
    out
}

#[test]
fn every_config_in_configs_expands_as_snapshotted() {
    let folder = common::repo_config("");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("cannot list `{}`: {e}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "expected the sample and the examples in {}",
        folder.display()
    );
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let sweep = common::load(&text)
            .unwrap_or_else(|errors| panic!("`{}` is refused:\n{errors}", path.display()));
        insta::assert_snapshot!(name, describe(&sweep));
    }
}
