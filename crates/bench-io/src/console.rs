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
