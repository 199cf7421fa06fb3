//! `gen-results`: writes a deterministic, synthetic results tree in the layout the inference
//! script writes (shared contract 1 section 4), for benchmarking `analyze`.
//!
//! Every run gets a SLURM `.out` file, a vLLM server log of about `--log-bytes` bytes with a
//! realistic line mix (start-up noise, one request line per finished request, a metrics record
//! about every ten seconds of log time) and, unless it failed, datatrove's `stats.json`. Some
//! runs fail (out of memory, time limit) and some have two attempts (two `.out` files). The same
//! `--seed` gives byte-identical trees.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Parser;

/// Write a synthetic results tree for benchmarking `analyze`.
#[derive(Debug, Parser)]
#[command(name = "gen-results", version)]
struct Args {
    /// Folder to create the tree in (must not exist yet, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of run directories.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    runs: usize,
    /// Approximate size of each server log, in bytes.
    #[arg(long, default_value_t = 2_000_000, value_name = "BYTES")]
    log_bytes: u64,
    /// Number of experiments the runs are spread over.
    #[arg(long, default_value_t = 4, value_name = "N")]
    experiments: usize,
    /// Percent of runs that fail (no stats.json; OOM or time limit in the .out).
    #[arg(long, default_value_t = 10, value_name = "PERCENT")]
    failure_percent: u64,
    /// Percent of runs with two attempts (two .out files).
    #[arg(long, default_value_t = 5, value_name = "PERCENT")]
    duplicate_percent: u64,
    /// Seed of the pseudo-random generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const MODELS: [&str; 8] = [
    "SmolLM2_135M_Instruct",
    "SmolLM2_360M_Instruct",
    "gemma_3_270m_it",
    "Qwen3_0.6B",
    "gemma_3_1b_it",
    "Qwen3_1.7B",
    "Qwen3_4B",
    "Qwen3_8B",
];
const TPS: [u32; 3] = [1, 2, 4];
const MNS: [u32; 5] = [256, 512, 1024, 2048, 4096];
const MNBT: [u32; 3] = [8192, 16384, 32768];
const GMU: [u32; 2] = [90, 95];
const ANSI_PREFIX: &str = "\u{1b}[1;36m(APIServer pid=5151)\u{1b}[0;0m ";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.experiments == 0 {
        bail!("--experiments must be at least 1");
    }
    let per_experiment = MODELS.len() * TPS.len() * MNS.len() * MNBT.len() * GMU.len();
    if args.runs.div_ceil(args.experiments) > per_experiment {
        bail!("at most {per_experiment} runs per experiment: raise --experiments");
    }
    if args.out.exists() && fs::read_dir(&args.out)?.next().is_some() {
        bail!("`{}` exists and is not empty", args.out.display());
    }
    let mut rng = fastrand::Rng::with_seed(args.seed);
    for index in 0..args.runs {
        let run = RunSpec::new(index, args.experiments);
        let dir = args.out.join(run.relative_dir());
        let outcome = if rng.u64(0..100) < args.failure_percent {
            if rng.bool() {
                Outcome::Oom
            } else {
                Outcome::Timeout
            }
        } else {
            Outcome::Completed
        };
        let attempts = if rng.u64(0..100) < args.duplicate_percent {
            2
        } else {
            1
        };
        write_run(&dir, &run, outcome, attempts, args.log_bytes, &mut rng)
            .with_context(|| format!("failed to write `{}`", dir.display()))?;
    }
    Ok(())
}

/// The configuration of one synthetic run, derived from its index.
struct RunSpec {
    experiment: String,
    model: &'static str,
    tp: u32,
    mns: u32,
    mnbt: u32,
    gmu: u32,
    job_id: u64,
}

impl RunSpec {
    fn new(index: usize, experiments: usize) -> Self {
        let experiment = index % experiments;
        let mut slot = index / experiments;
        let mut pick = |len: usize| {
            let value = slot % len;
            slot /= len;
            value
        };
        let model = MODELS[pick(MODELS.len())];
        let tp = TPS[pick(TPS.len())];
        let mns = MNS[pick(MNS.len())];
        let mnbt = MNBT[pick(MNBT.len())];
        let gmu = GMU[pick(GMU.len())];
        RunSpec {
            experiment: format!("tier{}-exp{experiment}", experiment % 2),
            model,
            tp,
            mns,
            mnbt,
            gmu,
            job_id: 100_000 + 10 * index as u64,
        }
    }

    fn relative_dir(&self) -> PathBuf {
        let RunSpec {
            experiment,
            model,
            tp,
            mns,
            mnbt,
            gmu,
            ..
        } = self;
        PathBuf::from(format!(
            "{experiment}/tutorial/{model}/tp{tp}-pp1-dp1/mns_{mns}/mnbt_{mnbt}/gmu_{gmu}/bs_16/kvc_auto/spec_none/quant_none"
        ))
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Completed,
    Oom,
    Timeout,
}

fn write_run(
    dir: &Path,
    run: &RunSpec,
    outcome: Outcome,
    attempts: u64,
    log_bytes: u64,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let logs = dir.join("inference_logs");
    fs::create_dir_all(logs.join("slurm_logs"))?;
    fs::create_dir_all(logs.join("server_logs"))?;
    for attempt in 0..attempts {
        let job_id = run.job_id + attempt;
        let last = attempt + 1 == attempts;
        let mut out = String::new();
        out.push_str("starting inference\n");
        out.push_str(
            "2026-11-02 10:00:00.000 | INFO     | datatrove.utils.logging:add_task_logger:58 - Launching pipeline for rank=0\n",
        );
        match (last, outcome) {
            (false, _) => writeln!(
                out,
                "slurmstepd-node07: error: *** JOB {job_id} ON node07 CANCELLED AT 2026-11-02T10:05:00 DUE TO PREEMPTION ***"
            )?,
            (true, Outcome::Completed) => out.push_str(
                "2026-11-02 10:30:00.000 | INFO     | datatrove.executor.local:run:150 - Processing done for rank=0\n",
            ),
            (true, Outcome::Oom) => out.push_str(
                "Traceback (most recent call last):\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n",
            ),
            (true, Outcome::Timeout) => writeln!(
                out,
                "slurmstepd-node07: error: *** JOB {job_id} ON node07 CANCELLED AT 2026-11-02T12:00:00 DUE TO TIME LIMIT ***"
            )?,
        }
        fs::write(logs.join(format!("slurm_logs/{job_id}_0.out")), out)?;
    }
    write_server_log(&logs.join("server_logs/server_rank_0.log"), log_bytes, rng)?;
    if outcome == Outcome::Completed {
        fs::write(logs.join("stats.json"), stats_json(run, rng))?;
    }
    Ok(())
}

/// A server log of about `target` bytes: start-up noise, then request lines with a metrics
/// record after every 40 to 80 of them (about one record per ten seconds of a busy server).
fn write_server_log(path: &Path, target: u64, rng: &mut fastrand::Rng) -> anyhow::Result<()> {
    let mut file = BufWriter::with_capacity(1 << 20, fs::File::create(path)?);
    let mut written = 0u64;
    let startup = [
        "INFO 11-02 08:00:00 [api_server.py:1880] vLLM API server version 0.11.1",
        "INFO 11-02 08:00:01 [utils.py:328] non-default args: {'model': 'Qwen/Qwen3-4B', 'max_num_seqs': 512}",
        "INFO 11-02 08:00:05 [model.py:547] Resolved architecture: Qwen3ForCausalLM",
        "INFO 11-02 08:00:05 [model.py:1510] Using max model len 8192",
        "INFO 11-02 08:00:07 [gpu_model_runner.py:2602] Starting to load model Qwen/Qwen3-4B...",
        "INFO 11-02 08:00:09 [default_loader.py:267] Loading weights took 1.87 seconds",
        "INFO 11-02 08:00:21 [gpu_worker.py:298] Available KV cache memory: 58.74 GiB",
        "INFO 11-02 08:00:21 [kv_cache_utils.py:1087] GPU KV cache size: 427,728 tokens",
        "INFO 11-02 08:00:35 [core.py:210] init engine (profile, create kv cache, warmup model) took 26.33 seconds",
        "INFO 11-02 08:00:36 [api_server.py:1971] Starting vLLM API server 0 on http://0.0.0.0:8000",
        "INFO:     Started server process [5151]",
        "INFO:     Application startup complete.",
    ];
    for line in startup {
        written += write_line(&mut file, line)?;
    }
    let mut second = 40u64;
    while written < target {
        let requests = rng.u64(40..80);
        for _ in 0..requests {
            let port = rng.u32(30_000..60_000);
            written += write_line(
                &mut file,
                &format!(
                    "INFO:     127.0.0.1:{port} - \"POST /v1/chat/completions HTTP/1.1\" 200 OK"
                ),
            )?;
        }
        second += 10;
        let record = format!(
            "INFO 11-02 {:02}:{:02}:{:02} [loggers.py:271] Engine 000: Avg prompt throughput: {}.{} tokens/s, Avg generation throughput: {}.{} tokens/s, Running: {} reqs, Waiting: {} reqs, GPU KV cache usage: {}.{}%, Prefix cache hit rate: {}.{}%",
            8 + (second / 3600) % 16,
            (second / 60) % 60,
            second % 60,
            rng.u32(0..20_000),
            rng.u32(0..10),
            rng.u32(0..8_000),
            rng.u32(0..10),
            rng.u32(0..512),
            rng.u32(0..1_000),
            rng.u32(0..100),
            rng.u32(0..10),
            rng.u32(0..100),
            rng.u32(0..10),
        );
        written += write_line(&mut file, &record)?;
    }
    file.flush()?;
    Ok(())
}

/// Write one log line with vLLM 0.10+'s coloured process prefix; returns the bytes written.
fn write_line(file: &mut impl Write, line: &str) -> std::io::Result<u64> {
    writeln!(file, "{ANSI_PREFIX}{line}")?;
    Ok((ANSI_PREFIX.len() + line.len() + 1) as u64)
}

/// A `stats.json` shaped as datatrove writes it (a reader step, the `Model call` step, a
/// writer step), with plausible totals.
fn stats_json(run: &RunSpec, rng: &mut fastrand::Rng) -> String {
    let requests = 10_000u64;
    let prompt = requests * u64::from(rng.u32(800..1_200));
    let completion = requests * u64::from(rng.u32(400..700));
    let inference_time = 60.0 + f64::from(rng.u32(0..60_000)) / 100.0 / f64::from(run.tp);
    let e2e = inference_time + 3.5;
    format!(
        r#"[
  {{"name": "📖 - READER: 🤗 HuggingFace", "time_stats": {{"total": 2.3, "n": 10, "mean": 0.23}}, "stats": {{"documents": {{"total": {requests}}}}}}},
  {{"name": "Model call: Inference 🔍", "time_stats": {{"total": {e2e}, "mean": {e2e}}}, "stats": {{
    "inference_time": {{"total": {inference_time}, "mean": {inference_time}, "unit": "seconds"}},
    "prompt_tokens": {{"total": {prompt}, "n": {requests}, "mean": {pmean}}},
    "completion_tokens": {{"total": {completion}, "n": {requests}, "mean": {cmean}}},
    "successful_requests": {{"total": {requests}}},
    "failed_requests": 0}}}},
  {{"name": "💽 - WRITER: 🐿 Jsonl", "time_stats": {{"total": 1.2, "mean": 0.0001}}, "stats": {{}}}}
]
"#,
        pmean = prompt as f64 / requests as f64,
        cmean = completion as f64 / requests as f64,
    )
}
