//! SLURM's `--time` grammar (`docs/launch.md`): `M`, `M:S`, `H:M:S`, `D-H`,
//! `D-H:M`, `D-H:M:S`, and `UNLIMITED` / `INFINITE` for no limit.
//!
//! `launch` uses it to reject a `time` arg SLURM would refuse (`docs/config.md`) and to
//! count GPU-hours in a dry run.

use std::fmt;
use std::str::FromStr;

/// A parsed SLURM time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlurmTime {
    /// A finite limit, in seconds as written (SLURM itself rounds up to whole minutes: see
    /// [`SlurmTime::minutes`]).
    Limited {
        /// The limit in seconds.
        seconds: u64,
    },
    /// No limit: `UNLIMITED`, `INFINITE` (any case), `-1`, or a limit of zero, which sbatch
    /// reads as "no time limit".
    Unlimited,
}

/// Why a `--time` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlurmTimeError {
    /// The text is empty.
    #[error("empty time limit")]
    Empty,
    /// The text does not follow any of the accepted forms.
    #[error(
        "`{text}` is not a SLURM time limit; use `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S` \
         or `UNLIMITED` (e.g. `1:59:00`)"
    )]
    Syntax {
        /// The refused text.
        text: String,
    },
    /// The limit does not fit in 64-bit seconds.
    #[error("time limit `{text}` is too large")]
    TooLarge {
        /// The refused text.
        text: String,
    },
}

impl SlurmTime {
    /// Parses SLURM's `--time` grammar. Fields are ASCII digits; as in SLURM, fields after the
    /// first are not range-checked (`90:00` is 90 minutes). No surrounding whitespace.
    pub fn parse(text: &str) -> Result<Self, SlurmTimeError> {
        if text.is_empty() {
            return Err(SlurmTimeError::Empty);
        }
        // SLURM also reads `-1` as no limit.
        if text.eq_ignore_ascii_case("UNLIMITED")
            || text.eq_ignore_ascii_case("INFINITE")
            || text == "-1"
        {
            return Ok(SlurmTime::Unlimited);
        }
        let syntax = || SlurmTimeError::Syntax {
            text: text.to_owned(),
        };
        let too_large = || SlurmTimeError::TooLarge {
            text: text.to_owned(),
        };
        let field = |part: &str| -> Result<u64, SlurmTimeError> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            part.parse::<u64>().map_err(|_| too_large())
        };
        // Seconds per field, for the forms with and without a day part.
        let (days, rest) = match text.split_once('-') {
            Some((days, rest)) => (Some(field(days)?), rest),
            None => (None, text),
        };
        let fields = rest
            .split(':')
            .map(field)
            .collect::<Result<Vec<u64>, _>>()?;
        let units: &[u64] = match (days.is_some(), fields.len()) {
            // M, M:S, H:M:S
            (false, 1) => &[60],
            (false, 2) => &[60, 1],
            // D-H, D-H:M, and H:M:S or D-H:M:S
            (true, 1) => &[3600],
            (true, 2) => &[3600, 60],
            (_, 3) => &[3600, 60, 1],
            _ => return Err(syntax()),
        };
        let mut seconds = days
            .unwrap_or(0)
            .checked_mul(86_400)
            .ok_or_else(too_large)?;
        for (value, unit) in fields.iter().zip(units) {
            seconds = value
                .checked_mul(*unit)
                .and_then(|s| seconds.checked_add(s))
                .ok_or_else(too_large)?;
        }
        Ok(if seconds == 0 {
            SlurmTime::Unlimited
        } else {
            SlurmTime::Limited { seconds }
        })
    }

    /// The limit in whole minutes, rounded up as SLURM does (`0:30` is one minute); `None`
    /// when unlimited.
    pub fn minutes(self) -> Option<u64> {
        match self {
            SlurmTime::Limited { seconds } => Some(seconds.div_ceil(60)),
            SlurmTime::Unlimited => None,
        }
    }

    /// The limit in hours as SLURM enforces it (whole minutes / 60); `None` when unlimited.
    pub fn hours(self) -> Option<f64> {
        self.minutes().map(|m| m as f64 / 60.0)
    }
}

impl FromStr for SlurmTime {
    type Err = SlurmTimeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        SlurmTime::parse(text)
    }
}

impl fmt::Display for SlurmTime {
    /// Writes the limit in SLURM's `D-HH:MM:SS` form (`UNLIMITED` for no limit).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SlurmTime::Unlimited => f.write_str("UNLIMITED"),
            SlurmTime::Limited { seconds } => {
                let (days, rest) = (seconds / 86_400, seconds % 86_400);
                let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
                if days > 0 {
                    write!(f, "{days}-{h:02}:{m:02}:{s:02}")
                } else {
                    write!(f, "{h}:{m:02}:{s:02}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(text: &str) -> u64 {
        match SlurmTime::parse(text) {
            Ok(SlurmTime::Limited { seconds }) => seconds,
            other => panic!("`{text}` parsed as {other:?}"),
        }
    }

    #[test]
    fn every_form_of_the_grammar() {
        assert_eq!(seconds("90"), 90 * 60); // M
        assert_eq!(seconds("5:30"), 5 * 60 + 30); // M:S
        assert_eq!(seconds("1:59:00"), 7140); // H:M:S
        assert_eq!(seconds("2-3"), 2 * 86_400 + 3 * 3600); // D-H
        assert_eq!(seconds("2-3:04"), 2 * 86_400 + 3 * 3600 + 4 * 60); // D-H:M
        assert_eq!(seconds("2-3:04:05"), 2 * 86_400 + 3 * 3600 + 4 * 60 + 5); // D-H:M:S
        assert_eq!(seconds("0-00:00:01"), 1);
        assert_eq!(SlurmTime::parse("UNLIMITED"), Ok(SlurmTime::Unlimited));
        assert_eq!(SlurmTime::parse("infinite"), Ok(SlurmTime::Unlimited));
        assert_eq!(SlurmTime::parse("-1"), Ok(SlurmTime::Unlimited));
        assert_eq!(SlurmTime::parse("0"), Ok(SlurmTime::Unlimited));
    }

    #[test]
    fn minutes_round_up_like_slurm() {
        assert_eq!(SlurmTime::parse("1:59:00").unwrap().minutes(), Some(119));
        assert_eq!(SlurmTime::parse("0:30").unwrap().minutes(), Some(1));
        assert_eq!(SlurmTime::parse("1:00:01").unwrap().minutes(), Some(61));
        assert_eq!(SlurmTime::parse("1-0").unwrap().hours(), Some(24.0));
        assert_eq!(SlurmTime::Unlimited.minutes(), None);
    }

    #[test]
    fn refuses_what_sbatch_refuses() {
        for text in [
            "1:2:3:4",
            "1-2:3:4:5",
            "1h",
            "1.5",
            " 10",
            "10 ",
            "1::00",
            ":30",
            "1-",
            "-2",
            "1-2-3",
            "1:-2",
            "+5",
            "abc",
            "１０",
        ] {
            assert_eq!(
                SlurmTime::parse(text),
                Err(SlurmTimeError::Syntax { text: text.into() }),
                "{text}"
            );
        }
        assert_eq!(SlurmTime::parse(""), Err(SlurmTimeError::Empty));
        assert!(matches!(
            SlurmTime::parse("99999999999999999999"),
            Err(SlurmTimeError::TooLarge { .. })
        ));
    }

    #[test]
    fn displays_in_slurm_form() {
        assert_eq!(SlurmTime::parse("1:59:00").unwrap().to_string(), "1:59:00");
        assert_eq!(SlurmTime::parse("2-3").unwrap().to_string(), "2-03:00:00");
        assert_eq!(SlurmTime::Unlimited.to_string(), "UNLIMITED");
    }
}
