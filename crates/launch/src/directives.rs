//! The `#SBATCH` directives of a rendered script, as sbatch reads them (contract 2 sections
//! 1 and 5: the comment token adoption relies on, and the `sbatch` object of `--json`).
//!
//! How sbatch (Slurm 22.05, checked on the project's cluster) reads a script:
//! - the first line must start with `#!`, and no line may end in `\r\n`, or it refuses the
//!   script outright;
//! - directives are the lines starting, in their first column, with `#SBATCH` (or the old
//!   `#SLURM`), up to the first line that is neither blank nor a comment (an indented
//!   `#SBATCH` is a comment); later `#SBATCH` lines are ignored;
//! - the rest of such a line is split into words as a shell would (quotes and backslashes
//!   removed), an unquoted `#` ending it, and all words go through sbatch's option parser in
//!   order, so an option given twice takes its last value.

use serde_json::{Map, Value};

/// One directive: the option without its leading dashes, and its value (`""` for a flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The option name, e.g. `job-name`, `gpus` (`J` for `-J`).
    pub key: String,
    /// The value with sbatch's quotes removed, e.g. `1:59:00`; empty for a flag such as
    /// `--exclusive`.
    pub value: String,
}

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
    if let Some(at) = script.find("\r\n") {
        return Err(ScriptProblem::DosLineBreaks {
            line: script[..at].matches('\n').count() + 1,
        });
    }
    let mut words = Vec::new();
    let mut first_command = None;
    for (index, line) in script.split('\n').enumerate() {
        if let Some(rest) = MAGIC_WORDS.iter().find_map(|word| line.strip_prefix(word)) {
            words.extend(split_words(rest));
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

/// The words of a directive line after its magic word: split on whitespace, `'` and `"`
/// quote, `\` escapes the next character, an unquoted `#` ends the line.
fn split_words(rest: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|&c| is_space(c)).is_some() {}
        if chars.peek().is_none_or(|&c| c == '#') {
            return words;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            if quote.is_none() && (is_space(c) || c == '#') {
                break;
            }
            chars.next();
            match (c, quote) {
                ('\\', _) => word.extend(chars.next()),
                (c, Some(open)) if c == open => quote = None,
                ('\'' | '"', None) => quote = Some(c),
                (c, _) => word.push(c),
            }
        }
        words.push(word);
    }
}

/// sbatch's options from the words of every directive line: `--key=value`, `--key value`,
/// `--flag`, `-k value`, `-kvalue`. A word that is no option and follows none is skipped
/// (sbatch refuses the script with "Invalid directive"); `--` ends the options.
fn options(words: Vec<String>) -> Vec<Directive> {
    let mut directives = Vec::new();
    let mut words = words.into_iter().peekable();
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let (key, inline) = if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
                None => (long.to_owned(), None),
            }
        } else if let Some(short) = word.strip_prefix('-').filter(|s| !s.is_empty()) {
            let split = short.chars().next().map_or(0, char::len_utf8);
            let (key, value) = short.split_at(split);
            (
                key.to_owned(),
                (!value.is_empty()).then(|| value.to_owned()),
            )
        } else {
            continue;
        };
        let value = inline
            .or_else(|| words.next_if(|next| !next.starts_with('-')))
            .unwrap_or_default();
        directives.push(Directive { key, value });
    }
    directives
}

/// The `sbatch` object of a `--json` line: every directive except `comment`, keys without
/// the dashes, values as strings, in script order.
pub fn json_object(directives: &[Directive]) -> Map<String, Value> {
    directives
        .iter()
        .filter(|directive| directive.key != "comment")
        .map(|directive| {
            (
                directive.key.clone(),
                Value::String(directive.value.clone()),
            )
        })
        .collect()
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
                ("J", "short")
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
            owned(&[("comment", "c15"), ("J", "jj")])
        );
        assert_eq!(
            pairs("#!/bin/sh\n#SBATCH --comment 'a b'\\#x\n#SLURM -Jname\n"),
            owned(&[("comment", "a b#x"), ("J", "name")])
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
    }

    #[test]
    fn json_object_leaves_out_the_comment() {
        let read = read("#!/bin/sh\n#SBATCH --nodes=1\n#SBATCH --comment=bench:abc\n").unwrap();
        let object = json_object(&read.directives);
        assert_eq!(Value::Object(object), serde_json::json!({"nodes": "1"}));
        assert_eq!(value(&read.directives, "comment"), Some("bench:abc"));
    }
}
