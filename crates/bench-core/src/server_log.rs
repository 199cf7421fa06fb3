//! Streaming parser of the vLLM server-log lines `analyze` reads (`docs/server-log.md`).
//!
//! A metrics record is each occurrence of
//! `Avg prompt throughput: X tokens/s, Avg generation throughput: Y tokens/s` once ANSI
//! colour sequences are removed; a speculative-decoding record each occurrence of
//! `Speculative metrics: ` or `SpecDecoding metrics: `; a record's fields are read from its
//! text up to the next record or the end of the line. The vLLM version comes from
//! `vLLM API server version X`, else `... LLM engine (vX)`. Server logs can be many GB, so the parser reads through a buffer of
//! fixed size and allocates nothing per line. Colour sequences are removed only from the
//! lines that can hold a record: one search for all the markers (Teddy) and one pass over
//! the escape bytes find them (see `MARKER_BYTES`); every other line is never copied or
//! looked at again, and a line whose one record has the shape vLLM V1 prints is read where
//! it is, in one pass, the search going on after it. Bytes need not be UTF-8.

use std::collections::BTreeMap;
use std::io::Read;

use memchr::memmem;

/// Means over a server log's metric records. Each `avg_*` is `None` when no record carries
/// that field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogMetrics {
    /// Number of metric records seen.
    pub records: u64,
    /// Mean of `Running: N reqs`.
    pub avg_running_reqs: Option<f64>,
    /// Mean of `Waiting: N reqs` (or the old engine's `Pending: N reqs`).
    pub avg_waiting_reqs: Option<f64>,
    /// Mean of `GPU KV cache usage: P%`, percent (0-100).
    pub avg_gpu_kvc_usage: Option<f64>,
    /// Mean of `Prefix cache hit rate: P%`, percent (0-100).
    pub avg_prefix_cache_hit_rate: Option<f64>,
    /// The speculative-decoding counters; `None` when the log has no such line.
    pub spec: Option<SpecDecoding>,
    /// The vLLM version as printed, without a leading `v`; `None` when absent.
    pub vllm_version: Option<String>,
    /// The generation throughput the log shows while requests ran, tokens/s of the whole
    /// server: per engine (`Engine NNN: `; records without one form one series) the mean of
    /// `Avg generation throughput` over its records whose `Running` is above 0, summed over
    /// the engines. `None` without such a record.
    pub generation_tps_while_running: Option<f64>,
}

/// Speculative-decoding counters of a server log, all engines together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecDecoding {
    /// Draft tokens accepted.
    pub accepted: u64,
    /// Draft tokens proposed.
    pub drafted: u64,
    /// The records' mean acceptance lengths averaged with each record's drafted tokens as
    /// weight (records that carry one and drafted more than 0); `None` when none did.
    pub mean_acceptance_length: Option<f64>,
}

impl SpecDecoding {
    /// Accepted over drafted, percent; `None` when nothing was drafted.
    pub fn acceptance_rate(&self) -> Option<f64> {
        (self.drafted > 0).then(|| self.accepted as f64 / self.drafted as f64 * 100.0)
    }
}

/// Parse a whole server log from a reader, in constant memory whatever its size.
///
/// Errors: those of the reader (`Interrupted` reads are retried).
pub fn parse_reader<R: Read>(mut reader: R) -> std::io::Result<LogMetrics> {
    let mut parser = ServerLogParser::new();
    loop {
        match reader.read(parser.spare()) {
            Ok(0) => return Ok(parser.finish()),
            Ok(n) => parser.commit(n),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Parse a server log held in memory (the same rules as [`parse_reader`]).
pub fn parse_bytes(log: &[u8]) -> LogMetrics {
    let mut parser = ServerLogParser::new();
    parser.feed(log);
    parser.finish()
}

/// The buffer size of [`ServerLogParser::new`], bytes.
pub const DEFAULT_BUFFER_SIZE: usize = 128 * 1024;

/// The smallest buffer [`ServerLogParser::with_buffer_size`] uses, bytes.
pub const MIN_BUFFER_SIZE: usize = 1024;

/// The text that starts every metrics record.
const MARKER: &[u8] = b"Avg prompt throughput: ";

/// What the texts of [`MARKERS`] start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A metrics record ([`MARKER`]).
    Metrics,
    /// `Speculative metrics: ` (vLLM's first logger).
    SpecOld,
    /// `SpecDecoding metrics: ` (vLLM's V1 logger).
    SpecNew,
    /// `vLLM API server version X`.
    ServerVersion,
    /// `Initializing a V1 LLM engine (vX)` / `Initializing an LLM engine (vX)`.
    EngineVersion,
}

/// Every text the parser looks for, with what it starts.
const MARKERS: [(&[u8], Kind); 5] = [
    (MARKER, Kind::Metrics),
    (b"Speculative metrics: ", Kind::SpecOld),
    (b"SpecDecoding metrics: ", Kind::SpecNew),
    (b"vLLM API server version ", Kind::ServerVersion),
    (b"LLM engine (v", Kind::EngineVersion),
];

/// The length of the marker of `kind`.
fn marker_len(kind: Kind) -> usize {
    MARKERS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or(1, |(marker, _)| marker.len())
}

/// The most markers [`Markers::all`] hands back per call.
const MAX_HITS_PER_SCAN: usize = 16;

/// The two speculative-decoding markers share their end, searched for once.
const SPEC_TAIL: &[u8] = b" metrics: ";
const _: () = {
    // Both speculative-decoding markers end with the tail (compared from their ends).
    let mut m = 1;
    while m < 3 {
        let marker = MARKERS[m].0;
        let mut i = 0;
        while i < SPEC_TAIL.len() {
            assert!(marker[marker.len() - SPEC_TAIL.len() + i] == SPEC_TAIL[i]);
            i += 1;
        }
        m += 1;
    }
};

/// Searchers for [`MARKERS`]: one `memmem` searcher per distinct text (the two
/// speculative-decoding markers through their shared tail), each a vectorised pass.
struct Markers {
    /// Each searcher with the kind of what it finds; `None` for the shared tail, whose kind
    /// is told by the text before it.
    finders: [(memmem::Finder<'static>, Option<Kind>); 4],
}

impl Markers {
    fn new() -> Self {
        let direct =
            |(marker, kind): (&'static [u8], Kind)| (memmem::Finder::new(marker), Some(kind));
        Markers {
            finders: [
                direct(MARKERS[0]),
                (memmem::Finder::new(SPEC_TAIL), None),
                direct(MARKERS[3]),
                direct(MARKERS[4]),
            ],
        }
    }

    /// The first marker of searcher `searcher` (see [`Markers::finders`]) at or after
    /// `from` in `text`: its start and kind.
    fn first(&self, searcher: usize, text: &[u8], mut from: usize) -> Option<(usize, Kind)> {
        let (finder, kind) = &self.finders[searcher];
        loop {
            let at = from + finder.find(text.get(from..)?)?;
            if let Some(kind) = kind {
                return Some((at, *kind));
            }
            // `Speculative metrics: ` or `SpecDecoding metrics: `, else another `metrics: `.
            let end = at + SPEC_TAIL.len();
            if let Some((marker, kind)) = MARKERS[1..3]
                .iter()
                .find(|(marker, _)| text[..end].ends_with(marker))
            {
                return Some((end - marker.len(), *kind));
            }
            from = at + 1;
        }
    }

    /// The markers at or after `from` in `text` (a line or a piece of one), in order: up to
    /// [`MAX_HITS_PER_SCAN`] of them into `hits`; their number.
    /// `versions` says whether the server and the engine version are still looked for.
    fn all(
        &self,
        text: &[u8],
        from: usize,
        versions: [bool; 2],
        hits: &mut [Option<(usize, Kind)>],
    ) -> usize {
        let wanted = [true, true, versions[0], versions[1]];
        let mut next: [Option<(usize, Kind)>; 4] = std::array::from_fn(|searcher| {
            if wanted[searcher] {
                self.first(searcher, text, from)
            } else {
                None
            }
        });
        let mut found = 0;
        while found < hits.len() {
            let Some(searcher) = (0..4)
                .filter(|&s| next[s].is_some())
                .min_by_key(|&s| next[s].map(|(at, _)| at))
            else {
                break;
            };
            let hit = next[searcher].expect("chosen among the found");
            hits[found] = Some(hit);
            found += 1;
            next[searcher] = self.first(searcher, text, hit.0 + marker_len(hit.1));
        }
        found
    }
}

/// Finds the lines worth reading in raw text: one vectorised pass (Teddy) for all of
/// [`MARKERS`] at once, each call going on from where the text was consumed. Built once
/// per process (building it costs more than searching a small log).
struct LineFinder(&'static LineSearcher);

/// The searcher of [`LineFinder`]: Teddy itself where the CPU has it (markers are a few
/// hundred bytes apart in a busy log, so the cost of each call counts), else the automaton.
enum LineSearcher {
    Packed(aho_corasick::packed::Searcher),
    Automaton(aho_corasick::AhoCorasick),
}

/// The searcher of [`LineFinder`].
static LINE_FINDER: std::sync::LazyLock<LineSearcher> = std::sync::LazyLock::new(|| {
    let patterns = MARKERS.map(|(marker, _)| marker);
    // Leftmost-first matching lets the searcher use its vectorised search over a handful
    // of literals.
    aho_corasick::packed::Config::new()
        .match_kind(aho_corasick::packed::MatchKind::LeftmostFirst)
        .builder()
        .extend(patterns)
        .build()
        .map_or_else(
            || {
                LineSearcher::Automaton(
                    aho_corasick::AhoCorasick::builder()
                        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                        .build(patterns)
                        .expect("a handful of short literal patterns"),
                )
            },
            LineSearcher::Packed,
        )
});

impl LineFinder {
    fn new() -> Self {
        LineFinder(&LINE_FINDER)
    }

    /// The first marker at or after `from` in `text`: its start and kind.
    fn next_hit(&self, text: &[u8], from: usize) -> Option<(usize, Kind)> {
        let found = match self.0 {
            LineSearcher::Packed(searcher) => searcher.find_in(
                text,
                aho_corasick::Span::from(from.min(text.len())..text.len()),
            ),
            LineSearcher::Automaton(automaton) => {
                automaton.find(aho_corasick::Input::new(text).range(from.min(text.len())..))
            }
        }?;
        Some((found.start(), MARKERS[found.pattern().as_usize()].1))
    }
}

/// The most bytes of an engine prefix before a record: `Engine 000: ` and longer numbers.
const ENGINE_PREFIX_BYTES: usize = 16;

/// The longest of [`MARKERS`], bytes.
const LONGEST_MARKER: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < MARKERS.len() {
        if MARKERS[i].0.len() > longest {
            longest = MARKERS[i].0.len();
        }
        i += 1;
    }
    longest
};
/// What follows the prompt throughput's number in a record.
const MIDDLE: &[u8] = b" tokens/s, Avg generation throughput: ";
/// What follows the generation throughput's number in a record.
const TAIL: &[u8] = b" tokens/s";
/// The escape byte that starts an ANSI colour sequence (ESC `[` digits and `;` then `m`).
const ESC: u8 = 0x1b;
/// The bytes of [`MARKERS`]. A line whose text holds a marker once its colour sequences are
/// removed holds it as raw bytes too, unless a colour sequence interrupts it; the first
/// sequence that does comes right after the marker's first bytes, so its escape byte follows
/// one of these. A line with neither a raw marker nor such an escape byte holds nothing to
/// read, and is skipped without removing its colours.
const MARKER_BYTES: [bool; 256] = {
    let mut set = [false; 256];
    let mut m = 0;
    while m < MARKERS.len() {
        let marker = MARKERS[m].0;
        let mut i = 0;
        while i < marker.len() {
            set[marker[i] as usize] = true;
            i += 1;
        }
        m += 1;
    }
    set
};
// The quick pass of `next_interrupting_escape` relies on these two not being marker bytes.
const _: () = assert!(!MARKER_BYTES[b'\n' as usize] && !MARKER_BYTES[b')' as usize]);
/// A possible colour sequence longer than this (bytes) is taken as text.
const MAX_COLOUR_LEN: usize = 32;

/// A push parser: hand it the log in pieces of any size with [`feed`](Self::feed) (a record
/// may be split anywhere between two pieces), then call [`finish`](Self::finish).
///
/// Memory is the fixed buffer. A line longer than the buffer is read in parts: records on it
/// are all found, but a single record longer than the buffer has its fields read only from
/// its first buffer-full of text.
pub struct ServerLogParser {
    /// The fixed buffer: `[0, clean)` is colour-free text not yet parsed, starting at a line
    /// start or inside a line whose earlier text holds no record; `[clean, filled)` is the
    /// start of a possible colour sequence that the next bytes will complete or refute.
    buf: Box<[u8]>,
    clean: usize,
    filled: usize,
    /// One colour-free line that may hold a record; never longer than `buf`.
    line: Vec<u8>,
    scanner: RecordScanner,
}

/// Finds records in text and sums their fields.
struct RecordScanner {
    /// Finds any of [`MARKERS`] in a line.
    markers: Markers,
    /// Finds the lines that hold any of [`MARKERS`].
    lines: LineFinder,
    sums: Sums,
    spec: SpecSums,
    /// The version of `vLLM API server version X`, then of `LLM engine (vX)`: the first of
    /// each.
    server_version: Option<String>,
    engine_version: Option<String>,
    /// Per engine (`None`: records without `Engine NNN: `), the generation throughput of
    /// its records while requests ran.
    running_generation: BTreeMap<Option<u32>, Mean>,
    /// The colour-free text before a line's first record, for the quick path
    /// ([`RecordScanner::scan_clean_line`]).
    prefix: Vec<u8>,
    /// The engine a record at the very start of the text it is read from names (the quick
    /// path reads records from the first one on, the text before it freed of colours apart).
    engine_at_start: Option<u32>,
}

/// What [`RecordScanner::scan_clean_line`] made of a line.
enum Quick {
    /// Read; `next` is the first marker after the line.
    Done { next: Option<(usize, Kind)> },
    /// Not read: a colour sequence follows the marker on the line.
    NeedsColoursRemoved,
}

/// Speculative-decoding counters as read so far.
#[derive(Default)]
struct SpecSums {
    /// Whether any speculative-decoding record was seen.
    seen: bool,
    /// Summed counters of the records that count per interval.
    accepted: u64,
    drafted: u64,
    /// The last record whose counters are cumulative (`System efficiency`): accepted,
    /// drafted.
    cumulative: Option<(u64, u64)>,
    /// Sum of mean acceptance length x drafted tokens, and of those drafted tokens.
    length_sum: f64,
    length_weight: f64,
}

/// Running sums and counts of each field.
#[derive(Default)]
struct Sums {
    records: u64,
    running: Mean,
    waiting: Mean,
    kv_cache: Mean,
    prefix_cache: Mean,
}

#[derive(Default, Clone, Copy)]
struct Mean {
    sum: f64,
    count: u64,
}

impl Mean {
    fn add(&mut self, value: Option<f64>) {
        if let Some(value) = value {
            self.sum += value;
            self.count += 1;
        }
    }

    fn get(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// How the text at a marker occurrence reads.
enum Header {
    /// A record header.
    Record,
    /// Not a record.
    NotRecord,
    /// The text ended before it could tell.
    Undecided,
}

impl Default for ServerLogParser {
    fn default() -> Self {
        ServerLogParser::new()
    }
}

impl ServerLogParser {
    /// A parser with a buffer of [`DEFAULT_BUFFER_SIZE`] bytes.
    pub fn new() -> ServerLogParser {
        ServerLogParser::with_buffer_size(DEFAULT_BUFFER_SIZE)
    }

    /// A parser with a buffer of `size` bytes (at least [`MIN_BUFFER_SIZE`]).
    pub fn with_buffer_size(size: usize) -> ServerLogParser {
        let size = size.max(MIN_BUFFER_SIZE);
        ServerLogParser {
            buf: vec![0; size].into_boxed_slice(),
            clean: 0,
            filled: 0,
            line: Vec::with_capacity(size),
            scanner: RecordScanner {
                markers: Markers::new(),
                lines: LineFinder::new(),
                spec: SpecSums::default(),
                server_version: None,
                engine_version: None,
                running_generation: BTreeMap::new(),
                sums: Sums::default(),
                prefix: Vec::new(),
                engine_at_start: None,
            },
        }
    }

    /// Parse the next piece of the log.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(data.len());
            spare[..n].copy_from_slice(&data[..n]);
            self.commit(n);
            data = &data[n..];
        }
    }

    /// The means over every record fed so far, the last line ending at the end of the log.
    pub fn finish(mut self) -> LogMetrics {
        // An unfinished colour sequence at the very end is plain text.
        self.clean = self.filled;
        self.scanner.scan_lines(&self.buf[..self.clean]);
        let scanner = self.scanner;
        let sums = &scanner.sums;
        let generation = scanner
            .running_generation
            .values()
            .filter_map(|mean| mean.get());
        LogMetrics {
            records: sums.records,
            avg_running_reqs: sums.running.get(),
            avg_waiting_reqs: sums.waiting.get(),
            avg_gpu_kvc_usage: sums.kv_cache.get(),
            avg_prefix_cache_hit_rate: sums.prefix_cache.get(),
            spec: scanner.spec.totals(),
            vllm_version: scanner.server_version.or(scanner.engine_version),
            generation_tps_while_running: generation
                .fold(None, |sum, mean| Some(sum.unwrap_or(0.0) + mean)),
        }
    }

    /// The free part of the buffer, never empty between calls.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.filled..]
    }

    /// Take `n` bytes just written into [`spare`](Self::spare).
    ///
    /// The same as removing the colour sequences of every new byte and then parsing every
    /// line that ended, but only lines that may hold a record are copied and parsed.
    fn commit(&mut self, n: usize) {
        self.filled += n;
        // `[clean, filled)` is raw: an undecided colour sequence, then the new bytes.
        let Some(first_end) =
            memchr::memchr(b'\n', &self.buf[self.clean..self.filled]).map(|i| self.clean + i + 1)
        else {
            self.strip_colours();
            if self.filled == self.buf.len() {
                self.split_long_line();
            }
            return;
        };
        let last_end = memchr::memrchr(b'\n', &self.buf[first_end..self.filled])
            .map_or(first_end, |i| first_end + i + 1);
        // The line in progress: its colour-free start and its raw end.
        self.line.clear();
        self.line.extend_from_slice(&self.buf[..self.clean]);
        strip_line(&self.buf[self.clean..first_end], &mut self.line);
        self.scanner.scan_lines(&self.line);
        self.scan_raw_lines(first_end, last_end);
        // The start of the next line.
        self.buf.copy_within(last_end..self.filled, 0);
        self.filled -= last_end;
        self.clean = 0;
        self.strip_colours();
    }

    /// Parse every record in the whole raw lines `buf[start..end]` (`start` at a line start,
    /// `end` just after a line end). Only the lines with the raw marker or with an escape
    /// byte after a marker byte ([`MARKER_BYTES`]) are freed of colours and parsed.
    fn scan_raw_lines(&mut self, start: usize, end: usize) {
        let ServerLogParser {
            buf, line, scanner, ..
        } = self;
        let text = &buf[start..end];
        let mut next_escape = next_interrupting_escape(text, 0);
        let mut next_marker = scanner.lines.next_hit(text, 0);
        while let Some(at) = earliest(next_escape, next_marker.map(|(at, _)| at)) {
            let line_start = memchr::memrchr(b'\n', &text[..at]).map_or(0, |i| i + 1);
            let line_end = memchr::memchr(b'\n', &text[at..]).map_or(text.len(), |i| at + i + 1);
            let quick = match next_marker {
                Some(first) if first.0 == at => {
                    scanner.scan_clean_line(text, line_start, line_end, first)
                }
                _ => Quick::NeedsColoursRemoved,
            };
            if let Quick::Done { next } = quick {
                // The markers after this line were found on the way.
                next_marker = next;
            } else {
                line.clear();
                strip_line(&text[line_start..line_end], line);
                scanner.scan_lines(line);
                if next_marker.is_some_and(|(i, _)| i < line_end) {
                    next_marker = scanner.lines.next_hit(text, line_end);
                }
            }
            if next_escape.is_some_and(|i| i < line_end) {
                next_escape = next_interrupting_escape(text, line_end);
            }
        }
    }

    /// Remove the colour sequences of `[clean, filled)`, moving `clean` and `filled`.
    fn strip_colours(&mut self) {
        let end = self.filled;
        let (mut read, mut write) = (self.clean, self.clean);
        while let Some(i) = memchr::memchr(ESC, &self.buf[read..end]) {
            let esc = read + i;
            self.buf.copy_within(read..esc, write);
            write += esc - read;
            match colour_at(&self.buf[esc..end]) {
                Colour::Sequence(len) => read = esc + len,
                Colour::Undecided => {
                    // Undecided until more bytes come: keep it after the clean text.
                    self.buf.copy_within(esc..end, write);
                    self.clean = write;
                    self.filled = write + (end - esc);
                    return;
                }
                Colour::Text => {
                    self.buf[write] = ESC;
                    write += 1;
                    read = esc + 1;
                }
            }
        }
        if read != write {
            self.buf.copy_within(read..end, write);
        }
        self.clean = write + (end - read);
        self.filled = self.clean;
    }

    /// Drop the first `n` bytes of the buffer.
    fn discard(&mut self, n: usize) {
        self.buf.copy_within(n..self.filled, 0);
        self.clean -= n;
        self.filled -= n;
    }

    /// The buffer is full and holds no line end: parse the records that are complete and
    /// keep only what may belong to one that is not.
    fn split_long_line(&mut self) {
        let text = &self.buf[..self.clean];
        // What is kept also keeps the bytes before it that may name the engine
        // (`Engine 000: `), which are too few to hold an earlier record's start.
        let keep_from = match self.scanner.scan(text, false) {
            Some(start) if start > 0 => start.saturating_sub(ENGINE_PREFIX_BYTES),
            open => {
                if open.is_some() {
                    // One record fills the buffer: read it as far as it goes.
                    self.scanner.scan(text, true);
                }
                // Keep what could be the start of a marker.
                self.clean
                    .saturating_sub(LONGEST_MARKER - 1 + ENGINE_PREFIX_BYTES)
            }
        };
        self.discard(keep_from);
    }
}

impl RecordScanner {
    /// The quick way through the raw line `text[line_start..line_end]` whose first marker
    /// is `first`: when no escape byte follows the marker on the line, its records are read
    /// where they are, with the markers the line finder gives (no copy of the records, no
    /// second search); only the text before the marker is freed of colours, for the engine
    /// it may name.
    fn scan_clean_line(
        &mut self,
        text: &[u8],
        line_start: usize,
        line_end: usize,
        first: (usize, Kind),
    ) -> Quick {
        let at = first.0;
        let content_end = if text[..line_end].ends_with(b"\n") {
            line_end - 1
        } else {
            line_end
        };
        if self.read_usual_line(&text[line_start..content_end], at - line_start, first.1) {
            // The record ends the line and holds no other marker: the next is after the line.
            return Quick::Done {
                next: self.lines.next_hit(text, line_end),
            };
        }
        if memchr::memchr(ESC, &text[at..line_end]).is_some() {
            return Quick::NeedsColoursRemoved;
        }
        let mut hits = [(0, Kind::Metrics); MAX_HITS_PER_SCAN];
        let mut found = 0;
        let mut next = Some(first);
        while let Some((hit, kind)) = next.filter(|(hit, _)| *hit < line_end) {
            if found == hits.len() {
                return Quick::NeedsColoursRemoved;
            }
            hits[found] = (hit - at, kind);
            found += 1;
            next = self.lines.next_hit(text, hit + marker_len(kind));
        }
        self.engine_at_start = self.engine_of_prefix(&text[line_start..at]);
        let line = &text[at..content_end];
        let mut current = None;
        for &(hit, kind) in &hits[..found] {
            // A whole line: no scan stops early.
            let _ = self.scan_hit(line, hit, kind, true, &mut current);
        }
        if let Some((start, kind)) = current {
            self.add(kind, line, start, line.len());
        }
        self.engine_at_start = None;
        Quick::Done { next }
    }

    /// The quickest way, for the lines of a busy log: the raw line `line` (without its line
    /// end) whose first marker, at `at`, starts a record of `kind` that runs to the line's
    /// end in the shape vLLM V1 prints ([`MetricsFields::read_usual`],
    /// [`SpecFields::read_usual`]). Such a record is counted (`true`) in one pass, without
    /// looking for other markers in it first: it is made of its labels, numbers and
    /// separators, so it holds neither a colour sequence nor another marker (its text is
    /// what removing colours leaves, and it is the line's only record). `false` (nothing
    /// counted) for any other line.
    fn read_usual_line(&mut self, line: &[u8], at: usize, kind: Kind) -> bool {
        let record = &line[at..];
        match kind {
            Kind::Metrics => {
                let Some(fields) = MetricsFields::read_usual(record) else {
                    return false;
                };
                let engine = self.engine_of_prefix(&line[..at]);
                self.add_metrics(&fields, engine);
            }
            Kind::SpecNew => {
                let Some(fields) = SpecFields::read_usual(record) else {
                    return false;
                };
                self.spec.add_new_fields(&fields);
            }
            Kind::SpecOld | Kind::ServerVersion | Kind::EngineVersion => return false,
        }
        true
    }

    /// The engine the raw text before a line's first record names, as [`engine_before`]
    /// reads it once the colours are removed. Usually read from the text after the last
    /// colour sequence, which vLLM puts well before `Engine NNN: `; the prefix is freed of
    /// its colours only when the engine could straddle one.
    fn engine_of_prefix(&mut self, prefix: &[u8]) -> Option<u32> {
        let after_colours = match memchr::memrchr(ESC, prefix) {
            None => 0,
            Some(esc) => match colour_at(&prefix[esc..]) {
                Colour::Sequence(len) => esc + len,
                Colour::Text | Colour::Undecided => usize::MAX,
            },
        };
        // The text after the last colour sequence: what it says is what the colour-free
        // prefix says, unless it is the end of an `Engine NNN: ` begun before that sequence.
        if let Some(tail) = prefix.get(after_colours..)
            && (after_colours == 0 || !could_end_engine_prefix(tail))
        {
            return engine_before(tail);
        }
        self.prefix.clear();
        strip_line(prefix, &mut self.prefix);
        engine_before(&self.prefix)
    }

    /// Parse every record in `text`, colour-free whole lines (the last one's end may be
    /// the end of the log).
    fn scan_lines(&mut self, text: &[u8]) {
        let mut start = 0;
        while start < text.len() {
            let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
            self.scan(&text[start..end], true);
            start = end + 1;
        }
    }

    /// Parse the records of `text`, a piece of one line. When `complete` (the line ends
    /// with `text`), every record is parsed and `None` returned. Otherwise the last record,
    /// or text that may become one, is left unparsed and its start returned.
    fn scan(&mut self, text: &[u8], complete: bool) -> Option<usize> {
        let mut current: Option<(usize, Kind)> = None;
        let mut hits = [None; MAX_HITS_PER_SCAN];
        let mut from = 0;
        loop {
            let versions = [
                self.server_version.is_none(),
                self.server_version.is_none() && self.engine_version.is_none(),
            ];
            let found = self.markers.all(text, from, versions, &mut hits);
            if found == 0 {
                break;
            }
            for &(at, kind) in hits[..found].iter().flatten() {
                if let Some(stop) = self.scan_hit(text, at, kind, complete, &mut current) {
                    return Some(stop);
                }
            }
            let Some((last, kind)) = hits[found - 1] else {
                break;
            };
            from = last + marker_len(kind);
        }
        let (start, kind) = current?;
        if complete {
            self.add(kind, text, start, text.len());
            None
        } else {
            Some(start)
        }
    }

    /// One marker found at `at` by [`RecordScanner::scan`]: a version is read, a record
    /// ends the one `current` holds and becomes current. `Some(at)` when the scan ends here:
    /// a header cut off at the end of an incomplete piece, kept from `at`.
    fn scan_hit(
        &mut self,
        text: &[u8],
        at: usize,
        kind: Kind,
        complete: bool,
        current: &mut Option<(usize, Kind)>,
    ) -> Option<usize> {
        let mut undecided = None;
        {
            match kind {
                Kind::ServerVersion | Kind::EngineVersion => {
                    self.read_version(kind, &text[at + marker_len(kind)..]);
                    return None;
                }
                Kind::Metrics => match read_header(&text[at..]) {
                    Header::Record => {}
                    // At a line's end, text that ends mid-header is no record.
                    Header::Undecided if !complete => {
                        undecided = Some(at);
                    }
                    Header::Undecided | Header::NotRecord => return None,
                },
                Kind::SpecOld | Kind::SpecNew => {}
            }
        }
        if let Some((start, kind)) = current.take() {
            self.add(kind, text, start, at);
        }
        if undecided.is_some() {
            return undecided;
        }
        *current = Some((at, kind));
        None
    }

    /// Count the record `text[start..end]` of `kind`; the text before `start` may name its
    /// engine.
    fn add(&mut self, kind: Kind, text: &[u8], start: usize, end: usize) {
        let record = &text[start..end];
        let engine = if start == 0 {
            self.engine_at_start
        } else {
            engine_before(&text[..start])
        };
        match kind {
            Kind::Metrics => self.add_record(record, engine),
            Kind::SpecOld => self.spec.add_old(record),
            Kind::SpecNew => self.spec.add_new(record),
            Kind::ServerVersion | Kind::EngineVersion => {}
        }
    }

    /// Keep the version that follows a version marker (`after`), the first of its kind.
    fn read_version(&mut self, kind: Kind, after: &[u8]) {
        let slot = if kind == Kind::ServerVersion {
            &mut self.server_version
        } else {
            &mut self.engine_version
        };
        if slot.is_some() {
            return;
        }
        let end = after
            .iter()
            .position(|&b| b.is_ascii_whitespace() || b == b')' || b == b',')
            .unwrap_or(after.len());
        let version = &after[..end];
        let version = version.strip_prefix(b"v").unwrap_or(version);
        if !version.is_empty()
            && version.len() <= 80
            && version.first().is_some_and(u8::is_ascii_digit)
            // Printable ASCII only: a log's stray bytes never reach the CSV.
            && version.iter().all(u8::is_ascii_graphic)
            && let Ok(version) = std::str::from_utf8(version)
        {
            *slot = Some(version.to_owned());
        }
    }

    /// Count one metrics record and its fields; `engine` is the engine it names.
    fn add_record(&mut self, record: &[u8], engine: Option<u32>) {
        self.add_metrics(&MetricsFields::read(record), engine);
    }

    /// Count one metrics record whose fields are read; `engine` is the engine it names.
    fn add_metrics(&mut self, fields: &MetricsFields, engine: Option<u32>) {
        let sums = &mut self.sums;
        sums.records += 1;
        let running = fields.running.get();
        sums.running.add(running);
        sums.waiting.add(fields.waiting.get());
        sums.kv_cache.add(fields.kv_cache.get());
        sums.prefix_cache.add(fields.prefix_cache.get());
        if running.is_some_and(|running| running > 0.0) {
            self.running_generation
                .entry(engine)
                .or_default()
                .add(fields.generation.get());
        }
    }
}

/// A field of a record: not found yet, or found with its value (`None` when it does not read
/// as a number, e.g. `1.2.3`). The first one found counts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slot<T> {
    found: bool,
    value: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            found: false,
            value: None,
        }
    }
}

impl<T> Slot<T> {
    fn found(value: Option<T>) -> Self {
        Slot { found: true, value }
    }

    fn is_empty(&self) -> bool {
        !self.found
    }

    fn get(self) -> Option<T> {
        self.value
    }
}

/// The fields of a metrics record, read in one pass over its `: ` separators: for each, the
/// first `Label: N suffix` of the record. Waiting is the first of `Waiting:` and the old
/// engine's `Pending:`.
#[derive(Debug, Default, PartialEq)]
struct MetricsFields {
    running: Slot<f64>,
    waiting: Slot<f64>,
    kv_cache: Slot<f64>,
    prefix_cache: Slot<f64>,
    /// `Avg generation throughput: Y` (no suffix needed).
    generation: Slot<f64>,
}

impl MetricsFields {
    fn read(record: &[u8]) -> Self {
        Self::read_usual(record).unwrap_or_else(|| Self::read_labels(record))
    }

    /// Each field from the first `Label: value` of its label, anywhere in the record.
    fn read_labels(record: &[u8]) -> Self {
        let mut fields = MetricsFields::default();
        for_each_label(record, |head, tail| {
            if fields.running.is_empty() && head.ends_with(b"Running") {
                fields.running = labelled(tail, b" reqs");
            } else if fields.waiting.is_empty()
                && (head.ends_with(b"Waiting") || head.ends_with(b"Pending"))
            {
                fields.waiting = labelled(tail, b" reqs");
            } else if fields.kv_cache.is_empty() && head.ends_with(b"GPU KV cache usage") {
                fields.kv_cache = labelled(tail, b"%");
            } else if fields.prefix_cache.is_empty() && head.ends_with(b"Prefix cache hit rate") {
                fields.prefix_cache = labelled(tail, b"%");
            } else if fields.generation.is_empty() && head.ends_with(b"Avg generation throughput") {
                fields.generation = Slot::found(read_decimal(tail).1);
            }
        });
        fields
    }
}

impl MetricsFields {
    /// The record in the shape vLLM V1 prints, read in one pass from start to end:
    /// `Avg prompt throughput: X tokens/s, Avg generation throughput: Y tokens/s, Running: N
    /// reqs, Waiting: N reqs, GPU KV cache usage: X%, Prefix cache hit rate: Y%` and nothing
    /// after. `None` for any other shape (then [`MetricsFields::read`] reads it label by
    /// label, with the same result for this shape).
    fn read_usual(record: &[u8]) -> Option<Self> {
        let mut rest = record.strip_prefix(MARKER)?;
        let mut number = |after: &[u8]| -> Option<Option<f64>> {
            let (digits, value) = read_decimal(rest);
            if digits == 0 {
                return None;
            }
            rest = rest[digits..].strip_prefix(after)?;
            Some(value)
        };
        number(b" tokens/s, Avg generation throughput: ")?;
        let generation = number(b" tokens/s, Running: ")?;
        let running = number(b" reqs, Waiting: ")?;
        let waiting = number(b" reqs, GPU KV cache usage: ")?;
        let kv_cache = number(b"%, Prefix cache hit rate: ")?;
        let prefix_cache = number(b"%")?;
        rest.is_empty().then(|| MetricsFields {
            running: Slot::found(running),
            waiting: Slot::found(waiting),
            kv_cache: Slot::found(kv_cache),
            prefix_cache: Slot::found(prefix_cache),
            generation: Slot::found(generation),
        })
    }
}

/// The fields of a speculative-decoding record, read as [`MetricsFields`] (each the first
/// occurrence of its label).
#[derive(Debug, Default, PartialEq)]
struct SpecFields {
    old_accepted: Slot<u64>,
    old_drafted: Slot<u64>,
    system_efficiency: bool,
    new_accepted: Slot<u64>,
    new_drafted: Slot<u64>,
    mean_length: Slot<f64>,
}

impl SpecFields {
    fn read(record: &[u8]) -> Self {
        Self::read_usual(record).unwrap_or_else(|| Self::read_labels(record))
    }

    /// Each field from the first `Label: value` of its label, anywhere in the record.
    fn read_labels(record: &[u8]) -> Self {
        let mut fields = SpecFields::default();
        for_each_label(record, |head, tail| {
            let slot = if head.ends_with(b"Number of accepted tokens") {
                &mut fields.old_accepted
            } else if head.ends_with(b"Number of draft tokens") {
                &mut fields.old_drafted
            } else if head.ends_with(b"Accepted") {
                &mut fields.new_accepted
            } else if head.ends_with(b"Drafted") {
                &mut fields.new_drafted
            } else {
                if head.ends_with(b"System efficiency") {
                    fields.system_efficiency = true;
                } else if fields.mean_length.is_empty() && head.ends_with(b"Mean acceptance length")
                {
                    fields.mean_length = Slot::found(read_decimal(tail).1);
                }
                return;
            };
            if slot.is_empty() {
                *slot = Slot::found(whole_number(tail));
            }
        });
        fields
    }
}

impl SpecFields {
    /// A `SpecDecoding metrics: ` record in the shapes vLLM V1 prints, read in one pass:
    /// `Draft acceptance rate: X%` (or `nan%`), optionally `, Mean acceptance length: L`,
    /// optionally `, Accepted throughput: A tokens/s, Drafted throughput: D tokens/s`, then
    /// `, Accepted: N tokens, Drafted: M tokens`, then nothing or `, Per-position
    /// acceptance rate: ` and a list of numbers (digits, dots, commas and spaces). `None`
    /// for any other shape (then [`SpecFields::read`] reads it label by label, with the same
    /// result for these).
    fn read_usual(record: &[u8]) -> Option<Self> {
        let mut rest = record.strip_prefix(b"SpecDecoding metrics: Draft acceptance rate: ")?;
        let rate = if let Some(after) = rest.strip_prefix(b"nan") {
            after
        } else {
            let digits = number_len(rest);
            (digits > 0).then_some(&rest[digits..])?
        };
        rest = rate.strip_prefix(b"%")?;
        let mut fields = SpecFields::default();
        if let Some(after) = rest.strip_prefix(b", Mean acceptance length: ") {
            let (digits, value) = read_decimal(after);
            fields.mean_length = Slot::found(value);
            rest = &after[digits..];
        }
        if let Some(after) = rest.strip_prefix(b", Accepted throughput: ") {
            let after = &after[number_len(after)..];
            let after = after.strip_prefix(b" tokens/s, Drafted throughput: ")?;
            let after = &after[number_len(after)..];
            rest = after.strip_prefix(b" tokens/s")?;
        }
        let mut count = |label: &[u8]| -> Option<Slot<u64>> {
            let after = rest.strip_prefix(label)?;
            let (digits, value) = read_whole_number(after);
            rest = after[digits..].strip_prefix(b" tokens")?;
            Some(Slot::found(value))
        };
        fields.new_accepted = count(b", Accepted: ")?;
        fields.new_drafted = count(b", Drafted: ")?;
        let list = rest
            .strip_prefix(b", Per-position acceptance rate: ")
            .unwrap_or(rest);
        if list.len() == rest.len() && !rest.is_empty() {
            return None;
        }
        // A list of numbers: no label, and (for [`RecordScanner::read_usual_line`]) neither
        // a colour sequence nor a marker.
        list.iter()
            .all(|&b| b.is_ascii_digit() || matches!(b, b'.' | b',' | b' '))
            .then_some(fields)
    }
}

/// Call `f(head, tail)` for every `: ` of `record`: `head` the text before the colon,
/// `tail` the text after the space.
fn for_each_label(record: &[u8], mut f: impl FnMut(&[u8], &[u8])) {
    for colon in memchr::memchr_iter(b':', record) {
        if record.get(colon + 1) == Some(&b' ') {
            f(&record[..colon], &record[colon + 2..]);
        }
    }
}

/// `N suffix` at the start of `tail` (N digits and dots): found when it is there, empty
/// otherwise.
fn labelled(tail: &[u8], suffix: &[u8]) -> Slot<f64> {
    let (digits, value) = read_decimal(tail);
    if digits > 0 && tail[digits..].starts_with(suffix) {
        Slot::found(value)
    } else {
        Slot::default()
    }
}

/// The whole number (digits only) at the start of `tail`; `None` without digits or past
/// `u64`.
fn whole_number(tail: &[u8]) -> Option<u64> {
    read_whole_number(tail).1
}

/// The run of digits at the start of `tail`, its length and [`whole_number`]'s value, in
/// one pass.
fn read_whole_number(tail: &[u8]) -> (usize, Option<u64>) {
    let mut value = Some(0u64);
    let mut len = 0;
    while let Some(&b) = tail.get(len).filter(|b| b.is_ascii_digit()) {
        value = value.and_then(|n| n.checked_mul(10)?.checked_add(u64::from(b - b'0')));
        len += 1;
    }
    (len, value.filter(|_| len > 0))
}

impl SpecSums {
    /// A `Speculative metrics: ` record: cumulative counters when it carries
    /// `System efficiency` (the last such record counts), per interval otherwise (summed).
    fn add_old(&mut self, record: &[u8]) {
        self.seen = true;
        let fields = SpecFields::read(record);
        let (accepted, drafted) = (fields.old_accepted.get(), fields.old_drafted.get());
        if fields.system_efficiency {
            self.cumulative = Some((accepted.unwrap_or(0), drafted.unwrap_or(0)));
        } else {
            self.add_interval(accepted, drafted, None);
        }
    }

    /// A `SpecDecoding metrics: ` record: counters per interval, summed.
    fn add_new(&mut self, record: &[u8]) {
        self.add_new_fields(&SpecFields::read(record));
    }

    /// A `SpecDecoding metrics: ` record whose fields are read.
    fn add_new_fields(&mut self, fields: &SpecFields) {
        self.seen = true;
        let accepted = fields.new_accepted.get();
        let drafted = fields.new_drafted.get();
        let mean_length = fields.mean_length.get();
        self.add_interval(accepted, drafted, mean_length);
    }

    fn add_interval(&mut self, accepted: Option<u64>, drafted: Option<u64>, length: Option<f64>) {
        self.accepted = self.accepted.saturating_add(accepted.unwrap_or(0));
        let drafted = drafted.unwrap_or(0);
        self.drafted = self.drafted.saturating_add(drafted);
        if let Some(length) = length
            && drafted > 0
            && (length * drafted as f64).is_finite()
        {
            self.length_sum += length * drafted as f64;
            self.length_weight += drafted as f64;
        }
    }

    /// The totals; `None` when no speculative-decoding record was seen.
    fn totals(&self) -> Option<SpecDecoding> {
        self.seen.then(|| {
            let (accepted, drafted) = self.cumulative.unwrap_or((0, 0));
            SpecDecoding {
                accepted: self.accepted.saturating_add(accepted),
                drafted: self.drafted.saturating_add(drafted),
                mean_acceptance_length: (self.length_weight > 0.0)
                    .then(|| self.length_sum / self.length_weight)
                    .filter(|length| length.is_finite()),
            }
        })
    }
}

/// Whether `tail` could be the end of an `Engine NNN: ` that starts before it: `: ` after
/// digits after the end of `Engine ` (any of it, or none).
fn could_end_engine_prefix(tail: &[u8]) -> bool {
    let Some(before) = tail.strip_suffix(b": ") else {
        return false;
    };
    let digits = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    b"Engine ".ends_with(&before[..before.len() - digits])
}

/// The engine a record's prefix names: `Engine 000: ` right before it.
fn engine_before(before: &[u8]) -> Option<u32> {
    let before = before.strip_suffix(b": ")?;
    let digits = before
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let (rest, number) = before.split_at(before.len() - digits);
    if digits == 0 || !rest.ends_with(b"Engine ") {
        return None;
    }
    // What `str::parse::<u32>` gives for digits, without its UTF-8 check and sign handling
    // (this runs for every record).
    number.iter().try_fold(0u32, |n, &b| {
        n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// The run of digits and dots at the start of `text` (its length, as [`number_len`]) and
/// what it reads as, in one pass (the fields of a busy log are mostly numbers: this is the
/// parser's innermost loop): `digits[.digits]` exactly as `str::parse::<f64>` reads it (the
/// digits as an integer below 2^53, divided by a power of ten up to 10^22: both exact, so
/// the one rounding is the correctly rounded result), more than 15 digits through
/// `str::parse`; `None` without a digit or with two dots.
fn read_decimal(text: &[u8]) -> (usize, Option<f64>) {
    const POWERS: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    // No check inside the loop: past 19 digits the mantissa wraps, and is then not used.
    let mut mantissa: u64 = 0;
    let (mut len, mut dots, mut dot) = (0, 0, 0);
    while let Some(&b) = text.get(len) {
        if b.is_ascii_digit() {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        } else if b == b'.' {
            dots += 1;
            dot = len;
        } else {
            break;
        }
        len += 1;
    }
    let value = match (len - dots, dots) {
        (0, _) | (_, 2..) => None,
        (16.., _) => std::str::from_utf8(&text[..len])
            .ok()
            .and_then(|number| number.parse().ok()),
        (_, dots) => {
            #[expect(
                clippy::cast_precision_loss,
                reason = "at most 15 digits: below 2^53, exact"
            )]
            let mantissa = mantissa as f64;
            // The digits after the dot (none without one).
            Some(mantissa / POWERS[if dots == 0 { 0 } else { len - 1 - dot }])
        }
    };
    (len, value)
}

/// What an ESC byte starts.
enum Colour {
    /// A colour sequence of this many bytes, to remove.
    Sequence(usize),
    /// The text ends before it can tell.
    Undecided,
    /// No colour sequence: the ESC byte is text.
    Text,
}

/// Bytes looked at together by [`next_interrupting_escape`]'s quick pass.
const BLOCK: usize = 64;

/// The position of the first escape byte at or after `from` in `text` (whole lines, the
/// first starting at 0) that follows a marker byte ([`MARKER_BYTES`]), if any.
///
/// Escape bytes are frequent (vLLM colours a prefix on every line) but almost never follow a
/// marker byte. Blocks of [`BLOCK`] bytes are first checked all at once, a check the compiler
/// turns into vector instructions, for an escape byte after anything but a line end or `)`
/// (the bytes before vLLM's two escapes, neither a marker byte); only a block that has one is
/// looked at byte by byte.
fn next_interrupting_escape(text: &[u8], from: usize) -> Option<usize> {
    let interrupting = |i: usize| text[i] == ESC && MARKER_BYTES[usize::from(text[i - 1])];
    // An escape byte first on its line interrupts no marker.
    let mut at = from.max(1);
    while at + BLOCK <= text.len() {
        let before = &text[at - 1..at - 1 + BLOCK];
        let block = &text[at..at + BLOCK];
        let suspect = before.iter().zip(block).fold(0u8, |any, (&b, &c)| {
            any | (u8::from(c == ESC) & u8::from(b != b'\n') & u8::from(b != b')'))
        });
        if suspect != 0
            && let Some(i) = (at..at + BLOCK).find(|&i| interrupting(i))
        {
            return Some(i);
        }
        at += BLOCK;
    }
    (at..text.len()).find(|&i| interrupting(i))
}

/// The earlier of two positions, if any.
fn earliest(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Append `line` to `out` without its colour sequences. `line` ends with a line end (or is
/// the last of the log), so every escape byte in it is decided.
fn strip_line(mut line: &[u8], out: &mut Vec<u8>) {
    while let Some(i) = memchr::memchr(ESC, line) {
        out.extend_from_slice(&line[..i]);
        match colour_at(&line[i..]) {
            Colour::Sequence(len) => line = &line[i + len..],
            Colour::Text | Colour::Undecided => {
                out.push(ESC);
                line = &line[i + 1..];
            }
        }
    }
    out.extend_from_slice(line);
}

/// What the ESC byte at the start of `text` starts.
fn colour_at(text: &[u8]) -> Colour {
    match text.get(1) {
        None => return Colour::Undecided,
        Some(b'[') => {}
        Some(_) => return Colour::Text,
    }
    let params = text[2..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    match text.get(2 + params) {
        Some(b'm') => Colour::Sequence(3 + params),
        None if 2 + params < MAX_COLOUR_LEN => Colour::Undecided,
        _ => Colour::Text,
    }
}

/// The length of a run of digits and dots at the start of `text`.
fn number_len(text: &[u8]) -> usize {
    text.iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count()
}

/// Whether `text` (starting with the marker) starts a record:
/// `Avg prompt throughput: X tokens/s, Avg generation throughput: Y tokens/s`.
fn read_header(text: &[u8]) -> Header {
    let mut pos = MARKER.len();
    for literal in [MIDDLE, TAIL] {
        let digits = number_len(&text[pos..]);
        pos += digits;
        let rest = &text[pos..];
        if rest.len() < literal.len() && literal.starts_with(rest) {
            return Header::Undecided;
        }
        if digits == 0 || !rest.starts_with(literal) {
            return Header::NotRecord;
        }
        pos += literal.len();
    }
    Header::Record
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_support::{assert_every_fixture_tested, open_fixture};

    fn fixture(name: &str) -> Vec<u8> {
        crate::test_support::fixture(&format!("vllm/{name}"))
    }

    /// The README's columns: records, then the four means with six decimals (`empty` for none).
    fn readme_row(m: &LogMetrics) -> [String; 5] {
        let six = |x: Option<f64>| x.map_or_else(|| "empty".to_owned(), |x| format!("{x:.6}"));
        [
            m.records.to_string(),
            six(m.avg_running_reqs),
            six(m.avg_waiting_reqs),
            six(m.avg_gpu_kvc_usage),
            six(m.avg_prefix_cache_hit_rate),
        ]
    }

    /// A fixture parsed from its file, checked against the same bytes fed one at a
    /// time through the smallest buffer.
    fn fixture_row(name: &str) -> [String; 5] {
        let metrics = parse_reader(open_fixture(&format!("vllm/{name}"))).unwrap();
        let mut parser = ServerLogParser::with_buffer_size(MIN_BUFFER_SIZE);
        for byte in fixture(name) {
            parser.feed(&[byte]);
        }
        assert_eq!(parser.finish(), metrics, "byte-by-byte feeding of `{name}`");
        readme_row(&metrics)
    }

    #[test]
    fn the_one_pass_readers_agree_with_the_label_readers() {
        let metrics: [(&[u8], bool); 6] = [
            (b"Avg prompt throughput: 4537.9 tokens/s, Avg generation throughput: 4635.5 tokens/s, Running: 260 reqs, Waiting: 333 reqs, GPU KV cache usage: 58.7%, Prefix cache hit rate: 66.4%", true),
            (b"Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 1.2.3 tokens/s, Running: 0 reqs, Waiting: 0 reqs, GPU KV cache usage: 0.0%, Prefix cache hit rate: 0.0%", true),
            (b"Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, Running: 3 reqs, Pending: 4 reqs, GPU KV cache usage: 5%, Prefix cache hit rate: 6%", false),
            (b"Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, Running: 3 reqs, Waiting: 4 reqs, GPU KV cache usage: 5%", false),
            (b"Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, Running: 3 reqs, Waiting: 4 reqs, GPU KV cache usage: 5%, Prefix cache hit rate: 6%, MM cache hit rate: 1%", false),
            (b"Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, Running: 3 reqs, Swapped: 0 reqs, Pending: 4 reqs, GPU KV cache usage: 5%, CPU KV cache usage: 0.0%.", false),
        ];
        for (record, usual) in metrics {
            let shown = String::from_utf8_lossy(record);
            assert_eq!(
                MetricsFields::read_usual(record).is_some(),
                usual,
                "{shown}"
            );
            assert_eq!(
                MetricsFields::read(record),
                MetricsFields::read_labels(record),
                "{shown}"
            );
        }
        let spec: [(&[u8], bool); 7] = [
            (b"SpecDecoding metrics: Draft acceptance rate: 100.0%, Accepted: 66 tokens, Drafted: 66 tokens", true),
            (b"SpecDecoding metrics: Draft acceptance rate: nan%, Accepted: 0 tokens, Drafted: 0 tokens", true),
            (b"SpecDecoding metrics: Draft acceptance rate: 38.8%, Mean acceptance length: 2.16, Accepted: 150 tokens, Drafted: 387 tokens, Per-position acceptance rate: 0.543, 0.357, 0.264", true),
            (b"SpecDecoding metrics: Draft acceptance rate: 46.3%, Mean acceptance length: 2.70, Accepted throughput: 149.63 tokens/s, Drafted throughput: 369.31 tokens/s, Accepted: 2118 tokens, Drafted: 2522 tokens, Per-position acceptance rate: 0.600, 0.631, 0.381", true),
            (b"SpecDecoding metrics: Draft acceptance rate: 1%, Accepted: 99999999999999999999999 tokens, Drafted: 2 tokens", true),
            (b"SpecDecoding metrics: Mean acceptance length: 1.80, Accepted throughput: 0.63 tokens/s, Drafted throughput: 0.77 tokens/s, Accepted: 648 tokens, Drafted: 788 tokens, Per-position acceptance rate: 0.796, Avg Draft acceptance rate: 82.2%", false),
            (b"SpecDecoding metrics: Draft acceptance rate: 1%, Accepted: 1 tokens, Drafted: 2 tokens, Per-position acceptance rate: 0.5, System efficiency: 0.4", false),
        ];
        for (record, usual) in spec {
            let shown = String::from_utf8_lossy(record);
            assert_eq!(SpecFields::read_usual(record).is_some(), usual, "{shown}");
            assert_eq!(
                SpecFields::read(record),
                SpecFields::read_labels(record),
                "{shown}"
            );
        }
    }

    #[test]
    fn fixture_v0_swapped_pending() {
        assert_eq!(
            fixture_row("v0-swapped-pending.log"),
            ["3", "23.666667", "27.666667", "76.466667", "empty"]
        );
    }

    #[test]
    fn fixture_v1_plain_idle() {
        assert_eq!(
            fixture_row("v1-plain-idle.log"),
            ["3", "106.666667", "63.333333", "43.000000", "2.500000"]
        );
    }

    #[test]
    fn fixture_v1_apiserver_ansi() {
        assert_eq!(
            fixture_row("v1-apiserver-ansi.log"),
            ["3", "254.000000", "698.000000", "82.800000", "11.000000"]
        );
    }

    #[test]
    fn fixture_v1_data_parallel() {
        assert_eq!(
            fixture_row("v1-data-parallel.log"),
            ["4", "125.500000", "11.500000", "83.750000", "43.250000"]
        );
    }

    #[test]
    fn fixture_v1_glued_records() {
        assert_eq!(
            fixture_row("v1-glued-records.log"),
            ["3", "31.333333", "3.000000", "52.000000", "0.000000"]
        );
    }

    #[test]
    fn fixture_v1_optional_fields() {
        assert_eq!(
            fixture_row("v1-optional-fields.log"),
            ["2", "41.000000", "4.000000", "72.500000", "9.000000"]
        );
    }

    #[test]
    fn fixture_v1_no_records() {
        assert_eq!(
            fixture_row("v1-no-records.log"),
            ["0", "empty", "empty", "empty", "empty"]
        );
    }

    /// The speculative-decoding columns of a fixture (accepted, drafted, acceptance rate
    /// and mean acceptance length with six decimals), its version and its generation
    /// throughput while running; fed whole and byte by byte.
    fn spec_row(name: &str) -> (Option<[String; 4]>, Option<String>, Option<f64>) {
        let metrics = parse_bytes(&fixture(name));
        let mut parser = ServerLogParser::with_buffer_size(MIN_BUFFER_SIZE);
        for byte in fixture(name) {
            parser.feed(&[byte]);
        }
        assert_eq!(parser.finish(), metrics, "byte-by-byte feeding of `{name}`");
        let six = |x: Option<f64>| x.map_or_else(|| "empty".to_owned(), |x| format!("{x:.6}"));
        let spec = metrics.spec.map(|spec| {
            [
                spec.accepted.to_string(),
                spec.drafted.to_string(),
                six(spec.acceptance_rate()),
                six(spec.mean_acceptance_length),
            ]
        });
        (
            spec,
            metrics.vllm_version,
            metrics.generation_tps_while_running,
        )
    }

    fn strings<const N: usize>(values: [&str; N]) -> [String; N] {
        values.map(str::to_owned)
    }

    #[test]
    fn fixture_spec_cumulative_takes_the_last_line() {
        // Cumulative counters (`System efficiency`): 8547 / 13311 = 64.210052%.
        assert_eq!(
            spec_row("spec-cumulative.log"),
            (
                Some(strings(["8547", "13311", "64.210052", "empty"])),
                Some("0.6.3.post1".to_owned()),
                Some(300.0)
            )
        );
    }

    #[test]
    fn fixture_spec_interval_counters_are_summed() {
        // (66 + 30) / (66 + 90) = 61.538462%.
        assert_eq!(
            spec_row("spec-interval.log"),
            (
                Some(strings(["96", "156", "61.538462", "empty"])),
                Some("0.6.1".to_owned()),
                None
            )
        );
    }

    #[test]
    fn fixture_spec_v1_basic_with_nan() {
        // The `nan%` interval drafted nothing: 66 / 66.
        assert_eq!(
            spec_row("spec-v1-basic.log"),
            (
                Some(strings(["66", "66", "100.000000", "empty"])),
                Some("0.8.5".to_owned()),
                None
            )
        );
    }

    #[test]
    fn fixture_spec_v1_two_engines_with_mean_length() {
        // (150 + 725) / (387 + 1488) = 46.666667%; (2.16 x 387 + 2.45 x 1488) / 1875 = 2.390144.
        assert_eq!(
            spec_row("spec-v1-mean-length.log"),
            (
                Some(strings(["875", "1875", "46.666667", "2.390144"])),
                Some("0.10.1".to_owned()),
                None
            )
        );
    }

    #[test]
    fn fixture_spec_v1_throughputs_glued_coloured_and_cut() {
        // Glued to a metrics record, coloured inside, the last line cut at the end of the
        // log: (40 + 90) / (100 + 150) = 52%; (2 x 100 + 3 x 150) / 250 = 2.6.
        assert_eq!(
            spec_row("spec-v1-throughput-glued.log"),
            (
                Some(strings(["130", "250", "52.000000", "2.600000"])),
                Some("0.10.2.dev2+gf5635d62e.d20250807".to_owned()),
                Some(20.0)
            )
        );
    }

    #[test]
    fn fixture_spec_v1_rate_last() {
        // 648 / 788 = 82.233503%.
        assert_eq!(
            spec_row("spec-v1-rate-last.log"),
            (
                Some(strings(["648", "788", "82.233503", "1.800000"])),
                None,
                None
            )
        );
    }

    #[test]
    fn huge_values_never_make_a_mean_length_infinite_and_the_version_comes_any_time() {
        // A mean length of 300 nines times 10^18 drafted tokens is beyond any f64.
        let line = format!(
            "SpecDecoding metrics: Mean acceptance length: {}, Accepted: 5 tokens, \
             Drafted: 1000000000000000000 tokens\n",
            "9".repeat(300)
        );
        let huge = line.repeat(2);
        let metrics = parse_bytes(huge.as_bytes());
        let spec = metrics.spec.unwrap();
        assert_eq!(
            (spec.accepted, spec.drafted),
            (10, 2_000_000_000_000_000_000)
        );
        assert_eq!(spec.mean_acceptance_length, None);
        // A version line after the records, and one with stray bytes (not read).
        let log = format!(
            "{}vLLM API server version 0.9{}1\nvLLM API server version 0.11.0\n",
            record(1, 0, "1.0", "1.0"),
            '\u{202e}'
        );
        assert_eq!(
            parse_bytes(log.as_bytes()).vllm_version.as_deref(),
            Some("0.11.0")
        );
    }

    #[test]
    fn generation_throughput_while_running_is_per_engine_then_summed() {
        let line = |engine: &str, generation: f64, running: u32| {
            format!(
                "INFO [loggers.py:1] {engine}Avg prompt throughput: 1.0 tokens/s, Avg generation \
                 throughput: {generation} tokens/s, Running: {running} reqs, Waiting: 0 reqs\n"
            )
        };
        // Engine 0: (1000 + 1200) / 2 (the idle record is left out); engine 1: 800; the
        // records without an engine prefix: 50.
        let log = [
            line("Engine 000: ", 1000.0, 4),
            line("Engine 001: ", 800.0, 2),
            line("Engine 000: ", 0.0, 0),
            line("Engine 000: ", 1200.0, 3),
            line("", 50.0, 1),
        ]
        .concat();
        assert_eq!(
            parse_bytes(log.as_bytes()).generation_tps_while_running,
            Some(1100.0 + 800.0 + 50.0)
        );
    }

    #[test]
    fn every_vllm_fixture_has_a_test() {
        let tested = [
            "spec-cumulative.log",
            "spec-interval.log",
            "spec-v1-basic.log",
            "spec-v1-mean-length.log",
            "spec-v1-throughput-glued.log",
            "spec-v1-rate-last.log",
            "v0-swapped-pending.log",
            "v1-plain-idle.log",
            "v1-apiserver-ansi.log",
            "v1-data-parallel.log",
            "v1-glued-records.log",
            "v1-optional-fields.log",
            "v1-no-records.log",
        ];
        assert_every_fixture_tested("vllm", &tested);
    }

    /// A V1 record line (as `v1-data-parallel.log` writes them).
    fn record(running: u32, waiting: u32, kv: &str, prefix: &str) -> String {
        format!(
            "(APIServer pid=77) INFO 11-02 12:00:00 [loggers.py:271] Engine 000: Avg prompt throughput: 0.0 tokens/s, \
             Avg generation throughput: 2200.0 tokens/s, Running: {running} reqs, Waiting: {waiting} reqs, \
             GPU KV cache usage: {kv}%, Prefix cache hit rate: {prefix}%, MM cache hit rate: 0.0%\n"
        )
    }

    /// A reader handing out at most `chunk` bytes per read, recording where reads ended.
    struct Chunked<'a> {
        data: &'a [u8],
        pos: usize,
        chunk: usize,
        read_ends: Vec<usize>,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.chunk).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            if n > 0 {
                self.read_ends.push(self.pos);
            }
            Ok(n)
        }
    }

    #[test]
    fn log_much_larger_than_the_buffer_with_records_split_across_reads() {
        let noise = b"(APIServer pid=77) INFO:     127.0.0.1:40112 - \"POST /v1/chat/completions HTTP/1.1\" 200 OK\n";
        let mut log = Vec::new();
        let mut record_spans = Vec::new();
        for i in 0..2_000 {
            for _ in 0..100 {
                log.extend_from_slice(noise);
            }
            let (running, kv) = if i % 2 == 0 {
                (10, "40.0")
            } else {
                (30, "60.0")
            };
            let line = record(running, 5, kv, "12.5");
            record_spans.push(log.len()..log.len() + line.len());
            log.extend_from_slice(line.as_bytes());
        }
        assert!(log.len() > 100 * DEFAULT_BUFFER_SIZE, "{} bytes", log.len());
        let mut reader = Chunked {
            data: &log,
            pos: 0,
            chunk: 7_919,
            read_ends: Vec::new(),
        };
        let metrics = parse_reader(&mut reader).unwrap();
        let split = record_spans
            .iter()
            .filter(|span| {
                reader
                    .read_ends
                    .iter()
                    .any(|end| span.start < *end && *end < span.end)
            })
            .count();
        assert!(split > 10, "only {split} records were split across reads");
        assert_eq!(
            metrics,
            LogMetrics {
                records: 2_000,
                avg_running_reqs: Some(20.0),
                avg_waiting_reqs: Some(5.0),
                avg_gpu_kvc_usage: Some(50.0),
                avg_prefix_cache_hit_rate: Some(12.5),

                spec: None,
                vllm_version: None,
                generation_tps_while_running: Some(2200.0),
            }
        );
    }

    #[test]
    fn a_line_with_two_records_counts_both_and_keeps_their_fields_apart() {
        // The first record has no prefix cache field: it must not take the second's.
        let log = "INFO [loggers.py:271] Engine 000: Avg prompt throughput: 1.0 tokens/s, Avg generation throughput: 2.0 tokens/s, \
                   Running: 10 reqs, Waiting: 1 reqs, GPU KV cache usage: 20.0%\
                   INFO [loggers.py:271] Engine 001: Avg prompt throughput: 0.0 tokens/s, Avg generation throughput: 3.0 tokens/s, \
                   Running: 20 reqs, Waiting: 3 reqs, GPU KV cache usage: 40.0%, Prefix cache hit rate: 50.0%\n";
        assert_eq!(
            parse_bytes(log.as_bytes()),
            LogMetrics {
                records: 2,
                avg_running_reqs: Some(15.0),
                avg_waiting_reqs: Some(2.0),
                avg_gpu_kvc_usage: Some(30.0),
                avg_prefix_cache_hit_rate: Some(50.0),

                spec: None,
                vllm_version: None,
                generation_tps_while_running: Some(5.0),
            }
        );
    }

    #[test]
    fn a_value_that_is_not_a_number_counts_as_absent() {
        let log = format!(
            "{}{}",
            record(10, 2, "1.2.3", "5.0"),
            record(20, 4, "50.0", "7.0")
        );
        assert_eq!(
            parse_bytes(log.as_bytes()),
            LogMetrics {
                records: 2,
                avg_running_reqs: Some(15.0),
                avg_waiting_reqs: Some(3.0),
                avg_gpu_kvc_usage: Some(50.0),
                avg_prefix_cache_hit_rate: Some(6.0),

                spec: None,
                vllm_version: None,
                generation_tps_while_running: Some(2200.0),
            }
        );
    }

    #[test]
    fn a_log_of_only_debug_idle_lines() {
        // Idle intervals that vLLM logs at DEBUG are records like any other.
        let idle = "DEBUG 11-02 08:01:00 [loggers.py:123] Engine 000: Avg prompt throughput: 0.0 tokens/s, \
                    Avg generation throughput: 0.0 tokens/s, Running: 0 reqs, Waiting: 0 reqs, \
                    GPU KV cache usage: 0.0%, Prefix cache hit rate: 0.0%\n";
        assert_eq!(
            parse_bytes(idle.repeat(3).as_bytes()),
            LogMetrics {
                records: 3,
                avg_running_reqs: Some(0.0),
                avg_waiting_reqs: Some(0.0),
                avg_gpu_kvc_usage: Some(0.0),
                avg_prefix_cache_hit_rate: Some(0.0),

                spec: None,
                vllm_version: None,
                generation_tps_while_running: None,
            }
        );
        // The engine's other idle chatter holds no record.
        let chatter = "DEBUG 11-02 08:01:00 [core.py:770] EngineCore waiting for work.\n\
                       DEBUG 11-02 08:01:10 [utils.py:750] Waiting for 1 local, 0 remote core engine proc(s) to start.\n";
        assert_eq!(
            parse_bytes(chatter.repeat(50).as_bytes()),
            LogMetrics::default()
        );
    }

    #[test]
    fn a_non_utf8_byte_inside_a_line() {
        let mut log = b"\xff\xfeINFO 04-09 17:20:00 [loggers.py:80] \xc3Avg prompt throughput: 4410.0 tokens/s, \
            Avg generation throughput: 310.5 tokens/s, Running: 64 reqs, \xe2\x82 Waiting: 190 reqs, \
            GPU KV cache usage: 41.0%, Prefix cache hit rate: 2.5% \x80\n"
            .to_vec();
        log.extend_from_slice(record(36, 10, "59.0", "7.5").as_bytes());
        assert_eq!(
            parse_bytes(&log),
            LogMetrics {
                records: 2,
                avg_running_reqs: Some(50.0),
                avg_waiting_reqs: Some(100.0),
                avg_gpu_kvc_usage: Some(50.0),
                avg_prefix_cache_hit_rate: Some(5.0),

                spec: None,
                vllm_version: None,
                generation_tps_while_running: Some(2510.5),
            }
        );
    }

    #[test]
    fn colour_sequences_anywhere_are_removed() {
        let log = "\x1b[1;36m(APIServer pid=5151)\x1b[0;0m INFO Engine 000: Avg \x1b[32mprompt throughput: \x1b[1m9.0\x1b[0m tokens/s, \
                   Avg generation throughput: 1.0 tokens/s, Running: \x1b[33m250\x1b[m reqs, Waiting: 7 reqs, \
                   GPU KV cache usage: 63.2%\x1b[0m\n";
        let expected = LogMetrics {
            records: 1,
            avg_running_reqs: Some(250.0),
            avg_waiting_reqs: Some(7.0),
            avg_gpu_kvc_usage: Some(63.2),
            avg_prefix_cache_hit_rate: None,

            spec: None,
            vllm_version: None,
            generation_tps_while_running: Some(1.0),
        };
        assert_eq!(parse_bytes(log.as_bytes()), expected);
        // Split anywhere, even inside a colour sequence.
        for split in 0..log.len() {
            let mut parser = ServerLogParser::with_buffer_size(MIN_BUFFER_SIZE);
            parser.feed(&log.as_bytes()[..split]);
            parser.feed(&log.as_bytes()[split..]);
            assert_eq!(parser.finish(), expected, "split at {split}");
        }
        // An escape that starts no colour sequence stays text and breaks the label.
        let broken = "Avg prompt throughput: 1 tokens/s, Avg generation throughput: 1 tokens/s, Running:\x1b(B 5 reqs, Waiting: 2 reqs\n";
        let metrics = parse_bytes(broken.as_bytes());
        assert_eq!(
            (
                metrics.records,
                metrics.avg_running_reqs,
                metrics.avg_waiting_reqs
            ),
            (1, None, Some(2.0))
        );
    }

    #[test]
    fn text_that_only_mentions_throughput_is_no_record() {
        let log = "Avg prompt throughput: fast\n\
                   Avg prompt throughput: 12.0 tokens/s, Running: 3 reqs\n\
                   [LMCache INFO] Store throughput: 1.25 GB/s, Running: 3 reqs\n\
                   Avg prompt throughput: 1.0 tokens/s, Avg generation throughput: tokens/s, Running: 3 reqs\n";
        assert_eq!(parse_bytes(log.as_bytes()), LogMetrics::default());
        // A non-record mention does not end the record before it.
        let log = "Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, Avg prompt throughput: soon, Running: 4 reqs\n";
        let metrics = parse_bytes(log.as_bytes());
        assert_eq!((metrics.records, metrics.avg_running_reqs), (1, Some(4.0)));
    }

    #[test]
    fn pending_is_waiting_and_the_first_match_wins() {
        let log = "Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, Running: 1 reqs, Pending: 8 reqs, Waiting: 99 reqs, \
                   Running: 77 reqs, GPU KV cache usage: 3%, GPU KV cache usage: 90%\n";
        let metrics = parse_bytes(log.as_bytes());
        assert_eq!(metrics.avg_running_reqs, Some(1.0));
        assert_eq!(metrics.avg_waiting_reqs, Some(8.0));
        assert_eq!(metrics.avg_gpu_kvc_usage, Some(3.0));
    }

    #[test]
    fn external_prefix_cache_hit_rate_is_not_the_prefix_cache_hit_rate() {
        let log = "Avg prompt throughput: 1 tokens/s, Avg generation throughput: 2 tokens/s, External prefix cache hit rate: 99.0%\n";
        let metrics = parse_bytes(log.as_bytes());
        assert_eq!(
            (metrics.records, metrics.avg_prefix_cache_hit_rate),
            (1, None)
        );
    }

    #[test]
    fn lines_longer_than_the_buffer() {
        // A record after more than a buffer of text on its line, then several records on a
        // line longer than the buffer, then a record on its own line.
        let mut log = "x".repeat(5 * MIN_BUFFER_SIZE);
        log.push_str(&record(1, 1, "1.0", "1.0").replace('\n', " "));
        log.push('\n');
        for i in 0..20 {
            log.push_str(&record(10 + i, 2, "3.0", "4.0").replace('\n', "; "));
        }
        log.push('\n');
        log.push_str(&record(100, 6, "50.0", "10.0"));
        let expected = LogMetrics {
            records: 22,
            avg_running_reqs: Some(f64::from(1 + (10..30).sum::<u32>() + 100) / 22.0),
            avg_waiting_reqs: Some(f64::from(1 + 20 * 2 + 6) / 22.0),
            avg_gpu_kvc_usage: Some((1.0 + 20.0 * 3.0 + 50.0) / 22.0),
            avg_prefix_cache_hit_rate: Some((1.0 + 20.0 * 4.0 + 10.0) / 22.0),

            spec: None,
            vllm_version: None,
            generation_tps_while_running: Some(2200.0),
        };
        // Buffer sizes that cut the long line at many places in and between records.
        for size in (MIN_BUFFER_SIZE..MIN_BUFFER_SIZE + 400).step_by(13) {
            let mut parser = ServerLogParser::with_buffer_size(size);
            for piece in log.as_bytes().chunks(97) {
                parser.feed(piece);
            }
            assert_eq!(parser.finish(), expected, "buffer of {size} bytes");
        }
        assert_eq!(parse_bytes(log.as_bytes()), expected);
    }

    /// Colour-free lines: records (some two to a line), near misses and request noise.
    fn colour_free_log(pieces: &[(u8, u32)]) -> String {
        use std::fmt::Write as _;
        let mut log = String::new();
        for &(kind, value) in pieces {
            match kind % 7 {
                0 => log.push_str(&record(value % 300, value % 7, "61.5", "3.0")),
                1 => {
                    log.push_str(&record(value % 50, 1, "10.0", "90.0").replace('\n', " "));
                    log.push_str(&record(value % 20, 2, "30.0", "70.0"));
                }
                2 => log.push_str("Avg prompt throughput: 1 tokens/s, Running: 9 reqs\n"),
                3 => log.push_str("Avg prompt throughput: 5.0 tokens/s, Avg generation throughput: 2.0 tokens/s\n"),
                // The shapes read in one pass, with and without colours (the quickest path).
                5 => writeln!(
                    log,
                    "(APIServer pid=77) INFO [loggers.py:271] Engine 00{}: Avg prompt throughput: 1.5 tokens/s, \
                     Avg generation throughput: {}.0 tokens/s, Running: {} reqs, Waiting: 2 reqs, \
                     GPU KV cache usage: 5.0%, Prefix cache hit rate: 6.0%",
                    value % 3,
                    value % 1000,
                    value % 4,
                )
                .expect("writing to a String"),
                6 => writeln!(
                    log,
                    "(APIServer pid=77) INFO [loggers.py:123] Engine 001: SpecDecoding metrics: \
                     Draft acceptance rate: 40.0%, Mean acceptance length: 2.{}, Accepted: {} tokens, \
                     Drafted: {} tokens, Per-position acceptance rate: 0.5, 0.4",
                    value % 10,
                    value % 100,
                    value % 100 + 100,
                )
                .expect("writing to a String"),
                _ => {
                    log.push_str("(APIServer pid=77) INFO:     127.0.0.1:");
                    log.push_str(&value.to_string());
                    log.push_str(" - \"POST /v1/chat/completions HTTP/1.1\" 200 OK\n");
                }
            }
        }
        log
    }

    proptest! {
        #[test]
        fn the_one_pass_number_readers_agree_with_str_parse(
            text in "[0-9.]{0,24}[ %a-z]?[0-9.]{0,3}",
        ) {
            let text = text.as_bytes();
            let len = number_len(text);
            let run = std::str::from_utf8(&text[..len]).unwrap();
            prop_assert_eq!(read_decimal(text), (len, run.parse::<f64>().ok()));
            let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
            let whole = std::str::from_utf8(&text[..digits]).unwrap();
            prop_assert_eq!(read_whole_number(text), (digits, whole.parse::<u64>().ok()));
            let engine = format!("Engine {whole}: ");
            prop_assert_eq!(engine_before(engine.as_bytes()), whole.parse::<u32>().ok());
        }

        #[test]
        fn colour_sequences_inserted_anywhere_change_nothing(
            pieces in proptest::collection::vec((0u8..7, 0u32..60_000), 1..40),
            inserts in proptest::collection::vec((0usize..100_000, 0usize..4), 0..60),
            size in MIN_BUFFER_SIZE..2 * MIN_BUFFER_SIZE,
            chunk in 1usize..3_000,
        ) {
            let plain = colour_free_log(&pieces);
            let expected = parse_bytes(plain.as_bytes());
            // Insert whole colour sequences at any byte of the colour-free text, even inside
            // the marker, a label or a number.
            let colours = ["\x1b[1;36m", "\x1b[0;0m", "\x1b[m", "\x1b[38;5;208m"];
            let mut at: Vec<(usize, usize)> =
                inserts.into_iter().map(|(pos, c)| (pos % (plain.len() + 1), c)).collect();
            at.sort_unstable();
            let mut coloured = Vec::new();
            let mut from = 0;
            for (pos, c) in at {
                coloured.extend_from_slice(&plain.as_bytes()[from..pos]);
                coloured.extend_from_slice(colours[c].as_bytes());
                from = pos;
            }
            coloured.extend_from_slice(&plain.as_bytes()[from..]);
            let mut parser = ServerLogParser::with_buffer_size(size);
            for piece in coloured.chunks(chunk) {
                parser.feed(piece);
            }
            prop_assert_eq!(parser.finish(), expected.clone());
            prop_assert_eq!(parse_bytes(&coloured), expected);
        }

        #[test]
        fn any_split_gives_the_same_means(
            cuts in proptest::collection::vec(0usize..4_000, 0..8),
            size in MIN_BUFFER_SIZE..3 * MIN_BUFFER_SIZE,
        ) {
            let log: Vec<u8> = ["v1-apiserver-ansi.log", "v1-glued-records.log", "v0-swapped-pending.log"]
                .iter()
                .flat_map(|name| fixture(name))
                .collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (log.len() + 1)).collect();
            cuts.push(0);
            cuts.push(log.len());
            cuts.sort_unstable();
            let mut parser = ServerLogParser::with_buffer_size(size);
            for pair in cuts.windows(2) {
                parser.feed(&log[pair[0]..pair[1]]);
            }
            prop_assert_eq!(parser.finish(), parse_bytes(&log));
        }
    }
}
