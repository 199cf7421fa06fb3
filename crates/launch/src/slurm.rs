//! Talking to SLURM (`docs/launch.md`): the queue read with `squeue --me`, submissions
//! with `sbatch --parsable`, transient errors retried with backoff, and a job accepted
//! despite an error adopted by its comment token.
//!
//! The commands sit behind the [`Slurm`] trait so the retry logic is tested with a script of
//! answers; [`CommandSlurm`] runs the real ones.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use bench_core::layout::parse_job_comment;
use bench_core::state::{QueueEntry, parse_squeue};

/// The reason of a queue read abandoned because `launch` was interrupted.
pub const INTERRUPTED: &str = "interrupted while `squeue` ran";

/// The `squeue` format `launch` asks for: job id, name, state, comment.
pub const SQUEUE_FORMAT: &str = "%i|%j|%T|%k";

/// At most this many `sbatch` calls per submission (`docs/launch.md`).
pub const MAX_SBATCH_CALLS: usize = 4;

/// Pauses before the second, third and fourth call.
pub const BACKOFF: [Duration; MAX_SBATCH_CALLS - 1] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// sbatch's words for errors worth a retry: the controller did not answer in time, or was
/// busy; the job may have been accepted all the same.
pub const TRANSIENT_ERRORS: [&str; 3] = [
    "Socket timed out on send/recv operation",
    "Resource temporarily unavailable",
    "Unable to contact slurm controller",
];

/// sbatch's words for a refusal of a directive's value, with that directive: every run
/// with the same value would be refused the same way, so the rest of them are not tried.
pub const SHARED_REFUSALS: [(&str, &str); 3] = [
    ("Invalid partition name specified", "partition"),
    ("Invalid account", "account"),
    ("Invalid qos specification", "qos"),
];

/// The directive whose value sbatch refused, when its words (`reason`) are one of
/// [`SHARED_REFUSALS`].
pub fn refused_directive(reason: &str) -> Option<&'static str> {
    SHARED_REFUSALS
        .iter()
        .find(|(words, _)| reason.contains(words))
        .map(|(_, key)| *key)
}

/// What a finished `sbatch` process said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbatchAnswer {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its exit status as words (`exit status: 1`, `signal: 9`).
    pub status: String,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// The scheduler's two commands, and the pause between retries.
pub trait Slurm {
    /// The output of `squeue --me -h -o "%i|%j|%T|%k"`, or why it could not be had.
    fn squeue(&mut self) -> Result<String, String>;
    /// Run `sbatch --parsable SCRIPT`, the child inheriting `hold` (the run's locked
    /// `submissions.jsonl`) so that the lock lasts as long as the call, even when `launch`
    /// is killed; `Err` when it could not be started at all, or did not answer in time.
    fn sbatch(&mut self, script: &Path, hold: &File) -> io::Result<SbatchAnswer>;
    /// Wait before a retry.
    fn sleep(&mut self, duration: Duration);
    /// The output of `squeue --me -h -o "%i|%M"` (job id, time used), for `--status`; the
    /// default knows no times.
    fn squeue_elapsed(&mut self) -> Result<String, String> {
        Ok(String::new())
    }
}

/// The `squeue` format `--status` reads the time each job has used with.
pub const ELAPSED_FORMAT: &str = "%i|%M";

/// Job ids with the time used (`1:23`, `1-02:03:04`) from `squeue -o "%i|%M"` output;
/// lines of another shape are left out.
pub fn parse_elapsed(output: &str) -> std::collections::HashMap<String, String> {
    output
        .lines()
        .filter_map(|line| {
            let (job_id, elapsed) = line.trim().split_once('|')?;
            let is_time = !elapsed.is_empty()
                && elapsed
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b':' || b == b'-');
            (job_id.starts_with(|c: char| c.is_ascii_digit()) && is_time)
                .then(|| (job_id.to_owned(), elapsed.to_owned()))
        })
        .collect()
}

/// The user's queue, read once per launch (and before each sbatch retry).
///
/// Every non-blank line must be a job line of [`SQUEUE_FORMAT`]: four `|`-separated fields
/// (the comment keeps any further `|`), the job id starting with a digit (`123`, `123_4`,
/// `123+0`). Anything else (a wrapper's banner, another format) means the queue was not
/// read, and `Err` quotes the first such line: a listing `launch` cannot read could hide
/// runs in flight.
pub fn read_queue(slurm: &mut dyn Slurm) -> Result<Vec<QueueEntry>, String> {
    parse_queue(&slurm.squeue()?)
}

/// The queue from `squeue`'s output (see [`read_queue`]).
fn parse_queue(output: &str) -> Result<Vec<QueueEntry>, String> {
    if let Some(line) = output
        .lines()
        .find(|line| !line.trim().is_empty() && !is_job_line(line))
    {
        let mut shown: String = line.trim().chars().take(SHOWN_LINE_CHARS).collect();
        if shown.len() < line.trim().len() {
            shown.push_str("...");
        }
        return Err(format!(
            "`squeue` printed `{shown}`, which is not a `{SQUEUE_FORMAT}` job line"
        ));
    }
    Ok(parse_squeue(output))
}

/// What a command run with a time limit did.
#[derive(Debug)]
pub enum Bounded {
    /// It ended: exit status, standard output, standard error.
    Finished(std::process::Output),
    /// It did not end within the limit (or its output did not close); it and every process
    /// of its group were killed.
    TimedOut,
    /// `launch` was interrupted while waiting; the command's group was killed.
    Interrupted,
}

/// How long the output of an ended command may stay open (held by a process it left in
/// the background) before that process's group is killed and the call counted as hung.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Run `command` in a process group of its own, its output captured, for at most `limit`;
/// past it the whole group is killed (a shell wrapper's children too, so nothing is left
/// running). When the command ends, what it left running in its group is killed too, so
/// nothing holds its output open. The group also keeps a Ctrl-C meant for `launch` from
/// reaching the command; `interrupt`, when given, ends the wait early (the group killed).
///
/// Errors: the command could not be started, or waited for.
pub fn run_bounded(
    mut command: Command,
    limit: Duration,
    interrupt: Option<&AtomicBool>,
) -> io::Result<Bounded> {
    use std::os::unix::process::CommandExt as _;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = rustix::process::Pid::from_child(&child);
    let kill_group = || {
        // Already gone is fine.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    };
    let (out_sent, out) = mpsc::channel();
    read_in_background(child.stdout.take(), out_sent.clone(), 0);
    read_in_background(child.stderr.take(), out_sent, 1);
    // A thread waits for the child, so that its end is seen at once, not at the next poll.
    let (ended, end) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = ended.send(());
        status
    });
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match end.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(()) => break,
            Err(_) if interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst)) => {
                kill_group();
                let _ = waiter.join();
                return Ok(Bounded::Interrupted);
            }
            Err(_) if left.is_zero() => {
                kill_group();
                let _ = waiter.join();
                return Ok(Bounded::TimedOut);
            }
            Err(_) => {}
        }
    }
    let status = waiter
        .join()
        .map_err(|_| io::Error::other("the thread waiting for the command panicked"))??;
    // Whatever the command left in its group must not hold its output open.
    kill_group();
    let mut streams = [None, None];
    for _ in 0..2 {
        match out.recv_timeout(OUTPUT_GRACE) {
            Ok((index, bytes)) => streams[index] = Some(bytes),
            // A process that left the group still holds the output: counted as hung.
            Err(_) => return Ok(Bounded::TimedOut),
        }
    }
    let [stdout, stderr] = streams.map(Option::unwrap_or_default);
    Ok(Bounded::Finished(std::process::Output {
        status,
        stdout,
        stderr,
    }))
}

/// A thread reading `pipe` to its end, then sending `(index, bytes)`.
fn read_in_background(
    pipe: Option<impl Read + Send + 'static>,
    sent: mpsc::Sender<(usize, Vec<u8>)>,
    index: usize,
) {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = sent.send((index, bytes));
    });
}

/// At most this many characters of a bad `squeue` line are quoted.
const SHOWN_LINE_CHARS: usize = 200;

/// Whether `line` is a job line of [`SQUEUE_FORMAT`] (see [`read_queue`]).
fn is_job_line(line: &str) -> bool {
    let mut fields = line.splitn(4, '|');
    let job_id = fields.next().unwrap_or_default().trim();
    job_id.starts_with(|c: char| c.is_ascii_digit()) && fields.count() == 3
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    /// SLURM holds the job.
    Accepted {
        /// The job id (the part of sbatch's answer before `;`).
        job_id: String,
        /// True when the job was found in the queue by its comment after an error.
        adopted: bool,
        /// `sbatch` calls made.
        calls: usize,
    },
    /// sbatch did not answer in time and was stopped, and the queue shows no job with its
    /// token (or could not be read): SLURM looks unresponsive, and the rest of the launch
    /// stops rather than wait on each run.
    Unanswered {
        /// What happened, with the queue's answer.
        reason: String,
    },
    /// No job was accepted, as far as `launch` can tell.
    Failed {
        /// sbatch's own words (or why it could not run).
        reason: String,
        /// `sbatch` calls made.
        calls: usize,
    },
}

/// How one `sbatch` call went.
enum CallResult {
    Accepted(String),
    Transient(String),
    Rejected(String),
    /// sbatch did not answer in time and was stopped: it may have submitted the job.
    TimedOut(String),
}

/// The job id in `sbatch --parsable`'s answer: `123` or `123;cluster` -> `123`.
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let answer = stdout.trim();
    if answer.contains('\n') {
        return None;
    }
    let id = answer.split(';').next().unwrap_or_default();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

/// Output text as one line: trimmed, lines joined by `; `.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn judge(answer: io::Result<SbatchAnswer>) -> CallResult {
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return CallResult::Rejected(format!("`sbatch` not found on PATH ({err})"));
        }
        Err(err) if err.kind() == io::ErrorKind::TimedOut => {
            return CallResult::TimedOut(err.to_string());
        }
        Err(err) => return CallResult::Rejected(format!("`sbatch` could not be run: {err}")),
    };
    let stdout = one_line(&answer.stdout);
    let stderr = one_line(&answer.stderr);
    if answer.success {
        if let Some(job_id) = parse_job_id(&answer.stdout) {
            return CallResult::Accepted(job_id);
        }
        let mut reason = format!("sbatch answered `{stdout}`, not a job id");
        if !stderr.is_empty() {
            reason.push_str(": ");
            reason.push_str(&stderr);
        }
        return CallResult::Rejected(reason);
    }
    let words = [stderr.as_str(), stdout.as_str()]
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let reason = if words.is_empty() {
        format!("sbatch failed ({}) and printed nothing", answer.status)
    } else {
        words
    };
    if TRANSIENT_ERRORS
        .iter()
        .any(|pattern| answer.stderr.contains(pattern) || answer.stdout.contains(pattern))
    {
        CallResult::Transient(reason)
    } else {
        CallResult::Rejected(reason)
    }
}

/// The queued job whose comment carries submission `token`, if any.
fn job_with_token<'q>(queue: &'q [QueueEntry], token: &str) -> Option<&'q QueueEntry> {
    queue
        .iter()
        .find(|job| parse_job_comment(&job.comment).is_some_and(|(found, _)| found == token))
}

/// Submit `script`, whose `#SBATCH --comment` carries `token`; the sbatch child inherits
/// `hold`, the run's locked `submissions.jsonl`.
///
/// Transient errors are retried after the pauses of [`BACKOFF`], at most
/// [`MAX_SBATCH_CALLS`] calls in all; before each retry the queue is asked for a job with
/// the token, and one found is adopted instead of submitting again. When the queue cannot
/// be read, `sbatch` is not called again for that pause (a second job could be a duplicate).
/// An sbatch that does not answer in time is stopped and the queue asked for its token at
/// once: adopted when there, [`Submission::Unanswered`] otherwise, never retried blind.
pub fn submit(slurm: &mut dyn Slurm, script: &Path, token: &str, hold: &File) -> Submission {
    let mut calls = 0;
    let mut words = String::new();
    let mut queue_problem = None;
    for attempt in 0..MAX_SBATCH_CALLS {
        if attempt > 0 {
            slurm.sleep(BACKOFF[attempt - 1]);
            match read_queue(slurm) {
                Ok(queue) => {
                    queue_problem = None;
                    if let Some(job) = job_with_token(&queue, token) {
                        return Submission::Accepted {
                            job_id: job.job_id.clone(),
                            adopted: true,
                            calls,
                        };
                    }
                }
                Err(why) => {
                    queue_problem = Some(why);
                    continue;
                }
            }
        }
        calls += 1;
        match judge(slurm.sbatch(script, hold)) {
            CallResult::Accepted(job_id) => {
                return Submission::Accepted {
                    job_id,
                    adopted: false,
                    calls,
                };
            }
            CallResult::Rejected(reason) => return Submission::Failed { reason, calls },
            CallResult::Transient(reason) => words = reason,
            CallResult::TimedOut(reason) => return after_timeout(slurm, token, &reason, calls),
        }
    }
    let reason = match queue_problem {
        Some(why) => format!(
            "{words} (not retried: the queue could not be read to rule out a job accepted \
             despite the error: {why})"
        ),
        None => format!("{words} (gave up after {calls} sbatch calls)"),
    };
    Submission::Failed { reason, calls }
}

/// After an sbatch that did not answer (`reason`): its job adopted when the queue shows the
/// token, else [`Submission::Unanswered`].
fn after_timeout(slurm: &mut dyn Slurm, token: &str, reason: &str, calls: usize) -> Submission {
    match read_queue(slurm) {
        Ok(queue) => match job_with_token(&queue, token) {
            Some(job) => Submission::Accepted {
                job_id: job.job_id.clone(),
                adopted: true,
                calls,
            },
            None => Submission::Unanswered {
                reason: format!("{reason}; no job with its token is in the queue"),
            },
        },
        Err(why) => Submission::Unanswered {
            reason: format!("{reason}; the queue could not be read to find its job: {why}"),
        },
    }
}

/// The real `squeue` and `sbatch` from PATH, each call bounded in time.
#[derive(Debug)]
pub struct CommandSlurm {
    /// The most one `squeue` call may take.
    pub squeue_timeout: Duration,
    /// The most one `sbatch` call may take.
    pub sbatch_timeout: Duration,
    /// Raised by a signal: a `squeue` call is abandoned (an `sbatch` call is not: it may be
    /// submitting, and its answer must be recorded).
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl CommandSlurm {
    /// `squeue --me -h -o FORMAT`, bounded in time.
    fn squeue_with(&self, format: &str) -> Result<String, String> {
        let mut command = Command::new("squeue");
        command
            .args(["--me", "-h", "-o", format])
            .stdin(Stdio::null());
        let output = match run_bounded(command, self.squeue_timeout, self.interrupt.as_deref()) {
            Ok(Bounded::Finished(output)) => output,
            Ok(Bounded::Interrupted) => return Err(INTERRUPTED.to_owned()),
            Ok(Bounded::TimedOut) => {
                return Err(format!(
                    "`squeue --me -h -o {format}` did not answer within {} s and was \
                     stopped (`slurm.squeue-timeout`)",
                    self.squeue_timeout.as_secs()
                ));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(format!("`squeue` not found on PATH ({err})"));
            }
            Err(err) => return Err(format!("`squeue` could not be run: {err}")),
        };
        if !output.status.success() {
            let stderr = one_line(&String::from_utf8_lossy(&output.stderr));
            return Err(format!("`squeue` failed ({}): {stderr}", output.status));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

impl Slurm for CommandSlurm {
    fn squeue(&mut self) -> Result<String, String> {
        self.squeue_with(SQUEUE_FORMAT)
    }

    fn squeue_elapsed(&mut self) -> Result<String, String> {
        self.squeue_with(ELAPSED_FORMAT)
    }

    fn sbatch(&mut self, script: &Path, hold: &File) -> io::Result<SbatchAnswer> {
        let mut command = Command::new("sbatch");
        command
            .arg("--parsable")
            .arg(script)
            // sbatch reads the script from its argument, never from its input: the
            // inherited lock is all this is for.
            .stdin(Stdio::from(hold.try_clone()?));
        match run_bounded(command, self.sbatch_timeout, None)? {
            Bounded::Finished(output) => Ok(SbatchAnswer {
                success: output.status.success(),
                status: output.status.to_string(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }),
            Bounded::TimedOut | Bounded::Interrupted => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "`sbatch` did not answer within {} s and was stopped \
                     (`slurm.sbatch-timeout`)",
                    self.sbatch_timeout.as_secs()
                ),
            )),
        }
    }

    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    #[test]
    fn refusals_every_run_with_the_value_would_get() {
        let refused = |words| refused_directive(words);
        assert_eq!(
            refused("sbatch: error: Batch job submission failed: Invalid partition name specified"),
            Some("partition")
        );
        assert_eq!(
            refused(
                "sbatch: error: Batch job submission failed: Invalid account or \
                 account/partition combination specified"
            ),
            Some("account")
        );
        assert_eq!(
            refused("sbatch: error: Batch job submission failed: Invalid qos specification"),
            Some("qos")
        );
        assert_eq!(
            refused(
                "sbatch: error: Batch job submission failed: Requested node configuration is not available"
            ),
            None
        );
    }

    #[test]
    fn elapsed_times_by_job_id() {
        let times = parse_elapsed("17|1:23\n18|1-02:03:04\n19|p|RUNNING|bench:x\nbanner\n20|\n");
        assert_eq!(times.len(), 2);
        assert_eq!(times["17"], "1:23");
        assert_eq!(times["18"], "1-02:03:04");
    }

    /// A file standing in for the run's locked `submissions.jsonl`.
    fn hold() -> File {
        File::open("/dev/null").unwrap()
    }

    /// A scheduler answering from a script, recording the calls.
    #[derive(Default)]
    struct Scripted {
        queues: VecDeque<Result<String, String>>,
        answers: VecDeque<io::Result<SbatchAnswer>>,
        sleeps: Vec<Duration>,
        sbatch_calls: usize,
        squeue_calls: usize,
    }

    impl Slurm for Scripted {
        fn squeue(&mut self) -> Result<String, String> {
            self.squeue_calls += 1;
            self.queues.pop_front().expect("an squeue answer scripted")
        }
        fn sbatch(&mut self, _script: &Path, _hold: &File) -> io::Result<SbatchAnswer> {
            self.sbatch_calls += 1;
            self.answers.pop_front().expect("an sbatch answer scripted")
        }
        fn sleep(&mut self, duration: Duration) {
            self.sleeps.push(duration);
        }
    }

    fn ok(stdout: &str) -> io::Result<SbatchAnswer> {
        answer(true, stdout, "")
    }

    fn err(stderr: &str) -> io::Result<SbatchAnswer> {
        answer(false, "", stderr)
    }

    #[expect(
        clippy::unnecessary_wraps,
        reason = "the answers are scripted as `Slurm::sbatch` returns them"
    )]
    fn answer(success: bool, stdout: &str, stderr: &str) -> io::Result<SbatchAnswer> {
        Ok(SbatchAnswer {
            success,
            status: if success {
                "exit status: 0"
            } else {
                "exit status: 1"
            }
            .into(),
            stdout: stdout.into(),
            stderr: stderr.into(),
        })
    }

    const TIMEOUT: &str =
        "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n";

    fn queue(listing: &str) -> Result<Vec<QueueEntry>, String> {
        read_queue(&mut Scripted {
            queues: [Ok(listing.to_owned())].into(),
            ..Scripted::default()
        })
    }

    #[test]
    fn the_queue_is_read_from_job_lines() {
        let jobs = queue("77|p-a_inference|RUNNING|(null)\n78_3|b|PENDING|bench:0|x\n\n").unwrap();
        assert_eq!(
            jobs,
            [
                QueueEntry {
                    job_id: "77".into(),
                    name: "p-a_inference".into(),
                    state: "RUNNING".into(),
                    comment: "(null)".into(),
                },
                QueueEntry {
                    job_id: "78_3".into(),
                    name: "b".into(),
                    state: "PENDING".into(),
                    comment: "bench:0|x".into(),
                },
            ]
        );
        assert_eq!(queue(""), Ok(Vec::new()));
    }

    #[test]
    fn a_listing_that_is_not_job_lines_is_no_queue() {
        for (listing, bad) in [
            (
                "Welcome to the cluster!\n77|a|RUNNING|x\n",
                "Welcome to the cluster!",
            ),
            ("77|a|RUNNING|x\n77 a RUNNING\n", "77 a RUNNING"),
            ("JOBID|NAME|STATE|COMMENT\n", "JOBID|NAME|STATE|COMMENT"),
            ("77|a|RUNNING\n", "77|a|RUNNING"),
            ("|a|RUNNING|x\n", "|a|RUNNING|x"),
        ] {
            assert_eq!(
                queue(listing),
                Err(format!(
                    "`squeue` printed `{bad}`, which is not a `%i|%j|%T|%k` job line"
                )),
                "{listing:?}"
            );
        }
    }

    #[test]
    fn job_ids_are_the_part_before_the_semicolon() {
        assert_eq!(parse_job_id("123\n").as_deref(), Some("123"));
        assert_eq!(parse_job_id("123;cluster\n").as_deref(), Some("123"));
        assert_eq!(parse_job_id("Submitted batch job 123"), None);
        assert_eq!(parse_job_id(""), None);
        assert_eq!(parse_job_id("12\n13"), None);
    }

    #[test]
    fn accepted_at_once() {
        let mut slurm = Scripted {
            answers: [ok("41;c\n")].into(),
            ..Scripted::default()
        };
        assert_eq!(
            submit(&mut slurm, Path::new("s.sh"), "t", &hold()),
            Submission::Accepted {
                job_id: "41".into(),
                adopted: false,
                calls: 1
            }
        );
        assert_eq!(slurm.squeue_calls, 0);
    }

    #[test]
    fn a_rejection_is_not_retried_and_keeps_sbatchs_words() {
        let words = "sbatch: error: Batch job submission failed: Invalid partition name specified";
        let mut slurm = Scripted {
            answers: [err(words)].into(),
            ..Scripted::default()
        };
        assert_eq!(
            submit(&mut slurm, Path::new("s.sh"), "t", &hold()),
            Submission::Failed {
                reason: words.into(),
                calls: 1
            }
        );
    }

    #[test]
    fn unparsable_answer_and_missing_sbatch_fail() {
        let mut slurm = Scripted {
            answers: [ok("hello\n")].into(),
            ..Scripted::default()
        };
        let Submission::Failed { reason, .. } = submit(&mut slurm, Path::new("s.sh"), "t", &hold())
        else {
            panic!("must fail");
        };
        assert_eq!(reason, "sbatch answered `hello`, not a job id");
        let mut slurm = Scripted {
            answers: [Err(io::Error::from(io::ErrorKind::NotFound))].into(),
            ..Scripted::default()
        };
        let Submission::Failed { reason, .. } = submit(&mut slurm, Path::new("s.sh"), "t", &hold())
        else {
            panic!("must fail");
        };
        assert!(reason.starts_with("`sbatch` not found on PATH"), "{reason}");
    }

    #[test]
    fn a_transient_error_is_retried_after_checking_the_queue() {
        let mut slurm = Scripted {
            answers: [err(TIMEOUT), ok("42\n")].into(),
            queues: [Ok("7|other|RUNNING|bench:someone-else\n".into())].into(),
            ..Scripted::default()
        };
        assert_eq!(
            submit(&mut slurm, Path::new("s.sh"), "t", &hold()),
            Submission::Accepted {
                job_id: "42".into(),
                adopted: false,
                calls: 2
            }
        );
        assert_eq!(slurm.sleeps, [BACKOFF[0]]);
    }

    #[test]
    fn a_job_accepted_despite_the_error_is_adopted() {
        let mut slurm = Scripted {
            answers: [err(TIMEOUT)].into(),
            queues: [Ok("43|run|PENDING|bench:t\n".into())].into(),
            ..Scripted::default()
        };
        assert_eq!(
            submit(&mut slurm, Path::new("s.sh"), "t", &hold()),
            Submission::Accepted {
                job_id: "43".into(),
                adopted: true,
                calls: 1
            }
        );
    }

    #[test]
    fn at_most_four_calls_then_failure() {
        let mut slurm = Scripted {
            answers: std::iter::repeat_with(|| err(TIMEOUT)).take(4).collect(),
            queues: std::iter::repeat_with(|| Ok(String::new()))
                .take(3)
                .collect(),
            ..Scripted::default()
        };
        let Submission::Failed { reason, calls } =
            submit(&mut slurm, Path::new("s.sh"), "t", &hold())
        else {
            panic!("must fail");
        };
        assert_eq!(calls, 4);
        assert_eq!(slurm.sbatch_calls, 4);
        assert_eq!(slurm.sleeps, BACKOFF);
        assert!(
            reason.contains("Socket timed out on send/recv operation"),
            "{reason}"
        );
        assert!(
            reason.ends_with("(gave up after 4 sbatch calls)"),
            "{reason}"
        );
    }

    #[test]
    fn an_unreadable_queue_stops_resubmission() {
        // squeue failing, or printing something that is not a listing.
        for (answer, why) in [
            (Err("`squeue` failed".to_owned()), "`squeue` failed"),
            (
                Ok("squeue: warning: odd\n".to_owned()),
                "squeue: warning: odd",
            ),
        ] {
            let mut slurm = Scripted {
                answers: [err(TIMEOUT)].into(),
                queues: std::iter::repeat_n(answer, 3).collect(),
                ..Scripted::default()
            };
            let Submission::Failed { reason, calls } =
                submit(&mut slurm, Path::new("s.sh"), "t", &hold())
            else {
                panic!("must fail");
            };
            assert_eq!((calls, slurm.sbatch_calls), (1, 1));
            assert!(reason.contains(why), "{reason}");
            assert_eq!(reason.matches("not retried").count(), 1, "{reason}");
        }
    }

    #[test]
    fn what_an_ended_command_leaves_running_is_killed_and_holds_nothing_open() {
        let marker = format!("1000.{}7", std::process::id());
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("sleep {marker} & echo 42"))
            .stdin(Stdio::null());
        let started = std::time::Instant::now();
        let Bounded::Finished(output) =
            run_bounded(command, Duration::from_secs(30), None).unwrap()
        else {
            panic!("not finished");
        };
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(String::from_utf8_lossy(&output.stdout), "42\n");
        let left = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
            .filter(|cmdline| String::from_utf8_lossy(cmdline).contains(&marker))
            .count();
        assert_eq!(left, 0);
    }

    #[test]
    fn an_interrupt_ends_the_wait_and_kills_the_command() {
        let flag = AtomicBool::new(true);
        let mut command = Command::new("sleep");
        command.arg("1000").stdin(Stdio::null());
        assert!(matches!(
            run_bounded(command, Duration::from_secs(30), Some(&flag)).unwrap(),
            Bounded::Interrupted
        ));
    }
}
