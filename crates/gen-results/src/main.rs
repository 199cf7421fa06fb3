//! `gen-results`: writes a deterministic, synthetic results tree in the layout the inference
//! script writes (`docs/run-directory.md`), for benchmarking `analyze`.
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
use bench_core::layout::{PathFields, RunDir};
use clap::Parser;

/// Write a synthetic results tree for benchmarking `analyze`.
#[derive(Debug, Parser)]
#[command(name = "gen-results", version)]
struct Args {
    /// Directory to create the tree in (must not exist yet, or be empty).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of run directories.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    runs: usize,
    /// Approximate size of each server log, in bytes: the log ends with the ten-second
    /// interval of requests that reaches it (at most about 130 KB more).
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
    /// Server logs dense with records: each ten-second interval is one request line, one
    /// metrics record and one speculative-decoding record (a third of the lines are metrics
    /// records), the worst case for parsing.
    #[arg(long)]
    dense: bool,
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
        let dir = run.run_dir(&args.out);
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
        write_run(&dir, &run, outcome, attempts, &args, &mut rng)
            .with_context(|| format!("failed to write `{dir}`"))?;
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

    /// The run directory below `out`, as `launch` computes it (prompt `tutorial`, vLLM's
    /// defaults for what the spec does not set).
    fn run_dir(&self, out: &Path) -> RunDir {
        PathFields {
            output_dir: out.display().to_string(),
            experiment: self.experiment.clone(),
            prompt_template_name: Some("tutorial".to_owned()),
            model: self.model.to_owned(),
            tp: self.tp,
            max_num_seqs: self.mns.into(),
            max_num_batched_tokens: self.mnbt.into(),
            gpu_memory_utilization: f64::from(self.gmu) / 100.0,
            ..PathFields::default()
        }
        .run_dir()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Completed,
    Oom,
    Timeout,
}

fn write_run(
    dir: &RunDir,
    run: &RunSpec,
    outcome: Outcome,
    attempts: u64,
    args: &Args,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let slurm_logs = PathBuf::from(dir.slurm_logs());
    fs::create_dir_all(&slurm_logs)?;
    fs::create_dir_all(dir.server_logs())?;
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
        fs::write(slurm_logs.join(format!("{job_id}_0.out")), out)?;
    }
    write_server_log(
        &Path::new(&dir.server_logs()).join("server_rank_0.log"),
        args.log_bytes,
        args.dense,
        outcome,
        rng,
    )?;
    if outcome == Outcome::Completed {
        fs::write(dir.stats_json(), stats_json(run, rng))?;
    }
    Ok(())
}

/// vLLM's process-name prefix, in cyan as it writes into a redirected file.
fn prefix(process: &str, pid: u32) -> String {
    format!("\u{1b}[1;36m({process} pid={pid})\u{1b}[0;0m ")
}

/// The processes of one vLLM server and its pace.
struct Server {
    api: String,
    engine: String,
    api_pid: u32,
    /// Requests finished per ten seconds (the interval of vLLM's metrics record).
    requests_per_interval: u64,
}

impl Server {
    fn new(rng: &mut fastrand::Rng) -> Self {
        let api_pid = rng.u32(1_000..60_000);
        Server {
            api: prefix("APIServer", api_pid),
            engine: prefix("EngineCore_DP0", api_pid + rng.u32(100..200)),
            api_pid,
            // From a large model with long outputs to a tiny one: 5 to 100 requests/s.
            requests_per_interval: rng.u64(50..1_000),
        }
    }
}

/// Counts what is written, so the log stops near its target size.
struct LogWriter<W: Write> {
    out: W,
    written: u64,
    line: String,
}

impl<W: Write> LogWriter<W> {
    /// One line: `prefix` (a process prefix, or empty for text a library printed itself)
    /// and `text`, then a line end.
    fn line(&mut self, prefix: &str, text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
        self.line.clear();
        self.line.push_str(prefix);
        let _ = self.line.write_fmt(text);
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        self.written += self.line.len() as u64;
        Ok(())
    }
}

/// The clock of a log line, `MM-DD HH:MM:SS`, `second` seconds after 08:00:00.
fn clock(second: u64) -> String {
    format!(
        "11-02 {:02}:{:02}:{:02}",
        (8 + second / 3600) % 24,
        (second / 60) % 60,
        second % 60
    )
}

/// A server log of about `target` bytes, as vLLM 0.11 writes it when datatrove starts it:
/// start-up noise from the API server and the engine core (a config line of a few KB, torch
/// compile, a progress bar redrawn with carriage returns, the route list), then one uvicorn
/// line per finished request with a metrics record every ten seconds, then the shutdown. A
/// run that ran out of memory ends with the engine's traceback.
fn write_server_log(
    path: &Path,
    target: u64,
    dense: bool,
    outcome: Outcome,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<()> {
    let server = Server::new(rng);
    let mut log = LogWriter {
        out: BufWriter::with_capacity(1 << 20, fs::File::create(path)?),
        written: 0,
        line: String::new(),
    };
    write_startup(&mut log, &server, rng)?;
    let (api, engine) = (server.api.as_str(), server.engine.as_str());
    let mut second = 60u64;
    while log.written < target {
        let jitter = server.requests_per_interval / 5;
        let requests = if dense {
            1
        } else {
            rng.u64(server.requests_per_interval - jitter..=server.requests_per_interval + jitter)
        };
        for _ in 0..requests {
            let port = rng.u32(30_000..60_000);
            log.line(
                api,
                format_args!(
                    "INFO:     127.0.0.1:{port} - \"POST /v1/chat/completions HTTP/1.1\" 200 OK"
                ),
            )?;
        }
        if rng.u32(0..6) == 0 {
            let port = rng.u32(30_000..60_000);
            log.line(
                api,
                format_args!("INFO:     127.0.0.1:{port} - \"GET /health HTTP/1.1\" 200 OK"),
            )?;
        }
        second += 10;
        log.line(
            api,
            format_args!(
                "INFO {} [loggers.py:271] Engine 000: Avg prompt throughput: {}.{} tokens/s, Avg generation throughput: {}.{} tokens/s, Running: {} reqs, Waiting: {} reqs, GPU KV cache usage: {}.{}%, Prefix cache hit rate: {}.{}%",
                clock(second),
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
            ),
        )?;
        if dense {
            let drafted = rng.u32(1..4_000);
            log.line(
                api,
                format_args!(
                    "INFO {} [loggers.py:123] Engine 000: SpecDecoding metrics: Draft acceptance rate: {}.{}%, Mean acceptance length: {}.{:02}, Accepted throughput: {}.{:02} tokens/s, Drafted throughput: {}.{:02} tokens/s, Accepted: {} tokens, Drafted: {drafted} tokens, Per-position acceptance rate: 0.{}, 0.{}, 0.{}",
                    clock(second),
                    rng.u32(0..100),
                    rng.u32(0..10),
                    rng.u32(1..4),
                    rng.u32(0..100),
                    rng.u32(0..400),
                    rng.u32(0..100),
                    rng.u32(0..400),
                    rng.u32(0..100),
                    rng.u32(0..drafted),
                    rng.u32(100..999),
                    rng.u32(100..999),
                    rng.u32(100..999),
                ),
            )?;
        }
    }
    let end = clock(second + 5);
    if outcome == Outcome::Oom {
        for text in [
            "ERROR {end} [core.py:710] EngineCore encountered a fatal error.",
            "ERROR {end} [core.py:710] Traceback (most recent call last):",
            "ERROR {end} [core.py:710]   File \"/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py\", line 701, in run_engine_core",
            "ERROR {end} [core.py:710] torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.95 GiB. GPU 0 has a total capacity of 79.19 GiB of which 1.02 GiB is free.",
        ] {
            log.line(engine, format_args!("{}", text.replace("{end}", &end)))?;
        }
    } else {
        log.line(
            api,
            format_args!("INFO {end} [launcher.py:99] Shutting down FastAPI HTTP server."),
        )?;
        for text in [
            "INFO:     Shutting down",
            "INFO:     Waiting for application shutdown.",
            "INFO:     Application shutdown complete.",
        ] {
            log.line(api, format_args!("{text}"))?;
        }
    }
    log.out.flush()?;
    Ok(())
}

/// vLLM's start-up: about 10 KB from the API server, the engine core and the libraries.
fn write_startup<W: Write>(
    log: &mut LogWriter<W>,
    server: &Server,
    rng: &mut fastrand::Rng,
) -> std::io::Result<()> {
    let (api, engine, pid) = (server.api.as_str(), server.engine.as_str(), server.api_pid);
    let t = |s: u64| clock(s);
    log.line(
        api,
        format_args!(
            "INFO {} [api_server.py:1839] vLLM API server version 0.11.0",
            t(0)
        ),
    )?;
    log.line(api, format_args!("INFO {} [utils.py:233] non-default args: {{'model_tag': 'Qwen/Qwen3-4B', 'host': '0.0.0.0', 'model': 'Qwen/Qwen3-4B', 'max_model_len': 8192, 'gpu_memory_utilization': 0.9, 'max_num_batched_tokens': 8192, 'max_num_seqs': 256}}", t(0)))?;
    log.line(
        api,
        format_args!(
            "INFO {} [model.py:547] Resolved architecture: Qwen3ForCausalLM",
            t(5)
        ),
    )?;
    log.line(
        api,
        format_args!("`torch_dtype` is deprecated! Use `dtype` instead!"),
    )?;
    log.line(
        api,
        format_args!("INFO {} [model.py:1510] Using max model len 8192", t(5)),
    )?;
    log.line(api, format_args!("INFO {} [scheduler.py:205] Chunked prefill is enabled with max_num_batched_tokens=8192.", t(5)))?;
    log.line(
        engine,
        format_args!(
            "INFO {} [core.py:644] Waiting for init message from front-end.",
            t(9)
        ),
    )?;
    // The engine's configuration: one line of a few KB.
    let mut config = String::from(
        "Initializing a V1 LLM engine (v0.11.0) with config: model='Qwen/Qwen3-4B', speculative_config=None, tokenizer='Qwen/Qwen3-4B', skip_tokenizer_init=False, tokenizer_mode=auto, revision=None, tokenizer_revision=None, trust_remote_code=False, dtype=torch.bfloat16, max_seq_len=8192, download_dir=None, load_format=auto, tensor_parallel_size=1, pipeline_parallel_size=1, data_parallel_size=1, disable_custom_all_reduce=False, quantization=None, enforce_eager=False, kv_cache_dtype=auto, device_config=cuda, seed=0, served_model_name=Qwen/Qwen3-4B, enable_prefix_caching=True, chunked_prefill_enabled=True, pooler_config=None, compilation_config=",
    );
    config.push_str("{\"level\":3,\"debug_dump_path\":\"\",\"cache_dir\":\"\",\"backend\":\"\",\"custom_ops\":[],\"splitting_ops\":[\"vllm.unified_attention\",\"vllm.unified_attention_with_output\",\"vllm.mamba_mixer2\",\"vllm.mamba_mixer\",\"vllm.short_conv\",\"vllm.linear_attention\",\"vllm.plamo2_mamba_mixer\",\"vllm.gdn_attention\",\"vllm.sparse_attn_indexer\"],\"use_inductor\":true,\"compile_sizes\":[],\"inductor_compile_config\":{\"enable_auto_functionalized_v2\":false},\"use_cudagraph\":true,\"cudagraph_num_of_warmups\":1,\"cudagraph_capture_sizes\":[");
    let sizes: Vec<String> = (1..=64u32).rev().map(|i| (i * 8).to_string()).collect();
    config.push_str(&sizes.join(","));
    config.push_str("],\"cudagraph_copy_inputs\":false,\"full_cuda_graph\":false,\"max_capture_size\":512,\"local_cache_dir\":null}");
    log.line(engine, format_args!("INFO {} [core.py:77] {config}", t(9)))?;
    log.line(engine, format_args!("INFO {} [parallel_state.py:1208] rank 0 in world size 1 is assigned as DP rank 0, PP rank 0, TP rank 0, EP rank 0", t(10)))?;
    log.line(
        engine,
        format_args!(
            "INFO {} [topk_topp_sampler.py:55] Using FlashInfer for top-p & top-k sampling.",
            t(10)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [gpu_model_runner.py:2602] Starting to load model Qwen/Qwen3-4B...",
            t(10)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [gpu_model_runner.py:2634] Loading model from scratch...",
            t(11)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [cuda.py:366] Using Flash Attention backend on V1 engine.",
            t(11)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [weight_utils.py:392] Using model weights format ['*.safetensors']",
            t(11)
        ),
    )?;
    // A progress bar redrawn with carriage returns: one long physical line.
    let mut bar = String::new();
    for shard in 0..=3u32 {
        let _ = write!(
            bar,
            "\rLoading safetensors checkpoint shards: {:>3}% Completed | {shard}/3 [00:0{shard}<00:00,  1.{}it/s]",
            shard * 100 / 3,
            rng.u32(10..99)
        );
    }
    log.line(engine, format_args!("{bar}"))?;
    log.line(
        engine,
        format_args!(
            "INFO {} [default_loader.py:267] Loading weights took 1.87 seconds",
            t(13)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [gpu_model_runner.py:2653] Model loading took 7.6 GiB and 2.31 seconds",
            t(13)
        ),
    )?;
    log.line(engine, format_args!("INFO {} [backends.py:548] Using cache directory: /root/.cache/vllm/torch_compile_cache/3f2a9c1b7e/rank_0_0/backbone for vLLM's torch.compile", t(19)))?;
    log.line(
        engine,
        format_args!(
            "INFO {} [backends.py:559] Dynamo bytecode transform time: 6.12 s",
            t(19)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [backends.py:218] Compiling a graph for dynamic shape takes 22.48 s",
            t(41)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [monitor.py:34] torch.compile takes 28.60 s in total",
            t(42)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [gpu_worker.py:298] Available KV cache memory: 58.74 GiB",
            t(43)
        ),
    )?;
    log.line(
        engine,
        format_args!(
            "INFO {} [kv_cache_utils.py:1087] GPU KV cache size: 427,728 tokens",
            t(43)
        ),
    )?;
    log.line(engine, format_args!("INFO {} [kv_cache_utils.py:1091] Maximum concurrency for 8,192 tokens per request: 52.21x", t(43)))?;
    let mut bar = String::new();
    for step in (0..=67u32).step_by(4) {
        let _ = write!(
            bar,
            "\rCapturing CUDA graphs (mixed prefill-decode, PIECEWISE): {:>3}%|{:<10}| {step}/67 [00:0{}<00:0{}, {}.{}it/s]",
            step * 100 / 67,
            "#".repeat((step * 10 / 67) as usize),
            step / 20,
            3 - step / 23,
            rng.u32(10..30),
            rng.u32(0..10)
        );
    }
    log.line(engine, format_args!("{bar}"))?;
    log.line(
        engine,
        format_args!(
            "INFO {} [gpu_model_runner.py:3480] Graph capturing finished in 5 secs, took 0.53 GiB",
            t(49)
        ),
    )?;
    log.line(engine, format_args!("INFO {} [core.py:210] init engine (profile, create kv cache, warmup model) took 40.33 seconds", t(50)))?;
    log.line(api, format_args!("INFO {} [loggers.py:147] Engine 000: vllm cache_config_info with initialization after num_gpu_blocks is: 26733", t(51)))?;
    log.line(
        api,
        format_args!(
            "INFO {} [api_server.py:1634] Supported_tasks: ['generate']",
            t(51)
        ),
    )?;
    log.line(api, format_args!("WARNING {} [model.py:1389] Default sampling parameters have been overridden by the model's Hugging Face generation config recommended from the model creator. If this is not intended, please relaunch vLLM instance with `--generation-config vllm`.", t(51)))?;
    log.line(
        api,
        format_args!(
            "INFO {} [api_server.py:1912] Starting vLLM API server 0 on http://0.0.0.0:8000",
            t(51)
        ),
    )?;
    log.line(
        api,
        format_args!("INFO {} [launcher.py:34] Available routes are:", t(51)),
    )?;
    for route in [
        "/openapi.json, Methods: HEAD, GET",
        "/docs, Methods: HEAD, GET",
        "/health, Methods: GET",
        "/load, Methods: GET",
        "/ping, Methods: POST",
        "/tokenize, Methods: POST",
        "/detokenize, Methods: POST",
        "/v1/models, Methods: GET",
        "/version, Methods: GET",
        "/v1/responses, Methods: POST",
        "/v1/chat/completions, Methods: POST",
        "/v1/completions, Methods: POST",
        "/v1/embeddings, Methods: POST",
        "/pooling, Methods: POST",
        "/metrics, Methods: GET",
    ] {
        log.line(
            api,
            format_args!("INFO {} [launcher.py:42] Route: {route}", t(51)),
        )?;
    }
    log.line(
        api,
        format_args!("INFO:     Started server process [{pid}]"),
    )?;
    log.line(
        api,
        format_args!("INFO:     Waiting for application startup."),
    )?;
    log.line(api, format_args!("INFO:     Application startup complete."))?;
    for _ in 0..3 {
        let port = rng.u32(30_000..60_000);
        log.line(
            api,
            format_args!("INFO:     127.0.0.1:{port} - \"GET /health HTTP/1.1\" 200 OK"),
        )?;
    }
    log.line(api, format_args!("INFO {} [chat_utils.py:560] Detected the chat template content format to be 'string'. You can set `--chat-template-content-format` to override this.", t(55)))?;
    Ok(())
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
