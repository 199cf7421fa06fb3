//! The `#SBATCH` directives of a rendered script, as sbatch reads them (`docs/launch.md` sections
//! 1 and 5: the comment token adoption relies on, and the `sbatch` object of `--json`).
//!
//! How sbatch (Slurm 22.05, checked on the project's cluster) reads a script:
//! - the first line must start with `#!`, and no line may end in `\r\n`, or it refuses the
//!   script outright;
//! - directives are the lines starting, in their first column, with `#SBATCH` (or the old
//!   `#SLURM`), up to the first line that is neither blank nor a comment (an indented
//!   `#SBATCH` is a comment); later `#SBATCH` lines are ignored;
//! - the rest of such a line is split into words as a shell would (quotes and backslashes
//!   removed), an unquoted `#` ending it, and all words go through sbatch's option parser
//!   (`getopt_long`) in order, so an option given twice takes its last value, and an
//!   unambiguous prefix of a long option is that option (`--comm=x` sets the comment).
//!
//! [`check`] then refuses the directives that would undo what the template sets (`docs/launch.md`
//! section 1), whatever line they come from.

use std::borrow::Cow;

use bench_core::sbatch_options::{
    SBATCH_LONG_OPTIONS, SBATCH_SHORT_OPTIONS, SbatchArgError, TEMPLATE_DIRECTIVES,
    check_sbatch_arg,
};

/// One directive: the option's long name without its leading dashes, its value (`""` for a
/// flag), and the script line it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The long option name as written, e.g. `job-name`, `gpus`, `constr`; a short option
    /// is given its long name (`-J` -> `job-name`, see
    /// [`bench_core::sbatch_options::SBATCH_SHORT_OPTIONS`]); an unknown short option keeps
    /// its letter. [`expand_abbreviations`] makes abbreviations whole.
    pub key: String,
    /// Whether it was written as a short option (`-J`).
    pub short: bool,
    /// The value with sbatch's quotes removed, e.g. `1:59:00`; empty for a flag such as
    /// `--exclusive`.
    pub value: String,
    /// The script line (1-based) holding the option.
    pub line: usize,
}

/// sbatch's short options that take no value (Slurm 22.05, `sbatch --help`): `-H` is
/// `--hold`, and `-Hk` is `-H -k`. The others take one (see
/// [`bench_core::sbatch_options::SBATCH_SHORT_OPTIONS`]).
const SHORT_FLAGS: [char; 9] = ['h', 'H', 'k', 'O', 'Q', 's', 'v', 'V', 'W'];

/// What sbatch reads of a script: its directives, and where it stopped reading them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScriptDirectives {
    /// The directives sbatch applies, in order.
    pub directives: Vec<Directive>,
    /// The first command (1-based line number, text): sbatch ignores `#SBATCH` lines after
    /// it. `None` when the script holds no command.
    pub first_command: Option<(usize, String)>,
}

/// Why sbatch refuses a script before reading any directive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptProblem {
    /// The first line does not start with `#!`.
    #[error(
        "its first line `{first_line}` does not start with `#!`, so sbatch refuses it (\"This \
         does not look like a batch script\")"
    )]
    NoInterpreterLine {
        /// The first line as rendered (debug-escaped, at most 80 characters).
        first_line: String,
    },
    /// A line ends in `\r\n`.
    #[error(
        "line {line} ends in `\\r\\n`, so sbatch refuses it (\"Batch script contains DOS line breaks\")"
    )]
    DosLineBreaks {
        /// The first such line (1-based).
        line: usize,
    },
}

/// The prefixes of a directive line (`#SLURM` is the old spelling sbatch still reads).
const MAGIC_WORDS: [&str; 2] = ["#SBATCH", "#SLURM"];

/// sbatch's `isspace`: space, tab, newline, vertical tab, form feed, carriage return.
fn is_space(c: char) -> bool {
    c == ' ' || ('\t'..='\r').contains(&c)
}

/// Read `script` as sbatch does (see the module documentation).
///
/// Errors when sbatch would refuse the script as a whole.
pub fn read(script: &str) -> Result<ScriptDirectives, ScriptProblem> {
    if !script.starts_with("#!") {
        let first_line = script.split('\n').next().unwrap_or_default();
        let mut shown: String = format!("{first_line:?}");
        if shown.chars().count() > 80 {
            shown = shown.chars().take(77).collect::<String>() + "...";
        }
        return Err(ScriptProblem::NoInterpreterLine { first_line: shown });
    }
    // `find` of a `char` is a fast byte search; `\r` alone is no line break.
    let mut from = 0;
    while let Some(at) = script[from..].find('\r').map(|at| from + at) {
        if script[at + 1..].starts_with('\n') {
            return Err(ScriptProblem::DosLineBreaks {
                line: script[..at].matches('\n').count() + 1,
            });
        }
        from = at + 1;
    }
    let mut words = Vec::new();
    let mut first_command = None;
    for (index, line) in script.split('\n').enumerate() {
        if let Some(rest) = MAGIC_WORDS.iter().find_map(|word| line.strip_prefix(word)) {
            split_words(rest, index + 1, &mut words);
            continue;
        }
        let first = line.chars().find(|&c| !is_space(c));
        if first.is_some_and(|c| c != '#') {
            first_command = Some((index + 1, line.trim().to_owned()));
            break;
        }
    }
    Ok(ScriptDirectives {
        directives: options(words),
        first_command,
    })
}

/// sbatch's `isspace` for one byte (all its spaces are ASCII).
fn is_space_byte(b: u8) -> bool {
    b == b' ' || (b'\t'..=b'\r').contains(&b)
}

/// Add the words of directive line `line` (the text after its magic word) to `words`:
/// split on whitespace, `'` and `"` quote, `\` escapes the next character, an unquoted `#`
/// ends the line. A word without quotes or escapes is borrowed.
fn split_words<'s>(rest: &'s str, line: usize, words: &mut Vec<(Cow<'s, str>, usize)>) {
    let bytes = rest.as_bytes();
    let mut at = 0;
    loop {
        while bytes.get(at).copied().is_some_and(is_space_byte) {
            at += 1;
        }
        if bytes.get(at).is_none_or(|&b| b == b'#') {
            return;
        }
        let start = at;
        while bytes
            .get(at)
            .is_some_and(|&b| !is_space_byte(b) && !matches!(b, b'#' | b'\'' | b'"' | b'\\'))
        {
            at += 1;
        }
        if bytes.get(at).is_none_or(|&b| is_space_byte(b) || b == b'#') {
            words.push((Cow::Borrowed(&rest[start..at]), line));
            continue;
        }
        // Quotes or escapes: rebuild the word. Only ASCII bytes are dropped, so the bytes
        // kept are valid UTF-8.
        let mut word = bytes[start..at].to_vec();
        let mut quote: Option<u8> = None;
        while let Some(&b) = bytes.get(at) {
            if quote.is_none() && (is_space_byte(b) || b == b'#') {
                break;
            }
            at += 1;
            match (b, quote) {
                (b'\\', _) => {
                    if let Some(&next) = bytes.get(at) {
                        word.push(next);
                        at += 1;
                    }
                }
                (b, Some(open)) if b == open => quote = None,
                (b'\'' | b'"', None) => quote = Some(b),
                (b, _) => word.push(b),
            }
        }
        let word = String::from_utf8(word)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
        words.push((Cow::Owned(word), line));
    }
}

/// sbatch's options from the words of every directive line (with their line numbers):
/// `--key=value`, `--key value`, `--flag`, `-k value`, `-kvalue`, `-HQ` (short flags
/// together). A word that is no option and follows none is skipped (sbatch refuses the
/// script with "Invalid directive"); `--` ends the options.
fn options(words: Vec<(Cow<'_, str>, usize)>) -> Vec<Directive> {
    let mut directives = Vec::with_capacity(words.len());
    let mut words = words.into_iter().peekable();
    while let Some((word, line)) = words.next() {
        if word == "--" {
            break;
        }
        let mut next_value = || {
            words
                .next_if(|(next, _)| !next.starts_with('-'))
                .map(|(value, _)| value.into_owned())
                .unwrap_or_default()
        };
        if let Some(long) = word.strip_prefix("--") {
            let (key, value) = match long.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (long.to_owned(), next_value()),
            };
            directives.push(Directive {
                key,
                value,
                line,
                short: false,
            });
            continue;
        }
        let Some(mut letters) = word.strip_prefix('-').filter(|s| !s.is_empty()) else {
            continue;
        };
        // Short flags may come together (`-Hk`); the first that takes a value takes the
        // rest of the word, or the next word.
        while let Some(letter) = letters.chars().next() {
            letters = &letters[letter.len_utf8()..];
            let key = SBATCH_SHORT_OPTIONS
                .iter()
                .find(|(short, _)| *short == letter)
                .map_or_else(|| letter.to_string(), |(_, long)| (*long).to_owned());
            if SHORT_FLAGS.contains(&letter) {
                directives.push(Directive {
                    key,
                    value: String::new(),
                    line,
                    short: true,
                });
                continue;
            }
            let value = if letters.is_empty() {
                next_value()
            } else {
                letters.to_owned()
            };
            directives.push(Directive {
                key,
                value,
                line,
                short: true,
            });
            break;
        }
    }
    directives
}

/// A directive `launch` refuses in a rendered script (see [`check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The script line (1-based) holding it.
    pub line: usize,
    /// Why, as a message fragment.
    pub reason: String,
}

/// Check every directive sbatch reads from a rendered script (`docs/launch.md`): each
/// must be one of the directives the template sets ([`TEMPLATE_DIRECTIVES`]), set once, or
/// an option `slurm.sbatch-args` could give ([`check_sbatch_arg`]: no abbreviation of the
/// template's directives, none of the options that contradict them).
///
/// # Errors
/// The first directive refused, in script order.
pub fn check(directives: &[Directive]) -> Result<(), Refusal> {
    for (index, directive) in directives.iter().enumerate() {
        let key = directive.key.as_str();
        let refuse = |reason: String| {
            Err(Refusal {
                line: directive.line,
                reason,
            })
        };
        if TEMPLATE_DIRECTIVES.contains(&key) {
            if let Some(first) = directives[..index].iter().find(|d| d.key == key) {
                return refuse(format!(
                    "`--{key}` is already set at line {}; sbatch applies the last one, so \
                     this line would override the template's value: set it once",
                    first.line
                ));
            }
            continue;
        }
        if directive.short && key.chars().count() == 1 {
            return refuse(format!("`-{key}` is not an sbatch option"));
        }
        match check_sbatch_arg(key) {
            Ok(()) => {}
            Err(SbatchArgError::Name) => {
                return refuse(format!("`--{key}` is not an sbatch option"));
            }
            Err(err) => return refuse(err.to_string()),
        }
    }
    Ok(())
}

/// Replace each key that abbreviates one of sbatch's long options with that option's name
/// (`constr` -> `constraint`), as sbatch reads it. For directives [`check`] accepted: those
/// are unambiguous, and none abbreviates the template's directives.
pub fn expand_abbreviations(directives: &mut [Directive]) {
    for directive in directives {
        let key = directive.key.as_str();
        if TEMPLATE_DIRECTIVES.contains(&key) || SBATCH_LONG_OPTIONS.contains(&key) {
            continue;
        }
        let mut options = SBATCH_LONG_OPTIONS
            .iter()
            .filter(|option| option.starts_with(key));
        if let (Some(option), None) = (options.next(), options.next()) {
            directive.key = (*option).to_owned();
        }
    }
}

/// The `sbatch` object of a `--json` line: every directive except `comment`, keys without
/// the dashes (long names: `-J` is `job-name`), values as strings, in script order; a key
/// given twice shows the value sbatch applies (the last) where it first appeared.
pub fn json_object(directives: &[Directive]) -> JsonObject<'_> {
    JsonObject(directives)
}

/// See [`json_object`]: serializes as a JSON object without building one.
#[derive(Debug, Clone, Copy)]
pub struct JsonObject<'a>(&'a [Directive]);

impl serde::Serialize for JsonObject<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let directives = self.0;
        let mut map = serializer.serialize_map(None)?;
        for (index, directive) in directives.iter().enumerate() {
            let key = directive.key.as_str();
            if key == "comment" || directives[..index].iter().any(|d| d.key == key) {
                continue;
            }
            map.serialize_entry(key, value(&directives[index..], key).unwrap_or_default())?;
        }
        map.end()
    }
}

/// The value of the directive `key` as sbatch applies it (the last one given), if any.
pub fn value<'a>(directives: &'a [Directive], key: &str) -> Option<&'a str> {
    directives
        .iter()
        .rfind(|directive| directive.key == key)
        .map(|directive| directive.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(script: &str) -> Vec<(String, String)> {
        read(script)
            .unwrap()
            .directives
            .into_iter()
            .map(|d| (d.key, d.value))
            .collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn reads_directives_until_the_first_command() {
        let script = "#!/bin/bash\n#SBATCH --job-name=a\n\n# a comment\n  # indented comment\n\
                      #SBATCH --gpus 2\n#SBATCH --exclusive\n#SBATCH -J short\n\
                      \x20 #SBATCH --qos=indented-is-a-comment\n\
                      \x20 echo hi\n#SBATCH --time=1:00\n";
        let read = read(script).unwrap();
        assert_eq!(
            read.directives
                .iter()
                .map(|d| (d.key.clone(), d.value.clone()))
                .collect::<Vec<_>>(),
            owned(&[
                ("job-name", "a"),
                ("gpus", "2"),
                ("exclusive", ""),
                ("job-name", "short")
            ])
        );
        assert_eq!(read.first_command, Some((10, "echo hi".to_owned())));
    }

    #[test]
    fn words_lose_sbatchs_quotes_and_trailing_comments() {
        // Each as the project's cluster applied it (`scontrol show job`).
        assert_eq!(
            pairs("#!/bin/sh\n#SBATCH --comment=\"c5\"\n"),
            owned(&[("comment", "c5")])
        );
        assert_eq!(
            pairs("#!/bin/sh\n#SBATCH --comment=c6 # trailing\n"),
            owned(&[("comment", "c6")])
        );
        assert_eq!(
            pairs("#!/bin/sh\n#SBATCH --comment=c15 -J jj\n"),
            owned(&[("comment", "c15"), ("job-name", "jj")])
        );
        assert_eq!(
            pairs("#!/bin/sh\n#SBATCH --comment 'a b'\\#x\n#SLURM -Jname\n"),
            owned(&[("comment", "a b#x"), ("job-name", "name")])
        );
        assert_eq!(
            pairs("#!/bin/sh\n#SBATCH --comment=\\é\"x y\"ü\\\n"),
            owned(&[("comment", "éx yü")])
        );
        let twice = read("#!/bin/sh\n#SBATCH --comment=c14a\n#SBATCH --comment=c14b\n").unwrap();
        assert_eq!(value(&twice.directives, "comment"), Some("c14b"));
    }

    #[test]
    fn scripts_sbatch_refuses() {
        for script in ["#SBATCH --comment=c8\necho\n", "\n#!/bin/bash\n", ""] {
            assert!(
                matches!(read(script), Err(ScriptProblem::NoInterpreterLine { .. })),
                "{script:?}"
            );
        }
        assert_eq!(
            read("#!/bin/bash\n#SBATCH --gpus=1\r\n"),
            Err(ScriptProblem::DosLineBreaks { line: 2 })
        );
        assert_eq!(
            read("#!/bin/bash\necho a\rb\n# c\r\n"),
            Err(ScriptProblem::DosLineBreaks { line: 3 })
        );
        // A `\r` alone is a space to sbatch.
        assert_eq!(
            pairs("#!/bin/bash\n#SBATCH --gpus=1\r--nodes=2\n"),
            owned(&[("gpus", "1"), ("nodes", "2")])
        );
    }

    #[test]
    fn short_options_get_their_long_names_and_lines() {
        let read = read("#!/bin/sh\n#SBATCH -J name -t5 -Hk\n\n#SBATCH -G 2 -X -q\n#SBATCH high\n")
            .unwrap();
        let got: Vec<(&str, &str, usize)> = read
            .directives
            .iter()
            .map(|d| (d.key.as_str(), d.value.as_str(), d.line))
            .collect();
        assert_eq!(
            got,
            [
                ("job-name", "name", 2),
                ("time", "5", 2),
                ("hold", "", 2),
                ("no-kill", "", 2),
                ("gpus", "2", 4),
                ("X", "", 4),
                ("qos", "high", 4),
            ]
        );
    }

    /// The reason [`check`] gives for the script `#!/bin/sh\n{lines}`, and its line.
    fn refusal(lines: &str) -> (usize, String) {
        let read = read(&format!("#!/bin/sh\n{lines}")).unwrap();
        let refusal = check(&read.directives).expect_err(lines);
        (refusal.line, refusal.reason)
    }

    #[test]
    fn the_templates_directives_are_set_once() {
        let (line, reason) = refusal(
            "#SBATCH --time=1:00:00 --job-name=a\n#SBATCH --comment=bench:x\n#SBATCH --time=600\n",
        );
        assert_eq!(line, 4);
        assert_eq!(
            reason,
            "`--time` is already set at line 2; sbatch applies the last one, so this line \
             would override the template's value: set it once"
        );
        // Whatever the spelling: `-t` is `--time`.
        assert_eq!(refusal("#SBATCH --time=5\n#SBATCH -t 6\n").0, 3);
        assert_eq!(refusal("#SBATCH -J a\n#SBATCH --job-name=b\n").0, 3);
        // Once each, and other options sbatch-args allows, are fine.
        let fine = read(
            "#!/bin/sh\n#SBATCH -J a -t 5 --comment=bench:x --constraint=h100 --exclusive\n\
             #SBATCH --hold --nice=5 --gpus 2\n",
        )
        .unwrap();
        assert_eq!(check(&fine.directives), Ok(()));
    }

    #[test]
    fn abbreviations_and_conflicting_options_are_refused() {
        let (line, reason) = refusal("#SBATCH --comment=bench:x\n#SBATCH --comm=zzz\n");
        assert_eq!(line, 3);
        assert!(
            reason.starts_with("`--comm` abbreviates `--comment`"),
            "{reason}"
        );
        assert!(
            refusal("#SBATCH --reserv=r\n")
                .1
                .starts_with("`--reserv` abbreviates `--reservation`")
        );
        // sbatch refuses an ambiguous prefix itself.
        assert!(
            refusal("#SBATCH --tim=5\n")
                .1
                .starts_with("`--tim` is ambiguous for sbatch")
        );
        // `--J` is no short option.
        assert!(
            refusal("#SBATCH --J=x\n")
                .1
                .starts_with("`--J` is not sbatch's short option")
        );
        assert!(
            refusal("#SBATCH -n 4\n")
                .1
                .starts_with("`--ntasks` is not allowed")
        );
        assert!(
            refusal("#SBATCH --gres=gpu:8\n")
                .1
                .starts_with("`--gres` is not allowed")
        );
        assert_eq!(
            refusal("#SBATCH -X\n"),
            (2, "`-X` is not an sbatch option".to_owned())
        );
        assert_eq!(
            refusal("#SBATCH --a_b=1\n"),
            (2, "`--a_b` is not an sbatch option".to_owned())
        );
    }

    #[test]
    fn abbreviations_sbatch_accepts_get_their_whole_names() {
        let mut read = read("#!/bin/sh\n#SBATCH --constr=h100 --exclusiv --time=5 -J a\n").unwrap();
        assert_eq!(check(&read.directives), Ok(()));
        expand_abbreviations(&mut read.directives);
        let keys: Vec<&str> = read.directives.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["constraint", "exclusive", "time", "job-name"]);
    }

    #[test]
    fn json_object_leaves_out_the_comment() {
        let read = read("#!/bin/sh\n#SBATCH --nodes=1\n#SBATCH --comment=bench:abc\n").unwrap();
        let object = serde_json::to_value(json_object(&read.directives)).unwrap();
        assert_eq!(object, serde_json::json!({"nodes": "1"}));
        let twice =
            super::read("#!/bin/sh\n#SBATCH -J a -t 5 --constraint=x\n#SBATCH --constraint=y\n")
                .unwrap();
        assert_eq!(
            serde_json::to_string(&json_object(&twice.directives)).unwrap(),
            r#"{"job-name":"a","time":"5","constraint":"y"}"#
        );
        assert_eq!(value(&read.directives, "comment"), Some("bench:abc"));
    }
}
