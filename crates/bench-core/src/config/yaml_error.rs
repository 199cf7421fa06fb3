//! The YAML parser's refusals in clearer words: a duplicate key at its real line (the parser
//! points at the start of the mapping), and an integer too large for 64 bits (the parser says
//! "invalid type: integer ... as u128").

use super::{ConfigProblem, Location, ProblemKind};

/// The problem of a text the YAML parser refused. `text` is the text it was given.
/// The deepest nesting of flow collections (`[...]`, `{...}`) a config may have. The YAML
/// parser gives up at 128 levels anyway, but only after reading the whole text: 100,000
/// levels took it over a minute.
pub(super) const MAX_FLOW_DEPTH: usize = 128;

/// Where (line and column, from 1) flow collections first nest deeper than
/// [`MAX_FLOW_DEPTH`], if they do: one pass over the text, skipping quoted scalars and
/// comments.
pub(super) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (line_index, line) in text.split('\n').enumerate() {
        let mut previous = ' ';
        for (column, c) in line.chars().enumerate() {
            match quote {
                Some('"') if escaped => escaped = false,
                Some('"') if c == '\\' => escaped = true,
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if previous.is_whitespace() => break,
                    '"' | '\'' if !previous.is_alphanumeric() => quote = Some(c),
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some((line_index + 1, column + 1));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            previous = c;
        }
    }
    None
}

pub(super) fn yaml_problem(text: &str, error: &serde_yaml::Error) -> ConfigProblem {
    let location = error.location();
    let line = location.as_ref().map(serde_yaml::Location::line);
    let column = location.as_ref().map(serde_yaml::Location::column);
    let full = error.to_string();
    // The parser appends ` at line L column C` when it knows where, and puts `path: ` first
    // for a value below the top level.
    let message = match (line, column) {
        (Some(l), Some(c)) => full
            .strip_suffix(&format!(" at line {l} column {c}"))
            .unwrap_or(&full),
        _ => &full,
    };
    if let Some((path, key)) = after(message, "duplicate entry with key ") {
        let key = unquote(key);
        let within = path.map_or_else(String::new, |p| format!(" in `{p}`"));
        let (line, column, message) = match (line, column) {
            (Some(l), Some(c)) => match find_duplicate(text, l, c, &key) {
                Some((first, second)) => (
                    Some(second),
                    Some(c),
                    format!("duplicate key `{key}`{within} (first at line {first}); keep one"),
                ),
                None => (
                    line,
                    column,
                    format!(
                        "duplicate key `{key}`{within}, in the mapping that starts here; keep one"
                    ),
                ),
            },
            _ => (
                line,
                column,
                format!("duplicate key `{key}`{within}; keep one"),
            ),
        };
        return ConfigProblem::new(
            Location::File,
            ProblemKind::Yaml {
                line,
                column,
                message,
            },
        );
    }
    if let Some((path, rest)) = after(message, "invalid type: integer `")
        && let Some((number, rest)) = rest.split_once('`')
        && (rest.starts_with(" as u128") || rest.starts_with(" as i128"))
    {
        let mut problem = ConfigProblem::new(
            Location::File,
            ProblemKind::IntegerOutOfRange {
                line,
                column,
                negative: number.starts_with('-'),
            },
        );
        problem.key = path.map(str::to_owned);
        problem.value = Some(number.to_owned());
        return problem;
    }
    ConfigProblem::new(
        Location::File,
        ProblemKind::Yaml {
            line,
            column,
            message: full.clone(),
        },
    )
}

/// The path before `marker` (`None` at the top level) and the text after it, when `message`
/// is `[path: ]marker...`.
fn after<'m>(message: &'m str, marker: &str) -> Option<(Option<&'m str>, &'m str)> {
    let start = message.find(marker)?;
    let path = message[..start].strip_suffix(": ");
    if start > 0 && path.is_none() {
        return None;
    }
    Some((path, &message[start + marker.len()..]))
}

/// The key as the parser shows it (`"script"`, `` `true` ``, `1`) without its quotes.
fn unquote(key: &str) -> String {
    if let Some(inner) = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) {
        inner.replace("\\\"", "\"").replace("\\\\", "\\")
    } else {
        key.trim_matches('`').to_owned()
    }
}

/// The lines (1-based) of the first two keys `key` of the block mapping that starts at
/// `line`, `column` (1-based, as the parser reports it): its keys are the ones at that column
/// until a line indented less. `None` when the mapping is not a block mapping or the key is
/// not found twice.
fn find_duplicate(text: &str, line: usize, column: usize, key: &str) -> Option<(usize, usize)> {
    let indent = column.checked_sub(1)?;
    let mut found = Vec::new();
    for (i, text_line) in text.lines().enumerate().skip(line.checked_sub(1)?) {
        let number = i + 1;
        let rest = if number == line {
            text_line.get(indent..)?
        } else {
            let trimmed = text_line.trim_start_matches(' ');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let this_indent = text_line.len() - trimmed.len();
            if this_indent < indent {
                break;
            }
            if this_indent > indent {
                continue;
            }
            trimmed
        };
        if block_key(rest).is_some_and(|k| k == key) {
            found.push(number);
            if let [first, second] = found[..] {
                return Some((first, second));
            }
        }
    }
    None
}

/// The key of a block mapping line `key: value` (plain, `"double"` or `'single'` quoted).
fn block_key(line: &str) -> Option<String> {
    if line.starts_with(['-', '?']) && line[1..].starts_with([' ', '\t']) {
        return None;
    }
    let (key, rest) = if let Some(quoted) = line.strip_prefix('"') {
        let end = quoted.find('"')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else if let Some(quoted) = line.strip_prefix('\'') {
        let end = quoted.find('\'')?;
        (quoted[..end].to_owned(), &quoted[end + 1..])
    } else {
        let end = line
            .match_indices(':')
            .map(|(i, _)| i)
            .find(|&i| line[i + 1..].is_empty() || line[i + 1..].starts_with([' ', '\t']))?;
        (line[..end].trim_end().to_owned(), &line[end..])
    };
    rest.trim_start().starts_with(':').then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_nesting_is_measured_outside_quotes_and_comments() {
        let deep = format!("experiments: {}{}", "[".repeat(129), "]".repeat(129));
        assert_eq!(too_deep(&deep), Some((1, 14 + 128)));
        assert_eq!(
            too_deep(&format!("a: {}{}", "{".repeat(128), "}".repeat(128))),
            None
        );
        // Brackets in quoted scalars and comments do not nest.
        let quoted = format!(
            "a: \"{}\"\nb: '{}' # {}\n",
            "[".repeat(200),
            "{".repeat(200),
            "[".repeat(200)
        );
        assert_eq!(too_deep(&quoted), None);
        // An escaped quote does not end a double-quoted scalar; `it's` opens no quote.
        assert_eq!(
            too_deep(&format!("a: \"\\\" {}\"\nb: it's\n", "[".repeat(200))),
            None
        );
    }

    #[test]
    fn block_keys() {
        assert_eq!(block_key("script: a").as_deref(), Some("script"));
        assert_eq!(block_key("slurm:").as_deref(), Some("slurm"));
        assert_eq!(block_key("\"a b\" : 1").as_deref(), Some("a b"));
        assert_eq!(block_key("'x': 1").as_deref(), Some("x"));
        assert_eq!(block_key("time: 1:59:00").as_deref(), Some("time"));
        assert_eq!(block_key("- name: e"), None);
        assert_eq!(block_key("http://x"), None);
    }

    #[test]
    fn duplicates_are_found_at_their_indentation() {
        let text =
            "script: a\nfixed_args:\n  tp: 1\n  # tp: 3\n  x:\n    tp: 4\n  tp: 2\nscript: b\n";
        assert_eq!(find_duplicate(text, 1, 1, "script"), Some((1, 8)));
        assert_eq!(find_duplicate(text, 3, 3, "tp"), Some((3, 7)));
        assert_eq!(find_duplicate(text, 3, 3, "script"), None);
        assert_eq!(find_duplicate("a: {tp: 1, tp: 2}\n", 1, 5, "tp"), None);
    }
}
