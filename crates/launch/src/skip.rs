//! `--skip-failure-reasons`: which failure classes keep a failed run from being submitted
//! again (`docs/launch.md`). The names and their parsing are bench-core's
//! ([`FailureClass::parse_skip_set`]).

use std::collections::BTreeSet;

use bench_core::failure::FailureClass;

/// A set of failure classes whose runs are not submitted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipSet(BTreeSet<FailureClass>);

impl Default for SkipSet {
    /// The original launcher's set: `OOM,timeout,server_fail`.
    fn default() -> Self {
        SkipSet(FailureClass::DEFAULT_SKIP.into_iter().collect())
    }
}

impl SkipSet {
    /// Whether runs whose latest attempt failed with `class` are skipped.
    pub fn contains(&self, class: FailureClass) -> bool {
        self.0.contains(&class)
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

/// Parse `LIST|none` for clap: class names separated by commas, spelled exactly as
/// `docs/failures.md` spells them, or `none` alone. Errors suggest the closest name (`oom` ->
/// `OOM`).
pub fn parse(text: &str) -> Result<SkipSet, String> {
    FailureClass::parse_skip_set(text)
        .map(SkipSet)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_none() {
        let set = |text| parse(text).unwrap().to_string();
        assert_eq!(set("OOM"), "OOM");
        assert_eq!(set("none"), "none");
        assert_eq!(set("server_fail,timeout"), "timeout,server_fail");
        assert_eq!(SkipSet::default().to_string(), "OOM,timeout,server_fail");
        assert_eq!(
            parse("OOM,timeout,server_fail").unwrap(),
            SkipSet::default()
        );
        assert!(parse("none").unwrap().0.is_empty());
    }

    #[test]
    fn a_wrong_word_gets_the_closest_name() {
        let message = parse("oom").unwrap_err();
        assert!(message.contains("did you mean `OOM`?"), "{message}");
        assert!(parse("timeout,Timeout").is_err());
    }
}
