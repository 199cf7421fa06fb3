//! Failure classification (`docs/failures.md`).
//!
//! A log is searched as raw bytes, ASCII letters compared case-insensitively, and only in
//! its first and last [`WINDOW`] bytes: logs can be many GB, and the lines that tell why a
//! job died sit at its start (engine start-up) or its end (the traceback, slurmstepd's
//! last words).

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;

use memchr::memmem;

/// How many bytes are searched at each end of a file: its first and its last `WINDOW`
/// bytes (`docs/failures.md`), so at most `2 * WINDOW` bytes are ever read.
pub const WINDOW: u64 = 100_000;

/// A failure class, in priority order (the first variant outranks the others).
/// Spelled in CSVs and on the command line exactly as [`FailureClass::as_str`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureClass {
    /// `OOM`: GPU memory did not suffice.
    Oom,
    /// `host_oom`: the job's host memory limit killed a process.
    HostOom,
    /// `timeout`: SLURM ended the job at its time limit.
    Timeout,
    /// `node_fail`: a node died under the job.
    NodeFail,
    /// `preempted`: SLURM preempted the job.
    Preempted,
    /// `server_fail`: the inference server never became ready.
    ServerFail,
    /// `cancelled`: cancelled without a reason.
    Cancelled,
    /// `error`: some other error (a Python traceback).
    Error,
}

impl FailureClass {
    /// Every class, in priority order.
    pub const ALL: [FailureClass; 8] = [
        FailureClass::Oom,
        FailureClass::HostOom,
        FailureClass::Timeout,
        FailureClass::NodeFail,
        FailureClass::Preempted,
        FailureClass::ServerFail,
        FailureClass::Cancelled,
        FailureClass::Error,
    ];

    /// The classes `--skip-failure-reasons` skips by default: the original's
    /// `OOM,timeout,server_fail` (`docs/launch.md`).
    pub const DEFAULT_SKIP: [FailureClass; 3] = [
        FailureClass::Oom,
        FailureClass::Timeout,
        FailureClass::ServerFail,
    ];

    /// The class name as `docs/failures.md` spells it (`OOM`, `host_oom`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Oom => "OOM",
            FailureClass::HostOom => "host_oom",
            FailureClass::Timeout => "timeout",
            FailureClass::NodeFail => "node_fail",
            FailureClass::Preempted => "preempted",
            FailureClass::ServerFail => "server_fail",
            FailureClass::Cancelled => "cancelled",
            FailureClass::Error => "error",
        }
    }

    /// A class from its exact name (`OOM`, `host_oom`, ...; case matters, as `docs/launch.md`
    /// section 3 asks). An unknown name is an error carrying the closest valid name.
    pub fn parse(name: &str) -> Result<FailureClass, UnknownFailureClass> {
        FailureClass::ALL
            .into_iter()
            .find(|class| class.as_str() == name)
            .ok_or_else(|| UnknownFailureClass {
                name: name.to_owned(),
                suggestion: closest_name(name),
            })
    }

    /// The set `--skip-failure-reasons` takes: class names separated by commas (spaces
    /// around them ignored), or `none` alone for the empty set (`docs/launch.md`).
    /// Every unknown name is an error, with the closest valid name.
    pub fn parse_skip_set(list: &str) -> Result<BTreeSet<FailureClass>, UnknownFailureClass> {
        let list = list.trim();
        if list == "none" {
            return Ok(BTreeSet::new());
        }
        if list.eq_ignore_ascii_case("none") {
            // `NONE`: the closest class name would be wrong advice.
            return Err(UnknownFailureClass {
                name: list.to_owned(),
                suggestion: Some("none"),
            });
        }
        list.split(',')
            .map(|name| FailureClass::parse(name.trim()))
            .collect()
    }
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureClass {
    type Err = UnknownFailureClass;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        FailureClass::parse(name)
    }
}

/// A word that is no failure class name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown failure class `{name}`{}\nhint: the classes are {}, or `none` alone",
    suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_default(),
    class_list()
)]
pub struct UnknownFailureClass {
    /// The word as given.
    pub name: String,
    /// The closest class name (or `none` for `NONE`), when one is reasonably close.
    pub suggestion: Option<&'static str>,
}

fn class_list() -> String {
    FailureClass::ALL
        .iter()
        .map(|class| format!("`{class}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The class name closest to `name`, compared without case (so `oom` gives `OOM`), if its
/// similarity is at least one half.
fn closest_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    FailureClass::ALL
        .into_iter()
        .map(|class| {
            let score =
                strsim::normalized_levenshtein(&lower, &class.as_str().to_ascii_lowercase());
            (score, class.as_str())
        })
        .filter(|(score, _)| *score >= 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// One way a class shows in a log, lowercase (the haystack is lowercased too).
enum Pattern {
    /// The texts in this order on one line (`...` in `docs/failures.md`'s table).
    Seq(&'static [&'static str]),
    /// `start` followed later on the same line by `end`, with no `unless` between them.
    Without {
        start: &'static str,
        end: &'static str,
        unless: &'static str,
    },
}

/// `docs/failures.md`'s table, in priority order.
const RULES: [(FailureClass, &[Pattern]); 8] = [
    (
        FailureClass::Oom,
        &[
            Pattern::Seq(&["torch.outofmemoryerror", "cuda out of memory"]),
            Pattern::Seq(&["valueerror", "no available memory for the cache blocks"]),
            Pattern::Seq(&["outofmemoryerror"]),
            Pattern::Seq(&["cuda out of memory"]),
            Pattern::Seq(&["failed to load model - not enough gpu memory"]),
            Pattern::Seq(&["cuda error: out of memory"]),
            Pattern::Seq(&["cuda failure 2 'out of memory'"]),
        ],
    ),
    (
        FailureClass::HostOom,
        &[
            Pattern::Seq(&["oom-kill event"]),
            Pattern::Seq(&["oom_kill event"]),
            Pattern::Seq(&[": out of memory"]),
        ],
    ),
    (
        FailureClass::Timeout,
        &[Pattern::Seq(&["due to time limit"])],
    ),
    (
        FailureClass::NodeFail,
        &[
            Pattern::Seq(&["due to node failure"]),
            Pattern::Seq(&["due to node ", " failure"]),
            Pattern::Seq(&["srun: error: node failure on"]),
        ],
    ),
    (
        FailureClass::Preempted,
        &[Pattern::Seq(&["due to preemption"])],
    ),
    (
        FailureClass::ServerFail,
        &[
            Pattern::Seq(&["failed to start vllmserver server"]),
            Pattern::Seq(&["server encountered unrecoverable error"]),
        ],
    ),
    (
        FailureClass::Cancelled,
        &[
            Pattern::Without {
                start: "cancelled at",
                end: "***",
                unless: "due to",
            },
            Pattern::Seq(&["due to signal terminated"]),
        ],
    ),
    (
        FailureClass::Error,
        &[
            Pattern::Seq(&["traceback (most recent call last):"]),
            // The built-in sbatch template's words when a `slurm.setup` line fails.
            Pattern::Seq(&["launch: slurm.setup line ", " failed with exit status "]),
        ],
    ),
];

/// Every class whose text occurs in `bytes` (searched whole), highest priority first.
pub fn classes_in(bytes: &[u8]) -> Vec<FailureClass> {
    classes_in_windows(&[&bytes.to_ascii_lowercase()])
}

/// Every class found in the first and last 100,000 bytes of a file (the whole file when
/// smaller), never reading more than 200,000 bytes. Highest priority first.
///
/// The reader is searched from its start whatever its current position; the two ends of a
/// larger file are searched separately (a match never joins them).
pub fn classes_in_reader<R: Read + Seek>(mut reader: R) -> std::io::Result<Vec<FailureClass>> {
    let len = reader.seek(SeekFrom::End(0))?;
    reader.seek(SeekFrom::Start(0))?;
    if len <= 2 * WINDOW {
        let whole = read_at_most(&mut reader, 2 * WINDOW)?;
        return Ok(classes_in_windows(&[&whole]));
    }
    let head = read_at_most(&mut reader, WINDOW)?;
    reader.seek(SeekFrom::Start(len - WINDOW))?;
    let tail = read_at_most(&mut reader, WINDOW)?;
    Ok(classes_in_windows(&[&head, &tail]))
}

/// Up to `limit` bytes from the reader's position, ASCII-lowercased.
fn read_at_most<R: Read>(reader: &mut R, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit).read_to_end(&mut bytes)?;
    bytes.make_ascii_lowercase();
    Ok(bytes)
}

/// The classes found in any of the (already lowercased) windows, in priority order.
fn classes_in_windows(windows: &[&[u8]]) -> Vec<FailureClass> {
    RULES
        .iter()
        .filter(|(_, patterns)| {
            patterns
                .iter()
                .any(|pattern| windows.iter().any(|window| pattern.occurs_in(window)))
        })
        .map(|(class, _)| *class)
        .collect()
}

impl Pattern {
    /// Whether the pattern occurs in a lowercased haystack.
    fn occurs_in(&self, hay: &[u8]) -> bool {
        match self {
            Pattern::Seq(parts) => seq_occurs(hay, parts),
            Pattern::Without { start, end, unless } => without_occurs(hay, start, end, unless),
        }
    }
}

/// The end of the line holding `hay[from]`: the index of the next `\n`, else `hay.len()`.
fn line_end(hay: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &hay[from..]).map_or(hay.len(), |i| from + i)
}

fn seq_occurs(hay: &[u8], parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let mut pos = 0;
    while let Some(i) = memmem::find(&hay[pos..], first.as_bytes()) {
        let after = pos + i + first.len();
        let eol = line_end(hay, after);
        let mut line = &hay[after..eol];
        let all_found = rest.iter().all(|part| {
            memmem::find(line, part.as_bytes()).is_some_and(|j| {
                line = &line[j + part.len()..];
                true
            })
        });
        if all_found {
            return true;
        }
        // A later start on the same line leaves less room for the rest: go to the next line.
        pos = eol;
    }
    false
}

fn without_occurs(hay: &[u8], start: &str, end: &str, unless: &str) -> bool {
    let mut pos = 0;
    while let Some(i) = memmem::find(&hay[pos..], start.as_bytes()) {
        let after = pos + i + start.len();
        let eol = line_end(hay, after);
        let line = &hay[after..eol];
        let Some(end_at) = memmem::find(line, end.as_bytes()) else {
            // No `end` after this start, so none after a later start on this line either.
            pos = eol;
            continue;
        };
        match memmem::find(&line[..end_at], unless.as_bytes()) {
            None => return true,
            // Any start before this `unless` has it before the same `end` too.
            Some(u) => pos = after + u + unless.len(),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    use crate::test_support::{assert_every_fixture_tested, open_fixture};

    /// The highest class of a failure fixture, read as `analyze` reads a file.
    fn fixture_class(name: &str) -> Option<FailureClass> {
        let file = open_fixture(&format!("failures/{name}"));
        classes_in_reader(file).unwrap().first().copied()
    }

    #[test]
    fn fixture_timeout() {
        assert_eq!(fixture_class("timeout.out"), Some(FailureClass::Timeout));
    }

    #[test]
    fn fixture_timeout_old_layout() {
        assert_eq!(
            fixture_class("timeout-old-layout.out"),
            Some(FailureClass::Timeout)
        );
    }

    #[test]
    fn fixture_oom_torch() {
        assert_eq!(fixture_class("oom-torch.log"), Some(FailureClass::Oom));
    }

    #[test]
    fn fixture_oom_torch_old() {
        assert_eq!(fixture_class("oom-torch-old.log"), Some(FailureClass::Oom));
    }

    #[test]
    fn fixture_oom_cuda_graph() {
        assert_eq!(fixture_class("oom-cuda-graph.log"), Some(FailureClass::Oom));
    }

    #[test]
    fn fixture_oom_nccl() {
        assert_eq!(fixture_class("oom-nccl.log"), Some(FailureClass::Oom));
    }

    #[test]
    fn fixture_no_kv_cache_memory() {
        assert_eq!(
            fixture_class("no-kv-cache-memory.log"),
            Some(FailureClass::Oom)
        );
    }

    #[test]
    fn fixture_server_fail() {
        assert_eq!(
            fixture_class("server-fail.out"),
            Some(FailureClass::ServerFail)
        );
    }

    #[test]
    fn fixture_preempted() {
        assert_eq!(
            fixture_class("preempted.out"),
            Some(FailureClass::Preempted)
        );
    }

    #[test]
    fn fixture_node_fail() {
        assert_eq!(fixture_class("node-fail.out"), Some(FailureClass::NodeFail));
    }

    #[test]
    fn fixture_host_oom_then_cancelled() {
        assert_eq!(
            fixture_class("host-oom-then-cancelled.out"),
            Some(FailureClass::HostOom)
        );
    }

    #[test]
    fn fixture_cancelled() {
        assert_eq!(
            fixture_class("cancelled.out"),
            Some(FailureClass::Cancelled)
        );
    }

    #[test]
    fn fixture_cancelled_signal() {
        assert_eq!(
            fixture_class("cancelled-signal.out"),
            Some(FailureClass::Cancelled)
        );
    }

    #[test]
    fn fixture_oom_then_timeout() {
        assert_eq!(
            fixture_class("oom-then-timeout.out"),
            Some(FailureClass::Oom)
        );
    }

    #[test]
    fn fixture_error_traceback() {
        assert_eq!(
            fixture_class("error-traceback.out"),
            Some(FailureClass::Error)
        );
    }

    #[test]
    fn fixture_clean_run() {
        assert_eq!(fixture_class("clean-run.out"), None);
    }

    #[test]
    fn every_failure_fixture_has_a_test() {
        let tested = [
            "timeout.out",
            "timeout-old-layout.out",
            "oom-torch.log",
            "oom-torch-old.log",
            "oom-cuda-graph.log",
            "oom-nccl.log",
            "no-kv-cache-memory.log",
            "server-fail.out",
            "preempted.out",
            "node-fail.out",
            "host-oom-then-cancelled.out",
            "cancelled.out",
            "cancelled-signal.out",
            "oom-then-timeout.out",
            "error-traceback.out",
            "clean-run.out",
        ];
        assert_every_fixture_tested("failures", &tested);
    }

    #[test]
    fn every_class_collected_in_priority_order() {
        let log = b"Traceback (most recent call last):\n\
            slurmstepd: error: *** JOB 7 ON n1 CANCELLED AT 2026-01-01T00:00:00 DUE TO TIME LIMIT ***\n\
            torch.OutOfMemoryError: CUDA out of memory.\n";
        assert_eq!(
            classes_in(log),
            [
                FailureClass::Oom,
                FailureClass::Timeout,
                FailureClass::Error
            ]
        );
    }

    #[test]
    fn letters_compared_without_case() {
        assert_eq!(classes_in(b"cuda OUT of Memory"), [FailureClass::Oom]);
        assert_eq!(classes_in(b"due to preemption"), [FailureClass::Preempted]);
    }

    #[test]
    fn parts_must_share_a_line() {
        assert_eq!(
            classes_in(b"ValueError: bad\nNo available memory for the cache blocks"),
            []
        );
        assert_eq!(
            classes_in(b"ValueError: No available memory for the cache blocks"),
            [FailureClass::Oom]
        );
        assert_eq!(
            classes_in(b"*** JOB 1 CANCELLED AT 2015-03-01 DUE TO NODE n7\nFAILURE"),
            []
        );
        assert_eq!(
            classes_in(b"*** JOB 1 CANCELLED AT 2015-03-01 DUE TO NODE n7 FAILURE ***"),
            [FailureClass::NodeFail]
        );
    }

    #[test]
    fn cancelled_needs_stars_without_a_reason_between() {
        assert_eq!(
            classes_in(b"CANCELLED AT 2026-01-01T00:00:00 ***"),
            [FailureClass::Cancelled]
        );
        assert_eq!(classes_in(b"CANCELLED AT 2026-01-01T00:00:00\n***"), []);
        assert_eq!(classes_in(b"job CANCELLED AT noon"), []);
        // A reasoned cancellation followed by a bare one on the same line still counts.
        assert_eq!(
            classes_in(b"CANCELLED AT t1 DUE TO PREEMPTION *** CANCELLED AT t2 ***"),
            [FailureClass::Preempted, FailureClass::Cancelled]
        );
    }

    #[test]
    fn invalid_utf8_is_neither_dropped_nor_joined() {
        // An invalid byte inside the text breaks it: nothing is silently removed.
        assert_eq!(classes_in(b"DUE TO TIME\xff LIMIT"), []);
        assert_eq!(
            classes_in(b"\xff\xfeDUE TO TIME LIMIT\xc3"),
            [FailureClass::Timeout]
        );
    }

    /// A reader that counts the bytes handed out.
    struct Counting<R> {
        inner: R,
        read: u64,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl<R: Seek> Seek for Counting<R> {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    /// A 50 MB file of filler lines with `middle` at its centre and `end` at its end.
    fn big_file(middle: &[u8], end: &[u8]) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let line = b"INFO 11-02 08:00:20 [loggers.py:271] Engine 000: processing requests\n";
        let lines = 50_000_000 / line.len();
        {
            let mut out = std::io::BufWriter::new(file.as_file_mut());
            for i in 0..lines {
                if i == lines / 2 {
                    out.write_all(middle).unwrap();
                }
                out.write_all(line).unwrap();
            }
            out.write_all(end).unwrap();
            out.flush().unwrap();
        }
        file
    }

    #[test]
    fn failure_text_in_the_middle_of_a_50_mb_file_is_not_read() {
        let file = big_file(
            b"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.\n",
            b"",
        );
        assert!(file.as_file().metadata().unwrap().len() >= 49_000_000);
        let mut reader = Counting {
            inner: file.reopen().unwrap(),
            read: 0,
        };
        assert_eq!(classes_in_reader(&mut reader).unwrap(), []);
        assert!(reader.read <= 200_000, "read {} bytes", reader.read);
    }

    #[test]
    fn timeout_line_in_the_last_100_000_bytes_is_found() {
        let file = big_file(
            b"",
            b"slurmstepd-node07: error: *** JOB 1234 ON node07 CANCELLED AT 2026-11-29T13:15:41 DUE TO TIME LIMIT ***\n",
        );
        let mut reader = Counting {
            inner: file.reopen().unwrap(),
            read: 0,
        };
        assert_eq!(
            classes_in_reader(&mut reader).unwrap(),
            [FailureClass::Timeout]
        );
        assert!(reader.read <= 200_000, "read {} bytes", reader.read);
    }

    #[test]
    fn both_ends_searched_and_never_joined() {
        let filler = vec![b'.'; 300_000];
        // At the start.
        let mut log = b"Traceback (most recent call last):\n".to_vec();
        log.extend_from_slice(&filler);
        assert_eq!(
            classes_in_reader(Cursor::new(&log)).unwrap(),
            [FailureClass::Error]
        );
        // Just inside the last 100,000 bytes, and just outside.
        let text = b"DUE TO PREEMPTION";
        let mut log = filler.clone();
        log.extend_from_slice(text);
        log.extend(std::iter::repeat_n(b'.', 100_000 - text.len()));
        assert_eq!(
            classes_in_reader(Cursor::new(&log)).unwrap(),
            [FailureClass::Preempted]
        );
        let mut log = filler.clone();
        log.extend_from_slice(text);
        log.extend(std::iter::repeat_n(b'.', 100_000 - text.len() + 1));
        assert_eq!(classes_in_reader(Cursor::new(&log)).unwrap(), []);
        // Text cut by the head window's end is not joined with the tail window.
        let mut log = vec![b'.'; 100_000 - 8];
        log.extend_from_slice(b"DUE TO T");
        log.extend(std::iter::repeat_n(b'.', 50_000));
        log.extend_from_slice(b"IME LIMIT");
        log.extend(std::iter::repeat_n(b'.', 100_000 - 9));
        assert_eq!(classes_in_reader(Cursor::new(&log)).unwrap(), []);
    }

    #[test]
    fn a_failed_setup_line_is_an_error() {
        let out = b"/var/spool/slurmd/job00091/slurm_script: line 14: /nonexistent/venv/bin/activate: No such file or directory\n\
            launch: slurm.setup line 1 failed with exit status 1; the inference script was not run\n";
        assert_eq!(classes_in(out), [FailureClass::Error]);
    }

    #[test]
    fn reader_position_does_not_matter() {
        let mut cursor = Cursor::new(b"Traceback (most recent call last):\n".to_vec());
        cursor.set_position(20);
        assert_eq!(classes_in_reader(cursor).unwrap(), [FailureClass::Error]);
    }

    #[test]
    fn names_round_trip() {
        for class in FailureClass::ALL {
            assert_eq!(class.as_str().parse::<FailureClass>(), Ok(class));
        }
        let names: Vec<&str> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "OOM",
                "host_oom",
                "timeout",
                "node_fail",
                "preempted",
                "server_fail",
                "cancelled",
                "error"
            ]
        );
    }

    #[test]
    fn unknown_name_suggests_the_closest() {
        let err = FailureClass::parse("oom").unwrap_err();
        assert_eq!(err.suggestion, Some("OOM"));
        assert!(
            err.to_string()
                .starts_with("unknown failure class `oom`; did you mean `OOM`?")
        );
        assert_eq!(
            FailureClass::parse("timout").unwrap_err().suggestion,
            Some("timeout")
        );
        assert_eq!(
            FailureClass::parse("node-fail").unwrap_err().suggestion,
            Some("node_fail")
        );
        assert_eq!(FailureClass::parse("xyzzy").unwrap_err().suggestion, None);
    }

    #[test]
    fn skip_sets() {
        assert_eq!(
            FailureClass::parse_skip_set("OOM,timeout,server_fail").unwrap(),
            BTreeSet::from(FailureClass::DEFAULT_SKIP)
        );
        assert_eq!(
            FailureClass::parse_skip_set("preempted, host_oom").unwrap(),
            BTreeSet::from([FailureClass::HostOom, FailureClass::Preempted])
        );
        assert_eq!(
            FailureClass::parse_skip_set("none").unwrap(),
            BTreeSet::new()
        );
        assert_eq!(
            FailureClass::parse_skip_set("OOM,none").unwrap_err().name,
            "none"
        );
        assert_eq!(FailureClass::parse_skip_set("").unwrap_err().name, "");
        let upper = FailureClass::parse_skip_set("NONE").unwrap_err();
        assert_eq!(upper.suggestion, Some("none"));
        assert!(
            upper
                .to_string()
                .starts_with("unknown failure class `NONE`; did you mean `none`?\nhint: "),
            "{upper}"
        );
        assert_eq!(
            FailureClass::parse_skip_set(" None ")
                .unwrap_err()
                .suggestion,
            Some("none")
        );
    }
}
