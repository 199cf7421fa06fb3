//! `--skip-failure-reasons`: which failure classes keep a failed run from being submitted
//! again (`docs/launch.md`). The names and their parsing are bench-core's
//! ([`FailureClass::parse_skip_set`]).

pub use bench_core::decision::SkipSet;
use bench_core::failure::FailureClass;

/// Parse `LIST|none` for clap: class names separated by commas, spelled exactly as
/// `docs/failures.md` spells them, or `none` alone. Errors suggest the closest name (`oom` ->
/// `OOM`).
pub fn parse(text: &str) -> Result<SkipSet, String> {
    FailureClass::parse_skip_set(text)
        .map(SkipSet::from_classes)
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
        assert!(parse("none").unwrap().is_empty());
    }

    #[test]
    fn a_wrong_word_gets_the_closest_name() {
        let message = parse("oom").unwrap_err();
        assert!(message.contains("did you mean `OOM`?"), "{message}");
        assert!(parse("timeout,Timeout").is_err());
    }
}
