//! The `#SBATCH` directives of a rendered script, as sbatch reads them (contract 2 section 5:
//! the `sbatch` object of `--json`).
//!
//! sbatch reads `#SBATCH` lines from the top of the script and stops at the first line that
//! is neither blank nor a comment.

use serde_json::{Map, Value};

/// One directive: the option without its leading dashes, and its value (`""` for a flag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The option name, e.g. `job-name`, `gpus` (`J` for `-J`).
    pub key: String,
    /// The value as written, e.g. `1:59:00`; empty for a flag such as `--exclusive`.
    pub value: String,
}

/// Every `#SBATCH` directive of `script`, in order.
pub fn parse(script: &str) -> Vec<Directive> {
    let mut directives = Vec::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let Some(rest) = trimmed.strip_prefix("#SBATCH") else {
            if trimmed.starts_with('#') {
                continue;
            }
            break;
        };
        if !rest.starts_with([' ', '\t']) {
            // `#SBATCHX` is an ordinary comment.
            continue;
        }
        let option = rest.trim();
        let (key, value) = if let Some(long) = option.strip_prefix("--") {
            match long.split_once('=') {
                Some((key, value)) => (key, value),
                None => match long.split_once([' ', '\t']) {
                    Some((key, value)) => (key, value.trim()),
                    None => (long, ""),
                },
            }
        } else if let Some(short) = option.strip_prefix('-') {
            match short.split_once([' ', '\t']) {
                Some((key, value)) => (key, value.trim()),
                None if short.len() > 1 && short.is_char_boundary(1) => short.split_at(1),
                None => (short, ""),
            }
        } else {
            continue;
        };
        directives.push(Directive {
            key: key.to_owned(),
            value: value.to_owned(),
        });
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

/// The value of the directive `key`, if the script has it.
pub fn value<'a>(directives: &'a [Directive], key: &str) -> Option<&'a str> {
    directives
        .iter()
        .find(|directive| directive.key == key)
        .map(|directive| directive.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_directives_until_the_first_command() {
        let script = "#!/bin/bash\n#SBATCH --job-name=a\n\n# a comment\n#SBATCH --gpus 2\n\
                      #SBATCH --exclusive\n#SBATCH -J short\n#SBATCHED not one\n\
                      echo hi\n#SBATCH --time=1:00\n";
        let keys: Vec<(String, String)> = parse(script)
            .into_iter()
            .map(|d| (d.key, d.value))
            .collect();
        assert_eq!(
            keys,
            [
                ("job-name", "a"),
                ("gpus", "2"),
                ("exclusive", ""),
                ("J", "short"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn json_object_leaves_out_the_comment() {
        let directives = parse("#SBATCH --nodes=1\n#SBATCH --comment=bench:abc\n");
        let object = json_object(&directives);
        assert_eq!(Value::Object(object), serde_json::json!({"nodes": "1"}));
        assert_eq!(value(&directives, "comment"), Some("bench:abc"));
    }
}
