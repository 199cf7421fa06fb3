//! What sbatch accepts in the options a config gives it directly (`docs/config.md`,
//! `docs/launch.md`): the option names of `slurm.sbatch-args`, which may not override the
//! directives the template sets, the size of `slurm.mem-per-cpu`, and the characters a value
//! on an `#SBATCH` line may hold.
//!
//! sbatch (not bash) reads `#SBATCH` lines, one word after another: a word ends at whitespace,
//! an unquoted `#` starts a comment (the rest of the line is dropped), and quotes and `\` are
//! removed as quoting. Nothing written there can be quoted for it reliably, so values that
//! reach those lines are validated instead ([`check_directive_value`]).
//!
//! sbatch reads `#SBATCH` lines with `getopt_long`, which takes any unambiguous prefix of a long
//! option as that option (`--comm=x` is `--comment=x`, `--tim=5` is `--time=5`) and compares
//! option names case-sensitively (they are all lowercase). So a key is refused when it is, or
//! abbreviates, an option the template sets or one that contradicts it.

use std::fmt;

/// A character that sbatch does not take literally in a value on an `#SBATCH` line, or that
/// a run directory may not hold because it reaches `#SBATCH --output` (see the module
/// documentation; `docs/run-directory.md`, `docs/launch.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct UnsafeDirectiveChar(pub char);

impl fmt::Display for UnsafeDirectiveChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let shown = match c {
            ' ' => "a space".to_owned(),
            c if c.is_whitespace() || c.is_control() || is_format_char(c) => {
                format!("`{}`", c.escape_default())
            }
            c => format!("`{c}`"),
        };
        if is_shell_special(c) {
            return write!(
                f,
                "must not contain {shown}: the value becomes a directory or job name, which a \
                 template may put on a shell line (`{{{{ run_dir }}}}`), where the shell reads \
                 {shown} as syntax and could run a command"
            );
        }
        if is_format_char(c) {
            return write!(
                f,
                "must not contain {shown}: an invisible Unicode format character (a \
                 bidirectional override or a zero-width character) would make the name read \
                 differently from what it is"
            );
        }
        let why = match c {
            '#' => {
                "sbatch reads an unquoted `#` as the start of a comment and drops the rest of \
                    the line (`tier0#a` would become `tier0`)"
            }
            '"' | '\'' => "sbatch removes quotes as quoting",
            '\\' => "sbatch removes `\\` as an escape",
            '%' => "`%` starts a file-name pattern in `--output` (`%j` is the job id)",
            c if c.is_whitespace() => "sbatch ends the value at whitespace (it cannot be quoted)",
            _ => "control characters cannot be written",
        };
        write!(
            f,
            "must not contain {shown}: it reaches an `#SBATCH` line, where {why}"
        )
    }
}

/// Whether sbatch reads `c` specially in a value on an `#SBATCH` line: whitespace (ends the
/// word), `#` (starts a comment), `"`, `'` and `\` (quoting, removed), or a control
/// character.
pub fn is_special_in_directive(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '#' | '"' | '\'' | '\\')
}

/// Checks a value that reaches an `#SBATCH` line as it is (`--partition`, `--qos`, an
/// `slurm.sbatch-args` value, ...).
///
/// # Errors
/// The first character for which [`is_special_in_directive`] holds.
pub fn check_directive_value(text: &str) -> Result<(), UnsafeDirectiveChar> {
    match text.chars().find(|&c| is_special_in_directive(c)) {
        Some(c) => Err(UnsafeDirectiveChar(c)),
        None => Ok(()),
    }
}

/// Whether the shell reads `c` as syntax outside quotes: `;`, `$`, `` ` ``, `|`, `&`, `<`,
/// `>`, `(`, `)`, `{`, `}`, `*`, `?` (quotes and `\` are refused on `#SBATCH` lines already).
pub fn is_shell_special(c: char) -> bool {
    matches!(
        c,
        ';' | '$' | '`' | '|' | '&' | '<' | '>' | '(' | ')' | '{' | '}' | '*' | '?'
    )
}

/// Whether `c` is an invisible Unicode format character (category Cf: bidirectional
/// overrides and isolates such as U+202E, zero-width spaces and joiners, the byte-order mark,
/// the soft hyphen, tag characters).
pub fn is_format_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Checks a value that becomes part of a run directory or a job name, which reaches
/// `#SBATCH --output` and `--error` and which a template may put on a shell line: as
/// [`check_directive_value`], and no `%` (a file-name pattern there), no character the shell
/// reads as syntax ([`is_shell_special`]) and no invisible format character
/// ([`is_format_char`]).
///
/// # Errors
/// The first character refused.
pub fn check_output_path_value(text: &str) -> Result<(), UnsafeDirectiveChar> {
    match text.chars().find(|&c| {
        c == '%'
            || is_special_in_directive(c)
            || is_shell_special(c)
            || (!c.is_ascii() && is_format_char(c))
    }) {
        Some(c) => Err(UnsafeDirectiveChar(c)),
        None => Ok(()),
    }
}

/// Directives the built-in template sets itself (`docs/launch.md`): `slurm.sbatch-args`
/// may neither repeat nor abbreviate them.
pub const TEMPLATE_DIRECTIVES: &[&str] = &[
    "job-name",
    "output",
    "error",
    "nodes",
    "gpus",
    "cpus-per-task",
    "mem-per-cpu",
    "time",
    "qos",
    "partition",
    "account",
    "reservation",
    "comment",
];

/// sbatch options that contradict the template or `launch` by their meaning, with why; like
/// [`TEMPLATE_DIRECTIVES`], neither they nor their abbreviations may be given in
/// `slurm.sbatch-args`. Options such as `constraint`, `exclusive`, `export`, `export-file`,
/// `hold`, `nice` and `dependency` stay allowed.
pub const CONFLICTING_OPTIONS: &[(&str, Conflict)] = &[
    ("gres", Conflict::Gpus),
    ("gpus-per-node", Conflict::Gpus),
    ("gpus-per-task", Conflict::Gpus),
    ("gpus-per-socket", Conflict::Gpus),
    ("tres-per-task", Conflict::Gpus),
    ("mem", Conflict::Memory),
    ("mem-per-gpu", Conflict::Memory),
    ("cpus-per-gpu", Conflict::Cpus),
    ("ntasks", Conflict::OneTask),
    ("ntasks-per-node", Conflict::OneTask),
    ("ntasks-per-gpu", Conflict::OneTask),
    ("chdir", Conflict::WorkingDirectory),
    ("workdir", Conflict::WorkingDirectory),
    ("array", Conflict::Array),
    ("wrap", Conflict::Wrap),
    ("parsable", Conflict::Launch),
    ("wait", Conflict::Wait),
    ("test-only", Conflict::NoSubmission),
    ("help", Conflict::NoSubmission),
    ("usage", Conflict::NoSubmission),
    ("version", Conflict::NoSubmission),
    ("clusters", Conflict::OtherCluster),
    ("cluster", Conflict::OtherCluster),
];

/// Why an sbatch option contradicts what the template or `launch` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// It requests GPUs, which `--gpus` (tp x pp x dp) already does.
    Gpus,
    /// It requests memory, which `--mem-per-cpu` already does (SLURM refuses both).
    Memory,
    /// It requests CPUs, which `--cpus-per-task` already does.
    Cpus,
    /// It asks for more than the one task a job runs.
    OneTask,
    /// It changes the working directory that run directories and the script are relative to.
    WorkingDirectory,
    /// It would run the same run several times, into one directory.
    Array,
    /// It replaces the rendered script.
    Wrap,
    /// `launch` passes it on the command line itself.
    Launch,
    /// sbatch would wait for each job to end before `launch` submits the next.
    Wait,
    /// sbatch would print something and submit nothing.
    NoSubmission,
    /// The job would go to another cluster, where the queue `launch` reads does not list it.
    OtherCluster,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conflict::Gpus => {
                "the template already requests the run's GPUs with `--gpus` (tp x pp x dp)"
            }
            Conflict::Memory => {
                "the template already sets `--mem-per-cpu` and SLURM refuses both; set \
                 `slurm.mem-per-cpu` instead"
            }
            Conflict::Cpus => {
                "the template already sets `--cpus-per-task`; set `slurm.cpus-per-gpu` instead"
            }
            Conflict::OneTask => "a job runs one task",
            Conflict::WorkingDirectory => {
                "run directories and the script are relative to the directory `launch` runs in"
            }
            Conflict::Array => "every array task would run the same run into one directory",
            Conflict::Wrap => "it would replace the rendered script",
            Conflict::Launch => "`launch` passes it to sbatch itself",
            Conflict::Wait => "sbatch would wait for each job to end before the next is submitted",
            Conflict::NoSubmission => "sbatch would submit nothing",
            Conflict::OtherCluster => {
                "the job would run on another cluster, whose jobs `squeue` does not list here, \
                 so a later launch would submit the run again"
            }
        })
    }
}

/// sbatch's long options (Slurm 22.05, as its own "ambiguous" messages list them), sorted.
/// A key that begins two or more of them is ambiguous for sbatch, which refuses it; newer
/// versions only add options, so that stays true there.
pub const SBATCH_LONG_OPTIONS: &[&str] = &[
    "account",
    "acctg-freq",
    "array",
    "batch",
    "bb",
    "bbf",
    "begin",
    "chdir",
    "cluster",
    "cluster-constraint",
    "clusters",
    "comment",
    "constraint",
    "container",
    "context",
    "contiguous",
    "core-spec",
    "cores-per-socket",
    "cpu-freq",
    "cpus-per-gpu",
    "cpus-per-task",
    "deadline",
    "delay-boot",
    "dependency",
    "distribution",
    "error",
    "exclude",
    "exclusive",
    "export",
    "export-file",
    "extra-node-info",
    "get-user-env",
    "gid",
    "gpu-bind",
    "gpu-freq",
    "gpus",
    "gpus-per-node",
    "gpus-per-socket",
    "gpus-per-task",
    "gres",
    "gres-flags",
    "help",
    "hint",
    "hold",
    "ignore-pbs",
    "input",
    "job-name",
    "kill-on-invalid-dep",
    "licenses",
    "mail-type",
    "mail-user",
    "mcs-label",
    "mem",
    "mem-bind",
    "mem-per-cpu",
    "mem-per-gpu",
    "mincpus",
    "network",
    "nice",
    "no-kill",
    "no-requeue",
    "nodefile",
    "nodelist",
    "nodes",
    "ntasks",
    "ntasks-per-core",
    "ntasks-per-gpu",
    "ntasks-per-node",
    "ntasks-per-socket",
    "ntasks-per-tres",
    "open-mode",
    "output",
    "overcommit",
    "oversubscribe",
    "parsable",
    "partition",
    "power",
    "prefer",
    "priority",
    "profile",
    "propagate",
    "qos",
    "quiet",
    "reboot",
    "requeue",
    "reservation",
    "signal",
    "sockets-per-node",
    "spread-job",
    "switches",
    "tasks-per-node",
    "test-only",
    "thread-spec",
    "threads-per-core",
    "time",
    "time-min",
    "tmp",
    "uid",
    "usage",
    "use-min-nodes",
    "verbose",
    "version",
    "wait",
    "wait-all-nodes",
    "wckey",
    "wrap",
];

/// sbatch's short options (Slurm 22.05) with their long names: `-J` is `--job-name`.
pub const SBATCH_SHORT_OPTIONS: &[(char, &str)] = &[
    ('a', "array"),
    ('A', "account"),
    ('b', "begin"),
    ('B', "extra-node-info"),
    ('c', "cpus-per-task"),
    ('C', "constraint"),
    ('d', "dependency"),
    ('D', "chdir"),
    ('e', "error"),
    ('F', "nodefile"),
    ('G', "gpus"),
    ('h', "help"),
    ('H', "hold"),
    ('i', "input"),
    ('J', "job-name"),
    ('k', "no-kill"),
    ('L', "licenses"),
    ('m', "distribution"),
    ('M', "clusters"),
    ('n', "ntasks"),
    ('N', "nodes"),
    ('o', "output"),
    ('O', "overcommit"),
    ('p', "partition"),
    ('q', "qos"),
    ('Q', "quiet"),
    ('s', "oversubscribe"),
    ('S', "core-spec"),
    ('t', "time"),
    ('v', "verbose"),
    ('V', "version"),
    ('w', "nodelist"),
    ('W', "wait"),
    ('x', "exclude"),
];

/// How many candidates an [`SbatchArgError::Ambiguous`] message names.
const SHOWN_CANDIDATES: usize = 6;

/// Why an `slurm.sbatch-args` key is refused. `launch` writes a key `k` as `--k`, which
/// sbatch reads as a long option or an unambiguous prefix of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbatchArgError {
    /// Not of the form of an option name (letters, digits and `-`, starting with a letter or
    /// digit).
    #[error("not an sbatch option name: write it without dashes, e.g. `constraint`")]
    Name,
    /// Has upper-case letters: sbatch's long options are all lower case and compared exactly.
    #[error(
        "sbatch option names are lower case{}",
        match refusal {
            None => format!(": write `{lower}`"),
            Some(refusal) => format!("; and in lower case: {refusal}"),
        }
    )]
    UpperCase {
        /// The key in lower case.
        lower: String,
        /// Why the key in lower case is refused too, if it is.
        refusal: Option<Box<SbatchArgError>>,
    },
    /// A single letter meant as one of sbatch's short options: `launch` writes `--J`, which
    /// sbatch reads as a long option, not as `-J`.
    #[error(
        "`--{letter}` is not sbatch's short option `-{letter}` (`--{long}`): sbatch reads it as {}; {}",
        read_as.map_or_else(|| "an unknown option".to_owned(), |o| format!("`--{o}`")),
        match refusal {
            None => format!("write the long name, `{long}`"),
            Some(refusal) => refusal.to_string(),
        }
    )]
    ShortOption {
        /// The key as written.
        letter: char,
        /// The long name of the short option `-{letter}`.
        long: &'static str,
        /// The one long option the key abbreviates, if any.
        read_as: Option<&'static str>,
        /// Why the long name is refused too, if it is.
        refusal: Option<Box<SbatchArgError>>,
    },
    /// The key begins several sbatch options: sbatch refuses it as ambiguous.
    #[error(
        "`--{key}` is ambiguous for sbatch, which refuses it: it begins {}; write a full option \
         name{}",
        candidate_list(candidates),
        short.map(|(letter, long)| format!(" (`-{letter}`, sbatch's short option, is `--{long}`)"))
            .unwrap_or_default()
    )]
    Ambiguous {
        /// The key as written.
        key: String,
        /// The options it begins, sorted.
        candidates: Vec<&'static str>,
        /// When the key is one letter that is also a short option: the letter and its long
        /// name.
        short: Option<(char, &'static str)>,
    },
    /// The option, or an abbreviation of it, is one the template sets.
    #[error(
        "{} set by the template{}",
        subject(key, option),
        directive_hint(option)
    )]
    TemplateDirective {
        /// The key as written.
        key: String,
        /// The template's directive it is or abbreviates.
        option: &'static str,
    },
    /// The option, or an abbreviation of it, contradicts the template or `launch`.
    #[error("{} not allowed: {conflict}", subject(key, option))]
    Conflicting {
        /// The key as written.
        key: String,
        /// The option it is or abbreviates.
        option: &'static str,
        /// Why it is refused.
        conflict: Conflict,
    },
}

fn candidate_list(candidates: &[&str]) -> String {
    let shown: Vec<String> = candidates
        .iter()
        .take(SHOWN_CANDIDATES)
        .map(|c| format!("`--{c}`"))
        .collect();
    match candidates.len().checked_sub(SHOWN_CANDIDATES) {
        Some(more) if more > 0 => format!("{} and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

/// The start of a message about `--key`: "`--time` is", or for an abbreviation "`--tim`
/// abbreviates `--time` (...), which is".
fn subject(key: &str, option: &str) -> String {
    if key == option {
        format!("`--{option}` is")
    } else {
        format!(
            "`--{key}` abbreviates `--{option}` (sbatch takes an unambiguous prefix of an option \
             name as that option), which is"
        )
    }
}

fn directive_hint(directive: &str) -> &'static str {
    match directive {
        "time" | "qos" | "reservation" => "; give it as a run arg (`fixed_args` or `args`)",
        "partition" | "account" | "mem-per-cpu" => "; set it in the `slurm:` section",
        "cpus-per-task" => "; set `slurm.cpus-per-gpu` instead",
        _ => "; remove it",
    }
}

/// Checks a key of `slurm.sbatch-args` (written without the leading dashes).
///
/// # Errors
/// [`SbatchArgError`] when it is not a lower-case option name; when it is one letter meant as
/// a short option; when it begins several sbatch options ([`SBATCH_LONG_OPTIONS`]: sbatch
/// refuses it as ambiguous); or when it is, or abbreviates, one of [`TEMPLATE_DIRECTIVES`]
/// or [`CONFLICTING_OPTIONS`]. A key sbatch 22.05 does not know is allowed (a newer sbatch may).
pub fn check_sbatch_arg(key: &str) -> Result<(), SbatchArgError> {
    let valid_name = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid_name {
        return Err(SbatchArgError::Name);
    }
    // Every option sbatch may know of: its 22.05 table, and the refused ones (some only in
    // other versions, such as `tres-per-task` and `workdir`).
    let mut candidates: Vec<&'static str> = SBATCH_LONG_OPTIONS
        .iter()
        .copied()
        .chain(TEMPLATE_DIRECTIVES.iter().copied())
        .chain(CONFLICTING_OPTIONS.iter().map(|&(option, _)| option))
        .filter(|option| option.starts_with(key))
        .collect();
    candidates.sort_unstable();
    candidates.dedup();
    let mut letters = key.chars();
    if let (Some(letter), None) = (letters.next(), letters.next()) {
        let short = SBATCH_SHORT_OPTIONS.iter().find(|&&(c, _)| c == letter);
        if candidates.len() > 1 {
            return Err(SbatchArgError::Ambiguous {
                key: key.to_owned(),
                candidates,
                short: short.copied(),
            });
        }
        if let Some(&(letter, long)) = short {
            return Err(SbatchArgError::ShortOption {
                letter,
                long,
                read_as: candidates.first().copied(),
                refusal: check_sbatch_arg(long).err().map(Box::new),
            });
        }
    }
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        let lower = key.to_ascii_lowercase();
        return Err(SbatchArgError::UpperCase {
            refusal: check_sbatch_arg(&lower).err().map(Box::new),
            lower,
        });
    }
    // An exact option name wins over abbreviations in getopt_long.
    if let Some(error) = refusal(key, key) {
        return Err(error);
    }
    if candidates.contains(&key) {
        return Ok(());
    }
    match candidates.as_slice() {
        [] => Ok(()),
        [option] => refusal(key, option).map_or(Ok(()), Err),
        _ => Err(SbatchArgError::Ambiguous {
            key: key.to_owned(),
            candidates,
            short: None,
        }),
    }
}

/// Why `key`, read by sbatch as `option`, is refused: `option` is one of
/// [`TEMPLATE_DIRECTIVES`] or [`CONFLICTING_OPTIONS`].
fn refusal(key: &str, option: &str) -> Option<SbatchArgError> {
    if let Some(&option) = TEMPLATE_DIRECTIVES.iter().find(|&&o| o == option) {
        return Some(SbatchArgError::TemplateDirective {
            key: key.to_owned(),
            option,
        });
    }
    CONFLICTING_OPTIONS
        .iter()
        .find(|&&(o, _)| o == option)
        .map(|&(option, conflict)| SbatchArgError::Conflicting {
            key: key.to_owned(),
            option,
            conflict,
        })
}

/// Why a `--mem-per-cpu` size is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemorySizeError {
    /// Not a positive integer with an optional unit.
    #[error(
        "not a SLURM memory size: a positive integer of megabytes, optionally with the unit \
         `K`, `M`, `G` or `T` (e.g. `22G`, `4096`)"
    )]
    Syntax,
    /// Zero.
    #[error("must be more than zero, e.g. `22G`")]
    Zero,
    /// More than fits in 64-bit megabytes.
    #[error("too large for a SLURM memory size")]
    TooLarge,
}

/// Reads a `--mem-per-cpu` size as sbatch does: a positive integer, in megabytes unless
/// followed by one unit letter `K`, `M`, `G` or `T` (any case). Returns the size in
/// kibibytes.
///
/// # Errors
/// [`MemorySizeError`] for anything else: `""`, `abc`, `1.5G`, `22GB`, ` 22G`, `0`.
pub fn memory_size_kib(text: &str) -> Result<u64, MemorySizeError> {
    let (digits, unit_kib): (&str, u64) = match text.as_bytes().last() {
        Some(b'k' | b'K') => (&text[..text.len() - 1], 1),
        Some(b'm' | b'M') => (&text[..text.len() - 1], 1 << 10),
        Some(b'g' | b'G') => (&text[..text.len() - 1], 1 << 20),
        Some(b't' | b'T') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1 << 10),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MemorySizeError::Syntax);
    }
    let value: u64 = digits.parse().map_err(|_| MemorySizeError::TooLarge)?;
    if value == 0 {
        return Err(MemorySizeError::Zero);
    }
    value.checked_mul(unit_kib).ok_or(MemorySizeError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_of_template_directives_are_refused() {
        // Each key begins exactly one sbatch option (checked against sbatch 22.05, which
        // took `--j=1` as `--job-name=1`).
        for (key, option) in [
            ("comm", "comment"),
            ("job", "job-name"),
            ("j", "job-name"),
            ("outp", "output"),
            ("mem-per-c", "mem-per-cpu"),
            ("res", "reservation"),
            ("part", "partition"),
            ("acco", "account"),
            ("qo", "qos"),
            ("time", "time"),
        ] {
            assert_eq!(
                check_sbatch_arg(key),
                Err(SbatchArgError::TemplateDirective {
                    key: key.into(),
                    option
                }),
                "{key}"
            );
        }
        assert_eq!(
            check_sbatch_arg("comm").unwrap_err().to_string(),
            "`--comm` abbreviates `--comment` (sbatch takes an unambiguous prefix of an option \
             name as that option), which is set by the template; remove it"
        );
    }

    #[test]
    fn ambiguous_prefixes_are_refused_as_sbatch_refuses_them() {
        // sbatch 22.05: "option '--n=1' is ambiguous; possibilities: '--network' '--nice'
        // '--no-kill' ..." (13 of them); likewise for the others.
        for (key, first, count) in [
            ("n", "network", 13),
            ("c", "chdir", 14),
            ("o", "open-mode", 4),
            ("t", "tasks-per-node", 8),
            ("e", "error", 6),
            ("tim", "time", 2),
            ("nod", "nodefile", 3),
            ("cpus", "cpus-per-gpu", 2),
            ("gre", "gres", 2),
            ("par", "parsable", 2),
        ] {
            match check_sbatch_arg(key) {
                Err(SbatchArgError::Ambiguous { candidates, .. }) => {
                    assert_eq!(candidates.len(), count, "{key}: {candidates:?}");
                    assert_eq!(candidates[0], first, "{key}");
                }
                other => panic!("{key}: {other:?}"),
            }
        }
        assert_eq!(
            check_sbatch_arg("o").unwrap_err().to_string(),
            "`--o` is ambiguous for sbatch, which refuses it: it begins `--open-mode`, \
             `--output`, `--overcommit`, `--oversubscribe`; write a full option name (`-o`, \
             sbatch's short option, is `--output`)"
        );
        assert_eq!(
            check_sbatch_arg("n").unwrap_err().to_string(),
            "`--n` is ambiguous for sbatch, which refuses it: it begins `--network`, `--nice`, \
             `--no-kill`, `--no-requeue`, `--nodefile`, `--nodelist` and 7 more; write a full \
             option name (`-n`, sbatch's short option, is `--ntasks`)"
        );
        assert_eq!(
            check_sbatch_arg("tim").unwrap_err().to_string(),
            "`--tim` is ambiguous for sbatch, which refuses it: it begins `--time`, \
             `--time-min`; write a full option name"
        );
    }

    #[test]
    fn single_letters_meant_as_short_options_name_the_long_option() {
        // `J` used to suggest `j`, which is then refused: name `-J`'s long option instead,
        // and why that is refused.
        assert_eq!(
            check_sbatch_arg("J").unwrap_err().to_string(),
            "`--J` is not sbatch's short option `-J` (`--job-name`): sbatch reads it as an \
             unknown option; `--job-name` is set by the template; remove it"
        );
        assert_eq!(
            check_sbatch_arg("C").unwrap_err().to_string(),
            "`--C` is not sbatch's short option `-C` (`--constraint`): sbatch reads it as an \
             unknown option; write the long name, `constraint`"
        );
        // `--k` is the only option beginning with `k`, not `-k`.
        assert_eq!(
            check_sbatch_arg("k").unwrap_err().to_string(),
            "`--k` is not sbatch's short option `-k` (`--no-kill`): sbatch reads it as \
             `--kill-on-invalid-dep`; write the long name, `no-kill`"
        );
    }

    #[test]
    fn the_option_tables_agree() {
        assert!(SBATCH_LONG_OPTIONS.windows(2).all(|w| w[0] < w[1]));
        for option in TEMPLATE_DIRECTIVES {
            assert!(SBATCH_LONG_OPTIONS.contains(option), "{option}");
        }
        for (letter, long) in SBATCH_SHORT_OPTIONS {
            assert!(SBATCH_LONG_OPTIONS.contains(long), "-{letter}: {long}");
        }
    }

    #[test]
    fn options_conflicting_by_meaning_and_their_abbreviations_are_refused() {
        for (key, option) in [
            ("gres", "gres"),
            ("gpus-per-node", "gpus-per-node"),
            ("gpus-per-t", "gpus-per-task"),
            ("mem", "mem"),
            ("mem-per-g", "mem-per-gpu"),
            ("cpus-per-gpu", "cpus-per-gpu"),
            ("ntasks", "ntasks"),
            ("ntasks-per-node", "ntasks-per-node"),
            ("chdir", "chdir"),
            ("arr", "array"),
            ("wrap", "wrap"),
            ("parsable", "parsable"),
            ("wait", "wait"),
            ("test-only", "test-only"),
            ("clusters", "clusters"),
            ("cluster", "cluster"),
            ("tres", "tres-per-task"),
            ("workdir", "workdir"),
        ] {
            assert!(
                matches!(check_sbatch_arg(key), Err(SbatchArgError::Conflicting { option: o, .. }) if o == option),
                "{key}: {:?}",
                check_sbatch_arg(key)
            );
        }
    }

    #[test]
    fn ordinary_options_stay_allowed() {
        for key in [
            "constraint",
            "cons",
            "exclusive",
            "export",
            "export-file",
            "hold",
            "nice",
            "dependency",
            "gres-flags",
            "time-min",
            "wait-all-nodes",
            "mail-type",
            "nodelist",
        ] {
            assert_eq!(check_sbatch_arg(key), Ok(()), "{key}");
        }
    }

    #[test]
    fn names_must_be_lower_case_option_names() {
        assert_eq!(check_sbatch_arg("--exclusive"), Err(SbatchArgError::Name));
        assert_eq!(check_sbatch_arg(""), Err(SbatchArgError::Name));
        assert_eq!(check_sbatch_arg("a b"), Err(SbatchArgError::Name));
        assert_eq!(
            check_sbatch_arg("Constraint").unwrap_err().to_string(),
            "sbatch option names are lower case: write `constraint`"
        );
        assert_eq!(
            check_sbatch_arg("Time").unwrap_err().to_string(),
            "sbatch option names are lower case; and in lower case: `--time` is set by the \
             template; give it as a run arg (`fixed_args` or `args`)"
        );
    }

    #[test]
    fn memory_sizes_follow_slurms_grammar() {
        assert_eq!(memory_size_kib("22G"), Ok(22 << 20));
        assert_eq!(memory_size_kib("22g"), Ok(22 << 20));
        assert_eq!(memory_size_kib("4096"), Ok(4096 << 10));
        assert_eq!(memory_size_kib("512m"), Ok(512 << 10));
        assert_eq!(memory_size_kib("100K"), Ok(100));
        assert_eq!(memory_size_kib("1T"), Ok(1 << 30));
        for text in [
            "", "abc", "G", "1.5G", "22GB", " 22G", "22G ", "-1", "+5", "0x10",
        ] {
            assert_eq!(
                memory_size_kib(text),
                Err(MemorySizeError::Syntax),
                "{text}"
            );
        }
        assert_eq!(memory_size_kib("0"), Err(MemorySizeError::Zero));
        assert_eq!(memory_size_kib("0G"), Err(MemorySizeError::Zero));
        assert_eq!(
            memory_size_kib("99999999999999999999"),
            Err(MemorySizeError::TooLarge)
        );
        assert_eq!(
            memory_size_kib("99999999999999T"),
            Err(MemorySizeError::TooLarge)
        );
    }
}
