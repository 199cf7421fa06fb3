//! What sbatch accepts in the options a config gives it directly (shared contract 1 section 1,
//! contract 2 section 1): the option names of `slurm.sbatch-args`, which may not override the
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
/// documentation; shared contract 1 section 4, contract 2 section 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct UnsafeDirectiveChar(pub char);

impl fmt::Display for UnsafeDirectiveChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let shown = match c {
            ' ' => "a space".to_owned(),
            c if c.is_whitespace() || c.is_control() => format!("`{}`", c.escape_default()),
            c => format!("`{c}`"),
        };
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

/// Checks a value that becomes part of a run directory, which reaches `#SBATCH --output` and
/// `--error`: as [`check_directive_value`], and no `%` (a file-name pattern there).
///
/// # Errors
/// The first character refused.
pub fn check_output_path_value(text: &str) -> Result<(), UnsafeDirectiveChar> {
    match text
        .chars()
        .find(|&c| c == '%' || is_special_in_directive(c))
    {
        Some(c) => Err(UnsafeDirectiveChar(c)),
        None => Ok(()),
    }
}

/// Directives the built-in template sets itself (contract 2 section 1): `slurm.sbatch-args`
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

/// Why an `slurm.sbatch-args` key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbatchArgError {
    /// Not of the form of an option name (letters, digits and `-`, starting with a letter or
    /// digit).
    #[error("not an sbatch option name: write it without dashes, e.g. `constraint`")]
    Name,
    /// Has upper-case letters: sbatch's long options are all lower case and compared exactly.
    #[error("sbatch option names are lower case: write `{lower}`")]
    UpperCase {
        /// The key in lower case.
        lower: String,
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
/// [`SbatchArgError`] when it is not a lower-case option name, or when it is, or is a prefix
/// of, one of [`TEMPLATE_DIRECTIVES`] or [`CONFLICTING_OPTIONS`].
pub fn check_sbatch_arg(key: &str) -> Result<(), SbatchArgError> {
    let valid_name = key
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid_name {
        return Err(SbatchArgError::Name);
    }
    if key.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(SbatchArgError::UpperCase {
            lower: key.to_ascii_lowercase(),
        });
    }
    // An exact option name wins over abbreviations in getopt_long; every exact option that is
    // a prefix of a refused one is itself refused, so exact names, then prefixes, decide.
    let template = |matches: &dyn Fn(&str) -> bool| {
        TEMPLATE_DIRECTIVES
            .iter()
            .find(|option| matches(option))
            .map(|&option| SbatchArgError::TemplateDirective {
                key: key.to_owned(),
                option,
            })
    };
    let conflicting = |matches: &dyn Fn(&str) -> bool| {
        CONFLICTING_OPTIONS
            .iter()
            .find(|(option, _)| matches(option))
            .map(|&(option, conflict)| SbatchArgError::Conflicting {
                key: key.to_owned(),
                option,
                conflict,
            })
    };
    let exact = |option: &str| option == key;
    let abbreviates = |option: &str| option.starts_with(key);
    match template(&exact)
        .or_else(|| conflicting(&exact))
        .or_else(|| template(&abbreviates))
        .or_else(|| conflicting(&abbreviates))
    {
        Some(error) => Err(error),
        None => Ok(()),
    }
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
        for (key, option) in [
            ("comm", "comment"),
            ("job", "job-name"),
            ("tim", "time"),
            ("outp", "output"),
            ("t", "time"),
            ("e", "error"),
            ("nod", "nodes"),
            ("cpus", "cpus-per-task"),
            ("mem-per-c", "mem-per-cpu"),
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
    }

    #[test]
    fn options_conflicting_by_meaning_and_their_abbreviations_are_refused() {
        for (key, option) in [
            ("gres", "gres"),
            ("gre", "gres"),
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
            check_sbatch_arg("Constraint"),
            Err(SbatchArgError::UpperCase {
                lower: "constraint".into()
            })
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
