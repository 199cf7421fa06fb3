//! The run-state rule (`docs/launch.md`), used by both `launch` and `analyze`.
//!
//! A run is, in this order: **completed** (its stats are valid), **in flight** (the queue
//! lists its latest submission), **failed** with a class (its latest attempt's `.out` and
//! its server log name one), or **unknown**. The files are read through [`RunFiles`], so
//! the rule itself touches no file system.

use std::collections::{BTreeSet, HashMap};
use std::io::Cursor;

use serde::{Deserialize, Deserializer, Serialize};

use crate::failure::{self, FailureClass};
use crate::stats::{self, StatsError, StatsTotals};

use crate::layout::rel::{
    EXECUTOR_JSON, SERVER_LOGS_DIR, SLURM_LOGS_DIR, STATS_JSON, SUBMISSIONS_JSONL, TASK_STATS_DIR,
};

/// What the run-state rule reads from one run directory; binaries implement it over the
/// file system, tests over a map ([`MemoryRunFiles`]).
pub trait RunFiles {
    /// Bytes of a file below the run directory (e.g. `inference_logs/stats.json`);
    /// `Ok(None)` when absent.
    fn read(&self, rel_path: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// File names (not paths) in a folder below the run directory, sorted; empty when the
    /// folder is absent.
    fn list(&self, rel_dir: &str) -> std::io::Result<Vec<String>>;
    /// [`failure::classes_in_reader`] of a file below the run directory; empty when absent.
    fn failure_classes(&self, rel_path: &str) -> std::io::Result<Vec<FailureClass>>;
}

/// The two numbers of `{jobid}_{n}.out`: job id and task index (`(0, 0)` for other
/// names), by which attempts are ordered (`docs/results.md`).
pub fn out_file_ids(file_name: &str) -> (u64, u64) {
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    file_name
        .strip_suffix(".out")
        .and_then(|stem| stem.split_once('_'))
        .and_then(|(job, task)| Some((number(job)?, number(task)?)))
        .unwrap_or((0, 0))
}

/// Completion of a run (`docs/launch.md` rule 1, `docs/results.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// The stats are valid: from `stats.json`, or merged from `merged_tasks` per-task
    /// files when `stats.json` is absent (`Some(N)`).
    Completed {
        /// The values read from the stats.
        totals: StatsTotals,
        /// `Some(N)` when N per-task files were merged.
        merged_tasks: Option<usize>,
    },
    /// `stats.json` is present but not valid.
    Unreadable(StatsError),
    /// `stats.json` is absent, and the per-task files are missing, fewer than
    /// `executor.json` names, or could not be merged.
    NotFound,
}

/// Whether the run completed, from `stats.json`, else from the per-task stats files when
/// `executor.json` names N tasks and N such files are present (`docs/results.md`): the
/// files `00000.json` to `{N-1:05}.json` when all present, else exactly N `*.json` files.
///
/// Errors: only those of `files`.
pub fn completion(files: &dyn RunFiles) -> std::io::Result<Completion> {
    if let Some(bytes) = files.read(STATS_JSON)? {
        return Ok(match stats::parse_stats(&bytes) {
            Ok(totals) => Completion::Completed {
                totals,
                merged_tasks: None,
            },
            Err(err) => Completion::Unreadable(err),
        });
    }
    let Some(tasks) = files
        .read(EXECUTOR_JSON)?
        .as_deref()
        .and_then(stats::executor_tasks)
    else {
        return Ok(Completion::NotFound);
    };
    let Some(names) = task_stats_names(files, tasks)? else {
        return Ok(Completion::NotFound);
    };
    let mut contents = Vec::with_capacity(names.len());
    for name in &names {
        match files.read(&format!("{TASK_STATS_DIR}/{name}"))? {
            Some(bytes) => contents.push(bytes),
            None => return Ok(Completion::NotFound),
        }
    }
    let slices: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    Ok(match stats::merge_task_stats(&slices) {
        Ok(totals) => Completion::Completed {
            totals,
            merged_tasks: Some(tasks),
        },
        Err(_) => Completion::NotFound,
    })
}

/// The per-task stats files to merge for `tasks` tasks, if they are all there.
#[expect(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "the original's globs (`*.json`, `*.out`) are case-sensitive, as on Linux"
)]
fn task_stats_names(files: &dyn RunFiles, tasks: usize) -> std::io::Result<Option<Vec<String>>> {
    let present: BTreeSet<String> = files
        .list(TASK_STATS_DIR)?
        .into_iter()
        .filter(|name| name.ends_with(".json"))
        .collect();
    // Fewer files than tasks cannot be complete; checked first, so that an `executor.json`
    // naming 10^12 tasks costs nothing.
    if present.len() < tasks {
        return Ok(None);
    }
    let ranked: Vec<String> = (0..tasks).map(|rank| format!("{rank:05}.json")).collect();
    if ranked.iter().all(|name| present.contains(name)) {
        return Ok(Some(ranked));
    }
    Ok((present.len() == tasks).then(|| present.into_iter().collect()))
}

/// Relative path of the run's server log (`docs/results.md`: the first sorted
/// `inference_logs/server_logs/server_rank_*_node_*.log`, else `server_rank_*.log`), if any.
pub fn server_log_path(files: &dyn RunFiles) -> std::io::Result<Option<String>> {
    let names = files.list(SERVER_LOGS_DIR)?;
    let middle = |name: &str| {
        name.strip_prefix("server_rank_")
            .and_then(|rest| rest.strip_suffix(".log"))
            .map(str::to_owned)
    };
    let with_node = names
        .iter()
        .find(|name| middle(name).is_some_and(|m| m.contains("_node_")));
    let any_rank = || names.iter().find(|name| middle(name).is_some());
    Ok(with_node
        .or_else(any_rank)
        .map(|name| format!("{SERVER_LOGS_DIR}/{name}")))
}

/// The file name of the run's latest attempt: the `.out` in `inference_logs/slurm_logs/`
/// with the highest job id, then the highest task index ([`out_file_ids`]; equal numbers:
/// the last name in sorted order). `None` when there is no `.out`.
#[expect(
    clippy::case_sensitive_file_extension_comparisons,
    reason = "the original's globs (`*.json`, `*.out`) are case-sensitive, as on Linux"
)]
pub fn latest_out_file(files: &dyn RunFiles) -> std::io::Result<Option<String>> {
    Ok(files
        .list(SLURM_LOGS_DIR)?
        .into_iter()
        .filter(|name| name.ends_with(".out"))
        .max_by(|a, b| out_file_ids(a).cmp(&out_file_ids(b)).then_with(|| a.cmp(b))))
}

/// Every failure class of one attempt: those of its `.out` (`out_rel_path`, below the run
/// directory) and of the run's server log, highest priority first (`docs/failures.md`).
/// `analyze` classifies each row with this; the first class is the row's `comment`.
pub fn attempt_classes(
    files: &dyn RunFiles,
    out_rel_path: &str,
) -> std::io::Result<Vec<FailureClass>> {
    let mut classes: BTreeSet<FailureClass> =
        files.failure_classes(out_rel_path)?.into_iter().collect();
    if let Some(server_log) = server_log_path(files)? {
        classes.extend(files.failure_classes(&server_log)?);
    }
    Ok(classes.into_iter().collect())
}

/// One line of `squeue --me -h -o "%i|%j|%T|%k"` (`docs/launch.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    /// `%i`: the job id.
    pub job_id: String,
    /// `%j`: the job name.
    pub name: String,
    /// `%T`: the state (`PENDING`, `RUNNING`, ...); any state counts as in flight.
    pub state: String,
    /// `%k`: the comment (`bench:<token>` for our jobs).
    pub comment: String,
}

/// The jobs of an `squeue --me -h -o "%i|%j|%T|%k"` listing. Lines that are not four
/// `|`-separated fields with a job id are skipped; the comment keeps any further `|`.
pub fn parse_squeue(output: &str) -> Vec<QueueEntry> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, '|').map(str::trim);
            let (job_id, name, state, comment) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            (!job_id.is_empty()).then(|| QueueEntry {
                job_id: job_id.to_owned(),
                name: name.to_owned(),
                state: state.to_owned(),
                comment: comment.to_owned(),
            })
        })
        .collect()
}

/// One line of `inference_logs/launch/submissions.jsonl` (`docs/launch.md`): written
/// with `job_id: null` before calling sbatch, and again with the job id once it answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmissionRecord {
    /// The random token of this submission; the job carries `--comment=bench:<token>`.
    pub token: String,
    /// When `launch` was about to call sbatch, UTC, RFC 3339 (`2026-11-29T13:14:05Z`).
    #[serde(default)]
    pub submitted_at: String,
    /// The sbatch command line, as words.
    #[serde(default)]
    pub command: Vec<String>,
    /// The job id sbatch answered (a string; a number is read too), `null` before.
    #[serde(default, deserialize_with = "job_id_text")]
    pub job_id: Option<String>,
}

fn job_id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum JobId {
        Text(String),
        Number(u64),
    }
    Ok(
        Option::<JobId>::deserialize(deserializer)?.map(|id| match id {
            JobId::Text(text) => text,
            JobId::Number(number) => number.to_string(),
        }),
    )
}

/// The run's current submission: the latest line's token, with the job id recorded for
/// that token (if any). Lines that are not a record with a non-empty token (a line cut by
/// an interrupt, say) are skipped.
pub fn latest_submission(jsonl: &[u8]) -> Option<SubmissionRecord> {
    let records: Vec<SubmissionRecord> = jsonl
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<SubmissionRecord>(line).ok())
        .filter(|record| !record.token.is_empty())
        .collect();
    let latest = records.last()?;
    let job_id = records
        .iter()
        .rev()
        .filter(|record| record.token == latest.token)
        .find_map(|record| record.job_id.clone());
    Some(SubmissionRecord {
        job_id,
        ..latest.clone()
    })
}

/// How a queued job was recognised as a run's, strongest evidence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// The job id the run's latest submission record holds.
    RecordedJobId,
    /// The token of the run's latest submission, in the job's comment.
    CommentToken,
    /// The run directory's key ([`crate::layout::RunDir::key`]) in the job's comment: found
    /// even when `submissions.jsonl` is lost or corrupt.
    CommentRunKey,
    /// The job name `{run name}_inference` of datatrove's Python launcher, which leaves no
    /// record (run names are not unique: the weakest evidence).
    OriginalLauncherName,
}

impl Evidence {
    /// How the reason of a `skipped_in_flight` run says it.
    pub fn describe(self) -> &'static str {
        match self {
            Evidence::RecordedJobId => "the job id recorded in submissions.jsonl",
            Evidence::CommentToken => "the submission token in the job's comment",
            Evidence::CommentRunKey => "the run directory's key in the job's comment",
            Evidence::OriginalLauncherName => "the Python launcher's job name `{name}_inference`",
        }
    }
}

/// The queue, indexed once: each run is then matched with a few hash lookups, so a
/// 100,000-run sweep against a 100,000-job queue decides in about a second.
#[derive(Debug, Default)]
pub struct QueueIndex<'q> {
    job_ids: HashMap<&'q str, &'q QueueEntry>,
    tokens: HashMap<&'q str, &'q QueueEntry>,
    run_keys: HashMap<&'q str, &'q QueueEntry>,
    names: HashMap<&'q str, &'q QueueEntry>,
}

impl<'q> QueueIndex<'q> {
    /// The index of `queue` (for several jobs with one key, the first listed is kept).
    pub fn new(queue: &'q [QueueEntry]) -> Self {
        let mut index = QueueIndex::default();
        for entry in queue {
            index.job_ids.entry(&entry.job_id).or_insert(entry);
            index.names.entry(&entry.name).or_insert(entry);
            if let Some((token, key)) = crate::layout::parse_job_comment(&entry.comment) {
                index.tokens.entry(token).or_insert(entry);
                if let Some(key) = key {
                    index.run_keys.entry(key).or_insert(entry);
                }
            }
        }
        index
    }

    /// The queued job whose comment carries submission `token`, if any.
    pub fn by_token(&self, token: &str) -> Option<&'q QueueEntry> {
        self.tokens.get(token).copied()
    }

    /// The queued job of a run, and how it was recognised: by the job id or the token of
    /// its `latest` submission, by its run directory's `run_key` in a comment, or by the
    /// Python launcher's job name `{run_name}_inference`.
    pub fn find_run(
        &self,
        latest: Option<&SubmissionRecord>,
        run_key: &str,
        run_name: &str,
    ) -> Option<(&'q QueueEntry, Evidence)> {
        let recorded = latest.and_then(|latest| {
            latest
                .job_id
                .as_deref()
                .and_then(|job_id| self.job_ids.get(job_id))
                .map(|entry| (*entry, Evidence::RecordedJobId))
                .or_else(|| {
                    self.by_token(&latest.token)
                        .map(|entry| (entry, Evidence::CommentToken))
                })
        });
        recorded
            .or_else(|| {
                self.run_keys
                    .get(run_key)
                    .map(|entry| (*entry, Evidence::CommentRunKey))
            })
            .or_else(|| {
                self.names
                    .get(format!("{run_name}_inference").as_str())
                    .map(|entry| (*entry, Evidence::OriginalLauncherName))
            })
    }
}

/// The state of a run (`docs/launch.md`).
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Its stats are valid (see [`Completion::Completed`]).
    Completed {
        /// The values read from the stats.
        totals: StatsTotals,
        /// `Some(N)` when N per-task files were merged.
        merged_tasks: Option<usize>,
    },
    /// The queue lists its job.
    InFlight {
        /// The queued job's id.
        job_id: String,
        /// How the job was recognised.
        evidence: Evidence,
    },
    /// Its `submissions.jsonl` cannot be read (not a regular file, too large, or no line
    /// is a record) and the queue shows no job of it: whether a job of it is on its way
    /// cannot be told, so it is not submitted.
    RecordsUnreadable {
        /// What is wrong, naming the file.
        reason: String,
    },
    /// Its latest attempt failed, with the highest class found.
    Failed(FailureClass),
    /// None of the above: never submitted, no `.out` left, no class found, or outputs deleted.
    Unknown,
}

/// The identity of a run for the queue: its name (also the job name) and its run
/// directory's key ([`crate::layout::RunDir::key`]).
#[derive(Debug, Clone, Copy)]
pub struct RunIdentity<'a> {
    /// The run name.
    pub name: &'a str,
    /// The run directory's key.
    pub key: &'a str,
}

/// The rule of `docs/launch.md`, in its order: completed, in flight, records unreadable,
/// failed with a class, unknown. `queue` `None` = not read (`squeue` failed in a dry run):
/// never in flight. In flight means [`QueueIndex::find_run`] finds the run's job. The class
/// is that of the latest `.out` ([`latest_out_file`]) together with the server log.
///
/// Errors: only those of `files` (other than reading `submissions.jsonl`, which is a
/// state).
pub fn run_state(
    files: &dyn RunFiles,
    run: RunIdentity<'_>,
    queue: Option<&QueueIndex<'_>>,
) -> std::io::Result<RunState> {
    if let Completion::Completed {
        totals,
        merged_tasks,
    } = completion(files)?
    {
        return Ok(RunState::Completed {
            totals,
            merged_tasks,
        });
    }
    let records = read_records(files);
    if let Some(queue) = queue {
        let latest = records.as_ref().ok().and_then(Option::as_ref);
        if let Some((entry, evidence)) = queue.find_run(latest, run.key, run.name) {
            return Ok(RunState::InFlight {
                job_id: entry.job_id.clone(),
                evidence,
            });
        }
    }
    if let Err(reason) = records {
        return Ok(RunState::RecordsUnreadable { reason });
    }
    let Some(out) = latest_out_file(files)? else {
        return Ok(RunState::Unknown);
    };
    let classes = attempt_classes(files, &format!("{SLURM_LOGS_DIR}/{out}"))?;
    Ok(classes
        .first()
        .map_or(RunState::Unknown, |class| RunState::Failed(*class)))
}

/// The run's latest submission ([`latest_submission`]); `Err` naming the file when it
/// cannot be read or holds text but no record.
pub fn read_records(files: &dyn RunFiles) -> Result<Option<SubmissionRecord>, String> {
    match files.read(SUBMISSIONS_JSONL) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => match latest_submission(&bytes) {
            Some(latest) => Ok(Some(latest)),
            None if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
            None => Err(format!(
                "`{SUBMISSIONS_JSONL}` holds no readable submission record ({} bytes; when no \
                 job of the run is queued, move it away to submit the run again)",
                bytes.len()
            )),
        },
        Err(err) => Err(format!(
            "`{SUBMISSIONS_JSONL}` cannot be read: {err} (when no job of the run is queued, \
             move it away to submit the run again)"
        )),
    }
}

/// A run directory held in memory: paths below the run directory (`/`-separated) to
/// contents. For tests, and for callers that already hold the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryRunFiles {
    files: std::collections::BTreeMap<String, Vec<u8>>,
}

impl MemoryRunFiles {
    /// An empty run directory.
    pub fn new() -> MemoryRunFiles {
        MemoryRunFiles::default()
    }

    /// Add (or replace) a file.
    #[must_use]
    pub fn with(mut self, rel_path: &str, contents: impl Into<Vec<u8>>) -> MemoryRunFiles {
        self.files.insert(rel_path.to_owned(), contents.into());
        self
    }
}

impl RunFiles for MemoryRunFiles {
    fn read(&self, rel_path: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.files.get(rel_path).cloned())
    }

    fn list(&self, rel_dir: &str) -> std::io::Result<Vec<String>> {
        let prefix = format!("{}/", rel_dir.trim_end_matches('/'));
        Ok(self
            .files
            .keys()
            .filter_map(|path| path.strip_prefix(&prefix))
            .filter(|name| !name.contains('/'))
            .map(str::to_owned)
            .collect())
    }

    fn failure_classes(&self, rel_path: &str) -> std::io::Result<Vec<FailureClass>> {
        match self.files.get(rel_path) {
            Some(contents) => failure::classes_in_reader(Cursor::new(contents)),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN_NAME: &str = "tutorial-SmolLM2_135M_Instruct";
    const RUN: RunIdentity<'static> = RunIdentity {
        name: RUN_NAME,
        key: "00c0ffee00c0ffee",
    };

    /// A valid `stats.json` (10 requests, 1,000 prompt and 500 completion tokens).
    const STATS: &str = r#"[{"name": "Model call: Inference", "time_stats": {"total": 12.5},
        "stats": {"prompt_tokens": {"total": 1000, "n": 10, "mean": 100.0},
                  "completion_tokens": {"total": 500, "n": 10, "mean": 50.0},
                  "successful_requests": {"total": 10}, "inference_time": {"total": 11.0}}}]"#;

    const OOM: &str = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n";
    const PREEMPTED: &str = "slurmstepd: error: *** JOB 1000 ON node07 CANCELLED AT 2026-10-01T08:00:00 DUE TO PREEMPTION ***\n";

    fn out(name: &str) -> String {
        format!("{SLURM_LOGS_DIR}/{name}")
    }

    fn queue(lines: &str) -> Vec<QueueEntry> {
        parse_squeue(lines)
    }

    fn submissions(token: &str, job_id: &str) -> String {
        format!(
            "{{\"token\": \"{token}\", \"submitted_at\": \"2026-11-29T13:14:05Z\", \"command\": [\"sbatch\", \"--parsable\", \"sbatch.sh\"], \"job_id\": null}}\n\
             {{\"token\": \"{token}\", \"submitted_at\": \"2026-11-29T13:14:05Z\", \"command\": [\"sbatch\", \"--parsable\", \"sbatch.sh\"], \"job_id\": \"{job_id}\"}}\n"
        )
    }

    #[test]
    fn completed_from_stats_json() {
        let files = MemoryRunFiles::new().with(STATS_JSON, STATS);
        let RunState::Completed {
            totals,
            merged_tasks,
        } = run_state(&files, RUN, None).unwrap()
        else {
            panic!("not completed")
        };
        assert_eq!(merged_tasks, None);
        assert_eq!(
            (
                totals.prompt_tokens_total,
                totals.completion_tokens_total,
                totals.successful_requests
            ),
            (1000, 500, 10)
        );
    }

    #[test]
    fn stats_json_next_to_an_oom_log_is_completed() {
        let files = MemoryRunFiles::new()
            .with(STATS_JSON, STATS)
            .with(&out("1234_0.out"), OOM)
            .with("inference_logs/server_logs/server_rank_0_node_0.log", OOM);
        assert!(matches!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Completed { .. }
        ));
        // Completed wins over a queued job too.
        let listed = queue(&format!("1234|{RUN_NAME}_inference|RUNNING|(null)"));
        assert!(matches!(
            run_state(&files, RUN, Some(&QueueIndex::new(&listed))).unwrap(),
            RunState::Completed { .. }
        ));
    }

    /// Two per-task files as datatrove's SLURM mode writes them, and its executor.json.
    const TASK_0: &str = r#"[{"name": "READER", "time_stats": {"total": 2.0}},
        {"name": "Model call: Inference", "time_stats": {"total": 10.0},
         "stats": {"prompt_tokens": {"total": 400, "n": 4, "mean": 100.0},
                   "completion_tokens": {"total": 100, "n": 4, "mean": 25.0},
                   "successful_requests": {"total": 4}, "failed_requests": 1,
                   "inference_time": {"total": 9.0}}}]"#;
    const TASK_1: &str = r#"[{"name": "READER", "time_stats": {"total": 4.0}},
        {"name": "Model call: Inference", "time_stats": {"total": 20.0},
         "stats": {"prompt_tokens": {"total": 600, "n": 2, "mean": 300.0},
                   "completion_tokens": {"total": 100, "n": 2, "mean": 50.0},
                   "successful_requests": {"total": 2},
                   "inference_time": {"total": 19.0}}}]"#;
    const EXECUTOR: &str =
        r#"{"pipeline": [], "logging_dir": "inference_logs", "tasks": 2, "workers": -1}"#;

    #[test]
    fn per_task_stats_two_of_two_are_merged() {
        let files = MemoryRunFiles::new()
            .with(EXECUTOR_JSON, EXECUTOR)
            .with("inference_logs/stats/00000.json", TASK_0)
            .with("inference_logs/stats/00001.json", TASK_1);
        // By hand: tokens 400 + 600 and 100 + 100; means weighted by n: 1000 / 6 and
        // 200 / 6; requests 4 + 2; inference time 9 + 19; e2e: mean over tasks per step,
        // (2 + 4) / 2 + (10 + 20) / 2 = 18.
        let expected = StatsTotals {
            prompt_tokens_total: 1000,
            completion_tokens_total: 200,
            successful_requests: 6,
            failed_requests: 1,
            mean_input_tokens: Some(1000.0 / 6.0),
            mean_output_tokens: Some(200.0 / 6.0),
            inference_time: Some(28.0),
            e2e_time: Some(18.0),
            malformed: Vec::new(),
        };
        assert_eq!(
            completion(&files).unwrap(),
            Completion::Completed {
                totals: expected.clone(),
                merged_tasks: Some(2)
            }
        );
        assert_eq!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Completed {
                totals: expected,
                merged_tasks: Some(2)
            }
        );
    }

    #[test]
    fn per_task_stats_one_of_two_is_not_completed() {
        let files = MemoryRunFiles::new()
            .with(EXECUTOR_JSON, EXECUTOR)
            .with("inference_logs/stats/00000.json", TASK_0)
            .with(&out("77_0.out"), "slurmstepd: error: *** JOB 77 ON n1 CANCELLED AT 2026-10-01T10:00:00 DUE TO TIME LIMIT ***\n");
        assert_eq!(completion(&files).unwrap(), Completion::NotFound);
        assert_eq!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Failed(FailureClass::Timeout)
        );
    }

    #[test]
    fn per_task_files_without_executor_or_with_other_names() {
        let files = MemoryRunFiles::new()
            .with("inference_logs/stats/00000.json", TASK_0)
            .with("inference_logs/stats/00001.json", TASK_1);
        assert_eq!(completion(&files).unwrap(), Completion::NotFound);
        // Exactly N `*.json` files with other names are merged too.
        let files = MemoryRunFiles::new()
            .with(EXECUTOR_JSON, EXECUTOR)
            .with("inference_logs/stats/a.json", TASK_0)
            .with("inference_logs/stats/b.json", TASK_1)
            .with("inference_logs/stats/notes.txt", "x");
        assert!(matches!(
            completion(&files).unwrap(),
            Completion::Completed {
                merged_tasks: Some(2),
                ..
            }
        ));
        // A stale extra file does not count when the ranked names are all present.
        let files = MemoryRunFiles::new()
            .with(EXECUTOR_JSON, EXECUTOR)
            .with("inference_logs/stats/00000.json", TASK_0)
            .with("inference_logs/stats/00001.json", TASK_1)
            .with("inference_logs/stats/00002.json", "[");
        assert!(matches!(
            completion(&files).unwrap(),
            Completion::Completed {
                merged_tasks: Some(2),
                ..
            }
        ));
    }

    #[test]
    fn unreadable_stats_json_is_not_completed() {
        let files = MemoryRunFiles::new()
            .with(STATS_JSON, &STATS.as_bytes()[..40])
            .with(&out("5_0.out"), OOM);
        assert!(matches!(
            completion(&files).unwrap(),
            Completion::Unreadable(StatsError::Json(_))
        ));
        assert_eq!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Failed(FailureClass::Oom)
        );
    }

    #[test]
    fn in_flight_when_the_queue_lists_the_latest_tokens_job() {
        let files = MemoryRunFiles::new()
            .with(SUBMISSIONS_JSONL, submissions("a1b2c3", "4242"))
            .with(&out("4100_0.out"), OOM);
        // By job id (the comment column may be empty).
        let listed = queue("17|other|RUNNING|bench:zzz\n4242|tutorial|PENDING|(null)\n");
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&listed))).unwrap(),
            RunState::InFlight {
                job_id: "4242".into(),
                evidence: Evidence::RecordedJobId,
            }
        );
        // By the token in the comment (sbatch's answer was lost: no job id recorded).
        let files = MemoryRunFiles::new().with(
            SUBMISSIONS_JSONL,
            r#"{"token": "d4e5", "submitted_at": "2026-11-29T13:14:05Z", "command": ["sbatch"], "job_id": null}"#,
        );
        let listed = queue("4243|tutorial|CONFIGURING|bench:d4e5\n");
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&listed))).unwrap(),
            RunState::InFlight {
                job_id: "4243".into(),
                evidence: Evidence::CommentToken,
            }
        );
    }

    #[test]
    fn an_older_submissions_job_is_not_the_latest() {
        let mut jsonl = submissions("old", "100");
        jsonl.push_str(&submissions("new", "200"));
        let files = MemoryRunFiles::new()
            .with(SUBMISSIONS_JSONL, jsonl)
            .with(&out("200_0.out"), PREEMPTED);
        let listed = queue("100|tutorial|RUNNING|bench:old\n");
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&listed))).unwrap(),
            RunState::Failed(FailureClass::Preempted)
        );
    }

    #[test]
    fn in_flight_when_the_original_launcher_named_the_job() {
        let files = MemoryRunFiles::new();
        let listed = queue(&format!(
            "88|{RUN_NAME}|RUNNING|(null)\n99|{RUN_NAME}_inference|PENDING|(null)\n"
        ));
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&listed))).unwrap(),
            RunState::InFlight {
                job_id: "99".into(),
                evidence: Evidence::OriginalLauncherName,
            }
        );
    }

    #[test]
    fn in_flight_by_the_run_key_when_the_records_are_lost_or_corrupt() {
        // The job carries another token (its record was lost) but this run's key.
        let listed = queue("4300|tutorial|PENDING|bench:lost:00c0ffee00c0ffee\n");
        for records in ["", "\n", "{not json\n\u{0}\u{1}"] {
            let files = MemoryRunFiles::new().with(SUBMISSIONS_JSONL, records);
            assert_eq!(
                run_state(&files, RUN, Some(&QueueIndex::new(&listed))).unwrap(),
                RunState::InFlight {
                    job_id: "4300".into(),
                    evidence: Evidence::CommentRunKey,
                },
                "{records:?}"
            );
        }
        // Another run's key, or the run name without `_inference`, is not this run's job.
        let others = queue(&format!(
            "1|{RUN_NAME}|PENDING|bench:t:ffffffffffffffff\n2|{RUN_NAME}|RUNNING|(null)\n"
        ));
        let files = MemoryRunFiles::new().with(SUBMISSIONS_JSONL, "{not json\n");
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&others))).unwrap(),
            RunState::RecordsUnreadable {
                reason: "`inference_logs/launch/submissions.jsonl` holds no readable submission \
                         record (10 bytes; when no job of the run is queued, move it away to \
                         submit the run again)"
                    .into()
            }
        );
        // An emptied file is no record at all: the run is unknown.
        let files = MemoryRunFiles::new().with(SUBMISSIONS_JSONL, "");
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&others))).unwrap(),
            RunState::Unknown
        );
    }

    #[test]
    fn never_in_flight_without_the_queue() {
        let files = MemoryRunFiles::new().with(SUBMISSIONS_JSONL, submissions("t", "4242"));
        assert_eq!(run_state(&files, RUN, None).unwrap(), RunState::Unknown);
        assert_eq!(
            run_state(&files, RUN, Some(&QueueIndex::new(&[]))).unwrap(),
            RunState::Unknown
        );
    }

    #[test]
    fn failed_with_the_latest_attempts_class() {
        // The older attempt ran out of GPU memory, the newer was preempted. 999 sorts after
        // 1000 as text: the job id decides, as a number.
        let files = MemoryRunFiles::new()
            .with(&out("999_0.out"), OOM)
            .with(&out("1000_0.out"), PREEMPTED);
        assert_eq!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Failed(FailureClass::Preempted)
        );
        // Same job id: the higher task index is the later attempt.
        let files = MemoryRunFiles::new()
            .with(&out("1000_2.out"), OOM)
            .with(&out("1000_10.out"), PREEMPTED);
        assert_eq!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Failed(FailureClass::Preempted)
        );
    }

    #[test]
    fn failed_with_the_server_logs_class() {
        let files = MemoryRunFiles::new()
            .with(&out("1000_0.out"), PREEMPTED)
            .with("inference_logs/server_logs/server_rank_0_node_0.log", OOM);
        assert_eq!(
            run_state(&files, RUN, None).unwrap(),
            RunState::Failed(FailureClass::Oom)
        );
        assert_eq!(
            attempt_classes(&files, &out("1000_0.out")).unwrap(),
            [FailureClass::Oom, FailureClass::Preempted]
        );
    }

    #[test]
    fn unknown_states() {
        // Never submitted.
        assert_eq!(
            run_state(&MemoryRunFiles::new(), RUN, None).unwrap(),
            RunState::Unknown
        );
        // The latest attempt's files carry no class.
        let files = MemoryRunFiles::new()
            .with(&out("1_0.out"), OOM)
            .with(&out("2_0.out"), "Processing done for rank=0\n");
        assert_eq!(run_state(&files, RUN, None).unwrap(), RunState::Unknown);
        // A server log alone is no attempt.
        let files = MemoryRunFiles::new().with("inference_logs/server_logs/server_rank_0.log", OOM);
        assert_eq!(run_state(&files, RUN, None).unwrap(), RunState::Unknown);
    }

    #[test]
    fn out_file_numbers() {
        assert_eq!(out_file_ids("123_0.out"), (123, 0));
        assert_eq!(out_file_ids("4242_17.out"), (4242, 17));
        assert_eq!(out_file_ids("slurm-123.out"), (0, 0));
        assert_eq!(out_file_ids("123_0.err"), (0, 0));
        assert_eq!(out_file_ids("123.out"), (0, 0));
        assert_eq!(out_file_ids("_0.out"), (0, 0));
        assert_eq!(out_file_ids("12_x.out"), (0, 0));
        assert_eq!(out_file_ids("1_2_3.out"), (0, 0));
        assert_eq!(out_file_ids("+1_2.out"), (0, 0));
        assert_eq!(out_file_ids("99999999999999999999_0.out"), (0, 0));
    }

    #[test]
    fn server_log_choice() {
        let dir = SERVER_LOGS_DIR;
        let files = MemoryRunFiles::new()
            .with(&format!("{dir}/server_rank_0.log"), "")
            .with(&format!("{dir}/server_rank_1_node_0.log"), "")
            .with(&format!("{dir}/server_rank_0_node_3.log"), "");
        assert_eq!(
            server_log_path(&files).unwrap().as_deref(),
            Some("inference_logs/server_logs/server_rank_0_node_3.log")
        );
        let files = MemoryRunFiles::new()
            .with(&format!("{dir}/server_rank_1.log"), "")
            .with(&format!("{dir}/server_rank_0.log"), "")
            .with(&format!("{dir}/server.log"), "");
        assert_eq!(
            server_log_path(&files).unwrap().as_deref(),
            Some("inference_logs/server_logs/server_rank_0.log")
        );
        let files = MemoryRunFiles::new().with(&format!("{dir}/server_rank_0.txt"), "");
        assert_eq!(server_log_path(&files).unwrap(), None);
    }

    #[test]
    fn squeue_lines() {
        let listed = parse_squeue(
            "4242|tutorial-x|PENDING|bench:a1|b2\n\nsqueue: error: bad\r\n 7 | name | RUNNING | (null) \r\n",
        );
        assert_eq!(
            listed,
            [
                QueueEntry {
                    job_id: "4242".into(),
                    name: "tutorial-x".into(),
                    state: "PENDING".into(),
                    comment: "bench:a1|b2".into(),
                },
                QueueEntry {
                    job_id: "7".into(),
                    name: "name".into(),
                    state: "RUNNING".into(),
                    comment: "(null)".into(),
                },
            ]
        );
    }

    #[test]
    fn submission_records() {
        // The documented line (`docs/launch.md`), byte for byte in meaning.
        let record = SubmissionRecord {
            token: "a1b2".into(),
            submitted_at: "2026-11-29T13:14:05Z".into(),
            command: vec!["sbatch".into(), "--parsable".into(), ".../sbatch.sh".into()],
            job_id: None,
        };
        assert_eq!(
            serde_json::to_value(&record).unwrap(),
            serde_json::json!({"token": "a1b2", "submitted_at": "2026-11-29T13:14:05Z",
                "command": ["sbatch", "--parsable", ".../sbatch.sh"], "job_id": null})
        );
        assert_eq!(
            crate::layout::job_comment(&record.token, "00c0ffee00c0ffee"),
            "bench:a1b2:00c0ffee00c0ffee"
        );
        assert_eq!(
            crate::layout::parse_job_comment("bench:a1b2:00c0ffee00c0ffee"),
            Some(("a1b2", Some("00c0ffee00c0ffee")))
        );
        assert_eq!(
            crate::layout::parse_job_comment("bench:a1b2"),
            Some(("a1b2", None))
        );
        assert_eq!(crate::layout::parse_job_comment("(null)"), None);
        // Two lines per submission: the latest token with its job id.
        let mut jsonl = submissions("first", "100");
        jsonl.push_str(&submissions("second", "200"));
        let latest = latest_submission(jsonl.as_bytes()).unwrap();
        assert_eq!(
            (latest.token.as_str(), latest.job_id.as_deref()),
            ("second", Some("200"))
        );
        // Interrupted between the two lines: the token without a job id, and a cut line.
        jsonl.push_str(r#"{"token": "third", "submitted_at": "2026-11-30T00:00:00Z", "command": [], "job_id": null}"#);
        jsonl.push_str("\n{\"token\": \"fourth\", \"subm");
        let latest = latest_submission(jsonl.as_bytes()).unwrap();
        assert_eq!((latest.token.as_str(), latest.job_id), ("third", None));
        // A number for the job id is read as text; nothing usable gives none.
        let latest = latest_submission(br#"{"token": "n", "job_id": 55}"#).unwrap();
        assert_eq!(latest.job_id.as_deref(), Some("55"));
        assert_eq!(latest_submission(b"garbage\n\n"), None);
    }
}
