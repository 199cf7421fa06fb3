//! `--skip-failure-reasons`: which failure classes keep a failed run from being submitted
//! again (contract 2 section 3).

use bench_core::failure::FailureClass;

/// The classes skipped when the option is not given: the original launcher's choice.
pub const DEFAULT: [FailureClass; 3] = [
    FailureClass::Oom,
    FailureClass::Timeout,
    FailureClass::ServerFail,
];

/// A set of failure classes whose runs are not submitted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipSet(Vec<FailureClass>);

impl Default for SkipSet {
    fn default() -> Self {
        SkipSet(DEFAULT.to_vec())
    }
}

impl SkipSet {
    /// Whether runs whose latest attempt failed with `class` are skipped.
    pub fn contains(&self, class: FailureClass) -> bool {
        self.0.contains(&class)
    }

    /// The classes, in priority order.
    pub fn classes(&self) -> &[FailureClass] {
        &self.0
    }
}

impl std::fmt::Display for SkipSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.0.iter().map(|class| class.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

/// Parse `LIST|none`: class names separated by commas, spelled exactly as contract 3
/// section 2 spells them, or `none` alone for the empty set.
///
/// Errors name the word and suggest the closest class (`oom` -> `OOM`).
pub fn parse(text: &str) -> Result<SkipSet, String> {
    if text.trim() == "none" {
        return Ok(SkipSet(Vec::new()));
    }
    let mut classes = Vec::new();
    for word in text.split(',').map(str::trim) {
        if word.is_empty() {
            return Err(format!(
                "empty class name in `{text}`\nhint: separate names with single commas, e.g. \
                 `OOM,timeout`"
            ));
        }
        if word == "none" {
            return Err("`none` stands alone: it means no class is skipped".into());
        }
        let Some(class) = FailureClass::ALL
            .into_iter()
            .find(|class| class.as_str() == word)
        else {
            return Err(format!(
                "unknown failure class `{word}`; did you mean `{}`?\nhint: the classes are {}, \
                 or `none` alone",
                closest(word).as_str(),
                FailureClass::ALL.map(FailureClass::as_str).join(", ")
            ));
        };
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    classes.sort();
    Ok(SkipSet(classes))
}

/// The class whose name is closest to `word`: equal ignoring case first, then the smallest
/// edit distance on lower-cased names.
fn closest(word: &str) -> FailureClass {
    let lower = word.to_lowercase();
    FailureClass::ALL
        .into_iter()
        .min_by_key(|class| strsim::levenshtein(&lower, &class.as_str().to_lowercase()))
        .unwrap_or(FailureClass::Error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_none() {
        assert_eq!(parse("OOM").unwrap().classes(), [FailureClass::Oom]);
        assert_eq!(parse("none").unwrap().classes(), []);
        assert_eq!(
            parse("server_fail,timeout").unwrap().classes(),
            [FailureClass::Timeout, FailureClass::ServerFail]
        );
        assert_eq!(SkipSet::default().to_string(), "OOM,timeout,server_fail");
        for class in FailureClass::ALL {
            assert_eq!(parse(class.as_str()).unwrap().classes(), [class]);
        }
    }

    #[test]
    fn wrong_words_get_the_closest_name() {
        let cases = [
            ("oom", "OOM"),
            ("timeout,Timeout", "timeout"),
            ("serverfail", "server_fail"),
            ("host-oom", "host_oom"),
            ("preempt", "preempted"),
        ];
        for (input, suggestion) in cases {
            let message = parse(input).unwrap_err();
            assert!(
                message.contains(&format!("did you mean `{suggestion}`?")),
                "{input}: {message}"
            );
        }
        assert!(parse("OOM,,timeout").is_err());
        assert!(parse("none,OOM").is_err());
    }
}
