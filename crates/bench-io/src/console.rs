//! Where the binaries print: stdout and stderr with every write checked.
//!
//! `println!` and `eprintln!` panic when a write fails (a closed pipe, a full disk behind a
//! redirection); here a failed write is remembered instead, the stream is not written again,
//! and the binary asks [`Console::failure`] at its next safe point (for `launch`, between two
//! runs) and stops there with exit code 1.

use std::fmt::Display;
use std::io::{self, Write};

/// The two output streams of a binary, each checked on every write.
#[derive(Debug, Default)]
pub struct Console {
    /// The first failed write: which stream, and the error.
    failure: Option<OutputFailure>,
    stdout_failed: bool,
    stderr_failed: bool,
    /// Warnings said so far (each is said once per call of the binary).
    warned: std::collections::HashSet<String>,
    /// `--no-warnings`: warnings are not said at all.
    warnings_silenced: bool,
}

/// A write to stdout or stderr that failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to write to {stream}: {error}")]
pub struct OutputFailure {
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// What the write returned.
    #[source]
    pub error: io::Error,
}

impl Console {
    /// A console over the process's stdout and stderr.
    pub fn new() -> Self {
        Console::default()
    }

    /// Write `text` to stdout and flush it (unless an earlier stdout write failed).
    pub fn out(&mut self, text: impl Display) {
        if !self.stdout_failed {
            let written = write_flushed(&mut io::stdout().lock(), text);
            self.stdout_failed = self.remember("stdout", written);
        }
    }

    /// Write `text` and a line break to stdout.
    pub fn out_line(&mut self, text: impl Display) {
        self.out(format_args!("{text}\n"));
    }

    /// Write `text` to stderr (unless an earlier stderr write failed).
    pub fn err(&mut self, text: impl Display) {
        if !self.stderr_failed {
            let written = write_flushed(&mut io::stderr().lock(), text);
            self.stderr_failed = self.remember("stderr", written);
        }
    }

    /// Write `text` and a line break to stderr.
    pub fn err_line(&mut self, text: impl Display) {
        self.err(format_args!("{text}\n"));
    }

    /// Say `warning: {text}` on stderr, once per call of the binary: a warning said before
    /// (the same text) is not said again, and none is said after
    /// [`Console::silence_warnings`].
    pub fn warn(&mut self, text: impl Display) {
        let text = text.to_string();
        if !self.warnings_silenced && self.warned.insert(text.clone()) {
            self.err_line(format_args!("warning: {text}"));
        }
    }

    /// From now on, [`Console::warn`] says nothing (`--no-warnings`).
    pub fn silence_warnings(&mut self) {
        self.warnings_silenced = true;
    }

    /// Keep the first failure; `true` when `written` failed.
    fn remember(&mut self, stream: &'static str, written: io::Result<()>) -> bool {
        match written {
            Ok(()) => false,
            Err(error) => {
                self.failure.get_or_insert(OutputFailure { stream, error });
                true
            }
        }
    }

    /// The first write that failed, if any.
    pub fn failure(&self) -> Option<&OutputFailure> {
        self.failure.as_ref()
    }

    /// Take the first failed write, if any, leaving the console usable for what still
    /// works.
    pub fn take_failure(&mut self) -> Option<OutputFailure> {
        self.failure.take()
    }
}

/// `text` written to `stream`, then flushed.
fn write_flushed(stream: &mut impl Write, text: impl Display) -> io::Result<()> {
    write!(stream, "{text}")?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_said_once_and_none_after_silencing() {
        let mut console = Console::new();
        console.warn("the queue could not be read");
        console.warn(format_args!("the queue could not be {}", "read"));
        console.warn("another");
        assert_eq!(console.warned.len(), 2);
        console.silence_warnings();
        console.warn("a third");
        assert_eq!(console.warned.len(), 2);
    }
}
