//! Reading a whole input file with a size cap: the config, a template, a model's
//! `config.json`. Every error names the file and, for a file too large, the cap.
//!
//! A config or template may come through a pipe (`--config <(envsubst < x.yaml)`): regular
//! files and pipes are read, under the same cap; a directory, a device such as `/dev/zero`
//! or a socket is refused before anything is read.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use crate::path_text::shown;

/// The most bytes of a config file read: 16 MiB (the 759-run sample is 7 KB; a config
/// expands to at most 100,000 runs).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// The most bytes of a template read: 1 MiB (sbatch refuses a script over 4 MB anyway).
pub const MAX_TEMPLATE_BYTES: u64 = 1024 * 1024;
/// The most bytes of a run's `inference_logs/launch/kwargs.json` read for the report: 1 MiB
/// (`launch` writes a few hundred bytes; a prompt template makes it longer).
pub const MAX_KWARGS_BYTES: u64 = 1024 * 1024;
/// The most bytes of a model's `config.json` read from the Hugging Face cache: 16 MiB.
pub const MAX_MODEL_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Which kinds of file [`read_text`] accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// Regular files only.
    Regular,
    /// Regular files and pipes (FIFOs, `<(...)` process substitution).
    RegularOrPipe,
}

/// Why [`read_text`] did not return a file's text; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file is missing or could not be read.
    #[error("failed to read {what} `{path}`: {error}")]
    Io {
        /// What the file is (`the config`).
        what: String,
        /// The path, as text.
        path: String,
        /// The error.
        #[source]
        error: std::io::Error,
    },
    /// The file is a kind that is not read (a directory, a device, ...).
    #[error("{what} `{path}` is {kind}, not a regular file: not read")]
    NotRegular {
        /// What the file is.
        what: String,
        /// The path, as text.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file is larger than the cap.
    #[error("{what} `{path}` is larger than {}, the most read of such a file: not read", size_text(*.cap))]
    TooLarge {
        /// What the file is.
        what: String,
        /// The path, as text.
        path: String,
        /// The cap, in bytes.
        cap: u64,
    },
    /// The file is not UTF-8.
    #[error("{what} `{path}` is not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// What the file is.
        what: String,
        /// The path, as text.
        path: String,
        /// The first invalid byte.
        offset: usize,
    },
}

/// The text of the file at `path`, at most `cap` bytes, as `what` (`the config`) names it in
/// errors.
///
/// Errors: the file is missing or cannot be read, is not a kind `accept` takes, is larger
/// than `cap`, or is not UTF-8.
pub fn read_text(path: &Path, cap: u64, accept: Accept, what: &str) -> Result<String, ReadError> {
    let shown = || shown(path).into_owned();
    let io = |error| ReadError::Io {
        what: what.to_owned(),
        path: shown(),
        error,
    };
    let not_regular = |kind| ReadError::NotRegular {
        what: what.to_owned(),
        path: shown(),
        kind,
    };
    check_kind(&fs::metadata(path).map_err(io)?, accept).map_err(not_regular)?;
    let file = File::open(path).map_err(io)?;
    // Again on what was opened, in case the name was replaced in between.
    check_kind(&file.metadata().map_err(io)?, accept).map_err(not_regular)?;
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge {
            what: what.to_owned(),
            path: shown(),
            cap,
        });
    }
    String::from_utf8(bytes).map_err(|err| ReadError::NotUtf8 {
        what: what.to_owned(),
        path: shown(),
        offset: err.utf8_error().valid_up_to(),
    })
}

/// `Err(what the file is)` unless `meta` is of a kind `accept` takes.
fn check_kind(meta: &fs::Metadata, accept: Accept) -> Result<(), &'static str> {
    if meta.is_file() || (accept == Accept::RegularOrPipe && is_fifo(meta)) {
        Ok(())
    } else {
        Err(file_kind(meta))
    }
}

#[cfg(unix)]
fn is_fifo(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_meta: &fs::Metadata) -> bool {
    false
}

/// What a file that is not a regular file is, for messages (`a directory`, `a FIFO (named
/// pipe)`, `a character device`, ...).
pub fn file_kind(meta: &fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// `bytes` as text for messages: `16 MiB`, else a number of bytes.
pub fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_kinds_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.yaml");
        fs::write(&file, "0123456789").unwrap();
        let message = |result: Result<String, ReadError>| result.unwrap_err().to_string();
        assert_eq!(
            read_text(&file, 10, Accept::Regular, "the config").unwrap(),
            "0123456789"
        );
        let err = message(read_text(&file, 9, Accept::Regular, "the config"));
        assert!(
            err.ends_with("c.yaml` is larger than 9 bytes, the most read of such a file: not read"),
            "{err}"
        );
        let err = message(read_text(
            Path::new("/dev/zero"),
            9,
            Accept::RegularOrPipe,
            "the config",
        ));
        assert_eq!(
            err,
            "the config `/dev/zero` is a character device, not a regular file: not read"
        );
        let err = message(read_text(
            dir.path(),
            9,
            Accept::RegularOrPipe,
            "the template",
        ));
        assert!(
            err.ends_with("is a directory, not a regular file: not read"),
            "{err}"
        );
        fs::write(&file, b"a\xffb").unwrap();
        let err = message(read_text(&file, 10, Accept::Regular, "the config"));
        assert!(
            err.ends_with("is not UTF-8 text (invalid byte at offset 1)"),
            "{err}"
        );
    }
}
